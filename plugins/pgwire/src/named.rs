//! Prepared statements and portals by name.
//!
//! The unnamed one (every portal of most drivers and of `pgbench -M
//! prepared`, every statement of some) sits in its own field: no hashing
//! and no string compare on the hot path. Named ones are few per
//! connection and short, so they are hashed with the SDK's id hasher
//! (SipHash's setup costs more than the names); a client choosing names
//! that collide only slows its own connection.

use std::collections::HashMap;

use aiondb_sdk::hash::BuildIdHasher;

pub(crate) struct Named<T> {
    unnamed: Option<T>,
    named: HashMap<String, T, BuildIdHasher>,
}

impl<T> Default for Named<T> {
    fn default() -> Self {
        Named {
            unnamed: None,
            named: HashMap::default(),
        }
    }
}

impl<T> Named<T> {
    #[inline]
    pub fn get(&self, name: &str) -> Option<&T> {
        if name.is_empty() {
            self.unnamed.as_ref()
        } else {
            self.named.get(name)
        }
    }

    #[inline]
    pub fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        if name.is_empty() {
            self.unnamed.as_mut()
        } else {
            self.named.get_mut(name)
        }
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Adds or replaces `name`; the replaced entry comes back.
    pub fn insert(&mut self, name: String, value: T) -> Option<T> {
        if name.is_empty() {
            self.unnamed.replace(value)
        } else {
            self.named.insert(name, value)
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<T> {
        if name.is_empty() {
            self.unnamed.take()
        } else {
            self.named.remove(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_and_named_entries_are_separate() {
        let mut n: Named<u32> = Named::default();
        assert_eq!(n.insert(String::new(), 1), None);
        assert_eq!(n.insert("P0_1".into(), 2), None);
        assert_eq!(n.insert(String::new(), 3), Some(1));
        assert_eq!(n.get(""), Some(&3));
        assert_eq!(n.get("P0_1"), Some(&2));
        assert!(n.contains_key("P0_1"));
        assert!(!n.contains_key("P0_2"));
        if let Some(v) = n.get_mut("P0_1") {
            *v = 4;
        }
        assert_eq!(n.remove("P0_1"), Some(4));
        assert_eq!(n.remove("P0_1"), None);
        assert_eq!(n.remove(""), Some(3));
        assert_eq!(n.get(""), None);
    }
}
