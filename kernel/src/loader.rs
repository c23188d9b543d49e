//! Finding and opening plugin libraries, with every refusal summarised to one
//! line (plugin, path, expected, found) instead of abi_stable's layout dump.

use std::fmt;
use std::path::{Path, PathBuf};

use abi_stable::library::{lib_header_from_path, LibraryError, RootModule};
use abi_stable::sabi_types::{VersionNumber, VersionStrings};
use aiondb_sdk::plugin::PluginModuleRef;

/// Why a plugin was refused. Displays as one line.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError {
    /// Plugin name, or the file name when the library could not be read.
    pub plugin: String,
    /// `static` or the library path.
    pub path: String,
    pub what: String,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "plugin {} refused ({}): {}: expected {}, found {}",
            self.plugin, self.path, self.what, self.expected, self.found
        )
    }
}

impl std::error::Error for PluginError {}

impl PluginError {
    pub fn new(
        plugin: impl Into<String>,
        path: impl Into<String>,
        what: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        PluginError {
            plugin: plugin.into(),
            path: path.into(),
            what: what.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// Shared-library file names the loader picks up from a plugin directory.
fn is_plugin_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("so") | Some("dylib") | Some("dll")
    )
}

/// Lists plugin libraries in `dir`, sorted by file name so that load order
/// (and therefore error order) is deterministic.
pub fn scan_plugin_dir(dir: &Path) -> Result<Vec<PathBuf>, PluginError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        PluginError::new(
            "<plugin-dir>",
            dir.display().to_string(),
            "cannot read plugin directory",
            "a readable directory",
            e.to_string(),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_plugin_file(p))
        .collect();
    files.sort();
    Ok(files)
}

/// The SDK version this kernel was built with.
pub fn kernel_sdk_version() -> &'static str {
    PluginModuleRef::VERSION_STRINGS.version.as_str()
}

/// Whether a plugin built against SDK `found` can be loaded by a kernel built
/// against `expected`: same major, and same minor while the major is 0.
fn compatible(expected: &VersionNumber, found: &VersionNumber) -> bool {
    expected.major == found.major && (expected.major != 0 || expected.minor == found.minor)
}

fn expected_range() -> String {
    match VersionNumber::new(PluginModuleRef::VERSION_STRINGS) {
        Ok(v) if v.major == 0 => format!("aiondb-sdk {}.{}.x", v.major, v.minor),
        Ok(v) => format!("aiondb-sdk {}.x", v.major),
        Err(_) => format!("aiondb-sdk {}", kernel_sdk_version()),
    }
}

/// Opens one plugin library and initialises its root module.
///
/// Never uses `RootModule::load_from_file`, which caches one module per
/// root-module type per process: every library gets its own header and root
/// module here. Libraries stay loaded for the life of the process.
pub fn open_dylib(path: &Path) -> Result<PluginModuleRef, PluginError> {
    let shown = path.display().to_string();
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    let header = lib_header_from_path(path).map_err(|e| summarize(&file, &shown, e))?;

    // Check the SDK version ourselves first so the message names both sides.
    let found_strings: VersionStrings = header.version_strings();
    let found = VersionNumber::new(found_strings).map_err(|_| {
        PluginError::new(
            &file,
            &shown,
            "unreadable SDK version",
            expected_range(),
            found_strings.version.as_str(),
        )
    })?;
    let expected = VersionNumber::new(PluginModuleRef::VERSION_STRINGS).map_err(|_| {
        PluginError::new(
            &file,
            &shown,
            "kernel SDK version unreadable",
            "x.y.z",
            kernel_sdk_version(),
        )
    })?;
    if !compatible(&expected, &found) {
        return Err(PluginError::new(
            &file,
            &shown,
            "built against an incompatible SDK",
            expected_range(),
            format!("aiondb-sdk {}", found_strings.version),
        ));
    }
    header
        .init_root_module::<PluginModuleRef>()
        .map_err(|e| summarize(&file, &shown, e))
}

/// Turns abi_stable's (often hundreds of lines long) errors into one line.
fn summarize(file: &str, path: &str, err: LibraryError) -> PluginError {
    match err {
        LibraryError::OpenError { err, .. } => PluginError::new(
            file,
            path,
            "cannot open library",
            "a loadable shared library",
            first_line(&err.to_string()),
        ),
        LibraryError::GetSymbolError { .. } => PluginError::new(
            file,
            path,
            "not an AionDB plugin",
            "an exported aiondb root module (aiondb_sdk::export_plugin!)",
            "no root module symbol",
        ),
        LibraryError::ParseVersionError(e) => PluginError::new(
            file,
            path,
            "unreadable SDK version",
            expected_range(),
            first_line(&e.to_string()),
        ),
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => PluginError::new(
            file,
            path,
            "built against an incompatible SDK",
            expected_range(),
            format!("aiondb-sdk {actual_version}"),
        ),
        LibraryError::RootModule { err, .. } => PluginError::new(
            file,
            path,
            "root module failed to initialise",
            "a root module",
            first_line(&err.to_string()),
        ),
        LibraryError::AbiInstability(_) => PluginError::new(
            file,
            path,
            "ABI layout mismatch (rebuild the plugin against this SDK)",
            format!("the type layout of aiondb-sdk {}", kernel_sdk_version()),
            "a different layout",
        ),
        LibraryError::InvalidAbiHeader(h) => PluginError::new(
            file,
            path,
            "incompatible abi_stable runtime",
            "abi_stable 0.11",
            format!("abi_stable header {}.{}", h.abi_major, h.abi_minor),
        ),
        LibraryError::InvalidCAbi { .. } => PluginError::new(
            file,
            path,
            "C ABI mismatch",
            "the kernel's C ABI",
            "a different C ABI",
        ),
        other => PluginError::new(
            file,
            path,
            "cannot load library",
            "an AionDB plugin",
            first_line(&other.to_string()),
        ),
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    if line.len() > 200 {
        let mut cut = 200;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...", &line[..cut])
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_compatibility() {
        let v = |major, minor| VersionNumber {
            major,
            minor,
            patch: 0,
        };
        assert!(compatible(&v(0, 1), &v(0, 1)));
        assert!(!compatible(&v(0, 1), &v(0, 2)));
        assert!(compatible(&v(1, 1), &v(1, 4)));
        assert!(!compatible(&v(1, 0), &v(2, 0)));
    }

    #[test]
    fn missing_file_is_one_line() {
        let Err(err) = open_dylib(Path::new("/nonexistent/libnothing.so")) else {
            panic!("a missing file must not load");
        };
        let line = err.to_string();
        assert!(line.contains("libnothing.so"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn scan_ignores_other_files() {
        let dir = std::env::temp_dir().join(format!("aiondb-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.so"), b"x").unwrap();
        std::fs::write(dir.join("a.so"), b"x").unwrap();
        std::fs::write(dir.join("README.md"), b"x").unwrap();
        let files = scan_plugin_dir(&dir).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, vec!["a.so", "b.so"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
