//! The seam for security randomness: SCRAM nonces and salts, anything an attacker must not
//! predict. The binary draws it from the operating system's CSPRNG whatever `--seed` says (a
//! seeded nonce repeats after a restart, and a recorded SCRAM exchange would replay); only the
//! simulator substitutes [`SeededRandom`], so a seed still decides every byte of its runs.
//! Ids that need only be unique (topic ids, the cluster id) stay on the broker's seeded
//! generator.

use std::sync::Mutex;

// The CSPRNG seam: the one place the broker draws from the OS (broker/clippy.toml forbids the
// type elsewhere; it catches imports and type positions).
#[allow(clippy::disallowed_types)]
use rand::rngs::OsRng;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Unpredictable bytes for security material.
pub trait SecureRandom: Send + Sync + 'static {
    /// Fills `bytes` with random bytes.
    fn fill(&self, bytes: &mut [u8]);
}

/// The operating system's CSPRNG (`getrandom`); what the broker binary uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, bytes: &mut [u8]) {
        // OsRng panics only if the OS has no entropy source at all; nothing can be done then.
        OsRng.fill_bytes(bytes);
    }
}

/// A ChaCha20 stream from a seed: reproducible, so for the simulator only — never for a
/// broker that real clients authenticate to.
#[derive(Debug)]
pub struct SeededRandom(Mutex<ChaCha20Rng>);

impl SeededRandom {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(ChaCha20Rng::seed_from_u64(seed)))
    }
}

impl SecureRandom for SeededRandom {
    fn fill(&self, bytes: &mut [u8]) {
        self.0.lock().expect("seeded random lock poisoned").fill_bytes(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_random_differs_between_draws_and_seeded_random_repeats() {
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        OsRandom.fill(&mut a);
        OsRandom.fill(&mut b);
        assert_ne!(a, b);
        SeededRandom::new(1).fill(&mut a);
        SeededRandom::new(1).fill(&mut b);
        assert_eq!(a, b);
    }
}
