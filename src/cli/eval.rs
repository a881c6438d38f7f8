//! `smartreply eval`'s tables: the metrics, per-intent accuracy, and with `--errors` every
//! message the router got wrong.

use smartreply::decide::Action;
use smartreply::eval::{CvReport, IntentScore, Metrics, Outcome};
use std::collections::BTreeMap;

/// Prints `(metric, value)` rows under a header; whole numbers without decimals.
fn print_metrics(rows: &[(&str, f64)]) {
    println!("{:<22} {:>10}", "metric", "value");
    println!("{}", "-".repeat(33));
    for &(name, value) in rows {
        if value.fract() == 0.0 && value >= 1.0 {
            println!("{name:<22} {value:>10.0}");
        } else {
            println!("{name:<22} {value:>10.3}");
        }
    }
}

/// Prints the per-intent accuracy table.
fn print_per_intent(per_intent: &BTreeMap<String, IntentScore>) {
    println!();
    println!("{:<24} {:>5} {:>9}", "intent", "n", "accuracy");
    for (intent, s) in per_intent {
        println!("{intent:<24} {:>5} {:>9.3}", s.n, s.accuracy);
    }
}

/// Prints the metrics table, with `errors` every case the router got wrong, and with `json`
/// the metrics as the last line.
pub(crate) fn print_report(m: &Metrics, outcomes: &[Outcome], errors: bool, json: bool) -> anyhow::Result<()> {
    print_metrics(&[
        ("n", m.n as f64),
        ("intent_accuracy", m.intent_accuracy),
        ("sentiment_macro_f1", m.sentiment_macro_f1),
        ("route_accuracy", m.route_accuracy),
        ("escalation_recall", m.escalation_recall),
        ("negative_recall", m.negative_recall),
        ("auto_precision", m.auto_precision),
        ("auto_coverage", m.auto_coverage),
        ("latency_us_p50", m.latency_us_p50 as f64),
        ("latency_us_p99", m.latency_us_p99 as f64),
    ]);
    print_per_intent(&m.per_intent);
    if errors {
        println!();
        for miss in smartreply::eval::misses(outcomes) {
            let o = miss.outcome;
            let mut what = match &o.decision.action {
                Action::Answer { faq_id, .. } => format!("answer {faq_id}"),
                Action::Escalate(e) => format!("escalate {}", e.reason),
            };
            // The frustration cues seen, also below the threshold: why it was (not) frustrated.
            if !o.decision.frustration.cues.is_empty() {
                what.push_str(&format!(" [{} {}]", o.decision.frustration.explain(), o.decision.frustration.weight()));
            }
            println!(
                "{} {:?}\n    gold {} {} {:?} | got {} ({:.2}) {} ({:.2}) {}{}",
                o.case.id,
                o.case.text,
                o.case.intent,
                o.case.sentiment.as_str(),
                o.case.route,
                o.decision.intent.name,
                o.decision.intent.confidence,
                o.decision.sentiment.label.as_str(),
                o.decision.sentiment.score,
                what,
                if miss.reply_lacks_must_contain { " [reply lacks must_contain]" } else { "" },
            );
        }
    }
    if json {
        println!("{}", serde_json::to_string(m)?);
    }
    Ok(())
}

/// Prints a cross-validation report; with `errors` the examples the other folds could not
/// explain, with `json` the report as the last line.
pub(crate) fn print_cv(report: &CvReport, errors: bool, json: bool) -> anyhow::Result<()> {
    println!(
        "{}-fold cross-validation on {} knowledge-base examples, each routed by a classifier trained without its fold",
        report.folds, report.n
    );
    print_metrics(&[
        ("n", report.n as f64),
        ("intent_accuracy", report.intent_accuracy),
        ("confident_error_rate", report.confident_error_rate),
        ("uncertain_rate", report.uncertain_rate),
        ("escalation_recall", report.escalation_recall),
        ("auto_intent_precision", report.auto_intent_precision),
        ("auto_rate", report.auto_rate),
    ]);
    print_per_intent(&report.per_intent);
    if errors {
        // Which examples the other folds could not explain: the ones to reword or relabel.
        println!();
        for e in &report.misclassified {
            let action = if e.answered { "answered" } else { "escalated" };
            println!("{:<22} -> {:<22} {:.2} {action:<9}  {}", e.gold_intent, e.intent, e.confidence, e.text);
        }
    }
    if json {
        println!("{}", serde_json::to_string(report)?);
    }
    Ok(())
}
