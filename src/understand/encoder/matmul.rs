//! Matrix products of the forward pass: 4-bit weights times activations quantised to 8 bits per
//! block of 32 values, in integers, exactly as the model was quantised (`Q4_0` × `Q8_0`).
//!
//! **Weight-stationary.** A group of eight output rows is loaded once and every token of the
//! call (a whole message, or several messages embedded together) passes over it while it sits
//! in L1; the activations, a few kilobytes per token, are what streams. A loop with the tokens
//! outside would read all 10 MB of weights again for every handful of tokens.
//!
//! **Packed.** Weights stay at 4 bits in memory (half the bytes to move) and are widened in
//! registers: one 32-byte load holds eight rows × four weights of two quads of a block, the low
//! nibbles one quad and the high nibbles the quad 16 columns further. That is a byte permutation
//! of a `Q4_0` block: its byte `j` already holds weights `j` and `j + 16`.
//!
//! **Dispatched at run time** to the best kernel the CPU has ([`Kernel`]): AVX-512 VNNI or
//! AVX-VNNI (`vpdpbusd`: four u8 × i8 products summed into an i32 lane in one instruction),
//! AVX2 (`vpmaddubsw` + `vpmaddwd`), or the portable loop. Every kernel computes the same
//! integer sums, so they agree to the last bit of the f32 arithmetic that follows.

use super::file::{BLOCK, BLOCK_BYTES, f16_to_f32};
#[cfg(target_arch = "x86_64")]
use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
mod amx;

/// Tokens in one tile of the AMX kernel: [`Quantized`] keeps its rows padded to a multiple.
const TILE_TOKENS: usize = 16;
/// Output rows computed together (the eight 32-bit lanes of one 256-bit register).
const GROUP: usize = 8;
/// Weights of one row per 32-bit lane.
const QUAD: usize = 4;
/// 32-byte pairs of quads in one block of a row group.
const PAIRS: usize = BLOCK / QUAD / 2;
/// Packed bytes of one block of a row group (8 rows × 32 weights × ½ byte).
const GROUP_BLOCK_BYTES: usize = GROUP * BLOCK / 2;

/// A matrix kernel, best first. [`Kernel::detect`] picks the first this CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Intel AMX's `tdpbssd` (16 tokens × 16 rows × 32 weights in one instruction), with
    /// AVX-512 around it; matrices whose rows are not a multiple of 16 take the AVX-512 VNNI kernel.
    Amx,
    /// 256-bit `vpdpbusd` of AVX-512 VNNI (with AVX-512 VL: 32 vector registers, eight tokens per tile).
    Avx512Vnni,
    /// 256-bit `vpdpbusd` of AVX-VNNI (VEX-encoded, 16 registers, four tokens per tile).
    AvxVnni,
    /// `vpmaddubsw` + `vpmaddwd` of AVX2, four tokens per tile.
    Avx2,
    /// Plain Rust, for CPUs without AVX2.
    Portable,
}

impl Kernel {
    const ALL: [Kernel; 5] = [Kernel::Amx, Kernel::Avx512Vnni, Kernel::AvxVnni, Kernel::Avx2, Kernel::Portable];

    /// The kernel's name, as `SMARTREPLY_ENCODER_KERNEL` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Amx => "amx",
            Kernel::Avx512Vnni => "avx512vnni",
            Kernel::AvxVnni => "avxvnni",
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }

    /// Whether this CPU runs the kernel (the forward pass around it needs AVX2 and FMA too).
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let base = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
            let vnni512 = base && std::arch::is_x86_feature_detected!("avx512vnni") && std::arch::is_x86_feature_detected!("avx512vl");
            match self {
                Kernel::Amx => vnni512 && amx::supported(),
                Kernel::Avx512Vnni => vnni512,
                Kernel::AvxVnni => base && std::arch::is_x86_feature_detected!("avxvnni"),
                Kernel::Avx2 => base,
                Kernel::Portable => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        matches!(self, Kernel::Portable)
    }

    /// Every kernel this CPU runs, best first.
    pub fn available() -> impl Iterator<Item = Kernel> {
        Kernel::ALL.into_iter().filter(|k| k.supported())
    }

    /// The best kernel this CPU runs, or the one `SMARTREPLY_ENCODER_KERNEL` names when the CPU
    /// runs it (benchmarks measure an AVX2-only machine's figures on a newer one that way).
    pub fn detect() -> Kernel {
        let wanted = std::env::var("SMARTREPLY_ENCODER_KERNEL").ok();
        if let Some(name) = wanted.as_deref().filter(|n| !n.is_empty()) {
            match Kernel::available().find(|k| k.name() == name) {
                Some(kernel) => return kernel,
                None => tracing::warn!(kernel = name, "SMARTREPLY_ENCODER_KERNEL names a kernel this CPU does not run; using the best one"),
            }
        }
        Kernel::available().next().unwrap_or(Kernel::Portable)
    }
}

