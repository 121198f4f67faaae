//! `[infra]` validated into an [`InfraSpec`]: what `loadgrid infra` deploys.
//! Everything is checked here, before any AWS call.

use std::collections::BTreeMap;

use loadgrid_plan::config::{CapacityKind, InfraSection};

use crate::names::{self, Kind, Name};

pub const DEFAULT_STACK: &str = "loadgrid";
pub const DEFAULT_PREFIX: &str = "loadgrid";
pub const DEFAULT_TASK_CPU: u32 = 1024;
pub const DEFAULT_TASK_MEMORY: u32 = 2048;
pub const DEFAULT_LOG_RETENTION_DAYS: u32 = 30;
pub const DEFAULT_RESULTS_RETENTION_DAYS: u32 = 90;
pub const DEFAULT_VPC_CIDR: &str = "10.42.0.0/16";
/// The runner container's name: what the ECS backend looks for.
pub const CONTAINER_NAME: &str = "loadgrid";
/// Secrets the tasks may read live under this prefix.
pub const SECRETS_PREFIX: &str = "loadgrid/";

/// Retention periods CloudWatch Logs accepts.
const LOG_RETENTION_DAYS: &[u32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

#[derive(Debug, thiserror::Error)]
#[error("invalid [infra] config: {0}")]
pub struct SpecError(pub String);

/// Where the tasks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// The account's default VPC; its subnets are looked up at deploy time.
    DefaultVpc,
    /// A new VPC with two public subnets in two AZs and an internet gateway.
    Public { cidr: String },
    /// A new VPC: tasks in private subnets behind NAT gateways with Elastic
    /// IPs, so that the system under test can allow-list the egress IPs.
    StaticIp { cidr: String, nat_per_az: bool },
    /// Given subnets and security group.
    Existing { subnets: Vec<String>, security_group: String },
}

impl Network {
    pub fn mode(&self) -> &'static str {
        match self {
            Network::DefaultVpc => "default-vpc",
            Network::Public { .. } => "public",
            Network::StaticIp { .. } => "static-ip",
            Network::Existing { .. } => "existing",
        }
    }

    /// Tasks in public subnets need a public IP to reach anything.
    pub fn assign_public_ip(&self) -> bool {
        !matches!(self, Network::StaticIp { .. })
    }
}

/// The identity CI runs loadgrid as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiIdentity {
    None,
    /// A role trusted by GitHub's OIDC provider for one repository.
    GithubOidc {
        repository: String,
        branches: Vec<String>,
        environments: Vec<String>,
        /// Reuse this provider; `None` creates one in the stack.
        provider_arn: Option<String>,
    },
    /// An IAM user (in a group holding the policy) whose access key is kept
    /// in Secrets Manager.
    IamUser,
}

impl CiIdentity {
    pub fn mode(&self) -> &'static str {
        match self {
            CiIdentity::None => "none",
            CiIdentity::GithubOidc { .. } => "github-oidc",
            CiIdentity::IamUser => "iam-user",
        }
    }

    /// The `sub` claims the CI role trusts.
    pub fn oidc_subjects(&self) -> Vec<String> {
        let CiIdentity::GithubOidc { repository, branches, environments, .. } = self else {
            return Vec::new();
        };
        let mut subjects: Vec<String> =
            branches.iter().map(|b| format!("repo:{repository}:ref:refs/heads/{b}")).collect();
        subjects.extend(environments.iter().map(|e| format!("repo:{repository}:environment:{e}")));
        if subjects.is_empty() {
            subjects.push(format!("repo:{repository}:*"));
        }
        subjects
    }
}

/// Every resource's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub bucket: Name,
    pub cluster: Name,
    pub log_group: Name,
    pub repository: Name,
    pub task_family: Name,
    pub execution_role: Name,
    pub task_role: Name,
    pub ci_role: Name,
    pub ci_user: Name,
    pub security_group: Name,
    pub topic: Name,
    pub dashboard: Name,
    pub pool_role: Name,
}

