//! Dump file paths: relative to the data directory and never out of it.

use std::path::{Component, Path, PathBuf};

use crate::{AionError, DbResult, SqlState};

/// Resolves `relative` inside `data_dir` for a dump (`for_output`) or a
/// restore.
///
/// Refuses (42501) an absolute path, any `..` component, and a path that
/// resolves outside the canonical data directory through a symlink. For
/// output, the parent directory must exist (58P01) and the file must not
/// (58P02: a dump never overwrites a file); for input, the file must exist
/// (58P01). The result is in the canonical data directory.
pub fn resolve_in_data_dir(data_dir: &Path, relative: &str, for_output: bool) -> DbResult<PathBuf> {
    let rel = Path::new(relative);
    if relative.trim().is_empty() {
        return Err(AionError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "the dump file name is empty",
        ));
    }
    let outside = |msg: String| {
        AionError::new(SqlState::INSUFFICIENT_PRIVILEGE, msg).with_hint(
            "Give a path relative to the data directory, such as backups/db.sql, that stays inside it.",
        )
    };
    for c in rel.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => {
                return Err(outside(format!(
                "dump path \"{relative}\" is absolute; it must be relative to the data directory"
            )))
            }
            Component::ParentDir => {
                return Err(outside(format!(
                "dump path \"{relative}\" contains \"..\"; it must stay inside the data directory"
            )))
            }
            Component::CurDir | Component::Normal(_) => {}
        }
    }
    let root = std::fs::canonicalize(data_dir).map_err(|e| {
        AionError::new(
            SqlState::UNDEFINED_FILE,
            format!("data directory \"{}\": {e}", data_dir.display()),
        )
    })?;
    let joined = root.join(rel);
    let escapes = |p: &Path| {
        outside(format!(
            "dump path \"{relative}\" resolves to \"{}\", outside the data directory \"{}\" (through a symbolic link)",
            p.display(),
            root.display()
        ))
    };
    if for_output {
        let Some(name) = joined.file_name().map(|n| n.to_os_string()) else {
            return Err(AionError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("dump path \"{relative}\" does not name a file"),
            ));
        };
        let parent = joined.parent().unwrap_or(&root);
        let parent = std::fs::canonicalize(parent).map_err(|e| {
            AionError::new(
                SqlState::UNDEFINED_FILE,
                format!(
                    "directory of dump path \"{relative}\" (\"{}\"): {e}",
                    parent.display()
                ),
            )
            .with_hint("Create the directory first; dump creates only the file.")
        })?;
        if !parent.starts_with(&root) {
            return Err(escapes(&parent));
        }
        let target = parent.join(name);
        // symlink_metadata: a dangling symlink is an existing file too.
        if std::fs::symlink_metadata(&target).is_ok() {
            return Err(AionError::new(
                SqlState::new(b"58P02"),
                format!(
                    "dump file \"{}\" already exists; dump never overwrites a file",
                    target.display()
                ),
            )
            .with_hint("Choose a new file name or move the old dump away."));
        }
        Ok(target)
    } else {
        let target = std::fs::canonicalize(&joined).map_err(|e| {
            AionError::new(
                SqlState::UNDEFINED_FILE,
                format!("dump file \"{}\": {e}", joined.display()),
            )
        })?;
        if !target.starts_with(&root) {
            return Err(escapes(&target));
        }
        if !target.is_file() {
            return Err(AionError::new(
                SqlState::UNDEFINED_FILE,
                format!("dump file \"{}\" is not a regular file", target.display()),
            ));
        }
        Ok(target)
    }
}
