//! `smartreply eval`: routes every message of an evaluation file (format:
//! `shared/eval/README.md`) through the same pipeline the service uses, offline, with a fresh
//! conversation per message, and reports the contract's metrics. `--cv K` cross-validates the
//! intent classifier on the knowledge base's own examples instead.

use crate::decide::{ConversationContext, Decision};
use crate::domain::SentimentLabel;
use crate::engine::{ShopEngine, training_examples};
use crate::knowledge::Route;
use crate::understand::intent::Example;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// One line of an evaluation file.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// Unique id.
    pub id: String,
    /// The message.
    pub text: String,
    /// `zh` or `en`.
    #[serde(default)]
    pub lang: Option<String>,
    /// Gold intent.
    pub intent: String,
    /// Gold sentiment.
    pub sentiment: SentimentLabel,
    /// Gold route: `auto` or `escalate`.
    pub route: GoldRoute,
    /// For auto: each inner list needs one of its strings in the reply (case-insensitive).
    #[serde(default)]
    pub must_contain: Vec<Vec<String>>,
}

/// What a good router does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GoldRoute {
    /// Answer automatically.
    Auto,
    /// Escalate to a human.
    Escalate,
}

/// Accuracy of one intent.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntentScore {
    /// Messages with this gold intent.
    pub n: usize,
    /// Share classified correctly.
    pub accuracy: f64,
}

/// The contract's metrics.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    /// Messages.
    pub n: usize,
    /// Share of correct intents.
    pub intent_accuracy: f64,
    /// Macro F1 over negative/neutral/positive.
    pub sentiment_macro_f1: f64,
    /// Share of correct routes.
    pub route_accuracy: f64,
    /// Gold escalate → escalated.
    pub escalation_recall: f64,
    /// Gold negative → escalated.
    pub negative_recall: f64,
    /// Of the automatic answers: gold auto and the reply passes `must_contain`.
    pub auto_precision: f64,
    /// Of gold-auto messages: answered automatically and passing `must_contain`.
    pub auto_coverage: f64,
    /// Median pipeline latency, µs.
    pub latency_us_p50: u64,
    /// 99th percentile pipeline latency, µs.
    pub latency_us_p99: u64,
    /// Per gold intent.
    pub per_intent: BTreeMap<String, IntentScore>,
}

/// Reads an evaluation file, reporting malformed lines as `file:line: message`.
pub fn read_cases(path: &Path) -> anyhow::Result<Vec<Case>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Case>(line) {
            Ok(c) if c.route == GoldRoute::Auto && c.must_contain.is_empty() => {
                problems.push(format!("{}:{}: route auto needs must_contain", path.display(), i + 1))
            }
            Ok(c) => cases.push(c),
            Err(e) => problems.push(format!("{}:{}: {e}", path.display(), i + 1)),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    if cases.is_empty() {
        bail!("{}: no evaluation cases", path.display());
    }
    Ok(cases)
}

/// Whether a reply states the required facts.
pub fn passes(reply: &str, must_contain: &[Vec<String>]) -> bool {
    let reply = reply.to_lowercase();
    must_contain.iter().all(|any| any.iter().any(|s| reply.contains(&s.to_lowercase())))
}

/// One routed case.
pub struct Outcome {
    /// The case.
    pub case: Case,
    /// The router's decision.
    pub decision: Decision,
    /// Pipeline time, µs.
    pub micros: u64,
}

/// Routes every case with a fresh conversation (agents online).
pub fn route_all(shop: &ShopEngine, cases: &[Case]) -> Vec<Outcome> {
    let ctx = ConversationContext { agents_online: true, ..Default::default() };
    cases
        .iter()
        .map(|case| {
            let start = Instant::now();
            let decision = shop.route(&case.text, &ctx);
            let micros = start.elapsed().as_micros() as u64;
            Outcome { case: case.clone(), decision, micros }
        })
        .collect()
}

