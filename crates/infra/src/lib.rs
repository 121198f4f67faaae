//! The AWS footprint of loadgrid, as data (the `loadgrid infra` commands).
//!
//! - [`spec`]: `[infra]` in loadgrid.toml validated into an [`InfraSpec`]:
//!   network mode, resource names (checked against each AWS resource type's
//!   naming rules), task size, retention, tags and the CI identity. Every
//!   error here comes before any AWS call.
//! - [`template`]: the CloudFormation template for a spec, as JSON or YAML.
//! - [`policy`]: the IAM policy documents, shared by the template and the
//!   doctor's checks.
//! - [`doctor`]: the requirements the live resources are checked against,
//!   evaluated on facts the AWS crate gathers, with a fix for each failure.
//! - [`changes`]: a change set rendered as a readable diff.
//!
//! Pure: no AWS SDK, no tokio. `loadgrid-aws` does the calls.

pub mod changes;
pub mod doctor;
pub mod names;
pub mod policy;
pub mod runner;
pub mod spec;
pub mod template;
pub mod terraform;

pub use spec::{CiIdentity, InfraSpec, Network, RunnerImage, SpecError};
