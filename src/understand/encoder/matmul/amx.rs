//! The matrix kernel for Intel AMX (Sapphire Rapids and later). One `tdpbssd` multiplies a tile
//! of 16 tokens × 32 activations (i8) by 32 × 16 weights (i8, the stored value minus 8) into
//! 16 × 16 i32 sums: a block's sums for 16 tokens and 16 output rows, which a vector kernel
//! needs 64 `vpdpbusd` for. Those sums equal the vector kernels' sums minus their offset term
//! exactly (integers), and are scaled and accumulated in f32 with the same operations in the same
//! order, so every kernel agrees to the last bit.
//!
//! A block's sums must leave the tile before the next block (each block has its own scales), and
//! the f32 work after each product (three vector operations per token) is what bounds this kernel.
//! The tile unit runs its instructions in order, so each step starts block `b + 1`'s product
//! before storing block `b`'s sums, and the vector units scale block `b − 1` meanwhile.
//!
//! Rust has no stable AMX intrinsics: the tile instructions are inline assembly on fixed tile
//! registers, which nothing else in the program uses. Linux hands a process the tile state only
//! after it asks (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), which [`supported`] does once.

use super::{BLOCK, GROUP, GROUP_BLOCK_BYTES, PAIRS, QMatrix, QUAD, Quantized, TILE_TOKENS as TOKENS};
use std::arch::asm;
use std::arch::x86_64::*;
use std::sync::OnceLock;

/// Output rows per tile (the 16 i32 columns of a sums tile).
pub(super) const ROWS: usize = 16;
/// Rows of a weight tile: the block's weights four at a time.
const QUADS: usize = BLOCK / QUAD;
/// Bytes of one weight tile (one block of a row tile).
const WEIGHT_TILE_BYTES: usize = QUADS * ROWS * QUAD;

/// Whether the CPU has AMX-INT8 and the kernel lets this process use the tile registers.
pub(super) fn supported() -> bool {
    static GRANTED: OnceLock<bool> = OnceLock::new();
    *GRANTED.get_or_init(|| {
        // CPUID leaf 7: EDX bit 24 is AMX-TILE, bit 25 AMX-INT8.
        let leaf = __cpuid_count(7, 0);
        let has = leaf.edx & (1 << 24) != 0 && leaf.edx & (1 << 25) != 0;
        has && request_tile_data()
    })
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: fails where the kernel or a
/// hypervisor does not pass the tile state through.
#[cfg(target_os = "linux")]
fn request_tile_data() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a plain system call with integer arguments.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
}

/// Other systems: the kernel stays unused.
#[cfg(not(target_os = "linux"))]
fn request_tile_data() -> bool {
    false
}

/// A matrix's weights in the layout `tdpbssd` reads its second operand in: one byte a weight
/// (twice the packed size; made once, when the network loads).
pub(super) struct AmxWeights {
    /// By row tile, block, quad: 16 rows × the quad's 4 weights (−8..=7).
    tiles: Vec<i8>,
    /// Scales by row tile, block, row within the tile.
    scale: Vec<f32>,
}

impl AmxWeights {
    pub(super) fn from(w: &QMatrix) -> AmxWeights {
        assert!(w.rows.is_multiple_of(ROWS), "{} rows", w.rows);
        let nb = w.cols / BLOCK;
        let mut tiles = vec![0i8; w.rows * w.cols];
        let mut scale = vec![0f32; w.rows * nb];
        for row in 0..w.rows {
            let (g, r) = (row / GROUP, row % GROUP);
            let (rt, rr) = (row / ROWS, row % ROWS);
            for b in 0..nb {
                scale[(rt * nb + b) * ROWS + rr] = w.scale[(g * nb + b) * GROUP + r];
                let packed = &w.q[(g * nb + b) * GROUP_BLOCK_BYTES..][..GROUP_BLOCK_BYTES];
                let tile = &mut tiles[(rt * nb + b) * WEIGHT_TILE_BYTES..][..WEIGHT_TILE_BYTES];
                for pair in 0..PAIRS {
                    for i in 0..QUAD {
                        // Low nibble: weight `4 × pair + i` of the block; high: 16 further.
                        let byte = packed[pair * GROUP * QUAD + r * QUAD + i];
                        tile[pair * ROWS * QUAD + rr * QUAD + i] = (byte & 0x0f) as i8 - 8;
                        tile[(pair + PAIRS) * ROWS * QUAD + rr * QUAD + i] = (byte >> 4) as i8 - 8;
                    }
                }
            }
        }
        AmxWeights { tiles, scale }
    }
}

