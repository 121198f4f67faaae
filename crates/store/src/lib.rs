//! loadgrid store
