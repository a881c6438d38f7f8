//! Satisfaction and inspection: the survey a resolution opens (with its `survey` event for the
//! widget and, for shops with a callback, the outbox row), ratings, 👍/👎 on bot answers, the
//! inspection sample and inspectors' scores, and the facts the scorecard is computed from.

use super::batch::{Statement, params};
use super::events::{EventKind, insert_event, rfc3339};
use super::queue::{ReplyOf, enqueue_reply};
use super::{Store, StoreError, Tx, now_ms, opt_text, parsed};
use crate::domain::{DecisionKind, InspectionStatus, MessageRole, TicketStatus};
use crate::quality::{Checklist, DraftFact, InspectionFact, RatingFact, ScoreFacts, TicketFact};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// Why a message is in the inspection sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// Drawn at the shop's sample rate.
    Sampled,
    /// The customer marked the bot's answer unhelpful.
    ThumbsDown,
    /// The ticket was rated 2 stars or less.
    LowRating,
}

impl Why {
    fn as_str(self) -> &'static str {
        match self {
            Why::Sampled => "sampled",
            Why::ThumbsDown => "thumbs_down",
            Why::LowRating => "low_rating",
        }
    }
}

/// Puts a message (a bot answer or an agent reply) in the inspection sample; a message
/// already there keeps its place, with the stronger reason when one is given.
pub(super) async fn sample(
    tx: &mut AnyConnection,
    shop: &str,
    message_id: &str,
    ticket_id: Option<&str>,
    agent: Option<&str>,
    why: Why,
    now: i64,
) -> Result<(), sqlx::Error> {
    sample_statement(shop, message_id, ticket_id, agent, why, now).execute(tx).await.map(|_| ())
}

/// [`sample`]'s statement, for a batch.
pub(super) fn sample_statement(
    shop: &str,
    message_id: &str,
    ticket_id: Option<&str>,
    agent: Option<&str>,
    why: Why,
    now: i64,
) -> Statement {
    let sql = if why == Why::Sampled {
        "INSERT INTO inspections (id, shop, message_id, ticket_id, author_type, agent, why, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (shop, message_id) DO NOTHING"
    } else {
        "INSERT INTO inspections (id, shop, message_id, ticket_id, author_type, agent, why, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (shop, message_id) DO UPDATE SET why = $7"
    };
    let id = format!("insp-{}", uuid::Uuid::now_v7());
    Statement {
        sql,
        params: params![
            id.as_str(),
            shop,
            message_id,
            ticket_id,
            if agent.is_some() { MessageRole::Agent } else { MessageRole::Bot }.as_str(),
            agent,
            why.as_str(),
            now
        ],
    }
}

/// The survey a resolution opens.
#[derive(Debug, Clone)]
pub(crate) struct SurveyPlan {
    /// Survey id (also the `survey` event's idempotency key).
    pub id: String,
    /// The JSON the widget's stream carries.
    pub widget_payload: String,
    /// The `survey` event's body for the shop's callback, when the shop has one.
    pub callback_payload: Option<String>,
}

/// Opens the resolved ticket's survey, credited to `agent`, who resolved it: who answered (an
/// agent when one replied, else the bot),
/// the `survey` event on the conversation's stream and, for a shop with a callback, its
/// outbox row. A ticket is surveyed once.
pub(super) async fn open_survey(
    tx: &mut AnyConnection,
    shop: &str,
    ticket_id: &str,
    conversation_id: &str,
    agent: &str,
    plan: &SurveyPlan,
    now: i64,
) -> Result<(), sqlx::Error> {
    let opened = sqlx::query(
        "INSERT INTO surveys (id, shop, ticket_id, conversation_id, agent, answered_by, created_at) \
         SELECT $1, $2, $3, $4, $6, CASE WHEN EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = $3 AND m.role = 'agent') THEN 'agent' ELSE 'bot' END, $5 \
         FROM tickets t WHERE t.id = $3 ON CONFLICT (ticket_id) DO NOTHING",
    )
    .bind(&plan.id)
    .bind(shop)
    .bind(ticket_id)
    .bind(conversation_id)
    .bind(now)
    .bind(agent)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if opened == 0 {
        return Ok(());
    }
    insert_event(tx, shop, EventKind::Survey, conversation_id, Some(ticket_id), &plan.widget_payload, now).await?;
    if let Some(payload) = &plan.callback_payload {
        let of = ReplyOf { shop, ticket_id, conversation_id };
        enqueue_reply(tx, &uuid::Uuid::now_v7().to_string(), of, &plan.id, payload, now).await?;
    }
    Ok(())
}

