//! Tickets: the queue as agents see it, the second line (transfer), the agents' action log,
//! stats and the time series. What an agent does across aggregates (claim, reply, resolve)
//! is `agent.rs`.

use super::events::{EventKind, insert_event, rfc3339};
use super::{Store, StoreError, Tx, now_ms, opt_text, parsed};
use crate::domain::{DecisionKind, EscalationReason, Lang, Priority, SentimentLabel, TicketStatus, TicketTier};
use crate::learn::DraftCounts;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// An hour in milliseconds (the time series' bucket).
const HOUR: i64 = 3_600_000;

/// A ticket as the APIs show it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TicketRow {
    /// Id.
    pub id: String,
    /// Shop.
    pub shop: String,
    /// Conversation.
    pub conversation_id: String,
    /// Customer.
    pub customer_id: Option<String>,
    /// Where it is in its life cycle.
    pub status: TicketStatus,
    /// How soon a human must look at it.
    pub priority: Priority,
    /// Why it was escalated.
    pub reason: EscalationReason,
    /// Intent.
    pub intent: String,
    /// Intent confidence.
    pub intent_confidence: f64,
    /// Sentiment label.
    pub sentiment: SentimentLabel,
    /// Sentiment score.
    pub sentiment_score: f64,
    /// The language its messages are in.
    pub lang: Lang,
    /// FAQ entry the draft used.
    pub faq_id: Option<String>,
    /// Suggested reply.
    pub draft: serde_json::Value,
    /// Extracted fields.
    pub extracted: serde_json::Value,
    /// Latest customer text (preview).
    pub last_message: String,
    /// Agent who claimed it.
    pub claimed_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// SLA deadline of the first human response, RFC 3339 (as `first_response_due_at`).
    pub due_at: String,
    /// The first clock: a person first answers by then (by priority), RFC 3339.
    pub first_response_due_at: String,
    /// The second clock: a complaint is settled by then, RFC 3339; null for tickets without
    /// that promise.
    pub resolution_due_at: Option<String>,
    /// The settlement clock ran out before the ticket was resolved.
    pub resolution_breached: bool,
    /// First human answer, RFC 3339.
    pub first_response_at: Option<String>,
    /// When resolved.
    pub resolved_at: Option<String>,
    /// Deadline missed.
    pub sla_breached: bool,
    /// The line of agents it waits for.
    pub tier: TicketTier,
    /// The note written when it was transferred to the second line.
    pub transfer_note: Option<String>,
    /// When a later message last raised its priority or reason, RFC 3339.
    pub rescored_at: Option<String>,
}

const TICKET_COLUMNS: &str = "id, shop, conversation_id, customer_id, status, priority, reason, intent, intent_confidence, sentiment, sentiment_score, lang, faq_id, draft, extracted, last_message, claimed_by, created_at, due_at, first_response_at, resolved_at, sla_breached, tier, transfer_note, rescored_at, resolution_due_at";

fn ticket_from_row(row: &AnyRow) -> Result<TicketRow, sqlx::Error> {
    let due_at: i64 = row.try_get("due_at")?;
    let first: Option<i64> = row.try_get("first_response_at")?;
    let status = parsed(row, "status", TicketStatus::parse)?;
    let breached_flag: i64 = row.try_get("sla_breached")?;
    // Still waiting past the deadline is a breach too, before anyone answers.
    let breached = breached_flag != 0 || (first.is_none() && status != TicketStatus::Resolved && now_ms() > due_at);
    let resolution_due: Option<i64> = row.try_get("resolution_due_at")?;
    let resolved_at: Option<i64> = row.try_get("resolved_at")?;
    let resolution_breached = resolution_due.is_some_and(|due| resolved_at.unwrap_or_else(now_ms) > due);
    Ok(TicketRow {
        id: row.try_get("id")?,
        shop: row.try_get("shop")?,
        conversation_id: row.try_get("conversation_id")?,
        customer_id: opt_text(row, "customer_id")?,
        status,
        priority: parsed(row, "priority", Priority::parse)?,
        reason: parsed(row, "reason", EscalationReason::parse)?,
        intent: row.try_get("intent")?,
        intent_confidence: row.try_get("intent_confidence")?,
        sentiment: parsed(row, "sentiment", SentimentLabel::parse)?,
        sentiment_score: row.try_get("sentiment_score")?,
        lang: parsed(row, "lang", Lang::parse)?,
        faq_id: opt_text(row, "faq_id")?,
        draft: serde_json::json!({ "text": row.try_get::<String, _>("draft")? }),
        extracted: serde_json::from_str(&row.try_get::<String, _>("extracted")?).unwrap_or(serde_json::Value::Null),
        last_message: row.try_get("last_message")?,
        claimed_by: opt_text(row, "claimed_by")?,
        created_at: rfc3339(row.try_get("created_at")?),
        due_at: rfc3339(due_at),
        first_response_due_at: rfc3339(due_at),
        resolution_due_at: resolution_due.map(rfc3339),
        resolution_breached,
        first_response_at: first.map(rfc3339),
        resolved_at: resolved_at.map(rfc3339),
        sla_breached: breached,
        tier: parsed(row, "tier", TicketTier::parse)?,
        transfer_note: opt_text(row, "transfer_note")?,
        rescored_at: row.try_get::<Option<i64>, _>("rescored_at")?.map(rfc3339),
    })
}

