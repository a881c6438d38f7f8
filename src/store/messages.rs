//! Messages: the rows the APIs show, inserting one with its `message` event, and the reads of
//! a conversation (the state the router needs before a message, the whole conversation).

use super::batch::{Param, Statement};
use super::events::{EventKind, event_statement, rfc3339};
use super::{Store, StoreError, opt_text, unknown};
use crate::domain::{EscalationReason, MessageKind, MessageRole};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A message as the APIs show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct MessageRow {
    /// The message id (the customer's, or generated for bot and agent messages).
    pub id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Who wrote it.
    pub role: MessageRole,
    /// Text (untrusted when the role is customer).
    pub text: String,
    /// What a bot or agent message is; none for customer messages.
    pub kind: Option<MessageKind>,
    /// Agent name for agent replies.
    pub author: Option<String>,
    /// Ticket the conversation is with, if any.
    pub ticket_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Store sequence number: event id for resuming streams.
    pub seq: i64,
}

/// What the router needs to know about a conversation before its next message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConversationState {
    /// FAQ ids the bot already sent in it, oldest first.
    pub answered_faq_ids: Vec<String>,
    /// Its unresolved ticket, if any.
    pub open_ticket_id: Option<String>,
    /// Why that ticket was opened, while no agent has taken it up (claimed or answered it).
    pub untaken_reason: Option<EscalationReason>,
}

pub(crate) fn message_from_row(row: &AnyRow) -> Result<MessageRow, sqlx::Error> {
    Ok(MessageRow {
        id: row.try_get("message_id")?,
        conversation_id: row.try_get("conversation_id")?,
        role: super::parsed(row, "role", MessageRole::parse)?,
        text: row.try_get("text")?,
        kind: opt_text(row, "kind")?.map(|k| MessageKind::parse(&k).ok_or_else(|| unknown("kind", &k))).transpose()?,
        author: opt_text(row, "author")?,
        ticket_id: opt_text(row, "ticket_id")?,
        created_at: rfc3339(row.try_get("created_at")?),
        seq: row.try_get("seq")?,
    })
}

pub(crate) const MESSAGE_COLUMNS: &str = "seq, message_id, conversation_id, role, text, kind, author, ticket_id, created_at";

/// Columns only some messages carry, written by the same `INSERT` (every statement is a round
/// trip to SQLite's worker thread, so none is spent on a follow-up `UPDATE`).
#[derive(Default)]
pub(crate) struct MessageExtras<'a> {
    pub(crate) customer_id: Option<&'a str>,
    pub(crate) channel: Option<&'a str>,
    pub(crate) response: Option<&'a str>,
    pub(crate) faq_id: Option<&'a str>,
    pub(crate) in_reply_to: Option<&'a str>,
}

/// Inserts a message and its `message` event; returns its sequence number.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_message(
    tx: &mut AnyConnection,
    shop: &str,
    message_id: &str,
    conversation_id: &str,
    role: MessageRole,
    kind: Option<MessageKind>,
    author: Option<&str>,
    text: &str,
    ticket_id: Option<&str>,
    now: i64,
    extras: &MessageExtras<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    let seq: Option<i64> = sqlx::query_scalar(
        "INSERT INTO messages (id, shop, message_id, conversation_id, role, kind, author, text, ticket_id, created_at, \
         customer_id, channel, response, faq_id, in_reply_to) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (shop, message_id) DO NOTHING RETURNING seq",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(shop)
    .bind(message_id)
    .bind(conversation_id)
    .bind(role.as_str())
    .bind(kind.map(MessageKind::as_str))
    .bind(author)
    .bind(text)
    .bind(ticket_id)
    .bind(now)
    .bind(extras.customer_id)
    .bind(extras.channel)
    .bind(extras.response)
    .bind(extras.faq_id)
    .bind(extras.in_reply_to)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(seq) = seq {
        let message = MessageRow {
            id: message_id.into(),
            conversation_id: conversation_id.into(),
            role,
            text: text.into(),
            kind,
            author: author.map(Into::into),
            ticket_id: ticket_id.map(Into::into),
            created_at: rfc3339(now),
            seq,
        };
        message_event(shop, &message, json(&message).as_str().into(), now).execute(tx).await?;
    }
    Ok(seq)
}

