//! Learn: what agents do with the suggested drafts (accepted, edited, rejected) per intent —
//! the signal a support lead uses to improve `drafts.toml`, and a drift alarm: an intent whose
//! drafts are mostly rejected has templates (or routing) that no longer fit.

use crate::store::{Store, StoreError};
use serde_json::{json, Value};

/// An intent's drafts need attention when fewer than this share are sent unchanged or edited.
const USEFUL_SHARE_ALERT: f64 = 0.5;
/// Fewest replies before the alert means anything.
const MIN_REPLIES: i64 = 5;

/// Per-intent acceptance of drafts, with the intents that need better templates.
pub async fn draft_report(store: &Store, shop: &str) -> Result<Value, StoreError> {
    let per_intent = store.draft_outcomes_by_intent(shop).await?;
    let mut intents = Vec::new();
    let mut attention = Vec::new();
    for (intent, c) in &per_intent {
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
    Ok(json!({ "intents": intents, "needs_attention": attention }))
}
