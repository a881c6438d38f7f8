//! Intent classifier: multinomial logistic regression over [`features`], trained from the
//! shop's knowledge base (intent examples and FAQ phrasings) when the shop loads, so a support
//! lead's edits take effect on reload. Confidence is calibrated by temperature scaling fitted
//! on out-of-fold predictions, and damped when most of a message's features were never seen
//! in training: an unfamiliar message is a reason to escalate, not to guess. The shop's
//! synonym groups ([`Lexicon`]) add one feature per concept found, so what an example teaches
//! about one word carries over to its synonyms.

use crate::understand::concepts::Lexicon;
use crate::understand::features::{self, features, FeatureId};
use crate::understand::linear::{softmax, Linear, TrainOptions};
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
    /// Share of the message's feature mass seen in training (0..1).
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

/// A trained classifier.
pub struct IntentModel {
    labels: Vec<String>,
    linear: Linear,
    temperature: f32,
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
    /// Trains on `examples`, finding each one's concepts with `lexicon`. Deterministic: the
    /// same examples give the same model.
    pub fn train(examples: &[Example], lexicon: &Lexicon, analyzer: TextAnalyzer) -> IntentModel {
        let mut labels: Vec<String> = examples.iter().map(|e| e.intent.clone()).collect();
        labels.sort();
        labels.dedup();
        let label_index: HashMap<&str, usize> =
            labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
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

        // Out-of-fold logits fit the temperature: in-sample logits are overconfident.
        let mut held_out: Vec<(Vec<f32>, usize)> = Vec::with_capacity(examples.len());
        for fold in 0..CALIBRATION_FOLDS {
            let train: Vec<usize> = (0..prepared.y.len()).filter(|i| i % CALIBRATION_FOLDS != fold).collect();
            let model = Linear::train(&prepared.x, &prepared.y, None, &train, labels.len(), TRAINING);
            for i in (0..prepared.y.len()).filter(|i| i % CALIBRATION_FOLDS == fold) {
                held_out.push((model.logits(&prepared.x[i]), prepared.y[i]));
            }
        }
        let temperature = fit_temperature(&held_out);

        let all: Vec<usize> = (0..prepared.y.len()).collect();
        let linear = Linear::train(&prepared.x, &prepared.y, None, &all, labels.len(), TRAINING);
        IntentModel { labels, linear, temperature, analyzer }
    }

    /// Intent names the model knows.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The fitted temperature (1 = raw softmax; above 1 softens overconfident scores).
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Classifies a normalised message whose concepts (found with the lexicon the model was
    /// trained with) are `concepts`.
    pub fn predict(&self, normalized: &str, concepts: &[&str]) -> IntentScores {
        let x = featurize(&mut self.analyzer.clone(), normalized, concepts);
        let total: f32 = x.iter().map(|(_, v)| v * v).sum();
        let known: f32 = x.iter().filter(|(f, _)| self.linear.knows(f)).map(|(_, v)| v * v).sum();
        let z: Vec<f32> = self.linear.logits(&x).into_iter().map(|z| z / self.temperature).collect();
        let p = softmax(&z);
        let mut ranked: Vec<(String, f32)> = self.labels.iter().cloned().zip(p).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        IntentScores { ranked, known_share: if total > 0.0 { known / total } else { 0.0 } }
    }
}

/// The temperature minimising held-out negative log-likelihood (grid search: one parameter).
fn fit_temperature(held_out: &[(Vec<f32>, usize)]) -> f32 {
    if held_out.is_empty() {
        return 1.0;
    }
    let nll = |t: f32| -> f32 {
        held_out
            .iter()
            .map(|(z, y)| {
                let p = softmax(&z.iter().map(|v| v / t).collect::<Vec<_>>());
                -(p[*y].max(1e-9)).ln()
            })
            .sum()
    };
    (1..=60).map(|i| i as f32 * 0.1).min_by(|a, b| nll(*a).total_cmp(&nll(*b))).unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieve::analyzer::analyzer;

    fn examples() -> Vec<Example> {
        let data = [
            ("greeting", &["你好", "在吗", "有人吗", "hello", "hi there", "anyone here", "哈喽", "亲在不在"][..]),
            ("refund", &["退款多久到账", "钱什么时候退", "退款进度", "when is my refund", "refund status", "where is my money back", "tk到哪了", "退款还没到"][..]),
            ("invoice", &["能开发票吗", "发票怎么开", "要发票", "can i get an invoice", "invoice please", "need a receipt for my company", "开个电子发票", "发票什么时候开"][..]),
        ];
        data.iter()
            .flat_map(|(intent, texts)| texts.iter().map(|t| Example { text: t.to_string(), intent: intent.to_string() }))
            .collect()
    }

    #[test]
    fn learns_intents_in_both_languages() {
        let model = IntentModel::train(&examples(), &Lexicon::default(), analyzer());
        assert_eq!(model.predict(&normalize("退款什么时候到账呀").text, &[]).best().0, "refund");
        assert_eq!(model.predict(&normalize("Hello, is anyone there?").text, &[]).best().0, "greeting");
        assert_eq!(model.predict(&normalize("I need an invoice").text, &[]).best().0, "invoice");
    }

    #[test]
    fn probabilities_sum_to_one_and_are_ranked() {
        let model = IntentModel::train(&examples(), &Lexicon::default(), analyzer());
        let s = model.predict(&normalize("发票").text, &[]);
        let sum: f32 = s.ranked.iter().map(|r| r.1).sum();
        assert!((sum - 1.0).abs() < 1e-4);
        assert!(s.ranked.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn unfamiliar_text_gets_low_confidence() {
        let model = IntentModel::train(&examples(), &Lexicon::default(), analyzer());
        let (_, confident) = model.predict(&normalize("退款多久到账").text, &[]).best();
        let (_, unfamiliar) = model.predict(&normalize("quantum chromodynamics lecture notes").text, &[]).best();
        assert!(unfamiliar < confident, "{unfamiliar} vs {confident}");
        assert!(unfamiliar < 0.5, "{unfamiliar}");
    }

    #[test]
    fn training_is_deterministic() {
        let a = IntentModel::train(&examples(), &Lexicon::default(), analyzer());
        let b = IntentModel::train(&examples(), &Lexicon::default(), analyzer());
        let text = normalize("发票怎么开").text;
        assert_eq!(a.predict(&text, &[]).ranked, b.predict(&text, &[]).ranked);
        assert_eq!(a.temperature(), b.temperature());
    }
}
