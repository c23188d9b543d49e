//! Response bodies, as pure functions of what the host reports, so they are
//! tested without a server.

use std::fmt::Write;

use aiondb_sdk::host::{
    KernelStatus, MetricFamily, MetricKind, MetricSeries, Readiness, SettingValue,
};
use aiondb_sdk::metrics::PGWIRE_CONNECTIONS_ACTIVE;
use serde_json::{json, Value as Json};

/// Prometheus text exposition format 0.0.4. Families or series that could not
/// be written validly (bad label names, label count or bucket count) are
/// left out and logged at debug level rather than breaking the scrape.
pub fn prometheus_text(families: &[MetricFamily]) -> String {
    let mut out = String::with_capacity(4096);
    for f in families {
        let d = &f.desc;
        if !valid_name(&d.name) || !d.label_names.iter().all(|l| valid_label_name(l)) {
            log::debug!("metric family {} left out: invalid name", d.name);
            continue;
        }
        if d.kind == MetricKind::Histogram && d.label_names.iter().any(|l| l.as_str() == "le") {
            log::debug!(
                "histogram {} left out: it uses the reserved label le",
                d.name
            );
            continue;
        }
        let kind = match d.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        let _ = writeln!(out, "# HELP {} {}", d.name, escape_help(&d.help));
        let _ = writeln!(out, "# TYPE {} {kind}", d.name);
        for s in f.series.iter() {
            if s.label_values.len() != d.label_names.len() {
                log::debug!("metric {}: series with wrong label count left out", d.name);
                continue;
            }
            let labels: Vec<(&str, &str)> = d
                .label_names
                .iter()
                .zip(s.label_values.iter())
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            if d.kind == MetricKind::Histogram {
                write_histogram(&mut out, &d.name, &labels, &d.buckets, s);
            } else {
                write_sample(&mut out, &d.name, &labels, None, &number(s.value));
            }
        }
    }
    out
}

fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    bounds: &[f64],
    s: &MetricSeries,
) {
    if s.bucket_counts.len() != bounds.len() {
        log::debug!("histogram {name}: series with wrong bucket count left out");
        return;
    }
    let bucket = format!("{name}_bucket");
    for (bound, count) in bounds.iter().zip(s.bucket_counts.iter()) {
        let le = number(*bound);
        write_sample(out, &bucket, labels, Some(&le), &count.to_string());
    }
    write_sample(out, &bucket, labels, Some("+Inf"), &s.count.to_string());
    write_sample(out, &format!("{name}_sum"), labels, None, &number(s.value));
    write_sample(
        out,
        &format!("{name}_count"),
        labels,
        None,
        &s.count.to_string(),
    );
}

