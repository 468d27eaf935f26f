//! The order of a cell's genes: keys that sort by value, highest first,
//! with ties broken by a hash of (seed, cell, gene); the per-cell ranker
//! over them; and a ranked cell's values as runs of equal values.

/// FNV-1a then a SplitMix64 finaliser: a stable, dependency-free hash whose
/// output never changes between Rust versions (std's hashers make no such promise).
pub fn stable_hash(seed: u64, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Sort key of one expressed gene: value descending, then the tie hash, then
/// the column. Packed into one integer so sorting compares a single u128
/// (non-negative finite floats order like their bit patterns).
#[inline]
fn rank_key(v: f64, tie: u64, j: u32) -> u128 {
    ((!v.to_bits() as u128) << 64) | (((tie >> 32) as u128) << 32) | j as u128
}

/// The value and column packed by `rank_key`.
#[inline]
pub fn unpack_key(k: u128) -> (f64, u32) {
    (f64::from_bits(!((k >> 64) as u64)), k as u32)
}

/// Sorts one cell's expressed genes (value > 0) into `keys`: highest value
/// first, ties by a hash of (cell, gene). Read them back with `unpack_key`.
pub fn rank_keys(
    indices: &[u32],
    values: &[f64],
    cell_key: u64,
    gene_keys: &[u64],
    keys: &mut Vec<u128>,
) {
    keys.clear();
    keys.extend(
        indices
            .iter()
            .zip(values)
            .filter(|(_, &v)| v > 0.0)
            .map(|(&j, &v)| rank_key(v, mix(cell_key ^ gene_keys[j as usize]), j)),
    );
    keys.sort_unstable();
}

/// Genes of at most this many columns fit the 64-bit key.
const FAST_GENE_BITS: u32 = 20;

/// Whole values below this are ordered by one counting pass (one bucket
/// each); count data has few larger values a cell, sorted apart.
const COUNT_BUCKETS: u32 = 255;

/// Ranks cells' genes, reusing its buffers from cell to cell.
///
/// Most matrices hold values exactly representable as f32 (counts, f32
/// storage); their key (f32 bits, 12 bits of tie hash, 20 bits of column)
/// fits a u64, which sorts about twice as fast as the general u128 key. Equal
/// 12-bit hashes fall back to column order, still fixed per cell.
///
/// Counts (whole values) with columns in ascending order, the usual CSR
/// row, take a radix sort instead: three counting passes (tie hash bits 0-5,
/// 6-11, then value) give the same order as sorting the keys, in about two
/// thirds of the time. It is written here because the radix crates sort
/// whole keys byte by byte (eight passes for a u64), which was slower than
/// `sort_unstable` at a cell's few hundred to few thousand genes.
#[derive(Default)]
pub struct Ranker {
    fast: Vec<u64>,
    wide: Vec<u128>,
    // The radix sort's second buffer, and the values of COUNT_BUCKETS or more.
    scratch: Vec<u64>,
    large: Vec<u64>,
    use_fast: bool,
    // Values come from a matrix whose stored type f32 holds exactly.
    f32_stored: bool,
    // The sum of the last cell's expressed values, in storage order: added
    // up in the ranking's own pass, where it costs nothing, rather than in a
    // pass of its own, a chain of dependent additions (ranking and summing
    // the demo's cells took 25.5 ms on one core, ranking alone 22.9 ms).
    total: f64,
}

#[inline]
fn fast_key(v: f64, tie: u64, j: u32) -> u64 {
    ((!(v as f32).to_bits() as u64) << 32) | (tie << FAST_GENE_BITS) | j as u64
}

/// Exclusive prefix sums of a histogram, starting at `start`.
fn bucket_starts(h: &mut [u32], start: u32) {
    let mut s = start;
    for x in h.iter_mut() {
        let c = *x;
        *x = s;
        s += c;
    }
}

/// Expression must be finite and not negative (NaN fails both tests).
pub(crate) fn is_valid_value(v: f64) -> bool {
    (0.0..f64::INFINITY).contains(&v)
}

/// A row's first value that is not expression, with its gene.
pub(crate) fn first_invalid(idx: &[u32], val: &[f64]) -> Option<(u32, f64)> {
    if val.iter().filter(|&&v| !is_valid_value(v)).count() == 0 {
        return None;
    }
    idx.iter()
        .zip(val)
        .find(|(_, &v)| !is_valid_value(v))
        .map(|(&j, &v)| (j, v))
}

/// What one pass over a row's values tells the ranker. Counts rather than
/// early exits, which stop vectorisation: one branch-free pass is cheaper
/// than any loop that returns at the first exception.
struct ValueClasses {
    invalid: usize,
    not_f32: usize,
    not_count: usize,
}

impl ValueClasses {
    /// `F32_EXACT`: the values are known to be f32s (from the stored
    /// type), so that test is left out: a quarter of this pass, and ranking
    /// the demo's cells went from 22.9 to 21.9 ms.
    fn of<const F32_EXACT: bool>(values: &[f64]) -> Self {
        // Below 2^52, adding and taking away 2^52 rounds to a whole number.
        // Unlike a cast to an integer (which saturates), it vectorises.
        const ROUND: f64 = (1u64 << 52) as f64;
        // `&` rather than `&&`: no branches.
        let (mut invalid, mut not_f32, mut not_count) = (0usize, 0usize, 0usize);
        for &v in values {
            let expressed = v > 0.0;
            invalid += !is_valid_value(v) as usize;
            if !F32_EXACT {
                not_f32 += (expressed & ((v as f32) as f64 != v)) as usize;
            }
            not_count +=
                (expressed & (v < COUNT_BUCKETS as f64) & ((v + ROUND) - ROUND != v)) as usize;
        }
        ValueClasses {
            invalid,
            not_f32,
            not_count,
        }
    }
}

impl Ranker {
    /// A ranker for the values of a matrix whose stored type f32 holds
    /// exactly ([`crate::matrix::MatrixSource::values_fit_f32`]), if
    /// `f32_stored`; else as `default`.
    pub fn for_storage(f32_stored: bool) -> Self {
        Ranker {
            f32_stored,
            ..Default::default()
        }
    }

    fn classify(&self, values: &[f64]) -> ValueClasses {
        if self.f32_stored {
            ValueClasses::of::<true>(values)
        } else {
            ValueClasses::of::<false>(values)
        }
    }

    /// Ranks one cell's expressed genes (value > 0); returns how many.
    pub fn rank(
        &mut self,
        indices: &[u32],
        values: &[f64],
        cell_key: u64,
        gene_keys: &[u64],
    ) -> usize {
        self.rank_classified(self.classify(values), indices, values, cell_key, gene_keys)
    }

    /// Like `rank`, but first checks every value is expression (finite, not
    /// negative) in the same pass; else returns the first that is not, with
    /// its gene.
    pub fn rank_valid(
        &mut self,
        indices: &[u32],
        values: &[f64],
        cell_key: u64,
        gene_keys: &[u64],
    ) -> std::result::Result<usize, (u32, f64)> {
        let classes = self.classify(values);
        if classes.invalid > 0 {
            return Err(first_invalid(indices, values).expect("an invalid value was counted"));
        }
        Ok(self.rank_classified(classes, indices, values, cell_key, gene_keys))
    }

    fn rank_classified(
        &mut self,
        classes: ValueClasses,
        indices: &[u32],
        values: &[f64],
        cell_key: u64,
        gene_keys: &[u64],
    ) -> usize {
        let fits = gene_keys.len() <= 1 << FAST_GENE_BITS && classes.not_f32 == 0;
        self.use_fast = fits;
        if !fits {
            rank_keys(indices, values, cell_key, gene_keys, &mut self.wide);
            self.total = values.iter().filter(|&&v| v > 0.0).sum();
            return self.wide.len();
        }
        let ascending = indices.windows(2).filter(|w| w[0] >= w[1]).count() == 0;
        if classes.not_count == 0 && ascending {
            self.radix(indices, values, cell_key, gene_keys);
        } else {
            self.fast.clear();
            let mut total = 0.0;
            for (&j, &v) in indices.iter().zip(values) {
                if v > 0.0 {
                    total += v;
                    let tie = mix(cell_key ^ gene_keys[j as usize]) >> 52;
                    self.fast.push(fast_key(v, tie, j));
                }
            }
            self.total = total;
            self.fast.sort_unstable();
        }
        self.fast.len()
    }

    /// The sum of the last ranked cell's expressed values (value > 0), added
    /// in storage order: the same number as summing its row.
    pub fn total(&self) -> f64 {
        self.total
    }

    /// The fast keys of whole values in ascending columns, sorted by least
    /// significant digit first: each counting pass is stable, and the input is
    /// in column order, so equal (value, tie) keep column order as the keys do.
    fn radix(&mut self, indices: &[u32], values: &[f64], cell_key: u64, gene_keys: &[u64]) {
        let (keys, out, large) = (&mut self.scratch, &mut self.fast, &mut self.large);
        keys.clear();
        large.clear();
        let mut h_tie_lo = [0u32; 64];
        let mut h_tie_hi = [0u32; 64];
        let mut h_value = [0u32; COUNT_BUCKETS as usize + 1];
        let mut total = 0.0;
        for (&j, &v) in indices.iter().zip(values) {
            if v.is_nan() || v <= 0.0 {
                continue;
            }
            total += v;
            let tie = mix(cell_key ^ gene_keys[j as usize]) >> 52;
            let k = fast_key(v, tie, j);
            if v >= COUNT_BUCKETS as f64 {
                large.push(k);
                continue;
            }
            h_tie_lo[(tie & 63) as usize] += 1;
            h_tie_hi[(tie >> 6) as usize] += 1;
            // Highest value first: a whole value below 255 fits a byte.
            h_value[(COUNT_BUCKETS - v as u32) as u8 as usize] += 1;
            keys.push(k);
        }
        self.total = total;
        let (n, n_large) = (keys.len(), large.len());
        // The few large values lead, sorted by their keys.
        large.sort_unstable();
        bucket_starts(&mut h_tie_lo, n_large as u32);
        bucket_starts(&mut h_tie_hi, 0);
        bucket_starts(&mut h_value, n_large as u32);
        out.clear();
        out.extend_from_slice(large);
        out.resize(n_large + n, 0);
        // Each pass writes every slot of its range exactly once (the starts
        // are a histogram's prefix sums), so positions stay in bounds;
        // indexing with checks made the passes a third slower.
        for &k in keys.iter() {
            let d = ((k >> FAST_GENE_BITS) & 63) as usize;
            // SAFETY: h_tie_lo[d] < n_large + n = out.len() (see above).
            unsafe { *out.get_unchecked_mut(h_tie_lo[d] as usize) = k };
            h_tie_lo[d] += 1;
        }
        for &k in &out[n_large..] {
            let d = ((k >> (FAST_GENE_BITS + 6)) & 63) as usize;
            // SAFETY: h_tie_hi[d] < n = keys.len().
            unsafe { *keys.get_unchecked_mut(h_tie_hi[d] as usize) = k };
            h_tie_hi[d] += 1;
        }
        for &k in keys.iter() {
            let v = f32::from_bits(!((k >> 32) as u32));
            let d = (COUNT_BUCKETS - v as u32) as u8 as usize;
            // SAFETY: h_value[d] < n_large + n = out.len().
            unsafe { *out.get_unchecked_mut(h_value[d] as usize) = k };
            h_value[d] += 1;
        }
    }

    /// Gene columns, highest expression first.
    pub fn genes(&self) -> RankedGenes<'_> {
        if self.use_fast {
            RankedGenes::Fast(self.fast.iter())
        } else {
            RankedGenes::Wide(self.wide.iter())
        }
    }

    /// Values in rank order as runs of equal values (for the fit).
    pub fn value_runs(&self) -> ValueRuns {
        if self.use_fast {
            // Equal values share a key's high half.
            let mut runs: ValueRuns = Vec::new();
            let mut last = None;
            for &k in &self.fast {
                let high = (k >> 32) as u32;
                match runs.last_mut() {
                    Some((_, n)) if last == Some(high) => *n += 1,
                    _ => runs.push((f32::from_bits(!high) as f64, 1)),
                }
                last = Some(high);
            }
            runs
        } else {
            value_runs(self.wide.iter().map(|&k| unpack_key(k).0))
        }
    }

    /// Values in rank order (the tests check the runs against them).
    #[cfg(test)]
    fn values(&self) -> Vec<f64> {
        if self.use_fast {
            self.fast
                .iter()
                .map(|&k| f32::from_bits(!((k >> 32) as u32)) as f64)
                .collect()
        } else {
            self.wide.iter().map(|&k| unpack_key(k).0).collect()
        }
    }
}

