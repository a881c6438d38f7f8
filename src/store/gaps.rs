//! The knowledge loop's queries: a period's customer messages with their decisions, what
//! agents sent, the proposals owners approved or rejected, and the outcome measures of
//! `/v1/stats`.

use super::{Store, StoreError, Tx, now_ms, opt_text};
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Seven days in milliseconds: an answer the customer comes back about within a week did not
/// resolve the question.
pub(crate) const REOPEN_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// One customer message of a period and what the router did with it.
#[derive(Debug, Clone)]
pub(crate) struct PeriodMessage {
    /// The shop's message id.
    pub(crate) message_id: String,
    /// Its conversation.
    pub(crate) conversation_id: String,
    /// As the customer wrote it (mask before showing).
    pub(crate) text: String,
    /// Unix ms.
    pub(crate) created_at: i64,
    /// The ticket it opened or joined.
    pub(crate) ticket_id: Option<String>,
    /// `answered` or `escalated`.
    pub(crate) decision: String,
    /// The escalation reason's wire name.
    pub(crate) reason: Option<String>,
    /// The router's intent.
    pub(crate) intent: String,
    /// The customer voted the bot's answer down (👎).
    pub(crate) rated_down: bool,
}

/// A reply an agent sent on a ticket, with the ticket's draft.
#[derive(Debug, Clone)]
pub(crate) struct SentReply {
    /// The ticket.
    pub(crate) ticket_id: String,
    /// What the agent sent.
    pub(crate) text: String,
    /// `accepted`, `edited`, `rejected` (the first reply) or `followup`.
    pub(crate) outcome: Option<String>,
    /// The draft suggested on the ticket.
    pub(crate) draft: String,
    /// The ticket's intent and sentiment (which template drafted it).
    pub(crate) intent: String,
    /// Wire name.
    pub(crate) sentiment: String,
    /// `zh` or `en`.
    pub(crate) lang: String,
}

/// What an owner decided about a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Written into the knowledge base.
    Approved,
    /// Not wanted; its messages are not proposed again.
    Rejected,
}

/// A decided proposal, for [`Store::record_proposal`].
#[derive(Debug, Clone)]
pub(crate) struct ProposalRecord {
    /// `faq` or `template`.
    pub(crate) kind: &'static str,
    /// The FAQ id written, or the template changed (`intent/sentiment/lang`).
    pub(crate) target: String,
    /// The messages (FAQ) or tickets (template) behind it: not proposed again.
    pub(crate) evidence: Vec<String>,
    /// The decision.
    pub(crate) verdict: Verdict,
    /// Who decided.
    pub(crate) agent: String,
}

/// The outcome measures help desks report, all time, for `/v1/stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Outcomes {
    /// Conversations the bot answered in.
    pub(crate) bot_conversations: i64,
    /// Of those, resolved by the bot: no hand-off and no 👎 within 7 days of its answers.
    pub(crate) resolved_automatically: i64,
    /// resolved_automatically / bot_conversations.
    pub(crate) automatic_resolution_rate: Option<f64>,
    /// Escalated customer messages per reason, as a share of all customer messages.
    pub(crate) handoff_rate_by_reason: BTreeMap<String, f64>,
    /// Resolved tickets.
    pub(crate) resolved_tickets: i64,
    /// Of those, ones the customer wrote again about within 7 days.
    pub(crate) reopened_tickets: i64,
    /// reopened_tickets / resolved_tickets.
    pub(crate) reopen_rate: Option<f64>,
    /// The bot's answers against people's.
    pub(crate) satisfaction: Satisfaction,
}

