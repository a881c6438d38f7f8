//! Learn: what agents do with the suggested drafts (accepted, edited, rejected) per intent —
//! the signal a support lead uses to improve `drafts.toml`, and a drift alarm: an intent whose
//! drafts are mostly rejected has templates (or routing) that no longer fit.
//!
//! The knowledge loop (`docs/knowledge-loop.md`) builds on it: [`gaps`] groups what the bot
//! could not answer by meaning, `gaps_edits` finds the edits agents repeat on one template, and
//! `gaps_toml` writes approved changes into the shop's files.

pub mod gaps;
pub(crate) mod gaps_edits;
pub(crate) mod gaps_toml;

use crate::domain::DraftOutcome;
use serde::Serialize;
use serde_json::{Value, json};

/// Draft outcomes.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(crate) struct DraftCounts {
    /// Sent unchanged.
    pub(crate) accepted: i64,
    /// Sent after edits.
    pub(crate) edited: i64,
    /// Not used.
    pub(crate) rejected: i64,
}

impl DraftCounts {
    /// Counts one stored outcome (a draft's; a follow-up's or none is ignored).
    pub(crate) fn add_stored(&mut self, outcome: Option<&str>) {
        match outcome.and_then(DraftOutcome::parse) {
            Some(DraftOutcome::Accepted) => self.accepted += 1,
            Some(DraftOutcome::Edited) => self.edited += 1,
            Some(DraftOutcome::Rejected) => self.rejected += 1,
            None => {}
        }
    }
}

/// An intent's drafts need attention when fewer than this share are sent unchanged or edited.
const USEFUL_SHARE_ALERT: f64 = 0.5;
/// Fewest replies before the alert means anything.
const MIN_REPLIES: i64 = 5;

/// Per-intent acceptance of drafts (the counts per intent, in intent order), with the intents
/// that need better templates.
pub(crate) fn draft_report(per_intent: &[(String, DraftCounts)]) -> Value {
    let mut intents = Vec::new();
    let mut attention = Vec::new();
    for (intent, c) in per_intent {
        let total = c.accepted + c.edited + c.rejected;
        let acceptance = if total > 0 { c.accepted as f64 / total as f64 } else { 0.0 };
        let useful = if total > 0 { (c.accepted + c.edited) as f64 / total as f64 } else { 0.0 };
        if total >= MIN_REPLIES && useful < USEFUL_SHARE_ALERT {
            attention.push(intent.clone());
        }
        intents.push(json!({
            "intent": intent, "accepted": c.accepted, "edited": c.edited, "rejected": c.rejected,
            "acceptance_rate": acceptance, "useful_rate": useful,
        }));
    }
    json!({ "intents": intents, "needs_attention": attention })
}

/// Replies at least this similar to the draft (Dice coefficient of character pairs) count as
/// edited drafts; less similar ones as written from scratch.
const EDITED_SIMILARITY: f64 = 0.5;

/// What became of a draft, judged from the reply an agent sent outside the console (in a help
/// desk): the same text apart from spacing and case is accepted, a similar one edited, anything
/// else rejected.
pub(crate) fn draft_outcome(draft: &str, sent: &str) -> DraftOutcome {
    let norm = |s: &str| s.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect::<Vec<char>>();
    let (draft, sent) = (norm(draft), norm(sent));
    if draft.is_empty() {
        return DraftOutcome::Rejected;
    }
    if draft == sent {
        return DraftOutcome::Accepted;
    }
    let pairs = |s: &[char]| {
        let mut v: Vec<(char, char)> = s.windows(2).map(|w| (w[0], w[1])).collect();
        v.sort_unstable();
        v
    };
    let (a, b) = (pairs(&draft), pairs(&sent));
    // Multiset intersection of the two sorted pair lists.
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let dice = if a.len() + b.len() == 0 { 0.0 } else { 2.0 * common as f64 / (a.len() + b.len()) as f64 };
    if dice >= EDITED_SIMILARITY { DraftOutcome::Edited } else { DraftOutcome::Rejected }
}

#[cfg(test)]
mod tests {
    use super::draft_outcome;
    use crate::domain::DraftOutcome;

    #[test]
    fn a_reply_is_judged_against_the_draft() {
        let draft = "亲，非常抱歉让您久等了！麻烦提供一下订单号，我马上为您查询物流。";
        assert_eq!(draft_outcome(draft, "亲，非常抱歉让您久等了！ 麻烦提供一下订单号，我马上为您查询物流。"), DraftOutcome::Accepted);
        assert_eq!(draft_outcome(draft, "亲，非常抱歉让您久等了！麻烦提供一下订单号，我这就帮您催一下快递。"), DraftOutcome::Edited);
        assert_eq!(draft_outcome(draft, "好的，已经为您退款"), DraftOutcome::Rejected);
        assert_eq!(draft_outcome("Sorry for the wait!", "sorry for the WAIT!"), DraftOutcome::Accepted);
        assert_eq!(draft_outcome("", "anything"), DraftOutcome::Rejected);
    }
}
