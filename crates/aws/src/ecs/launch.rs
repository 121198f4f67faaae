//! `RunTask` for a whole grid: at most 10 tasks per call, calls in
//! parallel, capacity failures retried with backoff and jitter, Spot
//! falling back to on-demand, and a client token on every call so that a
//! retried request never starts extra tasks.
//!
//! Many shards share one `RunTask` call, so a call cannot hand each task its
//! own shard index: every task of a call gets the call's shard range, and
//! each agent claims one shard of it in the store (a conditional write).
//!
//! On the EC2 pool each call is placed on one instance (a `memberOf`
//! constraint), as many shards on each as the pool's lease gave it.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, PlacementConstraint, PlacementConstraintType, PropagateTags, Tag, TaskOverride,
};
use loadgrid_plan::Manifest;

use super::{EcsSettings, TAG_RUN_ID, TAG_SHARDS, TAG_TEST};
use crate::error::sdk_message;

/// `RunTask`'s own limit.
pub const MAX_TASKS_PER_CALL: u32 = 10;
/// How many times one batch is retried after capacity failures.
const CAPACITY_ATTEMPTS: u32 = 6;
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(20);
/// `RunTask` calls in flight at once.
pub const PARALLEL_CALLS: usize = 10;

/// The shards of one `RunTask` call, and the pool instance they go on.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub range: Range<u32>,
    pub instance: Option<String>,
}

/// Shards `0..n` in ranges of at most [`MAX_TASKS_PER_CALL`].
pub fn batches(shards: u32) -> Vec<Batch> {
    (0..shards.div_ceil(MAX_TASKS_PER_CALL))
        .map(|i| Batch { range: i * MAX_TASKS_PER_CALL..((i + 1) * MAX_TASKS_PER_CALL).min(shards), instance: None })
        .collect()
}

/// Shards placed on pool instances (instance → how many), in consecutive
/// ranges of at most [`MAX_TASKS_PER_CALL`] per instance.
pub fn pool_batches(placed: &BTreeMap<String, u32>) -> Vec<Batch> {
    let mut batches = Vec::new();
    let mut next = 0;
    for (instance, &count) in placed {
        let end = next + count;
        while next < end {
            let until = (next + MAX_TASKS_PER_CALL).min(end);
            batches.push(Batch { range: next..until, instance: Some(instance.clone()) });
            next = until;
        }
    }
    batches
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No capacity right now: worth retrying later or elsewhere.
    Capacity,
    /// Will fail the same way again (bad configuration).
    Permanent,
}

/// Sorts a `RunTask` failure reason. ECS reports capacity shortages in the
/// response's `failures` list, not as an error.
pub fn classify_failure(reason: &str) -> FailureKind {
    let lower = reason.to_ascii_lowercase();
    let capacity = ["capacity", "resource:", "throttl", "rate exceeded", "service unavailable", "agent"];
    if capacity.iter().any(|word| lower.contains(word)) {
        FailureKind::Capacity
    } else {
        FailureKind::Permanent
    }
}

/// Exponential backoff with full jitter: a random wait up to
/// `base × 2^attempt`, capped.
pub fn backoff(attempt: u32, random: f64) -> Duration {
    let ceiling = BACKOFF_BASE.saturating_mul(1 << attempt.min(10)).min(BACKOFF_CAP);
    ceiling.mul_f64(random.clamp(0.0, 1.0))
}

/// One batch's outcome.
#[derive(Debug, Default)]
pub struct BatchLaunch {
    pub range: Range<u32>,
    pub task_arns: Vec<String>,
    /// Set when the batch could not launch all its tasks.
    pub error: Option<String>,
    /// Human-readable notes (retries, Spot fallback) for the launch log.
    pub notes: Vec<String>,
}

pub struct Launcher<'a> {
    pub ecs: &'a aws_sdk_ecs::Client,
    pub settings: &'a EcsSettings,
    pub manifest: &'a Manifest,
    pub store_url: &'a str,
    pub region: &'a str,
    pub container: &'a str,
}

