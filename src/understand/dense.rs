//! Multinomial logistic regression over sentence embeddings: the encoder's half of the intent
//! classifier. Embeddings of one model share a large common direction (every pair has a cosine
//! of 0.7 or more), which slows gradient descent; the training mean is subtracted and the
//! result scaled to unit mean length first. Deterministic like [`crate::understand::linear`].

use crate::understand::linear::shuffle;

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct DenseOptions {
    /// Passes over the data.
    pub epochs: usize,
    /// Initial step; decays as 1/sqrt(epoch).
    pub learning_rate: f32,
    /// L2 penalty.
    pub l2: f32,
}

/// A trained model (serialised inside model files that carry one).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DenseSoftmax {
    mean: Vec<f32>,
    scale: f32,
    /// `classes × dim`, row-major.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl DenseSoftmax {
    /// Trains on the examples `subset` of `x`/`y` (class indices below `k`).
    pub fn train(x: &[&[f32]], y: &[usize], subset: &[usize], k: usize, opts: DenseOptions) -> DenseSoftmax {
        DenseSoftmax::train_weighted(x, y, None, subset, k, opts)
    }

    /// [`DenseSoftmax::train`] with each example weighted by `sample_weight` (1 when `None`).
    pub fn train_weighted(
        x: &[&[f32]],
        y: &[usize],
        sample_weight: Option<&[f32]>,
        subset: &[usize],
        k: usize,
        opts: DenseOptions,
    ) -> DenseSoftmax {
        let dim = x.first().map_or(0, |v| v.len());
        let mut mean = vec![0f32; dim];
        for &i in subset {
            for (m, v) in mean.iter_mut().zip(x[i]) {
                *m += v;
            }
        }
        let n = subset.len().max(1) as f32;
        mean.iter_mut().for_each(|m| *m /= n);
        let mean_len = subset.iter().map(|&i| x[i].iter().zip(&mean).map(|(v, m)| (v - m) * (v - m)).sum::<f32>().sqrt()).sum::<f32>() / n;
        let mut model = DenseSoftmax {
            mean,
            scale: if mean_len > 0.0 { 1.0 / mean_len } else { 1.0 },
            weights: vec![0.0; k * dim],
            bias: vec![0.0; k],
        };
        let centred: Vec<Vec<f32>> = x.iter().map(|v| model.centre(v)).collect();
        let mut order = subset.to_vec();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut z = vec![0f32; k];
        for epoch in 0..opts.epochs {
            shuffle(&mut order, &mut state);
            let lr = opts.learning_rate / ((epoch + 1) as f32).sqrt();
            for &i in &order {
                let v = &centred[i];
                model.logits_centred(v, &mut z);
                softmax_in_place(&mut z);
                let w_i = sample_weight.map_or(1.0, |w| w[i]);
                for (c, p) in z.iter().enumerate() {
                    let g = w_i * (p - if c == y[i] { 1.0 } else { 0.0 });
                    model.bias[c] -= lr * g;
                    let row = &mut model.weights[c * dim..][..dim];
                    for (w, xv) in row.iter_mut().zip(v) {
                        *w -= lr * (g * xv + opts.l2 * *w);
                    }
                }
            }
        }
        model
    }

    /// Class scores before softmax.
    pub fn logits(&self, x: &[f32]) -> Vec<f32> {
        let mut z = vec![0f32; self.bias.len()];
        self.logits_centred(&self.centre(x), &mut z);
        z
    }

    fn centre(&self, x: &[f32]) -> Vec<f32> {
        x.iter().zip(&self.mean).map(|(v, m)| (v - m) * self.scale).collect()
    }

    fn logits_centred(&self, v: &[f32], z: &mut [f32]) {
        let dim = v.len();
        for (c, zc) in z.iter_mut().enumerate() {
            *zc = self.bias[c] + dot(&self.weights[c * dim..][..dim], v);
        }
    }
}

/// Σ aᵢbᵢ in eight lanes, so it vectorises (training and retrieval spend their time here).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

/// Probabilities from logits.
pub fn softmax_in_place(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    z.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_classes_that_share_a_common_direction() {
        // Like sentence embeddings: a big shared component, small class-specific ones.
        let make = |class: usize, j: usize| -> Vec<f32> {
            let mut v = vec![1.0f32; 8];
            v[class] += 0.2 + 0.01 * j as f32;
            v[7 - j % 3] += 0.05;
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect()
        };
        let data: Vec<(Vec<f32>, usize)> = (0..3).flat_map(|c| (0..10).map(move |j| (make(c, j), c))).collect();
        let x: Vec<&[f32]> = data.iter().map(|(v, _)| v.as_slice()).collect();
        let y: Vec<usize> = data.iter().map(|(_, c)| *c).collect();
        let all: Vec<usize> = (0..y.len()).collect();
        let model = DenseSoftmax::train(&x, &y, &all, 3, DenseOptions { epochs: 30, learning_rate: 0.5, l2: 1e-4 });
        for (v, c) in &data {
            let z = model.logits(v);
            let best = (0..3).max_by(|a, b| z[*a].total_cmp(&z[*b])).expect("classes");
            assert_eq!(best, *c);
        }
    }
}
