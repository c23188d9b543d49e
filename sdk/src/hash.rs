//! A hasher for integer ids (plan ids, table ids): one multiplication
//! (Fibonacci hashing) instead of SipHash, for maps that sit on per-statement
//! paths and whose keys no client chooses, or whose colliding keys would
//! only slow the client that chose them (a connection's statement names).

use std::hash::{BuildHasherDefault, Hasher};

/// Multiplies the id by 2^64 / phi; spreads sequential ids over all bits.
#[derive(Default, Clone, Copy, Debug)]
pub struct IdHasher(u64);

const PHI: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(PHI);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i.wrapping_mul(PHI);
    }
}

/// `HashMap<K, V, BuildIdHasher>`.
pub type BuildIdHasher = BuildHasherDefault<IdHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn sequential_ids_spread_over_the_high_bits() {
        let b = BuildIdHasher::default();
        let tops: std::collections::HashSet<u64> =
            (0u64..128).map(|i| b.hash_one(i) >> 57).collect();
        // hashbrown's 7-bit tags come from the top bits: they must differ.
        assert!(tops.len() > 64, "{}", tops.len());
    }
}
