//! loadgrid k6
