//! `LIKE` / `ILIKE` and the POSIX regular expression operators.

// `DbResult` carries the whole `AionError` by design (it crosses the plugin
// boundary unchanged), so the large-`Err` lint does not apply here.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::error::{AionError, DbResult, SqlState};

enum Tok {
    Star,
    One,
    Lit(char),
}

/// Reads the pattern token at byte `i`; returns it and the next index.
#[inline]
fn token(p: &str, i: usize, escape: Option<char>) -> DbResult<(Tok, usize)> {
    let c = p[i..].chars().next().unwrap_or('\0');
    let next = i + c.len_utf8();
    if Some(c) == escape {
        return match p[next..].chars().next() {
            Some(e) => Ok((Tok::Lit(e), next + e.len_utf8())),
            None => Err(AionError::new(
                SqlState::new(b"22025"),
                "LIKE pattern must not end with escape character",
            )),
        };
    }
    Ok((
        match c {
            '%' => Tok::Star,
            '_' => Tok::One,
            c => Tok::Lit(c),
        },
        next,
    ))
}

#[inline]
fn chars_eq(a: char, b: char, ci: bool) -> bool {
    a == b || (ci && (a.to_lowercase().eq(b.to_lowercase())))
}

/// LIKE / ILIKE with PostgreSQL escape semantics (default escape '\';
/// None = no escape). `%` matches any run of characters, `_` exactly one.
/// Runs without allocating: a single backtrack point after the last `%`
/// is enough for wildcard patterns of this kind.
pub fn like_match(
    s: &str,
    pattern: &str,
    case_insensitive: bool,
    escape: Option<char>,
) -> DbResult<bool> {
    let (mut si, mut pi) = (0usize, 0usize);
    // (pattern index after the last %, string index it is retried from)
    let mut star: Option<(usize, usize)> = None;
    loop {
        if si == s.len() {
            // Out of text: only `%` may remain. PostgreSQL stops here too,
            // so a trailing escape that is never reached is no error.
            if pattern[pi..].bytes().all(|b| b == b'%') {
                return Ok(true);
            }
        } else if pi < pattern.len() {
            let (tok, next) = token(pattern, pi, escape)?;
            match tok {
                Tok::Star => {
                    star = Some((next, si));
                    pi = next;
                    continue;
                }
                Tok::One => {
                    if let Some(c) = s[si..].chars().next() {
                        si += c.len_utf8();
                        pi = next;
                        continue;
                    }
                }
                Tok::Lit(l) => {
                    if let Some(c) = s[si..].chars().next() {
                        if chars_eq(c, l, case_insensitive) {
                            si += c.len_utf8();
                            pi = next;
                            continue;
                        }
                    }
                }
            }
        }
        match star {
            Some((sp, ss)) if ss < s.len() => {
                let step = s[ss..].chars().next().map_or(1, char::len_utf8);
                star = Some((sp, ss + step));
                pi = sp;
                si = ss + step;
            }
            _ => {
                // PostgreSQL still rejects a trailing escape it never
                // reached only when matching gets there; so do we.
                return Ok(false);
            }
        }
    }
}

const REGEX_CACHE_SIZE: usize = 64;

thread_local! {
    /// Compiled patterns, case-sensitive and case-insensitive.
    static REGEX_CACHE: RefCell<[HashMap<String, regex::Regex>; 2]> =
        RefCell::new([HashMap::new(), HashMap::new()]);
}

/// POSIX regular expression match (`~`, `~*`).
///
/// Uses the `regex` crate, whose dialect is close to PostgreSQL's ARE for
/// everyday patterns but lacks back-references and lookaround, and reads
/// a few escapes differently (`\m`, `\M`, `\y` word boundaries are not
/// supported). Compiled patterns are cached per thread, since the same
/// pattern is usually matched against many rows.
pub fn regex_match(s: &str, pattern: &str, case_insensitive: bool) -> DbResult<bool> {
    REGEX_CACHE.with(|cache| {
        let mut caches = cache.borrow_mut();
        let cache = &mut caches[case_insensitive as usize];
        if let Some(re) = cache.get(pattern) {
            return Ok(re.is_match(s));
        }
        let re = regex::RegexBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|e| {
                AionError::new(
                    SqlState::new(b"2201B"),
                    format!("invalid regular expression: {}", first_line(&e.to_string())),
                )
            })?;
        let hit = re.is_match(s);
        if cache.len() >= REGEX_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(pattern.to_string(), re);
        Ok(hit)
    })
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim_start_matches("error: ")
}
