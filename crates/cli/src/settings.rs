//! Configuration layers resolved into what a command needs:
//! `loadgrid.toml` < `LOADGRID_*` environment < flags.

use std::path::{Path, PathBuf};

use loadgrid_grid::history::{Baseline, RegressionSettings};
use loadgrid_grid::input_error;
use loadgrid_grid::prepare::RunRequest;
use loadgrid_infra::InfraSpec;
use loadgrid_k6::{Overrides, K6};
use loadgrid_plan::manifest::Timing;
use loadgrid_plan::{BackendKind, FileConfig};
use loadgrid_store::Store;
use loadgrid_thresholds::{Origin, Threshold};

use loadgrid_aws::ecs::{Capacity, EcsSettings, DEFAULT_CONTAINER};
use loadgrid_aws::{AwsContext, AwsSettings};
use loadgrid_plan::config::CapacityKind;

use crate::cli::{EcsArgs, GlobalArgs, RunArgs};

pub const DEFAULT_STORE: &str = ".loadgrid";
const DEFAULT_MAX_SERIES_PER_METRIC: usize = 200;

pub struct Settings {
    pub config: FileConfig,
    pub global: GlobalArgs,
    /// Local store directories this process created: removed again at
    /// the end if nothing was written in them, so that a refused command
    /// leaves no empty `.loadgrid/` behind.
    created_stores: std::sync::Mutex<Vec<std::path::PathBuf>>,
}

impl Settings {
    /// Reads the config file: the one named by `--config`/`LOADGRID_CONFIG`
    /// (which must exist), else the nearest `loadgrid.toml`, else none.
    pub fn load(global: GlobalArgs) -> anyhow::Result<Settings> {
        let path = match &global.config {
            Some(path) => Some(path.clone()),
            None => std::env::current_dir().ok().and_then(|dir| FileConfig::find(&dir)),
        };
        let config = match path {
            Some(path) => FileConfig::load(&path).map_err(|e| input_error(e.to_string()))?,
            None => FileConfig::default(),
        };
        Ok(Settings { config, global, created_stores: Default::default() })
    }

    /// The store URL in effect: flag, environment, config, else `.loadgrid`.
    pub fn store_url(&self) -> String {
        let url = self.global.store.clone().or_else(|| self.config.store.clone());
        let url = match (url, &self.config.path) {
            (Some(url), Some(config_path)) if self.global.store.is_none() && is_relative_dir(&url) => {
                // A store named in loadgrid.toml is relative to that file, not to where loadgrid runs.
                config_path.parent().unwrap_or(Path::new(".")).join(url).display().to_string()
            }
            (Some(url), _) => url,
            (None, _) => DEFAULT_STORE.to_owned(),
        };
        url
    }

    /// Opens the store: a directory, or `s3://bucket/prefix` through AWS
    /// (whose bucket is checked, so that a bad name fails before a run).
    pub async fn store(&self) -> anyhow::Result<Store> {
        let url = self.store_url();
        if url.starts_with("s3://") {
            let aws = self.aws().await?;
            let store = loadgrid_aws::s3::open(&aws, &url).map_err(|e| input_error(format!("{e:#}")))?;
            loadgrid_aws::s3::check_bucket(&store).await.map_err(|e| input_error(e.to_string()))?;
            return Ok(store);
        }
        let dir = std::path::PathBuf::from(url.strip_prefix("file://").unwrap_or(&url));
        let new = !dir.exists();
        let store = Store::open(&url).map_err(|e| input_error(e.to_string()))?;
        if new {
            self.created_stores.lock().expect("created stores lock").push(dir);
        }
        Ok(store)
    }

    /// Removes the store directories this process created and left empty.
    pub fn remove_unused_stores(&self) {
        for dir in self.created_stores.lock().expect("created stores lock").drain(..) {
            // Only an empty directory is removed.
            let _ = std::fs::remove_dir(&dir);
        }
    }

    pub fn aws_settings(&self) -> AwsSettings {
        let flags = &self.global.aws;
        let file = &self.config.aws;
        AwsSettings {
            region: flags.region.clone().or_else(|| file.region.clone()),
            profile: flags.profile.clone().or_else(|| file.profile.clone()),
            endpoint_url: flags.endpoint_url.clone().or_else(|| file.endpoint_url.clone()),
            max_attempts: flags.max_attempts.or(file.max_attempts),
        }
    }

