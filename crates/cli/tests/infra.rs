//! `loadgrid infra doctor` against a real moto server: every resource of
//! the spec is created directly (not through CloudFormation, whose resource
//! properties moto drops), then the doctor describes them as it would in
//! an account.

mod common;

use std::collections::HashMap;
use std::sync::Once;

use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ClusterSetting, ClusterSettingName, Compatibility, ContainerDefinition,
    LogConfiguration, LogDriver, NetworkMode, Ulimit, UlimitName,
};
use common::aws::{xml_text, AwsWorld, REGION};
use common::{Grid, Outcome};
use loadgrid_infra::{policy, InfraSpec};
use serde_json::{json, Value};

/// moto's account.
const ACCOUNT: &str = "123456789012";
const GITHUB_OIDC_HOST: &str = "token.actions.githubusercontent.com";

struct Doctor {
    grid: Grid,
    world: AwsWorld,
    spec: InfraSpec,
    /// Where `loadgrid` reaches CloudWatch (see `AwsWorld::cloudwatch_cbor_endpoint`).
    cloudwatch: String,
}

impl Doctor {
    /// A world whose resources are named as a team's conventions require,
    /// in the harness's subnet and security group.
    fn new() -> Doctor {
        // The execution role needs AWS's managed AmazonECSTaskExecutionRolePolicy,
        // which moto loads only when asked (the server inherits this environment).
        static MANAGED_POLICIES: Once = Once::new();
        MANAGED_POLICIES.call_once(|| std::env::set_var("MOTO_IAM_LOAD_MANAGED_POLICIES", "true"));
        let (grid, world) = (Grid::new(), AwsWorld::new());
        let config = format!(
            r#"[infra]
network = "existing"
subnets = ["{subnet}"]
security_group = "{group}"

[infra.names]
bucket = "k6-artifacts-{{account}}"
cluster = "k6-cluster-{{account}}"
log_group = "/ecs/k6-logs-{{account}}"
repository = "k6-runner"
task_family = "k6-runner"

[infra.ci]
repository = "acme/shop"
"#,
            subnet = world.subnet,
            group = world.security_group,
        );
        std::fs::write(grid.path("loadgrid.toml"), &config).unwrap();
        let parsed = loadgrid_plan::FileConfig::parse(&config).unwrap();
        let spec = InfraSpec::from_section(&parsed.infra, Some(REGION)).unwrap();
        let cloudwatch = world.cloudwatch_cbor_endpoint();
        Doctor { grid, world, spec, cloudwatch }
    }

    /// Every resource of the spec, created as the template describes it.
    fn deployed(block_public_access: bool) -> Doctor {
        let doctor = Doctor::new();
        let image = doctor.template_property("TaskDefinition", "/ContainerDefinitions/0/Image");
        doctor.deploy(block_public_access, image.as_str().unwrap());
        doctor
    }

    /// Everything to spec, but the task definition runs `image`.
    fn deployed_with_image(image: &str) -> Doctor {
        let doctor = Doctor::new();
        doctor.deploy(true, image);
        doctor
    }

    fn deploy(&self, block_public_access: bool, image: &str) {
        let doctor = self;
        doctor.create_bucket(block_public_access);
        doctor.create_repository();
        doctor.create_logs_cluster_and_task_definition(image);
        doctor.create_roles();
        doctor.create_alerts();
        doctor.world.create_outputs_stack(&doctor.spec.stack);
    }

    fn name(&self, name: &loadgrid_infra::names::Name) -> String {
        name.resolve(ACCOUNT, REGION)
    }

    fn resolved(&self, policy: &policy::Policy) -> String {
        policy.resolved(&policy::resolver(&self.spec, ACCOUNT, REGION)).to_string()
    }

    /// A property of a resource in the rendered template (where it holds no references).
    fn template_property(&self, resource: &str, pointer: &str) -> Value {
        let template = loadgrid_infra::template::render(&self.spec).to_value();
        template["Resources"][resource]["Properties"].pointer(pointer).cloned().unwrap()
    }

