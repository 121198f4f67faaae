//! `loadgrid infra`: the stack that [`loadgrid_infra`] describes, deployed
//! through change sets, inspected, checked (`doctor`) and destroyed.

mod deploy;
mod doctor;

pub use deploy::{
    ci_access_key, create_change_set, delete_change_set, destroy, execute, prepare, stack_state, ChangeSet, Prepared,
    StackState,
};
pub use doctor::gather_facts;
