//! aiondb-kernel

pub mod config;
