//! The `in_memory` storage backend (`storage.backend/1`): MVCC tables held
//! in memory, btree indexes, row locks with deadlock detection, and
//! SERIALIZABLE through table-granularity rw-antidependency tracking.
//!
//! Lock order: the table registry, then a table's `RwLock`, then the
//! transaction manager's mutex. Nothing waits (condvar) while holding a
//! table lock.

mod backend;
mod cursor;
mod intkeys;
mod keys;
mod row;
mod table;
mod txn;

#[cfg(test)]
mod tests;

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use aiondb_sdk::prelude::*;

pub use backend::MemoryBackend;

// A panic inside a provider is caught at the boundary (Guarded) and may
// poison a lock; the data it protects is kept consistent by construction
// (every mutation is completed before anything that can fail), so we keep
// using it.
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A xorshift generator for randomised tests: the same sequence on every
/// run for a given seed.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

fn register(_host: HostRef) -> DbResult<Registration> {
    Ok(Registration::new().storage_backend("in_memory", MemoryBackend::new()))
}

aiondb_sdk::declare_plugin! {
    name: "storage-memory",
    version: env!("CARGO_PKG_VERSION"),
    description: "in_memory MVCC storage backend with btree indexes",
    register: register,
}
