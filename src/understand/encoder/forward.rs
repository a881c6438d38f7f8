//! The transformer: token + position embeddings, twelve post-norm BERT layers (self-attention,
//! GELU feed-forward), mean pooling over every token, L2 normalisation. Scratch buffers live in
//! a per-thread [`Scratch`], so a call allocates nothing once the thread has seen its longest
//! message.

use super::file::{BLOCK, BLOCK_BYTES, Dims, FileError, HEAD_WIDTH, ModelFile};
use super::kernels::{self, add_layer_norm};
use super::matmul::{Kernel, QMatrix, Quantized, matmul};
use std::ops::Range;

/// One encoder layer.
struct Layer {
    q: QMatrix,
    k: QMatrix,
    v: QMatrix,
    attn_out: QMatrix,
    attn_norm: (Vec<f32>, Vec<f32>),
    ffn_in: QMatrix,
    ffn_out: QMatrix,
    out_norm: (Vec<f32>, Vec<f32>),
}

/// The network's weights.
pub(super) struct Network {
    pub(super) dims: Dims,
    eps: f32,
    /// Word embeddings, still `Q4_0`: only the rows of a message's tokens are unpacked.
    words: Vec<u8>,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
    kernel: Kernel,
}

/// Buffers reused across calls on one thread.
#[derive(Default)]
pub(super) struct Scratch {
    x: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    ctx: Vec<f32>,
    proj: Vec<f32>,
    mid: Vec<f32>,
    attention: AttentionScratch,
    act: Quantized,
}

impl Network {
    pub(super) fn load(file: &ModelFile) -> Result<Network, FileError> {
        let d = file.dims;
        let (h, f) = (d.hidden, d.ffn);
        let matrix = |name: &str, rows: usize, cols: usize| -> Result<QMatrix, FileError> {
            let bias = file.f32s(&format!("{name}.b"), rows)?;
            Ok(QMatrix::from_q4(file.q4(&format!("{name}.w"), rows, cols)?, rows, cols, bias))
        };
        let norm = |name: &str| -> Result<(Vec<f32>, Vec<f32>), FileError> {
            Ok((file.f32s(&format!("{name}.w"), h)?, file.f32s(&format!("{name}.b"), h)?))
        };
        let layers = (0..d.layers)
            .map(|l| {
                Ok(Layer {
                    q: matrix(&format!("l{l}.q"), h, h)?,
                    k: matrix(&format!("l{l}.k"), h, h)?,
                    v: matrix(&format!("l{l}.v"), h, h)?,
                    attn_out: matrix(&format!("l{l}.ao"), h, h)?,
                    attn_norm: norm(&format!("l{l}.aln"))?,
                    ffn_in: matrix(&format!("l{l}.fi"), f, h)?,
                    ffn_out: matrix(&format!("l{l}.fo"), h, f)?,
                    out_norm: norm(&format!("l{l}.oln"))?,
                })
            })
            .collect::<Result<Vec<_>, FileError>>()?;
        let kernel = Kernel::detect();
        // Rearranged now rather than on the first customer's message.
        for layer in &layers {
            for m in [&layer.q, &layer.k, &layer.v, &layer.attn_out, &layer.ffn_in, &layer.ffn_out] {
                m.prepare(kernel);
            }
        }
        Ok(Network {
            dims: d,
            eps: file.eps,
            words: file.q4("emb.word", d.embedding_rows, h)?.to_vec(),
            positions: file.f32s("emb.pos", d.max_positions * h)?,
            token_type: file.f32s("emb.type", 2 * h)?,
            embed_norm: norm("emb.ln")?,
            layers,
            kernel,
        })
    }

    /// The matrix kernel this network runs.
    pub(super) fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// The mean-pooled, unit-length embeddings of several token sequences (each at most
    /// `max_positions` long), `hidden` values each in `out`. They are computed together: every
    /// matrix product runs over all their tokens at once (the weights are read once for all of
    /// them), attention stays within each sequence.
    pub(super) fn embed(&self, seqs: &[&[u32]], scratch: &mut Scratch, out: &mut [f32]) {
        self.embed_by(self.kernel, seqs, scratch, out);
    }