/// The read before routing ([`Store::inbound_state`]).
///
/// Every part looks inside the conversation, so each can only be planned as a walk of the
/// conversation's index: PostgreSQL plans a prepared statement once for all values, and on a
/// fresh database it had planned the look-up by message id alone as a scan of the shop's whole
/// index (23 million index entries read for 15,000 messages in a ten-second load run). A
/// repeated id sent with another conversation is routed, then caught by the insert's unique
/// key, which answers with the stored reply all the same.
pub(super) const INBOUND_STATE_SQL: &str = "SELECT CAST(0 AS BIGINT) AS part, seq, faq_id AS value, CAST(NULL AS TEXT) AS detail FROM messages \
     WHERE shop = $1 AND conversation_id = $2 AND role = 'bot' AND faq_id IS NOT NULL \
     UNION ALL SELECT CAST(1 AS BIGINT) AS part, CAST(0 AS BIGINT) AS seq, id AS value, \
     CASE WHEN status = 'open' AND first_response_at IS NULL THEN reason END AS detail \
     FROM tickets WHERE shop = $1 AND conversation_id = $2 AND status <> 'resolved' \
     UNION ALL SELECT CAST(2 AS BIGINT) AS part, CAST(0 AS BIGINT) AS seq, COALESCE(response, '') AS value, CAST(NULL AS TEXT) AS detail FROM messages \
     WHERE shop = $1 AND conversation_id = $2 AND message_id = $3 AND role = 'customer' \
     ORDER BY part, seq";

impl Store {
    /// FAQ ids the bot already sent in a conversation, and its unresolved ticket.
    pub(crate) async fn conversation_state(&self, shop: &str, conversation_id: &str) -> Result<ConversationState, StoreError> {
        Ok(self.inbound_state(shop, None, conversation_id).await?.1)
    }

    /// Before routing a message: its stored answer when `message_id` was processed already,
    /// and the conversation's state. One query (every statement is a round trip to SQLite's
    /// worker thread): rows of part 0 are answered FAQ ids in order, a row of part 1 is the
    /// unresolved ticket, a row of part 2 the stored answer.
    pub(crate) async fn inbound_state(
        &self,
        shop: &str,
        message_id: Option<&str>,
        conversation_id: &str,
    ) -> Result<(Option<String>, ConversationState), StoreError> {
        let mut lane = self.lanes.get(self.pool()).await?;
        let rows =
            sqlx::query(INBOUND_STATE_SQL).bind(shop).bind(conversation_id).bind(message_id.unwrap_or("")).fetch_all(lane.conn()).await;
        lane.done(&rows);
        let rows = rows?;
        let (mut faq_ids, mut ticket, mut untaken, mut response) = (Vec::new(), None, None, None);
        for row in &rows {
            let value: String = row.try_get("value")?;
            match row.try_get::<i64, _>("part")? {
                0 => faq_ids.push(value),
                1 => {
                    ticket = Some(value);
                    untaken = opt_text(row, "detail")?.as_deref().and_then(EscalationReason::parse);
                }
                _ => response = Some(value),
            }
        }
        Ok((response, ConversationState { answered_faq_ids: faq_ids, open_ticket_id: ticket, untaken_reason: untaken }))
    }

    /// Every message of a conversation, oldest first.
    pub(crate) async fn conversation(&self, shop: &str, conversation_id: &str) -> Result<Vec<MessageRow>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE shop = $1 AND conversation_id = $2 ORDER BY seq");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(shop).bind(conversation_id).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(message_from_row).collect::<Result<_, _>>()?)
    }
}

/// A message's JSON, as its event carries it.
pub(super) fn json(message: &MessageRow) -> String {
    serde_json::to_string(message).unwrap_or_default()
}

/// The `message` event announcing `message`; its payload is the message's JSON (`payload`,
/// which may still lack the sequence number: [`Param::MessageJson`]).
pub(super) fn message_event(shop: &str, message: &MessageRow, payload: Param, now: i64) -> Statement {
    event_statement(shop, EventKind::Message, &message.conversation_id, message.ticket_id.as_deref(), payload, now)
}
