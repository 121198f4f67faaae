//! The Terraform module for an [`InfraSpec`]: the CloudFormation template
//! of the same spec, translated resource by resource. One template is the
//! source of both, so the two cannot drift: every IAM policy still comes
//! from [`crate::policy`], every name and tag from the spec, every checkov
//! skip and its reason from the template's metadata.
//!
//! - Intrinsics become Terraform expressions: `Ref`/`Fn::GetAtt` the
//!   resource's attribute, `Fn::Sub` a template string, pseudo parameters
//!   the `aws_partition`/`aws_region`/`aws_caller_identity` data sources,
//!   the default VPC's parameters `aws_vpc`/`aws_subnets` lookups, the AMI
//!   parameter an `aws_ssm_parameter` lookup.
//! - A CloudFormation resource that Terraform splits (a bucket's
//!   encryption, versioning, lifecycle...; a role's policies) becomes its
//!   main block plus parts: [`KINDS`] says which, and the parity test
//!   counts both sides by it.
//! - Files follow the template's areas: `storage.tf`, `network.tf`,
//!   `compute.tf`, `capacity.tf`, `alerts.tf`, `identity.tf`, beside
//!   `versions.tf`, `variables.tf`, `main.tf` and `outputs.tf`.

pub mod hcl;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::spec::InfraSpec;
use hcl::{Block, Expr, File};

/// How every file of the module starts: `loadgrid infra template` replaces
/// only files that do.
pub const HEADER_PREFIX: &str = "# loadgrid ";

/// The AWS provider the module is written for: 5.81 is the first whose
/// OIDC provider needs no certificate thumbprint (AWS stopped needing one).
pub const AWS_PROVIDER: &str = "~> 5.81";
pub const TERRAFORM_VERSION: &str = ">= 1.5";

/// Each CloudFormation resource type, the Terraform type of its main block,
/// what its `Ref` is in Terraform, and the Terraform types of its parts.
pub const KINDS: &[(&str, &str, &str, &[&str])] = &[
    (
        "AWS::S3::Bucket",
        "aws_s3_bucket",
        "id",
        &[
            "aws_s3_bucket_public_access_block",
            "aws_s3_bucket_server_side_encryption_configuration",
            "aws_s3_bucket_ownership_controls",
            "aws_s3_bucket_versioning",
            "aws_s3_bucket_lifecycle_configuration",
        ],
    ),
    ("AWS::S3::BucketPolicy", "aws_s3_bucket_policy", "id", &[]),
    ("AWS::EC2::VPC", "aws_vpc", "id", &[]),
    ("AWS::EC2::InternetGateway", "aws_internet_gateway", "id", &[]),
    ("AWS::EC2::VPCGatewayAttachment", "aws_internet_gateway_attachment", "id", &[]),
    ("AWS::EC2::RouteTable", "aws_route_table", "id", &[]),
    ("AWS::EC2::Route", "aws_route", "id", &[]),
    ("AWS::EC2::Subnet", "aws_subnet", "id", &[]),
    ("AWS::EC2::SubnetRouteTableAssociation", "aws_route_table_association", "id", &[]),
    ("AWS::EC2::EIP", "aws_eip", "public_ip", &[]),
    ("AWS::EC2::NatGateway", "aws_nat_gateway", "id", &[]),
    ("AWS::EC2::SecurityGroup", "aws_security_group", "id", &[]),
    ("AWS::Logs::LogGroup", "aws_cloudwatch_log_group", "name", &[]),
    ("AWS::ECR::Repository", "aws_ecr_repository", "name", &["aws_ecr_lifecycle_policy"]),
    ("AWS::ECS::Cluster", "aws_ecs_cluster", "name", &["aws_ecs_cluster_capacity_providers"]),
    ("AWS::IAM::Role", "aws_iam_role", "name", &["aws_iam_role_policy", "aws_iam_role_policy_attachment"]),
    ("AWS::ECS::TaskDefinition", "aws_ecs_task_definition", "arn", &[]),
    ("AWS::SNS::Topic", "aws_sns_topic", "arn", &[]),
    ("AWS::SNS::Subscription", "aws_sns_topic_subscription", "arn", &[]),
    ("AWS::CloudWatch::Dashboard", "aws_cloudwatch_dashboard", "dashboard_name", &[]),
    ("AWS::IAM::OIDCProvider", "aws_iam_openid_connect_provider", "arn", &[]),
    (
        "AWS::IAM::ManagedPolicy",
        "aws_iam_policy",
        "arn",
        &["aws_iam_role_policy_attachment", "aws_iam_group_policy_attachment"],
    ),
    ("AWS::IAM::Group", "aws_iam_group", "name", &[]),
    ("AWS::IAM::User", "aws_iam_user", "name", &["aws_iam_user_group_membership"]),
    ("AWS::IAM::AccessKey", "aws_iam_access_key", "id", &[]),
    ("AWS::SecretsManager::Secret", "aws_secretsmanager_secret", "arn", &["aws_secretsmanager_secret_version"]),
    ("AWS::IAM::InstanceProfile", "aws_iam_instance_profile", "name", &[]),
    ("AWS::EC2::LaunchTemplate", "aws_launch_template", "id", &[]),
    ("AWS::EC2::Instance", "aws_instance", "id", &[]),
    ("AWS::CloudWatch::Alarm", "aws_cloudwatch_metric_alarm", "alarm_name", &[]),
];

