//! The registry of loaded plugins and the capabilities they provide.
//!
//! Statically linked plugins and `.so` files go through the same path: a
//! [`PluginModuleRef`] whose `register` is called with a host handle, and
//! whose [`Registration`] is checked here before anything starts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use abi_stable::std_types::{ROption, RResult};
use aiondb_sdk::capability::{known_capability, CapabilityId, Cardinality, KNOWN_CAPABILITIES};
use aiondb_sdk::host::HostRef;
use aiondb_sdk::plugin::{LifecycleBox, PluginModuleRef, ProviderObject, Registration};

use crate::loader::{kernel_sdk_version, PluginError};

/// Where a plugin came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSource {
    /// Linked into the binary.
    Static,
    /// Loaded from a shared library.
    Dylib(PathBuf),
}

impl fmt::Display for PluginSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginSource::Static => f.write_str("static"),
            PluginSource::Dylib(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A plugin module waiting to be registered.
#[derive(Clone)]
pub struct Candidate {
    pub module: PluginModuleRef,
    pub source: PluginSource,
}

impl Candidate {
    pub fn name(&self) -> String {
        self.module.name().to_string()
    }
}

/// A capability requirement, as plain Rust data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    pub capability: CapabilityId,
    pub key: Option<String>,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{}:{}", self.capability, k),
            None => write!(f, "{}", self.capability),
        }
    }
}

/// A registered plugin.
pub struct LoadedPlugin {
    pub name: String,
    pub version: String,
    pub description: String,
    pub sdk_version: String,
    pub source: PluginSource,
    /// (capability, key) pairs this plugin provides.
    pub provides: Vec<(CapabilityId, String)>,
    pub requires: Vec<Need>,
    pub(crate) lifecycle: Option<LifecycleBox>,
    pub(crate) started: AtomicBool,
}

impl LoadedPlugin {
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }
}

/// One provider of one capability.
pub struct Provider {
    pub capability: CapabilityId,
    pub key: String,
    /// Index of the providing plugin in [`Registry::plugins`].
    pub plugin: usize,
    object: ProviderObject,
    calls: Box<StripedCount>,
}

/// Counter stripes owned by one thread each: threads add to different
/// cache lines.
const STRIPES: usize = 8;

/// A count that many threads add to on every statement: one shared atomic
/// would move its cache line between cores on each add, so each of the
/// first `STRIPES` threads adds to a stripe of its own, with a plain load
/// and store (no locked instruction: its owner is the only writer), and
/// later threads share one more stripe with atomic adds. A read sums them.
#[derive(Default)]
struct StripedCount {
    owned: [Padded; STRIPES],
    shared: Padded,
}

#[derive(Default)]
#[repr(align(64))]
struct Padded(AtomicU64);

/// Source of the thread numbers; numbers from `STRIPES` on share a stripe.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed);
}

