use std::collections::BTreeMap;

use hcl::{Block, Body, Expression};
use loadgrid_plan::FileConfig;
use serde_json::{json, Value};

use super::{render, KINDS};
use crate::spec::InfraSpec;

const OIDC: &str = "[infra.ci]\nrepository = \"acme/shop\"\nbranches = [\"main\"]\n";

/// Every configuration the CloudFormation snapshots and `scripts/lint-infra` cover.
fn configs() -> Vec<(&'static str, String)> {
    vec![
        ("default-vpc", OIDC.to_owned()),
        ("public", format!("[infra]\nnetwork = \"public\"\n{OIDC}")),
        ("static-ip", format!("[infra]\nnetwork = \"static-ip\"\n{OIDC}")),
        ("static-ip-per-az", format!("[infra]\nnetwork = \"static-ip\"\nnat_per_az = true\n{OIDC}")),
        (
            "existing",
            format!("[infra]\nnetwork = \"existing\"\nsubnets = [\"subnet-0abc\", \"subnet-0def\"]\nsecurity_group = \"sg-0123\"\n{OIDC}"),
        ),
        ("ec2-pool", format!("[infra]\nnetwork = \"public\"\ncapacity = \"ec2\"\n{OIDC}")),
        ("ec2-pool-default-vpc", format!("[infra]\ncapacity = \"ec2\"\ninstances = 3\ninstance_type = \"c6i.xlarge\"\n{OIDC}")),
        ("iam-user", "[infra.ci]\nmode = \"iam-user\"\n".to_owned()),
        (
            "oidc-reused-swaps",
            "[infra]\nimage = \"ecr\"\nalert_email = \"perf@acme.dev\"\n[infra.tags]\nCostCenter = \"perf-42\"\n[infra.ci]\nrepository = \"acme/shop\"\nenvironments = [\"staging\"]\nimage_swaps = true\noidc_provider_arn = \"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com\"\n".to_owned(),
        ),
        ("no-ci", "[infra.names]\nbucket = \"k6-artifacts-{account}\"\ncluster = \"k6-cluster\"\n".to_owned()),
    ]
}

fn spec(toml: &str) -> InfraSpec {
    let config = FileConfig::parse(toml).unwrap();
    InfraSpec::from_section(&config.infra, Some("eu-west-1")).unwrap()
}

/// The module's files, one after another, for a snapshot a reviewer reads.
fn module_text(spec: &InfraSpec) -> String {
    render(spec).files.iter().map(|(name, text)| format!("### {name}\n{text}")).collect::<Vec<_>>().join("\n")
}

#[test]
fn snapshot_public() {
    insta::assert_snapshot!(module_text(&spec(&format!("[infra]\nnetwork = \"public\"\n{OIDC}"))));
}

#[test]
fn snapshot_static_ip() {
    insta::assert_snapshot!(module_text(&spec(&format!("[infra]\nnetwork = \"static-ip\"\n{OIDC}"))));
}

#[test]
fn snapshot_ec2_pool_default_vpc() {
    let toml = format!("[infra]\ncapacity = \"ec2\"\ninstances = 3\ninstance_type = \"c6i.xlarge\"\n{OIDC}");
    insta::assert_snapshot!(module_text(&spec(&toml)));
}

#[test]
fn snapshot_ci_iam_user() {
    insta::assert_snapshot!(module_text(&spec("[infra.ci]\nmode = \"iam-user\"\n")));
}

/// Every file parses as HCL, and the module has the files it promises.
fn parsed(spec: &InfraSpec) -> Vec<Block> {
    let module = render(spec);
    for file in ["versions.tf", "variables.tf", "main.tf", "outputs.tf", "storage.tf", "compute.tf", "alerts.tf"] {
        assert!(module.files.contains_key(file), "{file} in {:?}", module.files.keys());
    }
    module
        .files
        .iter()
        .flat_map(|(name, text)| {
            let body: Body = hcl::parse(text).unwrap_or_else(|e| panic!("{name} is not HCL: {e}\n{text}"));
            body.into_blocks().collect::<Vec<_>>()
        })
        .collect()
}

fn resources(blocks: &[Block]) -> Vec<&Block> {
    blocks.iter().filter(|b| b.identifier() == "resource").collect()
}

fn label(block: &Block, index: usize) -> &str {
    block.labels()[index].as_str()
}

fn attribute<'a>(block: &'a Block, key: &str) -> Option<&'a Expression> {
    block.body().attributes().find(|a| a.key() == key).map(|a| a.expr())
}

