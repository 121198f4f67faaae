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

use std::collections::BTreeMap;

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
    let mut outputs = found
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect();
    complete_from_resources(aws, stack, &mut outputs).await;
    Ok(outputs)
}

/// Fills outputs CloudFormation did not report (moto's change-set execution
/// reports none) from the stack's resources, where an output is one
/// resource's physical id. Best effort: what real AWS reports always wins.
pub async fn complete_from_resources(aws: &AwsContext, stack: &str, outputs: &mut BTreeMap<String, String>) {
    use loadgrid_infra::template::outputs::{BUCKET, CLUSTER, FROM_RESOURCES, STORE_URL};
    if outputs.contains_key(CLUSTER) {
        return;
    }
    let Ok(listed) = aws.cloudformation().list_stack_resources().stack_name(stack).send().await else { return };
    for resource in listed.stack_resource_summaries() {
        let (Some(logical), Some(physical)) = (resource.logical_resource_id(), resource.physical_resource_id()) else {
            continue;
        };
        if let Some((output, _)) = FROM_RESOURCES.iter().find(|(_, id)| *id == logical) {
            outputs.entry((*output).to_owned()).or_insert_with(|| physical.to_owned());
        }
    }
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
}