    fn create_bucket(&self, block_public_access: bool) {
        let bucket = self.name(&self.spec.names.bucket);
        let put = |query: &str, body: &str| self.world.s3_put(&format!("/{bucket}{query}"), body);
        put("", "");
        if block_public_access {
            put(
                "?publicAccessBlock",
                "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls>\
                 <BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>",
            );
        }
        put(
            "?encryption",
            "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>\
             </ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>",
        );
        put("?versioning", "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>");
        let deny_without_tls = loadgrid_infra::policy::deny_without_tls(
            json!(format!("arn:aws:s3:::{bucket}")),
            json!(format!("arn:aws:s3:::{bucket}/*")),
        );
        put("?policy", &deny_without_tls.to_string());
        put(
            "?lifecycle",
            &format!(
                "<LifecycleConfiguration><Rule><ID>expire-run-data</ID><Filter><Prefix>runs/</Prefix></Filter><Status>Enabled</Status>\
                 <Expiration><Days>{}</Days></Expiration></Rule></LifecycleConfiguration>",
                self.spec.results_retention_days
            ),
        );
    }

    fn create_repository(&self) {
        let repository = self.name(&self.spec.names.repository);
        let ecr = |operation: &str, body: Value| {
            self.world.json_rpc("ecr", &format!("AmazonEC2ContainerRegistry_V20150921.{operation}"), body)
        };
        ecr(
            "CreateRepository",
            json!({
                "repositoryName": repository,
                "imageScanningConfiguration": { "scanOnPush": true },
                "encryptionConfiguration": { "encryptionType": "AES256" },
            }),
        );
        let keep_last_ten = self.template_property("RunnerRepository", "/LifecyclePolicy/LifecyclePolicyText");
        ecr("PutLifecyclePolicy", json!({ "repositoryName": repository, "lifecyclePolicyText": keep_last_ten }));
    }

    fn create_logs_cluster_and_task_definition(&self, image: &str) {
        let (spec, world) = (&self.spec, &self.world);
        let log_group = self.name(&spec.names.log_group);
        let logs = aws_sdk_cloudwatchlogs::Client::new(&world.config);
        let ecs = aws_sdk_ecs::Client::new(&world.config);
        let nofile = self.template_property("TaskDefinition", "/ContainerDefinitions/0/Ulimits/0/SoftLimit");
        let nofile = i32::try_from(nofile.as_i64().unwrap()).unwrap();
        let log_options: HashMap<String, String> =
            [("awslogs-group", log_group.as_str()), ("awslogs-region", REGION), ("awslogs-stream-prefix", "loadgrid")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let role = |name| format!("arn:aws:iam::{ACCOUNT}:role/{}", self.name(name));
        world.runtime.block_on(async {
            logs.create_log_group().log_group_name(&log_group).send().await.unwrap();
            let days = i32::try_from(spec.log_retention_days).unwrap();
            logs.put_retention_policy().log_group_name(&log_group).retention_in_days(days).send().await.unwrap();
            ecs.create_cluster()
                .cluster_name(self.name(&spec.names.cluster))
                .settings(
                    ClusterSetting::builder().name(ClusterSettingName::ContainerInsights).value("enabled").build(),
                )
                .capacity_providers("FARGATE")
                .capacity_providers("FARGATE_SPOT")
                .default_capacity_provider_strategy(
                    CapacityProviderStrategyItem::builder().capacity_provider("FARGATE").weight(1).build().unwrap(),
                )
                .send()
                .await
                .unwrap();
            let memory = i32::try_from(spec.task_memory).unwrap();
            ecs.register_task_definition()
                .family(self.name(&spec.names.task_family))
                .requires_compatibilities(Compatibility::Fargate)
                .network_mode(NetworkMode::Awsvpc)
                .cpu(spec.task_cpu.to_string())
                .memory(spec.task_memory.to_string())
                .execution_role_arn(role(&spec.names.execution_role))
                .task_role_arn(role(&spec.names.task_role))
                .container_definitions(
                    ContainerDefinition::builder()
                        .name(loadgrid_infra::spec::CONTAINER_NAME)
                        .image(image)
                        .memory(memory)
                        .essential(true)
                        .ulimits(
                            Ulimit::builder()
                                .name(UlimitName::Nofile)
                                .soft_limit(nofile)
                                .hard_limit(nofile)
                                .build()
                                .unwrap(),
                        )
                        .log_configuration(
                            LogConfiguration::builder()
                                .log_driver(LogDriver::Awslogs)
                                .set_options(Some(log_options))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap();
        });
    }

    fn create_roles(&self) {
        let spec = &self.spec;
        let iam = |action: &str, params: &[(&str, &str)]| self.world.query("iam", action, params);
        let ecs_tasks_trust = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": "ecs-tasks.amazonaws.com" },
                "Action": "sts:AssumeRole",
                "Condition": { "StringEquals": { "aws:SourceAccount": ACCOUNT } },
            }]
        })
        .to_string();
        let role = |name: &str, trust: &str, policy: Option<&policy::Policy>| {
            iam("CreateRole", &[("RoleName", name), ("AssumeRolePolicyDocument", trust)]);
            if let Some(policy) = policy {
                let document = self.resolved(policy);
                iam("PutRolePolicy", &[("RoleName", name), ("PolicyName", policy.name), ("PolicyDocument", &document)]);
            }
        };