/// The palette-1 tile configuration `ldtilecfg` reads.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

/// Tiles 0 and 2 hold a block's activations, 1 and 3 its weights, 4 and 5 its sums: two blocks
/// alternate.
fn config() -> TileConfig {
    let mut c = TileConfig { palette: 1, start_row: 0, reserved: [0; 14], bytes_per_row: [0; 16], rows: [0; 16] };
    let (activations, weights, sums) = ((TOKENS, BLOCK), (QUADS, ROWS * QUAD), (TOKENS, ROWS * 4));
    for (i, (rows, bytes)) in [activations, weights, activations, weights, sums, sums].into_iter().enumerate() {
        c.rows[i] = rows as u8;
        c.bytes_per_row[i] = bytes as u16;
    }
    c
}

/// Buffers for the sums of blocks between the tile store and their scaling.
const IN_FLIGHT: usize = 4;

/// One block's i32 sums, a row per token (where `tilestored` puts them).
#[repr(C, align(64))]
struct Sums([[i32; ROWS]; TOKENS]);

/// See [`super::matmul`]. Safety: [`supported`] returned true, the CPU has AVX-512F, `w.rows`
/// is a multiple of [`ROWS`], `x` holds `tokens` rows of `w.cols` values padded with zero rows to
/// a multiple of 16, and `y` has room for `tokens × w.rows`.
#[target_feature(enable = "avx2,fma,avx512f")]
pub(super) unsafe fn matmul(w: &QMatrix, amx: &AmxWeights, x: &Quantized, tokens: usize, y: &mut [f32]) {
    assert!(x.q.len() >= tokens.next_multiple_of(TOKENS) * w.cols);
    let config = config();
    let mut sums: [Sums; IN_FLIGHT] = std::array::from_fn(|_| Sums([[0; ROWS]; TOKENS]));
    // SAFETY: a valid palette-1 configuration; the tile state was granted (`supported`).
    unsafe { asm!("ldtilecfg [{}]", in(reg) &config, options(nostack, readonly, preserves_flags)) };
    for rt in 0..w.rows / ROWS {
        let mut t = 0;
        while t < tokens {
            macro_rules! tile {
                ($($n:literal)*) => {
                    match tokens - t {
                        $($n => unsafe { tile::<$n>(w, amx, x, rt, t, &mut sums, y) },)*
                        _ => unsafe { tile::<TOKENS>(w, amx, x, rt, t, &mut sums, y) },
                    }
                };
            }
            tile!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
            t += TOKENS;
        }
    }
    // Gives the tile state back, so the thread's context switches stay cheap.
    unsafe { asm!("tilerelease", options(nostack, nomem, preserves_flags)) };
}

/// One step of the tile pipeline: block `n`'s product into sums tile `$c` (activations in `$a`,
/// weights in `$w`), then the previous block's sums (tile `$done`) stored at `$out`. The tile
/// unit runs its instructions in order, so the store is placed after the next product is under
/// way rather than right behind its own.
macro_rules! product_then_store {
    ($c:literal, $a:literal, $w:literal, $done:literal, $act:expr, $cols:expr, $weights:expr, $out:expr) => {
        asm!(
            concat!("tilezero tmm", $c),
            concat!("tileloadd tmm", $a, ", [{a} + {sa} * 1]"),
            concat!("tileloadd tmm", $w, ", [{w} + {sw} * 1]"),
            concat!("tdpbssd tmm", $c, ", tmm", $a, ", tmm", $w),
            concat!("tilestored [{c} + {sc} * 1], tmm", $done),
            a = in(reg) $act, sa = in(reg) $cols, w = in(reg) $weights, sw = in(reg) ROWS * QUAD,
            c = in(reg) $out, sc = in(reg) ROWS * 4, options(nostack, preserves_flags)
        )
    };
}

