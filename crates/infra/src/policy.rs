//! The IAM policy documents of the stack, built once and rendered both into
//! the template (`Fn::Sub` strings) and as plain JSON with sample values for
//! policy linters (`loadgrid infra template --iam-policies DIR`).

use serde_json::{json, Map, Value};

use crate::spec::{InfraSpec, SECRETS_PREFIX};

/// A policy statement whose strings may hold `${...}` references that
/// `Fn::Sub` resolves: pseudo parameters and `${Resource.Arn}`.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sid: &'static str,
    pub actions: Vec<&'static str>,
    pub resources: Vec<String>,
    /// `(operator, key, values)`.
    pub conditions: Vec<(&'static str, String, Vec<String>)>,
}

impl Statement {
    fn new(sid: &'static str, actions: &[&'static str], resources: Vec<String>) -> Statement {
        Statement { sid, actions: actions.to_vec(), resources, conditions: Vec::new() }
    }

    fn when(mut self, operator: &'static str, key: &str, values: Vec<String>) -> Statement {
        self.conditions.push((operator, key.to_owned(), values));
        self
    }
}

/// A named policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: &'static str,
    pub statements: Vec<Statement>,
}

impl Policy {
    /// The document for the template: strings with references become `Fn::Sub`.
    pub fn cfn(&self) -> Value {
        self.render(&|text| if text.contains("${") { json!({ "Fn::Sub": text }) } else { json!(text) })
    }

    /// The document with every reference resolved by `resolve`.
    pub fn resolved(&self, resolve: &dyn Fn(&str) -> String) -> Value {
        self.render(&|text| Value::String(resolve(text)))
    }

    fn render(&self, string: &dyn Fn(&str) -> Value) -> Value {
        let statements: Vec<Value> = self
            .statements
            .iter()
            .map(|statement| {
                let mut object = Map::new();
                object.insert("Sid".into(), json!(statement.sid));
                object.insert("Effect".into(), json!("Allow"));
                object.insert("Action".into(), json!(statement.actions));
                let resources: Vec<Value> = statement.resources.iter().map(|r| string(r)).collect();
                object.insert("Resource".into(), Value::Array(resources));
                if !statement.conditions.is_empty() {
                    let mut condition = Map::new();
                    for (operator, key, values) in &statement.conditions {
                        let values: Vec<Value> = values.iter().map(|v| string(v)).collect();
                        let entry = condition.entry(*operator).or_insert_with(|| Value::Object(Map::new()));
                        entry.as_object_mut().expect("object").insert(key.clone(), Value::Array(values));
                    }
                    object.insert("Condition".into(), Value::Object(condition));
                }
                Value::Object(object)
            })
            .collect();
        json!({ "Version": "2012-10-17", "Statement": statements })
    }
}

const ARN: &str = "arn:${AWS::Partition}";

/// The bucket policy that refuses every request made without TLS, for the
/// bucket's and its objects' ARNs (template values or plain strings).
pub fn deny_without_tls(bucket_arn: Value, objects_arn: Value) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyWithoutTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, objects_arn],
            "Condition": { "Bool": { "aws:SecureTransport": "false" } },
        }]
    })
}

fn bucket_arn(spec: &InfraSpec) -> String {
    format!("{ARN}:s3:::{}", spec.names.bucket.sub_text())
}

fn secrets_arn() -> String {
    format!("{ARN}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{SECRETS_PREFIX}*")
}

pub fn cluster_arn(spec: &InfraSpec) -> String {
    format!("{ARN}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:cluster/{}", spec.names.cluster.sub_text())
}

/// The run store's prefixes: what tasks and CI may read and write.
pub const STORE_PREFIXES: [&str; 2] = ["runs", "history"];