/// What the tasks run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capacity {
    Fargate,
    /// A pool of EC2 container instances in public subnets, each with its
    /// own Elastic IP: static egress IPs without a NAT gateway, paid for
    /// only while a run has them started.
    Ec2 {
        instances: u32,
        instance_type: String,
    },
}

impl Capacity {
    pub fn mode(&self) -> &'static str {
        match self {
            Capacity::Fargate => "fargate",
            Capacity::Ec2 { .. } => "ec2",
        }
    }
}

/// The EC2 pool's size when `[infra]` does not say.
pub const DEFAULT_POOL_INSTANCES: u32 = 2;
pub const DEFAULT_POOL_INSTANCE_TYPE: &str = "t3.xlarge";
/// More than this is a fleet, not a pool started and stopped around runs:
/// use Fargate.
pub const MAX_POOL_INSTANCES: u32 = 20;

/// The image the task definition runs.
#[derive(Debug, Clone, PartialEq)]
pub enum RunnerImage {
    /// The released public image of this loadgrid's version
    /// ([`crate::runner::public_image`]): nothing to build or push.
    Public,
    /// The stack's ECR repository, tagged with loadgrid's version (the
    /// `ImageTag` parameter): for a custom build, `loadgrid image push`.
    Repository,
    /// Any image reference.
    Custom(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct InfraSpec {
    pub stack: String,
    /// Empty: the SDK's region.
    pub region: String,
    pub names: Names,
    pub network: Network,
    pub capacity: Capacity,
    pub task_cpu: u32,
    pub task_memory: u32,
    pub image: RunnerImage,
    pub log_retention_days: u32,
    pub results_retention_days: u32,
    pub alert_email: Option<String>,
    /// Cost allocation tags; `loadgrid:stack` is always added.
    pub tags: BTreeMap<String, String>,
    pub ci: CiIdentity,
    pub image_swaps: bool,
}

impl InfraSpec {
    /// Validates `[infra]`; `aws_region` is `[aws] region`, used when
    /// `[infra] region` is not set.
    pub fn from_section(section: &InfraSection, aws_region: Option<&str>) -> Result<InfraSpec, SpecError> {
        let fail = |message: String| SpecError(message);
        let stack = section.stack.clone().unwrap_or_else(|| DEFAULT_STACK.to_owned());
        let region = section.region.clone().or(aws_region.map(str::to_owned)).unwrap_or_default();
        names::check(Kind::Stack, "stack", &Name::new(&stack), &region).map_err(fail)?;
        let prefix = section.prefix.clone().unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(fail(format!("`prefix` = `{prefix}`: use lowercase letters, digits and hyphens")));
        }
        let names = names_for(section, &prefix, &region)?;
        let network = network_for(section)?;
        let task_cpu = section.task_cpu.unwrap_or(DEFAULT_TASK_CPU);
        let task_memory = section.task_memory.unwrap_or(DEFAULT_TASK_MEMORY);
        loadgrid_plan::fargate::check_task_size(task_cpu, task_memory)
            .map_err(|e| fail(format!("`task_cpu`/`task_memory`: {e}")))?;
        let capacity = capacity_for(section, &network, task_cpu, task_memory)?;
        let log_retention_days = section.log_retention_days.unwrap_or(DEFAULT_LOG_RETENTION_DAYS);
        if !LOG_RETENTION_DAYS.contains(&log_retention_days) {
            return Err(fail(format!(
                "`log_retention_days` = {log_retention_days}: CloudWatch Logs keeps logs for one of {LOG_RETENTION_DAYS:?} days"
            )));
        }
        let results_retention_days = section.results_retention_days.unwrap_or(DEFAULT_RESULTS_RETENTION_DAYS);
        if results_retention_days == 0 {
            return Err(fail("`results_retention_days` must be at least 1".into()));
        }
        if let Some(email) = &section.alert_email {
            let valid = email.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
            if !valid || email.chars().any(char::is_whitespace) {
                return Err(fail(format!("`alert_email` = `{email}` is not an email address")));
            }
        }
        let mut tags = BTreeMap::new();
        for (key, value) in &section.tags {
            check_tag(key, value).map_err(fail)?;
            tags.insert(key.clone(), value.clone());
        }
        tags.insert("loadgrid:stack".to_owned(), stack.clone());
        let ci = ci_for(section)?;
        Ok(InfraSpec {
            stack,
            region,
            names,
            network,
            capacity,
            task_cpu,
            task_memory,
            image: match section.image.as_deref() {
                None | Some("") => RunnerImage::Public,
                Some("ecr") => RunnerImage::Repository,
                Some(other) => RunnerImage::Custom(other.to_owned()),
            },
            log_retention_days,
            results_retention_days,
            alert_email: section.alert_email.clone(),
            tags,
            ci,
            image_swaps: section.ci.image_swaps.unwrap_or(false),
        })
    }
}

fn names_for(section: &InfraSection, prefix: &str, region: &str) -> Result<Names, SpecError> {
    let given = &section.names;
    let pick = |field: &str, value: &Option<String>, default: String, kind: Kind| {
        let name = Name::new(value.clone().unwrap_or(default));
        names::check(kind, &format!("names.{field}"), &name, region).map(|()| name).map_err(SpecError)
    };
    Ok(Names {
        // Bucket names are global: the account and region keep the default unique.
        bucket: pick("bucket", &given.bucket, format!("{prefix}-{{account}}-{{region}}"), Kind::Bucket)?,
        cluster: pick("cluster", &given.cluster, prefix.to_owned(), Kind::Cluster)?,
        log_group: pick("log_group", &given.log_group, format!("/ecs/{prefix}"), Kind::LogGroup)?,
        repository: pick("repository", &given.repository, format!("{prefix}-runner"), Kind::Repository)?,
        task_family: pick("task_family", &given.task_family, format!("{prefix}-runner"), Kind::TaskFamily)?,
        // IAM names are per account, not per region: the region keeps two stacks apart.
        execution_role: pick(
            "execution_role",
            &given.execution_role,
            format!("{prefix}-execution-{{region}}"),
            Kind::Role,
        )?,
        task_role: pick("task_role", &given.task_role, format!("{prefix}-task-{{region}}"), Kind::Role)?,
        ci_role: pick("ci_role", &given.ci_role, format!("{prefix}-ci-{{region}}"), Kind::Role)?,
        ci_user: pick("ci_user", &given.ci_user, format!("{prefix}-ci-{{region}}"), Kind::User)?,
        security_group: pick("security_group", &given.security_group, format!("{prefix}-tasks"), Kind::SecurityGroup)?,
        topic: pick("topic", &given.topic, format!("{prefix}-alerts"), Kind::Topic)?,
        dashboard: pick("dashboard", &given.dashboard, prefix.to_owned(), Kind::Dashboard)?,
        pool_role: pick("pool_role", &given.pool_role, format!("{prefix}-pool-{{region}}"), Kind::Role)?,
    })
}

fn capacity_for(
    section: &InfraSection,
    network: &Network,
    task_cpu: u32,
    task_memory: u32,
) -> Result<Capacity, SpecError> {
    let mode = match section.capacity.as_deref() {
        Some(text) => text.parse::<CapacityKind>().map_err(SpecError)?,
        None => CapacityKind::Fargate,
    };
    match mode {
        CapacityKind::Fargate => {
            if section.instances.is_some() || section.instance_type.is_some() {
                return Err(SpecError(
                    "`instances` and `instance_type` size the EC2 pool: they apply with `capacity = \"ec2\"`".into(),
                ));
            }
            Ok(Capacity::Fargate)
        }
        CapacityKind::Ec2 => {
            if !matches!(network, Network::Public { .. } | Network::DefaultVpc) {
                return Err(SpecError(format!(
                    "`capacity = \"ec2\"` puts each instance in a public subnet with its own Elastic IP, which \
                     `network = \"{}\"` does not have: use `network = \"public\"` (or the default VPC); the \
                     instances' IPs are the static egress IPs, without a NAT gateway",
                    network.mode()
                )));
            }
            let instances = section.instances.unwrap_or(DEFAULT_POOL_INSTANCES);
            if !(1..=MAX_POOL_INSTANCES).contains(&instances) {
                return Err(SpecError(format!(
                    "`instances` = {instances}: an EC2 pool has 1 to {MAX_POOL_INSTANCES} instances; for more, use \
                     `capacity = \"fargate\"`"
                )));
            }
            let instance_type = section.instance_type.clone().unwrap_or_else(|| DEFAULT_POOL_INSTANCE_TYPE.to_owned());
            let Some(&(_, vcpus, gib)) =
                loadgrid_cost::prices::EC2_SIZES.iter().find(|(name, ..)| *name == instance_type)
            else {
                let known: Vec<&str> = loadgrid_cost::prices::EC2_SIZES.iter().map(|(name, ..)| *name).collect();
                return Err(SpecError(format!(
                    "`instance_type` = `{instance_type}` is not one loadgrid sizes and prices; use one of {}",
                    known.join(", ")
                )));
            };
            let usable_mib = gib * 1024 - loadgrid_cost::prices::INSTANCE_RESERVED_MIB;
            if loadgrid_cost::prices::tasks_per_instance(&instance_type, task_cpu, task_memory) == Some(0) {
                return Err(SpecError(format!(
                    "a task of {task_cpu} CPU units / {task_memory} MiB does not fit a {instance_type} ({vcpus} vCPU, \
                     {usable_mib} MiB for tasks): choose a larger `instance_type` or a smaller task"
                )));
            }
            Ok(Capacity::Ec2 { instances, instance_type })
        }
    }
}

fn network_for(section: &InfraSection) -> Result<Network, SpecError> {
    let mode = section.network.as_deref().unwrap_or("default-vpc");
    let cidr = section.vpc_cidr.clone().unwrap_or_else(|| DEFAULT_VPC_CIDR.to_owned());
    let new_vpc = matches!(mode, "public" | "static-ip");
    if new_vpc {
        check_cidr(&cidr)?;
    } else if section.vpc_cidr.is_some() {
        return Err(SpecError(format!("`vpc_cidr` applies to the `public` and `static-ip` networks, not `{mode}`")));
    }
    if mode != "existing" && (!section.subnets.is_empty() || section.security_group.is_some()) {
        return Err(SpecError(format!(
            "`subnets` and `security_group` apply to `network = \"existing\"`, not `{mode}`"
        )));
    }
    if mode != "static-ip" && section.nat_per_az.is_some() {
        return Err(SpecError(format!("`nat_per_az` applies to `network = \"static-ip\"`, not `{mode}`")));
    }
    match mode {
        "default-vpc" => Ok(Network::DefaultVpc),
        "public" => Ok(Network::Public { cidr }),
        "static-ip" => Ok(Network::StaticIp { cidr, nat_per_az: section.nat_per_az.unwrap_or(false) }),
        "existing" => {
            if section.subnets.is_empty() {
                return Err(SpecError(
                    "`network = \"existing\"` needs `subnets = [\"subnet-...\"]` (and `security_group`) under [infra]"
                        .into(),
                ));
            }
            for subnet in &section.subnets {
                check_id("subnets", subnet, "subnet-")?;
            }
            let Some(security_group) = section.security_group.clone() else {
                return Err(SpecError(
                    "`network = \"existing\"` needs `security_group = \"sg-...\"` under [infra] (egress only is enough)"
                        .into(),
                ));
            };
            check_id("security_group", &security_group, "sg-")?;
            Ok(Network::Existing { subnets: section.subnets.clone(), security_group })
        }
        other => Err(SpecError(format!(
            "unknown network mode `{other}`; use `default-vpc`, `public`, `static-ip` or `existing`"
        ))),
    }
}

fn check_id(field: &str, id: &str, prefix: &str) -> Result<(), SpecError> {
    let rest = id.strip_prefix(prefix).unwrap_or("");
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(SpecError(format!("`{field}`: `{id}` is not an id of the form `{prefix}0123abcd`")));
    }
    Ok(())
}