impl StripedCount {
    #[inline]
    fn add(&self) {
        match STRIPE.try_with(|s| *s).ok().and_then(|i| self.owned.get(i)) {
            Some(mine) => mine
                .0
                .store(mine.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed),
            None => {
                self.shared.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn sum(&self) -> u64 {
        self.owned
            .iter()
            .chain(std::iter::once(&self.shared))
            .map(|p| p.0.load(Ordering::Relaxed))
            .sum()
    }
}

impl Provider {
    /// The provider object; counts the use for per-plugin call metrics.
    pub fn object(&self) -> &ProviderObject {
        self.calls.add();
        &self.object
    }

    pub fn calls(&self) -> u64 {
        self.calls.sum()
    }
}

/// Plugins in dependency (start) order and their providers by capability.
pub struct Registry {
    plugins: Vec<LoadedPlugin>,
    providers: BTreeMap<CapabilityId, BTreeMap<String, Arc<Provider>>>,
}

/// Every refusal found while building a registry, one line each.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryError(pub Vec<PluginError>);

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RegistryError {}

impl Registry {
    /// Registers every candidate, checks the result and orders plugins by
    /// their dependencies. `host_for` gives each plugin its host handle.
    pub fn build(
        candidates: Vec<Candidate>,
        host_for: impl Fn(&str) -> HostRef,
    ) -> Result<Registry, RegistryError> {
        let mut errors = Vec::new();
        let mut plugins: Vec<LoadedPlugin> = Vec::new();
        let mut providers: BTreeMap<CapabilityId, BTreeMap<String, Provider>> = BTreeMap::new();
        let mut seen_names: BTreeMap<String, PluginSource> = BTreeMap::new();

        for cand in candidates {
            let name = cand.name();
            let path = cand.source.to_string();
            if name.is_empty() {
                errors.push(PluginError::new(
                    "<unnamed>",
                    &path,
                    "invalid plugin name",
                    "a non-empty name",
                    "\"\"",
                ));
                continue;
            }
            if let Some(prev) = seen_names.get(&name) {
                errors.push(PluginError::new(
                    &name,
                    &path,
                    "plugin loaded twice",
                    "one copy of each plugin",
                    format!("another copy from {prev}"),
                ));
                continue;
            }
            seen_names.insert(name.clone(), cand.source.clone());

            let sdk_version = cand.module.sdk_version().to_string();
            let registration: Registration = match (cand.module.register())(host_for(&name)) {
                RResult::ROk(r) => r,
                RResult::RErr(e) => {
                    errors.push(PluginError::new(
                        &name,
                        &path,
                        "registration failed",
                        "register() to succeed",
                        format!("{} ({})", e.message, e.sqlstate),
                    ));
                    continue;
                }
            };

            let index = plugins.len();
            let mut provides = Vec::new();
            let mut ok = true;
            for p in registration.provides {
                let cap = p.capability.clone();
                let key = p.key.to_string();
                let Some(known) = known_capability(&cap.name, cap.major) else {
                    let majors: Vec<String> = KNOWN_CAPABILITIES
                        .iter()
                        .filter(|k| k.name == cap.name.as_str())
                        .map(|k| format!("{}/{}", k.name, k.major))
                        .collect();
                    let (what, expected) = if majors.is_empty() {
                        (
                            "unknown capability",
                            "a capability this kernel knows (see `aiondb plugins`)".to_string(),
                        )
                    } else {
                        ("unknown capability major version", majors.join(" or "))
                    };
                    errors.push(PluginError::new(
                        &name,
                        &path,
                        what,
                        expected,
                        cap.to_string(),
                    ));
                    ok = false;
                    continue;
                };
                if p.object.capability_name() != known.name {
                    errors.push(PluginError::new(
                        &name,
                        &path,
                        "provider object does not implement the capability it claims",
                        format!("a {} object", cap.name),
                        format!("a {} object", p.object.capability_name()),
                    ));
                    ok = false;
                    continue;
                }
                let slot = providers.entry(cap.clone()).or_default();
                let clash = match known.cardinality {
                    Cardinality::One => slot.values().next().map(|p| p.plugin),
                    Cardinality::Keyed => slot.get(&key).map(|p| p.plugin),
                };
                if let Some(existing) = clash {
                    let other = plugins
                        .get(existing)
                        .map_or_else(|| name.clone(), |pl| pl.name.clone());
                    let (what, expected) = match known.cardinality {
                        Cardinality::One => (
                            format!("second provider of {cap}, which allows one"),
                            "a single provider".to_string(),
                        ),
                        Cardinality::Keyed => (
                            format!("duplicate provider key {key:?} for {cap}"),
                            "unique keys".to_string(),
                        ),
                    };
                    errors.push(PluginError::new(
                        &name,
                        &path,
                        what,
                        expected,
                        format!("also provided by plugin {other}"),
                    ));
                    ok = false;
                    continue;
                }
                slot.insert(
                    key.clone(),
                    Provider {
                        capability: cap.clone(),
                        key: key.clone(),
                        plugin: index,
                        object: p.object,
                        calls: Box::default(),
                    },
                );
                provides.push((cap, key));
            }
            if !ok {
                // Keep the plugin's other providers out of the registry too:
                // a half-registered plugin is worse than a refused one.
                for slot in providers.values_mut() {
                    slot.retain(|_, p| p.plugin != index);
                }
                continue;
            }
            let requires = registration
                .requires
                .into_iter()
                .map(|r| Need {
                    capability: r.capability,
                    key: match r.key {
                        ROption::RSome(k) => Some(k.to_string()),
                        ROption::RNone => None,
                    },
                })
                .collect();
            plugins.push(LoadedPlugin {
                name,
                version: cand.module.version().to_string(),
                description: cand.module.description().to_string(),
                sdk_version,
                source: cand.source,
                provides,
                requires,
                lifecycle: registration.lifecycle.into_option(),
                started: AtomicBool::new(false),
            });
        }
        providers.retain(|_, slot| !slot.is_empty());

        // Every requirement must be met by some loaded provider.
        let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); plugins.len()];
        for (i, plugin) in plugins.iter().enumerate() {
            for need in &plugin.requires {
                if known_capability(&need.capability.name, need.capability.major).is_none() {
                    errors.push(PluginError::new(
                        &plugin.name,
                        plugin.source.to_string(),
                        "requires an unknown capability",
                        "a capability this kernel knows",
                        need.to_string(),
                    ));
                    continue;
                }
                let found: Vec<&Provider> = providers
                    .get(&need.capability)
                    .map(|slot| {
                        slot.values()
                            .filter(|p| need.key.as_ref().is_none_or(|k| &p.key == k))
                            .collect()
                    })
                    .unwrap_or_default();
                if found.is_empty() {
                    errors.push(PluginError::new(
                        &plugin.name,
                        plugin.source.to_string(),
                        "missing required capability",
                        format!("a provider of {need}"),
                        "none loaded",
                    ));
                }
                for p in found {
                    if p.plugin != i {
                        deps[i].insert(p.plugin);
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(RegistryError(errors));
        }

        let order = topo_order(&deps).map_err(|cycle| {
            let names: Vec<&str> = cycle.iter().map(|&i| plugins[i].name.as_str()).collect();
            RegistryError(vec![PluginError::new(
                names.first().copied().unwrap_or("?"),
                "-",
                "dependency cycle between plugins",
                "an acyclic set of requirements",
                names.join(" -> "),
            )])
        })?;

        // Reorder plugins into start order and remap provider indices.
        let mut position = vec![0usize; plugins.len()];
        for (pos, &old) in order.iter().enumerate() {
            position[old] = pos;
        }
        let mut slots: Vec<Option<LoadedPlugin>> = plugins.into_iter().map(Some).collect();
        let plugins: Vec<LoadedPlugin> = order.iter().filter_map(|&i| slots[i].take()).collect();
        let providers = providers
            .into_iter()
            .map(|(cap, slot)| {
                let slot = slot
                    .into_iter()
                    .map(|(k, mut p)| {
                        p.plugin = position[p.plugin];
                        (k, Arc::new(p))
                    })
                    .collect();
                (cap, slot)
            })
            .collect();
        Ok(Registry { plugins, providers })
    }

    /// Plugins in start order.
    pub fn plugins(&self) -> &[LoadedPlugin] {
        &self.plugins
    }

    /// All providers of `name/major`, by key.
    pub fn providers(&self, name: &str, major: u32) -> impl Iterator<Item = &Arc<Provider>> {
        self.providers
            .get(&CapabilityId::new(name, major))
            .into_iter()
            .flat_map(|slot| slot.values())
    }

    /// The provider of `name/major` under `key`.
    pub fn provider(&self, name: &str, major: u32, key: &str) -> Option<&Arc<Provider>> {
        self.providers
            .get(&CapabilityId::new(name, major))?
            .get(key)
    }

    /// The single provider of a one-provider capability.
    pub fn single(&self, name: &str, major: u32) -> Option<&Arc<Provider>> {
        self.providers(name, major).next()
    }

    /// A stable, comparable description of the registry: one line per
    /// plugin with what it provides and requires. Static and dynamic loads of
    /// the same plugins give the same summary (sources aside).
    pub fn summary(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .plugins
            .iter()
            .map(|p| {
                let provides: Vec<String> =
                    p.provides.iter().map(|(c, k)| format!("{c}:{k}")).collect();
                let requires: Vec<String> = p.requires.iter().map(|n| n.to_string()).collect();
                format!(
                    "{} {} provides [{}] requires [{}]",
                    p.name,
                    p.version,
                    provides.join(", "),
                    requires.join(", ")
                )
            })
            .collect();
        lines.sort();
        lines
    }
}

/// Kahn's algorithm, stable by input order. Returns the cycle members on
/// failure.
fn topo_order(deps: &[BTreeSet<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = deps.len();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d]));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => return Err((0..n).filter(|&i| !done[i]).collect()),
        }
    }
    Ok(order)
}

