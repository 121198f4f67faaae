//! loadgrid agent