        let execution = self.name(&spec.names.execution_role);
        role(&execution, &ecs_tasks_trust, Some(&policy::execution(spec)));
        let managed = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";
        iam("AttachRolePolicy", &[("RoleName", &execution), ("PolicyArn", managed)]);
        role(&self.name(&spec.names.task_role), &ecs_tasks_trust, Some(&policy::task(spec)));

        let provider = iam(
            "CreateOpenIDConnectProvider",
            &[("Url", &format!("https://{GITHUB_OIDC_HOST}")), ("ClientIDList.member.1", "sts.amazonaws.com")],
        );
        let ci_trust = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Federated": xml_text(&provider, "OpenIDConnectProviderArn").unwrap() },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": { format!("{GITHUB_OIDC_HOST}:aud"): "sts.amazonaws.com" },
                    "StringLike": { format!("{GITHUB_OIDC_HOST}:sub"): spec.ci.oidc_subjects() },
                },
            }]
        });
        let ci_role = self.name(&spec.names.ci_role);
        role(&ci_role, &ci_trust.to_string(), None);
        let ci = policy::ci(spec);
        let created = iam("CreatePolicy", &[("PolicyName", ci.name), ("PolicyDocument", &self.resolved(&ci))]);
        iam("AttachRolePolicy", &[("RoleName", &ci_role), ("PolicyArn", &xml_text(&created, "Arn").unwrap())]);
    }

    fn create_alerts(&self) {
        self.world.query("sns", "CreateTopic", &[("Name", &self.name(&self.spec.names.topic))]);
        let dashboard = self.name(&self.spec.names.dashboard);
        self.world.query(
            "monitoring",
            "PutDashboard",
            &[("DashboardName", &dashboard), ("DashboardBody", r#"{"widgets":[]}"#)],
        );
    }

    fn doctor(&self, args: &[&str]) -> Outcome {
        let mut command = self.grid.command(&[&["infra", "doctor"][..], args].concat());
        command.envs(self.world.env()).env("AWS_ENDPOINT_URL_CLOUDWATCH", &self.cloudwatch);
        Outcome::from(command.output().unwrap())
    }

    /// The requirements `doctor --json` reports as failed.
    fn failures(&self) -> Vec<Value> {
        let outcome = self.doctor(&["--json"]);
        let checks = outcome.json();
        let failed: Vec<Value> = checks.as_array().unwrap().iter().filter(|c| c["passed"] != true).cloned().collect();
        assert_eq!(outcome.code, if failed.is_empty() { 0 } else { 1 }, "{}", outcome.stderr);
        failed
    }
}

#[test]
fn doctor_passes_on_resources_created_to_spec() {
    let doctor = Doctor::deployed(true);
    let outcome = doctor.doctor(&[]);
    outcome.exit(0);
    assert!(!outcome.stdout.contains("FAIL"), "{}", outcome.stdout);
    for area in ["stack", "bucket", "ecr", "logs", "ecs", "iam", "network", "ci", "alerts"] {
        assert!(outcome.stdout.lines().any(|line| line == area), "no `{area}` checks:\n{}", outcome.stdout);
    }
    assert!(
        outcome.stdout.contains("bucket `k6-artifacts-123456789012` blocks all public access"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("CI role `loadgrid-ci-us-east-1` trusts GitHub OIDC for `acme/shop` only"));
    let total = outcome.stdout.lines().filter(|line| line.starts_with("  ok")).count();
    assert!(outcome.stdout.ends_with(&format!("{total} of {total} checks passed\n")), "{}", outcome.stdout);
    assert_eq!(doctor.failures(), Vec::<Value>::new());
}

#[test]
fn doctor_fails_with_the_fix_when_a_bucket_is_public() {
    let doctor = Doctor::deployed(false);
    let outcome = doctor.doctor(&[]);
    outcome.exit(1);
    assert!(
        outcome.stdout.contains("FAIL bucket `k6-artifacts-123456789012` blocks all public access"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("found: no public access block"), "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("fix:   aws s3api put-public-access-block --bucket k6-artifacts-123456789012"),
        "{}",
        outcome.stdout
    );
    let failures = doctor.failures();
    assert_eq!(failures.len(), 1, "only the public access block fails: {failures:#?}");
    assert!(failures[0]["fix"].as_str().unwrap().contains("put-public-access-block"));
}

/// The agent in the image and the CLI must be the same version.
#[test]
fn doctor_fails_when_the_runner_image_is_another_version() {
    let doctor = Doctor::deployed_with_image("ghcr.io/loadgrid/loadgrid-runner:0.0.9");
    let outcome = doctor.doctor(&[]);
    outcome.exit(1);
    let version = env!("CARGO_PKG_VERSION");
    for line in [
        format!("FAIL the runner image is tagged with this loadgrid's version ({version})"),
        "found: ghcr.io/loadgrid/loadgrid-runner:0.0.9".to_owned(),
        format!("fix:   `loadgrid infra deploy` with loadgrid {version}: its task definition runs the {version} image"),
    ] {
        assert!(outcome.stdout.contains(&line), "no `{line}` in:\n{}", outcome.stdout);
    }
    assert_eq!(doctor.failures().len(), 1, "only the image fails: {:#?}", doctor.failures());
}

#[test]
fn doctor_reports_missing_resources_as_failed_checks_not_errors() {
    let doctor = Doctor::new();
    let outcome = doctor.doctor(&["--json"]);
    outcome.exit(1);
    let failed: Vec<String> = outcome
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["requirement"].as_str().unwrap().to_owned())
        .collect();
    for missing in [
        "stack `loadgrid` is deployed",
        "bucket `k6-artifacts-123456789012` exists",
        "ECR repository `k6-runner` exists",
        "log group `/ecs/k6-logs-123456789012` exists",
        "active ECS cluster `k6-cluster-123456789012` exists",
        "task definition `k6-runner` exists",
        "execution role `loadgrid-execution-us-east-1` exists",
        "task role `loadgrid-task-us-east-1` exists",
        "CI role `loadgrid-ci-us-east-1` exists",
        "SNS topic `loadgrid-alerts` exists",
        "dashboard `loadgrid` exists",
    ] {
        assert!(failed.iter().any(|f| f == missing), "`{missing}` is not among the failures: {failed:#?}");
    }
}

/// The EC2 pool as the doctor finds it on moto: two instances tagged with
/// the stack, the instance profile, one Elastic IP, both running with no
/// run in the lease.
#[test]
fn doctor_checks_the_pool_its_addresses_and_instances_left_running() {
    let (grid, world) = (Grid::new(), AwsWorld::new());
    let config = "[infra]\ncapacity = \"ec2\"\ninstances = 2\ninstance_type = \"t3.large\"\n";
    std::fs::write(grid.path("loadgrid.toml"), config).unwrap();
    let profile = format!("loadgrid-pool-{REGION}");
    world.query("iam", "CreateInstanceProfile", &[("InstanceProfileName", &profile)]);
    let ec2 = aws_sdk_ec2::Client::new(&world.config);
    let ids: Vec<String> = world.runtime.block_on(async {
        use aws_sdk_ec2::types::{IamInstanceProfileSpecification, ResourceType, Tag, TagSpecification};
        // One at a time: moto gives the profile to one instance of a multi-instance call.
        let mut ids = Vec::new();
        for _ in 0..2 {
            let launched = ec2
                .run_instances()
                .image_id("ami-12c6146b")
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Large)
                .min_count(1)
                .max_count(1)
                .iam_instance_profile(IamInstanceProfileSpecification::builder().name(&profile).build())
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::Instance)
                        .tags(Tag::builder().key("loadgrid:stack").value("loadgrid").build())
                        .build(),
                )
                .send()
                .await
                .unwrap();
            ids.push(launched.instances()[0].instance_id().unwrap().to_owned());
        }
        ids.sort();
        let address = ec2.allocate_address().send().await.unwrap();
        ec2.associate_address()
            .allocation_id(address.allocation_id().unwrap())
            .instance_id(&ids[0])
            .send()
            .await
            .unwrap();
        ids
    });
    let mut command = grid.command(&["infra", "doctor", "--json"]);
    command.envs(world.env()).env("AWS_ENDPOINT_URL_CLOUDWATCH", world.cloudwatch_cbor_endpoint());
    let outcome = Outcome::from(command.output().unwrap());
    outcome.exit(1);
    let pool: Vec<(bool, String, String)> = outcome
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["area"] == "pool")
        .map(|c| {
            (
                c["passed"] == true,
                c["requirement"].as_str().unwrap().to_owned(),
                c["found"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let check = |passed: bool, requirement: &str, found: &str| (passed, requirement.to_owned(), found.to_owned());
    assert_eq!(
        pool,
        vec![
            check(true, "2 instances of the pool exist", ""),
            check(
                false,
                "each instance has its Elastic IP (the static egress IP)",
                &format!("no Elastic IP: {}", ids[1])
            ),
            check(
                true,
                &format!("instance profile `{profile}` exists and every instance has it (the ECS agent's role)"),
                ""
            ),
            // No stack resolved the parameter: the one image both instances run.
            check(
                true,
                "the instances run the ECS-optimized AMI \
                 (`/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id`)",
                ""
            ),
            check(
                false,
                "no instance runs without a run that holds it",
                &format!("running with no run: {}, {}", ids[0], ids[1])
            ),
        ]
    );
}

/// A team that deployed with the Terraform module points the doctor at its
/// `terraform output -json` instead of a stack.
#[test]
fn doctor_checks_a_terraform_deployment_by_its_outputs() {
    let doctor = Doctor::deployed(true);
    let config = std::fs::read_to_string(doctor.grid.path("loadgrid.toml")).unwrap();
    std::fs::write(
        doctor.grid.path("loadgrid.toml"),
        format!("{config}\n[ecs]\nterraform_outputs = \"outputs.json\"\n"),
    )
    .unwrap();
    let outputs = |cluster: &str| {
        let json = json!({ "cluster_name": { "sensitive": false, "type": "string", "value": cluster } });
        std::fs::write(doctor.grid.path("outputs.json"), json.to_string()).unwrap();
    };
    outputs("k6-cluster-123456789012");
    let outcome = doctor.doctor(&[]);
    outcome.exit(0);
    assert!(
        outcome.stdout.starts_with(
            "terraform\n  ok   the Terraform outputs in `outputs.json` name cluster `k6-cluster-123456789012`\n"
        ),
        "{}",
        outcome.stdout
    );
    assert!(!outcome.stdout.lines().any(|line| line == "stack"), "no stack check: {}", outcome.stdout);

    outputs("another-cluster");
    let failures = doctor.failures();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0]["found"], "they name `another-cluster`: the module was generated from another [infra]");
    assert_eq!(failures[0]["fix"], "`terraform apply`, then `terraform output -json > outputs.json`");
}