    /// [`Network::embed`] with `kernel`, which the CPU must run ([`Kernel::supported`]).
    pub(super) fn embed_by(&self, kernel: Kernel, seqs: &[&[u32]], scratch: &mut Scratch, out: &mut [f32]) {
        assert!(kernel.supported(), "{} on this CPU", kernel.name());
        #[cfg(target_arch = "x86_64")]
        if kernel != Kernel::Portable {
            // SAFETY: every kernel but the portable one runs only where the CPU reports AVX2
            // and FMA (`Kernel::supported`, asserted above).
            unsafe { self.embed_avx2(kernel, seqs, scratch, out) };
            return;
        }
        self.embed_with(kernel, seqs, scratch, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn embed_avx2(&self, kernel: Kernel, seqs: &[&[u32]], scratch: &mut Scratch, out: &mut [f32]) {
        self.embed_with(kernel, seqs, scratch, out);
    }

    /// The whole pass; inlined into each entry point so it is compiled for its CPU features.
    #[inline(always)]
    fn embed_with(&self, kernel: Kernel, seqs: &[&[u32]], s: &mut Scratch, out: &mut [f32]) {
        let Dims { hidden: h, heads, ffn, .. } = self.dims;
        let mut spans: Vec<Range<usize>> = Vec::with_capacity(seqs.len());
        for ids in seqs {
            let start = spans.last().map_or(0, |r| r.end);
            spans.push(start..start + ids.len().min(self.dims.max_positions));
        }
        let n = spans.last().map_or(0, |r| r.end);
        for buf in [&mut s.x, &mut s.q, &mut s.k, &mut s.v, &mut s.ctx, &mut s.proj] {
            buf.resize(n * h, 0.0);
        }
        s.mid.resize(n * ffn, 0.0);

        let row_bytes = h / BLOCK * BLOCK_BYTES;
        for (ids, span) in seqs.iter().zip(&spans) {
            for (position, (&id, t)) in ids.iter().zip(span.clone()).enumerate() {
                let row = &mut s.x[t * h..][..h];
                let id = (id as usize).min(self.dims.embedding_rows - 1);
                kernels::dequantize_row(&self.words[id * row_bytes..][..row_bytes], row);
                for ((v, p), ty) in row.iter_mut().zip(&self.positions[position * h..][..h]).zip(&self.token_type[..h]) {
                    *v += p + ty;
                }
            }
        }
        add_layer_norm(&mut s.x[..n * h], None, &self.embed_norm.0, &self.embed_norm.1, self.eps);

        let simd = kernel != Kernel::Portable;
        for layer in &self.layers {
            s.act.fill(&s.x, n, h, simd);
            matmul(kernel, &layer.q, &s.act, n, &mut s.q);
            matmul(kernel, &layer.k, &s.act, n, &mut s.k);
            matmul(kernel, &layer.v, &s.act, n, &mut s.v);
            for span in &spans {
                let rows = span.start * h..span.end * h;
                let qkv = [&s.q[rows.clone()], &s.k[rows.clone()], &s.v[rows.clone()]];
                attention(qkv, span.len(), h, heads, &mut s.attention, &mut s.ctx[rows]);
            }
            s.act.fill(&s.ctx, n, h, simd);
            matmul(kernel, &layer.attn_out, &s.act, n, &mut s.proj);
            add_layer_norm(&mut s.x[..n * h], Some(&s.proj), &layer.attn_norm.0, &layer.attn_norm.1, self.eps);

            s.act.fill(&s.x, n, h, simd);
            matmul(kernel, &layer.ffn_in, &s.act, n, &mut s.mid);
            gelu(&mut s.mid[..n * ffn], simd);
            s.act.fill(&s.mid, n, ffn, simd);
            matmul(kernel, &layer.ffn_out, &s.act, n, &mut s.proj);
            add_layer_norm(&mut s.x[..n * h], Some(&s.proj), &layer.out_norm.0, &layer.out_norm.1, self.eps);
        }

        for (span, out) in spans.iter().zip(out.chunks_exact_mut(h)) {
            out.fill(0.0);
            for row in s.x[span.start * h..span.end * h].chunks_exact(h) {
                for (o, v) in out.iter_mut().zip(row) {
                    *o += v;
                }
            }
            let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            for o in out.iter_mut() {
                *o /= norm;
            }
        }
    }
}

/// GELU in place (`simd`: with the AVX2 form, which the CPU must run).
#[inline(always)]
fn gelu(x: &mut [f32], simd: bool) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is set only when the CPU has AVX2 and FMA.
        unsafe { super::simd::gelu(x) };
        return;
    }
    let _ = simd;
    for v in x {
        *v = kernels::gelu(*v);
    }
}