/// Checks that a statically linked module was built against this SDK (it
/// always is, unless a build mixes SDK versions).
pub(crate) fn check_static_sdk(module: &PluginModuleRef) -> Result<(), PluginError> {
    let found = module.sdk_version().as_str();
    if found != kernel_sdk_version() {
        return Err(PluginError::new(
            module.name().as_str(),
            "static",
            "built against a different SDK",
            format!("aiondb-sdk {}", kernel_sdk_version()),
            format!("aiondb-sdk {found}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topo_orders_dependencies_first() {
        // 0 needs 2, 1 needs 0.
        let deps = vec![BTreeSet::from([2]), BTreeSet::from([0]), BTreeSet::new()];
        assert_eq!(topo_order(&deps), Ok(vec![2, 0, 1]));
    }

    #[test]
    fn topo_reports_cycles() {
        let deps = vec![BTreeSet::from([1]), BTreeSet::from([0]), BTreeSet::new()];
        assert_eq!(topo_order(&deps), Err(vec![0, 1]));
    }

    #[test]
    fn striped_counts_add_up_across_threads() {
        let count = Arc::new(StripedCount::default());
        // More threads than owned stripes: some share the last one.
        let threads: Vec<_> = (0..(STRIPES + 4))
            .map(|_| {
                let c = Arc::clone(&count);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.add();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(count.sum(), (STRIPES as u64 + 4) * 1000);
    }
}
