//! The metric families every AionDB deployment exposes, named once here so
//! that the plugin recording a family (pgwire, a durable backend) and the
//! one reading it (the HTTP surface) agree without knowing each other.
//!
//! The kernel registers all of them at build time, so `/metrics` lists each
//! family (at zero) even before its recorder is loaded. A plugin gets the id
//! of a standard family by registering its [`standard`] description again:
//!
//! ```
//! use aiondb_sdk::metrics::{standard, PGWIRE_CONNECTIONS_ACTIVE};
//! let desc = standard(PGWIRE_CONNECTIONS_ACTIVE).unwrap();
//! assert_eq!(desc.kind, aiondb_sdk::host::MetricKind::Gauge);
//! // let id = host.register_metric(desc); host.record_metric(id, ..., MetricOp::Add(1.0));
//! ```

use abi_stable::std_types::{RString, RVec};

use crate::host::{MetricDesc, MetricKind};

/// Statements run, by command (`SELECT`, `INSERT`, `UPDATE`, `DELETE`, `DDL`,
/// `UTILITY`, `OTHER`) and outcome (`ok`, `error`). Recorded by the kernel.
pub const QUERIES_TOTAL: &str = "aiondb_queries_total";
/// Execution time of statements that reached the executor. Recorded by the kernel.
pub const QUERY_DURATION_SECONDS: &str = "aiondb_query_duration_seconds";
/// Rows returned to clients. Recorded by the kernel.
pub const ROWS_READ_TOTAL: &str = "aiondb_rows_read_total";
/// Rows inserted, updated or deleted. Recorded by the kernel.
pub const ROWS_WRITTEN_TOTAL: &str = "aiondb_rows_written_total";
/// Transactions ended, by outcome (`commit`, `rollback`). Recorded by the kernel.
pub const TRANSACTIONS_TOTAL: &str = "aiondb_transactions_total";
/// Open client connections. Recorded by the pgwire surface.
pub const PGWIRE_CONNECTIONS_ACTIVE: &str = "aiondb_pgwire_connections_active";
/// Client connections accepted since start. Recorded by the pgwire surface.
pub const PGWIRE_CONNECTIONS_TOTAL: &str = "aiondb_pgwire_connections_total";
/// Failed authentications. Recorded by surfaces that authenticate.
pub const AUTH_FAILURES_TOTAL: &str = "aiondb_auth_failures_total";
/// Bytes appended to the write-ahead log. Recorded by durable backends.
pub const WAL_BYTES_TOTAL: &str = "aiondb_wal_bytes_total";
/// fsync calls on the write-ahead log. Recorded by durable backends.
pub const WAL_FSYNCS_TOTAL: &str = "aiondb_wal_fsyncs_total";
/// Engine tasks waiting for a worker. Recorded by the engine pool.
pub const ENGINE_POOL_QUEUE_DEPTH: &str = "aiondb_engine_pool_queue_depth";
/// Calls the kernel made into each provider, by plugin, capability and key.
pub const PLUGIN_CALLS_TOTAL: &str = "aiondb_plugin_calls_total";
/// 1 for each loaded plugin whose lifecycle is started, 0 otherwise.
pub const PLUGIN_STARTED: &str = "aiondb_plugin_started";
/// Always 1; the labels carry the version.
pub const BUILD_INFO: &str = "aiondb_build_info";

/// Upper bounds of [`QUERY_DURATION_SECONDS`]: 10 µs to 10 s, since a point
/// lookup takes microseconds and an analytical query seconds.
pub const QUERY_DURATION_BUCKETS: &[f64] = &[
    0.000_01, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn desc(name: &str, kind: MetricKind, help: &str, labels: &[&str]) -> MetricDesc {
    MetricDesc {
        name: RString::from(name),
        help: RString::from(help),
        kind,
        label_names: labels.iter().map(|l| RString::from(*l)).collect(),
        buckets: if kind == MetricKind::Histogram {
            RVec::from(QUERY_DURATION_BUCKETS.to_vec())
        } else {
            RVec::new()
        },
    }
}

/// Every standard family, in the order `/metrics` lists them.
pub fn standard_families() -> Vec<MetricDesc> {
    use MetricKind::*;
    vec![
        desc(BUILD_INFO, Gauge, "AionDB build information.", &["version"]),
        desc(
            QUERIES_TOTAL,
            Counter,
            "Statements run, by command and outcome.",
            &["command", "outcome"],
        ),
        desc(
            QUERY_DURATION_SECONDS,
            Histogram,
            "Execution time of statements that reached the executor.",
            &[],
        ),
        desc(ROWS_READ_TOTAL, Counter, "Rows returned to clients.", &[]),
        desc(
            ROWS_WRITTEN_TOTAL,
            Counter,
            "Rows inserted, updated or deleted.",
            &[],
        ),
        desc(
            TRANSACTIONS_TOTAL,
            Counter,
            "Transactions ended, by outcome.",
            &["outcome"],
        ),
        desc(
            PGWIRE_CONNECTIONS_ACTIVE,
            Gauge,
            "Open PostgreSQL wire connections.",
            &[],
        ),
        desc(
            PGWIRE_CONNECTIONS_TOTAL,
            Counter,
            "PostgreSQL wire connections accepted since start.",
            &[],
        ),
        desc(
            AUTH_FAILURES_TOTAL,
            Counter,
            "Failed authentication attempts.",
            &[],
        ),
        desc(
            WAL_BYTES_TOTAL,
            Counter,
            "Bytes appended to the write-ahead log.",
            &[],
        ),
        desc(
            WAL_FSYNCS_TOTAL,
            Counter,
            "fsync calls on the write-ahead log.",
            &[],
        ),
        desc(
            ENGINE_POOL_QUEUE_DEPTH,
            Gauge,
            "Engine tasks waiting for a worker.",
            &[],
        ),
        desc(
            PLUGIN_CALLS_TOTAL,
            Counter,
            "Calls the kernel made into each provider.",
            &["plugin", "capability", "key"],
        ),
        desc(
            PLUGIN_STARTED,
            Gauge,
            "1 when the plugin's lifecycle is started.",
            &["plugin", "version"],
        ),
    ]
}

/// The description of one standard family.
pub fn standard(name: &str) -> Option<MetricDesc> {
    standard_families().into_iter().find(|d| d.name == name)
}
