//! The facts `loadgrid infra doctor` checks, gathered with describe calls.
//!
//! Each resource is looked up by its resolved name. An error that means
//! "no such resource" (matched on the SDK's typed error, else on the error
//! code) becomes `None`; any other failure (permissions, network) is an
//! error that names the call.

use std::error::Error;
use std::fmt::Debug;

use anyhow::Context;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use loadgrid_infra::doctor::{
    BucketFacts, ClusterFacts, Facts, PoolFacts, PoolInstanceFacts, RepositoryFacts, RoleFacts, SecurityGroupFacts,
    TaskDefinitionFacts,
};
use loadgrid_infra::names::Name;
use loadgrid_infra::policy;
use loadgrid_infra::spec::CONTAINER_NAME;
use loadgrid_infra::{CiIdentity, InfraSpec, Network};
use serde_json::Value;

use crate::clients::AwsContext;
use crate::error::sdk_message;

/// Describes every resource of `spec` by name. A resource that does not
/// exist is `None` in the facts, never an error; a call that fails for any
/// other reason (permissions, network) is an error.
pub async fn gather_facts(aws: &AwsContext, spec: &InfraSpec, account: &str) -> anyhow::Result<Facts> {
    let region = aws.region();
    let (names, name) = (&spec.names, |n: &Name| n.resolve(account, &region));
    let topic = format!("arn:{}:sns:{region}:{account}:{}", policy::partition(&region), name(&names.topic));
    let mut facts = Facts { account: account.to_owned(), region: region.clone(), ..Facts::default() };
    (
        facts.deployment,
        facts.bucket,
        facts.repository,
        facts.log_group_retention,
        facts.cluster,
        facts.task_definition,
        facts.execution_role,
        facts.task_role,
        facts.ci_role,
        facts.ci_user,
        (facts.security_group, facts.nat_egress_ips),
        facts.topic_exists,
        facts.dashboard_exists,
        facts.pool,
    ) = tokio::try_join!(
        async {
            let status = crate::infra::stack_state(aws, &spec.stack).await?.map(|s| s.status);
            Ok(loadgrid_infra::doctor::Deployment::Stack(status))
        },
        async { bucket_facts(aws, &name(&names.bucket)).await },
        async { repository_facts(aws, &name(&names.repository)).await },
        async { log_group_retention(aws, &name(&names.log_group)).await },
        async { cluster_facts(aws, &name(&names.cluster)).await },
        async { task_definition_facts(aws, &name(&names.task_family)).await },
        async { role_facts(aws, &name(&names.execution_role)).await },
        async { role_facts(aws, &name(&names.task_role)).await },
        async {
            match spec.ci {
                CiIdentity::GithubOidc { .. } => role_facts(aws, &name(&names.ci_role)).await,
                _ => Ok(None),
            }
        },
        async {
            match spec.ci {
                CiIdentity::IamUser => user_facts(aws, &name(&names.ci_user)).await,
                _ => Ok(None),
            }
        },
        async { network_facts(aws, &spec.network, &name(&names.security_group)).await },
        topic_exists(aws, &topic),
        async { dashboard_exists(aws, &name(&names.dashboard)).await },
        async { pool_facts(aws, spec, &name(&names.pool_role)).await },
    )?;
    if let Some(provider) = facts.ci_role.as_ref().and_then(|role| federated_principal(role.trust.as_ref())) {
        facts.oidc_provider_audiences = oidc_provider_audiences(aws, &provider).await?;
    }
    Ok(facts)
}