/// What Terraform would interpolate, with the sample values the
/// template's policies are linted with.
fn sample(text: &str) -> String {
    text.replace("${data.aws_partition.current.partition}", "aws")
        .replace("${data.aws_region.current.name}", "eu-west-1")
        .replace("${data.aws_caller_identity.current.account_id}", "123456789012")
}

fn cfn_sample(text: &str) -> String {
    text.replace("${AWS::Partition}", "aws")
        .replace("${AWS::Region}", "eu-west-1")
        .replace("${AWS::AccountId}", "123456789012")
}

/// An HCL expression as the JSON `jsonencode` would make of it; references
/// stay as their text.
fn to_json(expr: &Expression) -> Value {
    match expr {
        Expression::Null => Value::Null,
        Expression::Bool(b) => json!(b),
        Expression::Number(n) => serde_json::to_value(n).unwrap(),
        Expression::String(s) => json!(sample(s)),
        Expression::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Expression::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| {
                    let key = match key {
                        hcl::ObjectKey::Identifier(id) => id.to_string(),
                        hcl::ObjectKey::Expression(Expression::String(s)) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    (key, to_json(value))
                })
                .collect(),
        ),
        Expression::TemplateExpr(template) => json!(sample(&template.to_string())),
        other => json!(format!("{other}")),
    }
}

/// A CloudFormation value as Terraform names what it points to: pseudo
/// parameters as samples, `Ref`/`Fn::GetAtt` and `${...}` as the Terraform
/// address of the resource (by the module's naming rule and [`KINDS`]).
fn cfn_json(value: &Value, template: &Value) -> Value {
    let address = |id: &str, attribute: Option<&str>| {
        let kind = template["Resources"][id]["Type"].as_str().unwrap_or_else(|| panic!("no resource {id}"));
        let (_, tf, reference, _) = KINDS.iter().find(|k| k.0 == kind).unwrap();
        let attribute = match attribute {
            None => (*reference).to_owned(),
            Some(a) => super::ATTRIBUTES.iter().find(|(cfn, _)| *cfn == a).unwrap().1.to_owned(),
        };
        format!("{tf}.{}.{attribute}", super::snake(id))
    };
    let sub = |text: &str| {
        let mut out = cfn_sample(text);
        while let Some(start) =
            out.find("${").filter(|s| !out[*s..].starts_with("${aws_") && !out[*s..].starts_with("${data."))
        {
            let end = start + out[start..].find('}').unwrap();
            let inner = out[start + 2..end].to_owned();
            let replaced = match inner.split_once('.') {
                Some((id, attribute)) => address(id, Some(attribute)),
                None => address(&inner, None),
            };
            out.replace_range(start..=end, &format!("\u{1}{replaced}\u{2}"));
        }
        out.replace('\u{1}', "${").replace('\u{2}', "}")
    };
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("Fn::Sub") => {
            json!(sub(map["Fn::Sub"].as_str().unwrap()))
        }
        Value::Object(map) if map.len() == 1 && map.contains_key("Ref") => {
            json!(address(map["Ref"].as_str().unwrap(), None))
        }
        Value::Object(map) if map.len() == 1 && map.contains_key("Fn::GetAtt") => {
            let pair = map["Fn::GetAtt"].as_array().unwrap();
            json!(address(pair[0].as_str().unwrap(), pair[1].as_str()))
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), cfn_json(v, template))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(|v| cfn_json(v, template)).collect()),
        Value::String(s) => json!(cfn_sample(s)),
        other => other.clone(),
    }
}

/// The argument of `jsonencode(...)`.
fn encoded(expr: &Expression) -> &Expression {
    match expr {
        Expression::FuncCall(call) if call.name.name.as_str() == "jsonencode" => &call.args[0],
        other => panic!("not jsonencode: {other}"),
    }
}

/// Every IAM statement, its references reduced to where they point.
fn statements(document: &Value) -> Vec<String> {
    let mut list: Vec<String> = document["Statement"].as_array().unwrap().iter().map(Value::to_string).collect();
    list.sort();
    list
}