fn ratio(num: usize, den: usize, empty: f64) -> f64 {
    if den == 0 { empty } else { num as f64 / den as f64 }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Computes the metrics of routed cases.
pub fn metrics(outcomes: &[Outcome]) -> Metrics {
    let n = outcomes.len();
    let answered = |o: &Outcome| answered(&o.decision);
    let good_answer = |o: &Outcome| answered(o) && o.case.route == GoldRoute::Auto && passes(o.decision.reply_text(), &o.case.must_contain);
    let intent_ok = outcomes.iter().filter(|o| o.decision.intent.name == o.case.intent).count();
    let route_ok = outcomes.iter().filter(|o| answered(o) == (o.case.route == GoldRoute::Auto)).count();
    let gold_escalate: Vec<&Outcome> = outcomes.iter().filter(|o| o.case.route == GoldRoute::Escalate).collect();
    let gold_negative: Vec<&Outcome> = outcomes.iter().filter(|o| o.case.sentiment == SentimentLabel::Negative).collect();
    let gold_auto = outcomes.iter().filter(|o| o.case.route == GoldRoute::Auto).count();
    let auto_answered = outcomes.iter().filter(|o| answered(o)).count();
    let good = outcomes.iter().filter(|o| good_answer(o)).count();

    let mut f1_sum = 0.0;
    let labels = [SentimentLabel::Negative, SentimentLabel::Neutral, SentimentLabel::Positive];
    for label in labels {
        let tp = outcomes.iter().filter(|o| o.case.sentiment == label && o.decision.sentiment.label == label).count();
        let predicted = outcomes.iter().filter(|o| o.decision.sentiment.label == label).count();
        let actual = outcomes.iter().filter(|o| o.case.sentiment == label).count();
        let (p, r) = (ratio(tp, predicted, 0.0), ratio(tp, actual, 0.0));
        f1_sum += if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
    }

    let per_intent = per_intent(outcomes.iter().map(|o| (o.case.intent.as_str(), &o.decision)));

    let mut latencies: Vec<u64> = outcomes.iter().map(|o| o.micros).collect();
    latencies.sort_unstable();
    Metrics {
        n,
        intent_accuracy: ratio(intent_ok, n, 0.0),
        sentiment_macro_f1: f1_sum / labels.len() as f64,
        route_accuracy: ratio(route_ok, n, 0.0),
        escalation_recall: ratio(gold_escalate.iter().filter(|o| !answered(o)).count(), gold_escalate.len(), 1.0),
        negative_recall: ratio(gold_negative.iter().filter(|o| !answered(o)).count(), gold_negative.len(), 1.0),
        // With no automatic answer there is nothing wrong to count; coverage shows the gap.
        auto_precision: ratio(good, auto_answered, 1.0),
        auto_coverage: ratio(good, gold_auto, 1.0),
        latency_us_p50: percentile(&latencies, 0.50),
        latency_us_p99: percentile(&latencies, 0.99),
        per_intent,
    }
}

/// Whether the router answered automatically.
fn answered(d: &Decision) -> bool {
    d.answered_faq_id().is_some()
}

/// Intent accuracy per gold intent of (gold intent, decision) pairs.
fn per_intent<'a>(pairs: impl Iterator<Item = (&'a str, &'a Decision)>) -> BTreeMap<String, IntentScore> {
    let mut per_intent: BTreeMap<String, IntentScore> = BTreeMap::new();
    for (gold, d) in pairs {
        let s = per_intent.entry(gold.to_string()).or_insert(IntentScore { n: 0, accuracy: 0.0 });
        s.n += 1;
        if d.intent.name == gold {
            s.accuracy += 1.0;
        }
    }
    for s in per_intent.values_mut() {
        s.accuracy /= s.n as f64;
    }
    per_intent
}

/// A case the router got wrong in at least one respect (`smartreply eval --errors`).
#[derive(Clone, Copy)]
pub struct Miss<'a> {
    /// The case and what the router decided.
    pub outcome: &'a Outcome,
    /// Answered, but the reply lacks a `must_contain` string.
    pub reply_lacks_must_contain: bool,
}

/// The cases the router got wrong: route, facts of the reply, intent or sentiment.
pub fn misses(outcomes: &[Outcome]) -> Vec<Miss<'_>> {
    outcomes
        .iter()
        .filter_map(|o| {
            let answered = answered(&o.decision);
            let route_wrong = answered != (o.case.route == GoldRoute::Auto);
            let fact_wrong = answered && !passes(o.decision.reply_text(), &o.case.must_contain);
            let intent_wrong = o.decision.intent.name != o.case.intent;
            let sentiment_wrong = o.decision.sentiment.label != o.case.sentiment;
            (route_wrong || fact_wrong || intent_wrong || sentiment_wrong)
                .then_some(Miss { outcome: o, reply_lacks_must_contain: fact_wrong })
        })
        .collect()
}

/// `smartreply eval` on one shop: every case of `data` routed, and the metrics.
pub fn run(shop: &ShopEngine, data: &Path) -> anyhow::Result<(Metrics, Vec<Outcome>)> {
    Ok(run_cases(shop, &read_cases(data)?))
}

/// [`run`] on cases already read (`smartreply eval` reads its file before loading models).
pub fn run_cases(shop: &ShopEngine, cases: &[Case]) -> (Metrics, Vec<Outcome>) {
    let outcomes = route_all(shop, cases);
    (metrics(&outcomes), outcomes)
}

