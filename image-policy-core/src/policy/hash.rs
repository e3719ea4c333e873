//! A fast, deterministic hasher for the rule tables.
//!
//! The tables are built from the policy (the operator's strings) and only
//! *looked up* with image parts (the attacker's strings). Flooding a hash table
//! needs control of the keys inserted, so a keyed hash (SipHash, std's
//! default) buys nothing here and costs a third of an evaluation; this is the
//! multiply-rotate hash of rustc's `FxHasher`, eight bytes at a time.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` keyed with [`FastHasher`].
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

/// See the [module documentation](self).
#[derive(Clone, Copy, Default)]
pub(crate) struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn distinguishes_strings_that_differ_in_the_tail_or_length() {
        let b = BuildHasherDefault::<FastHasher>::default();
        let h = |s: &str| b.hash_one(s);
        assert_ne!(h("registry.my.com"), h("registry.my.co"));
        assert_ne!(h("abcdefgh"), h("abcdefgh\0"));
        assert_ne!(h("a"), h("a\0"));
        assert_eq!(h("docker.io"), h("docker.io"));
    }
}