/// Checks checkov runs only on Terraform's shape of a resource, skipped
/// with their reason as the template's are.
const TERRAFORM_SKIPS: &[(&str, &str, &str)] = &[
    (
        "aws_security_group",
        "CKV2_AWS_5",
        "loadgrid attaches the group to every task it starts (RunTask's network configuration), outside Terraform.",
    ),
    (
        "aws_s3_bucket",
        "CKV_AWS_144",
        "Run records are a test log that a rerun reproduces; a replica in a second region would double their cost.",
    ),
    (
        "aws_instance",
        "CKV_AWS_79",
        "IMDSv2 only (http_tokens = required, one hop) is set in the instance's launch template, which checkov does not follow.",
    ),
    (
        "aws_instance",
        "CKV_AWS_135",
        "ebs_optimized = true is set in the instance's launch template, which checkov does not follow.",
    ),
    (
        "aws_instance",
        "CKV_AWS_8",
        "The root volume is encrypted gp3, set in the instance's launch template, which checkov does not follow.",
    ),
    (
        "aws_instance",
        "CKV_AWS_126",
        "Detailed monitoring is enabled in the instance's launch template, which checkov does not follow.",
    ),
    (
        "aws_instance",
        "CKV2_AWS_41",
        "The instance profile (the ECS agent's role) is set in the instance's launch template, which checkov does not follow.",
    ),
    (
        "aws_availability_zones",
        "CKV_AWS_394",
        "Only the first two zones are used, by index, as CloudFormation's Fn::GetAZs does; a zone AWS adds comes after them.",
    ),
];

fn terraform_skips(mut block: Block, kind: &str) -> Block {
    for (_, check, why) in TERRAFORM_SKIPS.iter().filter(|(k, ..)| *k == kind) {
        block = block.comment(format!("checkov:skip={check}:{why}"));
    }
    block
}

/// `Fn::GetAtt` attributes by their Terraform names.
pub(crate) const ATTRIBUTES: &[(&str, &str)] = &[
    ("Arn", "arn"),
    ("RepositoryUri", "repository_url"),
    ("AllocationId", "allocation_id"),
    ("SecretAccessKey", "secret"),
    ("LatestVersionNumber", "latest_version"),
];

/// Stack outputs by the names a Terraform user reads, and whether the
/// value is a list (the template joins it with commas).
pub const OUTPUTS: &[(&str, &str, bool)] = &[
    (crate::template::outputs::CLUSTER, "cluster_name", false),
    (crate::template::outputs::TASK_DEFINITION, "task_definition_arn", false),
    (crate::template::outputs::CONTAINER_NAME, "container_name", false),
    (crate::template::outputs::SUBNETS, "task_subnet_ids", true),
    (crate::template::outputs::SECURITY_GROUP, "task_security_group_id", false),
    (crate::template::outputs::ASSIGN_PUBLIC_IP, "assign_public_ip", false),
    (crate::template::outputs::STORE_URL, "store_url", false),
    (crate::template::outputs::BUCKET, "bucket_name", false),
    (crate::template::outputs::REPOSITORY_URI, "ecr_repository_url", false),
    (crate::template::outputs::LOG_GROUP, "log_group_name", false),
    (crate::template::outputs::ALERTS_TOPIC, "alerts_topic_arn", false),
    (crate::template::outputs::DASHBOARD, "dashboard_url", false),
    (crate::template::outputs::EGRESS_IPS, "egress_ips", true),
    (crate::template::outputs::CI_ROLE_ARN, "ci_role_arn", false),
    (crate::template::outputs::CI_USER, "ci_user_name", false),
    (crate::template::outputs::CI_ACCESS_KEY_SECRET, "ci_access_key_secret_arn", false),
    (crate::template::outputs::NETWORK, "network_mode", false),
    (crate::template::outputs::CAPACITY, "capacity", false),
    (crate::template::outputs::POOL_INSTANCES, "pool_instance_ids", true),
    (crate::template::outputs::POOL_INSTANCE_TYPE, "pool_instance_type", false),
    (crate::template::outputs::POOL_TASK_DEFINITION, "pool_task_definition_arn", false),
];

/// The outputs of `terraform output -json` as the stack's outputs (by the
/// template's keys, lists joined with commas), so that loadgrid reads a
/// Terraform deployment as it reads a stack. The module's outputs may be at
/// the top (a root module that re-exports them) or inside one output that
/// holds the whole module (`output "loadgrid" { value = module.loadgrid }`).
pub fn outputs_from_json(text: &str) -> Result<BTreeMap<String, String>, String> {
    let json: Value =
        serde_json::from_str(text).map_err(|e| format!("it is not the JSON of `terraform output -json` ({e})"))?;
    let Some(top) = json.as_object() else {
        return Err("it is not the JSON of `terraform output -json` (an object of outputs)".into());
    };
    let ours = |object: &serde_json::Map<String, Value>| OUTPUTS.iter().any(|(_, name, _)| object.contains_key(*name));
    let values: serde_json::Map<String, Value> = if ours(top) {
        top.iter().map(|(key, output)| (key.clone(), output["value"].clone())).collect()
    } else {
        let nested: Vec<&serde_json::Map<String, Value>> =
            top.values().filter_map(|output| output["value"].as_object()).filter(|value| ours(value)).collect();
        match nested.as_slice() {
            [one] => (*one).clone(),
            _ => {
                return Err("it has none of the loadgrid module's outputs (`cluster_name`, `task_definition_arn`...): \
                     re-export them from the root module, or output the whole module"
                    .into())
            }
        }
    };
    let mut outputs = BTreeMap::new();
    for (key, name, _) in OUTPUTS {
        let text = match values.get(*name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
            Some(Value::Bool(b)) => b.to_string(),
            _ => continue,
        };
        outputs.insert((*key).to_owned(), text);
    }
    Ok(outputs)
}