fn write_sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    le: Option<&str>,
    value: &str,
) {
    out.push_str(name);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (n, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{n}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// A sample value: integers without a fraction, Go's spellings for the
/// non-finite values.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    !name.starts_with("__")
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn plugin_states(status: &KernelStatus) -> Vec<Json> {
    status
        .plugins
        .iter()
        .map(|p| {
            json!({
                "name": p.name.as_str(),
                "version": p.version.as_str(),
                "started": p.started,
            })
        })
        .collect()
}

/// Body of `/healthz` and `/readyz`.
pub fn readiness_json(status: &KernelStatus, families: &[MetricFamily]) -> String {
    let active: f64 = families
        .iter()
        .filter(|f| f.desc.name.as_str() == PGWIRE_CONNECTIONS_ACTIVE)
        .flat_map(|f| f.series.iter().map(|s| s.value))
        .sum();
    json!({
        "status": status.readiness.as_str(),
        "ready": status.readiness == Readiness::Ready,
        "version": status.version.as_str(),
        "active_connections": active.max(0.0) as u64,
        "plugins": plugin_states(status),
    })
    .to_string()
}

/// Body of `/info`. Settings are read one by one and only those that say
/// what the deployment is: no paths, addresses or credentials.
pub fn info_json(status: &KernelStatus, setting: &dyn Fn(&str) -> Option<SettingValue>) -> String {
    let text = |key: &str| match setting(key) {
        Some(SettingValue::Text(t)) => Some(t.to_string()),
        _ => None,
    };
    let flag = |key: &str| matches!(setting(key), Some(SettingValue::Bool(true)));
    let version = status.version.as_str();
    let release_line = version.split('.').take(2).collect::<Vec<_>>().join(".");
    let ephemeral = flag("AIONDB_EPHEMERAL");
    let backend = text("AIONDB_STORAGE_BACKEND").unwrap_or_else(|| "durable".to_string());
    let persistent = !ephemeral && backend != "in_memory";
    let allow_unencrypted = flag("AIONDB_ALLOW_UNENCRYPTED_STORAGE");
    // The kernel does not probe the filesystem itself: persistent backends
    // refuse an unencrypted one unless the operator allowed it.
    let encryption = if !persistent {
        "not_applicable"
    } else if allow_unencrypted {
        "not_enforced"
    } else {
        "required"
    };
    let deployment = match text("AIONDB_HA_MODE").as_deref() {
        None | Some("single_node") => "single-node".to_string(),
        Some(other) => other.replace('_', "-"),
    };
    let plugins: Vec<Json> = status
        .plugins
        .iter()
        .map(|p| {
            json!({
                "name": p.name.as_str(),
                "version": p.version.as_str(),
                // The kind of source only: a .so path would reveal the
                // plugin directory setting.
                "source": if p.source.as_str() == "static" { "static" } else { "dylib" },
                "started": p.started,
                "capabilities": p.provides.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                "requires": p.requires.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "name": "aiondb",
        "version": version,
        "release_line": release_line,
        "status": status.readiness.as_str(),
        "deployment_mode": deployment,
        "replication_mode": text("AIONDB_REPLICATION_MODE").unwrap_or_else(|| "none".to_string()),
        "storage": {
            "backend": backend,
            "ephemeral": ephemeral,
            "persistent": persistent,
        },
        "data_dir_encryption": {
            "status": encryption,
            "allow_unencrypted_storage": allow_unencrypted,
        },
        "plugins": plugins,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiondb_sdk::host::{MetricDesc, PluginStatus};
    use aiondb_sdk::prelude::{RString, RVec};

    fn family(name: &str, kind: MetricKind, labels: &[&str], buckets: &[f64]) -> MetricDesc {
        MetricDesc {
            name: name.into(),
            help: "Help with a \\ backslash\nand a newline.".into(),
            kind,
            label_names: labels.iter().map(|l| RString::from(*l)).collect(),
            buckets: RVec::from(buckets.to_vec()),
        }
    }

    fn series(labels: &[&str], value: f64, buckets: &[u64], count: u64) -> MetricSeries {
        MetricSeries {
            label_values: labels.iter().map(|l| RString::from(*l)).collect(),
            value,
            bucket_counts: RVec::from(buckets.to_vec()),
            count,
        }
    }

    #[test]
    fn counters_gauges_and_escaping() {
        let text = prometheus_text(&[
            MetricFamily {
                desc: family("aiondb_c_total", MetricKind::Counter, &["who"], &[]),
                series: RVec::from(vec![
                    series(&["a\"b\\c\nd"], 3.0, &[], 0),
                    series(&["x"], 0.5, &[], 0),
                    series(&["too", "many"], 1.0, &[], 0),
                ]),
            },
            MetricFamily {
                desc: family("aiondb_g", MetricKind::Gauge, &[], &[]),
                series: RVec::from(vec![series(&[], f64::INFINITY, &[], 0)]),
            },
        ]);
        assert_eq!(
            text,
            "# HELP aiondb_c_total Help with a \\\\ backslash\\nand a newline.\n\
             # TYPE aiondb_c_total counter\n\
             aiondb_c_total{who=\"a\\\"b\\\\c\\nd\"} 3\n\
             aiondb_c_total{who=\"x\"} 0.5\n\
             # HELP aiondb_g Help with a \\\\ backslash\\nand a newline.\n\
             # TYPE aiondb_g gauge\n\
             aiondb_g +Inf\n"
        );
    }

    #[test]
    fn histograms_have_buckets_inf_sum_and_count() {
        let text = prometheus_text(&[MetricFamily {
            desc: family(
                "aiondb_h_seconds",
                MetricKind::Histogram,
                &["op"],
                &[0.001, 0.5],
            ),
            series: RVec::from(vec![
                series(&["r"], 1.25, &[1, 2], 3),
                series(&["w"], 0.0, &[1], 1), // wrong bucket count: left out
            ]),
        }]);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "aiondb_h_seconds_bucket{op=\"r\",le=\"0.001\"} 1",
                "aiondb_h_seconds_bucket{op=\"r\",le=\"0.5\"} 2",
                "aiondb_h_seconds_bucket{op=\"r\",le=\"+Inf\"} 3",
                "aiondb_h_seconds_sum{op=\"r\"} 1.25",
                "aiondb_h_seconds_count{op=\"r\"} 3",
            ]
        );
    }

    #[test]
    fn invalid_families_are_left_out() {
        let text = prometheus_text(&[
            MetricFamily {
                desc: family("aiondb_x", MetricKind::Gauge, &["bad-label"], &[]),
                series: RVec::new(),
            },
            MetricFamily {
                desc: family("aiondb_h", MetricKind::Histogram, &["le"], &[1.0]),
                series: RVec::new(),
            },
        ]);
        assert_eq!(text, "");
    }

    fn status(readiness: Readiness) -> KernelStatus {
        KernelStatus {
            version: "1.2.3".into(),
            readiness,
            plugins: RVec::from(vec![PluginStatus {
                name: "p".into(),
                version: "0.1.0".into(),
                source: "/secret/dir/libp.so".into(),
                provides: RVec::from(vec![RString::from("surface/1:http")]),
                requires: RVec::new(),
                started: true,
            }]),
        }
    }

    #[test]
    fn readiness_reports_state_connections_and_plugins() {
        let families = [MetricFamily {
            desc: family(PGWIRE_CONNECTIONS_ACTIVE, MetricKind::Gauge, &[], &[]),
            series: RVec::from(vec![series(&[], 4.0, &[], 0)]),
        }];
        let v: Json =
            serde_json::from_str(&readiness_json(&status(Readiness::Draining), &families)).unwrap();
        assert_eq!(v["status"], "draining");
        assert_eq!(v["ready"], false);
        assert_eq!(v["active_connections"], 4);
        assert_eq!(v["plugins"][0]["name"], "p");
        assert_eq!(v["plugins"][0]["started"], true);
    }

    #[test]
    fn info_describes_the_deployment_without_paths() {
        let setting = |key: &str| match key {
            "AIONDB_STORAGE_BACKEND" => Some(SettingValue::Text("durable".into())),
            "AIONDB_HA_MODE" => Some(SettingValue::Text("single_node".into())),
            "AIONDB_DATA_DIR" => Some(SettingValue::Text("/secret/data".into())),
            _ => None,
        };
        let body = info_json(&status(Readiness::Ready), &setting);
        assert!(!body.contains("/secret"), "{body}");
        let v: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(v["version"], "1.2.3");
        assert_eq!(v["release_line"], "1.2");
        assert_eq!(v["deployment_mode"], "single-node");
        assert_eq!(v["storage"]["backend"], "durable");
        assert_eq!(v["storage"]["persistent"], true);
        assert_eq!(v["data_dir_encryption"]["status"], "required");
        assert_eq!(v["plugins"][0]["source"], "dylib");
        assert_eq!(v["plugins"][0]["capabilities"][0], "surface/1:http");
    }
}