impl Launcher<'_> {
    /// Launches one batch, retrying capacity failures for the tasks that
    /// did not start. Never returns more tasks than the batch has shards.
    pub async fn launch_batch(&self, batch_index: usize, batch: Batch) -> BatchLaunch {
        let Batch { range, instance } = batch;
        let mut launch = BatchLaunch { range: range.clone(), ..BatchLaunch::default() };
        let wanted = range.len();
        let mut spot = self.settings.spot;
        for attempt in 0..CAPACITY_ATTEMPTS {
            let missing = wanted - launch.task_arns.len();
            // Unique per call; the SDK's own retries of this call reuse it.
            let token = format!("{}-{batch_index}-{attempt}", self.manifest.run_id);
            let response = match self.request(&range, instance.as_deref(), missing as i32, spot, &token).send().await {
                Ok(response) => super::lenient::TasksAnswer::read(response.tasks(), response.failures()),
                Err(error) => match super::lenient::tasks_answer(&error) {
                    Some(answer) => answer,
                    None => {
                        launch.error = Some(format!("RunTask failed: {}", sdk_message(&error)));
                        return launch;
                    }
                },
            };
            launch.task_arns.extend(response.tasks.iter().filter_map(|t| t.task_arn().map(str::to_owned)));
            if launch.task_arns.len() >= wanted {
                launch.error = None;
                return launch;
            }
            let reasons: Vec<String> = response
                .failures
                .iter()
                .map(|f| {
                    format!(
                        "{}{}",
                        f.reason().unwrap_or("unknown"),
                        f.detail().map_or(String::new(), |d| format!(" ({d})"))
                    )
                })
                .collect();
            let summary = if reasons.is_empty() { "fewer tasks than asked for".to_owned() } else { reasons.join("; ") };
            launch.error =
                Some(format!("{} of {wanted} tasks did not start: {summary}", wanted - launch.task_arns.len()));
            if reasons.iter().any(|r| classify_failure(r) == FailureKind::Permanent) {
                return launch;
            }
            if spot {
                spot = false;
                launch.notes.push(format!(
                    "shards {}-{}: no Spot capacity ({summary}); falling back to FARGATE",
                    range.start,
                    range.end - 1
                ));
                continue;
            }
            let wait = backoff(attempt, rand::random::<f64>());
            launch.notes.push(format!(
                "shards {}-{}: {summary}; retrying in {:.1}s",
                range.start,
                range.end - 1,
                wait.as_secs_f64()
            ));
            tokio::time::sleep(wait).await;
        }
        launch
    }

    fn request(
        &self,
        range: &Range<u32>,
        instance: Option<&str>,
        count: i32,
        spot: bool,
        token: &str,
    ) -> aws_sdk_ecs::operation::run_task::builders::RunTaskFluentBuilder {
        let manifest = self.manifest;
        let settings = self.settings;
        let mut env = vec![
            ("LOADGRID_RUN_ID", manifest.run_id.clone()),
            ("LOADGRID_STORE", self.store_url.to_owned()),
            ("LOADGRID_SHARD_RANGE", format!("{}-{}", range.start, range.end - 1)),
            ("AWS_REGION", self.region.to_owned()),
            ("NO_COLOR", "1".to_owned()),
        ];
        if instance.is_some() {
            // Tasks on one instance share its host network: each k6 takes
            // a free port for its REST API.
            env.push(("LOADGRID_K6_ADDRESS", "127.0.0.1:0".to_owned()));
        }
        let container = env.iter().fold(ContainerOverride::builder().name(self.container), |c, (name, value)| {
            c.environment(KeyValuePair::builder().name(*name).value(value).build())
        });
        let mut overrides = TaskOverride::builder().container_overrides(container.build());
        if let Some(cpu) = settings.cpu {
            overrides = overrides.cpu(cpu.to_string());
        }
        if let Some(memory) = settings.memory {
            overrides = overrides.memory(memory.to_string());
        }
        let tags = [
            (TAG_RUN_ID, manifest.run_id.clone()),
            (TAG_TEST, manifest.test_name.clone()),
            (TAG_SHARDS, format!("{}-{}", range.start, range.end - 1)),
        ];
        let mut request = self
            .ecs
            .run_task()
            .cluster(&settings.cluster)
            .task_definition(&settings.task_definition)
            .count(count)
            .started_by(super::started_by(&manifest.run_id))
            .group(super::group(&manifest.run_id))
            .client_token(token)
            .overrides(overrides.build())
            .propagate_tags(PropagateTags::TaskDefinition)
            .enable_ecs_managed_tags(true);
        for (key, value) in tags {
            request = request.tags(Tag::builder().key(key).value(value).build());
        }
        if let Some(instance) = instance {
            // The pool's task definition uses the host network: the task's
            // egress is the instance's Elastic IP.
            let on_instance = PlacementConstraint::builder()
                .r#type(PlacementConstraintType::MemberOf)
                .expression(format!("ec2InstanceId == {instance}"))
                .build();
            return request.launch_type(LaunchType::Ec2).placement_constraints(on_instance);
        }
        let network = AwsVpcConfiguration::builder()
            .set_subnets(Some(settings.subnets.clone()))
            .set_security_groups(Some(settings.security_groups.clone()))
            .assign_public_ip(if settings.assign_public_ip {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .expect("subnets are set");
        request = request.network_configuration(NetworkConfiguration::builder().awsvpc_configuration(network).build());
        if spot {
            let strategy = CapacityProviderStrategyItem::builder()
                .capacity_provider("FARGATE_SPOT")
                .weight(1)
                .build()
                .expect("provider and weight are set");
            request.capacity_provider_strategy(strategy)
        } else {
            request.launch_type(LaunchType::Fargate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_at_most_ten_shards() {
        let ranges = |batches: Vec<Batch>| batches.into_iter().map(|b| b.range).collect::<Vec<_>>();
        assert_eq!(ranges(batches(25)), vec![0..10, 10..20, 20..25]);
        assert_eq!(ranges(batches(10)), vec![0..10]);
        assert_eq!(ranges(batches(1)), vec![0..1]);
        assert_eq!(batches(100).len(), 10);
    }

    #[test]
    fn pool_batches_give_each_instance_its_own_consecutive_shards() {
        let placed: BTreeMap<String, u32> = [("i-a".to_owned(), 12), ("i-b".to_owned(), 3)].into_iter().collect();
        let on = |instance: &str, range: Range<u32>| Batch { range, instance: Some(instance.to_owned()) };
        assert_eq!(pool_batches(&placed), vec![on("i-a", 0..10), on("i-a", 10..12), on("i-b", 12..15)]);
    }

    #[test]
    fn capacity_failures_are_retryable_and_config_errors_are_not() {
        assert_eq!(
            classify_failure("Capacity is unavailable at this time. Please try again later"),
            FailureKind::Capacity
        );
        assert_eq!(classify_failure("RESOURCE:MEMORY"), FailureKind::Capacity);
        assert_eq!(classify_failure("MISSING"), FailureKind::Permanent);
        assert_eq!(classify_failure("ATTRIBUTE"), FailureKind::Permanent);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        assert_eq!(backoff(0, 1.0), BACKOFF_BASE);
        assert_eq!(backoff(3, 1.0), BACKOFF_BASE * 8);
        assert_eq!(backoff(30, 1.0), BACKOFF_CAP);
        assert_eq!(backoff(3, 0.0), Duration::ZERO);
        assert!(backoff(3, 0.5) < backoff(3, 1.0));
    }
}
