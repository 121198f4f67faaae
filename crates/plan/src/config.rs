//! `loadgrid.toml`: the lowest configuration layer.
//!
//! ```toml
//! store = ".loadgrid"            # or s3://bucket/prefix
//! k6 = "/usr/local/bin/k6"
//!
//! [run]
//! shards = 4
//! env = { BASE_URL = "https://staging.example.com" }
//! tags = { team = "checkout" }
//! grace = "30s"                  # deadline slack past the script's total duration
//!
//! [health]                       # when a shard's load generator counts as saturated
//! on_saturation = "fail"         # default "warn"
//!
//! [thresholds]
//! "http_req_duration{name:login}" = ["p(95)<300"]
//! http_req_failed = [{ threshold = "rate<0.01", abortOnFail = true }]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const FILE_NAME: &str = "loadgrid.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub store: Option<String>,
    pub k6: Option<PathBuf>,
    /// `local` (default), `docker` or `ecs`.
    pub backend: Option<String>,
    #[serde(default)]
    pub run: RunSection,
    #[serde(default)]
    pub aws: AwsSection,
    #[serde(default)]
    pub ecs: EcsSection,
    #[serde(default)]
    pub docker: DockerSection,
    #[serde(default)]
    pub infra: InfraSection,
    #[serde(default)]
    pub regression: RegressionSection,
    #[serde(default)]
    pub health: HealthSection,
    /// Price overrides for `loadgrid cost` and run costs (see `loadgrid-cost`),
    /// checked there.
    #[serde(default)]
    pub cost: Option<toml::Table>,
    /// Same shape as k6's `options.thresholds`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, serde_json::Value>,
    /// Where the file was read from, for messages.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub shards: Option<u32>,
    pub vus: Option<u64>,
    pub duration: Option<String>,
    pub iterations: Option<u64>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Extra k6 system tags to keep beyond loadgrid's lean default set.
    #[serde(default)]
    pub system_tags: Vec<String>,
    pub grace: Option<String>,
    pub allow_partial: Option<bool>,
    pub max_series_per_metric: Option<usize>,
    /// Agents stop their shard when the orchestrator's heartbeat is older
    /// than this (runs started with `--detach` have none).
    pub heartbeat_timeout: Option<String>,
    pub start_timeout: Option<String>,
    /// How long agents keep retrying to upload their results when the
    /// store does not answer.
    pub upload_window: Option<String>,
    /// k6 environment variables read from Secrets Manager by each agent:
    /// `NAME = "secret-id"`.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

/// How to reach AWS; the SDK's credential chain does the rest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSection {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub max_attempts: Option<u32>,
}

/// Where ECS shards run. Any field left out is read from the CloudFormation
/// stack named by `stack` (see `loadgrid infra`), when there is one.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsSection {
    pub stack: Option<String>,
    /// `terraform output -json` of loadgrid's Terraform module, read as
    /// `stack`'s outputs are: the alternative for a Terraform shop.
    pub terraform_outputs: Option<String>,
    pub cluster: Option<String>,
    /// Family (latest active revision), `family:revision` or ARN.
    pub task_definition: Option<String>,
    /// The runner container's name in the task definition (default `loadgrid`).
    pub container: Option<String>,
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    pub assign_public_ip: Option<bool>,
    /// FARGATE_SPOT, falling back to FARGATE on capacity errors.
    pub spot: Option<bool>,
    /// Task size override, in CPU units (1024 = 1 vCPU) and MiB.
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
    /// Above this many tasks, a launch must be approved (`--yes`, or on the
    /// terminal). Default 100.
    pub max_tasks: Option<u32>,
    /// `fargate` or `ec2` (the stack's pool); default: `[infra] capacity`,
    /// else what the stack has.
    pub capacity: Option<String>,
}

/// What ECS tasks run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityKind {
    Fargate,
    /// A pool of EC2 instances with Elastic IPs, started around runs.
    Ec2,
}

impl CapacityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityKind::Fargate => "fargate",
            CapacityKind::Ec2 => "ec2",
        }
    }
}

impl std::str::FromStr for CapacityKind {
    type Err = String;

    fn from_str(text: &str) -> Result<CapacityKind, String> {
        match text {
            "fargate" => Ok(CapacityKind::Fargate),
            "ec2" => Ok(CapacityKind::Ec2),
            other => Err(format!("`capacity` = `{other}`: use `fargate` or `ec2`")),
        }
    }
}

/// The docker backend: shards as containers of the runner image here.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSection {
    /// Default `loadgrid-runner:<version>`, what `loadgrid image build` tags.
    pub image: Option<String>,
}

/// Judging a run against an earlier one.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegressionSection {
    /// `last-pass` or a run id; unset: no baseline unless `--baseline`.
    pub baseline: Option<String>,
    /// `fail` (default: exit 98) or `warn` (report, keep the exit code).
    pub on_regression: Option<String>,
    /// `"metric.statistic" = "+10%"` (default: p95 +10%, error rate +0.5pp, RPS -10%).
    #[serde(default)]
    pub rules: BTreeMap<String, String>,
}

/// When a shard's load generator counts as saturated (see `loadgrid-health`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSection {
    /// A second is CPU-saturated at or above this percentage of the shard's CPU (default 90).
    pub cpu_percent: Option<f64>,
    /// A shard is saturated when more than this percentage of its test's seconds were (default 10).
    pub cpu_time_percent: Option<f64>,
    /// A shard is saturated when its memory reaches this percentage of its limit (default 90).
    pub memory_percent: Option<f64>,
    /// `warn` (default) or `fail` (verdict `generator_saturated`, exit 97).
    pub on_saturation: Option<String>,
}