/// The module's files by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    pub files: BTreeMap<String, String>,
}

const AREAS: [&str; 6] = ["storage", "network", "compute", "capacity", "alerts", "identity"];

/// The whole module for `spec`.
pub fn render(spec: &InfraSpec) -> Module {
    let template = crate::template::render(spec);
    let value = template.to_value();
    let resources = value["Resources"].as_object().cloned().unwrap_or_default();
    let names: BTreeMap<String, (String, String)> = resources
        .iter()
        .map(|(id, resource)| {
            let kind = kind_of(resource["Type"].as_str().unwrap_or_default());
            (id.clone(), (kind.1.to_owned(), snake(id)))
        })
        .collect();
    let translate = Translate { names: &names, resources: &resources };

    let mut files: BTreeMap<String, File> = BTreeMap::new();
    for (id, resource) in &resources {
        let area = template.area_of(id);
        let blocks = translate.resource(spec, id, resource);
        let file = files.entry(format!("{area}.tf")).or_default();
        file.blocks.extend(blocks);
    }
    for area in AREAS {
        if let Some(file) = files.get_mut(&format!("{area}.tf")) {
            file.header = vec![format!(
                "loadgrid {}: {area}. Generated by `loadgrid infra template --format terraform`.",
                env!("CARGO_PKG_VERSION")
            )];
        }
    }
    let mut module: BTreeMap<String, String> = files.into_iter().map(|(name, file)| (name, file.render())).collect();
    module.insert("versions.tf".into(), versions());
    module.insert("main.tf".into(), main(spec, &value));
    module.insert("variables.tf".into(), variables(&value));
    module.insert("outputs.tf".into(), outputs_file(spec, &value, &translate));
    Module { files: module }
}

