//! The f32 arithmetic of the forward pass around the matrix products (`matmul.rs`): unpacking
//! embedding rows, LayerNorm, GELU, the exponential of the softmax.

use super::file::{BLOCK, BLOCK_BYTES, f16_to_f32};

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

/// Quantises `x` per block of 32 to i8: scale `max|x| / 127`, values rounded half to even;
/// `offset` gets 8 × each block's sum of quantised values (it removes the weights' +8 offset).
pub(super) fn quantize(x: &[f32], q: &mut [i8], scale: &mut [f32], offset: &mut [i32]) {
    for (i, block) in x.chunks_exact(BLOCK).enumerate() {
        let d = max_abs(block) / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        // Rounded and clamped in f32 first, so the casts below are exact and vectorise.
        let values: [i32; BLOCK] = std::array::from_fn(|j| (block[j] * inv).round_ties_even().clamp(-128.0, 127.0) as i32);
        for (o, v) in q[i * BLOCK..][..BLOCK].iter_mut().zip(values) {
            *o = v as i8;
        }
        scale[i] = d;
        offset[i] = 8 * values.iter().sum::<i32>();
    }
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
