//! Settings read from the outputs of the CloudFormation stack that
//! `loadgrid infra deploy` creates, so that a team configures a stack name
//! and nothing else. Explicit settings always win over outputs.
//!
//! The outputs this reads (the contract with `loadgrid infra`):
//!
//! | output | setting |
//! | --- | --- |
//! | `Cluster` | `[ecs] cluster` |
//! | `TaskDefinition` | `[ecs] task_definition` |
//! | `ContainerName` | `[ecs] container` |
//! | `Subnets` | `[ecs] subnets` (comma-separated) |
//! | `SecurityGroup` | `[ecs] security_groups` |
//! | `AssignPublicIp` | `[ecs] assign_public_ip` (`ENABLED`/`DISABLED`) |
//! | `StoreUrl` | `store` (`s3://bucket`) |
//! | `RepositoryUri` | `loadgrid image push` target |
//! | `Capacity` | what the tasks run on when nothing else says (`fargate`, `ec2`) |
//! | `PoolInstances`, `PoolInstanceType`, `PoolTaskDefinition` | the EC2 pool |

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::Stack;

use crate::clients::AwsContext;
use crate::error::sdk_message;

/// The stack's outputs by key.
pub async fn outputs(aws: &AwsContext, stack: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let response = aws.cloudformation().describe_stacks().stack_name(stack).send().await.map_err(|e| {
        loadgrid_grid::input_error(format!(
            "cannot read CloudFormation stack `{stack}` in {}: {}. Next step: `loadgrid infra deploy`, or fix \
             `stack` under [ecs]",
            aws.region(),
            sdk_message(&e)
        ))
    })?;
    let found = response.stacks().first().ok_or_else(|| anyhow::anyhow!("stack `{stack}` not found"))?;
    Ok(reported_outputs(aws, found).await)
}

/// A described stack's outputs, completed from its resources and deploy
/// parameters where CloudFormation reported none (moto reports none).
pub async fn reported_outputs(aws: &AwsContext, found: &Stack) -> BTreeMap<String, String> {
    use loadgrid_infra::template::{outputs::SUBNETS, parameters::SUBNET_IDS};
    let mut outputs = declared_outputs(found);
    let Some(stack) = found.stack_name() else { return outputs };
    complete_from_resources(aws, stack, &mut outputs).await;
    // The default VPC's subnets are a deploy-time parameter, not a resource.
    if !outputs.contains_key(SUBNETS) {
        let subnets = found
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(SUBNET_IDS))
            .and_then(|p| p.parameter_value())
            .map(subnet_ids)
            .filter(|ids| !ids.is_empty());
        if let Some(subnets) = subnets {
            outputs.insert(SUBNETS.to_owned(), subnets.join(","));
        }
    }
    outputs
}

/// The subnet ids in a list parameter's value: AWS gives `a,b`, moto gives
/// `['a', 'b']`.
fn subnet_ids(value: &str) -> Vec<&str> {
    value.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).filter(|id| id.starts_with("subnet-")).collect()
}

/// The outputs CloudFormation reported, by key.
pub fn declared_outputs(found: &Stack) -> BTreeMap<String, String> {
    found.outputs().iter().filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))).collect()
}

/// Fills outputs CloudFormation did not report (moto's change-set execution
/// reports none) from the stack's resources, where an output is one
/// resource's physical id. Best effort: what real AWS reports always wins.
async fn complete_from_resources(aws: &AwsContext, stack: &str, outputs: &mut BTreeMap<String, String>) {
    use loadgrid_infra::template::outputs::{BUCKET, CLUSTER, FROM_RESOURCES, STORE_URL};
    if outputs.contains_key(CLUSTER) {
        return;
    }
    let Ok(listed) = aws.cloudformation().list_stack_resources().stack_name(stack).send().await else { return };
    // The tasks' subnets: the private ones behind a NAT gateway, else the
    // public ones, in order (A, B).
    let mut subnets: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for resource in listed.stack_resource_summaries() {
        let (Some(logical), Some(physical)) = (resource.logical_resource_id(), resource.physical_resource_id()) else {
            continue;
        };
        if let Some((output, _)) = FROM_RESOURCES.iter().find(|(_, id)| *id == logical) {
            outputs.entry((*output).to_owned()).or_insert_with(|| physical.to_owned());
        }
        for kind in ["PrivateSubnet", "PublicSubnet"] {
            if logical.strip_prefix(kind).is_some_and(|az| az.len() == 1) {
                subnets.entry(kind).or_default().push((logical.to_owned(), physical.to_owned()));
            }
        }
    }
    let (assign_public_ip, chosen) = match (subnets.remove("PrivateSubnet"), subnets.remove("PublicSubnet")) {
        (Some(private), _) => ("DISABLED", Some(private)),
        (None, Some(public)) => ("ENABLED", Some(public)),
        (None, None) => ("ENABLED", None),
    };
    if let Some(mut chosen) = chosen {
        chosen.sort();
        let ids: Vec<String> = chosen.into_iter().map(|(_, physical)| physical).collect();
        outputs.entry(loadgrid_infra::template::outputs::SUBNETS.to_owned()).or_insert_with(|| ids.join(","));
    }
    outputs
        .entry(loadgrid_infra::template::outputs::ASSIGN_PUBLIC_IP.to_owned())
        .or_insert_with(|| assign_public_ip.to_owned());
    if let Some(bucket) = outputs.get(BUCKET).cloned() {
        outputs.entry(STORE_URL.to_owned()).or_insert_with(|| format!("s3://{bucket}"));
    }
}

