//! Multinomial logistic regression over sparse features, trained by SGD: the one learning
//! algorithm behind both the intent classifier and the sentiment model. Deterministic: a fixed
//! shuffle seed and ordered sums make the same data give the same weights.

use crate::understand::features::FeatureId;
use std::collections::HashMap;

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// Passes over the data.
    pub epochs: usize,
    /// Initial step; decays as 1/sqrt(epoch).
    pub learning_rate: f32,
    /// L2 penalty per touched weight.
    pub l2: f32,
}

/// A trained model: a weight row per known feature, one weight per class.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Row index of each known feature.
    pub rows: HashMap<FeatureId, usize>,
    /// `rows.len() × classes` weights, row-major.
    pub weights: Vec<f32>,
    /// Per-class bias.
    pub bias: Vec<f32>,
}

/// Fisher–Yates with an xorshift generator whose `state` the caller seeds: the same seed
/// gives the same order, so training is reproducible.
pub fn shuffle(order: &mut [usize], state: &mut u64) {
    for i in (1..order.len()).rev() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        order.swap(i, (*state % (i as u64 + 1)) as usize);
    }
}

/// Numerically stable softmax.
pub fn softmax(z: &[f32]) -> Vec<f32> {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

impl Linear {
    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.bias.len()
    }

    /// Whether a feature was seen in training.
    pub fn knows(&self, f: &FeatureId) -> bool {
        self.rows.contains_key(f)
    }

    /// Class scores before softmax.
    pub fn logits(&self, x: &[(FeatureId, f32)]) -> Vec<f32> {
        let k = self.bias.len();
        let mut z = self.bias.clone();
        for (f, v) in x {
            if let Some(&row) = self.rows.get(f) {
                for (c, zc) in z.iter_mut().enumerate() {
                    *zc += self.weights[row * k + c] * v;
                }
            }
        }
        z
    }

    /// Trains on the examples `subset` of `x`/`y` (class indices below `k`), each weighted
    /// by `sample_weight` (1 when `None`).
    pub fn train(
        x: &[Vec<(FeatureId, f32)>],
        y: &[usize],
        sample_weight: Option<&[f32]>,
        subset: &[usize],
        k: usize,
        opts: TrainOptions,
    ) -> Linear {
        let mut rows: HashMap<FeatureId, usize> = HashMap::new();
        for &i in subset {
            for (f, _) in &x[i] {
                let next = rows.len();
                rows.entry(*f).or_insert(next);
            }
        }
        // Each example's features as weight rows, looked up once rather than once per class and
        // epoch (the lookups were most of a shop's start-up); the arithmetic is unchanged.
        let mut indexed: Vec<Vec<(usize, f32)>> = vec![Vec::new(); x.len()];
        for &i in subset {
            indexed[i] = x[i].iter().map(|(f, v)| (rows[f], *v)).collect();
        }
        let mut model = Linear { weights: vec![0.0; rows.len() * k], bias: vec![0.0; k], rows };
        let mut order: Vec<usize> = subset.to_vec();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for epoch in 0..opts.epochs {
            shuffle(&mut order, &mut state);
            let lr = opts.learning_rate / ((epoch + 1) as f32).sqrt();
            for &i in &order {
                let w_i = sample_weight.map_or(1.0, |w| w[i]);
                let mut z = model.bias.clone();
                for &(row, v) in &indexed[i] {
                    for (c, zc) in z.iter_mut().enumerate() {
                        *zc += model.weights[row * k + c] * v;
                    }
                }
                let p = softmax(&z);
                for (c, p_c) in p.iter().enumerate() {
                    let g = w_i * (p_c - if c == y[i] { 1.0 } else { 0.0 });
                    model.bias[c] -= lr * g * 0.1;
                    for &(row, v) in &indexed[i] {
                        let w = &mut model.weights[row * k + c];
                        *w -= lr * (g * v + opts.l2 * *w);
                    }
                }
            }
        }
        model
    }
}
