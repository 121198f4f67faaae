//! What a grid costs.
//!
//! - [`prices`]: the dated list prices, overridable from `[cost]`.
//! - [`billing`]: one Fargate task's bill: per second, one-minute minimum,
//!   Spot as a discount.
//! - [`planner`]: a month of runs priced three ways, with fixed and
//!   variable costs and the break-even hours.
//! - [`capacity`]: shards and task size for a target RPS or VU count.

pub mod billing;
pub mod capacity;
pub mod planner;
pub mod prices;

pub use billing::{task_cost_usd, Arch};
pub use prices::Prices;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct CostError(pub String);
