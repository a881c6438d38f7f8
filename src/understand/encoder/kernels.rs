//! The arithmetic of the forward pass. Matrix products multiply 4-bit weights by activations
//! quantised to 8 bits per block of 32 values, in integers, exactly as the model was quantised
//! (`Q4_0` × `Q8_0`); everything else is f32.
//!
//! Weights are unpacked once at load into a layout made for AVX2: eight output rows side by
//! side, four weights of each per 32-bit lane, so one `maddubs` + `madd` gives eight rows'
//! partial sums at once and the activations are broadcast, never shuffled. Eight such steps
//! cover a block of 32 inputs and fit in 16-bit lanes (|sum| ≤ 8 × 2 × 15 × 128 < 2¹⁵). The
//! AVX2 kernel is the only `unsafe` code in the crate: raw loads of its interleaved rows. A
//! portable kernel with the same layout and results runs where AVX2 is absent.

use super::file::{BLOCK, BLOCK_BYTES, f16_to_f32};

/// Output rows computed together (the lanes of one 256-bit accumulator).
pub(super) const GROUP: usize = 8;
/// Weights of one row per 32-bit lane.
const QUAD: usize = 4;
/// Tokens sharing each weight load in the AVX2 kernel.
const TOKEN_TILE: usize = 4;

/// A `rows × cols` weight matrix in 4-bit steps with a scale per block of 32, plus a bias.
pub(super) struct QMatrix {
    rows: usize,
    cols: usize,
    /// Unsigned weights 0..=15 (the stored value is `(q - 8) × scale`), interleaved:
    /// row group, block, quad, row within the group, weight within the quad.
    q: Vec<u8>,
    /// Scales by row group, block, row within the group.
    scale: Vec<f32>,
    bias: Vec<f32>,
}

impl QMatrix {
    /// Unpacks `Q4_0` rows (each block: f16 scale, then byte `j` holding weight `j` in its low
    /// nibble and weight `j + 16` in its high nibble).
    pub(super) fn from_q4(raw: &[u8], rows: usize, cols: usize, bias: Vec<f32>) -> QMatrix {
        assert!(rows.is_multiple_of(GROUP) && cols.is_multiple_of(BLOCK) && bias.len() == rows, "shape {rows}×{cols}");
        let nb = cols / BLOCK;
        let mut q = vec![0u8; rows * cols];
        let mut scale = vec![0f32; rows * nb];
        for row in 0..rows {
            let (g, r) = (row / GROUP, row % GROUP);
            for b in 0..nb {
                let block = &raw[(row * nb + b) * BLOCK_BYTES..][..BLOCK_BYTES];
                scale[(g * nb + b) * GROUP + r] = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
                for (j, &byte) in block[2..].iter().enumerate() {
                    for (k, nibble) in [(j, byte & 0x0f), (j + 16, byte >> 4)] {
                        let (quad, i) = (k / QUAD, k % QUAD);
                        q[(((g * nb + b) * (BLOCK / QUAD) + quad) * GROUP + r) * QUAD + i] = nibble;
                    }
                }
            }
        }
        QMatrix { rows, cols, q, scale, bias }
    }

    pub(super) fn rows(&self) -> usize {
        self.rows
    }
}

/// Activations of several tokens quantised per block of 32 to i8, kept for reuse between calls.
#[derive(Default)]
pub(super) struct Quantized {
    cols: usize,
    q: Vec<i8>,
    /// Scale per token and block.
    scale: Vec<f32>,
    /// 8 × the block's sum of quantised values: removes the weights' +8 offset.
    offset: Vec<i32>,
}