/// Cross-validation report: the knowledge base's own examples, each routed through the whole
/// pipeline by an intent classifier trained without its fold.
#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    /// Folds.
    pub folds: usize,
    /// Examples.
    pub n: usize,
    /// Share of held-out examples classified correctly.
    pub intent_accuracy: f64,
    /// Share of held-out examples classified wrongly with a confidence the router would trust.
    pub confident_error_rate: f64,
    /// Share of held-out examples the router would not trust (escalated as uncertain).
    pub uncertain_rate: f64,
    /// Share of examples of always-escalated intents (complaint, missing item, ...) that were
    /// escalated: the cross-validated counterpart of `escalation_recall`.
    pub escalation_recall: f64,
    /// Share of automatic answers given to an example of the intent they were meant for: a
    /// lower bound on `auto_precision` (a reply to a misread message is wrong).
    pub auto_intent_precision: f64,
    /// Share of examples of answerable intents that were answered (some are angry or need a
    /// human, so below 1 by design): the counterpart of `auto_coverage`.
    pub auto_rate: f64,
    /// Per intent.
    pub per_intent: BTreeMap<String, IntentScore>,
    /// The examples classified wrongly: the ones to reword or relabel (not in the JSON).
    #[serde(skip)]
    pub misclassified: Vec<CvMiss>,
}

/// A knowledge-base example the other folds could not explain.
#[derive(Debug, Clone)]
pub struct CvMiss {
    /// Its intent in the knowledge base.
    pub gold_intent: String,
    /// The intent the classifier chose, and its confidence.
    pub intent: String,
    /// See `intent`.
    pub confidence: f32,
    /// Whether the router answered it.
    pub answered: bool,
    /// The example.
    pub text: String,
}

/// `smartreply eval --cv K`: k-fold cross-validation on the knowledge base's examples.
pub fn run_cv(shop: &ShopEngine, folds: usize) -> anyhow::Result<CvReport> {
    if folds < 2 {
        bail!("--cv needs at least 2 folds");
    }
    let kb = shop.knowledge();
    let examples = training_examples(kb);
    let ctx = ConversationContext { agents_online: true, ..Default::default() };
    let mut routed: Vec<(&Example, Decision)> = Vec::with_capacity(examples.len());
    for fold in 0..folds {
        let train: Vec<Example> = examples.iter().enumerate().filter(|(i, _)| i % folds != fold).map(|(_, e)| e.clone()).collect();
        let engine = shop.with_intent_examples(&train);
        for e in examples.iter().enumerate().filter(|(i, _)| i % folds == fold).map(|(_, e)| e) {
            routed.push((e, engine.route(&e.text, &ctx)));
        }
    }

    let threshold = crate::decide::policy::MIN_INTENT_CONFIDENCE;
    let right = |e: &Example, d: &Decision| d.intent.name == e.intent;
    let escalating = |e: &Example| kb.intent(&e.intent).is_some_and(|i| i.route == Route::Escalate);
    let count = |f: &dyn Fn(&Example, &Decision) -> bool| routed.iter().filter(|(e, d)| f(e, d)).count();
    let n = routed.len();
    let per_intent = per_intent(routed.iter().map(|(e, d)| (e.intent.as_str(), d)));
    let report = CvReport {
        folds,
        n,
        intent_accuracy: ratio(count(&|e, d| right(e, d)), n, 0.0),
        confident_error_rate: ratio(count(&|e, d| !right(e, d) && d.intent.confidence >= threshold), n, 0.0),
        uncertain_rate: ratio(count(&|_, d| d.intent.confidence < threshold), n, 0.0),
        escalation_recall: ratio(count(&|e, d| escalating(e) && !answered(d)), count(&|e, _| escalating(e)), 1.0),
        auto_intent_precision: ratio(count(&|e, d| answered(d) && right(e, d)), count(&|_, d| answered(d)), 1.0),
        auto_rate: ratio(count(&|e, d| !escalating(e) && answered(d)), count(&|e, _| !escalating(e)), 0.0),
        per_intent,
        misclassified: routed
            .iter()
            .filter(|(e, d)| !right(e, d))
            .map(|(e, d)| CvMiss {
                gold_intent: e.intent.clone(),
                intent: d.intent.name.clone(),
                confidence: d.intent.confidence,
                answered: answered(d),
                text: e.text.clone(),
            })
            .collect(),
    };
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn must_contain_needs_one_string_of_every_list_case_insensitively() {
        let need = vec![vec!["7天".to_string(), "7 days".to_string()], vec!["unopened".to_string()]];
        assert!(passes("Returns within 7 DAYS for Unopened items", &need));
        assert!(!passes("Returns within 7 days", &need));
        assert!(passes("anything", &[]));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn malformed_lines_are_reported_with_their_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"text\":\"hi\",\"intent\":\"greeting\",\"sentiment\":\"neutral\",\"route\":\"escalate\"}\n\nnot json\n",
        )
        .unwrap();
        let err = read_cases(&path).unwrap_err().to_string();
        assert!(err.contains("bad.jsonl:3:"), "{err}");
    }
}
