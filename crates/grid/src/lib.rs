//! The orchestrator: one run, end to end.
//!
//! ```text
//! prepare (plan + bundle) ──► backend (launch) ──► watch ──► collect (merge) ──► gate
//! ```
//!
//! - [`prepare`] validates everything and builds the archive; it has no
//!   side effect outside a temporary directory, so bad input costs nothing.
//! - [`backend`] starts the shards; [`backend::local`] as child processes.
//! - [`watch`] keeps the heartbeat, shows live merged numbers, applies
//!   `abortOnFail` grid-wide and turns signals into a graceful stop.
//! - [`collect`] reads every shard's `status` and `result` from the store
//!   and merges them; [`gate`] decides the verdict and the exit code;
//!   [`handle_summary`] gives the merged data to the script's
//!   `handleSummary()`.

pub mod backend;
pub mod collect;
pub mod gate;
pub mod handle_summary;
pub mod history;
pub mod live;
pub mod orchestrate;
pub mod prepare;
pub mod run_id;
pub mod watch;

/// Bad input: nothing was launched. The CLI exits with code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// An [`InputError`] as an `anyhow::Error`.
pub fn input_error(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InputError(message.into()))
}