/// The OIDC provider a role's trust policy names.
fn federated_principal(trust: Option<&Value>) -> Option<String> {
    let statements = match &trust?["Statement"] {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    statements.iter().find_map(|s| s["Principal"]["Federated"].as_str().map(str::to_owned))
}

/// The client ids (audiences) of an OIDC provider; `None` when it does not exist.
async fn oidc_provider_audiences(aws: &AwsContext, arn: &str) -> anyhow::Result<Option<Vec<String>>> {
    let result = aws.iam().get_open_id_connect_provider().open_id_connect_provider_arn(arn).send().await;
    let call = format!("iam:GetOpenIDConnectProvider `{arn}`");
    Ok(unless_missing(&call, result, |e| e.is_no_such_entity_exception())?.map(|p| p.client_id_list().to_vec()))
}

/// The output, or `None` when `missing` says the service error means the
/// resource does not exist; any other error names `call`.
fn unless_missing<T, E, R>(
    call: &str,
    result: Result<T, SdkError<E, R>>,
    missing: impl FnOnce(&E) -> bool,
) -> anyhow::Result<Option<T>>
where
    E: Error + 'static,
    R: Debug + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(error) if error.as_service_error().is_some_and(missing) => Ok(None),
        Err(error) => Err(failed(call, &error)),
    }
}

fn failed(call: &str, error: &(dyn Error + 'static)) -> anyhow::Error {
    anyhow::anyhow!("doctor cannot describe the stack's resources: {call} failed: {}", sdk_message(error))
}

fn has_code(error: &impl ProvideErrorMetadata, codes: &[&str]) -> bool {
    error.code().is_some_and(|code| codes.contains(&code))
}

async fn bucket_facts(aws: &AwsContext, bucket: &str) -> anyhow::Result<Option<BucketFacts>> {
    let s3 = aws.s3();
    let call = |operation: &str| format!("s3:{operation} on bucket `{bucket}`");
    let head = s3.head_bucket().bucket(bucket).send().await;
    if unless_missing(&call("HeadBucket"), head, |e| e.is_not_found() || has_code(e, &["NoSuchBucket"]))?.is_none() {
        return Ok(None);
    }
    let (public_access, encryption, versioning, policy, lifecycle) = tokio::join!(
        s3.get_public_access_block().bucket(bucket).send(),
        s3.get_bucket_encryption().bucket(bucket).send(),
        s3.get_bucket_versioning().bucket(bucket).send(),
        s3.get_bucket_policy().bucket(bucket).send(),
        s3.get_bucket_lifecycle_configuration().bucket(bucket).send(),
    );
    let public_access_block = unless_missing(&call("GetPublicAccessBlock"), public_access, |e| {
        has_code(e, &["NoSuchPublicAccessBlockConfiguration"])
    })?
    .and_then(|o| o.public_access_block_configuration().cloned())
    .map(|c| {
        let flag = |value: Option<bool>| value.unwrap_or(false);
        [
            flag(c.block_public_acls()),
            flag(c.ignore_public_acls()),
            flag(c.block_public_policy()),
            flag(c.restrict_public_buckets()),
        ]
    });
    let encryption = unless_missing(&call("GetBucketEncryption"), encryption, |e| {
        has_code(e, &["ServerSideEncryptionConfigurationNotFoundError"])
    })?
    .and_then(|o| {
        let rules = o.server_side_encryption_configuration()?.rules();
        rules
            .iter()
            .find_map(|r| Some(r.apply_server_side_encryption_by_default()?.sse_algorithm().as_str().to_owned()))
    });
    let versioning = versioning.map_err(|e| failed(&call("GetBucketVersioning"), &e))?;
    let policy = unless_missing(&call("GetBucketPolicy"), policy, |e| has_code(e, &["NoSuchBucketPolicy"]))?
        .and_then(|o| o.policy().map(str::to_owned))
        .map(|text| {
            serde_json::from_str::<Value>(&text).with_context(|| format!("bucket `{bucket}`'s policy is not JSON"))
        })
        .transpose()?;
    let lifecycle = unless_missing(&call("GetBucketLifecycleConfiguration"), lifecycle, |e| {
        has_code(e, &["NoSuchLifecycleConfiguration"])
    })?;
    let runs_expiration_days = lifecycle.iter().flat_map(|o| o.rules()).find_map(|rule| {
        let prefix = rule
            .filter()
            .and_then(|f| f.prefix().or_else(|| f.and().and_then(|a| a.prefix())))
            // Rules created with the legacy rule-level `Prefix` (as CloudFormation's is).
            .or({
                #[allow(deprecated)]
                rule.prefix()
            })
            .unwrap_or_default();
        let covers_runs = !prefix.is_empty() && "runs/".starts_with(prefix);
        let enabled = rule.status() == &aws_sdk_s3::types::ExpirationStatus::Enabled;
        let days = rule.expiration().and_then(|e| e.days()).and_then(|d| u32::try_from(d).ok());
        days.filter(|_| enabled && covers_runs)
    });
    Ok(Some(BucketFacts {
        public_access_block,
        encryption,
        versioning_enabled: versioning.status() == Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled),
        policy,
        runs_expiration_days,
    }))
}