    /// Credentials and region, checked against AWS (STS): no credentials,
    /// rejected ones and an unreachable endpoint all fail here, as input errors.
    pub async fn aws(&self) -> anyhow::Result<AwsContext> {
        let aws = AwsContext::load(&self.aws_settings()).await.map_err(|e| input_error(format!("{e:#}")))?;
        aws.verify().await.map_err(|e| input_error(format!("{e:#}")))?;
        Ok(aws)
    }

    /// `--backend`, else `backend` in loadgrid.toml, else `local`.
    pub fn backend(&self, args: &RunArgs) -> anyhow::Result<BackendKind> {
        match args.backend.as_ref().or(self.config.backend.as_ref()) {
            Some(name) => name.parse().map_err(input_error),
            None => Ok(BackendKind::Local),
        }
    }

    /// ECS settings: flags, then `[ecs]`, then the outputs of `[ecs] stack`.
    pub async fn ecs_settings(
        &self,
        aws: &AwsContext,
        flags: &EcsArgs,
        run: Option<&RunArgs>,
    ) -> anyhow::Result<EcsSettings> {
        let file = &self.config.ecs;
        let mut settings = EcsSettings {
            cluster: flags.cluster.clone().or_else(|| file.cluster.clone()).unwrap_or_default(),
            task_definition: flags.task_definition.clone().or_else(|| file.task_definition.clone()).unwrap_or_default(),
            container: file.container.clone().unwrap_or_else(|| DEFAULT_CONTAINER.to_owned()),
            subnets: if flags.subnets.is_empty() { file.subnets.clone() } else { flags.subnets.clone() },
            security_groups: if flags.security_groups.is_empty() {
                file.security_groups.clone()
            } else {
                flags.security_groups.clone()
            },
            assign_public_ip: file.assign_public_ip.unwrap_or(false),
            spot: run.is_some_and(|r| r.spot) || file.spot.unwrap_or(false),
            cpu: run.and_then(|r| r.cpu).or(file.cpu),
            memory: run.and_then(|r| r.memory).or(file.memory),
            capacity: Capacity::Fargate,
        };
        let (stack, outputs) = match (&file.stack, &file.terraform_outputs) {
            (Some(_), Some(_)) => {
                return Err(input_error(
                    "[ecs] sets both `stack` and `terraform_outputs`: keep the one that describes your deployment",
                ))
            }
            (None, Some(path)) => (Some(path.clone()), terraform_outputs(path)?),
            (Some(stack), None) => (Some(stack.clone()), loadgrid_aws::stack::outputs(aws, stack).await?),
            (None, None) => match &self.config.infra.stack {
                Some(stack) => (Some(stack.clone()), loadgrid_aws::stack::outputs(aws, stack).await?),
                None => (None, Default::default()),
            },
        };
        let stack = stack.as_ref();
        loadgrid_aws::stack::fill_ecs_settings(&mut settings, &outputs, file.assign_public_ip.is_some());
        let wanted =
            [run.and_then(|r| r.capacity.as_deref()), file.capacity.as_deref(), self.config.infra.capacity.as_deref()]
                .into_iter()
                .flatten()
                .next()
                .map(|text| text.parse::<CapacityKind>().map_err(|e| input_error(format!("{e} (in [ecs] or [infra])"))))
                .transpose()?;
        settings.capacity = match loadgrid_aws::stack::capacity(stack.map(String::as_str), &outputs, wanted) {
            Ok(capacity) => capacity,
            Err(error) if run.is_some() => return Err(error),
            // `ps` and `stop` work on whatever the stack has.
            Err(_) => Capacity::Fargate,
        };
        Ok(settings)
    }