/// The AWS footprint `loadgrid infra` deploys, as written in the file;
/// `loadgrid-infra` validates it into a spec.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfraSection {
    /// CloudFormation stack name (default `loadgrid`).
    pub stack: Option<String>,
    /// Region of the stack (default: `[aws] region`, then the SDK's).
    pub region: Option<String>,
    /// Prefix of every default resource name (default `loadgrid`).
    pub prefix: Option<String>,
    /// `default-vpc` (default), `public`, `static-ip` or `existing`.
    pub network: Option<String>,
    /// `static-ip`: one NAT gateway (and egress IP) per AZ instead of one.
    pub nat_per_az: Option<bool>,
    /// `public` and `static-ip`: the new VPC's CIDR block.
    pub vpc_cidr: Option<String>,
    /// `existing`: the tasks' subnets and security group.
    #[serde(default)]
    pub subnets: Vec<String>,
    pub security_group: Option<String>,
    /// What the tasks run on: `fargate` (default) or `ec2`, a pool of
    /// instances with an Elastic IP each, started for a run and stopped after.
    pub capacity: Option<String>,
    /// `ec2`: how many instances (default 2) and their type (default `t3.xlarge`).
    pub instances: Option<u32>,
    pub instance_type: Option<String>,
    /// Task size in CPU units and MiB (default 1024 / 2048).
    pub task_cpu: Option<u32>,
    pub task_memory: Option<u32>,
    /// Runner image: default the released public image of loadgrid's
    /// version; `ecr` the stack's repository (for `loadgrid image push`);
    /// else any image reference.
    pub image: Option<String>,
    pub log_retention_days: Option<u32>,
    /// Run data under `runs/` expires after this many days (default 90).
    pub results_retention_days: Option<u32>,
    /// Email subscribed to the alerts topic.
    pub alert_email: Option<String>,
    /// Cost allocation tags, applied to every resource.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub names: InfraNames,
    #[serde(default)]
    pub ci: CiSection,
}

/// Exact resource names, for teams whose naming is prescribed. `{account}`
/// and `{region}` stand for the account id and region.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfraNames {
    pub bucket: Option<String>,
    pub cluster: Option<String>,
    pub log_group: Option<String>,
    pub repository: Option<String>,
    pub task_family: Option<String>,
    pub execution_role: Option<String>,
    pub task_role: Option<String>,
    pub ci_role: Option<String>,
    pub ci_user: Option<String>,
    pub security_group: Option<String>,
    pub topic: Option<String>,
    pub dashboard: Option<String>,
    /// The EC2 pool's instance role and profile.
    pub pool_role: Option<String>,
}

/// The identity CI runs as.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiSection {
    /// `github-oidc` (default when `repository` is set), `iam-user` or `none`.
    pub mode: Option<String>,
    /// The one GitHub repository trusted, `owner/repo`.
    pub repository: Option<String>,
    /// Narrow the trust to these branches ...
    #[serde(default)]
    pub branches: Vec<String>,
    /// ... or these deployment environments.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Reuse the account's GitHub OIDC provider instead of creating one.
    pub oidc_provider_arn: Option<String>,
    /// Let CI register new revisions of the task family (image swaps).
    pub image_swaps: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {cause}; make it a readable file, or name another with --config")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("invalid config file `{path}`:\n{message}")]
    Parse { path: PathBuf, message: String },
}

impl FileConfig {
    /// Finds `loadgrid.toml` in `start` or the nearest parent directory.
    /// Whatever has that name counts: one that is not a readable file is
    /// an error when loaded, not skipped for a config further up.
    pub fn find(start: &Path) -> Option<PathBuf> {
        start.ancestors().map(|dir| dir.join(FILE_NAME)).find(|candidate| candidate.exists())
    }

    /// Reads a config file. A file that exists but cannot be read or parsed
    /// is an error, never silently ignored.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read { path: path.into(), cause })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Parse { path: path.into(), message })?;
        config.path = Some(path.to_owned());
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<FileConfig, String> {
        // toml's messages carry the line, a source snippet and a caret.
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The thresholds table in k6's JSON shape.
    pub fn thresholds_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.thresholds.clone().into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_section() {
        let config = FileConfig::parse(
            r#"
store = "out/store"
[run]
shards = 3
env = { BASE_URL = "http://127.0.0.1:8089" }
[thresholds]
"http_req_duration{name:login}" = ["p(95)<300", { threshold = "avg<100", abortOnFail = true }]
"#,
        )
        .unwrap();
        assert_eq!(config.run.shards, Some(3));
        assert_eq!(config.store.as_deref(), Some("out/store"));
        assert_eq!(config.thresholds_json()["http_req_duration{name:login}"][1]["abortOnFail"], true);
    }

    #[test]
    fn unknown_keys_and_bad_types_point_at_the_line() {
        let error = FileConfig::parse("[run]\nshards = \"four\"\n").unwrap_err();
        assert!(error.contains("line 2"), "{error}");
        let error = FileConfig::parse("[run]\nshardz = 4\n").unwrap_err();
        assert!(error.contains("shardz"), "{error}");
    }

    #[test]
    fn found_in_a_parent_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "").unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(FileConfig::find(&nested), Some(dir.path().join(FILE_NAME)));
    }
}