async fn repository_facts(aws: &AwsContext, repository: &str) -> anyhow::Result<Option<RepositoryFacts>> {
    let ecr = aws.ecr();
    let call = |operation: &str| format!("ecr:{operation} on repository `{repository}`");
    let described = ecr.describe_repositories().repository_names(repository).send().await;
    let Some(described) =
        unless_missing(&call("DescribeRepositories"), described, |e| e.is_repository_not_found_exception())?
    else {
        return Ok(None);
    };
    let Some(found) = described.repositories().first() else { return Ok(None) };
    let lifecycle = ecr.get_lifecycle_policy().repository_name(repository).send().await;
    let lifecycle_policy =
        unless_missing(&call("GetLifecyclePolicy"), lifecycle, |e| e.is_lifecycle_policy_not_found_exception())?
            .and_then(|o| o.lifecycle_policy_text().map(str::to_owned));
    Ok(Some(RepositoryFacts {
        scan_on_push: found.image_scanning_configuration().is_some_and(|c| c.scan_on_push()),
        encryption: found
            .encryption_configuration()
            .map(|c| c.encryption_type().as_str().to_owned())
            .unwrap_or_default(),
        lifecycle_policy,
    }))
}

async fn log_group_retention(aws: &AwsContext, log_group: &str) -> anyhow::Result<Option<Option<u32>>> {
    let logs = aws.logs();
    let mut token = None;
    loop {
        let page = logs
            .describe_log_groups()
            .log_group_name_prefix(log_group)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| failed(&format!("logs:DescribeLogGroups with prefix `{log_group}`"), &e))?;
        if let Some(group) = page.log_groups().iter().find(|g| g.log_group_name() == Some(log_group)) {
            return Ok(Some(group.retention_in_days().and_then(|d| u32::try_from(d).ok())));
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(None);
        }
    }
}

async fn cluster_facts(aws: &AwsContext, cluster: &str) -> anyhow::Result<Option<ClusterFacts>> {
    let described = aws
        .ecs()
        .describe_clusters()
        .clusters(cluster)
        .include(aws_sdk_ecs::types::ClusterField::Settings)
        .send()
        .await
        .map_err(|e| failed(&format!("ecs:DescribeClusters `{cluster}`"), &e))?;
    // A missing cluster is a `failures` entry (reason MISSING), not an error.
    Ok(described.clusters().first().map(|c| ClusterFacts {
        status: c.status().unwrap_or_default().to_owned(),
        container_insights: c.settings().iter().any(|s| {
            s.name() == Some(&aws_sdk_ecs::types::ClusterSettingName::ContainerInsights)
                && matches!(s.value(), Some("enabled" | "enhanced"))
        }),
        capacity_providers: c.capacity_providers().to_vec(),
    }))
}

