use loadgrid_plan::FileConfig;
use serde_json::Value;

use super::render;
use crate::spec::InfraSpec;

fn spec(toml: &str) -> InfraSpec {
    let config = FileConfig::parse(toml).unwrap();
    InfraSpec::from_section(&config.infra, Some("eu-west-1")).unwrap()
}

fn template(toml: &str) -> Value {
    render(&spec(toml)).to_value()
}

const OIDC: &str = "[infra.ci]\nrepository = \"acme/shop\"\nbranches = [\"main\"]\n";

// One snapshot per network mode and per CI-identity mode: the template a
// reviewer reads. `cargo insta review` after an intended change.
#[test]
fn snapshot_default_vpc() {
    insta::assert_snapshot!(render(&spec(OIDC)).to_yaml());
}

#[test]
fn snapshot_public() {
    insta::assert_snapshot!(render(&spec(&format!("[infra]\nnetwork = \"public\"\n{OIDC}"))).to_yaml());
}

#[test]
fn snapshot_static_ip() {
    insta::assert_snapshot!(render(&spec(&format!("[infra]\nnetwork = \"static-ip\"\n{OIDC}"))).to_yaml());
}

#[test]
fn snapshot_static_ip_nat_per_az() {
    insta::assert_snapshot!(
        render(&spec(&format!("[infra]\nnetwork = \"static-ip\"\nnat_per_az = true\n{OIDC}"))).to_yaml()
    );
}

#[test]
fn snapshot_existing() {
    let toml = format!("[infra]\nnetwork = \"existing\"\nsubnets = [\"subnet-0abc\", \"subnet-0def\"]\nsecurity_group = \"sg-0123\"\n{OIDC}");
    insta::assert_snapshot!(render(&spec(&toml)).to_yaml());
}

#[test]
fn snapshot_ec2_pool_public() {
    insta::assert_snapshot!(
        render(&spec(&format!("[infra]\nnetwork = \"public\"\ncapacity = \"ec2\"\n{OIDC}"))).to_yaml()
    );
}

#[test]
fn snapshot_ec2_pool_default_vpc() {
    let toml = format!("[infra]\ncapacity = \"ec2\"\ninstances = 3\ninstance_type = \"c6i.xlarge\"\n{OIDC}");
    insta::assert_snapshot!(render(&spec(&toml)).to_yaml());
}

#[test]
fn the_ec2_pool_is_locked_down_guarded_and_gives_one_ip_per_instance() {
    let template = template("[infra]\nnetwork = \"public\"\ncapacity = \"ec2\"\ninstances = 3\n");
    let instances = resources_of_type(&template, "AWS::EC2::Instance");
    assert_eq!(instances.len(), 3);
    let eips = resources_of_type(&template, "AWS::EC2::EIP");
    assert_eq!(eips.len(), 3, "one Elastic IP per instance, no NAT gateway");
    assert!(resources_of_type(&template, "AWS::EC2::NatGateway").is_empty());
    for (index, eip) in eips.iter().enumerate() {
        assert_eq!(eip["Properties"]["InstanceId"]["Ref"], format!("PoolInstance{index}"));
    }
    let subnets: Vec<&Value> = instances.iter().map(|i| &i["Properties"]["SubnetId"]["Ref"]).collect();
    assert_eq!(subnets, ["PublicSubnetA", "PublicSubnetB", "PublicSubnetA"], "spread over two AZs");
    let data = &template["Resources"]["PoolLaunchTemplate"]["Properties"]["LaunchTemplateData"];
    assert_eq!(data["MetadataOptions"]["HttpTokens"], "required", "IMDSv2 only");
    assert_eq!(data["BlockDeviceMappings"][0]["Ebs"]["VolumeType"], "gp3");
    assert_eq!(data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"], true);
    assert!(data.get("KeyName").is_none(), "no SSH key: Session Manager only");
    assert_eq!(data["SecurityGroupIds"][0]["Ref"], "TaskSecurityGroup", "egress only");
    assert!(data["UserData"]["Fn::Base64"]["Fn::Sub"].as_str().unwrap().contains("ECS_CLUSTER=${Cluster}"));
    assert_eq!(template["Parameters"]["EcsAmiId"]["Default"], super::capacity::ECS_AMI_PARAMETER);
    let role = &template["Resources"]["PoolRole"]["Properties"];
    let managed: Vec<&str> =
        role["ManagedPolicyArns"].as_array().unwrap().iter().map(|arn| arn["Fn::Sub"].as_str().unwrap()).collect();
    assert!(managed[0].ends_with("service-role/AmazonEC2ContainerServiceforEC2Role"), "{managed:?}");
    assert!(managed[1].ends_with("AmazonSSMManagedInstanceCore"), "{managed:?}");
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    assert_eq!(alarms.len(), 3, "an idle guard per instance");
    for alarm in alarms {
        let alarm = &alarm["Properties"];
        assert_eq!(alarm["AlarmActions"][0]["Fn::Sub"], "arn:${AWS::Partition}:automate:${AWS::Region}:ec2:stop");
        assert_eq!((alarm["Period"].as_u64(), alarm["EvaluationPeriods"].as_u64()), (Some(300), Some(6)));
        assert_eq!(alarm["TreatMissingData"], "notBreaching");
    }
    let pool_task = &template["Resources"]["PoolTaskDefinition"]["Properties"];
    assert_eq!(
        (&pool_task["NetworkMode"], &pool_task["RequiresCompatibilities"][0]),
        (&Value::from("host"), &Value::from("EC2"))
    );
    assert!(
        pool_task["ContainerDefinitions"][0].get("SystemControls").is_none(),
        "host networking takes the instance's"
    );
    for output in ["PoolInstances", "EgressIps", "PoolTaskDefinition", "PoolInstanceType"] {
        assert!(template["Outputs"].get(output).is_some(), "{output}");
    }
    assert_eq!(template["Outputs"]["Capacity"]["Value"], "ec2");
}

#[test]
fn snapshot_ci_iam_user() {
    insta::assert_snapshot!(render(&spec("[infra.ci]\nmode = \"iam-user\"\n")).to_yaml());
}

#[test]
fn snapshot_ci_existing_oidc_provider_and_image_swaps() {
    let toml = "[infra.ci]\nrepository = \"acme/shop\"\nenvironments = [\"staging\"]\nimage_swaps = true\noidc_provider_arn = \"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com\"\n";
    insta::assert_snapshot!(render(&spec(toml)).to_yaml());
}

#[test]
fn snapshot_ci_none() {
    insta::assert_snapshot!(render(&spec("")).to_yaml());
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<&'a Value> {
    template["Resources"].as_object().unwrap().values().filter(|r| r["Type"] == kind).collect()
}

#[test]
fn the_bucket_is_private_encrypted_versioned_tls_only_and_kept() {
    let template = template("");
    let bucket = &template["Resources"]["ArtifactsBucket"];
    let block = &bucket["Properties"]["PublicAccessBlockConfiguration"];
    for flag in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(block[flag], true, "{flag}");
    }
    assert_eq!(
        bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "AES256"
    );
    assert_eq!(bucket["Properties"]["VersioningConfiguration"]["Status"], "Enabled");
    assert_eq!(bucket["DeletionPolicy"], "Retain");
    let rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["Prefix"] == "runs/" && r["ExpirationInDays"] == 90));
    let policy = &template["Resources"]["ArtifactsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Effect"], "Deny");
    assert_eq!(policy["Condition"]["Bool"]["aws:SecureTransport"], "false");
}