fn kind_of(cfn_type: &str) -> (&'static str, &'static str, &'static str, &'static [&'static str]) {
    KINDS
        .iter()
        .copied()
        .find(|(cfn, ..)| *cfn == cfn_type)
        .unwrap_or_else(|| panic!("no Terraform translation for {cfn_type}: add it to terraform::KINDS"))
}

/// `ArtifactsBucket` → `artifacts_bucket`, `PoolInstance0` → `pool_instance_0`.
pub(crate) fn snake(id: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = id.chars().collect();
    for (index, c) in chars.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| chars[i]);
        let boundary = match previous {
            None => false,
            Some(p) => {
                (c.is_ascii_uppercase() && (p.is_ascii_lowercase() || p.is_ascii_digit()))
                    || (c.is_ascii_digit() && p.is_ascii_alphabetic())
            }
        };
        if boundary {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

struct Translate<'a> {
    /// Logical id → (Terraform type, name).
    names: &'a BTreeMap<String, (String, String)>,
    resources: &'a serde_json::Map<String, Value>,
}

impl Translate<'_> {
    fn address(&self, id: &str) -> String {
        let (kind, name) = self.names.get(id).unwrap_or_else(|| panic!("unknown resource {id}"));
        format!("{kind}.{name}")
    }

    fn reference(&self, id: &str) -> String {
        if let Some(parameter) = parameter(id) {
            return parameter.to_owned();
        }
        let cfn_type = self.resources[id]["Type"].as_str().unwrap_or_default();
        format!("{}.{}", self.address(id), kind_of(cfn_type).2)
    }

    fn attribute(&self, id: &str, attribute: &str) -> String {
        let name = ATTRIBUTES.iter().find(|(cfn, _)| *cfn == attribute).map_or_else(
            || panic!("no Terraform attribute for {id}.{attribute}: add it to terraform::ATTRIBUTES"),
            |(_, tf)| *tf,
        );
        format!("{}.{name}", self.address(id))
    }

    /// An `Fn::Sub` string as a Terraform template.
    fn template(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start].replace("%{", "%%{"));
            let end = start + rest[start..].find('}').expect("a closed ${...}");
            let inner = &rest[start + 2..end];
            let expr = match pseudo(inner) {
                Some(pseudo) => pseudo.to_owned(),
                None => match inner.split_once('.') {
                    Some((id, attribute)) => self.attribute(id, attribute),
                    None => self.reference(inner),
                },
            };
            out.push_str(&format!("${{{expr}}}"));
            rest = &rest[end + 1..];
        }
        out.push_str(&rest.replace("%{", "%%{"));
        out
    }

    /// A template value as a Terraform expression.
    fn expr(&self, value: &Value) -> Expr {
        match value {
            Value::Null => Expr::raw("null"),
            Value::Bool(b) => Expr::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Expr::Number(i),
                None => Expr::raw(n.to_string()),
            },
            Value::String(s) => Expr::str(s.clone()),
            Value::Array(items) => Expr::List(items.iter().map(|v| self.expr(v)).collect()),
            Value::Object(map) if map.len() == 1 => {
                let (key, argument) = map.iter().next().expect("one entry");
                self.intrinsic(key, argument).unwrap_or_else(|| Expr::Object(vec![(key.clone(), self.expr(argument))]))
            }
            Value::Object(map) => Expr::Object(map.iter().map(|(k, v)| (k.clone(), self.expr(v))).collect()),
        }
    }

    fn intrinsic(&self, function: &str, argument: &Value) -> Option<Expr> {
        let items = argument.as_array();
        Some(match function {
            "Ref" => Expr::raw(self.reference(argument.as_str()?)),
            "Fn::GetAtt" => {
                let items = items?;
                Expr::raw(self.attribute(items[0].as_str()?, items[1].as_str()?))
            }
            "Fn::Sub" => Expr::Template(self.template(argument.as_str()?)),
            "Fn::Join" => {
                let items = items?;
                Expr::Call("join", vec![Expr::str(items[0].as_str()?), self.expr(&items[1])])
            }
            "Fn::Base64" => Expr::Call("base64encode", vec![self.expr(argument)]),
            "Fn::Select" => {
                let items = items?;
                let index = items[0].as_i64()?;
                let list = &items[1];
                if list.get("Fn::GetAZs").is_some() {
                    Expr::raw(format!("data.aws_availability_zones.available.names[{index}]"))
                } else if let Some(cidr) = list.get("Fn::Cidr").and_then(Value::as_array) {
                    let block = cidr[0].as_str()?;
                    let host_bits: i64 = cidr[2].as_str()?.parse().ok()?;
                    let prefix: i64 = block.split('/').nth(1)?.parse().ok()?;
                    Expr::Call(
                        "cidrsubnet",
                        vec![Expr::str(block), Expr::Number(32 - host_bits - prefix), Expr::Number(index)],
                    )
                } else {
                    match self.expr(list) {
                        Expr::Raw(list) => Expr::raw(format!("{list}[{index}]")),
                        other => Expr::Call("element", vec![other, Expr::Number(index)]),
                    }
                }
            }
            _ => return None,
        })
    }

    /// The Terraform blocks of one template resource.
    fn resource(&self, spec: &InfraSpec, id: &str, resource: &Value) -> Vec<Block> {
        let cfn_type = resource["Type"].as_str().unwrap_or_default();
        let props = resource["Properties"].as_object().cloned().unwrap_or_default();
        let (_, tf_type, _, _) = kind_of(cfn_type);
        let name = snake(id);
        let mut main = terraform_skips(Block::new("resource", &[tf_type, &name]), tf_type);
        for skip in resource["Metadata"]["checkov"]["skip"].as_array().into_iter().flatten() {
            main = main.comment(format!(
                "checkov:skip={}:{}",
                skip["id"].as_str().unwrap_or_default(),
                skip["comment"].as_str().unwrap_or_default()
            ));
        }
        let prop = |key: &str| props.get(key).map(|v| self.expr(v));
        // Properties copied as they are, `(terraform, template)`; one the
        // template leaves out is left out.
        let copy = |block: Block, fields: &[(&str, &str)]| self.copied(block, &resource["Properties"], fields);
        let encoded = |block: Block, tf: &str, cfn: &str| match props.get(cfn) {
            Some(value) => block.attr(tf, jsonencode(self.expr(value))),
            None => block,
        };
        let part = |kind: &str, suffix: &str| Block::new("resource", &[kind, &format!("{name}{suffix}")]);
        let own = Expr::raw(format!("{tf_type}.{name}.id"));
        let mut parts = Vec::new();
        main = match cfn_type {
            "AWS::S3::Bucket" => {
                parts.push(self.copied(
                    part("aws_s3_bucket_public_access_block", "").attr("bucket", own.clone()),
                    &props["PublicAccessBlockConfiguration"],
                    &[
                        ("block_public_acls", "BlockPublicAcls"),
                        ("block_public_policy", "BlockPublicPolicy"),
                        ("ignore_public_acls", "IgnorePublicAcls"),
                        ("restrict_public_buckets", "RestrictPublicBuckets"),
                    ],
                ));
                let rule = &props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0];
                parts.push(
                    part("aws_s3_bucket_server_side_encryption_configuration", "").attr("bucket", own.clone()).block(
                        Block::new("rule", &[]).attr("bucket_key_enabled", self.expr(&rule["BucketKeyEnabled"])).block(
                            Block::new("apply_server_side_encryption_by_default", &[]).attr(
                                "sse_algorithm",
                                self.expr(&rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]),
                            ),
                        ),
                    ),
                );
                parts.push(part("aws_s3_bucket_ownership_controls", "").attr("bucket", own.clone()).block(
                    Block::new("rule", &[]).attr(
                        "object_ownership",
                        self.expr(&props["OwnershipControls"]["Rules"][0]["ObjectOwnership"]),
                    ),
                ));
                parts.push(
                    part("aws_s3_bucket_versioning", "").attr("bucket", own.clone()).block(
                        Block::new("versioning_configuration", &[])
                            .attr("status", self.expr(&props["VersioningConfiguration"]["Status"])),
                    ),
                );
                let mut lifecycle = part("aws_s3_bucket_lifecycle_configuration", "").attr("bucket", own.clone());
                for rule in props["LifecycleConfiguration"]["Rules"].as_array().into_iter().flatten() {
                    let mut block = Block::new("rule", &[])
                        .attr("id", self.expr(&rule["Id"]))
                        .attr("status", self.expr(&rule["Status"]))
                        .block(Block::new("filter", &[]).attr("prefix", self.expr(&rule["Prefix"])));
                    if let Some(days) = rule.get("ExpirationInDays") {
                        block = block.block(Block::new("expiration", &[]).attr("days", self.expr(days)));
                    }
                    if let Some(days) = rule.pointer("/NoncurrentVersionExpiration/NoncurrentDays") {
                        block = block.block(
                            Block::new("noncurrent_version_expiration", &[]).attr("noncurrent_days", self.expr(days)),
                        );
                    }
                    if let Some(days) = rule.pointer("/AbortIncompleteMultipartUpload/DaysAfterInitiation") {
                        block = block.block(
                            Block::new("abort_incomplete_multipart_upload", &[])
                                .attr("days_after_initiation", self.expr(days)),
                        );
                    }
                    lifecycle = lifecycle.block(block);
                }
                parts.push(lifecycle);
                // DeletionPolicy Retain: a destroy stops at a bucket that holds runs.
                main.apply(|block| copy(block, &[("bucket", "BucketName")])).attr("force_destroy", Expr::Bool(false))
            }
            "AWS::S3::BucketPolicy" => main
                .apply(|block| copy(block, &[("bucket", "Bucket")]))
                .apply(|block| encoded(block, "policy", "PolicyDocument")),
            "AWS::EC2::SecurityGroup" => {
                let mut group = main.apply(|block| {
                    copy(block, &[("name", "GroupName"), ("description", "GroupDescription"), ("vpc_id", "VpcId")])
                });
                for rule in props["SecurityGroupEgress"].as_array().into_iter().flatten() {
                    group = group.block(
                        Block::new("egress", &[])
                            .attr("description", self.expr(&rule["Description"]))
                            .attr("protocol", self.expr(&rule["IpProtocol"]))
                            .attr("from_port", Expr::Number(0))
                            .attr("to_port", Expr::Number(0))
                            .attr("cidr_blocks", Expr::List(vec![self.expr(&rule["CidrIp"])])),
                    );
                }
                group
            }
            "AWS::ECR::Repository" => {
                parts.push(
                    part("aws_ecr_lifecycle_policy", "")
                        .attr("repository", Expr::raw(format!("{tf_type}.{name}.name")))
                        .attr("policy", self.expr(&props["LifecyclePolicy"]["LifecyclePolicyText"])),
                );
                main.apply(|block| {
                    copy(
                        block,
                        &[
                            ("name", "RepositoryName"),
                            ("image_tag_mutability", "ImageTagMutability"),
                            ("force_delete", "EmptyOnDelete"),
                        ],
                    )
                })
                .block(
                    Block::new("image_scanning_configuration", &[])
                        .attr("scan_on_push", self.expr(&props["ImageScanningConfiguration"]["ScanOnPush"])),
                )
                .block(
                    Block::new("encryption_configuration", &[])
                        .attr("encryption_type", self.expr(&props["EncryptionConfiguration"]["EncryptionType"])),
                )
            }
            "AWS::ECS::Cluster" => {
                let strategy = &props["DefaultCapacityProviderStrategy"][0];
                parts.push(
                    part("aws_ecs_cluster_capacity_providers", "")
                        .attr("cluster_name", Expr::raw(format!("{tf_type}.{name}.name")))
                        .apply(|block| copy(block, &[("capacity_providers", "CapacityProviders")]))
                        .block(self.copied(
                            Block::new("default_capacity_provider_strategy", &[]),
                            strategy,
                            &[("capacity_provider", "CapacityProvider"), ("weight", "Weight")],
                        )),
                );
                let mut cluster = main.apply(|block| copy(block, &[("name", "ClusterName")]));
                for setting in props["ClusterSettings"].as_array().into_iter().flatten() {
                    cluster = cluster.block(self.copied(
                        Block::new("setting", &[]),
                        setting,
                        &[("name", "Name"), ("value", "Value")],
                    ));
                }
                cluster
            }
            "AWS::IAM::Role" => {
                let role = Expr::raw(format!("{tf_type}.{name}.name"));
                for policy in props.get("Policies").and_then(Value::as_array).into_iter().flatten() {
                    let policy_name = policy["PolicyName"].as_str().unwrap_or_default();
                    parts.push(
                        part("aws_iam_role_policy", &format!("_{}", policy_name.replace('-', "_")))
                            .attr("name", self.expr(&policy["PolicyName"]))
                            .attr("role", role.clone())
                            .attr("policy", jsonencode(self.expr(&policy["PolicyDocument"]))),
                    );
                }
                for arn in props.get("ManagedPolicyArns").and_then(Value::as_array).into_iter().flatten() {
                    let managed = arn
                        .get("Fn::Sub")
                        .and_then(Value::as_str)
                        .or(arn.as_str())
                        .and_then(|a| a.rsplit('/').next())
                        .unwrap_or("managed");
                    parts.push(
                        part("aws_iam_role_policy_attachment", &format!("_{}", snake(managed)))
                            .attr("role", role.clone())
                            .attr("policy_arn", self.expr(arn)),
                    );
                }
                let mut block =
                    main.apply(|block| copy(block, &[("name", "RoleName"), ("description", "Description")]));
                if let Some(seconds) = prop("MaxSessionDuration") {
                    block = block.attr("max_session_duration", seconds);
                }
                encoded(block, "assume_role_policy", "AssumeRolePolicyDocument")
            }
            "AWS::ECS::TaskDefinition" => {
                let mut task = main
                    .apply(|block| {
                        copy(
                            block,
                            &[
                                ("family", "Family"),
                                ("cpu", "Cpu"),
                                ("memory", "Memory"),
                                ("network_mode", "NetworkMode"),
                                ("requires_compatibilities", "RequiresCompatibilities"),
                                ("execution_role_arn", "ExecutionRoleArn"),
                                ("task_role_arn", "TaskRoleArn"),
                            ],
                        )
                    })
                    .attr(
                        "container_definitions",
                        jsonencode(self.expr(&ecs_api_case(&props["ContainerDefinitions"], false))),
                    );
                if let Some(platform) = props.get("RuntimePlatform") {
                    task = task.block(self.copied(
                        Block::new("runtime_platform", &[]),
                        platform,
                        &[
                            ("operating_system_family", "OperatingSystemFamily"),
                            ("cpu_architecture", "CpuArchitecture"),
                        ],
                    ));
                }
                for volume in props["Volumes"].as_array().into_iter().flatten() {
                    task = task.block(Block::new("volume", &[]).attr("name", self.expr(&volume["Name"])));
                }
                task
            }
            "AWS::IAM::ManagedPolicy" => {
                let policy = Expr::raw(format!("{tf_type}.{name}.arn"));
                for role in props.get("Roles").and_then(Value::as_array).into_iter().flatten() {
                    parts.push(
                        part("aws_iam_role_policy_attachment", "")
                            .attr("role", self.expr(role))
                            .attr("policy_arn", policy.clone()),
                    );
                }
                for group in props.get("Groups").and_then(Value::as_array).into_iter().flatten() {
                    parts.push(
                        part("aws_iam_group_policy_attachment", "")
                            .attr("group", self.expr(group))
                            .attr("policy_arn", policy.clone()),
                    );
                }
                main.attr("name", Expr::str(format!("{}-{name}", spec.stack)))
                    .apply(|block| copy(block, &[("description", "Description")]))
                    .apply(|block| encoded(block, "policy", "PolicyDocument"))
            }
            "AWS::IAM::Group" => main
                .attr("name", Expr::str(format!("{}-{name}", spec.stack)))
                .apply(|block| copy(block, &[("path", "Path")])),
            "AWS::IAM::User" => {
                parts.push(
                    part("aws_iam_user_group_membership", "")
                        .attr("user", Expr::raw(format!("{tf_type}.{name}.name")))
                        .apply(|block| copy(block, &[("groups", "Groups")])),
                );
                main.apply(|block| copy(block, &[("name", "UserName"), ("path", "Path")]))
            }
            "AWS::IAM::AccessKey" => main.apply(|block| copy(block, &[("user", "UserName")])),
            "AWS::SecretsManager::Secret" => {
                parts.push(
                    part("aws_secretsmanager_secret_version", "")
                        .attr("secret_id", Expr::raw(format!("{tf_type}.{name}.id")))
                        .apply(|block| copy(block, &[("secret_string", "SecretString")])),
                );
                main.apply(|block| copy(block, &[("name", "Name"), ("description", "Description")]))
            }
            "AWS::IAM::InstanceProfile" => main
                .apply(|block| copy(block, &[("name", "InstanceProfileName")]))
                .attr("role", self.expr(&props["Roles"][0])),
            "AWS::EC2::LaunchTemplate" => self.launch_template(main, &props["LaunchTemplateData"]),
            "AWS::EC2::Instance" => main
                .block(self.copied(
                    Block::new("launch_template", &[]),
                    &props["LaunchTemplate"],
                    &[("id", "LaunchTemplateId"), ("version", "Version")],
                ))
                .apply(|block| copy(block, &[("subnet_id", "SubnetId")])),
            "AWS::CloudWatch::Alarm" => {
                let dimensions: Vec<(String, Expr)> = props["Dimensions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| (d["Name"].as_str().unwrap_or_default().to_owned(), self.expr(&d["Value"])))
                    .collect();
                main.attr("alarm_name", Expr::str(format!("{}-{name}", spec.stack)))
                    .apply(|block| {
                        copy(
                            block,
                            &[
                                ("alarm_description", "AlarmDescription"),
                                ("namespace", "Namespace"),
                                ("metric_name", "MetricName"),
                            ],
                        )
                    })
                    .attr("dimensions", Expr::Object(dimensions))
                    .apply(|block| {
                        copy(
                            block,
                            &[
                                ("statistic", "Statistic"),
                                ("period", "Period"),
                                ("evaluation_periods", "EvaluationPeriods"),
                                ("threshold", "Threshold"),
                                ("comparison_operator", "ComparisonOperator"),
                                ("treat_missing_data", "TreatMissingData"),
                                ("alarm_actions", "AlarmActions"),
                            ],
                        )
                    })
            }
            // The rest map property for property: `CidrBlock` → `cidr_block`.
            _ => {
                let renames: &[(&str, &str)] = &[
                    ("LogGroupName", "name"),
                    ("TopicName", "name"),
                    ("InstanceId", "instance"),
                    ("Url", "url"),
                    ("ClientIdList", "client_id_list"),
                ];
                let mut block = main;
                for (key, value) in &props {
                    if key == "Tags" {
                        continue;
                    }
                    let tf = renames
                        .iter()
                        .find(|(cfn, _)| cfn == key)
                        .map_or_else(|| snake(key), |(_, tf)| (*tf).to_owned());
                    block = block.attr(&tf, self.expr(value));
                }
                block
            }
        };
        if props.contains_key("Tags") {
            main = main.attr("tags", Expr::raw("local.tags"));
        }
        if let Some(depends) = resource.get("DependsOn") {
            let ids: Vec<&str> = match depends {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            main = main.attr("depends_on", Expr::List(ids.iter().map(|id| Expr::raw(self.address(id))).collect()));
        }
        let mut blocks = vec![main];
        blocks.extend(parts);
        blocks
    }

    /// `block` with `from`'s properties as attributes, `(terraform,
    /// template)`; one the template leaves out is left out.
    fn copied(&self, block: Block, from: &Value, fields: &[(&str, &str)]) -> Block {
        fields.iter().fold(block, |block, (tf, cfn)| match from.get(*cfn) {
            Some(value) => block.attr(tf, self.expr(value)),
            None => block,
        })
    }

    fn launch_template(&self, main: Block, data: &Value) -> Block {
        let mut block = self
            .copied(
                main,
                data,
                &[
                    ("image_id", "ImageId"),
                    ("instance_type", "InstanceType"),
                    ("vpc_security_group_ids", "SecurityGroupIds"),
                    ("ebs_optimized", "EbsOptimized"),
                    ("user_data", "UserData"),
                ],
            )
            .block(self.copied(Block::new("iam_instance_profile", &[]), &data["IamInstanceProfile"], &[("arn", "Arn")]))
            .block(self.copied(
                Block::new("metadata_options", &[]),
                &data["MetadataOptions"],
                &[
                    ("http_tokens", "HttpTokens"),
                    ("http_endpoint", "HttpEndpoint"),
                    ("http_put_response_hop_limit", "HttpPutResponseHopLimit"),
                ],
            ))
            .block(Block::new("monitoring", &[]).attr("enabled", self.expr(&data["Monitoring"]["Enabled"])));
        for mapping in data["BlockDeviceMappings"].as_array().into_iter().flatten() {
            let ebs = self.copied(
                Block::new("ebs", &[]),
                &mapping["Ebs"],
                &[
                    ("volume_type", "VolumeType"),
                    ("volume_size", "VolumeSize"),
                    ("encrypted", "Encrypted"),
                    ("delete_on_termination", "DeleteOnTermination"),
                ],
            );
            block = block.block(
                Block::new("block_device_mappings", &[])
                    .attr("device_name", self.expr(&mapping["DeviceName"]))
                    .block(ebs),
            );
        }
        for tags in data["TagSpecifications"].as_array().into_iter().flatten() {
            block = block.block(
                Block::new("tag_specifications", &[])
                    .attr("resource_type", self.expr(&tags["ResourceType"]))
                    .attr("tags", Expr::raw("local.tags")),
            );
        }
        block
    }
}