#[test]
fn every_configuration_is_hcl_with_the_same_resources_policies_rules_and_bucket_protections() {
    for (name, toml) in configs() {
        let spec = spec(&toml);
        let template = crate::template::render(&spec).to_value();
        let blocks = parsed(&spec);
        let tf = resources(&blocks);

        // The same resource kinds in the same counts: each template resource is
        // one main block; every other Terraform resource is a known part.
        let mut cfn_counts: BTreeMap<&str, usize> = BTreeMap::new();
        for resource in template["Resources"].as_object().unwrap().values() {
            let kind = KINDS
                .iter()
                .find(|k| k.0 == resource["Type"])
                .unwrap_or_else(|| panic!("{name}: {}", resource["Type"]));
            *cfn_counts.entry(kind.1).or_default() += 1;
        }
        let mut tf_counts: BTreeMap<&str, usize> = BTreeMap::new();
        for block in &tf {
            let kind = label(block, 0);
            if KINDS.iter().any(|k| k.1 == kind) {
                *tf_counts.entry(kind).or_default() += 1;
            } else {
                assert!(KINDS.iter().any(|k| k.3.contains(&kind)), "{name}: {kind} is neither a main block nor a part");
            }
        }
        let parts_that_are_also_main: Vec<&str> = vec![];
        assert_eq!(tf_counts, cfn_counts, "{name}: resource kinds and counts {parts_that_are_also_main:?}");

        // Identical IAM statements: every inline, managed, trust and bucket policy.
        let mut cfn_statements = Vec::new();
        for resource in template["Resources"].as_object().unwrap().values() {
            let props = &resource["Properties"];
            for document in [&props["AssumeRolePolicyDocument"], &props["PolicyDocument"]] {
                if document.is_object() {
                    cfn_statements.extend(statements(&cfn_json(document, &template)));
                }
            }
            for policy in props["Policies"].as_array().into_iter().flatten() {
                cfn_statements.extend(statements(&cfn_json(&policy["PolicyDocument"], &template)));
            }
        }
        let mut tf_statements = Vec::new();
        for block in &tf {
            for key in ["policy", "assume_role_policy"] {
                if let Some(expr) = attribute(block, key).filter(|e| matches!(e, Expression::FuncCall(_))) {
                    tf_statements.extend(statements(&to_json(encoded(expr))));
                }
            }
        }
        cfn_statements.sort();
        tf_statements.sort();
        assert!(!cfn_statements.is_empty());
        assert_eq!(tf_statements, cfn_statements, "{name}: IAM statements");

        // The same security-group rules: egress only, the same egress.
        for group in tf.iter().filter(|b| label(b, 0) == "aws_security_group") {
            assert!(group.body().blocks().all(|b| b.identifier() != "ingress"), "{name}: no ingress");
            let egress: Vec<&Block> = group.body().blocks().filter(|b| b.identifier() == "egress").collect();
            let cfn = &template["Resources"]["TaskSecurityGroup"]["Properties"]["SecurityGroupEgress"];
            assert_eq!(egress.len(), cfn.as_array().unwrap().len(), "{name}");
            assert_eq!(to_json(attribute(egress[0], "protocol").unwrap()), cfn[0]["IpProtocol"]);
            assert_eq!(to_json(attribute(egress[0], "cidr_blocks").unwrap()), json!([cfn[0]["CidrIp"]]));
        }

        // The same bucket protections.
        let bucket = &template["Resources"]["ArtifactsBucket"]["Properties"];
        let part = |kind: &str| *tf.iter().find(|b| label(b, 0) == kind).unwrap_or_else(|| panic!("{name}: no {kind}"));
        let access = part("aws_s3_bucket_public_access_block");
        for key in ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"] {
            assert_eq!(attribute(access, key), Some(&Expression::Bool(true)), "{name}: {key}");
        }
        let encryption = part("aws_s3_bucket_server_side_encryption_configuration");
        let rule = encryption.body().blocks().next().unwrap();
        let default = rule.body().blocks().next().unwrap();
        assert_eq!(
            to_json(attribute(default, "sse_algorithm").unwrap()),
            bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
                ["SSEAlgorithm"]
        );
        let versioning = part("aws_s3_bucket_versioning").body().blocks().next().unwrap();
        assert_eq!(to_json(attribute(versioning, "status").unwrap()), bucket["VersioningConfiguration"]["Status"]);
        let lifecycle = part("aws_s3_bucket_lifecycle_configuration");
        let rules: Vec<&Block> = lifecycle.body().blocks().collect();
        assert_eq!(rules.len(), bucket["LifecycleConfiguration"]["Rules"].as_array().unwrap().len(), "{name}");
        let runs = rules[0];
        assert_eq!(
            to_json(attribute(runs.body().blocks().find(|b| b.identifier() == "filter").unwrap(), "prefix").unwrap()),
            json!("runs/")
        );
        let expiration = runs.body().blocks().find(|b| b.identifier() == "expiration").unwrap();
        assert_eq!(
            to_json(attribute(expiration, "days").unwrap()),
            bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"]
        );
        let tls = part("aws_s3_bucket_policy");
        let denied = to_json(encoded(attribute(tls, "policy").unwrap()));
        assert_eq!(
            denied["Statement"][0]["Condition"],
            json!({ "Bool": { "aws:SecureTransport": "false" } }),
            "{name}"
        );
    }
}