fn store_statements(spec: &InfraSpec) -> Vec<Statement> {
    let bucket = bucket_arn(spec);
    vec![
        Statement::new("ListRunStore", &["s3:ListBucket"], vec![bucket.clone()]).when(
            "StringLike",
            "s3:prefix",
            STORE_PREFIXES.iter().map(|p| format!("{p}/*")).collect(),
        ),
        Statement::new(
            "ReadWriteRunStore",
            &["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
            STORE_PREFIXES.iter().map(|p| format!("{bucket}/{p}/*")).collect(),
        ),
    ]
}

/// The execution role's own policy, beside AWS's managed
/// `AmazonECSTaskExecutionRolePolicy` (image pull, awslogs).
pub fn execution(_spec: &InfraSpec) -> Policy {
    Policy {
        name: "read-loadgrid-secrets",
        statements: vec![Statement::new(
            "ReadLoadgridSecrets",
            &["secretsmanager:GetSecretValue"],
            vec![secrets_arn()],
        )],
    }
}

/// What an agent may do: the store's run and history prefixes, and the
/// secrets under `loadgrid/`.
pub fn task(spec: &InfraSpec) -> Policy {
    let mut statements = store_statements(spec);
    statements.push(Statement::new("ReadLoadgridSecrets", &["secretsmanager:GetSecretValue"], vec![secrets_arn()]));
    Policy { name: "loadgrid-agent", statements }
}

/// What CI may do: run, watch and stop tasks of this cluster and family,
/// pass exactly the two task roles, use the store, read the logs.
pub fn ci(spec: &InfraSpec) -> Policy {
    let region_account = "${AWS::Region}:${AWS::AccountId}";
    let cluster = spec.names.cluster.sub_text();
    let family = spec.names.task_family.sub_text();
    let cluster_condition = |statement: Statement| statement.when("ArnEquals", "ecs:cluster", vec![cluster_arn(spec)]);
    let log_group = format!("{ARN}:logs:{region_account}:log-group:{}", spec.names.log_group.sub_text());
    let pool = matches!(spec.capacity, crate::spec::Capacity::Ec2 { .. });
    let mut families = vec![format!("{ARN}:ecs:{region_account}:task-definition/{family}:*")];
    if pool {
        families.push(format!("{ARN}:ecs:{region_account}:task-definition/{family}-ec2:*"));
    }
    let mut statements = vec![
        cluster_condition(Statement::new("RunTasksOfTheFamilyOnTheCluster", &["ecs:RunTask"], families)),
        Statement::new(
            "WatchStopAndTagTheClustersTasks",
            &["ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource"],
            vec![format!("{ARN}:ecs:{region_account}:task/{cluster}/*")],
        ),
        cluster_condition(Statement::new(
            "ListTheClustersTasks",
            &["ecs:ListTasks"],
            vec![format!("{ARN}:ecs:{region_account}:container-instance/{cluster}/*")],
        )),
        Statement::new("DescribeTheCluster", &["ecs:DescribeClusters"], vec![cluster_arn(spec)]),
        // These have no resource-level permissions in IAM: `*` is the only resource.
        Statement::new(
            "ValidateBeforeLaunch",
            &["ecs:DescribeTaskDefinition", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"],
            vec!["*".into()],
        ),
        Statement::new(
            "PassTheTaskRoles",
            &["iam:PassRole"],
            vec!["${ExecutionRole.Arn}".into(), "${TaskRole.Arn}".into()],
        )
        .when("StringEquals", "iam:PassedToService", vec!["ecs-tasks.amazonaws.com".into()]),
        Statement::new(
            "ReadTheAgentsLogs",
            &["logs:FilterLogEvents", "logs:GetLogEvents", "logs:DescribeLogStreams"],
            vec![format!("{log_group}:*"), format!("{log_group}:log-stream:*")],
        ),
        Statement::new("CheckSecretIdsExist", &["secretsmanager:DescribeSecret"], vec![secrets_arn()]),
        Statement::new(
            "ReadTheStackOutputs",
            &["cloudformation:DescribeStacks"],
            vec![format!("{ARN}:cloudformation:{region_account}:stack/{}/*", spec.stack)],
        ),
        Statement::new("NotifyTheAlertsTopic", &["sns:Publish"], vec!["${AlertsTopic}".into()]),
    ];
    if spec.image_swaps {
        statements.push(Statement::new(
            "RegisterRevisionsOfTheFamily",
            &["ecs:RegisterTaskDefinition"],
            vec![format!("{ARN}:ecs:{region_account}:task-definition/{family}:*")],
        ));
    }
    statements.extend(store_statements(spec));
    if pool {
        statements.extend(pool_statements(spec, &cluster, region_account));
    }
    Policy { name: "loadgrid-ci", statements }
}

/// What a run on the EC2 pool does beyond Fargate's: start and stop the
/// stack's instances (by their `loadgrid:stack` tag), see them join the
/// cluster, and hold the pool's lease under `pools/` in the store.
fn pool_statements(spec: &InfraSpec, cluster: &str, region_account: &str) -> Vec<Statement> {
    let bucket = bucket_arn(spec);
    vec![
        Statement::new(
            "StartAndStopThePoolsInstances",
            &["ec2:StartInstances", "ec2:StopInstances"],
            vec![format!("{ARN}:ec2:{region_account}:instance/*")],
        )
        .when("StringEquals", "aws:ResourceTag/loadgrid:stack", vec![spec.stack.clone()]),
        // DescribeInstances has no resource-level permissions: `*` is the only resource.
        Statement::new("SeeThePoolsInstances", &["ec2:DescribeInstances"], vec!["*".into()]),
        Statement::new("ListTheClustersInstances", &["ecs:ListContainerInstances"], vec![cluster_arn(spec)]),
        Statement::new(
            "DescribeTheClustersInstances",
            &["ecs:DescribeContainerInstances"],
            vec![format!("{ARN}:ecs:{region_account}:container-instance/{cluster}/*")],
        )
        .when("ArnEquals", "ecs:cluster", vec![cluster_arn(spec)]),
        Statement::new("ListThePoolLease", &["s3:ListBucket"], vec![bucket.clone()]).when(
            "StringLike",
            "s3:prefix",
            vec![format!("{POOL_PREFIX}/*")],
        ),
        Statement::new(
            "HoldThePoolLease",
            &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            vec![format!("{bucket}/{POOL_PREFIX}/*")],
        ),
    ]
}

/// Where the EC2 pool's lease lives in the store (`loadgrid_store::layout::pool_lease`).
pub const POOL_PREFIX: &str = "pools";

/// The partition of `region`'s ARNs: `aws`, `aws-cn` or `aws-us-gov`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Resolves a policy's references as CloudFormation does in `account` and
/// `region`: pseudo parameters, the two task roles' ARNs and the alerts topic.
pub fn resolver(spec: &InfraSpec, account: &str, region: &str) -> impl Fn(&str) -> String {
    let partition = partition(region);
    let name = |name: &crate::names::Name| name.resolve(account, region);
    let execution_role = format!("arn:{partition}:iam::{account}:role/{}", name(&spec.names.execution_role));
    let task_role = format!("arn:{partition}:iam::{account}:role/{}", name(&spec.names.task_role));
    let topic = format!("arn:{partition}:sns:{region}:{account}:{}", name(&spec.names.topic));
    let (account, region) = (account.to_owned(), region.to_owned());
    move |text: &str| {
        text.replace("${AWS::Partition}", partition)
            .replace("${AWS::Region}", &region)
            .replace("${AWS::AccountId}", &account)
            .replace("${ExecutionRole.Arn}", &execution_role)
            .replace("${TaskRole.Arn}", &task_role)
            .replace("${AlertsTopic}", &topic)
    }
}

/// Resolves a policy's references with sample values, as a linter needs
/// them: account `123456789012` and the spec's region (`us-east-1` when unset).
pub fn sample_resolver(spec: &InfraSpec) -> impl Fn(&str) -> String {
    let region = if spec.region.is_empty() { "us-east-1" } else { spec.region.as_str() };
    resolver(spec, "123456789012", region)
}

/// Every policy of the spec by file name, resolved for linting.
pub fn sample_documents(spec: &InfraSpec) -> Vec<(String, Value)> {
    let resolve = sample_resolver(spec);
    let mut policies = vec![execution(spec), task(spec)];
    if spec.ci != crate::spec::CiIdentity::None {
        policies.push(ci(spec));
    }
    policies.iter().map(|p| (format!("{}.json", p.name), p.resolved(&resolve))).collect()
}