/// A `rows × cols` weight matrix in 4-bit steps with a scale per block of 32, plus a bias.
pub(super) struct QMatrix {
    rows: usize,
    cols: usize,
    /// Unsigned weights 0..=15 (the stored value is `(q - 8) × scale`), two per byte, by row
    /// group, block and pair: 32 bytes holding, for each of 8 rows, four weights of quad `p`
    /// (low nibbles) and of quad `p + 4` (high nibbles).
    q: Vec<u8>,
    /// Scales by row group, block, row within the group.
    scale: Vec<f32>,
    bias: Vec<f32>,
    /// The weights as the AMX kernel reads them, made when the network loads
    /// ([`QMatrix::prepare`]) or else on the kernel's first product.
    #[cfg(target_arch = "x86_64")]
    amx: OnceLock<amx::AmxWeights>,
}

impl QMatrix {
    /// Rearranges `Q4_0` rows (each block: f16 scale, then byte `j` holding weight `j` in its low
    /// nibble and weight `j + 16` in its high nibble).
    pub(super) fn from_q4(raw: &[u8], rows: usize, cols: usize, bias: Vec<f32>) -> QMatrix {
        assert!(rows.is_multiple_of(GROUP) && cols.is_multiple_of(BLOCK) && bias.len() == rows, "shape {rows}×{cols}");
        let nb = cols / BLOCK;
        let mut q = vec![0u8; rows * cols / 2];
        let mut scale = vec![0f32; rows * nb];
        for row in 0..rows {
            let (g, r) = (row / GROUP, row % GROUP);
            for b in 0..nb {
                let block = &raw[(row * nb + b) * BLOCK_BYTES..][..BLOCK_BYTES];
                scale[(g * nb + b) * GROUP + r] = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
                for (j, &byte) in block[2..].iter().enumerate() {
                    let (pair, i) = (j / QUAD, j % QUAD);
                    q[(g * nb + b) * GROUP_BLOCK_BYTES + pair * GROUP * QUAD + r * QUAD + i] = byte;
                }
            }
        }
        QMatrix {
            rows,
            cols,
            q,
            scale,
            bias,
            #[cfg(target_arch = "x86_64")]
            amx: OnceLock::new(),
        }
    }

    /// Makes the weights' layout for `kernel` where it needs its own (AMX), so that no
    /// customer's message waits for it.
    pub(super) fn prepare(&self, kernel: Kernel) {
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Amx {
            self.amx_weights();
        }
        let _ = kernel;
    }

    /// The AMX kernel's layout of these weights, made once; none when the rows do not fill
    /// whole tiles (the AVX-512 VNNI kernel takes such a matrix).
    #[cfg(target_arch = "x86_64")]
    fn amx_weights(&self) -> Option<&amx::AmxWeights> {
        self.rows.is_multiple_of(amx::ROWS).then(|| self.amx.get_or_init(|| amx::AmxWeights::from(self)))
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
    /// Quantises `tokens` rows of `cols` values (`simd`: with the AVX2 form, which the CPU
    /// must run).
    #[inline(always)]
    pub(super) fn fill(&mut self, x: &[f32], tokens: usize, cols: usize, simd: bool) {
        let nb = cols / BLOCK;
        self.cols = cols;
        // Whole tiles of 16 tokens, the padding zero: the AMX kernel reads tiles, not rows.
        let padded = tokens.next_multiple_of(TILE_TOKENS) * cols;
        self.q.resize(padded, 0);
        self.q[tokens * cols..].fill(0);
        self.scale.resize(tokens * nb, 0.0);
        self.offset.resize(tokens * nb, 0);
        let x = &x[..tokens * cols];
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: the caller passes `simd` only when the CPU has AVX2 and FMA.
            unsafe { super::simd::quantize(x, &mut self.q, &mut self.scale, &mut self.offset) };
            return;
        }
        let _ = simd;
        super::kernels::quantize(x, &mut self.q, &mut self.scale, &mut self.offset);
    }
}

