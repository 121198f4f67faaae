//! Run summaries for loadgrid: the model behind `summary.json`, how it is
//! built from a finished run, and the k6-style terminal summary.
//!
//! - [`model`]: [`RunSummary`] and its parts. This is a versioned contract
//!   ([`SUMMARY_SCHEMA_VERSION`]) that other tools read; the committed JSON
//!   Schema `schemas/summary.schema.json` describes it exactly, and the
//!   crate's tests validate real summaries against it.
//! - [`build_summary`]: turns the manifest, the grid's merged
//!   [`MetricSet`](loadgrid_metrics::MetricSet), every shard's status and
//!   result, and the threshold evaluations into a [`RunSummary`].
//! - [`render_terminal`]: the end-of-test summary people read, modelled on
//!   k6's own, with colour only when [`Style::color`] says so.
//! - [`k6_data`]: the merged grid in k6's own summary shape, the `data`
//!   a script's `handleSummary()` receives.
//! - [`format`](mod@format): unit formatting (durations, bytes, percentages) shared by
//!   every human-facing report.
//!
//! Pure: no I/O, no clock, no environment. The caller decides colour (from
//! `NO_COLOR` and whether stdout is a terminal) and the width.

pub mod format;
pub mod k6_data;
pub mod model;

mod build;
mod terminal;
mod values;

pub use build::{build_summary, test_time, ShardInput, SummaryInput, TestTime};
pub use model::{
    CheckSummary, EndpointSummary, GroupSummary, MetricSummary, RunSummary, ShardState, ShardSummary, StopSummary,
    ThresholdOutcome, ThresholdSummary, TimelinePoint, Verdict, SUMMARY_SCHEMA_VERSION,
};
pub use terminal::{render_terminal, Style};
pub use values::MAX_ENDPOINT_ROWS;