/// `/v1/stats`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Stats {
    /// Customer messages.
    pub messages: i64,
    /// Answered by the bot.
    pub answered: i64,
    /// Escalated.
    pub escalated: i64,
    /// answered / messages.
    pub auto_answer_rate: f64,
    /// First human response time of tickets, ms.
    pub first_response_ms: Percentiles,
    /// Draft outcomes.
    pub drafts: DraftCounts,
    /// Tickets past their deadline (answered late, or still waiting).
    pub sla_breaches: i64,
    /// Tickets past their settlement deadline (complaints resolved late, or still open).
    pub resolution_breaches: i64,
    /// Unresolved tickets.
    pub open_tickets: i64,
}

/// p50 / p95.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Percentiles {
    /// Median.
    pub p50: Option<i64>,
    /// 95th percentile.
    pub p95: Option<i64>,
}

/// One hour of activity.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct TimeBucket {
    /// Hour start, RFC 3339.
    pub start: String,
    /// Customer messages.
    pub messages: i64,
    /// Answered by the bot.
    pub answered: i64,
    /// Escalated.
    pub escalated: i64,
    /// answered / messages.
    pub auto_answer_rate: f64,
    /// Median first human response of tickets created in the hour, ms.
    pub first_response_ms_p50: Option<i64>,
    /// Drafts sent unchanged.
    pub drafts_accepted: i64,
    /// Drafts edited.
    pub drafts_edited: i64,
    /// Drafts rejected.
    pub drafts_rejected: i64,
    /// Tickets created in the hour that breached their deadline.
    pub sla_breaches: i64,
}

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

