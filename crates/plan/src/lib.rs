//! The **plan** step: everything a run needs, validated before anything
//! costs money.
//!
//! Input comes in layers: `loadgrid.toml` ([`config`]), then `LOADGRID_*`
//! environment variables and flags (the CLI resolves those two with clap),
//! then the script's own options as `k6 inspect` reports them ([`inspect`]).
//! Out comes a [`Manifest`]: the shard split ([`split`]), thresholds, the
//! k6 arguments every shard runs with and the deadlines the agents enforce.
//! The manifest is what the store keeps and what every agent reads.
//!
//! Pure: no processes, no network. The CLI runs k6 and hands its output here.

pub mod config;
pub mod fargate;
pub mod inspect;
pub mod manifest;
pub mod pool;
pub mod records;
pub mod split;

pub use config::{ConfigError, FileConfig};
pub use manifest::{BackendKind, Manifest, ThresholdRecord};
