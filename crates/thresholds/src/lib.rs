//! loadgrid thresholds