/// Gene columns in rank order (a concrete type: a boxed iterator cost a
/// virtual call per gene).
pub enum RankedGenes<'a> {
    Fast(std::slice::Iter<'a, u64>),
    Wide(std::slice::Iter<'a, u128>),
}

impl Iterator for RankedGenes<'_> {
    type Item = u32;

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            RankedGenes::Fast(it) => it.size_hint(),
            RankedGenes::Wide(it) => it.size_hint(),
        }
    }

    #[inline]
    fn next(&mut self) -> Option<u32> {
        match self {
            RankedGenes::Fast(it) => it.next().map(|&k| (k & ((1 << FAST_GENE_BITS) - 1)) as u32),
            RankedGenes::Wide(it) => it.next().map(|&k| unpack_key(k).1),
        }
    }
}

/// A cell's values in rank order as runs of equal values: (value, points).
/// Counts tie a lot (a cell of a thousand genes holds a few dozen distinct
/// values), so the fit works per run rather than per point.
pub type ValueRuns = Vec<(f64, u32)>;

/// Groups values in rank order into runs of equal values.
pub fn value_runs(values: impl IntoIterator<Item = f64>) -> ValueRuns {
    let mut runs: ValueRuns = Vec::new();
    for v in values {
        match runs.last_mut() {
            Some((last, n)) if *last == v => *n += 1,
            _ => runs.push((v, 1)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(idx: &[u32], val: &[f64], cell: &str) -> String {
        let names: Vec<String> = ["G1", "G2", "G3"].iter().map(|s| s.to_string()).collect();
        let keys: Vec<u64> = names.iter().map(|n| stable_hash(0, n.as_bytes())).collect();
        let mut r = Ranker::default();
        r.rank(idx, val, stable_hash(0, cell.as_bytes()), &keys);
        r.genes()
            .map(|j| names[j as usize].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn reference_unit_fixture() {
        assert_eq!(sentence(&[2], &[3.0], "c0"), "G3");
        assert_eq!(sentence(&[0, 2], &[3.0, 1.0], "c1"), "G1 G3");
        assert_eq!(sentence(&[1], &[1.0], "c2"), "G2");
        let tie = sentence(&[0, 1], &[1.0, 1.0], "c3");
        assert!(tie == "G1 G2" || tie == "G2 G1");
        assert_eq!(sentence(&[0, 1, 2], &[3.0, 2.0, 1.0], "c4"), "G1 G2 G3");
        // Explicitly stored zeros are not expressed genes.
        assert_eq!(sentence(&[0, 1, 2], &[0.0, 2.0, 0.0], "c5"), "G2");
    }

    #[test]
    fn fast_and_wide_keys_order_alike() {
        // Distinct values: both paths give the exact order by value.
        let keys: Vec<u64> = (0..50).map(|g| stable_hash(3, &[g as u8])).collect();
        let idx: Vec<u32> = (0..50).collect();
        let vals: Vec<f64> = (0..50).map(|i| ((i * 37) % 50 + 1) as f64).collect();
        let mut r = Ranker::default();
        r.rank(&idx, &vals, 9, &keys);
        assert!(r.use_fast);
        let fast: Vec<u32> = r.genes().collect();
        let mut wide = Vec::new();
        rank_keys(&idx, &vals, 9, &keys, &mut wide);
        assert_eq!(
            fast,
            wide.iter().map(|&k| unpack_key(k).1).collect::<Vec<_>>()
        );
        assert_eq!(
            r.values(),
            wide.iter().map(|&k| unpack_key(k).0).collect::<Vec<_>>()
        );
        assert_eq!(r.value_runs(), value_runs(r.values()));
        // A value f32 cannot hold exactly takes the wide path and keeps full precision.
        let vals2 = [1.0 + 1e-12, 1.0];
        r.rank(&[0, 1], &vals2, 9, &keys);
        assert!(!r.use_fast);
        assert_eq!(r.genes().collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn totals_are_the_row_sums() {
        // The cell total comes from the ranking's pass: it must be the very
        // number a plain sum of the row gives, on every path (radix, sort,
        // wide), with sums whose rounding depends on the order of additions.
        let keys: Vec<u64> = (0..8).map(|g| stable_hash(3, &[g as u8])).collect();
        let idx: Vec<u32> = (0..8).collect();
        let big = (1u64 << 60) as f64; // f32 holds it; f64 steps of 256 there
        let rows: [(&[f64], bool); 4] = [
            // counts (radix), one past the byte buckets
            (&[3.0, 0.0, 1.0, 300.0, 7.0, 1.0, 0.0, 2.0], true),
            // f32 values, not counts (sort): 100 + 100 + big rounds up to big + 256,
            // big + 100 rounds down to big, so the order of additions matters
            (&[100.0, 100.0, 0.0, big, 1.5, 0.25, 0.0, 3.0], true),
            // values f32 cannot hold (wide)
            (&[0.1, 0.2, 0.0, 0.3, 1e-9, 0.7, 123.456, 0.1], false),
            (&[0.1, 1e16, 0.0, 1.0, 1.0, 0.3, 2.0, 1e-3], false),
        ];
        let mut r = Ranker::default();
        for (row, fast) in rows {
            r.rank(&idx, row, 11, &keys);
            assert_eq!(r.use_fast, fast, "{row:?}");
            assert_eq!(
                r.total().to_bits(),
                row.iter().sum::<f64>().to_bits(),
                "{row:?}"
            );
        }
        // Summed in another order (as ranked, or backwards), the second row
        // gives another number: the test can tell.
        let row = rows[1].0;
        assert_ne!(row.iter().rev().sum::<f64>(), row.iter().sum::<f64>());
        let mut ranked = row.to_vec();
        ranked.sort_by(|a, b| b.total_cmp(a));
        assert_ne!(ranked.iter().sum::<f64>(), row.iter().sum::<f64>());
    }

    #[test]
    fn radix_and_sort_order_alike() {
        // Counts with heavy ties, values past the byte buckets and explicit
        // zeros: the radix path must give exactly the order of sorting the keys.
        let n_genes = 3000u32;
        let keys: Vec<u64> = (0..n_genes)
            .map(|g| stable_hash(5, &g.to_le_bytes()))
            .collect();
        let mut state = 12345u64;
        let mut next = || {
            state = mix(state);
            state
        };
        let mut r = Ranker::default();
        // Told its values are f32s (they are), a ranker skips that test.
        let mut r32 = Ranker::for_storage(true);
        for cell in 0..200u64 {
            let mut idx: Vec<u32> = (0..n_genes).filter(|_| next() % 4 == 0).collect();
            let vals: Vec<f64> = idx
                .iter()
                .map(|_| match next() % 100 {
                    0..=49 => 1.0,
                    50..=69 => 2.0,
                    70..=74 => 0.0,
                    75..=79 => 254.0 + (next() % 4) as f64,
                    80..=81 => 70_000.5,
                    _ => (next() % 300) as f64,
                })
                .collect();
            let sorted = |idx: &[u32], vals: &[f64]| {
                let mut k: Vec<u64> = idx
                    .iter()
                    .zip(vals)
                    .filter(|(_, &v)| v > 0.0)
                    .map(|(&j, &v)| fast_key(v, mix(cell ^ keys[j as usize]) >> 52, j))
                    .collect();
                k.sort_unstable();
                k
            };
            let n = r.rank(&idx, &vals, cell, &keys);
            assert!(r.use_fast);
            assert_eq!(n, r.fast.len());
            assert_eq!(r.fast, sorted(&idx, &vals), "cell {cell}");
            assert_eq!(r.total(), vals.iter().sum::<f64>(), "cell {cell}");
            assert_eq!(r32.rank(&idx, &vals, cell, &keys), n);
            assert_eq!((&r32.fast, r32.total()), (&r.fast, r.total()));
            // Runs of tied values, as the fit takes them.
            assert_eq!(r.value_runs(), value_runs(r.values()));
            // Out-of-order columns and fractional values take the sort instead.
            if idx.len() > 2 {
                idx.swap(0, 1);
                r.rank(&idx, &vals, cell, &keys);
                assert_eq!(
                    r.fast,
                    sorted(&idx, &vals),
                    "cell {cell}, columns out of order"
                );
                idx.swap(0, 1);
                let mut frac = vals.clone();
                frac[0] = 1.5;
                r.rank(&idx, &frac, cell, &keys);
                assert_eq!(r.fast, sorted(&idx, &frac), "cell {cell}, a fraction");
                assert_eq!(r.total(), frac.iter().sum::<f64>());
            }
        }
    }

    #[test]
    fn ties_depend_on_the_cell_only() {
        // The same cell gives the same order however often it is ranked.
        let a = sentence(&[0, 1, 2], &[1.0, 1.0, 1.0], "cell-x");
        for _ in 0..3 {
            assert_eq!(sentence(&[0, 1, 2], &[1.0, 1.0, 1.0], "cell-x"), a);
        }
        // Across many cells every order of a three-way tie shows up.
        let mut seen = std::collections::HashSet::new();
        for i in 0..200 {
            seen.insert(sentence(&[0, 1, 2], &[1.0, 1.0, 1.0], &format!("c{i}")));
        }
        assert_eq!(seen.len(), 6);
    }
}