async fn task_definition_facts(aws: &AwsContext, family: &str) -> anyhow::Result<Option<TaskDefinitionFacts>> {
    let described = aws.ecs().describe_task_definition().task_definition(family).send().await;
    let described = unless_missing(&format!("ecs:DescribeTaskDefinition `{family}`"), described, |e| {
        e.is_client_exception() && e.message().is_some_and(|m| m.contains("Unable to describe task definition"))
    })?;
    let Some(task) = described.as_ref().and_then(|d| d.task_definition()) else { return Ok(None) };
    let container = task.container_definitions().iter().find(|c| c.name() == Some(CONTAINER_NAME));
    Ok(Some(TaskDefinitionFacts {
        cpu: task.cpu().unwrap_or_default().to_owned(),
        memory: task.memory().unwrap_or_default().to_owned(),
        container_found: container.is_some(),
        container_memory: container.and_then(|c| c.memory()),
        log_driver: container.and_then(|c| c.log_configuration()).map(|l| l.log_driver().as_str().to_owned()),
        nofile_soft_limit: container.and_then(|c| {
            c.ulimits().iter().find(|u| u.name() == &aws_sdk_ecs::types::UlimitName::Nofile).map(|u| u.soft_limit())
        }),
        execution_role_arn: task.execution_role_arn().unwrap_or_default().to_owned(),
        task_role_arn: task.task_role_arn().unwrap_or_default().to_owned(),
        image: container.and_then(|c| c.image()).map(str::to_owned),
    }))
}

/// IAM returns policy documents URL-encoded.
fn policy_document(what: &str, text: &str) -> anyhow::Result<Value> {
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(text))
        .with_context(|| format!("{what} is not a JSON policy document"))
}

/// Adds the attached managed policy ARNs of one IAM role, user or group to
/// `into`, with the documents of its inline and customer-managed policies.
/// The three kinds differ only in the names of their operations.
macro_rules! add_policies {
    ($aws:expr, $into:expr, $kind:literal, $name:expr, $by:ident, $attached:ident, $inline:ident, $get:ident) => {{
        let (iam, name, into): (_, &str, &mut RoleFacts) = ($aws.iam(), $name, $into);
        let call = |operation: String| format!("iam:{operation} on {} `{name}`", $kind);
        let attached = iam.$attached().$by(name).max_items(1000).send().await;
        let attached = attached.map_err(|e| failed(&call(action(stringify!($attached))), &e))?;
        let inline = iam.$inline().$by(name).max_items(1000).send().await;
        for policy in inline.map_err(|e| failed(&call(action(stringify!($inline))), &e))?.policy_names() {
            let got = iam.$get().$by(name).policy_name(policy).send().await;
            let got = got.map_err(|e| failed(&call(format!("{} `{policy}`", action(stringify!($get)))), &e))?;
            let what = format!("inline policy `{policy}` of {} `{name}`", $kind);
            into.documents.push(policy_document(&what, got.policy_document())?);
        }
        let arns = attached.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_owned));
        add_managed_policies($aws, arns.collect(), into).await
    }};
}

/// `list_role_policies` → `ListRolePolicies`, as IAM names the action.
fn action(operation: &str) -> String {
    operation.split('_').flat_map(|w| w.get(..1).map(|first| first.to_ascii_uppercase() + &w[1..])).collect()
}

async fn add_managed_policies(aws: &AwsContext, arns: Vec<String>, into: &mut RoleFacts) -> anyhow::Result<()> {
    let iam = aws.iam();
    for arn in arns {
        // AWS-managed policies (`arn:aws:iam::aws:policy/...`) are known by name.
        if arn.split(':').nth(4) != Some("aws") {
            let policy = iam.get_policy().policy_arn(&arn).send().await;
            let policy = policy.map_err(|e| failed(&format!("iam:GetPolicy `{arn}`"), &e))?;
            if let Some(version) = policy.policy().and_then(|p| p.default_version_id()) {
                let got = iam.get_policy_version().policy_arn(&arn).version_id(version).send().await;
                let got = got.map_err(|e| failed(&format!("iam:GetPolicyVersion `{arn}` {version}"), &e))?;
                if let Some(text) = got.policy_version().and_then(|v| v.document()) {
                    into.documents.push(policy_document(&format!("managed policy `{arn}`"), text)?);
                }
            }
        }
        into.managed_policy_arns.push(arn);
    }
    Ok(())
}

