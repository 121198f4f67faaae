//! loadgrid grid