impl Store {
    /// The queue of a shop: most urgent first (priority, then deadline).
    pub(crate) async fn tickets(&self, shop: &str, status: TicketStatus, tier: Option<TicketTier>) -> Result<Vec<TicketRow>, StoreError> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE shop = $1 AND status = $2 AND ($3 = '' OR tier = $3) ORDER BY priority_rank, due_at LIMIT 500"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(shop)
            .bind(status.as_str())
            .bind(tier.map_or("", TicketTier::as_str))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(ticket_from_row).collect::<Result<_, _>>()?)
    }

    /// One ticket.
    pub(crate) async fn ticket(&self, id: &str) -> Result<Option<TicketRow>, StoreError> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(ticket_from_row).transpose()?)
    }

    /// Moves the ticket to the second line, open and unclaimed, with the agent's note. False
    /// when it does not exist or is resolved.
    pub(crate) async fn transfer(&self, id: &str, agent: &str, note: &str) -> Result<bool, StoreError> {
        let (id, agent, note) = (id.to_string(), agent.to_string(), note.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let now = now_ms();
                let row: Option<(String, String)> = sqlx::query_as(
                    "UPDATE tickets SET tier = $4, status = $5, claimed_by = NULL, transfer_note = $1, updated_at = $2 WHERE id = $3 AND status <> $6 RETURNING shop, conversation_id",
                )
                .bind(&note)
                .bind(now)
                .bind(&id)
                .bind(TicketTier::Second.as_str())
                .bind(TicketStatus::Open.as_str())
                .bind(TicketStatus::Resolved.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let Some((shop, conversation)) = row else { return Ok(Tx::Commit(false)) };
                record_action(tx, &id, &shop, &agent, "transfer", None, now).await?;
                insert_event(tx, &shop, EventKind::Ticket, &conversation, Some(&id), "{}", now).await?;
                Ok(Tx::Commit(true))
            })
        })
        .await
    }

    /// Counters for `/v1/stats`.
    pub(crate) async fn stats(&self, shop: &str) -> Result<Stats, StoreError> {
        let pool = self.pool();
        let count = |sql: &'static str| async move {
            let n: i64 = sqlx::query_scalar(sql).bind(shop).fetch_one(pool).await?;
            Ok::<i64, StoreError>(n)
        };
        let messages = count("SELECT COUNT(*) FROM decisions WHERE shop = $1").await?;
        let answered = count("SELECT COUNT(*) FROM decisions WHERE shop = $1 AND decision = 'answered'").await?;
        let open_tickets = count("SELECT COUNT(*) FROM tickets WHERE shop = $1 AND status <> 'resolved'").await?;
        let now = now_ms();
        let sla_breaches: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tickets WHERE shop = $1 AND (sla_breached = 1 OR (first_response_at IS NULL AND status <> 'resolved' AND due_at < $2))",
        )
        .bind(shop)
        .bind(now)
        .fetch_one(pool)
        .await?;
        let resolution_breaches: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tickets WHERE shop = $1 AND resolution_due_at IS NOT NULL AND COALESCE(resolved_at, $2) > resolution_due_at",
        )
        .bind(shop)
        .bind(now)
        .fetch_one(pool)
        .await?;
        let mut waits: Vec<i64> =
            sqlx::query("SELECT first_response_at - created_at AS wait FROM tickets WHERE shop = $1 AND first_response_at IS NOT NULL")
                .bind(shop)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("wait"))
                .collect::<Result<_, _>>()?;
        waits.sort_unstable();
        Ok(Stats {
            messages,
            answered,
            escalated: messages - answered,
            auto_answer_rate: if messages > 0 { answered as f64 / messages as f64 } else { 0.0 },
            first_response_ms: Percentiles { p50: percentile(&waits, 0.5), p95: percentile(&waits, 0.95) },
            drafts: self.draft_counts(shop, None).await?,
            sla_breaches,
            resolution_breaches,
            open_tickets,
        })
    }

    /// Draft outcomes of a shop, optionally of one intent.
    pub(crate) async fn draft_counts(&self, shop: &str, intent: Option<&str>) -> Result<DraftCounts, StoreError> {
        let rows = sqlx::query("SELECT a.draft_outcome AS outcome, t.intent AS intent FROM agent_actions a JOIN tickets t ON t.id = a.ticket_id WHERE a.shop = $1 AND a.action = 'reply'")
            .bind(shop)
            .fetch_all(self.pool())
            .await?;
        let mut counts = DraftCounts::default();
        for r in rows {
            if intent.is_some_and(|i| opt_text(&r, "intent").ok().flatten().as_deref() != Some(i)) {
                continue;
            }
            counts.add_stored(opt_text(&r, "outcome")?.as_deref());
        }
        Ok(counts)
    }

    /// Draft outcomes per intent: the learning signal for improving drafts.
    pub(crate) async fn draft_outcomes_by_intent(&self, shop: &str) -> Result<Vec<(String, DraftCounts)>, StoreError> {
        let rows = sqlx::query("SELECT t.intent AS intent, a.draft_outcome AS outcome FROM agent_actions a JOIN tickets t ON t.id = a.ticket_id WHERE a.shop = $1 AND a.action = 'reply' ORDER BY t.intent")
            .bind(shop)
            .fetch_all(self.pool())
            .await?;
        let mut out: Vec<(String, DraftCounts)> = Vec::new();
        for r in rows {
            let intent: String = r.try_get("intent")?;
            if out.last().is_none_or(|(i, _)| *i != intent) {
                out.push((intent.clone(), DraftCounts::default()));
            }
            out.last_mut().expect("pushed").1.add_stored(opt_text(&r, "outcome")?.as_deref());
        }
        Ok(out)
    }

    /// Draft outcomes of the `hours` hours from `first` (Unix ms), one count per hour.
    async fn drafts_by_hour(&self, shop: &str, first: i64, hours: usize) -> Result<Vec<DraftCounts>, StoreError> {
        let mut drafts = vec![DraftCounts::default(); hours];
        for r in
            sqlx::query("SELECT draft_outcome, created_at FROM agent_actions WHERE shop = $1 AND action = 'reply' AND created_at >= $2")
                .bind(shop)
                .bind(first)
                .fetch_all(self.pool())
                .await?
        {
            if let Some(d) = drafts.get_mut(((r.try_get::<i64, _>("created_at")? - first) / HOUR) as usize) {
                d.add_stored(opt_text(&r, "draft_outcome")?.as_deref());
            }
        }
        Ok(drafts)
    }

    /// Hourly activity of the last `hours` hours, oldest first.
    pub(crate) async fn timeseries(&self, shop: &str, hours: i64) -> Result<Vec<TimeBucket>, StoreError> {
        let now = now_ms();
        let first = (now / HOUR - hours + 1) * HOUR;
        let mut buckets: Vec<TimeBucket> =
            (0..hours).map(|i| TimeBucket { start: rfc3339(first + i * HOUR), ..Default::default() }).collect();
        let slot = |t: i64| ((t - first) / HOUR) as usize;
        for r in sqlx::query("SELECT decision, created_at FROM decisions WHERE shop = $1 AND created_at >= $2")
            .bind(shop)
            .bind(first)
            .fetch_all(self.pool())
            .await?
        {
            if let Some(b) = buckets.get_mut(slot(r.try_get("created_at")?)) {
                b.messages += 1;
                if parsed(&r, "decision", DecisionKind::parse)? == DecisionKind::Answered {
                    b.answered += 1;
                } else {
                    b.escalated += 1;
                }
            }
        }
        let mut waits: Vec<Vec<i64>> = vec![Vec::new(); buckets.len()];
        for r in sqlx::query(
            "SELECT created_at, first_response_at, due_at, sla_breached, status FROM tickets WHERE shop = $1 AND created_at >= $2",
        )
        .bind(shop)
        .bind(first)
        .fetch_all(self.pool())
        .await?
        {
            let created: i64 = r.try_get("created_at")?;
            let first_response: Option<i64> = r.try_get("first_response_at")?;
            let due: i64 = r.try_get("due_at")?;
            let breached = r.try_get::<i64, _>("sla_breached")? != 0
                || (first_response.is_none() && r.try_get::<String, _>("status")? != TicketStatus::Resolved.as_str() && now > due);
            let i = slot(created);
            if let Some(b) = buckets.get_mut(i) {
                b.sla_breaches += i64::from(breached);
                if let Some(f) = first_response {
                    waits[i].push(f - created);
                }
            }
        }
        let drafts = self.drafts_by_hour(shop, first, buckets.len()).await?;
        for ((b, w), d) in buckets.iter_mut().zip(waits.iter_mut()).zip(drafts) {
            (b.drafts_accepted, b.drafts_edited, b.drafts_rejected) = (d.accepted, d.edited, d.rejected);
            w.sort_unstable();
            b.first_response_ms_p50 = percentile(w, 0.5);
            b.auto_answer_rate = if b.messages > 0 { b.answered as f64 / b.messages as f64 } else { 0.0 };
        }
        Ok(buckets)
    }
}

/// Logs what an agent did to a ticket (with what became of the draft, for a reply).
pub(super) async fn record_action(
    tx: &mut AnyConnection,
    ticket_id: &str,
    shop: &str,
    agent: &str,
    action: &str,
    draft_outcome: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO agent_actions (ticket_id, shop, agent, action, draft_outcome, intent, created_at) VALUES ($1, $2, $3, $4, $5, (SELECT intent FROM tickets WHERE id = $1), $6)")
        .bind(ticket_id)
        .bind(shop)
        .bind(agent)
        .bind(action)
        .bind(draft_outcome)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
