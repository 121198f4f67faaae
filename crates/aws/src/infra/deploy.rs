//! Change sets: create one, show what it changes, execute it and follow the
//! stack's events until it settles; name the failed resource when it fails.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, Tag};
use loadgrid_grid::input_error;
use loadgrid_infra::changes::Change;
use loadgrid_infra::template::parameters;
use loadgrid_infra::{InfraSpec, Network};

use crate::clients::AwsContext;
use crate::error::sdk_message;

/// CloudFormation's limit for a template passed in the request body.
const TEMPLATE_BODY_LIMIT: usize = 51_200;
const POLL: Duration = Duration::from_secs(3);

/// A template ready to deploy, with its deploy-time parameters.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: String,
    pub parameters: Vec<(String, String)>,
}

/// Looks up what the template needs from the account (the default VPC and
/// its subnets) and checks given network ids exist: every failure here is
/// an input error, before any change set.
pub async fn prepare(aws: &AwsContext, spec: &InfraSpec) -> anyhow::Result<Prepared> {
    let ec2 = aws.ec2();
    let mut parameters = Vec::new();
    match &spec.network {
        Network::DefaultVpc => {
            let vpcs = ec2
                .describe_vpcs()
                .filters(aws_sdk_ec2::types::Filter::builder().name("isDefault").values("true").build())
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("cannot look up the default VPC: {}", sdk_message(&e)))?;
            let Some(vpc) = vpcs.vpcs().first().and_then(|v| v.vpc_id()) else {
                return Err(input_error(format!(
                    "the account has no default VPC in {}. Next step: `network = \"public\"` under [infra] (a new VPC), or `existing` with your subnets",
                    aws.region()
                )));
            };
            let subnets = ec2
                .describe_subnets()
                .filters(aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(vpc).build())
                .filters(aws_sdk_ec2::types::Filter::builder().name("default-for-az").values("true").build())
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("cannot look up the default VPC's subnets: {}", sdk_message(&e)))?;
            let mut ids: Vec<String> =
                subnets.subnets().iter().filter_map(|s| s.subnet_id().map(str::to_owned)).collect();
            ids.sort();
            if ids.is_empty() {
                return Err(input_error(format!(
                    "the default VPC `{vpc}` has no default subnets. Next step: `network = \"public\"` under [infra]"
                )));
            }
            parameters.push((parameters::VPC_ID.to_owned(), vpc.to_owned()));
            parameters.push((parameters::SUBNET_IDS.to_owned(), ids.join(",")));
        }
        Network::Existing { subnets, security_group } => {
            ec2.describe_subnets().set_subnet_ids(Some(subnets.clone())).send().await.map_err(|e| {
                input_error(format!(
                    "[infra] subnets {subnets:?}: {}. Next step: fix `subnets` under [infra]",
                    sdk_message(&e)
                ))
            })?;
            ec2.describe_security_groups().group_ids(security_group).send().await.map_err(|e| {
                input_error(format!(
                    "[infra] security_group `{security_group}`: {}. Next step: fix `security_group` under [infra]",
                    sdk_message(&e)
                ))
            })?;
        }
        Network::Public { .. } | Network::StaticIp { .. } => {}
    }
    // Compact JSON: the smallest body CloudFormation accepts inline.
    let body = serde_json::to_string(&loadgrid_infra::template::render(spec).to_value())?;
    if body.len() > TEMPLATE_BODY_LIMIT {
        anyhow::bail!(
            "the template is {} bytes, over CloudFormation's {TEMPLATE_BODY_LIMIT}-byte inline limit; this is a bug in loadgrid",
            body.len()
        );
    }
    Ok(Prepared { body, parameters })
}

/// The stack as CloudFormation reports it.
#[derive(Debug, Clone)]
pub struct StackState {
    pub status: String,
    pub reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub last_updated: Option<String>,
}

