//! AVX2 forms of the two element-wise steps the profile found costly once the matrix products
//! were fast: quantising activations to 8 bits (before every product) and GELU (1,536 values
//! per token and layer). Written with intrinsics because the compiler's vectorisation of the
//! portable forms (`kernels.rs`) left scalar horizontal maxima, saturating casts and clamps in
//! the loops. Each computes bit for bit what its portable form computes (tested below), so the
//! router's decisions do not move with the CPU.

#![cfg(target_arch = "x86_64")]

use super::file::BLOCK;
use std::arch::x86_64::*;

/// Quantises `x` block by block of 32 to i8 as [`super::kernels::quantize`] does: scale
/// `max|x| / 127`, values rounded half to even, and 8 × each block's sum of quantised values.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn quantize(x: &[f32], q: &mut [i8], scale: &mut [f32], offset: &mut [i32]) {
    let blocks = x.len() / BLOCK;
    assert!(q.len() >= blocks * BLOCK && scale.len() >= blocks && offset.len() >= blocks);
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (i, block) in x.chunks_exact(BLOCK).enumerate() {
        // SAFETY: `block` holds 32 values, `q` 32 bytes from `i * BLOCK` (asserted above).
        unsafe {
            let p = block.as_ptr();
            let v = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)), _mm256_loadu_ps(p.add(16)), _mm256_loadu_ps(p.add(24))];
            let m = _mm256_max_ps(
                _mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)),
            );
            let amax = horizontal_max(m);
            let d = amax / 127.0;
            let inv = _mm256_set1_ps(if d > 0.0 { 1.0 / d } else { 0.0 });
            // The default rounding mode rounds half to even, as `round_ties_even` does; the
            // products lie within ±127 (|x| ≤ max|x|), so no clamp is needed before packing.
            let n = v.map(|v| _mm256_cvtps_epi32(_mm256_mul_ps(v, inv)));
            let sum = _mm256_add_epi32(_mm256_add_epi32(n[0], n[1]), _mm256_add_epi32(n[2], n[3]));
            let words = [_mm256_packs_epi32(n[0], n[1]), _mm256_packs_epi32(n[2], n[3])];
            // The packs work within 128-bit lanes: put the 4-byte groups back in order.
            let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(words[0], words[1]), order);
            _mm256_storeu_si256(q.as_mut_ptr().add(i * BLOCK).cast(), bytes);
            scale[i] = d;
            offset[i] = 8 * horizontal_sum(sum);
        }
    }
}

/// GELU with erf, in place, eight values at a time, computing exactly what
/// [`super::kernels::gelu`] computes: the same operations in the same order, no fused
/// multiply-adds (a changed rounding moved borderline decisions of the router).
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gelu(x: &mut [f32]) {
    let (chunks, rest) = x.as_chunks_mut::<8>();
    for chunk in chunks {
        // SAFETY: a chunk is eight f32s.
        unsafe {
            let v = _mm256_loadu_ps(chunk.as_ptr());
            _mm256_storeu_ps(chunk.as_mut_ptr(), gelu8(v));
        }
    }
    for v in rest {
        *v = super::kernels::gelu(*v);
    }
}

/// `a · b + c`, rounded twice as the portable code rounds it.
#[target_feature(enable = "avx2,fma")]
fn mul_add(a: __m256, b: __m256, c: __m256) -> __m256 {
    _mm256_add_ps(_mm256_mul_ps(a, b), c)
}

