//! **plan** and **bundle**: from a request to a manifest and an archive,
//! with every check done before anything is launched or stored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use loadgrid_k6::{Overrides, K6};
use loadgrid_plan::manifest::{Timing, MANIFEST_SCHEMA};
use loadgrid_plan::{inspect, split, Manifest, ThresholdRecord};
use loadgrid_thresholds::{Origin, Threshold};
use time::OffsetDateTime;

use crate::{input_error, run_id};

/// System tags every shard keeps: what sub-metric thresholds and the
/// endpoint breakdown need. Dropping `url` and friends keeps series few and
/// costs k6 less to write.
pub const BASE_SYSTEM_TAGS: &[&str] = &["name", "method", "status", "scenario", "expected_response", "check", "group"];

/// Every system tag k6 knows; a threshold naming one of these adds it.
const K6_SYSTEM_TAGS: &[&str] = &[
    "proto",
    "subproto",
    "status",
    "method",
    "url",
    "name",
    "group",
    "check",
    "error",
    "error_code",
    "tls_version",
    "scenario",
    "service",
    "expected_response",
    "vu",
    "iter",
    "ip",
    "ocsp_status",
];

/// A run as asked for, all configuration layers resolved.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub script: PathBuf,
    pub test_name: Option<String>,
    /// `None`: on this machine (local, docker), as many as its cores and
    /// the script's VUs allow; on ECS, 1.
    pub shards: Option<u32>,
    pub overrides: Overrides,
    /// From config and flags; the script's own come from `k6 inspect`.
    pub thresholds: Vec<Threshold>,
    pub extra_system_tags: Vec<String>,
    pub timing: Timing,
    pub allow_partial: bool,
    pub max_series_per_metric: usize,
    pub backend: loadgrid_plan::BackendKind,
    /// k6 env var name → Secrets Manager id (values are read by the agents).
    pub secrets: BTreeMap<String, String>,
    /// When a shard's generator counts as saturated (`[health]`).
    pub health: loadgrid_health::Limits,
}

/// A validated run, ready to store and launch.
pub struct Prepared {
    pub manifest: Manifest,
    pub thresholds: Vec<Threshold>,
    /// The k6 archive, in a temporary directory that lives as long as this.
    pub archive: PathBuf,
    _work: tempfile::TempDir,
}

/// The cores this process may run on.
fn machine_cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |cores| cores.get() as u32)
}

/// Said at launch when a grid on this machine has more shards than cores:
/// busy shards would measure the machine (the health check says whether
/// they did; a light test is fine, so this is not one of the run's warnings).
pub fn shards_beyond_cores(manifest: &Manifest) -> Option<String> {
    let (shards, cores) = (manifest.shards, machine_cores());
    (!manifest.backend.is_remote() && shards > cores).then(|| {
        format!(
            "{shards} shards share this machine's {cores} cores: busy shards compete for the CPU and measure it as \
             latency (the generator health check says if they did); use `--shards {cores}` or `--backend ecs`"
        )
    })
}

/// Validates the request and builds the archive. Errors are [`InputError`]s
/// (exit code 2) unless k6 itself cannot be run.
pub async fn prepare(request: &RunRequest, k6: &K6) -> anyhow::Result<Prepared> {
    if let Some(shards) = request.shards.filter(|shards| !(1..=split::MAX_SHARDS).contains(shards)) {
        return Err(input_error(format!("`--shards` is {shards}: a grid has 1 to {} shards", split::MAX_SHARDS)));
    }
    check_script(&request.script)?;
    for threshold in &request.thresholds {
        threshold.validate_static().map_err(|e| input_error(e.render()))?;
    }

    let work = tempfile::Builder::new().prefix("loadgrid-plan-").tempdir()?;
    let archive = work.path().join("archive.tar");
    let options = archive_and_inspect(k6, &request.script, &archive, &request.overrides).await?;

    if !request.thresholds.is_empty() {
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for threshold in &request.thresholds {
            extra.entry(threshold.key()).or_default().push(threshold.source.clone());
        }
        k6.check_thresholds(&archive, &serde_json::json!(extra)).await.map_err(|e| {
            input_error(format!("{e}\n(the thresholds from --threshold or loadgrid.toml's [thresholds], checked by k6 as it checks the script's: fix the metric name, or declare the metric in the script)"))
        })?;
    }
    let mut thresholds = loadgrid_thresholds::from_k6_options(&options.thresholds)
        .map_err(|e| input_error(format!("in the script's options.thresholds: {}", e.render())))?;
    for threshold in &thresholds {
        threshold.validate_static().map_err(|e| input_error(e.render()))?;
    }
    thresholds.extend(request.thresholds.iter().cloned());

    let shards = match request.shards {
        Some(shards) => shards,
        // A shard per core, but never more shards than VUs to split.
        None if !request.backend.is_remote() => {
            let cores = machine_cores();
            cores.min(options.max_vus.clamp(1, u64::from(cores)) as u32)
        }
        None => 1,
    };
    let report = split::check(&options, shards);
    if !report.errors.is_empty() {
        return Err(input_error(report.errors.join("\n")));
    }
    let (segments, segment_sequence) = split::segments(shards);
    let now = OffsetDateTime::now_utc();
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA,
        run_id: run_id::new_run_id(now),
        test_name: request.test_name.clone().unwrap_or_else(|| test_name_of(&request.script)),
        script: request.script.display().to_string(),
        created_at: run_id::rfc3339(now),
        backend: request.backend,
        shards,
        segments,
        segment_sequence,
        k6_version: k6.version.clone(),
        env: request.overrides.env.iter().cloned().collect::<BTreeMap<_, _>>(),
        tags: request.overrides.tags.iter().cloned().collect::<BTreeMap<_, _>>(),
        system_tags: system_tags(&thresholds, &request.extra_system_tags),
        thresholds: thresholds.iter().map(record_of).collect(),
        selectors: loadgrid_thresholds::selectors(&thresholds),
        total_duration_ms: options.total_duration.as_millis() as u64,
        max_vus: options.max_vus,
        setup_timeout_ms: options.setup_timeout.as_millis() as u64,
        teardown_timeout_ms: options.teardown_timeout.as_millis() as u64,
        summary_trend_stats: options.summary_trend_stats.clone(),
        summary_time_unit: options.summary_time_unit.clone(),
        timing: request.timing.clone(),
        max_series_per_metric: request.max_series_per_metric,
        allow_partial: request.allow_partial,
        secrets: request.secrets.clone(),
        health: request.health,
        warnings: report.warnings,
    };
    Ok(Prepared { manifest, thresholds, archive, _work: work })
}