/// What a rating did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RateOutcome {
    /// Stored.
    Stored,
    /// No such survey for this shop (or conversation).
    NotFound,
    /// Rated before.
    Duplicate,
}

/// An inspection item as inspectors see it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct InspectionRow {
    /// Id.
    pub id: String,
    /// The inspected message.
    pub message_id: String,
    /// Its text.
    pub text: String,
    /// The customer message it answered.
    pub customer_text: Option<String>,
    /// Bot or agent.
    pub author_type: MessageRole,
    /// The agent, for replies.
    pub agent: Option<String>,
    /// The ticket, for replies.
    pub ticket_id: Option<String>,
    /// `sampled`, `thumbs_down` or `low_rating`.
    pub why: String,
    /// The ticket's survey rating, if given.
    pub rating: Option<i64>,
    /// The customer's comment with that rating, if any (untrusted text).
    pub rating_comment: Option<String>,
    /// 👍 (true) / 👎 (false) on a bot answer.
    pub helpful: Option<bool>,
    /// Pending or scored.
    pub status: InspectionStatus,
    /// The inspector's checklist, once scored.
    pub checklist: Option<Checklist>,
    /// Passed: all four checks true.
    pub passed: Option<bool>,
    /// The inspector.
    pub inspector: Option<String>,
    /// The inspector's note.
    pub note: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A ticket's survey as agents see it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SurveyRow {
    /// Id.
    pub id: String,
    /// `agent` or `bot`.
    pub answered_by: String,
    /// The agent who resolved the ticket.
    pub agent: Option<String>,
    /// 1..5, once rated.
    pub rating: Option<i64>,
    /// The customer's comment.
    pub comment: Option<String>,
    /// RFC 3339.
    pub rated_at: Option<String>,
}