/// A /16 to /24 IPv4 block with room for four subnets.
fn check_cidr(cidr: &str) -> Result<(), SpecError> {
    let error =
        || SpecError(format!("`vpc_cidr` = `{cidr}`: expected an IPv4 block from /16 to /22, e.g. 10.42.0.0/16"));
    let (address, bits) = cidr.split_once('/').ok_or_else(error)?;
    let bits: u8 = bits.parse().map_err(|_| error())?;
    let address: std::net::Ipv4Addr = address.parse().map_err(|_| error())?;
    if !(16..=22).contains(&bits) || u32::from(address) & (u32::MAX >> bits) != 0 {
        return Err(error());
    }
    Ok(())
}

/// Splits the VPC block into four equal subnets (two public, two private),
/// for `Fn::Cidr`: the number of host bits of each.
pub fn subnet_bits(cidr: &str) -> u8 {
    let bits: u8 = cidr.split_once('/').and_then(|(_, b)| b.parse().ok()).unwrap_or(16);
    32 - (bits + 2)
}

fn check_tag(key: &str, value: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_alphanumeric() || " _.:/=+-@".contains(c);
    if key.is_empty() || key.len() > 128 || key.to_ascii_lowercase().starts_with("aws:") || !key.chars().all(allowed) {
        return Err(format!(
            "tag key `{key}`: 1 to 128 characters of letters, digits, spaces and `_.:/=+-@`, not starting with `aws:`"
        ));
    }
    if value.len() > 256 || !value.chars().all(allowed) {
        return Err(format!("tag `{key}` = `{value}`: up to 256 characters of letters, digits, spaces and `_.:/=+-@`"));
    }
    Ok(())
}

