//! Generator health on real local grids: a calm run is never flagged; shards
//! that outnumber the machine's cores and burn its CPU are, each named with
//! its signal and fix, live and in the summary; `on_saturation = "fail"`
//! makes that exit 97. (Starved containers: tests/docker.rs.)

mod common;

use common::{Grid, Outcome};
use serde_json::Value;

/// Two VUs that mostly wait: nowhere near any limit.
const CALM: &str = r#"
import http from "k6/http";
import { sleep } from "k6";
export const options = { scenarios: { calm: { executor: "constant-vus", vus: 2, duration: "3s" } } };
export default function () { http.get(`${__ENV.BASE_URL}/`); sleep(0.1); }
"#;

/// Every VU spins on the CPU.
const BURN: &str = r#"
export default function () { const end = Date.now() + 50; while (Date.now() < end) {} }
"#;

fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

fn health(summary: &Value) -> &Value {
    &summary["health"]
}

/// Run several times: a calm grid is never flagged, and its health is
/// measured (samples, sockets, network) rather than merely absent.
#[test]
fn a_calm_grid_is_never_flagged() {
    let grid = Grid::new();
    let script = grid.script("calm.js", CALM);
    let env = format!("BASE_URL={}", grid.target_url);
    for round in 0..3 {
        let outcome = grid.run(&["run", &script, "--shards", "2", "-e", &env, "--json", "--on-saturation", "fail"]);
        let summary = outcome.exit(0).json();
        assert!(!outcome.stderr.contains("generator saturated"), "round {round}:\n{}", outcome.stderr);
        let health = health(&summary);
        assert_eq!(health["status"], "healthy", "round {round}: {health}");
        assert_eq!(health["messages"], serde_json::json!([]), "round {round}");
        assert!(health["start_skew_ms"].as_i64().is_some_and(|ms| (0..1000).contains(&ms)), "{health}");
        for shard in health["shards"].as_array().unwrap() {
            assert!(shard["seconds"].as_u64().unwrap() >= 2, "{shard}");
            assert!(shard["series"].as_array().unwrap().len() >= 2, "{shard}");
            assert!(shard["sockets_peak"].as_u64().unwrap() >= 1, "{shard}");
            assert!(shard["net_rx_bytes"].as_u64().unwrap() > 0, "{shard}");
            assert!(shard["k6_memory_peak_bytes"].as_u64().unwrap() > 1_000_000, "{shard}");
            assert_eq!(shard["allowance"]["pool"], "host", "{shard}");
            assert_eq!(shard["findings"], serde_json::json!([]), "{shard}");
        }
    }
}

/// One more shard than cores, every VU burning CPU: the machine is the
/// bottleneck. It is said at start, live, and in the summary for each shard,
/// with the fix for this machine; `[health] on_saturation = "fail"` exits 97.
#[test]
fn shards_beyond_the_cores_burning_cpu_are_named_and_fail_when_asked() {
    let grid = Grid::new();
    let cores = cores();
    let shards = (cores + 1).to_string();
    let vus = (2 * (cores + 1)).to_string();
    std::fs::write(grid.path("loadgrid.toml"), "[health]\non_saturation = \"fail\"\n").unwrap();
    let script = grid.script("burn.js", BURN);
    let outcome = grid.run(&["run", &script, "--shards", &shards, "--vus", &vus, "--duration", "5s", "--json"]);
    let summary = outcome.exit(97).json();
    outcome.stderr_contains(&format!(
        "warning: {shards} shards share this machine's {cores} cores: busy shards compete for the CPU and measure it \
         as latency (the generator health check says if they did); use `--shards {cores}` or `--backend ecs`"
    ));
    outcome.stderr_contains("generator saturated: shard ");

    assert_eq!((summary["verdict"].as_str(), summary["exit_code"].as_i64()), (Some("generator_saturated"), Some(97)));
    assert_eq!(health(&summary)["status"], "saturated");
    let reasons: Vec<&str> =
        summary["verdict_reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(!reasons.is_empty());
    let machine = format!("% CPU of this machine ({cores} {}) for ", if cores == 1 { "core" } else { "cores" });
    let fix = format!(
        ": its latencies include client-side queueing; run at most {cores} shards on this machine's {cores} cores, \
         or on ECS (`--backend ecs`)"
    );
    for reason in &reasons {
        assert!(reason.starts_with("shard ") && reason.contains(&machine) && reason.ends_with(&fix), "{reason}");
    }
    let flagged: Vec<&Value> = health(&summary)["shards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|shard| shard["findings"].as_array().is_some_and(|f| !f.is_empty()))
        .collect();
    assert_eq!(flagged.len(), reasons.len(), "one message per flagged shard: {reasons:?}");
    for shard in flagged {
        assert_eq!(shard["findings"][0]["signal"], "cpu", "{shard}");
        assert!(shard["cpu_saturated_seconds"].as_u64().unwrap() >= 2, "{shard}");
    }
    // The terminal summary and the history record say it too.
    let run_id = summary["run_id"].as_str().unwrap();
    let text = grid.run(&["results", run_id]);
    text.exit(97)
        .json_or_text_contains("█ GENERATOR HEALTH")
        .json_or_text_contains("generators saturated: the numbers include the generators' own limits")
        .json_or_text_contains("verdict: LOAD GENERATORS SATURATED (exit 97) — shard ");
    let history = grid.run(&["history", "--format", "json"]);
    assert!(history.exit(0).stdout.contains("\"generator_saturated\""), "{}", history.stdout);
}

/// Limits that are not percentages, or an unknown `on_saturation`, stop the
/// run before anything starts.
#[test]
fn bad_health_settings_are_refused_before_launch() {
    let grid = Grid::new();
    let script = grid.script("calm.js", CALM);
    std::fs::write(grid.path("loadgrid.toml"), "[health]\ncpu_percent = 150\n").unwrap();
    let config = grid.path("loadgrid.toml").display().to_string();
    let outcome: Outcome = grid.run(&["run", &script]);
    outcome.exit(2).stderr_contains(&format!(
        "[health] cpu_percent is 150: it is a percentage above 0 and at most 100; fix it in {config}"
    ));
    std::fs::write(grid.path("loadgrid.toml"), "[health]\non_saturation = \"panic\"\n").unwrap();
    grid.run(&["run", &script])
        .exit(2)
        .stderr_contains("on_saturation = `panic`: use `warn` (say so, keep the verdict) or `fail` (exit 97)");
    grid.run(&["run", &script, "--on-saturation", "maybe"])
        .exit(2)
        .stderr_contains("invalid value 'maybe' for '--on-saturation <warn|fail>'");
    assert!(grid.run_ids().is_empty(), "nothing was launched");
}
