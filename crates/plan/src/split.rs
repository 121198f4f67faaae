//! How a test is split into shards: k6 execution segments, and warnings
//! where the split will be uneven.

use crate::inspect::{Scenario, ScriptOptions};

/// The most shards a run may have. Every shard's k6 gets the whole
/// execution-segment sequence as one argument, which must stay well under
/// the kernel's 128 KiB per argument, and each shard is a task or a
/// process to launch, watch and merge.
pub const MAX_SHARDS: u32 = 5000;

/// The execution-segment sequence shared by every shard (`0,1/4,2/4,3/4,1`)
/// and each shard's own segment (`1/4:2/4`). Every shard must be given the
/// whole sequence, or k6 distributes VUs as if the segments were unrelated
/// and the totals come out wrong.
pub fn segments(shards: u32) -> (Vec<String>, String) {
    let point = |i: u32| match i {
        0 => "0".to_owned(),
        i if i == shards => "1".to_owned(),
        i => format!("{i}/{shards}"),
    };
    let segments = (0..shards).map(|i| format!("{}:{}", point(i), point(i + 1))).collect();
    let sequence = (0..=shards).map(point).collect::<Vec<_>>().join(",");
    (segments, sequence)
}

/// Problems that make a split impossible, and warnings where it is uneven.
#[derive(Debug, Default, PartialEq)]
pub struct SplitReport {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn check(options: &ScriptOptions, shards: u32) -> SplitReport {
    let mut report = SplitReport::default();
    let n = u64::from(shards);
    if shards == 0 {
        report.errors.push("`--shards` must be at least 1".into());
        return report;
    }
    if shards > MAX_SHARDS {
        report.errors.push(format!("`--shards` is {shards}: at most {MAX_SHARDS} shards make a grid"));
        return report;
    }
    if shards == 1 {
        return report;
    }
    let busiest = options.scenarios.iter().map(Scenario::vus_at_most).max().unwrap_or(options.max_vus);
    if busiest < n {
        report.errors.push(format!(
            "{shards} shards, but the busiest scenario has at most {busiest} VU{}: k6 would give {} shard{} no VU \
             at all, to start and pay for with nothing to do; use --shards {busiest} or fewer",
            if busiest == 1 { "" } else { "s" },
            n - busiest,
            if n - busiest == 1 { "" } else { "s" },
        ));
        return report;
    }
    let not_multiple = |value: Option<u64>| value.is_some_and(|v| v % n != 0);
    for scenario in &options.scenarios {
        let name = &scenario.name;
        match scenario.executor.as_str() {
            "externally-controlled" => report.errors.push(format!(
                "scenario `{name}` uses the externally-controlled executor, which cannot be split into shards; run it with --shards 1"
            )),
            "shared-iterations" | "per-vu-iterations" => {
                let vus = scenario.vus.unwrap_or(1);
                if vus < n {
                    report.warnings.push(format!(
                        "scenario `{name}` ({}) has {vus} VUs for {shards} shards: {} shards get no work from it",
                        scenario.executor,
                        n - vus
                    ));
                } else if vus % n != 0 {
                    report.warnings.push(format!(
                        "scenario `{name}`: {vus} VUs do not split evenly over {shards} shards; some shards run more"
                    ));
                }
                if scenario.executor == "shared-iterations" && not_multiple(scenario.iterations) {
                    report.warnings.push(format!(
                        "scenario `{name}`: {} iterations do not split evenly over {shards} shards",
                        scenario.iterations.unwrap_or(1)
                    ));
                }
            }
            "constant-arrival-rate" | "ramping-arrival-rate" => {
                for (field, value) in [("preAllocatedVUs", scenario.pre_allocated_vus), ("maxVUs", scenario.max_vus)] {
                    if not_multiple(value) {
                        report.warnings.push(format!(
                            "scenario `{name}`: {field} = {} is not a multiple of {shards}; arrival-rate executors split by VUs, so shards get uneven rates",
                            value.unwrap_or(0)
                        ));
                    }
                }
            }
            "constant-vus" if not_multiple(Some(scenario.vus.unwrap_or(1))) => {
                report.warnings.push(format!(
                    "scenario `{name}`: {} VUs do not split evenly over {shards} shards",
                    scenario.vus.unwrap_or(1)
                ));
            }
            "ramping-vus" if not_multiple(scenario.peak_target) || not_multiple(scenario.start_vus) => {
                report.warnings.push(format!(
                    "scenario `{name}`: stage targets or startVUs are not multiples of {shards}; shards ramp unevenly"
                ));
            }
            _ => {}
        }
    }
    if options.max_vus > 0 && options.max_vus < n {
        report.warnings.push(format!(
            "the test needs at most {} VUs but runs on {shards} shards: some shards will be idle",
            options.max_vus
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::Scenario;
    use std::time::Duration;

    fn options(scenarios: Vec<Scenario>) -> ScriptOptions {
        ScriptOptions {
            scenarios,
            thresholds: serde_json::Value::Null,
            total_duration: Duration::from_secs(10),
            max_vus: 100,
            setup_timeout: Duration::from_secs(60),
            teardown_timeout: Duration::from_secs(60),
            summary_trend_stats: crate::inspect::default_trend_stats(),
            summary_time_unit: String::new(),
        }
    }

    fn scenario(executor: &str) -> Scenario {
        Scenario {
            name: "s".into(),
            executor: executor.into(),
            vus: None,
            iterations: None,
            pre_allocated_vus: None,
            max_vus: None,
            start_vus: None,
            peak_target: None,
        }
    }

    #[test]
    fn segments_cover_the_whole_test() {
        let (segments, sequence) = segments(4);
        assert_eq!(segments, ["0:1/4", "1/4:2/4", "2/4:3/4", "3/4:1"]);
        assert_eq!(sequence, "0,1/4,2/4,3/4,1");
        assert_eq!(super::segments(1), (vec!["0:1".to_owned()], "0,1".to_owned()));
    }

    #[test]
    fn warns_about_uneven_arrival_rate_and_idle_shards() {
        let mut arrival = scenario("constant-arrival-rate");
        arrival.max_vus = Some(6);
        arrival.pre_allocated_vus = Some(4);
        let mut shared = scenario("shared-iterations");
        shared.vus = Some(2);
        shared.iterations = Some(10);
        let report = check(&options(vec![arrival, shared]), 4);
        assert!(report.errors.is_empty());
        assert!(report.warnings.iter().any(|w| w.contains("maxVUs = 6")), "{report:?}");
        assert!(!report.warnings.iter().any(|w| w.contains("preAllocatedVUs")), "{report:?}");
        assert!(report.warnings.iter().any(|w| w.contains("2 shards get no work")), "{report:?}");
    }

    /// 5000 Fargate tasks for a 50-VU script would be 4950 tasks paid for
    /// nothing: refused, with the largest useful count.
    #[test]
    fn shards_that_would_get_no_vu_are_refused() {
        let mut vus = scenario("constant-vus");
        vus.vus = Some(50);
        let report = check(&options(vec![vus.clone()]), 5000);
        assert_eq!(
            report.errors,
            ["5000 shards, but the busiest scenario has at most 50 VUs: k6 would give 4950 shards no VU at all, to \
              start and pay for with nothing to do; use --shards 50 or fewer"]
        );
        assert!(check(&options(vec![vus.clone()]), 50).errors.is_empty());
        let mut arrival = scenario("constant-arrival-rate");
        arrival.pre_allocated_vus = Some(2);
        arrival.max_vus = Some(8);
        assert!(check(&options(vec![arrival]), 8).errors.is_empty(), "maxVUs count");
        assert_eq!(check(&options(vec![vus]), MAX_SHARDS + 1).errors.len(), 1);
    }

    #[test]
    fn even_splits_are_quiet_and_bad_ones_refused() {
        let mut vus = scenario("constant-vus");
        vus.vus = Some(8);
        assert_eq!(check(&options(vec![vus]), 4), SplitReport::default());
        let report = check(&options(vec![scenario("externally-controlled")]), 2);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(check(&options(vec![]), 0).errors.len(), 1);
    }
}