#[test]
fn every_taggable_resource_carries_the_cost_tags() {
    for config in ["", "[infra]\nnetwork = \"public\"\ncapacity = \"ec2\"\n"] {
        cost_tags_everywhere(&template(&format!("{config}[infra.tags]\nCostCenter = \"perf-42\"\n")));
    }
}

fn cost_tags_everywhere(template: &Value) {
    let untaggable = [
        "AWS::S3::BucketPolicy",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::Route",
        "AWS::EC2::SubnetRouteTableAssociation",
        "AWS::SNS::Subscription",
        "AWS::CloudWatch::Dashboard",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::Group",
        "AWS::IAM::AccessKey",
        "AWS::IAM::InstanceProfile",
        // Tags its instances' volumes (checked below).
        "AWS::EC2::LaunchTemplate",
    ];
    for (id, resource) in template["Resources"].as_object().unwrap() {
        if untaggable.contains(&resource["Type"].as_str().unwrap()) {
            continue;
        }
        let tags = resource["Properties"]["Tags"].as_array().unwrap_or_else(|| panic!("{id} has no tags"));
        assert!(tags.iter().any(|t| t["Key"] == "CostCenter" && t["Value"] == "perf-42"), "{id}");
        assert!(tags.iter().any(|t| t["Key"] == "loadgrid:stack"), "{id}");
    }
    for launch in resources_of_type(template, "AWS::EC2::LaunchTemplate") {
        let volumes = &launch["Properties"]["LaunchTemplateData"]["TagSpecifications"][0];
        assert_eq!(volumes["ResourceType"], "volume");
        assert!(volumes["Tags"].as_array().unwrap().iter().any(|t| t["Key"] == "CostCenter"));
    }
}

