//! `loadgrid infra doctor`: the requirements the live resources must meet,
//! evaluated on [`Facts`] that `loadgrid-aws` gathers with describe calls.
//! Each failed check says how to fix it.

use serde_json::Value;

use crate::spec::{CiIdentity, InfraSpec, Network, SECRETS_PREFIX};

/// What the describe calls found; `None` means the resource does not exist.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub account: String,
    pub region: String,
    /// How the resources were deployed, and what that says.
    pub deployment: Deployment,
    pub bucket: Option<BucketFacts>,
    pub repository: Option<RepositoryFacts>,
    /// Retention in days (`Some(None)`: the group exists and never expires).
    pub log_group_retention: Option<Option<u32>>,
    pub cluster: Option<ClusterFacts>,
    pub task_definition: Option<TaskDefinitionFacts>,
    pub execution_role: Option<RoleFacts>,
    pub task_role: Option<RoleFacts>,
    pub ci_role: Option<RoleFacts>,
    pub ci_user: Option<RoleFacts>,
    /// The client ids of the OIDC provider the CI role trusts (`None`: the
    /// provider does not exist, or no role names one).
    pub oidc_provider_audiences: Option<Vec<String>>,
    pub security_group: Option<SecurityGroupFacts>,
    /// `static-ip`: public IPs of the available NAT gateways in the tasks' VPC.
    pub nat_egress_ips: Vec<String>,
    pub topic_exists: bool,
    pub dashboard_exists: bool,
    /// `capacity = "ec2"`: the pool as found.
    pub pool: Option<PoolFacts>,
}

/// What deployed the resources.
#[derive(Debug, Clone, PartialEq)]
pub enum Deployment {
    /// `loadgrid infra deploy`'s stack: its status (`CREATE_COMPLETE`...),
    /// `None` when there is no such stack.
    Stack(Option<String>),
    /// `terraform apply` of the module `loadgrid infra template --format
    /// terraform` writes, known by its `terraform output -json` (`[ecs]
    /// terraform_outputs`): the file, and the cluster its outputs name.
    Terraform { outputs: String, cluster: Option<String> },
}

impl Default for Deployment {
    fn default() -> Deployment {
        Deployment::Stack(None)
    }
}

