//! Drafts that learn from edits: when agents change the draft of one template the same way
//! again and again (the same sentence added, the same phrase replaced), that change belongs in
//! the template. Pure: the edits come from `app::gaps`, the template text from the knowledge
//! base.
//!
//! An edit is the one span where the sent reply differs from the draft (common beginning and
//! end trimmed). Drafts of one template differ from ticket to ticket only where the template's
//! placeholders (`{answer}`, `{asks}`, `{order}`) were filled in, so the same edit made on
//! different tickets is the same span, and it maps back onto the template text when it lies
//! outside the filled-in parts.

/// One change an agent made to a draft.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Edit {
    /// Text of the draft that was removed or replaced (empty: an insertion).
    pub(crate) old: String,
    /// Text put in its place (empty: a deletion).
    pub(crate) new: String,
    /// What the draft said just before the change (up to [`ANCHOR_CHARS`] characters).
    pub(crate) before: String,
    /// What the draft said just after it.
    pub(crate) after: String,
}

/// Characters of context kept on each side of an edit to place it in the template.
const ANCHOR_CHARS: usize = 6;

/// The single span where `sent` differs from `draft`, or `None` when they are equal. An
/// insertion or deletion is moved as far right as the same text allows, so "…处理。" + "另外…。"
/// reads as a sentence added at the end rather than "。另外…" added before the last "。".
pub(crate) fn edit_of(draft: &str, sent: &str) -> Option<Edit> {
    let (d, s): (Vec<char>, Vec<char>) = (draft.trim().chars().collect(), sent.trim().chars().collect());
    if d == s {
        return None;
    }
    let mut prefix = d.iter().zip(&s).take_while(|(a, b)| a == b).count();
    let max_suffix = d.len().min(s.len()) - prefix;
    let suffix = d.iter().rev().zip(s.iter().rev()).take(max_suffix).take_while(|(a, b)| a == b).count();
    let (mut old_end, mut new_end) = (d.len() - suffix, s.len() - suffix);
    // Slide a pure insertion (or deletion) right while the character after it repeats its start.
    if prefix == old_end {
        while new_end < s.len() && s[prefix] == s[new_end] {
            prefix += 1;
            new_end += 1;
            old_end += 1;
        }
    } else if prefix == new_end {
        while old_end < d.len() && d[prefix] == d[old_end] {
            prefix += 1;
            old_end += 1;
            new_end += 1;
        }
    }
    let text = |c: &[char]| c.iter().collect::<String>();
    Some(Edit {
        old: text(&d[prefix..old_end]),
        new: text(&s[prefix..new_end]),
        before: text(&d[prefix.saturating_sub(ANCHOR_CHARS)..prefix]),
        after: text(&d[old_end..(old_end + ANCHOR_CHARS).min(d.len())]),
    })
}

/// The template text with `edit` applied, when the edit lies in the template's own words (not
/// in a filled-in placeholder): a replaced phrase found once in the template, or an insertion
/// whose neighbouring draft text is found once in it (or at its very end).
pub(crate) fn apply(template: &str, edit: &Edit) -> Option<String> {
    let once = |needle: &str| (!needle.is_empty() && template.matches(needle).count() == 1).then(|| template.find(needle)).flatten();
    if !edit.old.is_empty() {
        let at = once(&edit.old)?;
        return Some(format!("{}{}{}", &template[..at], edit.new, &template[at + edit.old.len()..]));
    }
    if edit.after.is_empty() && !edit.before.is_empty() {
        // Added at the end of the draft: the end of the template (after any trailing placeholder).
        return Some(format!("{}{}", template.trim_end(), edit.new));
    }
    if let Some(at) = once(&edit.before) {
        let at = at + edit.before.len();
        return Some(format!("{}{}{}", &template[..at], edit.new, &template[at..]));
    }
    let at = once(&edit.after)?;
    Some(format!("{}{}{}", &template[..at], edit.new, &template[at..]))
}

