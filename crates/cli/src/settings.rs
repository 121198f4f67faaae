//! Configuration layers resolved into what a command needs:
//! `loadgrid.toml` < `LOADGRID_*` environment < flags.

use std::path::{Path, PathBuf};

use loadgrid_grid::input_error;
use loadgrid_grid::prepare::RunRequest;
use loadgrid_k6::{Overrides, K6};
use loadgrid_plan::manifest::Timing;
use loadgrid_plan::FileConfig;
use loadgrid_store::Store;
use loadgrid_thresholds::{Origin, Threshold};

use crate::cli::{GlobalArgs, RunArgs};

pub const DEFAULT_STORE: &str = ".loadgrid";
const DEFAULT_MAX_SERIES_PER_METRIC: usize = 200;

pub struct Settings {
    pub config: FileConfig,
    pub global: GlobalArgs,
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
        Ok(Settings { config, global })
    }

    pub fn store(&self) -> anyhow::Result<Store> {
        let url = self.global.store.clone().or_else(|| self.config.store.clone());
        let url = match (url, &self.config.path) {
            (Some(url), Some(config_path)) if self.global.store.is_none() && is_relative_dir(&url) => {
                // A store named in loadgrid.toml is relative to that file, not to where loadgrid runs.
                config_path.parent().unwrap_or(Path::new(".")).join(url).display().to_string()
            }
            (Some(url), _) => url,
            (None, _) => DEFAULT_STORE.to_owned(),
        };
        Store::open(&url).map_err(|e| input_error(e.to_string()))
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
        let mut timing = Timing::local();
        if let Some(grace) = &run.grace {
            let grace =
                loadgrid_thresholds::parse_duration(grace).map_err(|e| input_error(format!("[run] grace: {e}")))?;
            timing.grace_ms = grace.as_millis() as u64;
        }
        Ok(RunRequest {
            script: args.script.clone(),
            test_name: args.name.clone(),
            shards: args.shards.or(run.shards).unwrap_or(1),
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
            backend: "local".into(),
            keep_k6_summary: args.keep_k6_summary,
        })
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
