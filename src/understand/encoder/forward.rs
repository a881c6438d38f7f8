//! The transformer: token + position embeddings, twelve post-norm BERT layers (self-attention,
//! GELU feed-forward), mean pooling over every token, L2 normalisation. Scratch buffers live in
//! a per-thread [`Scratch`], so a call allocates nothing once the thread has seen its longest
//! message.

use super::file::{BLOCK, BLOCK_BYTES, Dims, FileError, ModelFile};
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
    probs: Vec<f32>,
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
        Ok(Network {
            dims: d,
            eps: file.eps,
            words: file.q4("emb.word", d.embedding_rows, h)?.to_vec(),
            positions: file.f32s("emb.pos", d.max_positions * h)?,
            token_type: file.f32s("emb.type", 2 * h)?,
            embed_norm: norm("emb.ln")?,
            layers,
            kernel: Kernel::detect(),
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
        #[cfg(target_arch = "x86_64")]
        if self.kernel != Kernel::Portable {
            // SAFETY: every kernel but the portable one is chosen only when the CPU reports
            // AVX2 and FMA (`Kernel::supported`).
            unsafe { self.embed_avx2(seqs, scratch, out) };
            return;
        }
        self.embed_with(seqs, scratch, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn embed_avx2(&self, seqs: &[&[u32]], scratch: &mut Scratch, out: &mut [f32]) {
        self.embed_with(seqs, scratch, out);
    }

    /// The whole pass; inlined into each entry point so it is compiled for its CPU features.
    #[inline(always)]
    fn embed_with(&self, seqs: &[&[u32]], s: &mut Scratch, out: &mut [f32]) {
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
        s.probs.resize(spans.iter().map(|r| r.len()).max().unwrap_or(0), 0.0);

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

        let kernel = self.kernel;
        for layer in &self.layers {
            s.act.fill(&s.x, n, h);
            matmul(kernel, &layer.q, &s.act, n, &mut s.q);
            matmul(kernel, &layer.k, &s.act, n, &mut s.k);
            matmul(kernel, &layer.v, &s.act, n, &mut s.v);
            for span in &spans {
                let rows = span.start * h..span.end * h;
                let qkv = [&s.q[rows.clone()], &s.k[rows.clone()], &s.v[rows.clone()]];
                attention(qkv, span.len(), h, heads, &mut s.probs, &mut s.ctx[rows]);
            }
            s.act.fill(&s.ctx, n, h);
            matmul(kernel, &layer.attn_out, &s.act, n, &mut s.proj);
            add_layer_norm(&mut s.x[..n * h], Some(&s.proj), &layer.attn_norm.0, &layer.attn_norm.1, self.eps);

            s.act.fill(&s.x, n, h);
            matmul(kernel, &layer.ffn_in, &s.act, n, &mut s.mid);
            for v in &mut s.mid[..n * layer.ffn_in.rows()] {
                *v = kernels::gelu(*v);
            }
            s.act.fill(&s.mid, n, ffn);
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

/// Scaled dot-product self-attention of `n` tokens over all of them, head by head.
#[inline(always)]
fn attention([q, k, v]: [&[f32]; 3], n: usize, h: usize, heads: usize, probs: &mut [f32], ctx: &mut [f32]) {
    let hd = h / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    for t in 0..n {
        for head in 0..heads {
            let qh = &q[t * h + head * hd..][..hd];
            let mut max = f32::NEG_INFINITY;
            for (s, p) in probs[..n].iter_mut().enumerate() {
                let kh = &k[s * h + head * hd..][..hd];
                *p = kernels::dot(qh, kh) * scale;
                max = max.max(*p);
            }
            // The exponentials in a loop of their own, so they run eight at a time.
            for p in probs[..n].iter_mut() {
                *p = kernels::exp(*p - max);
            }
            let inv = 1.0 / probs[..n].iter().sum::<f32>();
            let out = &mut ctx[t * h + head * hd..][..hd];
            out.fill(0.0);
            for (s, p) in probs[..n].iter().enumerate() {
                let w = p * inv;
                for (o, vv) in out.iter_mut().zip(&v[s * h + head * hd..][..hd]) {
                    *o += w * vv;
                }
            }
        }
    }
}
