//! Run history: what loadgrid remembers of every run, and how a run is
//! judged against an earlier one.
//!
//! - [`record`]: the [`HistoryRecord`] (schema version
//!   [`HISTORY_SCHEMA_VERSION`], `schemas/history.schema.json`), built from a
//!   run's summary, with its git and CI context.
//! - [`regression`]: regression rules and their evaluation against a
//!   baseline record.
//! - [`compare`]: two records side by side, with deltas.
//!
//! Pure: the store is read and written by `loadgrid-grid`.

pub mod compare;
pub mod record;
pub mod regression;

pub use record::{FinalVerdict, GitContext, HistoryRecord, HISTORY_SCHEMA_VERSION};
pub use regression::{RegressionReport, RegressionRule, RuleResult};
