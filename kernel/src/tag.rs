//! Command tags (`SELECT 2`, `INSERT 0 1`, `CREATE TABLE`) kept inline:
//! nearly every tag is a few bytes, and a result that carried a `String`
//! paid an allocation and a free per statement for it.

use std::fmt;
use std::ops::Deref;

/// Inline capacity; longer tags go to the heap.
const INLINE: usize = 38;

#[derive(Clone)]
pub struct Tag(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<str>),
}

impl Tag {
    pub fn new(s: &str) -> Tag {
        if s.len() > INLINE {
            return Tag(Repr::Heap(s.into()));
        }
        let mut buf = [0u8; INLINE];
        buf[..s.len()].copy_from_slice(s.as_bytes());
        Tag(Repr::Inline {
            len: s.len() as u8,
            buf,
        })
    }

    /// `prefix`, a space, then `n` in decimal (`SELECT 3`, `INSERT 0 1`).
    pub fn counted(prefix: &str, n: u64) -> Tag {
        let mut buf = [0u8; 20];
        let digits = aiondb_sdk::value::decimal(n, &mut buf);
        let len = prefix.len() + 1 + digits.len();
        if len > INLINE {
            // Only a prefix longer than any command name gets here.
            return Tag(Repr::Heap(format!("{prefix} {n}").into()));
        }
        let mut buf = [0u8; INLINE];
        buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
        buf[prefix.len()] = b' ';
        buf[prefix.len() + 1..len].copy_from_slice(digits);
        Tag(Repr::Inline {
            len: len as u8,
            buf,
        })
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only `new` and `counted` fill the buffer, from a `str` and
            // ASCII digits: it is always UTF-8.
            Repr::Inline { len, buf } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or("")
            }
            Repr::Heap(s) => s,
        }
    }
}

impl Default for Tag {
    fn default() -> Self {
        Tag::new("")
    }
}

impl Deref for Tag {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Tag {
    fn from(s: &str) -> Tag {
        Tag::new(s)
    }
}

impl From<String> for Tag {
    fn from(s: String) -> Tag {
        Tag::new(&s)
    }
}

impl PartialEq<str> for Tag {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Tag {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq for Tag {
    fn eq(&self, other: &Tag) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_tags_read_back() {
        assert_eq!(Tag::counted("SELECT", 0), "SELECT 0");
        assert_eq!(
            Tag::counted("INSERT 0", u64::MAX),
            "INSERT 0 18446744073709551615"
        );
        assert_eq!(Tag::new("CREATE TABLE"), "CREATE TABLE");
        let long = "X".repeat(INLINE + 5);
        assert_eq!(Tag::new(&long).as_str(), long);
        assert_eq!(
            Tag::counted(&long, 42).as_str(),
            format!("{long} 42").as_str()
        );
        assert_eq!(Tag::default(), "");
        assert_eq!(Tag::from(String::from("BEGIN")).to_string(), "BEGIN");
    }
}
