//! After-sales cases: the router's draft (written with the inbound message), the agent's
//! edits, the submission (with the outbox row of the signed `case` event, in one transaction)
//! and the lists per shop and period.

use super::batch::{Statement, params};
use super::events::{EventKind, insert_event, rfc3339};
use super::queue::{ReplyOf, enqueue_reply};
use super::{Store, StoreError, Tx, now_ms, opt_text, parsed};
use crate::aftersales::{CaseFields, CaseReason, CaseType, Responsibility};
use crate::domain::CaseStatus;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

/// A case as the APIs show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct CaseRow {
    /// Id (also the `case` event's idempotency key).
    pub id: String,
    /// Always the ticket's shop.
    pub shop: String,
    /// The ticket it belongs to.
    pub ticket_id: String,
    /// The conversation it came from.
    pub conversation_id: String,
    /// The customer.
    pub customer_id: Option<String>,
    /// Draft or submitted.
    pub status: CaseStatus,
    /// The fields.
    #[serde(flatten)]
    pub fields: CaseFields,
    /// `router` or the agent who created it.
    pub drafted_by: String,
    /// Who submitted it.
    pub submitted_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339.
    pub submitted_at: Option<String>,
}

/// The ticket a case belongs to, as the store needs it.
#[derive(Debug, Clone)]
pub(crate) struct CaseOf {
    /// Ticket id.
    pub ticket_id: String,
    /// Shop.
    pub shop: String,
    /// Conversation.
    pub conversation_id: String,
    /// Customer.
    pub customer_id: Option<String>,
}

/// What saving an agent's edits did.
#[derive(Debug)]
pub(crate) enum CaseSaved {
    /// Stored.
    Saved(Box<CaseRow>),
    /// Already submitted: it no longer changes.
    AlreadySubmitted,
}

/// What a submission did.
#[derive(Debug)]
pub(crate) enum CaseSubmitted {
    /// Submitted (and queued for the shop when it has a callback).
    Submitted(Box<CaseRow>),
    /// Required fields are missing: field → message.
    Incomplete(BTreeMap<&'static str, String>),
    /// The ticket has no case.
    NoCase,
    /// Submitted before.
    AlreadySubmitted,
}

/// Builds the `case` event's body from the submitted case.
pub(crate) type CasePayload = Box<dyn FnOnce(&CaseRow) -> String + Send>;

const CASE_COLUMNS: &str = "id, shop, ticket_id, conversation_id, customer_id, status, case_type, reason, responsibility, order_number, items, refund_amount, tracking_number, evidence_requested, evidence, note, drafted_by, submitted_by, created_at, updated_at, submitted_at";

fn enum_column<T>(row: &AnyRow, column: &str, parse: fn(&str) -> Option<T>) -> Result<Option<T>, sqlx::Error> {
    opt_text(row, column)?
        .map(|v| parse(&v).ok_or_else(|| sqlx::Error::Decode(format!("{column} {v:?} is not a known value").into())))
        .transpose()
}

fn case_from_row(row: &AnyRow) -> Result<CaseRow, sqlx::Error> {
    let requested = opt_text(row, "evidence_requested")?.unwrap_or_default();
    Ok(CaseRow {
        id: row.try_get("id")?,
        shop: row.try_get("shop")?,
        ticket_id: row.try_get("ticket_id")?,
        conversation_id: row.try_get("conversation_id")?,
        customer_id: opt_text(row, "customer_id")?,
        status: parsed(row, "status", CaseStatus::parse)?,
        fields: CaseFields {
            case_type: enum_column(row, "case_type", CaseType::parse)?,
            reason: enum_column(row, "reason", CaseReason::parse)?,
            responsibility: enum_column(row, "responsibility", Responsibility::parse)?,
            order_number: opt_text(row, "order_number")?,
            items: opt_text(row, "items")?,
            refund_amount: opt_text(row, "refund_amount")?,
            tracking_number: opt_text(row, "tracking_number")?,
            evidence_requested: requested.split(',').filter(|s| !s.is_empty()).map(String::from).collect(),
            evidence: opt_text(row, "evidence")?,
            note: opt_text(row, "note")?,
        },
        drafted_by: row.try_get("drafted_by")?,
        submitted_by: opt_text(row, "submitted_by")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
        submitted_at: row.try_get::<Option<i64>, _>("submitted_at")?.map(rfc3339),
    })
}

/// Writes a case row: a new draft, or every field an agent edits of an existing draft (what
/// the router asked the customer for, `evidence_requested`, stays as drafted).
fn upsert(of: &CaseOf, fields: &CaseFields, drafted_by: &str, now: i64, overwrite: bool) -> Statement {
    // The router's form keeps its tail free of parameters: PostgreSQL's group commit merges
    // only such templates (store/batch/grouped.rs).
    let sql = if overwrite {
        "INSERT INTO cases (id, shop, ticket_id, conversation_id, customer_id, status, case_type, reason, responsibility, order_number, items, refund_amount, tracking_number, evidence_requested, evidence, note, drafted_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) \
         ON CONFLICT (ticket_id) DO UPDATE SET case_type = $6, reason = $7, responsibility = $8, order_number = $9, items = $10, \
         refund_amount = $11, tracking_number = $12, evidence = $14, note = $15, updated_at = $17 \
         WHERE cases.status = 'draft'"
    } else {
        "INSERT INTO cases (id, shop, ticket_id, conversation_id, customer_id, status, case_type, reason, responsibility, order_number, items, refund_amount, tracking_number, evidence_requested, evidence, note, drafted_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) \
         ON CONFLICT (ticket_id) DO UPDATE SET order_number = COALESCE(cases.order_number, excluded.order_number), \
         tracking_number = COALESCE(cases.tracking_number, excluded.tracking_number), updated_at = excluded.updated_at \
         WHERE cases.status = 'draft' AND ((cases.order_number IS NULL AND excluded.order_number IS NOT NULL) \
         OR (cases.tracking_number IS NULL AND excluded.tracking_number IS NOT NULL))"
    };
    let id = format!("case-{}", uuid::Uuid::now_v7());
    let requested = fields.evidence_requested.join(",");
    Statement {
        sql,
        params: params![
            id.as_str(),
            &of.shop,
            &of.ticket_id,
            &of.conversation_id,
            of.customer_id.as_deref(),
            fields.case_type.map(CaseType::as_str),
            fields.reason.map(CaseReason::as_str),
            fields.responsibility.map(Responsibility::as_str),
            fields.order_number.as_deref(),
            fields.items.as_deref(),
            fields.refund_amount.as_deref(),
            fields.tracking_number.as_deref(),
            requested.as_str(),
            fields.evidence.as_deref(),
            fields.note.as_deref(),
            drafted_by,
            now,
        ],
    }
}

/// The router's draft for the ticket an inbound message opened or joined; a draft case the
/// ticket already has (drafted earlier or edited by an agent) keeps its fields and only gets
/// the order or tracking number it still lacks, when a later message gives it.
pub(super) fn draft_statement(of: &CaseOf, case: &CaseFields, now: i64) -> Statement {
    upsert(of, case, "router", now, false)
}

async fn case_of_ticket(conn: &mut AnyConnection, ticket_id: &str) -> Result<Option<CaseRow>, StoreError> {
    let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE ticket_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ticket_id).fetch_optional(&mut *conn).await?;
    Ok(row.as_ref().map(case_from_row).transpose()?)
}

