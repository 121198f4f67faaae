//! Where the shards run: the cluster, the runner image's repository and task
//! definition, its log group, and the two roles a task uses.

use serde_json::{json, Value};

use super::{attr, outputs, parameters, reference, sub, Tagging, Template};
use crate::policy;
use crate::runner::{NOFILE, SCRATCH, STOP_TIMEOUT_SECONDS, USER};
use crate::spec::{Capacity, InfraSpec, RunnerImage, CONTAINER_NAME};

pub(super) fn add(template: &mut Template, spec: &InfraSpec) {
    template.resource(
        "LogGroup",
        "AWS::Logs::LogGroup",
        json!({ "LogGroupName": spec.names.log_group.cfn(), "RetentionInDays": spec.log_retention_days }),
        Tagging::List,
    );
    template.skip_checks(
        "LogGroup",
        &[
            ("CKV_AWS_158", "Agent logs hold progress lines and metrics, never secret values; CloudWatch's own encryption at rest applies."),
            ("CKV_AWS_338", "Retention is set by `log_retention_days` (30 days by default), as the team's requirement asks."),
        ],
    );
    template.output(outputs::LOG_GROUP, "The agents' log group", reference("LogGroup"));

    repository(template, spec);
    cluster(template, spec);
    roles(template, spec);
    task_definition(template, spec);
}

fn repository(template: &mut Template, spec: &InfraSpec) {
    let keep_last_ten = json!({
        "rules": [{
            "rulePriority": 1,
            "description": "Keep the last 10 images",
            "selection": { "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10 },
            "action": { "type": "expire" }
        }]
    });
    template.resource(
        "RunnerRepository",
        "AWS::ECR::Repository",
        json!({
            "RepositoryName": spec.names.repository.cfn(),
            "ImageScanningConfiguration": { "ScanOnPush": true },
            "EncryptionConfiguration": { "EncryptionType": "AES256" },
            "ImageTagMutability": "MUTABLE",
            "EmptyOnDelete": true,
            "LifecyclePolicy": { "LifecyclePolicyText": keep_last_ten.to_string() },
        }),
        Tagging::List,
    );
    template.skip_checks(
        "RunnerRepository",
        &[
            ("CKV_AWS_51", "`loadgrid image push` pushes a rebuilt runner under the same loadgrid version tag."),
            ("CKV_AWS_136", "AES256 as the requirement asks; the image holds k6 and loadgrid, no secrets."),
        ],
    );
    template.output(
        outputs::REPOSITORY_URI,
        "Push the runner image here (`loadgrid image push`)",
        attr("RunnerRepository", "RepositoryUri"),
    );
}

fn cluster(template: &mut Template, spec: &InfraSpec) {
    template.resource(
        "Cluster",
        "AWS::ECS::Cluster",
        json!({
            "ClusterName": spec.names.cluster.cfn(),
            "ClusterSettings": [{ "Name": "containerInsights", "Value": "enabled" }],
            "CapacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "DefaultCapacityProviderStrategy": [{ "CapacityProvider": "FARGATE", "Weight": 1 }],
        }),
        Tagging::List,
    );
    template.output(outputs::CLUSTER, "The ECS cluster", reference("Cluster"));
}

fn ecs_tasks_trust() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "ecs-tasks.amazonaws.com" },
            "Action": "sts:AssumeRole",
            // Only ECS acting for this account may assume it (confused-deputy guard).
            "Condition": {
                "StringEquals": { "aws:SourceAccount": sub("${AWS::AccountId}") },
                "ArnLike": { "aws:SourceArn": sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*") },
            },
        }]
    })
}

fn roles(template: &mut Template, spec: &InfraSpec) {
    let execution = policy::execution(spec);
    template.resource(
        "ExecutionRole",
        "AWS::IAM::Role",
        json!({
            "RoleName": spec.names.execution_role.cfn(),
            "Description": "loadgrid: pulls the runner image, writes its logs, reads secrets under loadgrid/",
            "AssumeRolePolicyDocument": ecs_tasks_trust(),
            "ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")],
            "Policies": [{ "PolicyName": execution.name, "PolicyDocument": execution.cfn() }],
        }),
        Tagging::List,
    );
    let task = policy::task(spec);
    template.resource(
        "TaskRole",
        "AWS::IAM::Role",
        json!({
            "RoleName": spec.names.task_role.cfn(),
            "Description": "loadgrid agents: the run store's runs/ and history/ prefixes, secrets under loadgrid/",
            "AssumeRolePolicyDocument": ecs_tasks_trust(),
            "Policies": [{ "PolicyName": task.name, "PolicyDocument": task.cfn() }],
        }),
        Tagging::List,
    );
}

