//! Compiled plans kept between executions of one kernel plan.
//!
//! The kernel gives plans it reruns (prepared statements, its plan cache) a
//! process-unique `Plan::cache_id`. For those, the operator tree, compiled
//! expressions, table definitions and the evaluation context built for one
//! execution are handed back here when it ends and reused by the next one:
//! operators are re-`open`ed for every execution anyway (correlated
//! subqueries and lateral joins rely on that), so a rerun only refreshes the
//! per-statement inputs (transaction, times, parameters).
//!
//! Reuse is refused (and the plan compiled afresh) when the catalog version
//! changed since compiling, when the services differ, in read-only
//! transactions (build-time checks such as FOR UPDATE depend on it), and for
//! plans whose state lives outside the operators (subqueries, recursive
//! CTEs, data-modifying CTEs, window functions, table functions, EXPLAIN,
//! DDL).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aiondb_sdk::plan::{ExprKind, Operator};
use aiondb_sdk::prelude::*;

use crate::dml::DmlSpec;
use crate::ops::{QueryCursor, QueryState};
use crate::shared::*;

/// Entries kept at most per executor and thread; beyond it the cache
/// starts over (plans of dropped statements are never told about).
const CAPACITY: usize = 512;

enum Entry {
    Query(Box<QueryState>),
    Dml(Box<(EvalCx, DmlSpec)>),
}

struct Kept {
    catalog_version: u64,
    entry: Entry,
}

/// Plan ids hashed with one multiplication (SipHash would cost more than
/// the rest of a lookup).
type PlanMap = HashMap<u64, Kept, aiondb_sdk::hash::BuildIdHasher>;

/// Source of `PlanCache` instance ids.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// One thread's kept states.
#[derive(Default)]
struct ThreadKept {
    /// The state given back last, with its (instance, plan id): a session
    /// rerunning one statement takes it back from here without hashing.
    last: Option<(u64, u64, Kept)>,
    /// The others, per executor instance.
    maps: HashMap<u64, PlanMap, aiondb_sdk::hash::BuildIdHasher>,
}

thread_local! {
    /// Kept states per executor instance, per thread: taking and giving
    /// back a state costs no lock, and sessions on other threads never
    /// wait for each other here. A session runs a statement on one thread,
    /// so it finds its states again; when it moves to another thread it
    /// compiles once there. Plugin libraries stay loaded for the life of
    /// the process, so these destructors can always run.
    static KEPT: RefCell<ThreadKept> = RefCell::new(ThreadKept::default());
}

/// One executor's kept states (the key of its per-thread maps).
pub(crate) struct PlanCache {
    instance: u64,
}

