//! Intent classifier: multinomial logistic regression over [`features`], trained from the
//! shop's knowledge base (intent examples and FAQ phrasings) when the shop loads, so a support
//! lead's edits take effect on reload. Confidence is calibrated by temperature scaling fitted
//! on out-of-fold predictions, and damped when most of a message's features were never seen
//! in training: an unfamiliar message is a reason to escalate, not to guess. The shop's
//! synonym groups ([`Lexicon`]) add one feature per concept found, so what an example teaches
//! about one word carries over to its synonyms.
//!
//! With the sentence encoder, a second softmax regression reads each message's embedding
//! ([`DenseSoftmax`]): meaning where the words differ. The two models' logits are blended with
//! weights fitted, like the temperature, on out-of-fold predictions, so the blend is calibrated
//! and says how much each half deserves.

use crate::understand::concepts::Lexicon;
use crate::understand::dense::{DenseOptions, DenseSoftmax};
use crate::understand::features::{self, FeatureId, features};
use crate::understand::linear::{Linear, TrainOptions, softmax};
use crate::understand::normalize::normalize;
use std::collections::HashMap;
use tantivy::tokenizer::TextAnalyzer;

/// SGD settings: small data, so many passes.
const TRAINING: TrainOptions = TrainOptions { epochs: 30, learning_rate: 0.5, l2: 1e-5 };
/// Folds used to fit the temperature.
const CALIBRATION_FOLDS: usize = 4;
/// Below this share of known feature mass, confidence is scaled down proportionally.
const MIN_KNOWN_SHARE: f32 = 0.6;
/// Weight of each concept found, against the unit-length word and character features.
const CONCEPT_WEIGHT: f32 = 0.5;
/// Settings of the embedding half.
const DENSE_TRAINING: DenseOptions = DenseOptions { epochs: 20, learning_rate: 0.2, l2: 1e-5 };

/// One labelled training example.
#[derive(Debug, Clone)]
pub struct Example {
    /// Text as written (normalised during training).
    pub text: String,
    /// Intent name.
    pub intent: String,
}

/// A prediction: every intent's probability, best first.
#[derive(Debug, Clone)]
pub struct IntentScores {
    /// (intent, calibrated probability), sorted descending.
    pub ranked: Vec<(String, f32)>,
    /// Share of the message's feature mass seen in training (0..1); 1 when the encoder read
    /// the message (it has no unknown words).
    pub known_share: f32,
}

impl IntentScores {
    /// The best intent and its confidence (probability damped for unfamiliar messages).
    pub fn best(&self) -> (&str, f32) {
        let (name, p) = &self.ranked[0];
        let damp = (self.known_share / MIN_KNOWN_SHARE).min(1.0);
        (name, p * damp)
    }
}

/// How the two halves' logits are combined: `lexical × z_lex + dense × z_dense`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blend {
    /// Weight of the word-and-character model (1 / its temperature when alone).
    pub lexical: f32,
    /// Weight of the embedding model.
    pub dense: f32,
}

/// A trained classifier.
pub struct IntentModel {
    labels: Vec<String>,
    linear: Linear,
    dense: Option<DenseSoftmax>,
    blend: Blend,
    analyzer: TextAnalyzer,
}

/// Word and character features plus the message's concepts, unit length.
fn featurize(analyzer: &mut TextAnalyzer, normalized: &str, concepts: &[&str]) -> Vec<(FeatureId, f32)> {
    let mut x = features(analyzer, normalized);
    if !concepts.is_empty() {
        x.extend(concepts.iter().map(|name| (features::id("concept", name), CONCEPT_WEIGHT)));
        features::to_unit_length(&mut x);
    }
    x
}

/// Normalised, featurised training data.
struct Prepared {
    x: Vec<Vec<(FeatureId, f32)>>,
    y: Vec<usize>,
}