/// Satisfaction of bot answers and of people's.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Satisfaction {
    /// 👍/👎 votes on bot answers.
    pub(crate) bot_votes: i64,
    /// Share of them that were 👍.
    pub(crate) bot_helpful_rate: Option<f64>,
    /// Survey ratings of tickets closed without an agent's reply.
    pub(crate) bot_ratings: i64,
    /// Share of those rated 4 or 5.
    pub(crate) bot_csat: Option<f64>,
    /// Survey ratings of tickets an agent answered.
    pub(crate) people_ratings: i64,
    /// Share of those rated 4 or 5.
    pub(crate) people_csat: Option<f64>,
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Store {
    /// A shop's customer messages created in `[from, to)` with their decisions, newest
    /// `limit` of them, oldest first.
    pub(crate) async fn period_messages(&self, shop: &str, from: i64, to: i64, limit: i64) -> Result<Vec<PeriodMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.message_id, m.conversation_id, m.text, m.created_at, m.ticket_id, d.decision, d.reason, d.intent, \
             (SELECT COUNT(*) FROM messages b JOIN answer_feedback f ON f.shop = b.shop AND f.message_id = b.message_id \
              WHERE b.shop = m.shop AND b.in_reply_to = m.message_id AND b.role = 'bot' AND f.helpful = 0) AS down \
             FROM messages m JOIN decisions d ON d.message_seq = m.seq \
             WHERE m.shop = $1 AND m.role = 'customer' AND m.created_at >= $2 AND m.created_at < $3 \
             ORDER BY m.seq DESC LIMIT $4",
        )
        .bind(shop)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(PeriodMessage {
                    message_id: r.try_get("message_id")?,
                    conversation_id: r.try_get("conversation_id")?,
                    text: r.try_get("text")?,
                    created_at: r.try_get("created_at")?,
                    ticket_id: opt_text(r, "ticket_id")?,
                    decision: r.try_get("decision")?,
                    reason: opt_text(r, "reason")?,
                    intent: r.try_get("intent")?,
                    rated_down: r.try_get::<i64, _>("down")? > 0,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        out.reverse();
        Ok(out)
    }

    /// Replies agents sent on a shop's tickets since `from`, oldest first, each with its
    /// draft outcome and the ticket's draft.
    pub(crate) async fn sent_replies(&self, shop: &str, from: i64) -> Result<Vec<SentReply>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.ticket_id, m.text, t.draft, t.intent, t.sentiment, t.lang, \
             (SELECT MIN(a.draft_outcome) FROM agent_actions a WHERE a.ticket_id = m.ticket_id AND a.action = 'reply' \
              AND a.created_at = m.created_at) AS outcome \
             FROM messages m JOIN tickets t ON t.id = m.ticket_id \
             WHERE m.shop = $1 AND m.role = 'agent' AND m.kind = 'reply' AND m.created_at >= $2 ORDER BY m.seq",
        )
        .bind(shop)
        .bind(from)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(SentReply {
                    ticket_id: r.try_get("ticket_id")?,
                    text: r.try_get("text")?,
                    outcome: opt_text(r, "outcome")?,
                    draft: r.try_get("draft")?,
                    intent: r.try_get("intent")?,
                    sentiment: r.try_get("sentiment")?,
                    lang: r.try_get("lang")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }

    /// Message and ticket ids behind the shop's decided proposals: not proposed again.
    pub(crate) async fn decided_evidence(&self, shop: &str) -> Result<HashSet<String>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT evidence FROM kb_proposals WHERE shop = $1").bind(shop).fetch_all(self.pool()).await?;
        let mut out = HashSet::new();
        for json in rows {
            let ids: Vec<String> = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.extend(ids);
        }
        Ok(out)
    }

    /// Records an owner's decision on a proposal.
    pub(crate) async fn record_proposal(&self, shop: &str, record: ProposalRecord) -> Result<(), StoreError> {
        let shop = shop.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO kb_proposals (id, shop, kind, target, status, evidence, decided_by, decided_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(&shop)
                .bind(record.kind)
                .bind(&record.target)
                .bind(match record.verdict {
                    Verdict::Approved => "approved",
                    Verdict::Rejected => "rejected",
                })
                .bind(serde_json::to_string(&record.evidence).unwrap_or_else(|_| "[]".into()))
                .bind(&record.agent)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
                Ok(Tx::Commit(()))
            })
        })
        .await
    }

    /// The outcome measures of a shop, all time.
    pub(crate) async fn outcomes(&self, shop: &str) -> Result<Outcomes, StoreError> {
        let mut out = self.automatic_resolution(shop).await?;
        self.handoffs_and_reopens(shop, &mut out).await?;
        self.satisfaction(shop, &mut out.satisfaction).await?;
        Ok(out)
    }

    /// Conversations the bot answered in, and those it settled: no ticket opened from the
    /// first answer until the reopen window after the last, no 👎.
    async fn automatic_resolution(&self, shop: &str) -> Result<Outcomes, StoreError> {
        let pool = self.pool();
        // Per conversation the bot answered in: its first and last answer.
        let answered = sqlx::query(
            "SELECT m.conversation_id, MIN(m.created_at) AS first_at, MAX(m.created_at) AS last_at \
             FROM messages m JOIN decisions d ON d.message_seq = m.seq \
             WHERE m.shop = $1 AND m.role = 'customer' AND d.decision = 'answered' GROUP BY m.conversation_id",
        )
        .bind(shop)
        .fetch_all(pool)
        .await?;
        let mut tickets: HashMap<String, Vec<i64>> = HashMap::new();
        for r in sqlx::query("SELECT conversation_id, created_at FROM tickets WHERE shop = $1").bind(shop).fetch_all(pool).await? {
            tickets.entry(r.try_get("conversation_id")?).or_default().push(r.try_get("created_at")?);
        }
        let voted_down: HashSet<String> = sqlx::query_scalar(
            "SELECT DISTINCT b.conversation_id FROM answer_feedback f JOIN messages b ON b.shop = f.shop AND b.message_id = f.message_id \
             WHERE f.shop = $1 AND f.helpful = 0",
        )
        .bind(shop)
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
        let mut out = Outcomes { bot_conversations: answered.len() as i64, ..Outcomes::default() };
        for r in &answered {
            let (conversation, first, last): (String, i64, i64) =
                (r.try_get("conversation_id")?, r.try_get("first_at")?, r.try_get("last_at")?);
            let handed_off = tickets.get(&conversation).is_some_and(|t| t.iter().any(|&at| at >= first && at < last + REOPEN_WINDOW_MS));
            if !handed_off && !voted_down.contains(&conversation) {
                out.resolved_automatically += 1;
            }
        }
        out.automatic_resolution_rate = ratio(out.resolved_automatically, out.bot_conversations);
        Ok(out)
    }

    /// Hand-off rates by reason, resolved and reopened tickets.
    async fn handoffs_and_reopens(&self, shop: &str, out: &mut Outcomes) -> Result<(), StoreError> {
        let pool = self.pool();
        let messages: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM decisions WHERE shop = $1").bind(shop).fetch_one(pool).await?;
        for r in sqlx::query("SELECT reason, COUNT(*) AS n FROM decisions WHERE shop = $1 AND decision = 'escalated' GROUP BY reason")
            .bind(shop)
            .fetch_all(pool)
            .await?
        {
            let reason = opt_text(&r, "reason")?.unwrap_or_else(|| "unknown".into());
            out.handoff_rate_by_reason.insert(reason, ratio(r.try_get("n")?, messages).unwrap_or(0.0));
        }
        out.resolved_tickets = sqlx::query_scalar("SELECT COUNT(*) FROM tickets WHERE shop = $1 AND resolved_at IS NOT NULL")
            .bind(shop)
            .fetch_one(pool)
            .await?;
        out.reopened_tickets = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tickets t WHERE t.shop = $1 AND t.resolved_at IS NOT NULL AND EXISTS (SELECT 1 FROM messages m \
             WHERE m.shop = t.shop AND m.conversation_id = t.conversation_id AND m.role = 'customer' \
             AND m.created_at > t.resolved_at AND m.created_at < t.resolved_at + $2)",
        )
        .bind(shop)
        .bind(REOPEN_WINDOW_MS)
        .fetch_one(pool)
        .await?;
        out.reopen_rate = ratio(out.reopened_tickets, out.resolved_tickets);
        Ok(())
    }

    /// 👍/👎 on bot answers and survey ratings, by who answered.
    async fn satisfaction(&self, shop: &str, s: &mut Satisfaction) -> Result<(), StoreError> {
        let pool = self.pool();
        let (votes, helpful): (i64, i64) = {
            let r =
                sqlx::query("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(helpful), 0) AS BIGINT) AS up FROM answer_feedback WHERE shop = $1")
                    .bind(shop)
                    .fetch_one(pool)
                    .await?;
            (r.try_get("n")?, r.try_get("up")?)
        };
        (s.bot_votes, s.bot_helpful_rate) = (votes, ratio(helpful, votes));
        for r in sqlx::query(
            "SELECT answered_by, COUNT(*) AS n, CAST(COALESCE(SUM(CASE WHEN rating >= 4 THEN 1 ELSE 0 END), 0) AS BIGINT) AS good \
             FROM surveys WHERE shop = $1 AND rating IS NOT NULL GROUP BY answered_by",
        )
        .bind(shop)
        .fetch_all(pool)
        .await?
        {
            let (by, n, good): (String, i64, i64) = (r.try_get("answered_by")?, r.try_get("n")?, r.try_get("good")?);
            if by == "bot" {
                (s.bot_ratings, s.bot_csat) = (n, ratio(good, n));
            } else {
                (s.people_ratings, s.people_csat) = (n, ratio(good, n));
            }
        }
        Ok(())
    }
}
