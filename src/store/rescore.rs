//! What an inbound message does to its conversation's ticket ([`TicketPlan`]): open one, or
//! join the unresolved one, re-scoring it when the message is stronger. Which values win is
//! decided here in Rust, on the ticket's row read (locked) in the inbound transaction; the SQL
//! only stores the result.

use super::StoreError;
use super::batch::{Statement, params};
use crate::domain::{EscalationReason, Lang, Priority, SentimentLabel, Standing};
use sqlx::{AnyConnection, Row};

/// What to do with the conversation's ticket.
// One plan is built per message and consumed at once: boxing `New` would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum TicketPlan {
    /// Open a new ticket.
    New {
        /// Ticket id.
        id: String,
        /// How soon (its rank is stored beside it as the queue's sort key).
        priority: Priority,
        /// Why it was escalated.
        reason: EscalationReason,
        /// What the opening message says (intent, sentiment, language, entry, extracted fields).
        reading: Reading,
        /// Suggested reply.
        draft: String,
        /// First human response deadline, Unix ms.
        due_at: i64,
        /// Settlement deadline (complaints), Unix ms.
        resolution_due_at: Option<i64>,
    },
    /// The conversation already has this unresolved ticket: the message joins it.
    Join {
        /// Ticket id.
        id: String,
        /// How the message alone would have been escalated: a stronger judgement re-scores
        /// the ticket.
        rescore: Option<Rescore>,
    },
}

/// A later message's own judgement of its conversation's ticket.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rescore {
    /// The message's priority.
    pub priority: Priority,
    /// The message's reason.
    pub reason: EscalationReason,
    /// The first response that priority calls for from now, Unix ms.
    pub due_at: i64,
    /// The settlement the message's reason calls for from now (complaints), Unix ms: set on a
    /// ticket that has no such deadline yet, never moved.
    pub resolution_due_at: Option<i64>,
    /// The draft for this message: it replaces the ticket's when the message re-reads it, so
    /// the agent is not offered an answer to the calmer first message.
    pub draft: String,
    /// How the router read the message: the ticket shows it when the message re-reads it.
    pub reading: Reading,
}

/// The router's reading of a message, as a ticket shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    /// Intent name.
    pub intent: String,
    /// Intent confidence.
    pub intent_confidence: f64,
    /// Sentiment label.
    pub sentiment: SentimentLabel,
    /// Sentiment score.
    pub sentiment_score: f64,
    /// The message's language.
    pub lang: Lang,
    /// FAQ entry the draft used.
    pub faq_id: Option<String>,
    /// Extracted fields, JSON (merged into the ticket's by every joining message).
    pub extracted: String,
}

/// The ticket's extracted fields with a later message's: each list keeps the newest values
/// first, none twice. Either side unreadable leaves the other.
pub(crate) fn merge_extracted(ticket: &str, message: &str) -> String {
    use serde_json::Value;
    let (Ok(Value::Object(mut merged)), Ok(Value::Object(old))) = (serde_json::from_str(message), serde_json::from_str(ticket)) else {
        return if serde_json::from_str::<Value>(message).is_ok() { message.to_string() } else { ticket.to_string() };
    };
    for (key, value) in old {
        match (merged.get_mut(&key), value) {
            (Some(Value::Array(new)), Value::Array(old)) => {
                for v in old {
                    if !new.contains(&v) {
                        new.push(v);
                    }
                }
            }
            (None, value) => {
                merged.insert(key, value);
            }
            _ => {}
        }
    }
    Value::Object(merged).to_string()
}

impl Rescore {
    /// Where the message alone would put a ticket.
    fn standing(&self) -> Standing {
        Standing { priority: self.priority, reason: self.reason, due_at: self.due_at }
    }
}

impl TicketPlan {
    /// The ticket id.
    pub(crate) fn id(&self) -> &str {
        match self {
            TicketPlan::New { id, .. } | TicketPlan::Join { id, .. } => id,
        }
    }
}

