//! aiondb-kernel