    /// Baseline and regression rules: `--baseline`, then `[regression]`.
    pub fn regression(&self, baseline_flag: Option<&str>) -> anyhow::Result<RegressionSettings> {
        let section = &self.config.regression;
        let fail = match section.on_regression.as_deref().unwrap_or("fail") {
            "fail" => true,
            "warn" => false,
            other => {
                return Err(input_error(format!(
                    "[regression] on_regression = `{other}`: use `fail` (exit 98) or `warn`"
                )))
            }
        };
        let rules = if section.rules.is_empty() {
            loadgrid_history::regression::default_rules()
        } else {
            loadgrid_history::regression::parse_rules(&section.rules)
                .map_err(|e| input_error(format!("in [regression.rules]: {e}")))?
        };
        let baseline = baseline_flag.map(str::to_owned).or_else(|| section.baseline.clone());
        if let Some(id) = baseline.as_deref().filter(|b| *b != "last-pass") {
            if !loadgrid_grid::run_id::is_valid(id) {
                return Err(input_error(format!(
                    "baseline `{id}` is neither `last-pass` nor a run id; `loadgrid history` lists the recorded runs"
                )));
            }
        }
        Ok(RegressionSettings { baseline: baseline.as_deref().map(Baseline::parse), rules, fail })
    }

    /// List prices with `[cost]` laid over them.
    pub fn prices(&self) -> anyhow::Result<loadgrid_cost::Prices> {
        let overrides = match &self.config.cost {
            None => None,
            Some(table) => Some(
                table
                    .clone()
                    .try_into::<loadgrid_cost::Prices>()
                    .map_err(|e| input_error(format!("in [cost]: {e}")))?,
            ),
        };
        let prices = loadgrid_cost::Prices::with_overrides(overrides.as_ref());
        prices.check().map_err(|e| input_error(e.to_string()))?;
        Ok(prices)
    }

    /// `[infra]` validated: every error here comes before any AWS call.
    pub fn infra_spec(&self) -> anyhow::Result<InfraSpec> {
        let region = self.global.aws.region.clone().or_else(|| self.config.aws.region.clone());
        InfraSpec::from_section(&self.config.infra, region.as_deref()).map_err(|e| input_error(e.to_string()))
    }

    /// AWS for the stack's region (`[infra] region` wins over `[aws]`), checked.
    /// Returns the account id too.
    pub async fn infra_aws(&self, spec: &InfraSpec) -> anyhow::Result<(AwsContext, String)> {
        let mut aws_settings = self.aws_settings();
        if !spec.region.is_empty() {
            aws_settings.region = Some(spec.region.clone());
        }
        let aws = AwsContext::load(&aws_settings).await.map_err(|e| input_error(format!("{e:#}")))?;
        let account = aws.verify().await.map_err(|e| input_error(format!("{e:#}")))?;
        Ok((aws, account))
    }

    pub fn k6(&self) -> anyhow::Result<K6> {
        let env = std::env::var_os("LOADGRID_K6").filter(|v| !v.is_empty());
        let flag = self.global.k6.clone().or_else(|| if env.is_none() { self.config.k6.clone() } else { None });
        loadgrid_k6::discover(flag.as_deref(), env, std::env::var_os("PATH")).map_err(|e| input_error(e.to_string()))
    }

    /// The config file's thresholds followed by the flags'.
    pub fn thresholds(&self, flags: &[String]) -> anyhow::Result<Vec<Threshold>> {
        let mut thresholds = loadgrid_thresholds::from_json(&self.config.thresholds_json(), Origin::Config)
            .map_err(|e| input_error(format!("in the config's [thresholds]: {}", e.render())))?;
        for flag in flags {
            thresholds.push(loadgrid_thresholds::parse_flag(flag).map_err(|e| input_error(e.render()))?);
        }
        Ok(thresholds)
    }