fn jsonencode(value: Expr) -> Expr {
    Expr::Call("jsonencode", vec![value])
}

/// The pseudo parameters as data sources.
fn pseudo(name: &str) -> Option<&'static str> {
    Some(match name {
        "AWS::Partition" => "data.aws_partition.current.partition",
        "AWS::Region" => "data.aws_region.current.name",
        "AWS::AccountId" => "data.aws_caller_identity.current.account_id",
        _ => return None,
    })
}

/// The template's parameters as Terraform lookups and variables.
fn parameter(name: &str) -> Option<&'static str> {
    use crate::template::parameters::{ECS_AMI, IMAGE_TAG, SUBNET_IDS, VPC_ID};
    Some(match name {
        VPC_ID => "data.aws_vpc.default.id",
        SUBNET_IDS => "data.aws_subnets.default.ids",
        IMAGE_TAG => "var.image_tag",
        ECS_AMI => "nonsensitive(data.aws_ssm_parameter.ecs_ami.value)",
        _ => return None,
    })
}

/// A container definition as the ECS API spells it (`containerPath`, not
/// `ContainerPath`); the log driver's options keep their keys.
fn ecs_api_case(value: &Value, keep_keys: bool) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| ecs_api_case(v, false)).collect()),
        Value::Object(map)
            if map.len() == 1 && map.keys().next().is_some_and(|k| k == "Ref" || k.starts_with("Fn::")) =>
        {
            value.clone()
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let key = if keep_keys {
                        key.clone()
                    } else {
                        let mut chars = key.chars();
                        chars
                            .next()
                            .map_or_else(String::new, |first| first.to_ascii_lowercase().to_string() + chars.as_str())
                    };
                    let keep = key == "options";
                    (key, ecs_api_case(v, keep))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn versions() -> String {
    let mut file = File {
        header: vec![format!("loadgrid {}: the AWS provider this module is written for.", env!("CARGO_PKG_VERSION"))],
        ..File::default()
    };
    file.push(Block::new("terraform", &[]).attr("required_version", Expr::str(TERRAFORM_VERSION)).block(
        Block::new("required_providers", &[]).attr(
            "aws",
            Expr::Object(vec![
                ("source".into(), Expr::str("hashicorp/aws")),
                ("version".into(), Expr::str(AWS_PROVIDER)),
            ]),
        ),
    ));
    file.render()
}

fn main(spec: &InfraSpec, template: &Value) -> String {
    let mut file = File {
        header: vec![
            format!(
                "{}",
                template["Description"]
                    .as_str()
                    .unwrap_or_default()
                    .replace("`loadgrid infra template`", "`loadgrid infra template --format terraform`")
            ),
            "The provider (region, credentials) comes from the root module that uses this one.".to_owned(),
        ],
        ..File::default()
    };
    file.push(Block::new("data", &["aws_partition", "current"]));
    file.push(Block::new("data", &["aws_region", "current"]));
    file.push(Block::new("data", &["aws_caller_identity", "current"]));
    let text = template.to_string();
    if text.contains("Fn::GetAZs") {
        file.push(
            terraform_skips(Block::new("data", &["aws_availability_zones", "available"]), "aws_availability_zones")
                .attr("state", Expr::str("available")),
        );
    }
    let parameters = template["Parameters"].as_object().cloned().unwrap_or_default();
    if parameters.contains_key(crate::template::parameters::VPC_ID) {
        file.push(Block::new("data", &["aws_vpc", "default"]).attr("default", Expr::Bool(true)));
        file.push(
            Block::new("data", &["aws_subnets", "default"])
                .block(
                    Block::new("filter", &[])
                        .attr("name", Expr::str("vpc-id"))
                        .attr("values", Expr::List(vec![Expr::raw("data.aws_vpc.default.id")])),
                )
                .block(
                    Block::new("filter", &[])
                        .attr("name", Expr::str("default-for-az"))
                        .attr("values", Expr::List(vec![Expr::str("true")])),
                ),
        );
    }
    if let Some(ami) = parameters.get(crate::template::parameters::ECS_AMI) {
        file.push(
            Block::new("data", &["aws_ssm_parameter", "ecs_ami"])
                .attr("name", Expr::str(ami["Default"].as_str().unwrap_or_default())),
        );
    }
    let tags: Vec<(String, Expr)> = spec.tags.iter().map(|(k, v)| (k.clone(), Expr::str(v.clone()))).collect();
    file.push(Block::new("locals", &[]).attr("tags", Expr::Object(tags)));
    file.render()
}

fn variables(template: &Value) -> String {
    let mut file = File {
        header: vec![format!("loadgrid {}: what a root module may set.", env!("CARGO_PKG_VERSION"))],
        ..File::default()
    };
    if let Some(tag) = template["Parameters"].get(crate::template::parameters::IMAGE_TAG) {
        file.push(
            Block::new("variable", &["image_tag"])
                .attr("description", Expr::str(tag["Description"].as_str().unwrap_or_default()))
                .attr("type", Expr::raw("string"))
                .attr("default", Expr::str(tag["Default"].as_str().unwrap_or_default())),
        );
    }
    file.render()
}

fn outputs_file(spec: &InfraSpec, template: &Value, translate: &Translate) -> String {
    let mut file = File {
        header: vec![format!(
            "loadgrid {}: what loadgrid and a root module read (`terraform output -json > outputs.json` for `[ecs] terraform_outputs`).",
            env!("CARGO_PKG_VERSION")
        )],
        ..File::default()
    };
    let outputs = template["Outputs"].as_object().cloned().unwrap_or_default();
    for (key, tf_name, is_list) in OUTPUTS {
        let Some(output) = outputs.get(*key) else { continue };
        let value = &output["Value"];
        let expr = match (is_list, value.get("Fn::Join")) {
            (true, Some(join)) => translate.expr(&join[1]),
            (true, None) => Expr::Call("split", vec![Expr::str(","), translate.expr(value)]),
            _ => translate.expr(value),
        };
        file.push(
            Block::new("output", &[tf_name])
                .attr("description", Expr::str(output["Description"].as_str().unwrap_or_default()))
                .attr("value", expr),
        );
    }
    file.push(
        Block::new("output", &["task_family"])
            .attr("description", Expr::str("The runner's task definition family"))
            .attr("value", Expr::raw(format!("{}.family", translate.address("TaskDefinition")))),
    );
    if outputs.contains_key(crate::template::outputs::SUBNETS) && template["Resources"].get("PublicSubnetA").is_some() {
        file.push(
            Block::new("output", &["public_subnet_ids"])
                .attr("description", Expr::str("The VPC's public subnets"))
                .attr(
                    "value",
                    Expr::List(vec![
                        Expr::raw(format!("{}.id", translate.address("PublicSubnetA"))),
                        Expr::raw(format!("{}.id", translate.address("PublicSubnetB"))),
                    ]),
                ),
        );
    }
    // TOML's basic strings read JSON's escapes, so `%q` quotes a value for both.
    let subnets = match outputs[crate::template::outputs::SUBNETS]["Value"].get("Fn::Join") {
        Some(join) => translate.expr(&join[1]),
        None => Expr::Call(
            "split",
            vec![Expr::str(","), translate.expr(&outputs[crate::template::outputs::SUBNETS]["Value"])],
        ),
    };
    let value = |key: &str| translate.expr(&outputs[key]["Value"]);
    let toml = Expr::Call(
        "format",
        vec![
            Expr::str("store = %q\nbackend = \"ecs\"\n\n[ecs]\ncluster = %q\ntask_definition = %q\nsubnets = %s\nsecurity_groups = [%q]\nassign_public_ip = %s\n"),
            value(crate::template::outputs::STORE_URL),
            value(crate::template::outputs::CLUSTER),
            Expr::raw(format!("{}.family", translate.address("TaskDefinition"))),
            jsonencode(subnets),
            value(crate::template::outputs::SECURITY_GROUP),
            Expr::str(spec.network.assign_public_ip().to_string()),
        ],
    );
    file.push(
        Block::new("output", &["loadgrid_toml"])
            .attr(
                "description",
                Expr::str(
                    "loadgrid.toml settings for this stack: `terraform output -raw loadgrid_toml >> loadgrid.toml`",
                ),
            )
            .attr("value", toml),
    );
    file.render()
}

#[cfg(test)]
mod tests;