/// Scaled dot-product self-attention of `n` tokens over all of them, head by head.
///
/// Each head's keys are first laid out transposed (`kt[d][s]`), so a query's scores against
/// every key are eight-wide multiply-adds over the keys rather than a horizontal sum per key,
/// and the weighted sum of values collects in an array the compiler keeps in registers.
#[inline(always)]
fn attention([q, k, v]: [&[f32]; 3], n: usize, h: usize, heads: usize, s: &mut AttentionScratch, ctx: &mut [f32]) {
    let hd = h / heads;
    debug_assert_eq!(hd, HEAD_WIDTH, "checked when the file is read");
    let scale = 1.0 / (hd as f32).sqrt();
    // Keys padded to a multiple of eight with zeros: a query's scores are then computed eight
    // keys at a time in registers across the head's 32 dimensions (the padded scores are
    // never read).
    let padded = n.div_ceil(8) * 8;
    s.probs.resize(padded, 0.0);
    s.keys_t.clear();
    s.keys_t.resize(hd * padded, 0.0);
    for head in 0..heads {
        let col = head * hd;
        for (t, key) in k.chunks_exact(h).take(n).enumerate() {
            for (d, &x) in key[col..col + hd].iter().enumerate() {
                s.keys_t[d * padded + t] = x;
            }
        }
        for t in 0..n {
            let qh = &q[t * h + col..][..HEAD_WIDTH];
            for (eight, scores) in s.probs.chunks_exact_mut(8).enumerate() {
                // lanes[i][j]: key j's products of dimensions i, i + 8, i + 16, i + 24, then
                // the eight lanes summed in order: the rounding of an eight-lane dot product,
                // kept because a changed rounding moves the router's borderline decisions.
                // Written with constant bounds so the lanes stay in eight registers.
                let mut lanes = [[0f32; 8]; 8];
                for d0 in (0..HEAD_WIDTH).step_by(8) {
                    for (i, lane) in lanes.iter_mut().enumerate() {
                        let d = d0 + i;
                        let keys = &s.keys_t[d * padded + eight * 8..][..8];
                        for (a, kd) in lane.iter_mut().zip(keys) {
                            *a += qh[d] * kd;
                        }
                    }
                }
                for (j, p) in scores.iter_mut().enumerate() {
                    *p = lanes[1..].iter().fold(lanes[0][j], |sum, lane| sum + lane[j]) * scale;
                }
            }
            let probs = &mut s.probs[..n];
            let max = probs.iter().fold(f32::NEG_INFINITY, |m, &p| m.max(p));
            // The exponentials in a loop of their own, so they run eight at a time.
            for p in probs.iter_mut() {
                *p = kernels::exp(*p - max);
            }
            let inv = 1.0 / probs.iter().sum::<f32>();
            let mut acc = [0f32; HEAD_WIDTH];
            for (&p, value) in probs.iter().zip(v.chunks_exact(h)) {
                let w = p * inv;
                for (a, x) in acc.iter_mut().zip(&value[col..col + HEAD_WIDTH]) {
                    *a += w * x;
                }
            }
            ctx[t * h + col..][..HEAD_WIDTH].copy_from_slice(&acc);
        }
    }
}