/// The EC2 pool: its instances (found by the stack's tag), the instance
/// profile, the AMI parameter, and which instances runs hold.
#[derive(Debug, Clone, Default)]
pub struct PoolFacts {
    pub instances: Vec<PoolInstanceFacts>,
    pub instance_profile_exists: bool,
    /// The ECS-optimized AMI: what the stack's `EcsAmiId` parameter
    /// resolved to, else the one image every instance runs.
    pub ami: Option<String>,
    /// Instances a run that has not ended holds in the pool's lease;
    /// `None` when the store could not be read.
    pub held: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct PoolInstanceFacts {
    pub id: String,
    /// `running`, `stopped`...
    pub state: String,
    pub elastic_ip: Option<String>,
    pub instance_profile_arn: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct BucketFacts {
    /// BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets.
    pub public_access_block: Option<[bool; 4]>,
    /// `AES256`, `aws:kms`...
    pub encryption: Option<String>,
    pub versioning_enabled: bool,
    pub policy: Option<Value>,
    /// Expiration days of an enabled lifecycle rule covering `runs/`.
    pub runs_expiration_days: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct RepositoryFacts {
    pub scan_on_push: bool,
    pub encryption: String,
    /// The lifecycle policy's text, if any.
    pub lifecycle_policy: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    pub status: String,
    pub container_insights: bool,
    pub capacity_providers: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskDefinitionFacts {
    pub cpu: String,
    pub memory: String,
    pub container_found: bool,
    pub container_memory: Option<i32>,
    pub log_driver: Option<String>,
    pub nofile_soft_limit: Option<i32>,
    pub execution_role_arn: String,
    pub task_role_arn: String,
    /// The runner container's image reference.
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RoleFacts {
    pub arn: String,
    pub trust: Option<Value>,
    pub managed_policy_arns: Vec<String>,
    /// Inline and attached customer-managed policy documents.
    pub documents: Vec<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct SecurityGroupFacts {
    pub id: String,
    pub ingress_rules: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub area: &'static str,
    pub requirement: String,
    pub passed: bool,
    /// What was found, when it fails.
    pub found: String,
    pub fix: String,
}

/// Every check of `spec` against `facts`, in checklist order.
pub fn checks(spec: &InfraSpec, facts: &Facts) -> Vec<Check> {
    let mut list =
        Checklist { checks: Vec::new(), redeploy: format!("`loadgrid infra deploy` (stack `{}`)", spec.stack) };
    let name = |n: &crate::names::Name| n.resolve(&facts.account, &facts.region);
    let bucket = name(&spec.names.bucket);

    match &facts.deployment {
        Deployment::Stack(status) => list.check(
            "stack",
            format!("stack `{}` is deployed", spec.stack),
            status
                .as_deref()
                // UPDATE_ROLLBACK_COMPLETE: a failed update was rolled back; the stack stands as it was.
                .is_some_and(|s| s.ends_with("_COMPLETE") && s != "ROLLBACK_COMPLETE" && !s.starts_with("DELETE")),
            status.clone().unwrap_or_else(|| "no such stack".into()),
            list.redeploy.clone(),
        ),
        Deployment::Terraform { outputs, cluster } => {
            let expected = name(&spec.names.cluster);
            list.redeploy =
                "`loadgrid infra template --format terraform --out DIR`, then `terraform apply` of the module".into();
            list.check(
                "terraform",
                format!("the Terraform outputs in `{outputs}` name cluster `{expected}`"),
                cluster.as_deref() == Some(expected.as_str()),
                match cluster {
                    Some(other) => format!("they name `{other}`: the module was generated from another [infra]"),
                    None => "no `cluster_name` output".into(),
                },
                format!("`terraform apply`, then `terraform output -json > {outputs}`"),
            );
        }
    }

    match &facts.bucket {
        None => list.missing("bucket", &format!("bucket `{bucket}`")),
        Some(b) => {
            list.check(
                "bucket",
                format!("bucket `{bucket}` blocks all public access"),
                b.public_access_block == Some([true; 4]),
                match b.public_access_block {
                    None => "no public access block".into(),
                    Some(flags) => format!("{flags:?}"),
                },
                format!("aws s3api put-public-access-block --bucket {bucket} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"),
            );
            list.check(
                "bucket",
                "objects are encrypted at rest (SSE)".into(),
                b.encryption.is_some(),
                "no default encryption".into(),
                format!("aws s3api put-bucket-encryption --bucket {bucket} --server-side-encryption-configuration '{{\"Rules\":[{{\"ApplyServerSideEncryptionByDefault\":{{\"SSEAlgorithm\":\"AES256\"}}}}]}}'"),
            );
            list.check(
                "bucket",
                "versioning is enabled".into(),
                b.versioning_enabled,
                "versioning off".into(),
                format!("aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled"),
            );
            list.check(
                "bucket",
                "the bucket policy denies requests without TLS".into(),
                b.policy.as_ref().is_some_and(denies_insecure_transport),
                if b.policy.is_some() { "no statement denies aws:SecureTransport=false" } else { "no bucket policy" }
                    .into(),
                list.redeploy.clone(),
            );
            list.check(
                "bucket",
                format!("run data under runs/ expires ({} days configured)", spec.results_retention_days),
                b.runs_expiration_days == Some(spec.results_retention_days),
                b.runs_expiration_days
                    .map_or("no lifecycle rule for runs/".into(), |d| format!("runs/ expires after {d} days")),
                list.redeploy.clone(),
            );
        }
    }

    let repository = name(&spec.names.repository);
    match &facts.repository {
        None => list.missing("ecr", &format!("ECR repository `{repository}`")),
        Some(r) => {
            list.check(
                "ecr",
                format!("repository `{repository}` scans images on push"),
                r.scan_on_push,
                "scan on push off".into(),
                format!("aws ecr put-image-scanning-configuration --repository-name {repository} --image-scanning-configuration scanOnPush=true"),
            );
            list.check(
                "ecr",
                "images are encrypted (AES256 or KMS)".into(),
                !r.encryption.is_empty(),
                "no encryption configuration".into(),
                list.redeploy.clone(),
            );
            list.check(
                "ecr",
                "a lifecycle policy keeps the last 10 images".into(),
                r.lifecycle_policy.as_deref().is_some_and(keeps_last_ten),
                r.lifecycle_policy.clone().unwrap_or_else(|| "no lifecycle policy".into()),
                format!("aws ecr put-lifecycle-policy --repository-name {repository} --lifecycle-policy-text '{{\"rules\":[{{\"rulePriority\":1,\"selection\":{{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\",\"countNumber\":10}},\"action\":{{\"type\":\"expire\"}}}}]}}'"),
            );
        }
    }

    let log_group = name(&spec.names.log_group);
    match facts.log_group_retention {
        None => list.missing("logs", &format!("log group `{log_group}`")),
        Some(retention) => list.check(
            "logs",
            format!("log group `{log_group}` keeps logs {} days", spec.log_retention_days),
            retention == Some(spec.log_retention_days),
            retention.map_or("never expires".into(), |d| format!("{d} days")),
            format!(
                "aws logs put-retention-policy --log-group-name {log_group} --retention-in-days {}",
                spec.log_retention_days
            ),
        ),
    }

    let cluster = name(&spec.names.cluster);
    match facts.cluster.as_ref().filter(|c| c.status == "ACTIVE") {
        None => list.missing("ecs", &format!("active ECS cluster `{cluster}`")),
        Some(c) => {
            list.check(
                "ecs",
                format!("cluster `{cluster}` has Container Insights on"),
                c.container_insights,
                "containerInsights disabled".into(),
                format!("aws ecs update-cluster-settings --cluster {cluster} --settings name=containerInsights,value=enabled"),
            );
            let has = |p: &str| c.capacity_providers.iter().any(|x| x == p);
            list.check(
                "ecs",
                "FARGATE and FARGATE_SPOT capacity providers".into(),
                has("FARGATE") && has("FARGATE_SPOT"),
                format!("{:?}", c.capacity_providers),
                format!("aws ecs put-cluster-capacity-providers --cluster {cluster} --capacity-providers FARGATE FARGATE_SPOT --default-capacity-provider-strategy capacityProvider=FARGATE,weight=1"),
            );
        }
    }

    let family = name(&spec.names.task_family);
    match &facts.task_definition {
        None => list.missing("ecs", &format!("task definition `{family}`")),
        Some(t) => {
            list.check(
                "ecs",
                format!("task `{family}` is {} CPU units / {} MiB", spec.task_cpu, spec.task_memory),
                t.cpu == spec.task_cpu.to_string() && t.memory == spec.task_memory.to_string(),
                format!("{} / {}", t.cpu, t.memory),
                list.redeploy.clone(),
            );
            list.check(
                "ecs",
                format!("container `{}` sets memory, logs with awslogs, raises nofile", crate::spec::CONTAINER_NAME),
                t.container_found
                    && t.container_memory.is_some()
                    && t.log_driver.as_deref() == Some("awslogs")
                    && t.nofile_soft_limit.is_some_and(|n| n >= 65_536),
                format!(
                    "container {}, memory {:?}, log driver {:?}, nofile {:?}",
                    if t.container_found { "found" } else { "missing" },
                    t.container_memory,
                    t.log_driver,
                    t.nofile_soft_limit
                ),
                list.redeploy.clone(),
            );
            // The agent in the image and this CLI speak the same run protocol
            // only at the same version.
            let version = env!("CARGO_PKG_VERSION");
            let tag = t.image.as_deref().and_then(image_tag);
            list.check(
                "ecs",
                format!("the runner image is tagged with this loadgrid's version ({version})"),
                tag == Some(version),
                t.image.clone().unwrap_or_else(|| "no image".into()),
                match &spec.image {
                    crate::RunnerImage::Custom(image) => format!(
                        "build and push `{image}` for loadgrid {version} (`loadgrid image build --tag ...`), set [infra] \
                         image to its {version} tag, then `loadgrid infra deploy`"
                    ),
                    _ => format!("`loadgrid infra deploy` with loadgrid {version}: its task definition runs the {version} image"),
                },
            );
            list.check(
                "iam",
                "the task and execution roles are different roles".into(),
                !t.task_role_arn.is_empty() && t.task_role_arn != t.execution_role_arn,
                format!("task role `{}`, execution role `{}`", t.task_role_arn, t.execution_role_arn),
                list.redeploy.clone(),
            );
        }
    }

    let execution_role = name(&spec.names.execution_role);
    match &facts.execution_role {
        None => list.missing("iam", &format!("execution role `{execution_role}`")),
        Some(role) => {
            list.check(
                "iam",
                format!("execution role `{execution_role}` has AmazonECSTaskExecutionRolePolicy"),
                role.managed_policy_arns.iter().any(|a| a.ends_with("/AmazonECSTaskExecutionRolePolicy")),
                format!("{:?}", role.managed_policy_arns),
                format!("aws iam attach-role-policy --role-name {execution_role} --policy-arn arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"),
            );
            list.check(
                "iam",
                format!("it reads secrets under {SECRETS_PREFIX} and nothing wider"),
                grants(role, "secretsmanager:GetSecretValue", &format!(":secret:{SECRETS_PREFIX}*"))
                    && !grants_wildcards(role),
                "GetSecretValue on loadgrid/* missing, or a `*` grant".into(),
                list.redeploy.clone(),
            );
        }
    }

    let task_role = name(&spec.names.task_role);
    match &facts.task_role {
        None => list.missing("iam", &format!("task role `{task_role}`")),
        Some(role) => list.check(
            "iam",
            format!(
                "task role `{task_role}` is limited to {bucket}/runs/, /history/ and secrets under {SECRETS_PREFIX}"
            ),
            grants(role, "s3:PutObject", &format!("{bucket}/runs/*"))
                && grants(role, "s3:PutObject", &format!("{bucket}/history/*"))
                && grants(role, "secretsmanager:GetSecretValue", &format!(":secret:{SECRETS_PREFIX}*"))
                && s3_objects_within(role, &bucket)
                && !grants_wildcards(role),
            "a required grant is missing, or an S3 object grant reaches outside runs/ and history/".into(),
            list.redeploy.clone(),
        ),
    }

    match &spec.network {
        Network::Existing { security_group, .. } => security_group_check(&mut list, facts, security_group),
        _ => security_group_check(&mut list, facts, &name(&spec.names.security_group)),
    }
    if let Network::StaticIp { .. } = spec.network {
        list.check(
            "network",
            "a NAT gateway with an Elastic IP gives the grid a static egress address".into(),
            !facts.nat_egress_ips.is_empty(),
            "no available NAT gateway in the tasks' VPC".into(),
            list.redeploy.clone(),
        );
    }

    if let crate::spec::Capacity::Ec2 { instances, instance_type } = &spec.capacity {
        pool_checks(&mut list, facts, *instances, instance_type, &name(&spec.names.pool_role));
    }

    match &spec.ci {
        CiIdentity::None => {}
        CiIdentity::GithubOidc { repository, .. } => {
            let ci_role = name(&spec.names.ci_role);
            match &facts.ci_role {
                None => list.missing("ci", &format!("CI role `{ci_role}`")),
                Some(role) => {
                    let subjects = trusted_subjects(role.trust.as_ref());
                    list.check(
                        "ci",
                        format!("CI role `{ci_role}` trusts GitHub OIDC for `{repository}` only"),
                        !subjects.is_empty() && subjects.iter().all(|s| s.starts_with(&format!("repo:{repository}:"))),
                        format!("trusted subjects {subjects:?}"),
                        list.redeploy.clone(),
                    );
                    list.check(
                        "ci",
                        "the GitHub OIDC provider it trusts exists, for audience sts.amazonaws.com".into(),
                        facts
                            .oidc_provider_audiences
                            .as_ref()
                            .is_some_and(|a| a.iter().any(|c| c == "sts.amazonaws.com")),
                        match &facts.oidc_provider_audiences {
                            None => "no such OIDC provider".into(),
                            Some(audiences) => format!("audiences {audiences:?}"),
                        },
                        list.redeploy.clone(),
                    );
                    ci_policy_checks(&mut list, role, spec, facts);
                }
            }
        }
        CiIdentity::IamUser => {
            let ci_user = name(&spec.names.ci_user);
            match &facts.ci_user {
                None => list.missing("ci", &format!("CI user `{ci_user}`")),
                Some(user) => ci_policy_checks(&mut list, user, spec, facts),
            }
        }
    }

    list.check(
        "alerts",
        format!("SNS topic `{}` exists", name(&spec.names.topic)),
        facts.topic_exists,
        "missing".into(),
        list.redeploy.clone(),
    );
    list.check(
        "alerts",
        format!("dashboard `{}` exists", name(&spec.names.dashboard)),
        facts.dashboard_exists,
        "missing".into(),
        list.redeploy.clone(),
    );
    list.checks
}

fn pool_checks(list: &mut Checklist, facts: &Facts, wanted: u32, instance_type: &str, profile: &str) {
    let Some(pool) = &facts.pool else {
        list.missing("pool", &format!("the EC2 pool of {wanted} {instance_type}"));
        return;
    };
    let ids: Vec<&str> = pool.instances.iter().map(|i| i.id.as_str()).collect();
    list.check(
        "pool",
        format!("{wanted} instance{} of the pool exist", if wanted == 1 { "" } else { "s" }),
        pool.instances.len() == wanted as usize,
        format!("{} found: {}", pool.instances.len(), ids.join(", ")),
        list.redeploy.clone(),
    );
    let without_ip: Vec<&str> =
        pool.instances.iter().filter(|i| i.elastic_ip.is_none()).map(|i| i.id.as_str()).collect();
    list.check(
        "pool",
        "each instance has its Elastic IP (the static egress IP)".into(),
        without_ip.is_empty(),
        format!("no Elastic IP: {}", without_ip.join(", ")),
        list.redeploy.clone(),
    );
    let suffix = format!("instance-profile/{profile}");
    let without_profile: Vec<&str> = pool
        .instances
        .iter()
        .filter(|i| !i.instance_profile_arn.as_deref().is_some_and(|arn| arn.ends_with(&suffix)))
        .map(|i| i.id.as_str())
        .collect();
    list.check(
        "pool",
        format!("instance profile `{profile}` exists and every instance has it (the ECS agent's role)"),
        pool.instance_profile_exists && without_profile.is_empty(),
        if pool.instance_profile_exists {
            format!("without it: {}", without_profile.join(", "))
        } else {
            "the instance profile does not exist".into()
        },
        list.redeploy.clone(),
    );
    list.check(
        "pool",
        format!("the instances run the ECS-optimized AMI (`{}`)", crate::template::capacity::ECS_AMI_PARAMETER),
        pool.ami.is_some(),
        "the AMI parameter has no resolved value, and the instances run different images".into(),
        list.redeploy.clone(),
    );
    let up: Vec<&PoolInstanceFacts> =
        pool.instances.iter().filter(|i| matches!(i.state.as_str(), "pending" | "running")).collect();
    match &pool.held {
        None => list.check(
            "pool",
            "no instance runs without a run that holds it".into(),
            false,
            "the pool's lease in the store could not be read".into(),
            "check `store` in loadgrid.toml and the credentials' access to it".into(),
        ),
        Some(held) => {
            let idle: Vec<&str> = up.iter().filter(|i| !held.contains(&i.id)).map(|i| i.id.as_str()).collect();
            list.check(
                "pool",
                "no instance runs without a run that holds it".into(),
                idle.is_empty(),
                format!("running with no run: {}", idle.join(", ")),
                format!(
                    "aws ec2 stop-instances --instance-ids {} (the idle guard stops an instance after {} idle minutes)",
                    idle.join(" "),
                    crate::template::capacity::IDLE_MINUTES
                ),
            );
        }
    }
}

struct Checklist {
    checks: Vec<Check>,
    redeploy: String,
}

impl Checklist {
    fn check(&mut self, area: &'static str, requirement: String, passed: bool, found: String, fix: String) {
        self.checks.push(Check { area, requirement, passed, found: if passed { String::new() } else { found }, fix });
    }

    fn missing(&mut self, area: &'static str, what: &str) {
        let fix = self.redeploy.clone();
        self.check(area, format!("{what} exists"), false, "not found".into(), fix);
    }
}

/// The tag of an image reference (`repo:tag`, `host:port/repo:tag`); none
/// for a digest or no tag.
fn image_tag(image: &str) -> Option<&str> {
    let name = image.rsplit('/').next().unwrap_or(image);
    match name.split_once(':') {
        Some((_, tag)) if !name.contains('@') => Some(tag),
        _ => None,
    }
}

fn security_group_check(list: &mut Checklist, facts: &Facts, name: &str) {
    match &facts.security_group {
        None => list.missing("network", &format!("security group `{name}`")),
        Some(group) => list.check(
            "network",
            format!("security group `{name}` allows egress only"),
            group.ingress_rules == 0,
            format!("{} ingress rule(s) on {}", group.ingress_rules, group.id),
            format!("remove every inbound rule: aws ec2 revoke-security-group-ingress --group-id {} --ip-permissions <each rule>", group.id),
        ),
    }
}

fn ci_policy_checks(list: &mut Checklist, identity: &RoleFacts, spec: &InfraSpec, facts: &Facts) {
    let passes = passed_roles(identity);
    let execution = spec.names.execution_role.resolve(&facts.account, &facts.region);
    let task = spec.names.task_role.resolve(&facts.account, &facts.region);
    list.check(
        "ci",
        "CI may pass exactly the execution and task roles".into(),
        passes.len() == 2
            && passes.iter().any(|a| a.ends_with(&format!("/{execution}")))
            && passes.iter().any(|a| a.ends_with(&format!("/{task}"))),
        format!("iam:PassRole on {passes:?}"),
        list.redeploy.clone(),
    );
    let cluster = spec.names.cluster.resolve(&facts.account, &facts.region);
    list.check(
        "ci",
        format!("CI runs, watches and stops tasks of cluster `{cluster}` only"),
        ["ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask", "ecs:ListTasks"].iter().all(|a| allows(identity, a))
            && !grants_wildcards(identity)
            && ecs_task_grants_scoped(identity, &cluster),
        "an ECS grant is missing or not scoped to the cluster".into(),
        list.redeploy.clone(),
    );
}

/// Statements of every policy document, as objects.
fn statements(identity: &RoleFacts) -> impl Iterator<Item = &serde_json::Map<String, Value>> {
    identity.documents.iter().flat_map(|doc| match &doc["Statement"] {
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect::<Vec<_>>(),
        Value::Object(one) => vec![one],
        _ => Vec::new(),
    })
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

fn is_allow(statement: &serde_json::Map<String, Value>) -> bool {
    statement.get("Effect").and_then(Value::as_str) == Some("Allow")
}

fn allows(identity: &RoleFacts, action: &str) -> bool {
    statements(identity).any(|s| is_allow(s) && strings(s.get("Action")).iter().any(|a| a == action))
}

/// Some statement allows `action` on a resource ending with `resource_suffix`.
fn grants(identity: &RoleFacts, action: &str, resource_suffix: &str) -> bool {
    statements(identity).any(|s| {
        is_allow(s)
            && strings(s.get("Action")).iter().any(|a| a == action)
            && strings(s.get("Resource")).iter().any(|r| r.ends_with(resource_suffix))
    })
}

/// Actions IAM authorizes on `*` only (they have no resource-level
/// permissions), as loadgrid's policies grant them.
const ONLY_ON_EVERY_RESOURCE: [&str; 4] =
    ["ecs:DescribeTaskDefinition", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances"];

/// An `Allow` of every action of a service (`s3:*`, `*`), or of any action on
/// every resource where that action has resource-level permissions.
fn grants_wildcards(identity: &RoleFacts) -> bool {
    statements(identity).filter(|s| is_allow(s)).any(|s| {
        let on_every_resource = strings(s.get("Resource")).iter().any(|r| r == "*");
        strings(s.get("Action")).iter().any(|a| {
            a == "*" || a.ends_with(":*") || (on_every_resource && !ONLY_ON_EVERY_RESOURCE.contains(&a.as_str()))
        })
    })
}

fn s3_objects_within(identity: &RoleFacts, bucket: &str) -> bool {
    statements(identity).filter(|s| is_allow(s)).all(|s| {
        let object_actions = strings(s.get("Action")).iter().any(|a| a.starts_with("s3:") && a != "s3:ListBucket");
        !object_actions
            || strings(s.get("Resource"))
                .iter()
                .all(|r| r.ends_with(&format!("{bucket}/runs/*")) || r.ends_with(&format!("{bucket}/history/*")))
    })
}

fn ecs_task_grants_scoped(identity: &RoleFacts, cluster: &str) -> bool {
    statements(identity).filter(|s| is_allow(s)).all(|s| {
        let actions = strings(s.get("Action"));
        let task_actions = actions.iter().any(|a| ["ecs:DescribeTasks", "ecs:StopTask"].contains(&a.as_str()));
        !task_actions || strings(s.get("Resource")).iter().all(|r| r.contains(&format!(":task/{cluster}/")))
    })
}

fn passed_roles(identity: &RoleFacts) -> Vec<String> {
    statements(identity)
        .filter(|s| is_allow(s) && strings(s.get("Action")).iter().any(|a| a == "iam:PassRole"))
        .flat_map(|s| strings(s.get("Resource")))
        .collect()
}

fn trusted_subjects(trust: Option<&Value>) -> Vec<String> {
    let Some(trust) = trust else { return Vec::new() };
    let statements = match &trust["Statement"] {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    statements
        .iter()
        .flat_map(|s| {
            let condition = &s["Condition"];
            let mut subjects = Vec::new();
            for operator in ["StringLike", "StringEquals"] {
                subjects.extend(strings(condition[operator].get("token.actions.githubusercontent.com:sub")));
            }
            subjects
        })
        .collect()
}

fn denies_insecure_transport(policy: &Value) -> bool {
    let statements = match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    statements.iter().any(|s| {
        s["Effect"] == "Deny" && {
            let value = &s["Condition"]["Bool"]["aws:SecureTransport"];
            value == "false" || value == &Value::Bool(false)
        }
    })
}

fn keeps_last_ten(text: &str) -> bool {
    let Ok(policy) = serde_json::from_str::<Value>(text) else { return false };
    policy["rules"].as_array().is_some_and(|rules| {
        rules.iter().any(|rule| {
            rule["selection"]["countType"] == "imageCountMoreThan"
                && rule["selection"]["countNumber"].as_u64().is_some_and(|n| n <= 10)
                && rule["action"]["type"] == "expire"
        })
    })
}

/// The checklist as text: `✓`/`✗` per requirement (plain `ok`/`FAIL` without
/// Unicode), with what was found and the fix under each failure.
pub fn render(checks: &[Check], unicode: bool) -> String {
    let (pass, fail) = if unicode { ("✓", "✗") } else { ("ok  ", "FAIL") };
    let mut text = String::new();
    let mut area = "";
    for check in checks {
        if check.area != area {
            area = check.area;
            text.push_str(&format!("{area}\n"));
        }
        text.push_str(&format!("  {} {}\n", if check.passed { pass } else { fail }, check.requirement));
        if !check.passed {
            text.push_str(&format!("      found: {}\n      fix:   {}\n", check.found, check.fix));
        }
    }
    let failed = checks.iter().filter(|c| !c.passed).count();
    text.push_str(&format!("{} of {} checks passed\n", checks.len() - failed, checks.len()));
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn holding(documents: Vec<Value>) -> RoleFacts {
        RoleFacts { documents, ..RoleFacts::default() }
    }

    #[test]
    fn a_grant_on_every_resource_is_a_wildcard_unless_the_action_allows_nothing_narrower() {
        let config = loadgrid_plan::FileConfig::parse("[infra.ci]\nrepository = \"acme/shop\"").unwrap();
        let spec = InfraSpec::from_section(&config.infra, Some("eu-west-1")).unwrap();
        let ci = crate::policy::ci(&spec).resolved(&crate::policy::sample_resolver(&spec));
        assert!(!grants_wildcards(&holding(vec![ci.clone()])), "loadgrid's CI policy is scoped");
        let any_secret =
            json!({"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}});
        assert!(grants_wildcards(&holding(vec![ci, any_secret])));
        let service =
            json!({"Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b/runs/*"]}]});
        assert!(grants_wildcards(&holding(vec![service])));
        let denied = json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]});
        assert!(!grants_wildcards(&holding(vec![denied])));
    }

    #[test]
    fn the_pool_checks_find_a_missing_address_and_an_instance_running_with_no_run() {
        let config = loadgrid_plan::FileConfig::parse(
            "[infra]\nnetwork = \"public\"\ncapacity = \"ec2\"\n[infra.ci]\nrepository = \"acme/shop\"",
        )
        .unwrap();
        let spec = InfraSpec::from_section(&config.infra, Some("eu-west-1")).unwrap();
        let ci = crate::policy::ci(&spec).resolved(&crate::policy::sample_resolver(&spec));
        assert!(!grants_wildcards(&holding(vec![ci])), "the pool's CI grants are scoped too");
        let profile = "arn:aws:iam::1:instance-profile/loadgrid-pool-eu-west-1";
        let instance = |id: &str, state: &str, ip: Option<&str>| PoolInstanceFacts {
            id: id.into(),
            state: state.into(),
            elastic_ip: ip.map(str::to_owned),
            instance_profile_arn: Some(profile.into()),
        };
        let mut facts = Facts {
            account: "1".into(),
            region: "eu-west-1".into(),
            pool: Some(PoolFacts {
                instances: vec![instance("i-a", "running", Some("3.3.3.3")), instance("i-b", "running", None)],
                instance_profile_exists: true,
                ami: Some("ami-1".into()),
                held: Some(vec!["i-b".into()]),
            }),
            ..Facts::default()
        };
        let failed = |facts: &Facts| -> Vec<(String, String, String)> {
            checks(&spec, facts)
                .into_iter()
                .filter(|c| c.area == "pool" && !c.passed)
                .map(|c| (c.requirement, c.found, c.fix))
                .collect()
        };
        assert_eq!(
            failed(&facts),
            vec![
                (
                    "each instance has its Elastic IP (the static egress IP)".to_owned(),
                    "no Elastic IP: i-b".to_owned(),
                    "`loadgrid infra deploy` (stack `loadgrid`)".to_owned()
                ),
                (
                    "no instance runs without a run that holds it".to_owned(),
                    "running with no run: i-a".to_owned(),
                    "aws ec2 stop-instances --instance-ids i-a (the idle guard stops an instance after 30 idle minutes)"
                        .to_owned()
                ),
            ]
        );
        let pool = facts.pool.as_mut().unwrap();
        pool.instances[1].elastic_ip = Some("4.4.4.4".into());
        pool.instances[0].state = "stopped".into();
        assert_eq!(failed(&facts), vec![]);
        facts.pool = None;
        assert_eq!(failed(&facts)[0].0, "the EC2 pool of 2 t3.xlarge exists");
    }

    #[test]
    fn image_tags_are_read_past_a_registry_port_and_never_from_a_digest() {
        assert_eq!(image_tag("ghcr.io/loadgrid/loadgrid-runner:0.1.0"), Some("0.1.0"));
        assert_eq!(image_tag("localhost:5000/runner:1.2.3"), Some("1.2.3"));
        assert_eq!(image_tag("localhost:5000/runner"), None);
        assert_eq!(image_tag("runner@sha256:abc"), None);
    }
}