#[target_feature(enable = "avx2,fma")]
fn gelu8(x: __m256) -> __m256 {
    let splat = _mm256_set1_ps;
    let sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MIN));
    let z = _mm256_mul_ps(_mm256_andnot_ps(sign_mask, x), splat(std::f32::consts::FRAC_1_SQRT_2));
    let t = _mm256_div_ps(splat(1.0), mul_add(splat(0.327_591_1), z, splat(1.0)));
    let mut poly = splat(1.061_405_4);
    for c in [-1.453_152, 1.421_413_7, -0.284_496_74, 0.254_829_6] {
        poly = mul_add(t, poly, splat(c));
    }
    poly = _mm256_mul_ps(t, poly);
    let e = exp8(_mm256_mul_ps(_mm256_xor_ps(z, sign_mask), z));
    // erf(|x|) = 1 - poly·e; GELU = ½x(1 + erf(|x|) with the sign of x).
    let erf = _mm256_sub_ps(splat(1.0), _mm256_mul_ps(poly, e));
    let signed = _mm256_or_ps(_mm256_andnot_ps(sign_mask, erf), _mm256_and_ps(x, sign_mask));
    _mm256_mul_ps(_mm256_mul_ps(splat(0.5), x), _mm256_add_ps(splat(1.0), signed))
}

/// e^x for x ≤ 0 exactly as [`super::kernels::exp`]: 2ⁿ·p(r) with n = round(x·log₂e).
#[target_feature(enable = "avx2,fma")]
fn exp8(x: __m256) -> __m256 {
    let splat = _mm256_set1_ps;
    let x = _mm256_max_ps(x, splat(-87.0));
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(x, splat(std::f32::consts::LOG2_E)));
    let r = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(n, splat(0.693_145_75))), _mm256_mul_ps(n, splat(1.428_606_8e-6)));
    let mut p = splat(1.0 / 720.0);
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = mul_add(r, p, splat(c));
    }
    let pow2 = _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)));
    _mm256_mul_ps(p, _mm256_castsi256_ps(pow2))
}

#[target_feature(enable = "avx2,fma")]
fn horizontal_max(v: __m256) -> f32 {
    let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)))
}

#[target_feature(enable = "avx2,fma")]
fn horizontal_sum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32::<1>(s)))
}

#[cfg(test)]
mod tests {
    use super::super::kernels;

    fn avx2() -> bool {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }

    /// Values like a layer's activations: mostly small, some large, exact ties and zero blocks.
    fn activations(n: usize) -> Vec<f32> {
        let mut state = 0x9e37_79b9u32;
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                match i % 97 {
                    0 => 0.0,
                    1 => 12.7,
                    2 => -0.05,
                    _ if (64..96).contains(&(i % 256)) && i > 4096 => 0.0,
                    _ => (state % 20_001) as f32 / 1000.0 - 10.0,
                }
            })
            .collect()
    }

    #[test]
    fn quantize_matches_the_portable_form() {
        if !avx2() {
            return;
        }
        let x = activations(64 * 384);
        let blocks = x.len() / super::BLOCK;
        let (mut q1, mut s1, mut o1) = (vec![0i8; x.len()], vec![0f32; blocks], vec![0i32; blocks]);
        let (mut q2, mut s2, mut o2) = (q1.clone(), s1.clone(), o1.clone());
        kernels::quantize(&x, &mut q1, &mut s1, &mut o1);
        // SAFETY: AVX2 and FMA checked above.
        unsafe { super::quantize(&x, &mut q2, &mut s2, &mut o2) };
        assert_eq!(q1, q2);
        assert_eq!(s1, s2);
        assert_eq!(o1, o2);
        assert!(q1.contains(&127) && q1.iter().any(|&v| v < -100), "the test reaches the ends of the range");
    }

    #[test]
    fn gelu_matches_the_portable_form() {
        if !avx2() {
            return;
        }
        let mut x: Vec<f32> = (-2000..=2003).map(|i| i as f32 / 200.0).collect();
        let want: Vec<f32> = x.iter().map(|&v| kernels::gelu(v)).collect();
        // SAFETY: AVX2 and FMA checked above.
        unsafe { super::gelu(&mut x) };
        for (i, (got, want)) in x.iter().zip(&want).enumerate() {
            assert_eq!(got.to_bits(), want.to_bits(), "gelu at {i}: {got} vs {want}");
        }
    }
}