/// Fills the empty fields of `settings` from stack outputs.
pub fn fill_ecs_settings(
    settings: &mut crate::ecs::EcsSettings,
    outputs: &BTreeMap<String, String>,
    assign_public_ip_set: bool,
) {
    let get = |key: &str| outputs.get(key).filter(|v| !v.is_empty()).cloned();
    let list = |key: &str| {
        get(key).map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect::<Vec<_>>())
    };
    if settings.cluster.is_empty() {
        settings.cluster = get("Cluster").unwrap_or_default();
    }
    if settings.task_definition.is_empty() {
        settings.task_definition = get("TaskDefinition").unwrap_or_default();
    }
    if let Some(container) = get("ContainerName") {
        if settings.container == crate::ecs::DEFAULT_CONTAINER {
            settings.container = container;
        }
    }
    if settings.subnets.is_empty() {
        settings.subnets = list("Subnets").unwrap_or_default();
    }
    if settings.security_groups.is_empty() {
        settings.security_groups = list("SecurityGroup").unwrap_or_default();
    }
    if !assign_public_ip_set {
        if let Some(value) = get("AssignPublicIp") {
            settings.assign_public_ip = value.eq_ignore_ascii_case("ENABLED");
        }
    }
}

/// What the tasks run on: `wanted` (flag or config), else the stack's
/// `Capacity`, else Fargate. EC2 needs the stack's pool: an input error
/// when there is none, before anything starts.
pub fn capacity(
    stack: Option<&str>,
    outputs: &BTreeMap<String, String>,
    wanted: Option<loadgrid_plan::config::CapacityKind>,
) -> anyhow::Result<crate::ecs::Capacity> {
    use loadgrid_infra::template::outputs::{CAPACITY, POOL_INSTANCES, POOL_INSTANCE_TYPE, POOL_TASK_DEFINITION};
    use loadgrid_plan::config::CapacityKind;
    let get = |key: &str| outputs.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let kind = match wanted {
        Some(kind) => kind,
        None => match get(CAPACITY) {
            Some("ec2") => CapacityKind::Ec2,
            _ => CapacityKind::Fargate,
        },
    };
    if kind == CapacityKind::Fargate {
        return Ok(crate::ecs::Capacity::Fargate);
    }
    let Some(stack) = stack else {
        return Err(loadgrid_grid::input_error(
            "`capacity = \"ec2\"` runs on the EC2 pool of a loadgrid stack, and no stack is set. Next step: \
             `capacity = \"ec2\"` under [infra], `loadgrid infra deploy`, and `stack` under [ecs]",
        ));
    };
    let (Some(instances), Some(instance_type), Some(task_definition)) =
        (get(POOL_INSTANCES), get(POOL_INSTANCE_TYPE), get(POOL_TASK_DEFINITION))
    else {
        return Err(loadgrid_grid::input_error(format!(
            "`capacity = \"ec2\"`, but stack `{stack}` has no EC2 pool: nothing was started. Next step: \
             `capacity = \"ec2\"` under [infra] and `loadgrid infra deploy`, or run on Fargate with --capacity \
             fargate"
        )));
    };
    Ok(crate::ecs::Capacity::Ec2(crate::ecs::pool::Pool {
        instances: instances.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
        instance_type: instance_type.to_owned(),
        task_definition: task_definition.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::EcsSettings;

    #[test]
    fn outputs_fill_only_what_is_not_set() {
        let outputs: BTreeMap<String, String> = [
            ("Cluster", "stack-cluster"),
            ("TaskDefinition", "loadgrid-runner"),
            ("Subnets", "subnet-a, subnet-b"),
            ("SecurityGroup", "sg-1"),
            ("AssignPublicIp", "ENABLED"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut settings = EcsSettings {
            cluster: "mine".into(),
            container: crate::ecs::DEFAULT_CONTAINER.into(),
            ..EcsSettings::default()
        };
        fill_ecs_settings(&mut settings, &outputs, false);
        assert_eq!(settings.cluster, "mine");
        assert_eq!(settings.task_definition, "loadgrid-runner");
        assert_eq!(settings.subnets, vec!["subnet-a", "subnet-b"]);
        assert_eq!(settings.security_groups, vec!["sg-1"]);
        assert!(settings.assign_public_ip);
    }

    #[test]
    fn subnet_parameters_read_as_aws_and_moto_write_them() {
        assert_eq!(subnet_ids("subnet-1a,subnet-2b"), ["subnet-1a", "subnet-2b"]);
        assert_eq!(subnet_ids("['subnet-1a', 'subnet-2b']"), ["subnet-1a", "subnet-2b"]);
        assert!(subnet_ids("").is_empty());
    }
}