    pub fn run_request(&self, args: &RunArgs) -> anyhow::Result<RunRequest> {
        let run = &self.config.run;
        let mut env: Vec<(String, String)> = run.env.clone().into_iter().collect();
        upsert(&mut env, &args.env);
        let mut tags: Vec<(String, String)> = run.tags.clone().into_iter().collect();
        upsert(&mut tags, &args.tags);
        let backend = self.backend(args)?;
        let remote = backend.is_remote() || self.store_url().starts_with("s3://");
        let mut timing = if remote { Timing::remote() } else { Timing::local() };
        if let Some(timeout) = args.heartbeat_timeout.as_ref().or(run.heartbeat_timeout.as_ref()) {
            let timeout = loadgrid_thresholds::parse_duration(timeout)
                .map_err(|e| input_error(format!("heartbeat timeout: {e}")))?;
            timing.heartbeat_timeout_ms = Some(timeout.as_millis() as u64);
        }
        if let Some(timeout) = args.start_timeout.as_ref().or(run.start_timeout.as_ref()) {
            let timeout =
                loadgrid_thresholds::parse_duration(timeout).map_err(|e| input_error(format!("start timeout: {e}")))?;
            if timeout.is_zero() {
                return Err(input_error("the start timeout must be longer than 0s"));
            }
            timing.start_timeout_ms = timeout.as_millis() as u64;
        }
        if args.detach {
            // A detached run has no watcher: its shards end on their own deadline.
            timing.heartbeat_timeout_ms = None;
        }
        let mut secrets = run.secrets.clone();
        secrets.extend(args.secrets.iter().cloned());
        if let Some(name) = secrets.keys().find(|name| env.iter().any(|(key, _)| key == *name)) {
            return Err(input_error(format!("`{name}` is both an --env variable and a --secret; keep one")));
        }
        if let Some(window) = &run.upload_window {
            let window = loadgrid_thresholds::parse_duration(window)
                .map_err(|e| input_error(format!("[run] upload_window: {e}")))?;
            timing.upload_window_ms = window.as_millis() as u64;
        }
        if let Some(grace) = &run.grace {
            let grace =
                loadgrid_thresholds::parse_duration(grace).map_err(|e| input_error(format!("[run] grace: {e}")))?;
            timing.grace_ms = grace.as_millis() as u64;
        }
        Ok(RunRequest {
            script: args.script.clone(),
            test_name: args.name.clone(),
            shards: args.shards.or(run.shards),
            overrides: Overrides {
                vus: args.vus.or(run.vus),
                duration: args.duration.clone().or_else(|| run.duration.clone()),
                iterations: args.iterations.or(run.iterations),
                env,
                tags,
            },
            thresholds: self.thresholds(&args.thresholds)?,
            extra_system_tags: run.system_tags.clone(),
            timing,
            allow_partial: args.allow_partial || run.allow_partial.unwrap_or(false),
            max_series_per_metric: run.max_series_per_metric.unwrap_or(DEFAULT_MAX_SERIES_PER_METRIC),
            backend,
            secrets,
            health: self.health_limits(args.on_saturation.as_deref())?,
        })
    }

    fn config_file_label(&self) -> String {
        self.config
            .path
            .as_ref()
            .map_or_else(|| loadgrid_plan::config::FILE_NAME.to_owned(), |p| p.display().to_string())
    }

    /// `[health]`, with `--on-saturation` over its `on_saturation`.
    fn health_limits(&self, on_saturation_flag: Option<&str>) -> anyhow::Result<loadgrid_health::Limits> {
        let section = &self.config.health;
        let defaults = loadgrid_health::Limits::default();
        let on_saturation = match on_saturation_flag.or(section.on_saturation.as_deref()) {
            None => defaults.on_saturation,
            Some(text) => loadgrid_health::OnSaturation::parse(text).ok_or_else(|| {
                input_error(format!(
                    "on_saturation = `{text}`: use `warn` (say so, keep the verdict) or `fail` (exit 97)"
                ))
            })?,
        };
        let limits = loadgrid_health::Limits {
            cpu_percent: section.cpu_percent.unwrap_or(defaults.cpu_percent),
            cpu_time_percent: section.cpu_time_percent.unwrap_or(defaults.cpu_time_percent),
            memory_percent: section.memory_percent.unwrap_or(defaults.memory_percent),
            on_saturation,
        };
        limits.check().map_err(|e| input_error(format!("{e}; fix it in {}", self.config_file_label())))?;
        Ok(limits)
    }
}

fn is_relative_dir(url: &str) -> bool {
    !url.contains("://") && PathBuf::from(url).is_relative()
}

/// Later values replace earlier ones with the same key.
fn upsert(pairs: &mut Vec<(String, String)>, later: &[(String, String)]) {
    for (key, value) in later {
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(existing) => existing.1 = value.clone(),
            None => pairs.push((key.clone(), value.clone())),
        }
    }
}

/// `[ecs] terraform_outputs`: the file `terraform output -json` wrote, read
/// as the stack's outputs.
pub fn terraform_outputs(path: &str) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        input_error(format!(
            "cannot read [ecs] terraform_outputs `{path}`: {e}. Next step: `terraform output -json > {path}` in the \
             root module that uses loadgrid's module"
        ))
    })?;
    loadgrid_infra::terraform::outputs_from_json(&text)
        .map_err(|e| input_error(format!("[ecs] terraform_outputs `{path}`: {e}")))
}
