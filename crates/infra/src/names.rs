//! Resource names: defaults from a prefix, overrides that may use
//! `{account}` and `{region}`, and each AWS resource type's naming rules,
//! checked before anything is deployed.

use serde_json::{json, Value};

/// A resource name that may contain `{account}` and `{region}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

/// Account id used to check a name's length before the real one is known.
const SAMPLE_ACCOUNT: &str = "123456789012";

impl Name {
    pub fn new(raw: impl Into<String>) -> Name {
        Name(raw.into())
    }

    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The name in a template: a plain string, or `Fn::Sub` when it refers to
    /// the account or region.
    pub fn cfn(&self) -> Value {
        if self.0.contains('{') {
            json!({ "Fn::Sub": self.sub_text() })
        } else {
            Value::String(self.0.clone())
        }
    }

    /// The name inside a larger `Fn::Sub` string.
    pub fn sub_text(&self) -> String {
        self.0.replace("{account}", "${AWS::AccountId}").replace("{region}", "${AWS::Region}")
    }

    /// The name as deployed.
    pub fn resolve(&self, account: &str, region: &str) -> String {
        self.0.replace("{account}", account).replace("{region}", region)
    }

    fn sample(&self, region: &str) -> String {
        self.resolve(SAMPLE_ACCOUNT, if region.is_empty() { "us-east-1" } else { region })
    }
}

/// The kinds of name loadgrid sets, each with AWS's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bucket,
    Cluster,
    LogGroup,
    Repository,
    TaskFamily,
    Role,
    User,
    SecurityGroup,
    Topic,
    Dashboard,
    Stack,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Bucket => "S3 bucket",
            Kind::Cluster => "ECS cluster",
            Kind::LogGroup => "log group",
            Kind::Repository => "ECR repository",
            Kind::TaskFamily => "task definition family",
            Kind::Role => "IAM role",
            Kind::User => "IAM user",
            Kind::SecurityGroup => "security group",
            Kind::Topic => "SNS topic",
            Kind::Dashboard => "CloudWatch dashboard",
            Kind::Stack => "CloudFormation stack",
        }
    }
}

/// Checks `name` (placeholders filled with sample values) against the rules
/// of its resource type; the error says which rule and what is allowed.
pub fn check(kind: Kind, field: &str, name: &Name, region: &str) -> Result<(), String> {
    let raw = name.raw();
    let unknown = raw.replace("{account}", "").replace("{region}", "");
    if unknown.contains('{') || unknown.contains('}') {
        return Err(format!("`{field}` = `{raw}`: only `{{account}}` and `{{region}}` can be filled in a name"));
    }
    let value = name.sample(region);
    let rule = rule_broken(kind, &value);
    match rule {
        None => Ok(()),
        Some(rule) => Err(format!("`{field}` = `{raw}` is not a valid {} name: {rule}", kind.label())),
    }
}

fn rule_broken(kind: Kind, value: &str) -> Option<String> {
    let len = value.len();
    let only = |allowed: &dyn Fn(char) -> bool| value.chars().all(allowed);
    let alnum_dash_underscore = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    match kind {
        Kind::Bucket => bucket_rule(value),
        Kind::Cluster | Kind::TaskFamily => (!(1..=255).contains(&len) || !only(&alnum_dash_underscore))
            .then(|| "1 to 255 letters, digits, hyphens and underscores".to_owned()),
        Kind::LogGroup => (!(1..=512).contains(&len)
            || !only(&|c: char| c.is_ascii_alphanumeric() || "._-/#".contains(c)))
        .then(|| "1 to 512 letters, digits and `._-/#`".to_owned()),
        Kind::Repository => repository_rule(value),
        Kind::Role | Kind::User => (!(1..=64).contains(&len)
            || !only(&|c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)))
        .then(|| "1 to 64 letters, digits and `+=,.@_-`".to_owned()),
        Kind::SecurityGroup => {
            if !(1..=255).contains(&len) || !value.is_ascii() {
                Some("1 to 255 ASCII characters".to_owned())
            } else if value.to_ascii_lowercase().starts_with("sg-") {
                Some("it cannot start with `sg-`".to_owned())
            } else {
                None
            }
        }
        Kind::Topic | Kind::Dashboard => (!(1..=255).contains(&len) || !only(&alnum_dash_underscore))
            .then(|| "1 to 255 letters, digits, hyphens and underscores".to_owned()),
        Kind::Stack => (!(1..=128).contains(&len)
            || !value.starts_with(|c: char| c.is_ascii_alphabetic())
            || !only(&|c: char| c.is_ascii_alphanumeric() || c == '-'))
        .then(|| "1 to 128 letters, digits and hyphens, starting with a letter".to_owned()),
    }
}

