//! loadgrid report