/// Buffers of [`attention`], reused across calls.
#[derive(Default)]
pub(super) struct AttentionScratch {
    probs: Vec<f32>,
    keys_t: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// softmax(q·kᵀ/√d)·v head by head, written the obvious way in f64.
    fn reference(q: &[f32], k: &[f32], v: &[f32], n: usize, h: usize, heads: usize) -> Vec<f32> {
        let hd = h / heads;
        let mut out = vec![0f32; n * h];
        for head in 0..heads {
            let at = |m: &[f32], t: usize, d: usize| f64::from(m[t * h + head * hd + d]);
            for t in 0..n {
                let scores: Vec<f64> =
                    (0..n).map(|s| (0..hd).map(|d| at(q, t, d) * at(k, s, d)).sum::<f64>() / (hd as f64).sqrt()).collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for d in 0..hd {
                    out[t * h + head * hd + d] = ((0..n).map(|s| weights[s] * at(v, s, d)).sum::<f64>() / total) as f32;
                }
            }
        }
        out
    }

    /// The attention of the first encoder (dot products over eight lanes, key by key): the new
    /// loops must round exactly as it did, so no decision of the router moves.
    fn attention_as_written_first(q: &[f32], k: &[f32], v: &[f32], n: usize, h: usize, heads: usize, ctx: &mut [f32]) {
        let hd = h / heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let dot = |a: &[f32], b: &[f32]| {
            let mut acc = [0f32; 8];
            for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
                for i in 0..8 {
                    acc[i] += x[i] * y[i];
                }
            }
            acc.iter().sum::<f32>()
        };
        let mut probs = vec![0f32; n];
        for t in 0..n {
            for head in 0..heads {
                let qh = &q[t * h + head * hd..][..hd];
                let mut max = f32::NEG_INFINITY;
                for (s, p) in probs.iter_mut().enumerate() {
                    *p = dot(qh, &k[s * h + head * hd..][..hd]) * scale;
                    max = max.max(*p);
                }
                for p in probs.iter_mut() {
                    *p = kernels::exp(*p - max);
                }
                let inv = 1.0 / probs.iter().sum::<f32>();
                let out = &mut ctx[t * h + head * hd..][..hd];
                out.fill(0.0);
                for (s, p) in probs.iter().enumerate() {
                    for (o, vv) in out.iter_mut().zip(&v[s * h + head * hd..][..hd]) {
                        *o += p * inv * vv;
                    }
                }
            }
        }
    }

    #[test]
    fn attention_matches_the_definition_at_every_length() {
        let (h, heads) = (2 * HEAD_WIDTH, 2);
        let mut scratch = AttentionScratch::default();
        // Lengths below, at and across the eight-key steps, longest first so the scratch
        // buffers are reused shorter (stale padding must not leak into the scores).
        for n in [30, 17, 16, 9, 8, 7, 1] {
            let value = |i: usize, salt: usize| ((i * 7919 + salt * 104_729) % 2003) as f32 / 400.0 - 2.5;
            let q: Vec<f32> = (0..n * h).map(|i| value(i, 1)).collect();
            let k: Vec<f32> = (0..n * h).map(|i| value(i, 2)).collect();
            let v: Vec<f32> = (0..n * h).map(|i| value(i, 3)).collect();
            let mut ctx = vec![0f32; n * h];
            attention([&q, &k, &v], n, h, heads, &mut scratch, &mut ctx);
            for (i, (got, want)) in ctx.iter().zip(reference(&q, &k, &v, n, h, heads)).enumerate() {
                assert!((got - want).abs() < 1e-4, "n = {n}, value {i}: {got} vs {want}");
            }
            let mut before = vec![0f32; n * h];
            attention_as_written_first(&q, &k, &v, n, h, heads, &mut before);
            assert_eq!(ctx, before, "n = {n}: bit for bit what the first form computed");
        }
    }
}