/// S3's general-purpose bucket naming rules.
fn bucket_rule(value: &str) -> Option<String> {
    let rule = |text: &str| Some(text.to_owned());
    if !(3..=63).contains(&value.len()) {
        return rule("3 to 63 characters");
    }
    if !value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-') {
        return rule("only lowercase letters, digits, dots and hyphens");
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(value.chars().next()) || !edge_ok(value.chars().last()) {
        return rule("it must begin and end with a letter or digit");
    }
    if value.contains("..") || value.contains(".-") || value.contains("-.") {
        return rule("no two adjacent dots, and no dot next to a hyphen");
    }
    if value.split('.').count() == 4 && value.split('.').all(|part| part.parse::<u8>().is_ok()) {
        return rule("it cannot look like an IP address");
    }
    if ["xn--", "sthree-", "amzn-s3-demo-"].iter().any(|p| value.starts_with(p)) {
        return rule("it cannot start with `xn--`, `sthree-` or `amzn-s3-demo-`");
    }
    if ["-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"].iter().any(|s| value.ends_with(s)) {
        return rule("it cannot end with a suffix S3 reserves (`-s3alias`, `--ol-s3`, `--x-s3`, `.mrap`...)");
    }
    None
}

/// ECR: lowercase path components separated by `/`, each of letters and
/// digits joined by single `.`, `_` or `-`.
fn repository_rule(value: &str) -> Option<String> {
    let component_ok = |part: &str| {
        !part.is_empty()
            && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            && part.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !part.as_bytes().windows(2).any(|w| b"._-".contains(&w[0]) && b"._-".contains(&w[1]))
    };
    if !(2..=256).contains(&value.len()) || !value.split('/').all(component_ok) {
        return Some(
            "2 to 256 lowercase letters and digits, in `/`-separated parts joined by single `.`, `_` or `-`".to_owned(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(kind: Kind, name: &str) -> bool {
        check(kind, "names.x", &Name::new(name), "eu-west-1").is_ok()
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(ok(Kind::Bucket, "k6-artifacts-{account}"));
        assert!(ok(Kind::Bucket, "loadgrid-{account}-{region}"));
        for bad in ["K6-Artifacts", "ab", "-leading", "trailing-", "a..b", "192.168.1.1", "xn--abc", "my_bucket"] {
            assert!(!ok(Kind::Bucket, bad), "{bad}");
        }
        let long = format!("{}-{{account}}", "a".repeat(52));
        let error = check(Kind::Bucket, "names.bucket", &Name::new(long), "").unwrap_err();
        assert!(error.contains("3 to 63"), "{error}");
    }

    #[test]
    fn other_kinds_have_their_own_rules() {
        assert!(ok(Kind::LogGroup, "/ecs/k6-logs-{account}"));
        assert!(ok(Kind::Repository, "k6-runner"));
        assert!(ok(Kind::Repository, "team/k6.runner"));
        assert!(!ok(Kind::Repository, "K6-Runner"));
        assert!(!ok(Kind::Repository, "k6--runner"));
        assert!(ok(Kind::Cluster, "k6-cluster-{account}"));
        assert!(!ok(Kind::Cluster, "k6 cluster"));
        assert!(!ok(Kind::Role, &"r".repeat(65)));
        assert!(!ok(Kind::SecurityGroup, "sg-tasks"));
        assert!(!ok(Kind::Stack, "1stack"));
    }

    #[test]
    fn unknown_placeholders_are_refused() {
        let error = check(Kind::Bucket, "names.bucket", &Name::new("k6-{acount}"), "").unwrap_err();
        assert!(error.contains("{account}"), "{error}");
    }

    #[test]
    fn names_render_as_sub_only_when_needed() {
        assert_eq!(Name::new("plain").cfn(), json!("plain"));
        assert_eq!(Name::new("k6-{account}").cfn(), json!({"Fn::Sub": "k6-${AWS::AccountId}"}));
        assert_eq!(Name::new("k6-{account}-{region}").resolve("1", "r"), "k6-1-r");
    }
}