/// `None` when there is no such stack (or only an unexecuted first change set).
pub async fn stack_state(aws: &AwsContext, stack: &str) -> anyhow::Result<Option<StackState>> {
    let response = match aws.cloudformation().describe_stacks().stack_name(stack).send().await {
        Ok(response) => response,
        Err(error) => {
            let message = sdk_message(&error);
            if message.contains("does not exist") {
                return Ok(None);
            }
            return Err(anyhow::anyhow!("cannot read stack `{stack}` in {}: {message}", aws.region()));
        }
    };
    let Some(found) = response.stacks().first() else { return Ok(None) };
    let status = found.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
    if status == "REVIEW_IN_PROGRESS" {
        return Ok(None);
    }
    let outputs = if status.ends_with("_COMPLETE") && !status.starts_with("DELETE") {
        crate::stack::reported_outputs(aws, found).await
    } else {
        crate::stack::declared_outputs(found)
    };
    Ok(Some(StackState {
        status,
        reason: found.stack_status_reason().map(str::to_owned),
        outputs,
        last_updated: found.last_updated_time().or(found.creation_time()).map(|t| t.to_string()),
    }))
}

/// A change set CloudFormation has computed.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    pub stack: String,
    pub id: String,
    pub creates_stack: bool,
    pub changes: Vec<Change>,
}

