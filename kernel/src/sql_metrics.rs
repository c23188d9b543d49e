//! Statement and transaction counters recorded by sessions.
//!
//! Sessions run on the hot path (a prepared point select takes well under a
//! microsecond), so recording must cost next to nothing: no lock, no label
//! formatting, no allocation, and no locked read-modify-write instruction.
//! Every label combination is a fixed slot chosen by index, and every
//! session counts into its own cache-line-aligned block that only it
//! writes (a count is a plain load and store). `/metrics` sums the blocks of
//! running sessions and what ended sessions left behind when it is scraped.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use abi_stable::std_types::{RString, RVec};
use aiondb_sdk::error::AionError;
use aiondb_sdk::host::MetricSeries;
use aiondb_sdk::metrics as names;

use crate::metrics::Metrics;

/// The `command` label of `aiondb_queries_total`, fixed once per plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandKind(u8);

const COMMANDS: [&str; 7] = [
    "SELECT", "INSERT", "UPDATE", "DELETE", "DDL", "UTILITY", "OTHER",
];

impl CommandKind {
    pub const UTILITY: CommandKind = CommandKind(5);
    const OTHER: CommandKind = CommandKind(6);

    /// Classifies a plan's command tag (`SELECT`, `CREATE TABLE`, ...).
    pub fn of(command: &str) -> CommandKind {
        let first = command.split(' ').next().unwrap_or("");
        match first {
            "SELECT" | "VALUES" | "TABLE" => CommandKind(0),
            "INSERT" => CommandKind(1),
            "UPDATE" => CommandKind(2),
            "DELETE" => CommandKind(3),
            "CREATE" | "DROP" | "ALTER" | "TRUNCATE" | "COMMENT" => CommandKind(4),
            "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT"
            | "RELEASE" | "SET" | "RESET" | "SHOW" => CommandKind::UTILITY,
            _ => CommandKind::OTHER,
        }
    }

    pub fn label(self) -> &'static str {
        COMMANDS[self.0 as usize % COMMANDS.len()]
    }
}