/// A later message's judgement applied to the ticket it joins: its numbers merged into the
/// ticket's, its reading taken when it re-reads the ticket ([`Standing::reread_by`]), priority,
/// reason and deadline when it is stronger ([`Standing::rescored`]); with the join's own
/// update, so no statement changes the ticket twice.
pub(super) async fn rescore_statement(
    tx: &mut AnyConnection,
    id: &str,
    by: &Rescore,
    preview: &str,
    now: i64,
) -> Result<Option<Statement>, StoreError> {
    // On PostgreSQL two messages of the conversation may be written at once: the row is locked
    // so the second reads what the first wrote (SQLite has one writer and no FOR UPDATE).
    let sql = if tx.backend_name().eq_ignore_ascii_case("sqlite") {
        "SELECT priority, reason, due_at, extracted FROM tickets WHERE id = $1"
    } else {
        "SELECT priority, reason, due_at, extracted FROM tickets WHERE id = $1 FOR UPDATE"
    };
    let row = sqlx::query(sql).bind(id).fetch_one(&mut *tx).await?;
    let current = Standing {
        priority: super::parsed(&row, "priority", Priority::parse)?,
        reason: super::parsed(&row, "reason", EscalationReason::parse)?,
        due_at: row.try_get::<i64, _>("due_at")?,
    };
    let extracted = merge_extracted(&row.try_get::<String, _>("extracted")?, &by.reading.extract_json());
    if !current.reread_by(by.standing()) {
        return Ok(Some(Statement {
            sql: "UPDATE tickets SET extracted = $1, last_message = $2, updated_at = $3, resolution_due_at = COALESCE(resolution_due_at, $5) WHERE id = $4",
            params: params![extracted.as_str(), preview, now, id, by.resolution_due_at],
        }));
    }
    let Standing { priority, reason, due_at } = current.rescored(by.standing()).unwrap_or(current);
    let r = &by.reading;
    Ok(Some(Statement {
        // rescored_at marks a change of priority or reason, not a fresh reading.
        sql: "UPDATE tickets SET priority = $1, priority_rank = $2, reason = $3, due_at = $4, \
              rescored_at = CASE WHEN priority <> $1 OR reason <> $3 THEN $5 ELSE rescored_at END, draft = $6, \
              last_message = $8, updated_at = $5, intent = $9, intent_confidence = $10, sentiment = $11, sentiment_score = $12, \
              lang = $13, faq_id = $14, extracted = $15, resolution_due_at = COALESCE(resolution_due_at, $16) WHERE id = $7",
        params: params![
            priority.as_str(),
            priority.rank(),
            reason.as_str(),
            due_at,
            now,
            by.draft.as_str(),
            id,
            preview,
            r.intent.as_str(),
            r.intent_confidence,
            r.sentiment.as_str(),
            r.sentiment_score,
            r.lang.code(),
            r.faq_id.as_deref(),
            extracted.as_str(),
            by.resolution_due_at,
        ],
    }))
}

impl Reading {
    /// The extracted fields' JSON (an empty object when none was given).
    fn extract_json(&self) -> String {
        if self.extracted.is_empty() { "{}".into() } else { self.extracted.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::merge_extracted;

    #[test]
    fn extracted_numbers_accumulate_newest_first() {
        let ticket = r#"{"order_numbers":["111111"],"tracking_numbers":[],"phones":["13800138000"],"amounts":[]}"#;
        let message = r#"{"order_numbers":["222222","111111"],"tracking_numbers":[],"phones":[],"amounts":["50元"]}"#;
        let merged: serde_json::Value = serde_json::from_str(&merge_extracted(ticket, message)).unwrap();
        assert_eq!(merged["order_numbers"], serde_json::json!(["222222", "111111"]));
        assert_eq!(merged["phones"], serde_json::json!(["13800138000"]));
        assert_eq!(merged["amounts"], serde_json::json!(["50元"]));
        assert_eq!(merge_extracted("not json", message), message, "an unreadable side is left out");
    }
}
