//! The script's options as `k6 inspect --execution-requirements` reports them
//! for the archive every shard will run (so CLI overrides are already in).

use std::time::Duration;

use serde::Deserialize;

use loadgrid_thresholds::parse_duration;

#[derive(Debug, Clone)]
pub struct ScriptOptions {
    pub scenarios: Vec<Scenario>,
    /// k6's `options.thresholds` object, as written in the script.
    pub thresholds: serde_json::Value,
    /// k6's own estimate of the longest the test can take, graceful stops included.
    pub total_duration: Duration,
    pub max_vus: u64,
    pub setup_timeout: Duration,
    pub teardown_timeout: Duration,
    /// `summaryTrendStats`, for `handleSummary`'s data (k6's default when
    /// the script sets none).
    pub summary_trend_stats: Vec<String>,
    /// `summaryTimeUnit`; empty when unset.
    pub summary_time_unit: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub executor: String,
    pub vus: Option<u64>,
    pub iterations: Option<u64>,
    pub pre_allocated_vus: Option<u64>,
    pub max_vus: Option<u64>,
    pub start_vus: Option<u64>,
    /// The highest `target` among `stages`.
    pub peak_target: Option<u64>,
}

impl Scenario {
    /// The most VUs this scenario runs at once: what k6 spreads over the
    /// shards' execution segments.
    pub fn vus_at_most(&self) -> u64 {
        match self.executor.as_str() {
            "constant-arrival-rate" | "ramping-arrival-rate" | "externally-controlled" => {
                self.max_vus.or(self.pre_allocated_vus).unwrap_or(0).max(self.pre_allocated_vus.unwrap_or(0))
            }
            "ramping-vus" => self.peak_target.unwrap_or(0).max(self.start_vus.unwrap_or(1)),
            _ => self.vus.unwrap_or(1),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOptions {
    #[serde(default)]
    scenarios: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    thresholds: Option<serde_json::Value>,
    total_duration: Option<String>,
    #[serde(rename = "maxVUs")]
    max_vus: Option<u64>,
    setup_timeout: Option<String>,
    teardown_timeout: Option<String>,
    summary_trend_stats: Option<Vec<String>>,
    summary_time_unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawScenario {
    executor: String,
    vus: Option<u64>,
    iterations: Option<u64>,
    #[serde(rename = "preAllocatedVUs")]
    pre_allocated_vus: Option<u64>,
    #[serde(rename = "maxVUs")]
    max_vus: Option<u64>,
    #[serde(rename = "startVUs")]
    start_vus: Option<u64>,
    stages: Option<Vec<RawStage>>,
}

#[derive(Deserialize)]
struct RawStage {
    target: Option<u64>,
}

/// Reads `k6 inspect --execution-requirements` output.
pub fn parse(json: &str) -> Result<ScriptOptions, String> {
    let raw: RawOptions =
        serde_json::from_str(json).map_err(|e| format!("unexpected `k6 inspect` output ({e}); is this k6 too old?"))?;
    let parse_duration = |field: &str, value: Option<String>, default: Duration| -> Result<Duration, String> {
        value.map_or(Ok(default), |text| parse_duration(&text).map_err(|e| format!("k6 option `{field}`: {e}")))
    };
    let mut scenarios = Vec::new();
    for (name, value) in raw.scenarios.unwrap_or_default() {
        let scenario: RawScenario =
            serde_json::from_value(value).map_err(|e| format!("scenario `{name}` in `k6 inspect` output: {e}"))?;
        scenarios.push(Scenario {
            name,
            executor: scenario.executor,
            vus: scenario.vus,
            iterations: scenario.iterations,
            pre_allocated_vus: scenario.pre_allocated_vus,
            max_vus: scenario.max_vus,
            start_vus: scenario.start_vus,
            peak_target: scenario.stages.and_then(|stages| stages.iter().filter_map(|s| s.target).max()),
        });
    }
    Ok(ScriptOptions {
        scenarios,
        thresholds: raw.thresholds.unwrap_or(serde_json::Value::Null),
        total_duration: parse_duration("totalDuration", raw.total_duration, Duration::ZERO)?,
        max_vus: raw.max_vus.unwrap_or(0),
        setup_timeout: parse_duration("setupTimeout", raw.setup_timeout, Duration::from_secs(60))?,
        teardown_timeout: parse_duration("teardownTimeout", raw.teardown_timeout, Duration::from_secs(60))?,
        summary_trend_stats: raw.summary_trend_stats.unwrap_or_else(default_trend_stats),
        summary_time_unit: raw.summary_time_unit.unwrap_or_default(),
    })
}

/// k6's `summaryTrendStats` when a script sets none.
pub fn default_trend_stats() -> Vec<String> {
    ["avg", "min", "med", "max", "p(90)", "p(95)"].map(str::to_owned).to_vec()
}

/// Whether options as the script sets them (`k6 inspect` without
/// execution requirements) use the `iterations` or `duration` shortcut
/// without VUs, stages or scenarios: `k6 run` gives those one VU.
pub fn needs_default_vu(declared: &str) -> bool {
    let Ok(options) = serde_json::from_str::<serde_json::Value>(declared) else { return false };
    let set = |field: &str| options.get(field).is_some_and(|value| !value.is_null());
    (set("iterations") || set("duration")) && !set("vus") && !set("stages") && !set("scenarios")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_without_vus_get_k6_run_s_one_vu() {
        assert!(needs_default_vu(r#"{"vus":null,"iterations":3,"duration":null,"stages":null,"scenarios":null}"#));
        assert!(needs_default_vu(r#"{"vus":null,"duration":"10s"}"#));
        assert!(!needs_default_vu(r#"{"vus":2,"iterations":3}"#));
        assert!(!needs_default_vu(r#"{"iterations":3,"scenarios":{"a":{}}}"#));
        assert!(!needs_default_vu(r#"{"vus":null,"iterations":null}"#));
        assert!(!needs_default_vu("not json"));
    }

    #[test]
    fn reads_scenarios_and_requirements() {
        let json = r#"{"scenarios":{"a":{"executor":"constant-arrival-rate","rate":10,"maxVUs":6,"preAllocatedVUs":3},
            "b":{"executor":"ramping-vus","stages":[{"duration":"2s","target":5},{"duration":"1s","target":2}]}},
            "thresholds":{"http_req_duration":["p(95)<500"]},"totalDuration":"10m30s","maxVUs":13,"setupTimeout":null}"#;
        let options = parse(json).unwrap();
        assert_eq!(options.total_duration, Duration::from_secs(630));
        assert_eq!(options.max_vus, 13);
        assert_eq!(options.scenarios[1].peak_target, Some(5));
        assert_eq!(options.setup_timeout, Duration::from_secs(60));
        assert_eq!(options.thresholds["http_req_duration"][0], "p(95)<500");
        assert_eq!(options.summary_trend_stats, default_trend_stats());
        let custom = parse(r#"{"summaryTrendStats":["avg","p(99.9)"],"summaryTimeUnit":"ms"}"#).unwrap();
        assert_eq!((custom.summary_trend_stats.len(), custom.summary_time_unit.as_str()), (2, "ms"));
    }
}