async fn role_facts(aws: &AwsContext, role: &str) -> anyhow::Result<Option<RoleFacts>> {
    let found = aws.iam().get_role().role_name(role).send().await;
    let Some(found) = unless_missing(&format!("iam:GetRole `{role}`"), found, |e| e.is_no_such_entity_exception())?
    else {
        return Ok(None);
    };
    let Some(found) = found.role() else { return Ok(None) };
    let trust = found
        .assume_role_policy_document()
        .map(|text| policy_document(&format!("the trust policy of role `{role}`"), text))
        .transpose()?;
    let mut facts = RoleFacts { arn: found.arn().to_owned(), trust, ..RoleFacts::default() };
    add_policies!(
        aws,
        &mut facts,
        "role",
        role,
        role_name,
        list_attached_role_policies,
        list_role_policies,
        get_role_policy
    )?;
    Ok(Some(facts))
}

/// The CI user with its own policies and those of its groups.
async fn user_facts(aws: &AwsContext, user: &str) -> anyhow::Result<Option<RoleFacts>> {
    let iam = aws.iam();
    let found = iam.get_user().user_name(user).send().await;
    let Some(found) = unless_missing(&format!("iam:GetUser `{user}`"), found, |e| e.is_no_such_entity_exception())?
    else {
        return Ok(None);
    };
    let mut facts =
        RoleFacts { arn: found.user().map(|u| u.arn().to_owned()).unwrap_or_default(), ..RoleFacts::default() };
    add_policies!(
        aws,
        &mut facts,
        "user",
        user,
        user_name,
        list_attached_user_policies,
        list_user_policies,
        get_user_policy
    )?;
    let groups = iam
        .list_groups_for_user()
        .user_name(user)
        .max_items(1000)
        .send()
        .await
        .map_err(|e| failed(&format!("iam:ListGroupsForUser `{user}`"), &e))?;
    for group in groups.groups() {
        let group = group.group_name();
        add_policies!(
            aws,
            &mut facts,
            "group",
            group,
            group_name,
            list_attached_group_policies,
            list_group_policies,
            get_group_policy
        )?;
    }
    Ok(Some(facts))
}

/// The EC2 pool (`capacity = "ec2"`): the stack's instances by their
/// `loadgrid:stack` tag, their Elastic IPs, the instance profile, and the
/// AMI the stack's parameter resolved to. Which instances runs hold is in
/// the store, read by the caller.
async fn pool_facts(aws: &AwsContext, spec: &InfraSpec, profile: &str) -> anyhow::Result<Option<PoolFacts>> {
    use aws_sdk_ec2::types::Filter;
    if !matches!(spec.capacity, loadgrid_infra::spec::Capacity::Ec2 { .. }) {
        return Ok(None);
    }
    let ec2 = aws.ec2();
    let described = ec2
        .describe_instances()
        .filters(Filter::builder().name("tag:loadgrid:stack").values(&spec.stack).build())
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(["pending", "running", "stopping", "stopped"].map(String::from).to_vec()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| failed(&format!("ec2:DescribeInstances tagged loadgrid:stack={}", spec.stack), &e))?;
    let image_ids: std::collections::BTreeSet<String> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.image_id().map(str::to_owned))
        .collect();
    let mut instances: Vec<PoolInstanceFacts> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| {
            Some(PoolInstanceFacts {
                id: i.instance_id()?.to_owned(),
                state: i.state().and_then(|s| s.name()).map(|n| n.as_str().to_owned()).unwrap_or_default(),
                elastic_ip: None,
                instance_profile_arn: i.iam_instance_profile().and_then(|p| p.arn()).map(str::to_owned),
            })
        })
        .collect();
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    if !instances.is_empty() {
        let ids: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
        let addresses = ec2
            .describe_addresses()
            .filters(Filter::builder().name("instance-id").set_values(Some(ids)).build())
            .send()
            .await
            .map_err(|e| failed("ec2:DescribeAddresses of the pool's instances", &e))?;
        for address in addresses.addresses() {
            if let Some(instance) = instances.iter_mut().find(|i| Some(i.id.as_str()) == address.instance_id()) {
                instance.elastic_ip = address.public_ip().map(str::to_owned);
            }
        }
    }
    let found = aws.iam().get_instance_profile().instance_profile_name(profile).send().await;
    let instance_profile_exists =
        unless_missing(&format!("iam:GetInstanceProfile `{profile}`"), found, |e| e.is_no_such_entity_exception())?
            .is_some();
    // The AMI the stack's parameter resolved to; else (a Terraform
    // deployment resolves it at plan time) the one image the instances run.
    let stack = aws.cloudformation().describe_stacks().stack_name(&spec.stack).send().await;
    let resolved = stack.ok().and_then(|answer| {
        let found = answer.stacks().first()?;
        let parameter = found
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(loadgrid_infra::template::parameters::ECS_AMI))?;
        parameter.resolved_value().map(str::to_owned)
    });
    let ami = match image_ids.len() {
        1 => resolved.or(image_ids.into_iter().next()),
        _ => resolved,
    };
    Ok(Some(PoolFacts { instances, instance_profile_exists, ami, held: None }))
}