/// Whose network a container uses.
#[derive(Clone, Copy)]
enum Networking {
    /// Its task's own (`awsvpc`, Fargate).
    Task,
    /// The instance's (`host`, the EC2 pool).
    Host,
}

fn task_definition(template: &mut Template, spec: &InfraSpec) {
    let image = match &spec.image {
        RunnerImage::Public => json!(crate::runner::public_image()),
        RunnerImage::Custom(image) => json!(image),
        RunnerImage::Repository => {
            template.parameter(
                parameters::IMAGE_TAG,
                json!({
                    "Type": "String",
                    "Default": env!("CARGO_PKG_VERSION"),
                    "Description": "Tag of the runner image in the stack's repository (`loadgrid image push` pushes this loadgrid's version)",
                }),
            );
            sub("${RunnerRepository.RepositoryUri}:${ImageTag}")
        }
    };
    let container = |network: Networking| {
        let mut container = json!({
        "Name": CONTAINER_NAME,
        "Image": image,
        "Essential": true,
        // Container-level memory: the hard limit, equal to the task's.
        "Memory": spec.task_memory,
        "User": USER,
        "ReadonlyRootFilesystem": true,
        "MountPoints": [{ "SourceVolume": "scratch", "ContainerPath": SCRATCH, "ReadOnly": false }],
        "Environment": [
            { "Name": "LOADGRID_WORK_DIR", "Value": format!("{SCRATCH}/loadgrid") },
            { "Name": "TMPDIR", "Value": SCRATCH },
        ],
        "StopTimeout": STOP_TIMEOUT_SECONDS,
        "Ulimits": [{ "Name": "nofile", "SoftLimit": NOFILE, "HardLimit": NOFILE }],
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {
                "awslogs-group": reference("LogGroup"),
                "awslogs-region": sub("${AWS::Region}"),
                "awslogs-stream-prefix": "loadgrid",
                "mode": "non-blocking",
                "max-buffer-size": "4m",
            },
        },
        });
        if let Networking::Task = network {
            // Only namespaced net.* sysctls are allowed, and only with the
            // task's own network: these widen the source ports and reuse
            // TIME_WAIT sockets, which many short connections exhaust. On
            // the EC2 pool the instance sets them (host networking).
            container["SystemControls"] = json!([
                { "Namespace": "net.ipv4.ip_local_port_range", "Value": "1024 65535" },
                { "Namespace": "net.ipv4.tcp_tw_reuse", "Value": "1" },
            ]);
        }
        container
    };
    template.resource(
        "TaskDefinition",
        "AWS::ECS::TaskDefinition",
        json!({
            "Family": spec.names.task_family.cfn(),
            "Cpu": spec.task_cpu.to_string(),
            "Memory": spec.task_memory.to_string(),
            "NetworkMode": "awsvpc",
            "RequiresCompatibilities": ["FARGATE"],
            "RuntimePlatform": { "OperatingSystemFamily": "LINUX", "CpuArchitecture": "X86_64" },
            "ExecutionRoleArn": attr("ExecutionRole", "Arn"),
            "TaskRoleArn": attr("TaskRole", "Arn"),
            "Volumes": [{ "Name": "scratch" }],
            "ContainerDefinitions": [container(Networking::Task)],
        }),
        Tagging::List,
    );
    if let Capacity::Ec2 { .. } = spec.capacity {
        // Host networking: requests leave from the instance's Elastic IP.
        template.resource(
            "PoolTaskDefinition",
            "AWS::ECS::TaskDefinition",
            json!({
                "Family": match spec.names.task_family.cfn() {
                    Value::String(family) => json!(format!("{family}-ec2")),
                    _ => sub(&format!("{}-ec2", spec.names.task_family.sub_text())),
                },
                "Cpu": spec.task_cpu.to_string(),
                "Memory": spec.task_memory.to_string(),
                "NetworkMode": "host",
                "RequiresCompatibilities": ["EC2"],
                "ExecutionRoleArn": attr("ExecutionRole", "Arn"),
                "TaskRoleArn": attr("TaskRole", "Arn"),
                "Volumes": [{ "Name": "scratch" }],
                "ContainerDefinitions": [container(Networking::Host)],
            }),
            Tagging::List,
        );
        template.output(
            outputs::POOL_TASK_DEFINITION,
            "The runner's task definition on the EC2 pool",
            reference("PoolTaskDefinition"),
        );
    }
    template.output(outputs::CAPACITY, "What the tasks run on", json!(spec.capacity.mode()));
    template.output(outputs::TASK_DEFINITION, "The runner's task definition", reference("TaskDefinition"));
    template.output(outputs::CONTAINER_NAME, "The runner container", json!(CONTAINER_NAME));
}