#[test]
fn the_task_definition_is_what_the_ecs_backend_runs() {
    let template = template("[infra]\ntask_cpu = 4096\ntask_memory = 16384\n");
    let task = &template["Resources"]["TaskDefinition"]["Properties"];
    assert_eq!((task["Cpu"].as_str(), task["Memory"].as_str()), (Some("4096"), Some("16384")));
    let container = &task["ContainerDefinitions"][0];
    assert_eq!(container["Name"], crate::spec::CONTAINER_NAME);
    assert_eq!(container["Memory"], 16384, "container-level memory");
    assert_eq!(container["LogConfiguration"]["LogDriver"], "awslogs");
    assert_eq!(container["Ulimits"][0]["Name"], "nofile");
    for control in container["SystemControls"].as_array().unwrap() {
        assert!(control["Namespace"].as_str().unwrap().starts_with("net."), "Fargate allows only net.* sysctls");
    }
    let cluster = &template["Resources"]["Cluster"]["Properties"];
    assert_eq!(cluster["ClusterSettings"][0]["Value"], "enabled");
    assert_eq!(cluster["CapacityProviders"], serde_json::json!(["FARGATE", "FARGATE_SPOT"]));
    let outputs = template["Outputs"].as_object().unwrap();
    for key in [
        "Cluster",
        "TaskDefinition",
        "ContainerName",
        "Subnets",
        "SecurityGroup",
        "AssignPublicIp",
        "StoreUrl",
        "RepositoryUri",
    ] {
        assert!(outputs.contains_key(key), "output {key}: what `[ecs] stack` reads");
    }
}

#[test]
fn the_task_runs_the_released_image_unless_told_otherwise() {
    let image = |toml: &str| {
        template(toml)["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Image"].clone()
    };
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(image(""), format!("ghcr.io/loadgrid/loadgrid-runner:{version}"));
    assert_eq!(
        image("[infra]\nimage = \"ecr\"\n"),
        serde_json::json!({"Fn::Sub": "${RunnerRepository.RepositoryUri}:${ImageTag}"})
    );
    assert_eq!(template("[infra]\nimage = \"ecr\"\n")["Parameters"]["ImageTag"]["Default"], version);
    assert_eq!(image("[infra]\nimage = \"registry.acme.dev/k6-xk6:7\"\n"), "registry.acme.dev/k6-xk6:7");
}

#[test]
fn the_security_group_allows_egress_only_in_every_mode() {
    for network in ["default-vpc", "public", "static-ip"] {
        let template = template(&format!("[infra]\nnetwork = \"{network}\"\n"));
        for group in resources_of_type(&template, "AWS::EC2::SecurityGroup") {
            assert!(group["Properties"].get("SecurityGroupIngress").is_none(), "{network}");
            assert!(group["Properties"]["SecurityGroupEgress"].is_array(), "{network}");
        }
        assert!(resources_of_type(&template, "AWS::EC2::SecurityGroupIngress").is_empty());
    }
}

#[test]
fn static_ip_puts_tasks_behind_nat_and_outputs_the_address() {
    let one = template("[infra]\nnetwork = \"static-ip\"\n");
    assert_eq!(resources_of_type(&one, "AWS::EC2::NatGateway").len(), 1);
    assert_eq!(one["Outputs"]["AssignPublicIp"]["Value"], "DISABLED");
    assert!(one["Outputs"]["EgressIps"].is_object());
    assert_eq!(
        one["Outputs"]["Subnets"]["Value"]["Fn::Join"][1][0]["Ref"], "PrivateSubnetA",
        "tasks run in the private subnets"
    );
    let per_az = template("[infra]\nnetwork = \"static-ip\"\nnat_per_az = true\n");
    assert_eq!(resources_of_type(&per_az, "AWS::EC2::NatGateway").len(), 2);
    assert_eq!(resources_of_type(&per_az, "AWS::EC2::EIP").len(), 2);
}

#[test]
fn the_ci_role_trusts_one_repository_and_passes_exactly_two_roles() {
    let template = template(OIDC);
    let trust = &template["Resources"]["CiRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"],
        serde_json::json!(["repo:acme/shop:ref:refs/heads/main"])
    );
    assert_eq!(trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"], "sts.amazonaws.com");
    let statements = template["Resources"]["CiPolicy"]["Properties"]["PolicyDocument"]["Statement"].as_array().unwrap();
    let pass = statements.iter().find(|s| s["Action"][0] == "iam:PassRole").unwrap();
    assert_eq!(pass["Resource"].as_array().unwrap().len(), 2);
    assert!(!statements.iter().any(|s| s["Action"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "ecs:RegisterTaskDefinition")));
    for statement in statements {
        for action in statement["Action"].as_array().unwrap() {
            assert!(!action.as_str().unwrap().ends_with('*'), "no wildcard actions: {action}");
        }
    }
}

#[test]
fn image_swaps_add_register_task_definition() {
    let template = template(&format!("{OIDC}image_swaps = true\n"));
    let statements = template["Resources"]["CiPolicy"]["Properties"]["PolicyDocument"]["Statement"].as_array().unwrap();
    assert!(statements.iter().any(|s| s["Action"][0] == "ecs:RegisterTaskDefinition"));
}

#[test]
fn json_and_yaml_carry_the_same_template() {
    let rendered = render(&spec(OIDC));
    let from_yaml: Value = serde_yaml_ng::from_str(&rendered.to_yaml()).unwrap();
    let from_json: Value = serde_json::from_str(&rendered.to_json()).unwrap();
    assert_eq!(from_yaml, from_json);
}
