//! `smartreply gaps`: the knowledge base's gaps of a period, as a table or as the JSON of
//! `GET /v1/gaps` (`docs/knowledge-loop.md`).

use serde_json::Value;
use smartreply::config::Settings;
use std::path::Path;

/// Mines `shop`'s last `days` days against the configured database and prints the report.
pub(crate) fn run(config: Option<&Path>, shop: &str, days: u32, json: bool) -> anyhow::Result<()> {
    let (settings, _) = Settings::load(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        let state = smartreply::server::build_state(settings).await?;
        smartreply::app::gaps::report_json(&state, shop, days).await
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

/// The report for people: one block per topic and per template change (texts are masked
/// already; one line each, control characters never reach the terminal).
fn table(report: &Value) -> String {
    let line = |v: &Value| v.as_str().unwrap_or_default().chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
    let mut out = format!(
        "shop {}: {} customer messages, {} not answered well, {} topic(s) (grouping threshold {:.3})\n",
        line(&report["shop"]),
        report["messages"],
        report["unanswered"],
        report["topics"].as_array().map_or(0, Vec::len),
        report["threshold"].as_f64().unwrap_or_default(),
    );
    for t in report["topics"].as_array().into_iter().flatten() {
        let langs: Vec<String> = t["languages"].as_object().into_iter().flatten().map(|(k, v)| format!("{k} {v}")).collect();
        let p = &t["proposal"];
        out.push_str(&format!(
            "\n{}  {} messages  {}  trend {} ({} → {})  intent {}\n",
            line(&t["id"]),
            t["size"],
            langs.join(", "),
            line(&t["trend"]),
            t["halves"][0],
            t["halves"][1],
            p["entry"]["intents"][0].as_str().unwrap_or("-"),
        ));
        for e in t["examples"].as_array().into_iter().flatten() {
            out.push_str(&format!("    “{}”\n", line(e)));
        }
        for lang in ["zh", "en"] {
            let answer = line(&p["entry"][format!("answer_{lang}")]);
            out.push_str(&format!("  answer_{lang}: {}\n", if answer.is_empty() { "(no agent reply; write one)".into() } else { answer }));
        }
        out.push_str(&format!("  from {} agent repl(ies); needs: {}\n", p["replies"], p["needs"].as_array().map_or(0, Vec::len)));
    }
    for t in report["templates"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{}  template {}/{} ({}): the same edit {} times\n  - {}\n  + {}\n",
            line(&t["id"]),
            line(&t["intent"]),
            line(&t["sentiment"]),
            line(&t["lang"]),
            t["edits"],
            line(&t["removed"]),
            line(&t["added"]),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_names_each_topic_and_never_prints_control_characters() {
        let report = serde_json::json!({
            "shop": "demo", "messages": 10, "unanswered": 4, "threshold": 0.88,
            "topics": [{ "id": "gap-1", "size": 4, "languages": {"zh": 3, "en": 1}, "trend": "rising", "halves": [1, 3],
                "examples": ["能开发票吗\u{1b}[2J"],
                "proposal": { "entry": { "intents": ["invoice"], "answer_zh": "可以开", "answer_en": "" }, "replies": 2, "needs": ["answer_en"] } }],
            "templates": []
        });
        let text = super::table(&report);
        assert!(text.contains("gap-1  4 messages  en 1, zh 3  trend rising (1 → 3)  intent invoice"), "{text}");
        assert!(text.contains("answer_en: (no agent reply; write one)"));
        assert!(!text.contains('\u{1b}'));
    }
}