/// `k6 archive`, then `k6 inspect --execution-requirements` of the archive.
///
/// `k6 run` gives a script that sets `iterations` or `duration` but no VUs
/// one VU (its `--vus` flag defaults to 1), while `k6 inspect` refuses it
/// ("the number of VUs must be more than 0"). Such a script is archived
/// again with `--vus 1`, so every shard runs what `k6 run` would.
async fn archive_and_inspect(
    k6: &K6,
    script: &Path,
    archive: &Path,
    overrides: &Overrides,
) -> anyhow::Result<inspect::ScriptOptions> {
    k6.archive(script, archive, overrides).await.map_err(|e| input_error(e.to_string()))?;
    let inspected = match k6.inspect(archive).await {
        Ok(inspected) => inspected,
        Err(error) => {
            let declared = k6.inspect_options(archive).await.map_err(|e| input_error(e.to_string()))?;
            if overrides.vus.is_some() || !inspect::needs_default_vu(&declared) {
                return Err(input_error(error.to_string()));
            }
            let one_vu = Overrides { vus: Some(1), ..overrides.clone() };
            k6.archive(script, archive, &one_vu).await.map_err(|e| input_error(e.to_string()))?;
            k6.inspect(archive).await.map_err(|e| input_error(e.to_string()))?
        }
    };
    inspect::parse(&inspected).map_err(input_error)
}

/// The largest script loadgrid hands to k6: k6 loads it whole, with
/// every import, in each VU.
pub const MAX_SCRIPT_BYTES: u64 = 10 * 1024 * 1024;
/// The largest k6 archive (script, imports and `open()`ed files).
pub const MAX_ARCHIVE_BYTES: u64 = 512 * 1024 * 1024;