/// The tasks' security group and, for `static-ip`, the public IPs of the
/// available NAT gateways in its VPC.
async fn network_facts(
    aws: &AwsContext,
    network: &Network,
    group_name: &str,
) -> anyhow::Result<(Option<SecurityGroupFacts>, Vec<String>)> {
    use aws_sdk_ec2::types::Filter;
    let ec2 = aws.ec2();
    let groups = match network {
        Network::Existing { security_group, .. } => {
            let described = ec2.describe_security_groups().group_ids(security_group).send().await;
            unless_missing(&format!("ec2:DescribeSecurityGroups `{security_group}`"), described, |e| {
                has_code(e, &["InvalidGroup.NotFound", "InvalidGroupId.NotFound"])
            })?
        }
        _ => Some(
            ec2.describe_security_groups()
                .filters(Filter::builder().name("group-name").values(group_name).build())
                .send()
                .await
                .map_err(|e| failed(&format!("ec2:DescribeSecurityGroups named `{group_name}`"), &e))?,
        ),
    };
    let Some(group) = groups.as_ref().and_then(|g| g.security_groups().first()) else { return Ok((None, Vec::new())) };
    let facts = SecurityGroupFacts {
        id: group.group_id().unwrap_or_default().to_owned(),
        ingress_rules: group.ip_permissions().len(),
    };
    let (Network::StaticIp { .. }, Some(vpc)) = (network, group.vpc_id()) else { return Ok((Some(facts), Vec::new())) };
    let gateways = ec2
        .describe_nat_gateways()
        .filter(Filter::builder().name("vpc-id").values(vpc).build())
        .filter(Filter::builder().name("state").values("available").build())
        .send()
        .await
        .map_err(|e| failed(&format!("ec2:DescribeNatGateways in `{vpc}`"), &e))?;
    let ips = gateways
        .nat_gateways()
        .iter()
        .flat_map(|g| g.nat_gateway_addresses())
        .filter_map(|a| a.public_ip().map(str::to_owned))
        .collect();
    Ok((Some(facts), ips))
}

async fn topic_exists(aws: &AwsContext, arn: &str) -> anyhow::Result<bool> {
    let found = aws.sns().get_topic_attributes().topic_arn(arn).send().await;
    Ok(unless_missing(&format!("sns:GetTopicAttributes `{arn}`"), found, |e| e.is_not_found_exception())?.is_some())
}

async fn dashboard_exists(aws: &AwsContext, dashboard: &str) -> anyhow::Result<bool> {
    let found = aws.cloudwatch().get_dashboard().dashboard_name(dashboard).send().await;
    let found = unless_missing(&format!("cloudwatch:GetDashboard `{dashboard}`"), found, |e| {
        e.is_dashboard_not_found_error() || has_code(e, &["ResourceNotFound"])
    })?;
    Ok(found.is_some())
}
