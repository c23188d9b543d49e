//! Metrics registered by the kernel and by plugins through the host API.
//! The HTTP surface renders [`Metrics::snapshot`] as Prometheus text.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock, Weak};

use abi_stable::std_types::{RString, RVec};
use aiondb_sdk::capability::KNOWN_CAPABILITIES;
use aiondb_sdk::error::{AionError, SqlState};
use aiondb_sdk::host::{MetricDesc, MetricFamily, MetricId, MetricKind, MetricOp, MetricSeries};

use crate::registry::Registry;
use crate::sql_metrics::series;

#[derive(Default, Clone)]
struct SeriesState {
    value: f64,
    buckets: Vec<u64>,
    count: u64,
}

/// Reads the current series of a family the kernel keeps outside the
/// registry (lock-free counters, the plugin registry).
pub type Collector = Box<dyn Fn() -> Vec<MetricSeries> + Send + Sync>;

struct Family {
    desc: MetricDesc,
    series: Mutex<HashMap<Vec<String>, SeriesState>>,
    /// Set for families whose values live elsewhere; `record` ignores them.
    collector: Option<Collector>,
}

/// The kernel's metric registry.
#[derive(Default)]
pub struct Metrics {
    families: RwLock<Vec<Family>>,
}

fn valid_name(name: &str) -> bool {
    name.starts_with("aiondb_")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a family. Registering the same description again returns
    /// the existing id (plugins may re-register on restart); a different
    /// description under a taken name is refused.
    pub fn register(&self, desc: MetricDesc) -> Result<MetricId, AionError> {
        self.register_family(desc, None)
    }

    /// Registers a family whose series `collector` produces at snapshot time.
    /// Host calls recording into it are dropped: its owner updates it.
    pub fn register_collected(
        &self,
        desc: MetricDesc,
        collector: Collector,
    ) -> Result<MetricId, AionError> {
        self.register_family(desc, Some(collector))
    }

    fn register_family(
        &self,
        desc: MetricDesc,
        collector: Option<Collector>,
    ) -> Result<MetricId, AionError> {
        if !valid_name(&desc.name) {
            return Err(AionError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!(
                    "invalid metric name \"{}\": use aiondb_ followed by [a-z0-9_]",
                    desc.name
                ),
            ));
        }
        if desc.kind == MetricKind::Histogram
            && (desc.buckets.is_empty() || desc.buckets.windows(2).any(|w| w[0] >= w[1]))
        {
            return Err(AionError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!(
                    "histogram \"{}\" needs strictly ascending bucket bounds",
                    desc.name
                ),
            ));
        }
        let mut families = self.families.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = families.iter().position(|f| f.desc.name == desc.name) {
            if families[i].desc == desc {
                return Ok(MetricId(i as u32));
            }
            return Err(AionError::new(
                SqlState::DUPLICATE_OBJECT,
                format!(
                    "metric \"{}\" is already registered with a different description",
                    desc.name
                ),
            ));
        }
        families.push(Family {
            desc,
            series: Mutex::new(HashMap::new()),
            collector,
        });
        Ok(MetricId((families.len() - 1) as u32))
    }

    /// Applies `op` to the series with these label values. Calls with an
    /// unknown id, the wrong number of labels or an op that does not fit the
    /// kind are dropped (and logged once at debug): metrics never fail a query.
    pub fn record(&self, id: MetricId, labels: &[&str], op: MetricOp) {
        let families = self.families.read().unwrap_or_else(|e| e.into_inner());
        let Some(f) = families.get(id.0 as usize) else {
            log::debug!("metric id {} is not registered", id.0);
            return;
        };
        if f.collector.is_some() {
            log::debug!("metric {} is maintained by the kernel", f.desc.name);
            return;
        }
        if labels.len() != f.desc.label_names.len() {
            log::debug!(
                "metric {}: expected {} labels, got {}",
                f.desc.name,
                f.desc.label_names.len(),
                labels.len()
            );
            return;
        }
        let mut series = f.series.lock().unwrap_or_else(|e| e.into_inner());
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        let s = series.entry(key).or_insert_with(|| SeriesState {
            buckets: vec![0; f.desc.buckets.len()],
            ..Default::default()
        });
        match (f.desc.kind, op) {
            (MetricKind::Counter, MetricOp::Add(d)) if d >= 0.0 => s.value += d,
            (MetricKind::Gauge, MetricOp::Add(d)) => s.value += d,
            (MetricKind::Gauge, MetricOp::Set(v)) => s.value = v,
            (MetricKind::Histogram, MetricOp::Observe(v)) => {
                s.value += v;
                s.count += 1;
                for (b, bound) in s.buckets.iter_mut().zip(f.desc.buckets.iter()) {
                    if v <= *bound {
                        *b += 1;
                    }
                }
            }
            (kind, op) => log::debug!(
                "metric {}: {op:?} does not apply to a {kind:?}",
                f.desc.name
            ),
        }
    }

    /// A consistent copy of every family, series sorted by labels.
    pub fn snapshot(&self) -> RVec<MetricFamily> {
        let families = self.families.read().unwrap_or_else(|e| e.into_inner());
        families
            .iter()
            .map(|f| {
                if let Some(collect) = &f.collector {
                    return MetricFamily {
                        desc: f.desc.clone(),
                        series: RVec::from(collect()),
                    };
                }
                let series = f.series.lock().unwrap_or_else(|e| e.into_inner());
                let mut rows: Vec<(&Vec<String>, &SeriesState)> = series.iter().collect();
                rows.sort_by(|a, b| a.0.cmp(b.0));
                MetricFamily {
                    desc: f.desc.clone(),
                    series: rows
                        .into_iter()
                        .map(|(labels, s)| MetricSeries {
                            label_values: labels
                                .iter()
                                .map(|l| RString::from(l.as_str()))
                                .collect(),
                            value: s.value,
                            bucket_counts: RVec::from(s.buckets.clone()),
                            count: s.count,
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

/// Registers the standard families the kernel owns or reserves (see
/// `aiondb_sdk::metrics`), except the session counters of
/// [`crate::sql_metrics`]. Families recorded by plugins that may not be
/// loaded get their unlabelled series at zero, so scrapers see them from the
/// first scrape. Plugin families read the registry at scrape time through a
/// weak handle: plugins may hold host handles that own these metrics.
pub(crate) fn register_standard(
    metrics: &Metrics,
    registry: Weak<Registry>,
) -> Result<(), AionError> {
    use aiondb_sdk::metrics as names;
    let std = |name: &str| {
        names::standard(name)
            .ok_or_else(|| AionError::internal(format!("{name} is not a standard metric")))
    };
    metrics.register_collected(
        std(names::BUILD_INFO)?,
        Box::new(|| vec![series(&[env!("CARGO_PKG_VERSION")], 1.0)]),
    )?;
    for name in [
        names::PGWIRE_CONNECTIONS_ACTIVE,
        names::PGWIRE_CONNECTIONS_TOTAL,
        names::AUTH_FAILURES_TOTAL,
        names::WAL_BYTES_TOTAL,
        names::WAL_FSYNCS_TOTAL,
        names::ENGINE_POOL_QUEUE_DEPTH,
    ] {
        let id = metrics.register(std(name)?)?;
        metrics.record(id, &[], MetricOp::Add(0.0));
    }
    let weak = registry.clone();
    metrics.register_collected(
        std(names::PLUGIN_CALLS_TOTAL)?,
        Box::new(move || {
            let Some(registry) = weak.upgrade() else {
                return Vec::new();
            };
            let plugins = registry.plugins();
            let mut out = Vec::new();
            for known in KNOWN_CAPABILITIES {
                for p in registry.providers(known.name, known.major) {
                    let plugin = plugins.get(p.plugin).map_or("?", |l| l.name.as_str());
                    let capability = p.capability.to_string();
                    out.push(series(&[plugin, &capability, &p.key], p.calls() as f64));
                }
            }
            out.sort_by(|a, b| a.label_values.cmp(&b.label_values));
            out
        }),
    )?;
    metrics.register_collected(
        std(names::PLUGIN_STARTED)?,
        Box::new(move || {
            let Some(registry) = registry.upgrade() else {
                return Vec::new();
            };
            registry
                .plugins()
                .iter()
                .map(|p| {
                    series(
                        &[&p.name, &p.version],
                        if p.is_started() { 1.0 } else { 0.0 },
                    )
                })
                .collect()
        }),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(name: &str, kind: MetricKind, buckets: Vec<f64>) -> MetricDesc {
        MetricDesc {
            name: name.into(),
            help: "help".into(),
            kind,
            label_names: RVec::from(vec![RString::from("outcome")]),
            buckets: RVec::from(buckets),
        }
    }

    #[test]
    fn counters_gauges_histograms() {
        let m = Metrics::new();
        let c = m
            .register(desc("aiondb_queries_total", MetricKind::Counter, vec![]))
            .unwrap();
        let h = m
            .register(desc(
                "aiondb_latency_seconds",
                MetricKind::Histogram,
                vec![0.1, 1.0],
            ))
            .unwrap();
        m.record(c, &["ok"], MetricOp::Add(2.0));
        m.record(c, &["ok"], MetricOp::Add(-1.0)); // ignored: counters only grow
        m.record(c, &["error"], MetricOp::Add(1.0));
        m.record(h, &["ok"], MetricOp::Observe(0.05));
        m.record(h, &["ok"], MetricOp::Observe(0.5));
        let snap = m.snapshot();
        assert_eq!(snap[0].series.len(), 2);
        assert_eq!(snap[0].series[1].value, 2.0); // "ok" sorts after "error"
        assert_eq!(snap[1].series[0].bucket_counts.as_slice(), &[1, 2]);
        assert_eq!(snap[1].series[0].count, 2);
    }

    #[test]
    fn names_and_duplicates() {
        let m = Metrics::new();
        assert!(m
            .register(desc("queries", MetricKind::Counter, vec![]))
            .is_err());
        let a = m
            .register(desc("aiondb_x", MetricKind::Counter, vec![]))
            .unwrap();
        assert_eq!(
            m.register(desc("aiondb_x", MetricKind::Counter, vec![]))
                .unwrap(),
            a
        );
        assert!(m
            .register(desc("aiondb_x", MetricKind::Gauge, vec![]))
            .is_err());
        assert!(m
            .register(desc("aiondb_h", MetricKind::Histogram, vec![1.0, 1.0]))
            .is_err());
    }
}