/// `y[t] = W · x[t] + bias` for every quantised token (`y` is `tokens × rows`), by `kernel`,
/// which the CPU must run ([`Kernel::supported`]).
#[inline]
pub(super) fn matmul(kernel: Kernel, w: &QMatrix, x: &Quantized, tokens: usize, y: &mut [f32]) {
    assert!(x.cols == w.cols && x.q.len() >= tokens * w.cols && y.len() >= tokens * w.rows);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: callers pick `kernel` with `Kernel::detect` or `Kernel::available`, so the CPU
    // has its features; the bounds were checked above.
    unsafe {
        if kernel == Kernel::Amx
            && let Some(tiles) = w.amx_weights()
        {
            return amx::matmul(w, tiles, x, tokens, y);
        }
        match kernel {
            Kernel::Amx | Kernel::Avx512Vnni => return x86::avx512vnni::matmul(w, x, tokens, y),
            Kernel::AvxVnni => return x86::avxvnni::matmul(w, x, tokens, y),
            Kernel::Avx2 => return x86::avx2::matmul(w, x, tokens, y),
            Kernel::Portable => {}
        }
    }
    let _ = kernel;
    matmul_portable(w, x, tokens, y);
}

fn matmul_portable(w: &QMatrix, x: &Quantized, tokens: usize, y: &mut [f32]) {
    let nb = w.cols / BLOCK;
    for g in 0..w.rows / GROUP {
        for t in 0..tokens {
            let mut acc = [0f32; GROUP];
            for b in 0..nb {
                let a = &x.q[t * w.cols + b * BLOCK..][..BLOCK];
                let wq = &w.q[(g * nb + b) * GROUP_BLOCK_BYTES..][..GROUP_BLOCK_BYTES];
                let mut isum = [0i32; GROUP];
                for (pair, lanes) in wq.chunks_exact(GROUP * QUAD).enumerate() {
                    let (low, high) = (&a[pair * QUAD..][..QUAD], &a[BLOCK / 2 + pair * QUAD..][..QUAD]);
                    for (r, lane) in lanes.chunks_exact(QUAD).enumerate() {
                        for i in 0..QUAD {
                            isum[r] += i32::from(lane[i] & 0x0f) * i32::from(low[i]) + i32::from(lane[i] >> 4) * i32::from(high[i]);
                        }
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

/// The SIMD kernels: one body, instantiated per instruction set by [`x86_kernel!`].
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{BLOCK, GROUP, GROUP_BLOCK_BYTES, PAIRS, QMatrix, QUAD, Quantized};
    use std::arch::x86_64::*;

    /// A module `$name` with `matmul` compiled for `$features`, tiles of up to `$tile` tokens,
    /// `$mac(acc, weights, activations)` adding four u8 × i8 products per 32-bit lane into an
    /// accumulator, and `$widen(acc)` turning the accumulator into eight i32 sums.
    macro_rules! x86_kernel {
        ($name:ident, $features:literal, $tile:literal, $mac:expr, $widen:expr) => {
            pub(super) mod $name {
                use super::*;

                /// See [`super::super::matmul`]. Safety: the CPU has `$features`; `x` holds
                /// `tokens` rows of `w.cols` values and `y` has room for `tokens × w.rows`.
                #[target_feature(enable = $features)]
                pub(in super::super) unsafe fn matmul(w: &QMatrix, x: &Quantized, tokens: usize, y: &mut [f32]) {
                    for g in 0..w.rows / GROUP {
                        let mut t = 0;
                        while t + $tile <= tokens {
                            unsafe { tile::<$tile>(w, x, g, t, y) };
                            t += $tile;
                        }
                        // SAFETY: as for the full tiles, with fewer tokens.
                        unsafe {
                            match tokens - t {
                                0 => {}
                                1 => tile::<1>(w, x, g, t, y),
                                2 => tile::<2>(w, x, g, t, y),
                                3 => tile::<3>(w, x, g, t, y),
                                4 => tile::<4>(w, x, g, t, y),
                                5 => tile::<5>(w, x, g, t, y),
                                6 => tile::<6>(w, x, g, t, y),
                                _ => tile::<7>(w, x, g, t, y),
                            }
                        }
                    }
                }

                /// Row group `g` against tokens `t0 .. t0 + T`.
                #[target_feature(enable = $features)]
                unsafe fn tile<const T: usize>(w: &QMatrix, x: &Quantized, g: usize, t0: usize, y: &mut [f32]) {
                    let nb = w.cols / BLOCK;
                    let nibble = _mm256_set1_epi8(0x0f);
                    let aq = x.q.as_ptr();
                    let mut acc = [_mm256_setzero_ps(); T];
                    for b in 0..nb {
                        let mut part = [_mm256_setzero_si256(); T];
                        let wq = unsafe { w.q.as_ptr().add((g * nb + b) * GROUP_BLOCK_BYTES) };
                        for pair in 0..PAIRS {
                            let packed = unsafe { _mm256_loadu_si256(wq.add(pair * GROUP * QUAD).cast()) };
                            let low = _mm256_and_si256(packed, nibble);
                            let high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), nibble);
                            for (u, part) in part.iter_mut().enumerate() {
                                let at = unsafe { aq.add((t0 + u) * w.cols + b * BLOCK + pair * QUAD) };
                                let a_low = _mm256_set1_epi32(unsafe { at.cast::<i32>().read_unaligned() });
                                let a_high = _mm256_set1_epi32(unsafe { at.add(BLOCK / 2).cast::<i32>().read_unaligned() });
                                *part = $mac($mac(*part, low, a_low), high, a_high);
                            }
                        }
                        let ws = unsafe { _mm256_loadu_ps(w.scale.as_ptr().add((g * nb + b) * GROUP)) };
                        for u in 0..T {
                            let i = (t0 + u) * nb + b;
                            let sums = _mm256_sub_epi32($widen(part[u]), _mm256_set1_epi32(x.offset[i]));
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
        };
    }

    // The i16 sums of AVX2 hold a block: 8 products of at most 15 × 128 per lane < 2¹⁵.
    x86_kernel!(avx2, "avx2,fma", 4, |acc, w, a| _mm256_add_epi16(acc, _mm256_maddubs_epi16(w, a)), |acc| _mm256_madd_epi16(
        acc,
        _mm256_set1_epi16(1)
    ));
    x86_kernel!(avxvnni, "avx2,fma,avxvnni", 4, |acc, w, a| _mm256_dpbusd_avx_epi32(acc, w, a), |acc| acc);
    x86_kernel!(avx512vnni, "avx2,fma,avx512f,avx512vl,avx512vnni", 7, |acc, w, a| _mm256_dpbusd_epi32(acc, w, a), |acc| acc);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::understand::encoder::kernels::dequantize_row;

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
    fn every_kernel_matches_the_dequantised_product_for_any_token_count() {
        // 48 rows: three row tiles of the AMX kernel, six row groups of the vector kernels.
        let (rows, cols) = (48, 96);
        let (raw, bias) = matrix(rows, cols);
        let w = QMatrix::from_q4(&raw, rows, cols, bias.clone());
        assert!(Kernel::available().any(|k| k == Kernel::Portable));
        // Token counts below, at and past every tile size, with remainders of each length.
        for tokens in [1, 2, 3, 4, 5, 7, 8, 9, 13, 15, 16, 17, 23, 32, 37] {
            let x: Vec<f32> = (0..tokens * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let mut q = Quantized::default();
            q.fill(&x, tokens, cols, false);
            let want = reference(&raw, &bias, &q, tokens, rows, cols);
            let mut portable = vec![0f32; tokens * rows];
            matmul(Kernel::Portable, &w, &q, tokens, &mut portable);
            for (a, b) in portable.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "portable {a} vs {b}");
            }
            let mut first_simd: Option<(Kernel, Vec<f32>)> = None;
            for kernel in Kernel::available() {
                let mut fast = vec![f32::NAN; tokens * rows];
                matmul(kernel, &w, &q, tokens, &mut fast);
                for (a, b) in fast.iter().zip(&portable) {
                    assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{} {a} vs portable {b} ({tokens} tokens)", kernel.name());
                }
                // The vector and tile kernels compute the same integer sums and the same f32
                // operations in the same order: the encoder's figures must not depend on the CPU.
                match (&first_simd, kernel) {
                    (_, Kernel::Portable) => {}
                    (None, _) => first_simd = Some((kernel, fast)),
                    (Some((best, want)), _) => {
                        let same = fast.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{} differs from {} in the last bits ({tokens} tokens)", kernel.name(), best.name());
                    }
                }
            }
        }
    }
}