impl Default for PlanCache {
    fn default() -> Self {
        PlanCache {
            instance: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl Drop for PlanCache {
    fn drop(&mut self) {
        // Other threads' maps keep this instance's states until their
        // thread ends or the map starts over; they are never used again.
        // Dropped outside the borrow (see `put`).
        let gone = KEPT.try_with(|k| {
            let mut k = k.try_borrow_mut().ok()?;
            let last = match &k.last {
                Some((inst, _, _)) if *inst == self.instance => k.last.take(),
                _ => None,
            };
            Some((last, k.maps.remove(&self.instance)))
        });
        drop(gone);
    }
}

/// Where a running query's state goes back to.
pub(crate) struct Home {
    cache: Arc<PlanCache>,
    id: u64,
    catalog_version: u64,
}

impl Home {
    pub(crate) fn give_back_query(self, st: Box<QueryState>) {
        self.cache
            .put(self.id, self.catalog_version, Entry::Query(st));
    }
}

impl PlanCache {
    fn take(&self, id: u64) -> Option<Kept> {
        KEPT.try_with(|k| {
            let mut k = k.try_borrow_mut().ok()?;
            if matches!(&k.last, Some((inst, i, _)) if *inst == self.instance && *i == id) {
                return k.last.take().map(|(_, _, kept)| kept);
            }
            k.maps.get_mut(&self.instance)?.remove(&id)
        })
        .ok()
        .flatten()
    }

    fn put(&self, id: u64, catalog_version: u64, entry: Entry) {
        let kept = Kept {
            catalog_version,
            entry,
        };
        // Dropped outside the borrow: dropping a state may run code that
        // comes back here (a cursor giving back its own state).
        let evicted = KEPT.try_with(|k| {
            let mut k = k.try_borrow_mut().ok()?;
            let previous = k.last.replace((self.instance, id, kept))?;
            let (inst, pid, prev) = previous;
            if inst == self.instance && pid == id {
                // A second state of the same plan (a cursor still open
                // while it ran again): one is enough.
                return Some((Some(prev), None));
            }
            let map = k.maps.entry(inst).or_default();
            let evicted = (map.len() >= CAPACITY).then(|| std::mem::take(map));
            let replaced = map.insert(pid, prev);
            Some((replaced, evicted))
        });
        drop(evicted);
    }
}

/// Whether every operator of `plan` keeps all its per-execution state in
/// itself (re-`open` resets it) and no expression holds a subquery.
fn cacheable(plan: &Plan) -> bool {
    let nodes_ok = plan.nodes.iter().enumerate().all(|(i, n)| match &n.op {
        Operator::SeqScan { .. }
        | Operator::IndexScan { .. }
        | Operator::Filter { .. }
        | Operator::Project { .. }
        | Operator::Values { .. }
        | Operator::Limit { .. }
        | Operator::Sort { .. }
        | Operator::Join { .. }
        | Operator::Aggregate { .. }
        | Operator::Distinct { .. } => true,
        Operator::Insert { .. } | Operator::Update { .. } | Operator::Delete { .. } => {
            i == plan.root as usize
        }
        // Worktables live in the context, and the CTEs' DML operators run
        // once per operator instance (`WithDml` is listed to say so).
        Operator::WithDml { .. } => false,
        _ => false,
    });
    nodes_ok
        && !plan
            .exprs
            .iter()
            .any(|e| matches!(e.kind, ExprKind::Subquery { .. }))
}

/// Whether `b` names the same providers as the ones `cx` was compiled
/// with. The objects are compared by address: `cx` holds clones of them,
/// so an equal address is the same object. Their keys are strings and are
/// compared once per caller's `Services` value (remembered by address, the
/// kernel passes its engine's long-lived one); only a different value at
/// that address holding these very objects under other keys could fool
/// this.
fn same_services(cx: &mut EvalCx, b: &Services) -> bool {
    let a = &cx.services;
    let same_objects = std::ptr::eq(&*a.catalog, &*b.catalog)
        && std::ptr::eq(&*a.parser, &*b.parser)
        && a.storages.len() == b.storages.len()
        && a.storages
            .iter()
            .zip(b.storages.iter())
            .all(|(x, y)| std::ptr::eq(&*x.backend, &*y.backend))
        && a.functions.len() == b.functions.len()
        && a.functions
            .iter()
            .zip(b.functions.iter())
            .all(|(x, y)| std::ptr::eq(&*x.set, &*y.set));
    if !same_objects {
        return false;
    }
    let addr = b as *const Services as usize;
    if cx.services_seen == addr {
        return true;
    }
    let same_keys = a.default_storage == b.default_storage
        && a.storages
            .iter()
            .zip(b.storages.iter())
            .all(|(x, y)| x.key == y.key)
        && a.functions
            .iter()
            .zip(b.functions.iter())
            .all(|(x, y)| x.key == y.key);
    if same_keys {
        cx.services_seen = addr;
    }
    same_keys
}

/// Copies a run's parameters over the last run's, refilling the kept text
/// and bytea buffers: a kept statement's parameters then allocate nothing.
fn copy_params(dst: &mut Vec<Value>, src: &[Value]) {
    dst.truncate(src.len());
    for (d, s) in dst.iter_mut().zip(src) {
        match (d, s) {
            (Value::Text(d), Value::Text(s)) => {
                d.clear();
                d.push_str(s);
            }
            (Value::Bytea(d), Value::Bytea(s)) => {
                d.clear();
                d.extend_from_slice(s);
            }
            (d, s) => d.clone_from(s),
        }
    }
    let kept = dst.len();
    dst.extend_from_slice(src.get(kept..).unwrap_or_default());
}

/// Prepares a kept context for another execution; false when it cannot be
/// reused.
fn refresh(cx: &mut EvalCx, ctx: &ExecContext, services: &Services, params: &[Value]) -> bool {
    if !cx.stats.is_empty() || !same_services(cx, services) {
        return false;
    }
    // Destructured without `..`: a new ExecContext field must be handled.
    let ExecContext {
        txn,
        isolation,
        read_only,
        txn_start,
        statement_start,
        deadline_unix_us,
        lock_timeout_ms,
        max_result_rows,
        max_result_bytes,
        memory_limit_bytes,
        max_recursive_rows,
        max_recursive_iterations,
        user,
        database,
        search_path,
        settings,
        session,
        cancel,
    } = ctx;
    let c = &mut cx.ctx;
    c.txn = *txn;
    c.isolation = *isolation;
    c.read_only = *read_only;
    c.txn_start = *txn_start;
    c.statement_start = *statement_start;
    c.deadline_unix_us = *deadline_unix_us;
    c.lock_timeout_ms = *lock_timeout_ms;
    c.max_result_rows = *max_result_rows;
    c.max_result_bytes = *max_result_bytes;
    c.memory_limit_bytes = *memory_limit_bytes;
    c.max_recursive_rows = *max_recursive_rows;
    c.max_recursive_iterations = *max_recursive_iterations;
    if c.cancel != *cancel {
        c.cancel = cancel.clone();
    }
    // A session's user and database never change, and its search path
    // changes only together with its settings (see `ExecContext`): the
    // same session with the same settings object needs no string compared.
    // The settings are held here, so an equal address is the same object.
    let same_settings = std::ptr::eq(&*c.settings, &**settings);
    if c.session != *session || !same_settings {
        if c.user != *user {
            c.user = user.clone();
        }
        if c.database != *database {
            c.database = database.clone();
        }
        if c.search_path != *search_path {
            c.search_path = search_path.clone();
        }
    }
    c.session = *session;
    if !same_settings {
        c.settings = settings.clone();
        // SET TimeZone / DateStyle since the last run.
        cx.format = crate::shared::format_options(&cx.ctx);
        cx.zone = crate::shared::zone_setting(&cx.ctx);
    }
    copy_params(&mut cx.params, params);
    cx.outer.clear();
    cx.subplans.clear();
    cx.worktables.clear();
    cx.mem_used = 0;
    cx.fk_cache = None;
    true
}

/// A started execution: a cursor from the general path, or a kept query
/// that has not been boxed (yet).
enum Started {
    Boxed(RowCursorBox),
    Query(QueryCursor),
    /// A kept DML statement that ran: its RETURNING rows and count (no
    /// cursor object or schema copy when the caller wants it all).
    Dml(Vec<Vec<Value>>, u64),
    /// A kept query that ran straight into the caller's batch
    /// (`QueryState::run_into`): its row count.
    Done(u64),
}

/// `Executor::execute`, reusing compiled state for kernel-kept plans.
pub(crate) fn execute(
    cache: &Arc<PlanCache>,
    ctx: &ExecContext,
    services: &Services,
    plan: &Plan,
    params: &[Value],
) -> DbResult<RowCursorBox> {
    Ok(match start(cache, ctx, services, plan, params, None)? {
        Started::Done(_) => return Err(AionError::internal("a kept query ran without a cursor")),
        Started::Boxed(c) => c,
        Started::Query(q) => aiondb_sdk::plugin::guarded_cursor(q),
        Started::Dml(rows, affected) => crate::dml::finish_dml(plan, (rows, affected))?,
    })
}

/// `Executor::run`: the whole result into `out`, without boxing a cursor
/// for kept queries.
pub(crate) fn run(
    cache: &Arc<PlanCache>,
    ctx: &ExecContext,
    services: &Services,
    plan: &Plan,
    params: &[Value],
    out: &mut RowBatch,
) -> DbResult<u64> {
    match start(cache, ctx, services, plan, params, Some(out))? {
        Started::Done(n) => Ok(n),
        Started::Query(mut q) => q.drain_into(out),
        Started::Dml(rows, affected) => {
            crate::dml::push_returning(out, rows)?;
            Ok(affected)
        }
        Started::Boxed(mut c) => {
            while let Some(b) = c.next_batch(0).into_result()?.into_option() {
                if b.width() != out.width() {
                    return Err(bad_plan(format!(
                        "result batch of width {} where the plan declares {}",
                        b.width(),
                        out.width()
                    )));
                }
                out.append(b);
            }
            c.rows_affected().into_result()
        }
    }
}

fn start(
    cache: &Arc<PlanCache>,
    ctx: &ExecContext,
    services: &Services,
    plan: &Plan,
    params: &[Value],
    out: Option<&mut RowBatch>,
) -> DbResult<Started> {
    let id = plan.cache_id;
    if id == 0 || ctx.read_only {
        return crate::shared::execute(ctx, services, plan, params).map(Started::Boxed);
    }
    let root = node_of(plan, plan.root)?;
    let dml = matches!(
        root.op,
        Operator::Insert { .. } | Operator::Update { .. } | Operator::Delete { .. }
    );
    let version = services.catalog.version();
    let kept = cache
        .take(id)
        .filter(|k| k.catalog_version == version)
        .map(|k| k.entry);
    if dml {
        let reused = match kept {
            Some(Entry::Dml(mut run)) => refresh(&mut run.0, ctx, services, params).then_some(run),
            _ => None,
        };
        let mut run = match reused {
            Some(run) => run,
            None => {
                if !cacheable(plan) {
                    return crate::shared::execute(ctx, services, plan, params).map(Started::Boxed);
                }
                let mut cx = EvalCx::new(ctx, services, params);
                let spec = crate::dml::compile_dml(&mut cx, plan, plan.root)?;
                Box::new((cx, spec))
            }
        };
        let (cx, spec) = &mut *run;
        let (rows, affected) = spec.run(cx)?;
        cache.put(id, version, Entry::Dml(run));
        return Ok(Started::Dml(rows, affected));
    }
    let reused = match kept {
        Some(Entry::Query(mut st)) => refresh(&mut st.cx, ctx, services, params).then_some(st),
        _ => None,
    };
    let mut st = match reused {
        Some(st) => st,
        None => {
            if !cacheable(plan) {
                return crate::shared::execute(ctx, services, plan, params).map(Started::Boxed);
            }
            crate::ops::compile_query(ctx, services, plan, params)?
        }
    };
    if let Some(out) = out {
        if let Some(r) = st.run_into(out) {
            // A failed run's state is not reused.
            let n = r?;
            cache.put(id, version, Entry::Query(st));
            return Ok(Started::Done(n));
        }
    }
    st.root.open(&mut st.cx)?;
    Ok(Started::Query(QueryCursor::new(
        st,
        Some(Home {
            cache: Arc::clone(cache),
            id,
            catalog_version: version,
        }),
    )))
}

#[cfg(test)]
mod tests {
    use super::copy_params;
    use aiondb_sdk::value::Value;

    #[test]
    fn copied_params_equal_the_new_ones_whatever_the_last_run_left() {
        let mut kept = Vec::new();
        let runs = [
            vec![Value::text("a longer first text"), Value::Int4(1)],
            vec![Value::text("short"), Value::Null],
            vec![
                Value::Null,
                Value::text("now text"),
                Value::Bytea(vec![1, 2].into()),
            ],
            vec![
                Value::Int8(7),
                Value::text(""),
                Value::Bytea(vec![3].into()),
            ],
            vec![Value::text("only one")],
            vec![],
        ];
        for run in &runs {
            copy_params(&mut kept, run);
            assert_eq!(&kept, run);
        }
    }
}
