//! `capacity = "ec2"`: a pool of ECS container instances, each in a public
//! subnet with its own Elastic IP, for static egress IPs without a NAT
//! gateway. ECS still runs the tasks (the same agent and image, launch
//! type EC2, host networking so that requests leave from the instance's
//! IP); loadgrid starts the instances for a run and stops them after.
//!
//! CloudFormation cannot create an instance stopped, so every instance has
//! an idle guard: a CloudWatch alarm that stops it once its CPU has stayed
//! under [`IDLE_CPU_PERCENT`] for [`IDLE_MINUTES`]. It stops the instances
//! after the stack creates them, and any instance a run left behind.
//! (An EventBridge Scheduler schedule would need a role and would stop
//! instances in use at a fixed time; the alarm needs neither.)

use serde_json::{json, Value};

use super::{attr, outputs, parameters, reference, sub, Skip, Tagging, Template};
use crate::spec::{Capacity, InfraSpec, Network};

/// The public SSM parameter of the current ECS-optimized Amazon Linux 2023 AMI.
pub const ECS_AMI_PARAMETER: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
/// An instance whose CPU peaks stay under this for [`IDLE_MINUTES`] is idle.
/// An idle ECS-optimized instance runs well under 1 %; one running a shard
/// is far above it.
pub const IDLE_CPU_PERCENT: f64 = 2.0;
pub const IDLE_MINUTES: u32 = 30;

const INSTANCE_SKIPS: &[Skip] = &[(
    "CKV_AWS_88",
    "Each instance's public address is an Elastic IP on purpose: it is the static egress IP the system under test allow-lists. Its security group allows no ingress.",
)];

pub(super) fn add(template: &mut Template, spec: &InfraSpec) {
    let Capacity::Ec2 { instances, instance_type } = &spec.capacity else { return };
    template.parameter(
        parameters::ECS_AMI,
        json!({
            "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
            "Default": ECS_AMI_PARAMETER,
            "Description": "The ECS-optimized AMI, from AWS's public SSM parameter",
        }),
    );
    template.resource(
        "PoolRole",
        "AWS::IAM::Role",
        json!({
            "RoleName": spec.names.pool_role.cfn(),
            "Description": "loadgrid EC2 pool: the ECS agent's registration, and Session Manager instead of SSH",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "ec2.amazonaws.com" },
                    "Action": "sts:AssumeRole",
                }],
            },
            "ManagedPolicyArns": [
                sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"),
                sub("arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"),
            ],
        }),
        Tagging::List,
    );
    template.resource(
        "PoolInstanceProfile",
        "AWS::IAM::InstanceProfile",
        json!({ "InstanceProfileName": spec.names.pool_role.cfn(), "Roles": [reference("PoolRole")] }),
        Tagging::None,
    );
    template.resource(
        "PoolLaunchTemplate",
        "AWS::EC2::LaunchTemplate",
        json!({
            "LaunchTemplateData": {
                "ImageId": reference(parameters::ECS_AMI),
                "InstanceType": instance_type,
                "IamInstanceProfile": { "Arn": attr("PoolInstanceProfile", "Arn") },
                "SecurityGroupIds": [reference("TaskSecurityGroup")],
                // IMDSv2 only, one hop: containers cannot reach the instance's credentials.
                "MetadataOptions": { "HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1 },
                "Monitoring": { "Enabled": true },
                "EbsOptimized": true,
                "BlockDeviceMappings": [{
                    "DeviceName": "/dev/xvda",
                    "Ebs": { "VolumeType": "gp3", "VolumeSize": loadgrid_cost::planner::EC2_ROOT_VOLUME_GB, "Encrypted": true, "DeleteOnTermination": true },
                }],
                "UserData": { "Fn::Base64": sub(&user_data()) },
                // The root volumes carry the cost tags too.
                "TagSpecifications": [{ "ResourceType": "volume", "Tags": template.tags.clone() }],
            },
        }),
        Tagging::None,
    );
    let mut instance_ids = Vec::new();
    let mut ips = Vec::new();
    for index in 0..*instances {
        let id = format!("PoolInstance{index}");
        template.resource(
            &id,
            "AWS::EC2::Instance",
            json!({
                "LaunchTemplate": {
                    "LaunchTemplateId": reference("PoolLaunchTemplate"),
                    "Version": attr("PoolLaunchTemplate", "LatestVersionNumber"),
                },
                "SubnetId": subnet(spec, index),
            }),
            Tagging::List,
        );
        template.skip_checks(&id, INSTANCE_SKIPS);
        if let Network::Public { .. } = spec.network {
            template.attribute(&id, "DependsOn", json!("InternetGatewayAttachment"));
        }
        let eip = format!("PoolEip{index}");
        template.resource(
            &eip,
            "AWS::EC2::EIP",
            json!({ "Domain": "vpc", "InstanceId": reference(&id) }),
            Tagging::List,
        );
        idle_guard(template, index, &id);
        instance_ids.push(reference(&id));
        ips.push(reference(&eip));
    }
    template.output(
        outputs::POOL_INSTANCES,
        "The EC2 pool's instances, started for a run and stopped after",
        json!({ "Fn::Join": [",", instance_ids] }),
    );
    template.output(
        outputs::EGRESS_IPS,
        "Allow-list these addresses: every request of the grid leaves from them",
        json!({ "Fn::Join": [",", ips] }),
    );
    template.output(outputs::POOL_INSTANCE_TYPE, "The EC2 pool's instance type", json!(instance_type));
}

/// The ECS agent's cluster, task roles for host-network tasks, and the
/// source-port sysctls the Fargate task definition sets per task (host
/// networking takes the host's).
fn user_data() -> String {
    [
        "#!/bin/bash",
        "cat >> /etc/ecs/ecs.config <<'CONFIG'",
        "ECS_CLUSTER=${Cluster}",
        "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true",
        "CONFIG",
        "sysctl -w net.ipv4.ip_local_port_range='1024 65535' net.ipv4.tcp_tw_reuse=1",
        "",
    ]
    .join("\n")
}

/// Instances alternate between two public subnets (two AZs).
fn subnet(spec: &InfraSpec, index: u32) -> Value {
    match spec.network {
        Network::Public { .. } => reference(if index.is_multiple_of(2) { "PublicSubnetA" } else { "PublicSubnetB" }),
        _ => json!({ "Fn::Select": [index % 2, reference(parameters::SUBNET_IDS)] }),
    }
}

/// Stops the instance once it has idled for [`IDLE_MINUTES`].
fn idle_guard(template: &mut Template, index: u32, instance: &str) {
    let period = 300;
    template.resource(
        &format!("PoolIdleAlarm{index}"),
        "AWS::CloudWatch::Alarm",
        json!({
            "AlarmDescription": format!(
                "loadgrid pool: stops the instance once its CPU has stayed under {IDLE_CPU_PERCENT}% for {IDLE_MINUTES} minutes (a run left it, or the stack just created it)"
            ),
            "Namespace": "AWS/EC2",
            "MetricName": "CPUUtilization",
            "Dimensions": [{ "Name": "InstanceId", "Value": reference(instance) }],
            "Statistic": "Maximum",
            "Period": period,
            "EvaluationPeriods": IDLE_MINUTES * 60 / period,
            "Threshold": IDLE_CPU_PERCENT,
            "ComparisonOperator": "LessThanThreshold",
            // A stopped instance reports nothing: nothing to do.
            "TreatMissingData": "notBreaching",
            "AlarmActions": [sub("arn:${AWS::Partition}:automate:${AWS::Region}:ec2:stop")],
        }),
        Tagging::List,
    );
}