/// `QUERY_DURATION_BUCKETS` in microseconds (checked by a test).
const BOUNDS_US: [u64; 18] = [
    10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// One session's counters (or, in `SqlMetrics::retired`, those of the
/// sessions that ended); aligned so two blocks never share a cache line.
#[repr(align(128))]
#[derive(Default)]
struct Shard {
    queries: [[AtomicU64; 2]; COMMANDS.len()],
    /// Per-bucket (not cumulative) counts; the last slot is +Inf.
    latency: [AtomicU64; BOUNDS_US.len() + 1],
    latency_sum_us: AtomicU64,
    rows_read: AtomicU64,
    rows_written: AtomicU64,
    /// [commit, rollback]
    transactions: [AtomicU64; 2],
}

impl Shard {
    /// Every counter, in a fixed order.
    fn counters(&self) -> impl Iterator<Item = &AtomicU64> {
        self.queries
            .iter()
            .flatten()
            .chain(&self.latency)
            .chain([&self.latency_sum_us, &self.rows_read, &self.rows_written])
            .chain(&self.transactions)
    }
}

/// Adds `n` to a counter only one thread writes at a time: a load and a
/// store, which other threads may read at any moment.
#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// The kernel's statement counters; one per kernel, shared by its sessions.
pub struct SqlMetrics {
    /// The blocks of running sessions.
    live: Mutex<Vec<Arc<Shard>>>,
    /// What ended sessions counted; written under `live`'s lock.
    retired: Shard,
}

/// One session's counters: only that session writes them. They are folded
/// into the kernel's totals when it ends.
pub struct SessionCounters {
    shard: Arc<Shard>,
    owner: Arc<SqlMetrics>,
}

impl SqlMetrics {
    pub fn new() -> Arc<SqlMetrics> {
        Arc::new(SqlMetrics {
            live: Mutex::new(Vec::new()),
            retired: Shard::default(),
        })
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Shard>>> {
        // A panic while holding the lock leaves a usable list.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counters for a new session.
    pub fn session(self: &Arc<Self>) -> SessionCounters {
        let shard = Arc::new(Shard::default());
        self.live().push(Arc::clone(&shard));
        SessionCounters {
            shard,
            owner: Arc::clone(self),
        }
    }

    /// Moves an ending session's counts into `retired`, in one step as far
    /// as a scrape can tell.
    fn retire(&self, shard: &Arc<Shard>) {
        let mut live = self.live();
        for (total, c) in self.retired.counters().zip(shard.counters()) {
            bump(total, c.load(Relaxed));
        }
        live.retain(|s| !Arc::ptr_eq(s, shard));
    }

    fn sum(&self, f: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        let live = self.live();
        live.iter()
            .map(|s| f(s).load(Relaxed))
            .fold(f(&self.retired).load(Relaxed), u64::wrapping_add)
    }

    /// Registers the families these counters feed, read at scrape time.
    pub fn register(self: &Arc<Self>, metrics: &Metrics) -> Result<(), AionError> {
        let std = |name: &str| {
            names::standard(name)
                .ok_or_else(|| AionError::internal(format!("{name} is not a standard metric")))
        };
        let me = self.clone();
        metrics.register_collected(
            std(names::QUERIES_TOTAL)?,
            Box::new(move || {
                let mut out = Vec::with_capacity(COMMANDS.len() * 2);
                for (k, command) in COMMANDS.iter().enumerate() {
                    for (o, outcome) in ["ok", "error"].iter().enumerate() {
                        out.push(series(
                            &[command, outcome],
                            me.sum(|s| &s.queries[k][o]) as f64,
                        ));
                    }
                }
                out
            }),
        )?;
        let me = self.clone();
        metrics.register_collected(
            std(names::QUERY_DURATION_SECONDS)?,
            Box::new(move || {
                let mut cumulative = 0u64;
                let mut buckets = Vec::with_capacity(BOUNDS_US.len());
                for i in 0..BOUNDS_US.len() {
                    cumulative = cumulative.wrapping_add(me.sum(|s| &s.latency[i]));
                    buckets.push(cumulative);
                }
                let count = cumulative.wrapping_add(me.sum(|s| &s.latency[BOUNDS_US.len()]));
                vec![MetricSeries {
                    label_values: RVec::new(),
                    value: me.sum(|s| &s.latency_sum_us) as f64 / 1e6,
                    bucket_counts: RVec::from(buckets),
                    count,
                }]
            }),
        )?;
        let me = self.clone();
        metrics.register_collected(
            std(names::ROWS_READ_TOTAL)?,
            Box::new(move || vec![series(&[], me.sum(|s| &s.rows_read) as f64)]),
        )?;
        let me = self.clone();
        metrics.register_collected(
            std(names::ROWS_WRITTEN_TOTAL)?,
            Box::new(move || vec![series(&[], me.sum(|s| &s.rows_written) as f64)]),
        )?;
        let me = self.clone();
        metrics.register_collected(
            std(names::TRANSACTIONS_TOTAL)?,
            Box::new(move || {
                vec![
                    series(&["commit"], me.sum(|s| &s.transactions[0]) as f64),
                    series(&["rollback"], me.sum(|s| &s.transactions[1]) as f64),
                ]
            }),
        )?;
        Ok(())
    }
}

impl SessionCounters {
    /// A statement that reached the executor.
    #[inline]
    pub fn statement(
        &self,
        kind: CommandKind,
        ok: bool,
        micros: u64,
        rows_read: u64,
        rows_written: u64,
    ) {
        let s = &*self.shard;
        bump(
            &s.queries[kind.0 as usize % COMMANDS.len()][usize::from(!ok)],
            1,
        );
        let bucket = BOUNDS_US
            .iter()
            .position(|b| micros <= *b)
            .unwrap_or(BOUNDS_US.len());
        bump(&s.latency[bucket], 1);
        bump(&s.latency_sum_us, micros);
        if rows_read > 0 {
            bump(&s.rows_read, rows_read);
        }
        if rows_written > 0 {
            bump(&s.rows_written, rows_written);
        }
    }

    /// A statement the session ran itself (BEGIN, SET, SHOW, ...).
    #[inline]
    pub fn command(&self, kind: CommandKind, ok: bool) {
        bump(
            &self.shard.queries[kind.0 as usize % COMMANDS.len()][usize::from(!ok)],
            1,
        );
    }

    #[inline]
    pub fn transaction(&self, committed: bool) {
        bump(&self.shard.transactions[usize::from(!committed)], 1);
    }
}

impl Drop for SessionCounters {
    fn drop(&mut self) {
        self.owner.retire(&self.shard);
    }
}

/// A counter or gauge series.
pub(crate) fn series(labels: &[&str], value: f64) -> MetricSeries {
    MetricSeries {
        label_values: labels.iter().map(|l| RString::from(*l)).collect(),
        value,
        bucket_counts: RVec::new(),
        count: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_match_the_sdk_buckets() {
        let sdk: Vec<u64> = names::QUERY_DURATION_BUCKETS
            .iter()
            .map(|s| (s * 1e6).round() as u64)
            .collect();
        assert_eq!(sdk, BOUNDS_US.to_vec());
    }

    #[test]
    fn command_kinds() {
        assert_eq!(CommandKind::of("SELECT").label(), "SELECT");
        assert_eq!(CommandKind::of("CREATE TABLE").label(), "DDL");
        assert_eq!(CommandKind::of("DROP VIEW").label(), "DDL");
        assert_eq!(CommandKind::of("SET").label(), "UTILITY");
        assert_eq!(CommandKind::of("EXPLAIN").label(), "OTHER");
        assert_eq!(CommandKind::of("").label(), "OTHER");
    }

    #[test]
    fn sessions_sum_into_families_and_survive_their_end() {
        let m = Metrics::new();
        let sql = SqlMetrics::new();
        sql.register(&m).unwrap();
        let (a, b) = (sql.session(), sql.session());
        a.statement(CommandKind::of("SELECT"), true, 7, 3, 0);
        b.statement(CommandKind::of("SELECT"), true, 2_000, 1, 0);
        b.statement(CommandKind::of("INSERT"), false, 20_000_000, 0, 5);
        a.command(CommandKind::UTILITY, true);
        a.transaction(true);
        b.transaction(false);
        let check = |m: &Metrics| {
            let snap = m.snapshot();
            let find = |n: &str| snap.iter().find(|f| f.desc.name == n).unwrap();
            let q = find(names::QUERIES_TOTAL);
            let get = |c: &str, o: &str| {
                q.series
                    .iter()
                    .find(|s| s.label_values[0] == c && s.label_values[1] == o)
                    .unwrap()
                    .value
            };
            assert_eq!(get("SELECT", "ok"), 2.0);
            assert_eq!(get("INSERT", "error"), 1.0);
            assert_eq!(get("UTILITY", "ok"), 1.0);
            assert_eq!(get("DELETE", "ok"), 0.0);
            let h = &find(names::QUERY_DURATION_SECONDS).series[0];
            assert_eq!(h.count, 3);
            assert_eq!(h.bucket_counts[0], 1); // 7 µs <= 10 µs
            assert_eq!(h.bucket_counts[6], 2); // 2 ms <= 2.5 ms
            assert_eq!(*h.bucket_counts.last().unwrap(), 2); // 20 s only in +Inf
            assert!((h.value - 20.002007).abs() < 1e-9, "{}", h.value);
            assert_eq!(find(names::ROWS_READ_TOTAL).series[0].value, 4.0);
            assert_eq!(find(names::ROWS_WRITTEN_TOTAL).series[0].value, 5.0);
            let t = &find(names::TRANSACTIONS_TOTAL).series;
            assert_eq!((t[0].value, t[1].value), (1.0, 1.0));
        };
        check(&m);
        // Ended sessions' counts stay in the totals, counted once.
        drop(a);
        check(&m);
        drop(b);
        check(&m);
        assert!(sql.live().is_empty());
    }
}
