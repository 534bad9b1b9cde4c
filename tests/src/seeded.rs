//! What the randomized tests share: a seeded generator, so that a seed names the same
//! world on every machine and with every dependency version, and the seeds to run, which
//! `TRIBUTARY_SEED` can replace (`17` replays one world, `1..40` explores many).

/// SplitMix64: a few lines, and no dependency whose version could change the worlds.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// One of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The seeds to run: `default`, or what `TRIBUTARY_SEED` says (`17` or `1..40`, both ends
/// included).
pub fn seeds(default: &[u64]) -> Vec<u64> {
    let Ok(spec) = std::env::var("TRIBUTARY_SEED") else {
        return default.to_vec();
    };
    let (a, b) = spec.split_once("..").unwrap_or((&spec, &spec));
    let (a, b): (u64, u64) = (
        a.trim().parse().expect("TRIBUTARY_SEED: a number or a..b"),
        b.trim().parse().expect("TRIBUTARY_SEED: a number or a..b"),
    );
    (a..=b).collect()
}
