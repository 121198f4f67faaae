//! loadgrid plan
