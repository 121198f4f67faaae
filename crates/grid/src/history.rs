//! The history in the store: one immutable record per run under
//! `history/<test>/`, written with a conditional put so that concurrent runs
//! (each writes its own key) never lose or overwrite a record.

use futures::{StreamExt, TryStreamExt};
use loadgrid_history::regression::{self, RegressionRule};
use loadgrid_history::{GitContext, HistoryRecord};
use loadgrid_report::RunSummary;
use loadgrid_store::Store;

use crate::input_error;

pub const HISTORY: &str = "history";
const PARALLEL_READS: usize = 16;

/// Which earlier run a run is judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baseline {
    /// The latest passed run of the same test.
    LastPass,
    RunId(String),
}

impl Baseline {
    pub fn parse(text: &str) -> Baseline {
        if text == "last-pass" {
            Baseline::LastPass
        } else {
            Baseline::RunId(text.to_owned())
        }
    }
}

/// How regressions are judged for a run.
#[derive(Debug, Clone)]
pub struct RegressionSettings {
    pub baseline: Option<Baseline>,
    pub rules: Vec<RegressionRule>,
    /// `on_regression = "fail"` (exit 98) or `"warn"`.
    pub fail: bool,
}

/// Every record (of `test` only, if given), oldest first. Unreadable records
/// are reported in the second list, by key, and left out.
pub async fn list(store: &Store, test: Option<&str>) -> anyhow::Result<(Vec<HistoryRecord>, Vec<String>)> {
    let prefix = match test {
        Some(test) => format!("{HISTORY}/{}", loadgrid_history::record::path_segment(test)),
        None => HISTORY.to_owned(),
    };
    let keys: Vec<String> = store.list_keys(&prefix).await?.into_iter().filter(|k| k.ends_with(".json")).collect();
    let read: Vec<(String, Option<_>)> = futures::stream::iter(keys)
        .map(|key| async move {
            let bytes = store.get(&key).await?;
            Ok::<_, anyhow::Error>((key, bytes))
        })
        .buffered(PARALLEL_READS)
        .try_collect()
        .await?;
    let mut records = Vec::new();
    let mut unreadable = Vec::new();
    for (key, bytes) in read {
        match bytes.map(|b| serde_json::from_slice::<HistoryRecord>(&b)) {
            Some(Ok(record)) if test.is_none_or(|t| record.test_name == t) => records.push(record),
            Some(Ok(_)) => {}
            Some(Err(error)) => unreadable.push(format!("{key}: {error}")),
            None => {}
        }
    }
    records.sort_by(|a, b| (a.created_at.as_str(), a.run_id.as_str()).cmp(&(b.created_at.as_str(), b.run_id.as_str())));
    Ok((records, unreadable))
}

/// The record of `run_id`, wherever its test is.
pub async fn find(store: &Store, run_id: &str) -> anyhow::Result<HistoryRecord> {
    let suffix = format!("-{run_id}.json");
    let key = store.list_keys(HISTORY).await?.into_iter().find(|k| k.ends_with(&suffix));
    let Some(key) = key else {
        return Err(input_error(format!(
            "no history record for run `{run_id}`. Next step: `loadgrid history` lists the recorded runs"
        )));
    };
    let bytes = store.get(&key).await?.unwrap_or_default();
    serde_json::from_slice(&bytes).map_err(|e| {
        input_error(format!(
            "history record `{key}` is unreadable: {e}; `loadgrid results {run_id}` still judges the run from its \
             shard results"
        ))
    })
}

/// The record `baseline` names for a run of `test` (never the run itself).
pub async fn baseline_record(
    store: &Store,
    test: &str,
    baseline: &Baseline,
    current_run: &str,
) -> anyhow::Result<Option<HistoryRecord>> {
    match baseline {
        Baseline::RunId(run_id) => find(store, run_id).await.map(Some),
        Baseline::LastPass => {
            let (records, _) = list(store, Some(test)).await?;
            Ok(records.into_iter().rev().find(|r| r.passed() && r.run_id != current_run))
        }
    }
}

/// Judges a finished run against its baseline (when one is configured),
/// writes its history record and returns it. A missing `last-pass` baseline
/// (the first green run) is no regression; a named run that does not exist
/// is an error.
pub async fn record_run(
    store: &Store,
    summary: &RunSummary,
    settings: &RegressionSettings,
    git: Option<GitContext>,
    cost_usd: Option<f64>,
) -> anyhow::Result<(HistoryRecord, Option<String>)> {
    let mut note = None;
    let mut report = None;
    if let Some(baseline) = &settings.baseline {
        match baseline_record(store, &summary.test_name, baseline, &summary.run_id).await? {
            Some(base) => {
                let current = HistoryRecord::from_summary(summary, None, settings.fail, None).metrics;
                report = Some(regression::judge(&settings.rules, &base.run_id, &base.metrics, &current));
            }
            None => {
                note = Some(format!(
                    "no earlier passed run of `{}`: nothing to judge regressions against yet",
                    summary.test_name
                ))
            }
        }
    }
    let mut record = HistoryRecord::from_summary(summary, report, settings.fail, git);
    record.cost_usd = cost_usd;
    // Each run has its own key: a conditional put only guards a re-attach
    // writing the same run twice.
    store.put_if_absent(&record.key(), serde_json::to_vec_pretty(&record)?).await?;
    Ok((record, note))
}
