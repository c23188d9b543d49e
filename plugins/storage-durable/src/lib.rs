//! The `durable` storage backend (`storage.backend/1`): the `in_memory`
//! MVCC store made durable with a write-ahead log (CRC32 per record, group
//! commit), checkpoint snapshots, recovery at start and a versioned storage
//! manifest. Also the read-only inspection behind `aiondb doctor` and the
//! manifest upgrade behind `aiondb upgrade`.

mod backend;
pub mod doctor;
mod fscheck;
pub mod manifest;
mod recovery;
mod snapshot;
pub mod wal;

use aiondb_sdk::prelude::*;

pub use backend::DurableBackend;
pub use fscheck::encryption_of;

fn register(host: HostRef) -> DbResult<Registration> {
    Ok(Registration::new()
        .storage_backend("durable", DurableBackend::new(host))
        .requires_key(aiondb_sdk::capability::STORAGE_BACKEND, 1, "in_memory"))
}

aiondb_sdk::declare_plugin! {
    name: "storage-durable",
    version: env!("CARGO_PKG_VERSION"),
    description: "durable storage backend: WAL, group commit, checkpoints and recovery over in_memory",
    register: register,
}