impl Store {
    /// The ticket's case, if it has one.
    pub(crate) async fn case_of_ticket(&self, ticket_id: &str) -> Result<Option<CaseRow>, StoreError> {
        case_of_ticket(&mut *self.pool().acquire().await?, ticket_id).await
    }

    /// Creates or updates the ticket's draft case with the agent's fields (every field as
    /// given: the form sends them all).
    pub(crate) async fn save_case(&self, of: CaseOf, fields: CaseFields, agent: &str) -> Result<CaseSaved, StoreError> {
        let agent = agent.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let now = now_ms();
                // Only a draft changes: a submission that committed meanwhile wins (the
                // condition is checked again on the locked row).
                if upsert(&of, &fields, &agent, now, true).execute(tx).await? == 0 {
                    return Ok(Tx::Rollback(CaseSaved::AlreadySubmitted));
                }
                insert_event(tx, &of.shop, EventKind::Ticket, &of.conversation_id, Some(&of.ticket_id), "{}", now).await?;
                let saved = case_of_ticket(tx, &of.ticket_id).await?.ok_or_else(|| StoreError::Corrupt("saved case vanished".into()))?;
                Ok(Tx::Commit(CaseSaved::Saved(Box::new(saved))))
            })
        })
        .await
    }

    /// Submits the ticket's case when every required field is there, queueing the signed
    /// `case` event (when `payload` is given: the shop has a callback) in the same transaction.
    pub(crate) async fn submit_case(&self, of: CaseOf, agent: &str, payload: Option<CasePayload>) -> Result<CaseSubmitted, StoreError> {
        let agent = agent.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let Some(case) = case_of_ticket(tx, &of.ticket_id).await? else { return Ok(Tx::Rollback(CaseSubmitted::NoCase)) };
                if case.status == CaseStatus::Submitted {
                    return Ok(Tx::Rollback(CaseSubmitted::AlreadySubmitted));
                }
                let missing = case.fields.missing();
                if !missing.is_empty() {
                    return Ok(Tx::Rollback(CaseSubmitted::Incomplete(missing)));
                }
                let now = now_ms();
                // Submitted once: of two submissions at the same time only one finds the draft.
                let submitted = sqlx::query(
                    "UPDATE cases SET status = $4, submitted_by = $1, submitted_at = $2, updated_at = $2 WHERE id = $3 AND status = $5",
                )
                .bind(&agent)
                .bind(now)
                .bind(&case.id)
                .bind(CaseStatus::Submitted.as_str())
                .bind(CaseStatus::Draft.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if submitted == 0 {
                    return Ok(Tx::Rollback(CaseSubmitted::AlreadySubmitted));
                }
                let submitted =
                    case_of_ticket(tx, &of.ticket_id).await?.ok_or_else(|| StoreError::Corrupt("submitted case vanished".into()))?;
                if let Some(body) = payload {
                    let reply_of = ReplyOf { shop: &of.shop, ticket_id: &of.ticket_id, conversation_id: &of.conversation_id };
                    let id = uuid::Uuid::now_v7().to_string();
                    enqueue_reply(tx, &id, reply_of, &submitted.id, &body(&submitted), now).await?;
                }
                insert_event(tx, &of.shop, EventKind::Ticket, &of.conversation_id, Some(&of.ticket_id), "{}", now).await?;
                Ok(Tx::Commit(CaseSubmitted::Submitted(Box::new(submitted))))
            })
        })
        .await
    }

    /// A shop's cases created in `[from, to)` (Unix ms), optionally of one status, newest first.
    pub(crate) async fn cases(&self, shop: &str, from: i64, to: i64, status: Option<CaseStatus>) -> Result<Vec<CaseRow>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE shop = $1 AND created_at >= $2 AND created_at < $3 AND ($4 = '' OR status = $4) ORDER BY created_at DESC LIMIT 10000"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(shop)
            .bind(from)
            .bind(to)
            .bind(status.map_or("", CaseStatus::as_str))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(case_from_row).collect::<Result<_, _>>()?)
    }
}