/// How often one change was made to one template's drafts, with the evidence.
#[derive(Debug, Clone)]
pub(crate) struct RepeatedEdit<K> {
    /// The template (and language) the drafts came from.
    pub(crate) template: K,
    /// The change.
    pub(crate) edit: Edit,
    /// Indices (into the input) of the replies that made it.
    pub(crate) replies: Vec<usize>,
}

/// Changes made at least `min_times` to drafts of one template. `edits` pairs each reply's
/// template key with its draft and the text sent.
pub(crate) fn repeated<K: Clone + Ord>(edits: &[(K, String, String)], min_times: usize) -> Vec<RepeatedEdit<K>> {
    let mut groups: std::collections::BTreeMap<(K, String, String), Vec<(usize, Edit)>> = Default::default();
    for (i, (key, draft, sent)) in edits.iter().enumerate() {
        if let Some(edit) = edit_of(draft, sent) {
            // Context differs between tickets only where placeholders were filled in: group by
            // the change itself and keep the contexts for placing it.
            groups.entry((key.clone(), edit.old.clone(), edit.new.clone())).or_default().push((i, edit));
        }
    }
    let mut out: Vec<RepeatedEdit<K>> = groups
        .into_iter()
        .filter(|(_, v)| v.len() >= min_times)
        .map(|((key, _, _), v)| {
            // The context most drafts share places the change.
            let mut contexts: Vec<&Edit> = v.iter().map(|(_, e)| e).collect();
            contexts.sort();
            let edit = contexts
                .chunk_by(|a, b| a == b)
                .max_by_key(|run| run.len())
                .and_then(|run| run.first().copied())
                .cloned()
                .expect("a group is never empty");
            RepeatedEdit { template: key, edit, replies: v.into_iter().map(|(i, _)| i).collect() }
        })
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.replies.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_added_at_the_end_is_one_insertion_at_the_end() {
        let e = edit_of("亲，您好！我们会尽快为您处理。", "亲，您好！我们会尽快为您处理。另外本店支持7天无理由退换。").unwrap();
        assert_eq!(e.old, "");
        assert_eq!(e.new, "另外本店支持7天无理由退换。");
        assert_eq!(e.after, "");
        assert_eq!(
            apply("亲，您好！{answer}{asks}我们会尽快为您处理。", &e).unwrap(),
            "亲，您好！{answer}{asks}我们会尽快为您处理。另外本店支持7天无理由退换。"
        );
    }

    #[test]
    fn a_replaced_phrase_is_replaced_in_the_template() {
        let e = edit_of(
            "Hi! Sizes run small. We'll take care of this right away.",
            "Hi! Sizes run small. We'll take care of this within 24 hours.",
        )
        .unwrap();
        assert_eq!((e.old.as_str(), e.new.as_str()), ("right away", "within 24 hours"));
        assert_eq!(
            apply("Hi! {answer} We'll take care of this right away.", &e).unwrap(),
            "Hi! {answer} We'll take care of this within 24 hours."
        );
        // A change inside the filled-in answer does not belong to the template.
        let inside = edit_of("Hi! Sizes run small. Bye.", "Hi! Sizes run large. Bye.").unwrap();
        assert_eq!(apply("Hi! {answer} Bye.", &inside), None);
        assert_eq!(edit_of("same", " same "), None);
    }

    #[test]
    fn only_an_edit_made_often_enough_is_reported() {
        let draft = |answer: &str| format!("亲，您好！{answer}我们会尽快为您处理。");
        let mut edits: Vec<(&str, String, String)> =
            (0..5).map(|i| ("tpl", draft(&format!("答案{i}。")), format!("{}请保持电话畅通。", draft(&format!("答案{i}。"))))).collect();
        edits.push(("tpl", draft("x"), draft("y")));
        assert!(repeated(&edits[..4], 5).is_empty(), "four times is not yet a pattern");
        let found = repeated(&edits, 5);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].replies, [0, 1, 2, 3, 4]);
        assert_eq!(found[0].edit.new, "请保持电话畅通。");
    }
}