fn ci_for(section: &InfraSection) -> Result<CiIdentity, SpecError> {
    let ci = &section.ci;
    let default_mode = if ci.repository.is_some() { "github-oidc" } else { "none" };
    match ci.mode.as_deref().unwrap_or(default_mode) {
        "none" => Ok(CiIdentity::None),
        "iam-user" => Ok(CiIdentity::IamUser),
        "github-oidc" => {
            let Some(repository) = ci.repository.clone() else {
                return Err(SpecError(
                    "`ci.mode = \"github-oidc\"` needs `repository = \"owner/repo\"` under [infra.ci]".into(),
                ));
            };
            check_repository(&repository)?;
            for branch in &ci.branches {
                check_ref_filter("branches", branch)?;
            }
            for environment in &ci.environments {
                check_ref_filter("environments", environment)?;
            }
            if let Some(arn) = &ci.oidc_provider_arn {
                if !arn.starts_with("arn:") || !arn.contains(":oidc-provider/token.actions.githubusercontent.com") {
                    return Err(SpecError(format!(
                        "`ci.oidc_provider_arn` = `{arn}`: expected arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com"
                    )));
                }
            }
            Ok(CiIdentity::GithubOidc {
                repository,
                branches: ci.branches.clone(),
                environments: ci.environments.clone(),
                provider_arn: ci.oidc_provider_arn.clone(),
            })
        }
        other => Err(SpecError(format!("unknown `ci.mode` `{other}`; use `github-oidc`, `iam-user` or `none`"))),
    }
}