impl Quantized {
    /// Quantises `tokens` rows of `cols` values.
    #[inline(always)]
    pub(super) fn fill(&mut self, x: &[f32], tokens: usize, cols: usize) {
        let nb = cols / BLOCK;
        self.cols = cols;
        self.q.resize(tokens * cols, 0);
        self.scale.resize(tokens * nb, 0.0);
        self.offset.resize(tokens * nb, 0);
        for (i, block) in x[..tokens * cols].chunks_exact(BLOCK).enumerate() {
            let amax = max_abs(block);
            let d = amax / 127.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            // Rounded and clamped in f32 first, so the casts below are exact and vectorise.
            let q: [i32; BLOCK] = std::array::from_fn(|j| (block[j] * inv).round_ties_even().clamp(-128.0, 127.0) as i32);
            let out = &mut self.q[i * BLOCK..][..BLOCK];
            for (o, v) in out.iter_mut().zip(q) {
                *o = v as i8;
            }
            let sum: i32 = q.iter().sum();
            self.scale[i] = d;
            self.offset[i] = 8 * sum;
        }
    }
}

/// `y[t] = W · x[t] + bias` for every quantised token (`y` is `tokens × rows`).
#[inline(always)]
pub(super) fn matmul<const AVX2: bool>(w: &QMatrix, x: &Quantized, tokens: usize, y: &mut [f32]) {
    assert!(x.cols == w.cols && x.q.len() >= tokens * w.cols && y.len() >= tokens * w.rows);
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: `AVX2` is true only inside functions compiled for, and called after
        // detecting, AVX2 and FMA (see `forward`); the bounds were checked above.
        unsafe { avx2::matmul(w, x, tokens, y) };
        return;
    }
    matmul_portable(w, x, tokens, y);
}

fn matmul_portable(w: &QMatrix, x: &Quantized, tokens: usize, y: &mut [f32]) {
    let nb = w.cols / BLOCK;
    for g in 0..w.rows / GROUP {
        for t in 0..tokens {
            let mut acc = [0f32; GROUP];
            for b in 0..nb {
                let mut isum = [0i32; GROUP];
                let a = &x.q[t * w.cols + b * BLOCK..][..BLOCK];
                let wq = &w.q[(g * nb + b) * GROUP * BLOCK..][..GROUP * BLOCK];
                for (quad, lanes) in wq.chunks_exact(GROUP * QUAD).enumerate() {
                    let aq = &a[quad * QUAD..][..QUAD];
                    for (r, lane) in lanes.chunks_exact(QUAD).enumerate() {
                        isum[r] += lane.iter().zip(aq).map(|(&w, &a)| i32::from(w) * i32::from(a)).sum::<i32>();
                    }
                }
                let da = x.scale[t * nb + b];
                let off = x.offset[t * nb + b];
                for r in 0..GROUP {
                    acc[r] += (isum[r] - off) as f32 * (w.scale[(g * nb + b) * GROUP + r] * da);
                }
            }
            for r in 0..GROUP {
                y[t * w.rows + g * GROUP + r] = acc[r] + w.bias[g * GROUP + r];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{BLOCK, GROUP, QMatrix, QUAD, Quantized, TOKEN_TILE};
    use std::arch::x86_64::*;

    /// See [`super::matmul`]. Safety: AVX2 and FMA are available; `x` holds `tokens` rows of
    /// `w.cols` values and `y` has room for `tokens × w.rows`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn matmul(w: &QMatrix, x: &Quantized, tokens: usize, y: &mut [f32]) {
        let mut t = 0;
        while t + TOKEN_TILE <= tokens {
            unsafe { tile::<TOKEN_TILE>(w, x, t, y) };
            t += TOKEN_TILE;
        }
        match tokens - t {
            3 => unsafe { tile::<3>(w, x, t, y) },
            2 => unsafe { tile::<2>(w, x, t, y) },
            1 => unsafe { tile::<1>(w, x, t, y) },
            _ => {}
        }
    }

    /// Tokens `t0 .. t0 + T` against every row group.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const T: usize>(w: &QMatrix, x: &Quantized, t0: usize, y: &mut [f32]) {
        let nb = w.cols / BLOCK;
        let ones = _mm256_set1_epi16(1);
        let aq = x.q.as_ptr();
        for g in 0..w.rows / GROUP {
            let mut acc = [_mm256_setzero_ps(); T];
            for b in 0..nb {
                let mut part = [_mm256_setzero_si256(); T];
                let wq = unsafe { w.q.as_ptr().add((g * nb + b) * GROUP * BLOCK) };
                for quad in 0..BLOCK / QUAD {
                    let wv = unsafe { _mm256_loadu_si256(wq.add(quad * GROUP * QUAD).cast()) };
                    for (u, part) in part.iter_mut().enumerate() {
                        let at = unsafe { aq.add((t0 + u) * w.cols + b * BLOCK + quad * QUAD) };
                        let four = unsafe { at.cast::<i32>().read_unaligned() };
                        let av = _mm256_set1_epi32(four);
                        *part = _mm256_add_epi16(*part, _mm256_maddubs_epi16(wv, av));
                    }
                }
                let ws = unsafe { _mm256_loadu_ps(w.scale.as_ptr().add((g * nb + b) * GROUP)) };
                for u in 0..T {
                    let i = (t0 + u) * nb + b;
                    let sums = _mm256_sub_epi32(_mm256_madd_epi16(part[u], ones), _mm256_set1_epi32(x.offset[i]));
                    let scale = _mm256_mul_ps(ws, _mm256_set1_ps(x.scale[i]));
                    acc[u] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc[u]);
                }
            }
            let bias = unsafe { _mm256_loadu_ps(w.bias.as_ptr().add(g * GROUP)) };
            for u in 0..T {
                let out = &mut y[(t0 + u) * w.rows + g * GROUP..][..GROUP];
                unsafe { _mm256_storeu_ps(out.as_mut_ptr(), _mm256_add_ps(acc[u], bias)) };
            }
        }
    }
}

