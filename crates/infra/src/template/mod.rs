//! The CloudFormation template for an [`InfraSpec`]. Every resource is
//! named, tagged with the spec's cost allocation tags, and reviewed by
//! `cfn-lint`, `checkov` and `parliament` in CI; each checkov check that is
//! skipped says why in the resource's metadata.

mod alerts;
pub mod capacity;
mod compute;
mod identity;
mod network;
mod storage;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::spec::InfraSpec;

/// The outputs `loadgrid` reads back (`[ecs] stack`, `infra outputs`).
pub mod outputs {
    pub const CLUSTER: &str = "Cluster";
    pub const TASK_DEFINITION: &str = "TaskDefinition";
    pub const CONTAINER_NAME: &str = "ContainerName";
    pub const SUBNETS: &str = "Subnets";
    pub const SECURITY_GROUP: &str = "SecurityGroup";
    pub const ASSIGN_PUBLIC_IP: &str = "AssignPublicIp";
    pub const STORE_URL: &str = "StoreUrl";
    pub const BUCKET: &str = "Bucket";
    pub const REPOSITORY_URI: &str = "RepositoryUri";
    pub const LOG_GROUP: &str = "LogGroup";
    pub const ALERTS_TOPIC: &str = "AlertsTopicArn";
    pub const DASHBOARD: &str = "Dashboard";
    pub const EGRESS_IPS: &str = "EgressIps";
    pub const CI_ROLE_ARN: &str = "CiRoleArn";
    pub const CI_USER: &str = "CiUser";
    pub const CI_ACCESS_KEY_SECRET: &str = "CiAccessKeySecretArn";
    pub const NETWORK: &str = "NetworkMode";
    pub const CAPACITY: &str = "Capacity";
    pub const POOL_INSTANCES: &str = "PoolInstances";
    pub const POOL_INSTANCE_TYPE: &str = "PoolInstanceType";
    pub const POOL_TASK_DEFINITION: &str = "PoolTaskDefinition";

    /// Outputs that are one resource's physical id, by logical id: what a
    /// reader can recover from the stack's resources when CloudFormation
    /// reports no outputs.
    pub const FROM_RESOURCES: &[(&str, &str)] = &[
        (BUCKET, "ArtifactsBucket"),
        (CLUSTER, "Cluster"),
        (LOG_GROUP, "LogGroup"),
        (TASK_DEFINITION, "TaskDefinition"),
        (ALERTS_TOPIC, "AlertsTopic"),
        (SECURITY_GROUP, "TaskSecurityGroup"),
    ];
}

/// Deploy-time parameters (the default VPC's ids, the image tag).
pub mod parameters {
    pub const VPC_ID: &str = "VpcId";
    pub const SUBNET_IDS: &str = "SubnetIds";
    pub const IMAGE_TAG: &str = "ImageTag";
    pub const ECS_AMI: &str = "EcsAmiId";
}

/// A template under construction.
#[derive(Debug, Default)]
pub struct Template {
    description: String,
    parameters: BTreeMap<String, Value>,
    resources: BTreeMap<String, Value>,
    outputs: BTreeMap<String, Value>,
    tags: Vec<Value>,
    /// The part of the stack each resource belongs to (`storage`,
    /// `network`...), as the Terraform module splits its files.
    areas: BTreeMap<String, &'static str>,
    area: &'static str,
}

/// A checkov check a resource skips, and why.
pub(crate) type Skip = (&'static str, &'static str);

impl Template {
    pub(crate) fn resource(&mut self, id: &str, kind: &str, mut properties: Value, tagged: Tagging) {
        match tagged {
            Tagging::List => properties["Tags"] = Value::Array(self.tags.clone()),
            Tagging::None => {}
        }
        self.resources.insert(id.to_owned(), json!({ "Type": kind, "Properties": properties }));
        self.areas.insert(id.to_owned(), self.area);
    }

    /// The part of the stack resource `id` belongs to.
    pub fn area_of(&self, id: &str) -> &'static str {
        self.areas.get(id).copied().unwrap_or("main")
    }

    /// Sets a top-level attribute of a resource (`DeletionPolicy`, `DependsOn`...).
    pub(crate) fn attribute(&mut self, id: &str, key: &str, value: Value) {
        self.resources.get_mut(id).expect("resource defined first")[key] = value;
    }

    pub(crate) fn skip_checks(&mut self, id: &str, skips: &[Skip]) {
        let skip: Vec<Value> = skips.iter().map(|(check, why)| json!({ "id": check, "comment": why })).collect();
        self.attribute(id, "Metadata", json!({ "checkov": { "skip": skip } }));
    }

    pub(crate) fn parameter(&mut self, id: &str, value: Value) {
        self.parameters.insert(id.to_owned(), value);
    }

    pub(crate) fn output(&mut self, id: &str, description: &str, value: Value) {
        self.outputs.insert(id.to_owned(), json!({ "Description": description, "Value": value }));
    }

    pub fn resource_ids(&self) -> impl Iterator<Item = (&str, &str)> {
        self.resources.iter().map(|(id, r)| (id.as_str(), r["Type"].as_str().unwrap_or_default()))
    }

    pub fn to_value(&self) -> Value {
        let mut template = json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": self.description,
            "Resources": self.resources,
            "Outputs": self.outputs,
        });
        if !self.parameters.is_empty() {
            template["Parameters"] = json!(self.parameters);
        }
        template
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.to_value()).expect("a JSON value serializes") + "\n"
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(&self.to_value()).expect("a JSON value serializes as YAML")
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Tagging {
    /// `Tags: [{Key, Value}]`.
    List,
    /// The resource type takes no tags.
    None,
}

pub(crate) fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

pub(crate) fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

pub(crate) fn attr(id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attribute] })
}

/// Adds one area's resources to the template.
type AddArea = fn(&mut Template, &InfraSpec);

/// The whole template for `spec`.
pub fn render(spec: &InfraSpec) -> Template {
    let mut template = Template {
        description: format!(
            "loadgrid {}: k6 load-test grid on {} (network: {}, CI identity: {}). Generated by `loadgrid infra template`.",
            env!("CARGO_PKG_VERSION"),
            match &spec.capacity {
                crate::spec::Capacity::Fargate => "ECS Fargate".to_owned(),
                crate::spec::Capacity::Ec2 { instances, instance_type } =>
                    format!("ECS with an EC2 pool of {instances} {instance_type} with Elastic IPs"),
            },
            spec.network.mode(),
            spec.ci.mode()
        ),
        tags: spec.tags.iter().map(|(key, value)| json!({ "Key": key, "Value": value })).collect(),
        ..Template::default()
    };
    let areas: [(&'static str, AddArea); 6] = [
        ("storage", storage::add),
        ("network", network::add),
        ("compute", compute::add),
        ("capacity", capacity::add),
        ("alerts", alerts::add),
        ("identity", identity::add),
    ];
    for (area, add) in areas {
        template.area = area;
        add(&mut template, spec);
    }
    template
}

#[cfg(test)]
mod tests;
