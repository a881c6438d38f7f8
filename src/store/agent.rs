//! What an agent does to a ticket, each in one transaction across the aggregates it touches:
//! a claim, a resolution (with its survey) and a reply (the message, the ticket's first
//! response and status, the action log, the outbox row that delivers it, the `ticket` event,
//! the inspection sample and, when it resolves, the survey).

use super::events::{EventKind, insert_event, rfc3339};
use super::messages::{MessageExtras, MessageRow, insert_message};
use super::quality::{SurveyPlan, Why, open_survey, sample};
use super::queue::{ReplyOf, enqueue_reply};
use super::tickets::{TicketRow, record_action};
use super::{Store, StoreError, Tx, now_ms};
use crate::domain::{MessageKind, MessageRole, ReplyOutcome, TicketStatus};
use sqlx::AnyConnection;

/// Builds an outbox row's JSON body from the reply's message id, the customer message it
/// answers and the send time (Unix ms).
pub(crate) type OutboxBody = Box<dyn FnOnce(&str, Option<&str>, i64) -> String + Send>;

/// An agent's reply, as recorded.
#[derive(Debug, Clone)]
pub(crate) struct AgentReply {
    /// The new message.
    pub message: MessageRow,
    /// The customer message it answers.
    pub in_reply_to: Option<String>,
    /// The outbox row delivering it, when the shop has a callback.
    pub outbox_id: Option<String>,
}

impl Store {
    /// The calling agent takes the ticket. False when it is already resolved.
    pub(crate) async fn claim(&self, id: &str, agent: &str) -> Result<bool, StoreError> {
        self.transition(
            id,
            agent,
            ("claim", TicketStatus::Claimed),
            "UPDATE tickets SET status = $4, claimed_by = $1, updated_at = $2 WHERE id = $3 AND status <> 'resolved' RETURNING shop, conversation_id",
            None,
        )
        .await
    }

    /// Closes the ticket and opens its survey, when one is given. False when it does not exist
    /// or was already resolved.
    pub(crate) async fn resolve(&self, id: &str, agent: &str, survey: Option<SurveyPlan>) -> Result<bool, StoreError> {
        self.transition(
            id,
            agent,
            ("resolve", TicketStatus::Resolved),
            "UPDATE tickets SET status = $4, claimed_by = COALESCE(claimed_by, $1), resolved_at = $2, updated_at = $2 WHERE id = $3 AND status <> 'resolved' RETURNING shop, conversation_id",
            survey,
        )
        .await
    }

    /// Applies a status change (`sql` binds agent, now, id and the status `to`, and returns shop
    /// and conversation), recording the action, a `ticket` event and (for a resolution) the
    /// survey in the same transaction.
    async fn transition(
        &self,
        id: &str,
        agent: &str,
        (action, to): (&'static str, TicketStatus),
        sql: &'static str,
        survey: Option<SurveyPlan>,
    ) -> Result<bool, StoreError> {
        let (id, agent) = (id.to_string(), agent.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let now = now_ms();
                let row: Option<(String, String)> =
                    sqlx::query_as(sql).bind(&agent).bind(now).bind(&id).bind(to.as_str()).fetch_optional(&mut *tx).await?;
                let Some((shop, conversation)) = row else { return Ok(Tx::Commit(false)) };
                record_action(tx, &id, &shop, &agent, action, None, now).await?;
                insert_event(tx, &shop, EventKind::Ticket, &conversation, Some(&id), "{}", now).await?;
                if let Some(plan) = &survey {
                    open_survey(tx, &shop, &id, &conversation, &agent, plan, now).await?;
                }
                Ok(Tx::Commit(true))
            })
        })
        .await
    }

    /// Records an agent reply: the message, the draft outcome, the first-response time and
    /// SLA, optionally the resolution, and (when `outbox` is given: the JSON body builder and
    /// the shop has a callback) the delivery row — all in one transaction.
    pub(crate) async fn reply(&self, ticket: &TicketRow, agent: &str, reply: ReplyPlan) -> Result<AgentReply, StoreError> {
        let (ticket, agent) = (ticket.clone(), agent.to_string());
        self.write(move |tx| Box::pin(async move { record_reply(tx, &ticket, &agent, reply).await })).await
    }
}

/// An agent's reply as the store records it.
pub(crate) struct ReplyPlan {
    /// What the customer receives.
    pub text: String,
    /// What became of the draft.
    pub outcome: ReplyOutcome,
    /// Resolve the ticket with it.
    pub resolve: bool,
    /// The survey the resolution opens (none for a Chatwoot conversation).
    pub survey: Option<SurveyPlan>,
    /// The shop's callback payload builder, when the reply travels through the outbox.
    pub outbox: Option<OutboxBody>,
    /// The shop's inspection sample rate: the reply is drawn by its message id.
    pub sample_rate: f64,
}