/// Whether this CPU runs the AVX2 kernel.
pub(super) fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Dequantises one `Q4_0` row (the embedding table stays packed: only used rows are read).
pub(super) fn dequantize_row(raw: &[u8], out: &mut [f32]) {
    for (block, chunk) in raw.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
        let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
        for (j, &byte) in block[2..].iter().enumerate() {
            chunk[j] = (f32::from(byte & 0x0f) - 8.0) * d;
            chunk[j + 16] = (f32::from(byte >> 4) - 8.0) * d;
        }
    }
}

/// Sums in eight independent lanes: the compiler may not reorder a float sum, so a plain
/// `.sum()` runs one addition at a time.
#[inline(always)]
fn lanes(values: impl Iterator<Item = [f32; 8]>) -> f32 {
    let mut acc = [0f32; 8];
    for v in values {
        for (a, x) in acc.iter_mut().zip(v) {
            *a += x;
        }
    }
    acc.iter().sum()
}

/// Σ aᵢbᵢ (lengths a multiple of 8).
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a, _) = a.as_chunks::<8>();
    let (b, _) = b.as_chunks::<8>();
    lanes(a.iter().zip(b).map(|(x, y)| std::array::from_fn(|i| x[i] * y[i])))
}

/// Σ (xᵢ - shift)² (length a multiple of 8).
#[inline(always)]
fn sum_squares(x: &[f32], shift: f32) -> f32 {
    lanes(x.as_chunks::<8>().0.iter().map(|c| std::array::from_fn(|i| (c[i] - shift) * (c[i] - shift))))
}

/// max |xᵢ| (length a multiple of 8).
#[inline(always)]
fn max_abs(x: &[f32]) -> f32 {
    let mut m = [0f32; 8];
    for c in x.as_chunks::<8>().0 {
        for (m, v) in m.iter_mut().zip(c) {
            *m = m.max(v.abs());
        }
    }
    m.iter().fold(0f32, |a, b| a.max(*b))
}

/// `x = LayerNorm(x + y)` row by row (`y` absent: `LayerNorm(x)`).
#[inline(always)]
pub(super) fn add_layer_norm(x: &mut [f32], y: Option<&[f32]>, weight: &[f32], bias: &[f32], eps: f32) {
    let h = weight.len();
    for (t, row) in x.chunks_exact_mut(h).enumerate() {
        if let Some(y) = y {
            for (a, b) in row.iter_mut().zip(&y[t * h..][..h]) {
                *a += b;
            }
        }
        let mean = lanes(row.as_chunks::<8>().0.iter().copied()) / h as f32;
        let var = sum_squares(row, mean) / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(weight).zip(bias) {
            *v = (*v - mean) * inv * w + b;
        }
    }
}