/// Creates a change set for `prepared` and waits until CloudFormation has
/// computed it. `Ok(None)`: the stack already matches the template.
pub async fn create_change_set(
    aws: &AwsContext,
    spec: &InfraSpec,
    prepared: &Prepared,
) -> anyhow::Result<Option<ChangeSet>> {
    let existing = stack_state(aws, &spec.stack).await?;
    if let Some(state) = &existing {
        if state.status == "ROLLBACK_COMPLETE" {
            return Err(input_error(format!(
                "stack `{}` failed to create and was rolled back (ROLLBACK_COMPLETE); CloudFormation cannot update it. Next step: `loadgrid infra destroy`, then deploy again",
                spec.stack
            )));
        }
        if state.status.ends_with("_IN_PROGRESS") {
            return Err(input_error(format!(
                "stack `{}` is {}: wait for it to settle (`loadgrid infra status`), then deploy again",
                spec.stack, state.status
            )));
        }
    }
    let creates_stack = existing.is_none();
    let name = format!("loadgrid-{}", loadgrid_plan::records::now_ms());
    let cfn = aws.cloudformation();
    let tags: Vec<Tag> = spec.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    let parameters: Vec<Parameter> = prepared
        .parameters
        .iter()
        .map(|(key, value)| Parameter::builder().parameter_key(key).parameter_value(value).build())
        .collect();
    let created = cfn
        .create_change_set()
        .stack_name(&spec.stack)
        .change_set_name(&name)
        .change_set_type(if creates_stack { ChangeSetType::Create } else { ChangeSetType::Update })
        .template_body(&prepared.body)
        .set_parameters(Some(parameters))
        .capabilities(Capability::CapabilityNamedIam)
        .set_tags(Some(tags))
        .description(format!("loadgrid {} infra deploy", env!("CARGO_PKG_VERSION")))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot create a change set for stack `{}`: {}", spec.stack, sdk_message(&e)))?;
    let id = created.id().unwrap_or(&name).to_owned();
    loop {
        let described = cfn
            .describe_change_set()
            .stack_name(&spec.stack)
            .change_set_name(&id)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read change set `{name}`: {}", sdk_message(&e)))?;
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                let changes = all_changes(aws, &spec.stack, &id, described).await?;
                return Ok(Some(ChangeSet { stack: spec.stack.clone(), id, creates_stack, changes }));
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = described.status_reason().unwrap_or("no reason given").to_owned();
                let _ = cfn.delete_change_set().stack_name(&spec.stack).change_set_name(&id).send().await;
                if reason.contains("didn't contain changes") || reason.contains("No updates") {
                    return Ok(None);
                }
                anyhow::bail!("CloudFormation refused the change set for stack `{}`: {reason}", spec.stack);
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

async fn all_changes(
    aws: &AwsContext,
    stack: &str,
    id: &str,
    first: aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput,
) -> anyhow::Result<Vec<Change>> {
    let mut changes = Vec::new();
    let mut page = first;
    loop {
        for change in page.changes() {
            let Some(resource) = change.resource_change() else { continue };
            let mut properties: Vec<String> = resource
                .details()
                .iter()
                .filter_map(|d| d.target())
                .filter_map(|t| t.name().map(str::to_owned).or_else(|| t.attribute().map(|a| a.as_str().to_owned())))
                .collect();
            properties.dedup();
            changes.push(Change {
                action: resource.action().map(|a| a.as_str().to_owned()).unwrap_or_default(),
                logical_id: resource.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: resource.resource_type().unwrap_or_default().to_owned(),
                replacement: resource.replacement().map(|r| r.as_str().to_owned()),
                properties,
            });
        }
        let Some(token) = page.next_token().map(str::to_owned) else { break };
        page = aws
            .cloudformation()
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .next_token(token)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read change set: {}", sdk_message(&e)))?;
    }
    Ok(changes)
}

pub async fn delete_change_set(aws: &AwsContext, change_set: &ChangeSet) -> anyhow::Result<()> {
    aws.cloudformation()
        .delete_change_set()
        .stack_name(&change_set.stack)
        .change_set_name(&change_set.id)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot delete change set: {}", sdk_message(&e)))?;
    if change_set.creates_stack {
        // A first change set leaves an empty stack in REVIEW_IN_PROGRESS behind.
        let _ = aws.cloudformation().delete_stack().stack_name(&change_set.stack).send().await;
    }
    Ok(())
}

/// Executes the change set and follows the stack's events (each new one is
/// passed to `progress`) until the stack settles. Returns its outputs, or
/// the failed resources and CloudFormation's reasons.
pub async fn execute(
    aws: &AwsContext,
    change_set: &ChangeSet,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<BTreeMap<String, String>> {
    let cfn = aws.cloudformation();
    let seen = initial_events(aws, &change_set.stack).await;
    cfn.execute_change_set()
        .stack_name(&change_set.stack)
        .change_set_name(&change_set.id)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot execute the change set: {}", sdk_message(&e)))?;
    let state = follow(aws, &change_set.stack, seen, progress).await?;
    let Some(state) = state else {
        anyhow::bail!(
            "stack `{}` disappeared while deploying (deleted by someone else?); run `loadgrid infra deploy` again",
            change_set.stack
        )
    };
    if state.status.ends_with("_COMPLETE") && !state.status.contains("ROLLBACK") {
        Ok(state.outputs)
    } else {
        let failures = failure_reasons(aws, &change_set.stack).await;
        anyhow::bail!(
            "stack `{}` ended {}{}{}. Next step: fix what failed, then `loadgrid infra deploy` again",
            change_set.stack,
            state.status,
            state.reason.map(|r| format!(" ({r})")).unwrap_or_default(),
            if failures.is_empty() { String::new() } else { format!("; failed: {}", failures.join("; ")) }
        )
    }
}

async fn initial_events(aws: &AwsContext, stack: &str) -> HashSet<String> {
    match aws.cloudformation().describe_stack_events().stack_name(stack).send().await {
        Ok(page) => page.stack_events().iter().filter_map(|e| e.event_id().map(str::to_owned)).collect(),
        Err(_) => HashSet::new(),
    }
}

/// Polls until the stack is no longer `*_IN_PROGRESS`.
async fn follow(
    aws: &AwsContext,
    stack: &str,
    mut seen: HashSet<String>,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Option<StackState>> {
    loop {
        if let Ok(page) = aws.cloudformation().describe_stack_events().stack_name(stack).send().await {
            // Newest first: print oldest first.
            for event in page.stack_events().iter().rev() {
                let Some(id) = event.event_id() else { continue };
                if !seen.insert(id.to_owned()) {
                    continue;
                }
                let status = event.resource_status().map(|s| s.as_str()).unwrap_or_default();
                let reason = event.resource_status_reason().map(|r| format!("  {r}")).unwrap_or_default();
                progress(&format!(
                    "{status:<20} {:<32} {}{reason}",
                    event.logical_resource_id().unwrap_or_default(),
                    event.resource_type().unwrap_or_default()
                ));
            }
        }
        let state = match stack_state(aws, stack).await {
            Ok(state) => state,
            Err(error) if error.to_string().contains("does not exist") => None,
            Err(error) => return Err(error),
        };
        match &state {
            Some(s) if s.status.ends_with("_IN_PROGRESS") => tokio::time::sleep(POLL).await,
            _ => return Ok(state),
        }
    }
}

/// `LogicalId (Type): reason` for every failed resource event.
async fn failure_reasons(aws: &AwsContext, stack: &str) -> Vec<String> {
    let Ok(page) = aws.cloudformation().describe_stack_events().stack_name(stack).send().await else {
        return Vec::new();
    };
    page.stack_events()
        .iter()
        .rev()
        .filter(|e| e.resource_status().is_some_and(|s| s.as_str().ends_with("_FAILED")))
        .filter(|e| e.logical_resource_id() != Some(stack))
        .map(|e| {
            format!(
                "{} ({}): {}",
                e.logical_resource_id().unwrap_or_default(),
                e.resource_type().unwrap_or_default(),
                e.resource_status_reason().unwrap_or("no reason given")
            )
        })
        .collect()
}

/// Deletes the stack and waits. The bucket is retained by its deletion
/// policy; with `delete_data` it is emptied (every version) and deleted too.
pub async fn destroy(
    aws: &AwsContext,
    spec: &InfraSpec,
    delete_data: bool,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let Some(state) = stack_state(aws, &spec.stack).await? else {
        return Err(input_error(format!(
            "there is no stack `{}` in {} to destroy; check `stack` under [infra] and the region (--region)",
            spec.stack,
            aws.region()
        )));
    };
    let bucket = state.outputs.get(loadgrid_infra::template::outputs::BUCKET).cloned();
    let seen = initial_events(aws, &spec.stack).await;
    aws.cloudformation()
        .delete_stack()
        .stack_name(&spec.stack)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot delete stack `{}`: {}", spec.stack, sdk_message(&e)))?;
    if let Some(state) = follow(aws, &spec.stack, seen, progress).await? {
        if state.status != "DELETE_COMPLETE" {
            let failures = failure_reasons(aws, &spec.stack).await;
            anyhow::bail!("stack `{}` ended {}: {}", spec.stack, state.status, failures.join("; "));
        }
    }
    match (bucket, delete_data) {
        (Some(bucket), true) => {
            empty_bucket(aws, &bucket, progress).await?;
            aws.s3()
                .delete_bucket()
                .bucket(&bucket)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("cannot delete bucket `{bucket}`: {}", sdk_message(&e)))?;
            progress(&format!("deleted bucket {bucket} and every run in it"));
        }
        (Some(bucket), false) => progress(&format!(
            "kept bucket {bucket} (run results and history); `loadgrid infra destroy --delete-data` removes it"
        )),
        (None, _) => {}
    }
    Ok(())
}

/// Deletes every object version and delete marker, 1000 per call.
async fn empty_bucket(aws: &AwsContext, bucket: &str, progress: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let s3 = aws.s3();
    let mut deleted = 0usize;
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot list bucket `{bucket}`: {}", sdk_message(&e)))?;
        let mut objects = Vec::new();
        for version in page.versions() {
            objects.push((version.key().unwrap_or_default(), version.version_id()));
        }
        for marker in page.delete_markers() {
            objects.push((marker.key().unwrap_or_default(), marker.version_id()));
        }
        if objects.is_empty() {
            break;
        }
        let identifiers: Vec<ObjectIdentifier> = objects
            .iter()
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder().key(*key).set_version_id(version.map(str::to_owned)).build().ok()
            })
            .collect();
        deleted += identifiers.len();
        let delete = Delete::builder().set_objects(Some(identifiers)).quiet(true).build()?;
        s3.delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot empty bucket `{bucket}`: {}", sdk_message(&e)))?;
        progress(&format!("deleted {deleted} object versions from {bucket}"));
    }
    Ok(())
}

/// The CI user's access key, read from Secrets Manager.
pub async fn ci_access_key(aws: &AwsContext, outputs: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let Some(secret) = outputs.get(loadgrid_infra::template::outputs::CI_ACCESS_KEY_SECRET) else {
        return Err(input_error("the stack has no CI user (`ci.mode = \"iam-user\"` under [infra] creates one)"));
    };
    let value = aws
        .secrets()
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the CI access key `{secret}`: {}", sdk_message(&e)))?;
    Ok(value.secret_string().unwrap_or_default().to_owned())
}