impl IntentModel {
    /// Trains on `examples`, finding each one's concepts with `lexicon`; with `embeddings`
    /// (one per example, same order) the embedding half too. Deterministic: the same examples
    /// give the same model.
    pub fn train(examples: &[Example], lexicon: &Lexicon, analyzer: TextAnalyzer, embeddings: Option<&[&[f32]]>) -> IntentModel {
        let mut labels: Vec<String> = examples.iter().map(|e| e.intent.clone()).collect();
        labels.sort();
        labels.dedup();
        let label_index: HashMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
        let mut analyzer_mut = analyzer.clone();
        let prepared = Prepared {
            x: examples
                .iter()
                .map(|e| {
                    let text = normalize(&e.text).text;
                    let concepts = lexicon.find(&mut analyzer_mut, &text);
                    featurize(&mut analyzer_mut, &text, &concepts)
                })
                .collect(),
            y: examples.iter().map(|e| label_index[e.intent.as_str()]).collect(),
        };
        let embeddings = embeddings.filter(|e| e.len() == examples.len());
        let k = labels.len();

        // Out-of-fold logits fit the blend: in-sample logits are overconfident. Folds train
        // in parallel (they are independent).
        let held_out: Vec<HeldOut> = std::thread::scope(|scope| {
            let prepared = &prepared;
            let workers: Vec<_> = (0..CALIBRATION_FOLDS)
                .map(|fold| {
                    scope.spawn(move || {
                        let (train, test): (Vec<usize>, Vec<usize>) = (0..prepared.y.len()).partition(|i| i % CALIBRATION_FOLDS != fold);
                        let lexical = Linear::train(&prepared.x, &prepared.y, None, &train, k, TRAINING);
                        let dense = embeddings.map(|e| DenseSoftmax::train(e, &prepared.y, &train, k, DENSE_TRAINING));
                        test.into_iter()
                            .map(|i| HeldOut {
                                lexical: lexical.logits(&prepared.x[i]),
                                dense: dense.as_ref().zip(embeddings).map(|(d, e)| d.logits(e[i])),
                                label: prepared.y[i],
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().expect("training fold panicked")).collect()
        });
        let blend = fit_blend(&held_out);

        let all: Vec<usize> = (0..prepared.y.len()).collect();
        let (linear, dense) = std::thread::scope(|scope| {
            let dense = scope.spawn(|| embeddings.map(|e| DenseSoftmax::train(e, &prepared.y, &all, k, DENSE_TRAINING)));
            let linear = Linear::train(&prepared.x, &prepared.y, None, &all, k, TRAINING);
            (linear, dense.join().expect("dense training panicked"))
        });
        IntentModel { labels, linear, dense, blend, analyzer }
    }

    /// Intent names the model knows.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The fitted blend of the two halves' logits.
    pub fn blend(&self) -> Blend {
        self.blend
    }

    /// Whether the embedding half was trained.
    pub fn has_dense(&self) -> bool {
        self.dense.is_some()
    }

    /// Classifies a normalised message whose concepts (found with the lexicon the model was
    /// trained with) are `concepts`, and whose embedding is `embedding` when the model has an
    /// embedding half.
    pub fn predict(&self, normalized: &str, concepts: &[&str], embedding: Option<&[f32]>) -> IntentScores {
        let x = featurize(&mut self.analyzer.clone(), normalized, concepts);
        let total: f32 = x.iter().map(|(_, v)| v * v).sum();
        let known: f32 = x.iter().filter(|(f, _)| self.linear.knows(f)).map(|(_, v)| v * v).sum();
        let dense = self.dense.as_ref().zip(embedding).map(|(d, e)| d.logits(e));
        let z = blended(self.blend, &self.linear.logits(&x), dense.as_deref());
        let p = softmax(&z);
        let mut ranked: Vec<(String, f32)> = self.labels.iter().cloned().zip(p).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        // The encoder reads every word, known or not: no damping when it has.
        let known_share = match (&dense, total > 0.0) {
            (Some(_), _) => 1.0,
            (None, true) => known / total,
            (None, false) => 0.0,
        };
        IntentScores { ranked, known_share }
    }
}

/// One out-of-fold prediction.
struct HeldOut {
    lexical: Vec<f32>,
    dense: Option<Vec<f32>>,
    label: usize,
}

fn blended(blend: Blend, lexical: &[f32], dense: Option<&[f32]>) -> Vec<f32> {
    match dense {
        Some(d) => lexical.iter().zip(d).map(|(l, d)| blend.lexical * l + blend.dense * d).collect(),
        None => lexical.iter().map(|l| blend.lexical * l).collect(),
    }
}

/// The blend minimising held-out negative log-likelihood (grid search over two weights; one,
/// the inverse temperature, without an embedding half).
fn fit_blend(held_out: &[HeldOut]) -> Blend {
    let nll = |blend: Blend| -> f32 {
        held_out
            .iter()
            .map(|h| {
                let p = softmax(&blended(blend, &h.lexical, h.dense.as_deref()));
                -(p[h.label].max(1e-9)).ln()
            })
            .sum()
    };
    let has_dense = held_out.first().is_some_and(|h| h.dense.is_some());
    let dense_steps: Vec<f32> = if has_dense { (0..=24).map(|i| i as f32 * 0.25).collect() } else { vec![0.0] };
    let mut best = (f32::INFINITY, Blend { lexical: 1.0, dense: 0.0 });
    for lexical in (1..=40).map(|i| i as f32 * 0.1) {
        for &dense in &dense_steps {
            let blend = Blend { lexical, dense };
            let loss = nll(blend);
            if loss < best.0 {
                best = (loss, blend);
            }
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::understand::analyzer::analyzer;

    fn examples() -> Vec<Example> {
        let data = [
            ("greeting", &["你好", "在吗", "有人吗", "hello", "hi there", "anyone here", "哈喽", "亲在不在"][..]),
            (
                "refund",
                &[
                    "退款多久到账",
                    "钱什么时候退",
                    "退款进度",
                    "when is my refund",
                    "refund status",
                    "where is my money back",
                    "tk到哪了",
                    "退款还没到",
                ][..],
            ),
            (
                "invoice",
                &[
                    "能开发票吗",
                    "发票怎么开",
                    "要发票",
                    "can i get an invoice",
                    "invoice please",
                    "need a receipt for my company",
                    "开个电子发票",
                    "发票什么时候开",
                ][..],
            ),
        ];
        data.iter().flat_map(|(intent, texts)| texts.iter().map(|t| Example { text: t.to_string(), intent: intent.to_string() })).collect()
    }

    #[test]
    fn learns_intents_in_both_languages() {
        let model = IntentModel::train(&examples(), &Lexicon::default(), analyzer(), None);
        assert_eq!(model.predict(&normalize("退款什么时候到账呀").text, &[], None).best().0, "refund");
        assert_eq!(model.predict(&normalize("Hello, is anyone there?").text, &[], None).best().0, "greeting");
        assert_eq!(model.predict(&normalize("I need an invoice").text, &[], None).best().0, "invoice");
    }

    #[test]
    fn probabilities_sum_to_one_and_are_ranked() {
        let model = IntentModel::train(&examples(), &Lexicon::default(), analyzer(), None);
        let s = model.predict(&normalize("发票").text, &[], None);
        let sum: f32 = s.ranked.iter().map(|r| r.1).sum();
        assert!((sum - 1.0).abs() < 1e-4);
        assert!(s.ranked.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn unfamiliar_text_gets_low_confidence() {
        let model = IntentModel::train(&examples(), &Lexicon::default(), analyzer(), None);
        let (_, confident) = model.predict(&normalize("退款多久到账").text, &[], None).best();
        let (_, unfamiliar) = model.predict(&normalize("quantum chromodynamics lecture notes").text, &[], None).best();
        assert!(unfamiliar < confident, "{unfamiliar} vs {confident}");
        assert!(unfamiliar < 0.5, "{unfamiliar}");
    }

    #[test]
    fn training_is_deterministic() {
        let a = IntentModel::train(&examples(), &Lexicon::default(), analyzer(), None);
        let b = IntentModel::train(&examples(), &Lexicon::default(), analyzer(), None);
        let text = normalize("发票怎么开").text;
        assert_eq!(a.predict(&text, &[], None).ranked, b.predict(&text, &[], None).ranked);
        assert_eq!(a.blend(), b.blend());
    }
}