#[test]
fn the_outputs_are_what_terraform_users_and_loadgrid_read() {
    let blocks = parsed(&spec(&format!("[infra]\nnetwork = \"public\"\n{OIDC}")));
    let outputs: Vec<&str> = blocks.iter().filter(|b| b.identifier() == "output").map(|b| label(b, 0)).collect();
    for name in [
        "cluster_name",
        "task_definition_arn",
        "task_family",
        "ecr_repository_url",
        "public_subnet_ids",
        "task_security_group_id",
        "bucket_name",
        "log_group_name",
        "alerts_topic_arn",
        "ci_role_arn",
        "store_url",
        "loadgrid_toml",
    ] {
        assert!(outputs.contains(&name), "output {name} in {outputs:?}");
    }
    // `loadgrid_toml` is loadgrid.toml once Terraform has filled it in.
    let toml = blocks.iter().find(|b| b.identifier() == "output" && label(b, 0) == "loadgrid_toml").unwrap();
    let Some(Expression::FuncCall(call)) = attribute(toml, "value") else { panic!("loadgrid_toml is format(...)") };
    let Expression::String(pattern) = &call.args[0] else { panic!("a format string") };
    // Each verb takes the next argument: `%q` a JSON-quoted string, `%s` as is.
    let mut values =
        ["\"s3://b\"", "\"loadgrid\"", "\"loadgrid-runner\"", "[\"subnet-a\",\"subnet-b\"]", "\"sg-1\"", "true"].iter();
    let mut filled = String::new();
    let mut rest = pattern.as_str();
    while let Some(at) = rest.find('%') {
        filled.push_str(&rest[..at]);
        filled.push_str(values.next().expect("as many values as verbs"));
        rest = &rest[at + 2..];
    }
    filled.push_str(rest);
    assert!(values.next().is_none(), "every argument has its verb");
    let config = FileConfig::parse(&filled).unwrap_or_else(|e| panic!("{e}\n{filled}"));
    assert_eq!(config.store.as_deref(), Some("s3://b"));
    assert_eq!(config.ecs.cluster.as_deref(), Some("loadgrid"));
    assert_eq!(config.ecs.task_definition.as_deref(), Some("loadgrid-runner"));
    assert_eq!(config.ecs.subnets, ["subnet-a", "subnet-b"]);
    assert_eq!(config.ecs.security_groups, ["sg-1"]);
    assert_eq!(config.ecs.assign_public_ip, Some(true));
    let user = parsed(&spec("[infra.ci]\nmode = \"iam-user\"\n"));
    assert!(user.iter().any(|b| b.identifier() == "output" && label(b, 0) == "ci_user_name"));
    let pool = parsed(&spec(&format!("[infra]\nnetwork = \"public\"\ncapacity = \"ec2\"\n{OIDC}")));
    assert!(pool.iter().any(|b| b.identifier() == "output" && label(b, 0) == "egress_ips"));
}

#[test]
fn terraform_outputs_read_as_the_stack_outputs_at_the_top_or_inside_one_module_output() {
    let top = r#"{
        "cluster_name": {"sensitive": false, "type": "string", "value": "loadgrid"},
        "task_subnet_ids": {"sensitive": false, "type": ["tuple", ["string", "string"]], "value": ["subnet-a", "subnet-b"]},
        "assign_public_ip": {"sensitive": false, "type": "string", "value": "ENABLED"},
        "pool_instance_ids": {"sensitive": false, "type": ["tuple", ["string"]], "value": ["i-1"]},
        "unrelated": {"sensitive": false, "type": "string", "value": "x"}
    }"#;
    let outputs = super::outputs_from_json(top).unwrap();
    assert_eq!(outputs["Cluster"], "loadgrid");
    assert_eq!(outputs["Subnets"], "subnet-a,subnet-b");
    assert_eq!(outputs["AssignPublicIp"], "ENABLED");
    assert_eq!(outputs["PoolInstances"], "i-1");
    let nested = r#"{"loadgrid": {"sensitive": false, "type": ["object", {}], "value": {"cluster_name": "k6", "task_definition_arn": "arn:td"}}}"#;
    let outputs = super::outputs_from_json(nested).unwrap();
    assert_eq!((outputs["Cluster"].as_str(), outputs["TaskDefinition"].as_str()), ("k6", "arn:td"));
    assert!(super::outputs_from_json("{}").unwrap_err().contains("none of the loadgrid module's outputs"));
    assert!(super::outputs_from_json("[1]").unwrap_err().contains("not the JSON of `terraform output -json`"));
}
