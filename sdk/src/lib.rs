//! aiondb-sdk: the stable ABI of AionDB plugins.
pub mod error;
pub mod row;
pub mod types;
pub mod value;