/// The script is a file k6 can read as a script (UTF-8 text, no NUL, at
/// most [`MAX_SCRIPT_BYTES`]) or a k6 archive (a tar, at most
/// [`MAX_ARCHIVE_BYTES`]), checked before k6 spends time and memory on it.
pub fn check_script(script: &Path) -> anyhow::Result<()> {
    let shown = script.display();
    let meta = match std::fs::metadata(script) {
        Ok(meta) if meta.is_file() => meta,
        Ok(meta) if meta.is_dir() => {
            return Err(input_error(format!(
                "script `{shown}` is a directory; give the path of a k6 script (.js) or archive (.tar) in it"
            )))
        }
        Ok(_) => return Err(input_error(format!("script `{shown}` is not a regular file; give a k6 script (.js)"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(input_error(format!(
                "script `{shown}` not found; give the path of a k6 script (.js) or archive (.tar)"
            )))
        }
        Err(e) => return Err(input_error(format!("cannot read script `{shown}`: {e}; check its permissions"))),
    };
    let mut head = vec![0u8; 64 * 1024];
    let read = std::fs::File::open(script)
        .and_then(|mut file| read_up_to(&mut file, &mut head))
        .map_err(|e| input_error(format!("cannot read script `{shown}`: {e}; check its permissions")))?;
    head.truncate(read);
    let is_tar = head.get(257..262) == Some(b"ustar");
    let size = meta.len();
    let mib = |bytes: u64| format!("{:.1}", bytes as f64 / (1024.0 * 1024.0));
    if is_tar {
        if size > MAX_ARCHIVE_BYTES {
            return Err(input_error(format!(
                "k6 archive `{shown}` is {} MiB, over the {} MiB loadgrid hands to k6; leave large data out of it (read it from a URL or a smaller file)",
                mib(size),
                mib(MAX_ARCHIVE_BYTES)
            )));
        }
        return Ok(());
    }
    if size > MAX_SCRIPT_BYTES {
        return Err(input_error(format!(
            "script `{shown}` is {} MiB, over the {} MiB loadgrid hands to k6; is it the script? Keep data in files the script open()s",
            mib(size),
            mib(MAX_SCRIPT_BYTES)
        )));
    }
    let text_ok = match std::str::from_utf8(&head) {
        Ok(text) => !text.contains('\0'),
        // A multi-byte character cut at the end of the sample is fine.
        Err(e) => e.error_len().is_none() && !head[..e.valid_up_to()].contains(&0),
    };
    if !text_ok {
        return Err(input_error(format!(
            "script `{shown}` is not text: k6 runs JavaScript (UTF-8) or a k6 archive (.tar); give the script"
        )));
    }
    Ok(())
}

fn read_up_to(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match std::io::Read::read(file, &mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// `tests/checkout.js` → `checkout`.
pub fn test_name_of(script: &Path) -> String {
    script.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "test".into())
}

fn system_tags(thresholds: &[Threshold], extra: &[String]) -> Vec<String> {
    let mut tags: BTreeSet<String> = BASE_SYSTEM_TAGS.iter().map(|t| t.to_string()).collect();
    for key in loadgrid_thresholds::referenced_tag_keys(thresholds) {
        if K6_SYSTEM_TAGS.contains(&key.as_str()) {
            tags.insert(key);
        }
    }
    tags.extend(extra.iter().cloned());
    tags.into_iter().collect()
}

pub fn record_of(threshold: &Threshold) -> ThresholdRecord {
    ThresholdRecord {
        metric: threshold.key(),
        expression: threshold.source.clone(),
        abort_on_fail: threshold.abort_on_fail,
        delay_abort_eval_ms: threshold.delay_abort_eval.map(|d| d.as_millis() as u64),
        origin: threshold.origin.as_str().to_owned(),
    }
}

/// Parses the manifest's thresholds back, exactly as the run used them.
pub fn thresholds_of(manifest: &Manifest) -> anyhow::Result<Vec<Threshold>> {
    manifest
        .thresholds
        .iter()
        .map(|record| {
            let origin = match record.origin.as_str() {
                "script" => Origin::Script,
                "config" => Origin::Config,
                _ => Origin::Flag,
            };
            let mut threshold = Threshold::new(&record.metric, &record.expression, origin)
                .map_err(|e| anyhow::anyhow!("stored threshold: {}", e.render()))?;
            threshold.abort_on_fail = record.abort_on_fail;
            threshold.delay_abort_eval = record.delay_abort_eval_ms.map(Duration::from_millis);
            Ok(threshold)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_round_trip_through_the_manifest_records() {
        let mut threshold = Threshold::new("http_req_duration{name:login}", "p(95)<300", Origin::Config).unwrap();
        threshold.abort_on_fail = true;
        threshold.delay_abort_eval = Some(Duration::from_secs(5));
        let record = record_of(&threshold);
        let manifest_like = Manifest {
            schema: MANIFEST_SCHEMA,
            run_id: "r".into(),
            test_name: "t".into(),
            script: "t.js".into(),
            created_at: String::new(),
            backend: loadgrid_plan::BackendKind::Local,
            shards: 1,
            segments: vec!["0:1".into()],
            segment_sequence: "0,1".into(),
            k6_version: "1.1.0".into(),
            env: BTreeMap::new(),
            tags: BTreeMap::new(),
            system_tags: vec![],
            thresholds: vec![record],
            selectors: vec![],
            total_duration_ms: 0,
            max_vus: 1,
            setup_timeout_ms: 0,
            teardown_timeout_ms: 0,
            summary_trend_stats: Vec::new(),
            summary_time_unit: String::new(),
            timing: Timing::local(),
            max_series_per_metric: 10,
            allow_partial: false,
            secrets: BTreeMap::new(),
            health: Default::default(),
            warnings: vec![],
        };
        assert_eq!(thresholds_of(&manifest_like).unwrap(), vec![threshold]);
    }

    #[test]
    fn thresholds_on_extra_system_tags_keep_those_tags() {
        let threshold = Threshold::new("http_req_duration{url:http://x/}", "p(95)<300", Origin::Flag).unwrap();
        let custom = Threshold::new("my_trend{team:a}", "p(95)<300", Origin::Flag).unwrap();
        let tags = system_tags(&[threshold, custom], &[]);
        assert!(tags.contains(&"url".to_owned()));
        assert!(!tags.contains(&"team".to_owned()), "user tags are not system tags");
    }
}
