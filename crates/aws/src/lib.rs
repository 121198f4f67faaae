//! Everything loadgrid does with AWS, and the only crate that links the AWS
//! SDK (it is slow to build; the pure crates stay free of it).
//!
//! - [`clients`]: the one place AWS clients are built, from one
//!   [`AwsSettings`] (region, profile, endpoint override, retries) over the
//!   standard credential chain.
//! - [`s3`]: the S3 run store, the same [`loadgrid_store::Store`] as a local
//!   directory, conditional writes included.
//! - [`ecs`]: the ECS Fargate backend: launch, watch, stop, list.
//! - [`logs`]: the agents' log lines in CloudWatch Logs (live numbers, `loadgrid logs`).
//! - [`secrets`]: Secrets Manager values for the agent, never logged.
//! - [`stack`]: settings read from a CloudFormation stack's outputs.
//! - [`ecr`]: the registry login for `loadgrid image push`.
//! - [`infra`]: `loadgrid infra`: the stack deployed through change sets,
//!   its status and outputs, `doctor`'s facts, destroy.

pub mod clients;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod infra;
pub mod logs;
pub mod s3;
pub mod secrets;
pub mod sns;
pub mod stack;

pub use clients::{AwsContext, AwsSettings};
pub use error::sdk_message;