impl Store {
    /// The ticket's survey, if it was resolved.
    pub(crate) async fn survey_of_ticket(&self, ticket_id: &str) -> Result<Option<SurveyRow>, StoreError> {
        let row = sqlx::query("SELECT id, answered_by, agent, rating, comment, rated_at FROM surveys WHERE ticket_id = $1")
            .bind(ticket_id)
            .fetch_optional(self.pool())
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(SurveyRow {
            id: r.try_get("id")?,
            answered_by: r.try_get("answered_by")?,
            agent: opt_text(&r, "agent")?,
            rating: r.try_get("rating")?,
            comment: opt_text(&r, "comment")?,
            rated_at: r.try_get::<Option<i64>, _>("rated_at")?.map(rfc3339),
        }))
    }

    /// Rates a survey once. `conversation` restricts it to the conversation's own visitor
    /// (widget). A rating of 2 or less puts the ticket's agent replies in the inspection sample.
    pub(crate) async fn rate_survey(
        &self,
        shop: &str,
        id: &str,
        conversation: Option<&str>,
        rating: i64,
        comment: Option<String>,
    ) -> Result<RateOutcome, StoreError> {
        let (shop, id, conversation) = (shop.to_string(), id.to_string(), conversation.map(String::from));
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query("SELECT ticket_id, conversation_id, rating FROM surveys WHERE id = $1 AND shop = $2")
                    .bind(&id)
                    .bind(&shop)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(Tx::Rollback(RateOutcome::NotFound)) };
                let (ticket_id, conversation_id): (String, String) = (row.try_get("ticket_id")?, row.try_get("conversation_id")?);
                if conversation.as_deref().is_some_and(|c| c != conversation_id) {
                    return Ok(Tx::Rollback(RateOutcome::NotFound));
                }
                if row.try_get::<Option<i64>, _>("rating")?.is_some() {
                    return Ok(Tx::Rollback(RateOutcome::Duplicate));
                }
                let now = now_ms();
                // Rated once: of two ratings at the same time only one finds it unrated.
                let rated = sqlx::query("UPDATE surveys SET rating = $1, comment = $2, rated_at = $3 WHERE id = $4 AND rating IS NULL")
                    .bind(rating)
                    .bind(comment.as_deref())
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if rated == 0 {
                    return Ok(Tx::Rollback(RateOutcome::Duplicate));
                }
                if rating <= 2 {
                    let replies =
                        sqlx::query("SELECT message_id, author FROM messages WHERE shop = $1 AND ticket_id = $2 AND role = 'agent'")
                            .bind(&shop)
                            .bind(&ticket_id)
                            .fetch_all(&mut *tx)
                            .await?;
                    for r in replies {
                        let (message_id, author): (String, Option<String>) = (r.try_get("message_id")?, opt_text(&r, "author")?);
                        sample(tx, &shop, &message_id, Some(&ticket_id), Some(author.as_deref().unwrap_or("")), Why::LowRating, now)
                            .await?;
                    }
                }
                insert_event(tx, &shop, EventKind::Ticket, &conversation_id, Some(&ticket_id), "{}", now).await?;
                Ok(Tx::Commit(RateOutcome::Stored))
            })
        })
        .await
    }

    /// 👍/👎 on a bot answer of the shop (of `conversation` when given); the last vote counts,
    /// and 👎 puts the answer in the inspection sample. False when there is no such answer.
    pub(crate) async fn answer_feedback(
        &self,
        shop: &str,
        message_id: &str,
        conversation: Option<&str>,
        helpful: bool,
    ) -> Result<bool, StoreError> {
        let (shop, message_id, conversation) = (shop.to_string(), message_id.to_string(), conversation.map(String::from));
        self.write(move |tx| {
            Box::pin(async move {
                let found: Option<String> = sqlx::query_scalar(
                    "SELECT conversation_id FROM messages WHERE shop = $1 AND message_id = $2 AND role = 'bot' AND kind = 'answer'",
                )
                .bind(&shop)
                .bind(&message_id)
                .fetch_optional(&mut *tx)
                .await?;
                match (found, conversation.as_deref()) {
                    (None, _) => return Ok(Tx::Rollback(false)),
                    (Some(c), Some(want)) if c != want => return Ok(Tx::Rollback(false)),
                    _ => {}
                }
                let now = now_ms();
                sqlx::query(
                    "INSERT INTO answer_feedback (shop, message_id, helpful, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (shop, message_id) DO UPDATE SET helpful = $3, created_at = $4",
                )
                .bind(&shop)
                .bind(&message_id)
                .bind(i64::from(helpful))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if !helpful {
                    sample(tx, &shop, &message_id, None, None, Why::ThumbsDown, now).await?;
                }
                Ok(Tx::Commit(true))
            })
        })
        .await
    }

    /// The shop's inspection sample, newest first; `scored` picks scored or pending items.
    pub(crate) async fn inspections(&self, shop: &str, scored: Option<bool>) -> Result<Vec<InspectionRow>, StoreError> {
        self.inspections_where(shop, scored, None).await
    }

    async fn inspections_where(&self, shop: &str, scored: Option<bool>, id: Option<&str>) -> Result<Vec<InspectionRow>, StoreError> {
        let status = match scored {
            None => "",
            Some(true) => " AND i.scored_at IS NOT NULL",
            Some(false) => " AND i.scored_at IS NULL",
        };
        let filter = if id.is_some() { format!("{status} AND i.id = $2") } else { status.to_string() };
        let sql = format!(
            "SELECT i.id, i.message_id, i.ticket_id, i.author_type, i.agent, i.why, i.created_at, i.inspector, i.correct, i.polite, i.compliant, \
             i.no_blind_canned, i.passed, i.note, m.text AS text, c.text AS customer_text, s.rating AS rating, s.comment AS rating_comment, f.helpful AS helpful \
             FROM inspections i JOIN messages m ON m.shop = i.shop AND m.message_id = i.message_id \
             LEFT JOIN messages c ON c.shop = i.shop AND c.message_id = m.in_reply_to \
             LEFT JOIN surveys s ON s.ticket_id = i.ticket_id \
             LEFT JOIN answer_feedback f ON f.shop = i.shop AND f.message_id = i.message_id \
             WHERE i.shop = $1{filter} ORDER BY i.created_at DESC, i.id DESC LIMIT 500"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(shop);
        if let Some(id) = id {
            query = query.bind(id);
        }
        query.fetch_all(self.pool()).await?.iter().map(inspection_from_row).collect()
    }

    /// An inspector scores an item of the shop; the item as scored, none when the shop has no
    /// such item.
    pub(crate) async fn score_inspection(
        &self,
        shop: &str,
        id: &str,
        inspector: &str,
        checklist: Checklist,
        note: Option<String>,
    ) -> Result<Option<InspectionRow>, StoreError> {
        let (shop2, id2, inspector) = (shop.to_string(), id.to_string(), inspector.to_string());
        let updated = self
            .write(move |tx| {
                Box::pin(async move {
                    let n = sqlx::query(
                        "UPDATE inspections SET inspector = $1, correct = $2, polite = $3, compliant = $4, no_blind_canned = $5, passed = $6, note = $7, scored_at = $8 WHERE id = $9 AND shop = $10",
                    )
                    .bind(&inspector)
                    .bind(i64::from(checklist.correct))
                    .bind(i64::from(checklist.polite))
                    .bind(i64::from(checklist.compliant))
                    .bind(i64::from(checklist.no_blind_canned))
                    .bind(i64::from(checklist.passed()))
                    .bind(note.as_deref())
                    .bind(now_ms())
                    .bind(&id2)
                    .bind(&shop2)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    Ok(Tx::Commit(n > 0))
                })
            })
            .await?;
        if !updated {
            return Ok(None);
        }
        Ok(self.inspections_where(shop, Some(true), Some(id)).await?.into_iter().next())
    }

    /// The tickets agents acted on in `[from, to)`, once per agent.
    async fn ticket_facts(&self, shop: &str, from: i64, to: i64) -> Result<Vec<TicketFact>, StoreError> {
        let mut tickets = Vec::new();
        // A ticket counts for every agent who acted on it in the period; its first response
        // only for the agent who gave it, and only in the period it was given.
        for r in sqlx::query(
            "SELECT a.agent AS agent, t.id AS ticket_id, t.created_at AS created_at, t.due_at AS due_at, t.status AS status, t.first_response_at AS first_response_at, \
             t.resolution_due_at AS resolution_due_at, t.resolved_at AS resolved_at, \
             (SELECT m.author FROM messages m WHERE m.ticket_id = t.id AND m.role = 'agent' ORDER BY m.seq LIMIT 1) AS first_author \
             FROM (SELECT DISTINCT agent, ticket_id FROM agent_actions WHERE shop = $1 AND created_at >= $2 AND created_at < $3 AND action IN ('claim', 'reply', 'resolve')) a \
             JOIN tickets t ON t.id = a.ticket_id ORDER BY a.agent, t.id",
        )
        .bind(shop)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?
        {
            let agent: String = r.try_get("agent")?;
            let first: Option<i64> = r.try_get("first_response_at")?;
            let by_this_agent = opt_text(&r, "first_author")?.as_deref() == Some(agent.as_str());
            tickets.push(TicketFact {
                ticket_id: r.try_get("ticket_id")?,
                created_at: r.try_get("created_at")?,
                due_at: r.try_get("due_at")?,
                first_reply_at: first.filter(|f| by_this_agent && (from..to).contains(f)),
                agent,
                resolved: parsed(&r, "status", TicketStatus::parse)? == TicketStatus::Resolved,
                settled_late: r
                    .try_get::<Option<i64>, _>("resolution_due_at")?
                    .is_some_and(|due| r.try_get::<Option<i64>, _>("resolved_at").ok().flatten().unwrap_or_else(super::now_ms) > due),
            });
        }
        Ok(tickets)
    }

    /// The facts of the scorecard of `[from, to)` (Unix ms).
    pub(crate) async fn score_facts(&self, shop: &str, from: i64, to: i64) -> Result<ScoreFacts, StoreError> {
        let pool = self.pool();
        let mut facts = ScoreFacts { tickets: self.ticket_facts(shop, from, to).await?, ..ScoreFacts::default() };
        for r in sqlx::query("SELECT agent, rating FROM surveys WHERE shop = $1 AND rated_at >= $2 AND rated_at < $3")
            .bind(shop)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        {
            facts.ratings.push(RatingFact { agent: opt_text(&r, "agent")?, rating: r.try_get("rating")? });
        }
        for r in sqlx::query("SELECT agent, passed FROM inspections WHERE shop = $1 AND scored_at >= $2 AND scored_at < $3")
            .bind(shop)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        {
            facts.inspections.push(InspectionFact { agent: opt_text(&r, "agent")?, passed: r.try_get::<i64, _>("passed")? != 0 });
        }
        for r in sqlx::query(
            "SELECT agent, draft_outcome FROM agent_actions WHERE shop = $1 AND action = 'reply' AND created_at >= $2 AND created_at < $3 AND draft_outcome IS NOT NULL",
        )
        .bind(shop)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?
        {
            facts.drafts.push(DraftFact { agent: r.try_get("agent")?, outcome: r.try_get("draft_outcome")? });
        }
        for r in sqlx::query("SELECT decision, latency_us FROM decisions WHERE shop = $1 AND created_at >= $2 AND created_at < $3")
            .bind(shop)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        {
            facts.bot_latencies_ms.push(r.try_get::<i64, _>("latency_us")? / 1000);
            facts.bot_answers += i64::from(parsed(&r, "decision", DecisionKind::parse)? == DecisionKind::Answered);
        }
        for r in sqlx::query("SELECT helpful FROM answer_feedback WHERE shop = $1 AND created_at >= $2 AND created_at < $3")
            .bind(shop)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        {
            if r.try_get::<i64, _>("helpful")? != 0 {
                facts.helpful += 1;
            } else {
                facts.not_helpful += 1;
            }
        }
        Ok(facts)
    }
}