/// Row tile `rt` against tokens `t0 .. t0 + T` (a whole tile is read; rows past `T` are zero
/// padding or other tokens, and are not written).
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn tile<const T: usize>(
    w: &QMatrix,
    amx: &AmxWeights,
    x: &Quantized,
    rt: usize,
    t0: usize,
    sums: &mut [Sums; IN_FLIGHT],
    y: &mut [f32],
) {
    let nb = w.cols / BLOCK;
    let activations = unsafe { x.q.as_ptr().add(t0 * w.cols) };
    let weights = unsafe { amx.tiles.as_ptr().add(rt * nb * WEIGHT_TILE_BYTES) };
    let out: [*mut [i32; ROWS]; IN_FLIGHT] = std::array::from_fn(|i| sums[i].0.as_mut_ptr());
    // SAFETY (every asm below): the tiles read 16 rows of 32 bytes at a block's activations
    // (stride: a token's row; inside the padded `x.q`, asserted by the caller) and 8 rows of 64
    // bytes of its weights (inside `amx.tiles`); they write 16 rows of 64 bytes to one of `out`.
    // Even blocks use tiles 0, 1 and 4; odd blocks 2, 3 and 5.
    unsafe {
        asm!("tilezero tmm4", "tileloadd tmm0, [{a} + {sa} * 1]", "tileloadd tmm1, [{w} + {sw} * 1]", "tdpbssd tmm4, tmm0, tmm1",
             a = in(reg) activations, sa = in(reg) w.cols, w = in(reg) weights, sw = in(reg) ROWS * QUAD, options(nostack, preserves_flags));
    }
    // SAFETY: `amx.scale` holds 16 scales for every row tile and block.
    let weight_scales = |b: usize| unsafe { _mm512_loadu_ps(amx.scale.as_ptr().add((rt * nb + b) * ROWS)) };
    let mut acc = [_mm512_setzero_ps(); T];
    for b in 0..nb {
        // Block b + 1's product starts, block b's sums go to memory, block b - 1's are scaled.
        let c = out[b % IN_FLIGHT];
        if b + 1 < nb {
            let (a, wt) = unsafe { (activations.add((b + 1) * BLOCK), weights.add((b + 1) * WEIGHT_TILE_BYTES)) };
            if b % 2 == 0 {
                unsafe { product_then_store!(5, 2, 3, 4, a, w.cols, wt, c) };
            } else {
                unsafe { product_then_store!(4, 0, 1, 5, a, w.cols, wt, c) };
            }
        } else if b % 2 == 0 {
            unsafe { asm!("tilestored [{c} + {sc} * 1], tmm4", c = in(reg) c, sc = in(reg) ROWS * 4, options(nostack, preserves_flags)) };
        } else {
            unsafe { asm!("tilestored [{c} + {sc} * 1], tmm5", c = in(reg) c, sc = in(reg) ROWS * 4, options(nostack, preserves_flags)) };
        }
        if b > 0 {
            unsafe { scale_block::<T>(weight_scales(b - 1), &x.scale[t0 * nb + b - 1..], nb, out[(b - 1) % IN_FLIGHT], &mut acc) };
        }
    }
    unsafe { scale_block::<T>(weight_scales(nb - 1), &x.scale[t0 * nb + nb - 1..], nb, out[(nb - 1) % IN_FLIGHT], &mut acc) };
    let bias = unsafe { _mm512_loadu_ps(w.bias.as_ptr().add(rt * ROWS)) };
    for (u, acc) in acc.iter().enumerate() {
        let at = &mut y[(t0 + u) * w.rows + rt * ROWS..][..ROWS];
        unsafe { _mm512_storeu_ps(at.as_mut_ptr(), _mm512_add_ps(*acc, bias)) };
    }
}

/// As the vector kernels: a block's sums × (weight scale × activation scale), fused-added.
/// `ws`: the block's weight scales of the tile's rows; `a_scale`: the block's activation scale
/// of the tile's first token, the next token's `nb` further.
#[target_feature(enable = "avx2,fma,avx512f")]
#[inline]
unsafe fn scale_block<const T: usize>(ws: __m512, a_scale: &[f32], nb: usize, sums: *const [i32; ROWS], acc: &mut [__m512; T]) {
    for (u, acc) in acc.iter_mut().enumerate() {
        let s = unsafe { _mm512_load_si512(sums.add(u).cast()) };
        let scale = _mm512_mul_ps(ws, _mm512_set1_ps(a_scale[u * nb]));
        *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, *acc);
    }
}
