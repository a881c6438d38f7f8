//! Writing approved proposals into a shop's knowledge base files as reviewable TOML: a new
//! `[[faq]]` block appended to `faq.toml`, or one template line of `drafts.toml` replaced, each
//! under a comment saying where it came from. The rest of the file is left byte for byte.

use serde::{Deserialize, Serialize};

/// A FAQ entry as proposed to, edited by and approved by an owner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProposedEntry {
    /// Unique id (lowercase letters, digits, '-').
    pub(crate) id: String,
    /// Intents it serves; the first is its main intent.
    pub(crate) intents: Vec<String>,
    /// Chinese phrasings.
    #[serde(default)]
    pub(crate) questions_zh: Vec<String>,
    /// English phrasings.
    #[serde(default)]
    pub(crate) questions_en: Vec<String>,
    /// Chinese answer.
    #[serde(default)]
    pub(crate) answer_zh: String,
    /// English answer.
    #[serde(default)]
    pub(crate) answer_en: String,
}

/// A TOML basic string: quotes, backslashes and control characters escaped, so customer or
/// agent text cannot end the string and write keys of its own.
pub(crate) fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| toml_string(s)).collect::<Vec<_>>().join(", "))
}

/// Comment lines: each line of `text` after `# `, with nothing that could end the comment.
fn comment(text: &[String]) -> String {
    text.iter().map(|line| format!("# {}\n", line.replace(['\n', '\r'], " "))).collect()
}

/// `faq.toml` with `entry` appended under `note` (comment lines).
pub(crate) fn append_faq(src: &str, entry: &ProposedEntry, note: &[String]) -> String {
    let mut out = src.trim_end().to_string();
    out.push_str("\n\n");
    out.push_str(&comment(note));
    out.push_str("[[faq]]\n");
    out.push_str(&format!("id = {}\n", toml_string(&entry.id)));
    out.push_str(&format!("intents = {}\n", toml_list(&entry.intents)));
    out.push_str(&format!("questions_zh = {}\n", toml_list(&entry.questions_zh)));
    out.push_str(&format!("questions_en = {}\n", toml_list(&entry.questions_en)));
    out.push_str(&format!("answer_zh = {}\n", toml_string(&entry.answer_zh)));
    out.push_str(&format!("answer_en = {}\n", toml_string(&entry.answer_en)));
    out
}

/// The value of a `key = value` line when it is one.
fn line_value(line: &str, key: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(line).ok()?;
    table.get(key)?.as_str().map(String::from)
}

/// `drafts.toml` with the `lang` text (`zh` or `en`) of the `[[draft]]` for `intent` and
/// `sentiment` changed from `current` to `proposed`, under `note`; `None` when no such
/// template with that text is in the file (edited since the proposal was made).
pub(crate) fn replace_template(
    src: &str,
    (intent, sentiment, lang): (&str, &str, &str),
    current: &str,
    proposed: &str,
    note: &[String],
) -> Option<String> {
    let lines: Vec<&str> = src.split_inclusive('\n').collect();
    // Each [[draft]] block: its first line and the line after its last.
    let starts: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.trim() == "[[draft]]").map(|(i, _)| i).collect();
    for (n, &start) in starts.iter().enumerate() {
        let end = lines.iter().enumerate().skip(start + 1).find(|(_, l)| l.trim_start().starts_with('[')).map_or(lines.len(), |(i, _)| i);
        let end = starts.get(n + 1).map_or(end, |&next| end.min(next));
        let block = &lines[start..end];
        let value = |key: &str| block.iter().find_map(|l| line_value(l, key));
        if value("intent").as_deref() != Some(intent) || value("sentiment").as_deref() != Some(sentiment) {
            continue;
        }
        let at = block.iter().position(|l| line_value(l, lang).as_deref() == Some(current))?;
        let mut out: String = lines[..start + at].concat();
        out.push_str(&comment(note));
        out.push_str(&format!("{lang} = {}\n", toml_string(proposed)));
        out.push_str(&lines[start + at + 1..].concat());
        return Some(out);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appended_entry_reads_back_as_written_whatever_its_text() {
        let entry = ProposedEntry {
            id: "gift-wrap".into(),
            intents: vec!["product_info".into()],
            questions_zh: vec!["可以包装成礼物吗".into()],
            questions_en: vec!["can you gift wrap it\"\n[[faq]]".into()],
            answer_zh: "可以的～下单时备注\"礼物\"即可\\".into(),
            answer_en: "Yes.\nJust add a note.".into(),
        };
        let out = append_faq("[[faq]]\nid = \"a\"\n", &entry, &["From gap mining\n[[faq]]".into()]);
        #[derive(Deserialize)]
        struct File {
            faq: Vec<toml::Table>,
        }
        let file: File = toml::from_str(&out).unwrap();
        assert_eq!(file.faq.len(), 2, "{out}");
        let back: ProposedEntry = toml::Value::Table(file.faq[1].clone()).try_into().unwrap();
        assert_eq!(back, entry);
        assert!(out.contains("# From gap mining [[faq]]\n[[faq]]\nid = \"gift-wrap\""));
    }

    #[test]
    fn only_the_named_templates_line_changes() {
        let src = "# top\n[[draft]]\nintent = \"*\"\nsentiment = \"any\"\nzh = \"亲，{answer}\"\nen = \"Hi {answer}\"\n\n[[draft]]\nintent = \"order_status\"\nsentiment = \"any\"\nzh = \"亲，{answer}\"\nen = \"Hi {answer}\"\n\n[ask.x]\nzh = \"a\"\nen = \"b\"\n";
        let out =
            replace_template(src, ("order_status", "any", "zh"), "亲，{answer}", "亲，{answer}请保持电话畅通。", &["approved".into()])
                .unwrap();
        assert_eq!(out.matches("请保持电话畅通").count(), 1);
        assert!(out.contains("sentiment = \"any\"\n# approved\nzh = \"亲，{answer}请保持电话畅通。\"\nen = \"Hi {answer}\""), "{out}");
        assert!(out.starts_with("# top\n[[draft]]\nintent = \"*\"\nsentiment = \"any\"\nzh = \"亲，{answer}\"\n"));
        assert_eq!(replace_template(src, ("order_status", "any", "zh"), "changed meanwhile", "x", &[]), None);
        assert_eq!(replace_template(src, ("complaint", "any", "zh"), "亲，{answer}", "x", &[]), None);
    }
}