/// `owner/repo`, as GitHub spells them: no wildcards, since the role
/// trusts exactly one repository.
fn check_repository(repository: &str) -> Result<(), SpecError> {
    let error = |why: &str| {
        SpecError(format!("`ci.repository` = `{repository}`: {why}; expected `owner/repo`, e.g. `acme/checkout`"))
    };
    let (owner, repo) = repository.split_once('/').ok_or_else(|| error("no `/`"))?;
    let owner_ok = (1..=39).contains(&owner.len())
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !owner.starts_with('-');
    let repo_ok = (1..=100).contains(&repo.len())
        && repo.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && repo != "."
        && repo != "..";
    if !owner_ok {
        return Err(error("the owner is 1 to 39 letters, digits or hyphens"));
    }
    if !repo_ok {
        return Err(error("the repository name is letters, digits, `.`, `_` and `-` (no wildcards)"));
    }
    Ok(())
}

fn check_ref_filter(field: &str, value: &str) -> Result<(), SpecError> {
    let bad = value.is_empty()
        || value.contains(':')
        || value.contains("..")
        || value.starts_with('/')
        || value.chars().any(|c| c.is_whitespace() || c.is_control() || "~^?[\\\"".contains(c));
    if bad {
        return Err(SpecError(format!("`ci.{field}`: `{value}` is not a valid branch or environment name")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadgrid_plan::FileConfig;

    fn spec(toml: &str) -> Result<InfraSpec, SpecError> {
        let config = FileConfig::parse(toml).unwrap();
        InfraSpec::from_section(&config.infra, Some("eu-west-1"))
    }

    fn error(toml: &str) -> String {
        spec(toml).unwrap_err().to_string()
    }

    #[test]
    fn zero_config_is_the_default_vpc_with_default_names() {
        let spec = spec("").unwrap();
        assert_eq!(spec.network, Network::DefaultVpc);
        assert_eq!(spec.stack, "loadgrid");
        assert_eq!(spec.region, "eu-west-1");
        assert_eq!((spec.task_cpu, spec.task_memory), (1024, 2048));
        assert_eq!(spec.log_retention_days, 30);
        assert_eq!(spec.names.bucket.resolve("1", "eu-west-1"), "loadgrid-1-eu-west-1");
        assert_eq!(spec.ci, CiIdentity::None);
        assert_eq!(spec.tags["loadgrid:stack"], "loadgrid");
    }

    #[test]
    fn required_names_are_used_exactly() {
        let spec = spec(
            r#"
[infra.names]
bucket = "k6-artifacts-{account}"
cluster = "k6-cluster-{account}"
log_group = "/ecs/k6-logs-{account}"
repository = "k6-runner"
"#,
        )
        .unwrap();
        assert_eq!(spec.names.bucket.resolve("123", "x"), "k6-artifacts-123");
        assert_eq!(spec.names.log_group.resolve("123", "x"), "/ecs/k6-logs-123");
        assert_eq!(spec.names.repository.raw(), "k6-runner");
    }

    #[test]
    fn bad_inputs_name_the_problem() {
        assert!(error("[infra]\nnetwork = \"vpn\"").contains("unknown network mode `vpn`"));
        assert!(error("[infra]\nnetwork = \"existing\"").contains("needs `subnets"));
        assert!(error("[infra]\nnetwork = \"existing\"\nsubnets = [\"subnet-0abc\"]").contains("security_group"));
        assert!(error("[infra]\nnetwork = \"existing\"\nsubnets = [\"sub-1\"]\nsecurity_group = \"sg-1\"")
            .contains("not an id"));
        assert!(error("[infra.ci]\nrepository = \"acme\"").contains("expected `owner/repo`"));
        assert!(error("[infra.ci]\nrepository = \"acme/*\"").contains("no wildcards"));
        assert!(error("[infra.ci]\nrepository = \"acme/app\"\nbranches = [\"a b\"]").contains("branch"));
        assert!(error("[infra.names]\nbucket = \"K6_Artifacts\"").contains("not a valid S3 bucket name"));
        assert!(error("[infra]\ntask_cpu = 1024\ntask_memory = 1024").contains("2048 to 8192"));
        assert!(error("[infra]\nlog_retention_days = 31").contains("one of"));
        assert!(error("[infra]\nnetwork = \"public\"\nvpc_cidr = \"10.0.0.0/8\"").contains("vpc_cidr"));
        assert!(error("[infra]\nnat_per_az = true").contains("static-ip"));
        assert!(error("[infra.ci]\nmode = \"github-oidc\"").contains("needs `repository"));
        assert!(error("[infra.tags]\n\"aws:x\" = \"y\"").contains("aws:"));
        assert!(FileConfig::parse("[infra]\nnetwork_mode = \"public\"")
            .unwrap_err()
            .contains("unknown field `network_mode`"));
    }

    #[test]
    fn an_ec2_pool_is_sized_and_placed_before_anything_is_deployed() {
        let pool = spec("[infra]\nnetwork = \"public\"\ncapacity = \"ec2\"").unwrap();
        assert_eq!(pool.capacity, Capacity::Ec2 { instances: 2, instance_type: "t3.xlarge".into() });
        assert_eq!(spec("").unwrap().capacity, Capacity::Fargate);
        let error_text = |toml: &str| error(toml).trim_start_matches("invalid [infra] config: ").to_owned();
        assert_eq!(error_text("[infra]\ncapacity = \"spot\""), "`capacity` = `spot`: use `fargate` or `ec2`");
        assert_eq!(
            error_text("[infra]\nnetwork = \"static-ip\"\ncapacity = \"ec2\""),
            "`capacity = \"ec2\"` puts each instance in a public subnet with its own Elastic IP, which `network = \
             \"static-ip\"` does not have: use `network = \"public\"` (or the default VPC); the instances' IPs are the \
             static egress IPs, without a NAT gateway"
        );
        assert_eq!(
            error_text("[infra]\ncapacity = \"ec2\"\ninstances = 21"),
            "`instances` = 21: an EC2 pool has 1 to 20 instances; for more, use `capacity = \"fargate\"`"
        );
        assert!(error_text("[infra]\ncapacity = \"ec2\"\ninstance_type = \"x9.huge\"")
            .starts_with("`instance_type` = `x9.huge` is not one loadgrid sizes and prices; use one of t3.medium, "));
        assert_eq!(
            error_text("[infra]\ncapacity = \"ec2\"\ntask_cpu = 8192\ntask_memory = 16384"),
            "a task of 8192 CPU units / 16384 MiB does not fit a t3.xlarge (4 vCPU, 15872 MiB for tasks): choose a \
             larger `instance_type` or a smaller task"
        );
        assert_eq!(
            error_text("[infra]\ninstances = 3"),
            "`instances` and `instance_type` size the EC2 pool: they apply with `capacity = \"ec2\"`"
        );
    }

    #[test]
    fn oidc_trust_narrows_to_branches_and_environments() {
        let spec = spec("[infra.ci]\nrepository = \"acme/shop\"\nbranches = [\"main\"]\nenvironments = [\"staging\"]")
            .unwrap();
        assert_eq!(
            spec.ci.oidc_subjects(),
            vec!["repo:acme/shop:ref:refs/heads/main", "repo:acme/shop:environment:staging"]
        );
        let open = self::spec("[infra.ci]\nrepository = \"acme/shop\"").unwrap();
        assert_eq!(open.ci.oidc_subjects(), vec!["repo:acme/shop:*"]);
    }

    #[test]
    fn subnets_split_the_vpc_in_four() {
        assert_eq!(subnet_bits("10.42.0.0/16"), 14);
        assert_eq!(subnet_bits("10.0.0.0/20"), 10);
    }
}