/// e^x to ~1e-7 relative error, branch-free so loops over it vectorise.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5 × 2²³: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// GELU with erf (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7), as BERT defines it.
#[inline(always)]
pub(super) fn gelu(x: f32) -> f32 {
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    let erf = 1.0 - poly * exp(-z * z);
    0.5 * x * (1.0 + erf.copysign(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random-looking but fixed Q4_0 matrix.
    fn matrix(rows: usize, cols: usize) -> (Vec<u8>, Vec<f32>) {
        let mut state = 0x1234_5678u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let mut raw = Vec::new();
        for _ in 0..rows * cols / BLOCK {
            let scale = half_of(0.01 + (next() % 100) as f32 / 5000.0);
            raw.extend_from_slice(&scale.to_le_bytes());
            raw.extend((0..16).map(|_| (next() & 0xff) as u8));
        }
        let bias = (0..rows).map(|i| i as f32 * 0.01).collect();
        (raw, bias)
    }

    /// f32 → f16 for positive normal test values.
    fn half_of(v: f32) -> u16 {
        let bits = v.to_bits();
        (((bits >> 23) as i32 - 127 + 15) as u16) << 10 | ((bits >> 13) & 0x3ff) as u16
    }

    /// The product computed the slow, obvious way from dequantised values.
    fn reference(raw: &[u8], bias: &[f32], x: &Quantized, tokens: usize, rows: usize, cols: usize) -> Vec<f32> {
        let mut w = vec![0f32; cols];
        let mut y = vec![0f32; tokens * rows];
        for r in 0..rows {
            dequantize_row(&raw[r * cols / BLOCK * BLOCK_BYTES..][..cols / BLOCK * BLOCK_BYTES], &mut w);
            for t in 0..tokens {
                let a = (0..cols).map(|k| f32::from(x.q[t * cols + k]) * x.scale[t * cols / BLOCK + k / BLOCK]);
                y[t * rows + r] = bias[r] + w.iter().zip(a).map(|(w, a)| w * a).sum::<f32>();
            }
        }
        y
    }

    #[test]
    fn integer_kernels_match_the_dequantised_product() {
        let (rows, cols) = (16, 96);
        let (raw, bias) = matrix(rows, cols);
        let w = QMatrix::from_q4(&raw, rows, cols, bias.clone());
        for tokens in [1, 2, 3, 4, 5, 7] {
            let x: Vec<f32> = (0..tokens * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let mut q = Quantized::default();
            q.fill(&x, tokens, cols);
            let want = reference(&raw, &bias, &q, tokens, rows, cols);
            let mut portable = vec![0f32; tokens * rows];
            matmul::<false>(&w, &q, tokens, &mut portable);
            for (a, b) in portable.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "portable {a} vs {b}");
            }
            if avx2_available() {
                let mut fast = vec![0f32; tokens * rows];
                // SAFETY: AVX2 and FMA were detected just above.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    avx2_entry(&w, &q, tokens, &mut fast)
                };
                for (a, b) in fast.iter().zip(&portable) {
                    assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "avx2 {a} vs portable {b}");
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn avx2_entry(w: &QMatrix, q: &Quantized, tokens: usize, y: &mut [f32]) {
        matmul::<true>(w, q, tokens, y);
    }

    #[test]
    fn fast_exp_and_gelu_are_accurate() {
        for i in -400..=400 {
            let x = i as f32 / 20.0;
            let (e, want) = (exp(x), x.exp());
            assert!((e - want).abs() <= 5e-7 * want.max(1e-30) + 1e-38, "exp({x}) = {e}, want {want}");
            let erf_gelu = 0.5 * f64::from(x) * (1.0 + erf64(f64::from(x) / std::f64::consts::SQRT_2));
            assert!((f64::from(gelu(x)) - erf_gelu).abs() < 1e-5, "gelu({x})");
        }
    }

    /// erf in f64 by its Taylor series (|x| ≤ 3) or 1 beyond: a reference for the test only.
    fn erf64(x: f64) -> f64 {
        if x.abs() > 5.0 {
            return x.signum();
        }
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }
}