fn inspection_from_row(r: &sqlx::any::AnyRow) -> Result<InspectionRow, StoreError> {
    let flag = |c: &str| -> Result<Option<bool>, sqlx::Error> { Ok(r.try_get::<Option<i64>, _>(c)?.map(|v| v != 0)) };
    let checklist = match (flag("correct")?, flag("polite")?, flag("compliant")?, flag("no_blind_canned")?) {
        (Some(correct), Some(polite), Some(compliant), Some(no_blind_canned)) => {
            Some(Checklist { correct, polite, compliant, no_blind_canned })
        }
        _ => None,
    };
    Ok(InspectionRow {
        id: r.try_get("id")?,
        message_id: r.try_get("message_id")?,
        text: r.try_get("text")?,
        customer_text: opt_text(r, "customer_text")?,
        author_type: parsed(r, "author_type", MessageRole::parse)?,
        agent: opt_text(r, "agent")?,
        ticket_id: opt_text(r, "ticket_id")?,
        why: r.try_get("why")?,
        rating: r.try_get("rating")?,
        rating_comment: opt_text(r, "rating_comment")?,
        helpful: flag("helpful")?,
        status: if checklist.is_some() { InspectionStatus::Scored } else { InspectionStatus::Pending },
        checklist,
        passed: flag("passed")?,
        inspector: opt_text(r, "inspector")?,
        note: opt_text(r, "note")?,
        created_at: rfc3339(r.try_get("created_at")?),
    })
}