/// The customer message an agent's reply answers: the conversation's latest.
async fn last_customer_message(tx: &mut AnyConnection, ticket: &TicketRow) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT message_id FROM messages WHERE shop = $1 AND conversation_id = $2 AND role = $3 ORDER BY seq DESC LIMIT 1")
        .bind(&ticket.shop)
        .bind(&ticket.conversation_id)
        .bind(MessageRole::Customer.as_str())
        .fetch_optional(&mut *tx)
        .await
}

/// The ticket's first response (and SLA breach), its claim by the replying agent and its
/// status after the reply.
async fn mark_answered(tx: &mut AnyConnection, ticket_id: &str, agent: &str, resolve: bool, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tickets SET sla_breached = CASE WHEN first_response_at IS NULL AND $1 > due_at THEN 1 ELSE sla_breached END, \
         first_response_at = COALESCE(first_response_at, $1), updated_at = $1, \
         status = CASE WHEN $2 = 1 THEN $5 WHEN status = $6 THEN $7 ELSE status END, \
         claimed_by = COALESCE(claimed_by, $3), resolved_at = CASE WHEN $2 = 1 THEN $1 ELSE resolved_at END WHERE id = $4",
    )
    .bind(now)
    .bind(i64::from(resolve))
    .bind(agent)
    .bind(ticket_id)
    // The status the ticket moves to (`TicketStatus::after_reply`), checked against the stored
    // one, which another agent may have changed since the ticket was read.
    .bind(TicketStatus::Open.after_reply(true).as_str())
    .bind(TicketStatus::Open.as_str())
    .bind(TicketStatus::Open.after_reply(false).as_str())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn record_reply(tx: &mut AnyConnection, ticket: &TicketRow, agent: &str, plan: ReplyPlan) -> Result<Tx<AgentReply>, StoreError> {
    let ReplyPlan { text, outcome, resolve, survey, outbox, sample_rate } = plan;
    let text = text.as_str();
    let now = now_ms();
    let in_reply_to = last_customer_message(tx, ticket).await?;
    let message_id = format!("agent-{}", uuid::Uuid::now_v7());
    let seq = insert_message(
        tx,
        &ticket.shop,
        &message_id,
        &ticket.conversation_id,
        MessageRole::Agent,
        Some(MessageKind::Reply),
        Some(agent),
        text,
        Some(&ticket.id),
        now,
        &MessageExtras { in_reply_to: in_reply_to.as_deref(), ..MessageExtras::default() },
    )
    .await?
    .ok_or_else(|| StoreError::Corrupt("generated message id collided".into()))?;
    mark_answered(tx, &ticket.id, agent, resolve, now).await?;
    record_action(tx, &ticket.id, &ticket.shop, agent, "reply", Some(outcome.as_str()), now).await?;
    let outbox_id = match outbox {
        Some(body) => {
            let id = uuid::Uuid::now_v7().to_string();
            let payload = body(&message_id, in_reply_to.as_deref(), now);
            let of = ReplyOf { shop: &ticket.shop, ticket_id: &ticket.id, conversation_id: &ticket.conversation_id };
            enqueue_reply(tx, &id, of, &message_id, &payload, now).await?;
            Some(id)
        }
        None => None,
    };
    insert_event(tx, &ticket.shop, EventKind::Ticket, &ticket.conversation_id, Some(&ticket.id), "{}", now).await?;
    if crate::quality::sampled(&message_id, sample_rate) {
        sample(tx, &ticket.shop, &message_id, Some(&ticket.id), Some(agent), Why::Sampled, now).await?;
    }
    if resolve {
        record_action(tx, &ticket.id, &ticket.shop, agent, "resolve", None, now).await?;
    }
    if let Some(plan) = survey.as_ref().filter(|_| resolve) {
        open_survey(tx, &ticket.shop, &ticket.id, &ticket.conversation_id, agent, plan, now).await?;
    }
    Ok(Tx::Commit(AgentReply {
        message: MessageRow {
            id: message_id,
            conversation_id: ticket.conversation_id.clone(),
            role: MessageRole::Agent,
            text: text.into(),
            kind: Some(MessageKind::Reply),
            author: Some(agent.into()),
            ticket_id: Some(ticket.id.clone()),
            created_at: rfc3339(now),
            seq,
        },
        in_reply_to,
        outbox_id,
    }))
}
