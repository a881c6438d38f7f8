//! The inbound transaction: a customer message, the router's decision, the bot's reply, the
//! ticket (opened, joined or re-scored), the inspection sample and a drafted case are committed
//! together, or not at all.

use super::batch::{Batch, MessageKey, Param, SEQ_PLACEHOLDER, Statement, params};
use super::cases::{CaseOf, draft_statement};
use super::events::{EventKind, event_statement, rfc3339};
use super::messages::{MessageRow, json, message_event};
use super::quality::{Why, sample_statement};
use super::rescore::{TicketPlan, rescore_statement};
use super::{Store, StoreError, Tx, now_ms, opt_text};
use crate::aftersales::CaseFields;
use crate::domain::{DecisionKind, EscalationReason, MessageRole, ReplyKind, SentimentLabel, TicketStatus};
use sqlx::AnyConnection;

/// One inbound message with everything decided about it.
#[derive(Debug, Clone)]
pub(crate) struct InboundRecord {
    /// Shop.
    pub shop: String,
    /// The customer's message id (idempotency key).
    pub message_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Customer.
    pub customer_id: String,
    /// Text.
    pub text: String,
    /// `webhook`, `widget`, or what the storefront said.
    pub channel: Option<String>,
    /// Bot reply text (answer or acknowledgement).
    pub reply_text: String,
    /// Answer or acknowledgement.
    pub reply_kind: ReplyKind,
    /// Answered or escalated.
    pub decision: DecisionKind,
    /// Why it was escalated (none when answered).
    pub reason: Option<EscalationReason>,
    /// Intent.
    pub intent: String,
    /// Intent confidence.
    pub intent_confidence: f64,
    /// Sentiment label.
    pub sentiment: SentimentLabel,
    /// Sentiment score.
    pub sentiment_score: f64,
    /// FAQ entry of an answer.
    pub faq_id: Option<String>,
    /// Model versions, JSON.
    pub models: String,
    /// The full decision, JSON (audit).
    pub detail: String,
    /// Pipeline time.
    pub latency_us: i64,
    /// The ticket, when escalated.
    pub ticket: Option<TicketPlan>,
    /// The exact HTTP answer, replayed for a repeated message id.
    pub response: String,
    /// The after-sales case the router drafted for the ticket, if any.
    pub case: Option<CaseFields>,
    /// The bot's answer is in the inspection sample.
    pub inspect_answer: bool,
}

/// Outcome of recording an inbound message.
#[derive(Debug)]
pub(crate) enum Recorded {
    /// Committed.
    Stored,
    /// The message id was already stored: its original answer.
    Duplicate(String),
    /// Another message of the conversation opened a ticket at the same moment: route again.
    TicketRace,
}

impl Store {
    /// Commits an inbound message, its decision, the bot's reply and the ticket together.
    ///
    /// SQLite: one job of the writer (grouped with other writes). PostgreSQL: one statement
    /// shared with the other messages waiting to be written (`committer.rs`), which is its own
    /// transaction; alone, or when the message may re-score its ticket, that message's
    /// statement (after reading the ticket locked, in a transaction, for a re-score).
    pub(crate) async fn record_inbound(&self, rec: &InboundRecord) -> Result<Recorded, StoreError> {
        if self.writer.is_some() {
            let rec = rec.clone();
            return self.write_all_or_nothing(move |tx| Box::pin(async move { record_inbound(tx, &rec).await })).await;
        }
        let now = now_ms();
        let stored = if let Some(TicketPlan::Join { id, rescore: Some(by) }) = &rec.ticket {
            let mut tx = self.pool().begin().await?;
            let rescore = rescore_statement(&mut tx, id, by, &preview(&rec.text), now).await?;
            let stored = inbound_batch(rec, now, true, rescore).execute_as_one(&mut tx).await;
            if stored.is_ok() {
                tx.commit().await?;
            }
            stored.map_err(StoreError::from)
        } else {
            let Some(committer) = &self.committer else { unreachable!("a PostgreSQL store starts its committer") };
            let owned = rec.clone();
            committer.commit(&rec.shop, &rec.conversation_id, Box::new(move |returning| inbound_batch(&owned, now, returning, None))).await
        };
        match stored {
            Ok(()) => Ok(Recorded::Stored),
            // PostgreSQL reports a conflict once the first copy committed: it is readable.
            Err(StoreError::Database(e)) => conflict(&mut *self.pool().acquire().await?, rec, e).await,
            Err(e) => Err(e),
        }
    }
}

/// The unique keys an inbound write can meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Violation {
    /// The customer's message id was stored before: a repeat.
    MessageId,
    /// Another message of the conversation opened a ticket first.
    OpenTicket,
}

/// Which unique key `e` violated, if it is such an error: PostgreSQL names the constraint,
/// SQLite the columns.
fn violation(e: &sqlx::Error) -> Option<Violation> {
    let sqlx::Error::Database(d) = e else { return None };
    if !d.is_unique_violation() {
        return None;
    }
    match d.constraint() {
        Some("messages_shop_message_id_key") => Some(Violation::MessageId),
        Some("tickets_one_unresolved") => Some(Violation::OpenTicket),
        Some(_) => None,
        None if d.message().contains("messages.shop, messages.message_id") => Some(Violation::MessageId),
        None if d.message().contains("tickets.shop, tickets.conversation_id") => Some(Violation::OpenTicket),
        None => None,
    }
}

/// SQLite's inbound job, on the writer's connection: one call to SQLite's worker thread
/// whatever the decision (two when a later message may re-score its ticket, whose current
/// state is read first), which keeps the job all-or-nothing by itself.
async fn record_inbound(tx: &mut AnyConnection, rec: &InboundRecord) -> Result<Tx<Recorded>, StoreError> {
    let now = now_ms();
    let rescore = match &rec.ticket {
        Some(TicketPlan::Join { id, rescore: Some(by) }) => rescore_statement(tx, id, by, &preview(&rec.text), now).await?,
        _ => None,
    };
    match inbound_batch(rec, now, false, rescore).execute_all_or_nothing(tx).await {
        Ok(()) => Ok(Tx::Commit(Recorded::Stored)),
        // Read on this connection: the first copy may be in the same uncommitted batch.
        Err(e) => conflict(tx, rec, e).await.map(Tx::Rollback),
    }
}

/// What a failed inbound write means: a repeat of a stored message (its stored answer), a race
/// with another message of the conversation that opened a ticket first (route again), or an
/// error. The stored answer is looked for whichever key was met first: the clauses of
/// PostgreSQL's one statement run in no promised order, so a repeat that would also open a
/// second ticket may report the ticket.
async fn conflict(conn: &mut AnyConnection, rec: &InboundRecord, e: sqlx::Error) -> Result<Recorded, StoreError> {
    let race = match violation(&e) {
        Some(Violation::MessageId) => false,
        Some(Violation::OpenTicket) if matches!(rec.ticket, Some(TicketPlan::New { .. })) => true,
        _ => return Err(e.into()),
    };
    match find_response(conn, &rec.shop, &rec.message_id).await? {
        Some(stored) => Ok(Recorded::Duplicate(stored)),
        None if race => Ok(Recorded::TicketRace),
        None => Ok(Recorded::Duplicate(String::new())),
    }
}

/// The inbound write, in order: the customer's message and the bot's reply (one `INSERT`,
/// `returning` their sequence numbers when asked), the customer message's event and decision,
/// the ticket, the bot message's event, the inspection sample, the drafted case and the ticket
/// event (events keep this order in their sequence numbers). `rescore` is the joined ticket's re-score when the
/// message is stronger; it also carries the join's own update, so no statement changes the
/// ticket twice.
fn inbound_batch(rec: &InboundRecord, now: i64, returning: bool, rescore: Option<Statement>) -> Batch {
    let ticket_id = rec.ticket.as_ref().map(TicketPlan::id);
    let bot_id = format!("bot-{}", uuid::Uuid::now_v7());
    let key = |role, message_id: &str| MessageKey { role, shop: rec.shop.clone(), message_id: message_id.into() };
    let (customer_key, bot_key) = (key(MessageRole::Customer, &rec.message_id), key(MessageRole::Bot, &bot_id));
    let mut batch = Batch::default();
    batch.push(both_messages(rec, &bot_id, now, returning));
    let customer = MessageRow {
        id: rec.message_id.clone(),
        conversation_id: rec.conversation_id.clone(),
        role: MessageRole::Customer,
        text: rec.text.clone(),
        kind: None,
        author: None,
        ticket_id: ticket_id.map(Into::into),
        created_at: rfc3339(now),
        seq: SEQ_PLACEHOLDER,
    };
    let bot = MessageRow {
        id: bot_id.clone(),
        role: MessageRole::Bot,
        text: rec.reply_text.clone(),
        kind: Some(rec.reply_kind.into()),
        ..customer.clone()
    };
    batch.push(message_event(&rec.shop, &customer, Param::MessageJson(json(&customer), customer_key.clone()), now));
    batch.push(decision_statement(rec, Param::SeqOf(customer_key), now));
    if let Some(statement) = ticket_statement(rec, now, rescore) {
        batch.push(statement);
    }
    batch.push(message_event(&rec.shop, &bot, Param::MessageJson(json(&bot), bot_key), now));
    if rec.inspect_answer && rec.faq_id.is_some() {
        batch.push(sample_statement(&rec.shop, &bot_id, None, None, Why::Sampled, now));
    }
    if let Some(id) = ticket_id {
        if let Some(case) = &rec.case {
            let of = CaseOf {
                ticket_id: id.into(),
                shop: rec.shop.clone(),
                conversation_id: rec.conversation_id.clone(),
                customer_id: Some(rec.customer_id.clone()),
            };
            batch.push(draft_statement(&of, case, now));
        }
        batch.push(event_statement(&rec.shop, EventKind::Ticket, &rec.conversation_id, Some(id), "{}", now));
    }
    batch
}

/// The customer's message and the bot's reply (answer or acknowledgement, linked to the FAQ
/// entry it sent: that keeps the same answer from being sent twice), customer first, with
/// `RETURNING` when asked (PostgreSQL's one-statement form takes the sequence numbers from
/// it). A repeated customer message id fails the insert.
fn both_messages(rec: &InboundRecord, bot_id: &str, now: i64, returning: bool) -> Statement {
    macro_rules! insert {
        () => {
            "INSERT INTO messages (id, shop, message_id, conversation_id, role, kind, author, text, ticket_id, created_at, \
             customer_id, channel, response, faq_id, in_reply_to) VALUES \
             ($1, $2, $3, $4, 'customer', NULL, NULL, $5, $6, $7, $8, $9, $10, NULL, NULL), \
             ($11, $2, $12, $4, 'bot', $13, NULL, $14, $6, $7, NULL, NULL, NULL, $15, $16)"
        };
    }
    let ticket_id = rec.ticket.as_ref().map(TicketPlan::id);
    Statement {
        sql: if returning { concat!(insert!(), " RETURNING seq, role") } else { insert!() },
        params: params![
            uuid::Uuid::now_v7().to_string().as_str(),
            &rec.shop,
            &rec.message_id,
            &rec.conversation_id,
            &rec.text,
            ticket_id,
            now,
            &rec.customer_id,
            rec.channel.as_deref(),
            &rec.response,
            uuid::Uuid::now_v7().to_string().as_str(),
            bot_id,
            rec.reply_kind.as_str(),
            &rec.reply_text,
            rec.faq_id.as_deref(),
            rec.faq_id.as_ref().map(|_| rec.message_id.as_str()),
        ],
    }
}

/// The router's decision on the customer message stored as `seq`.
fn decision_statement(rec: &InboundRecord, seq: Param, now: i64) -> Statement {
    Statement {
        sql: "INSERT INTO decisions (message_seq, shop, decision, reason, intent, intent_confidence, sentiment, sentiment_score, faq_id, models, detail, latency_us, created_at) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        params: params![
            seq,
            &rec.shop,
            rec.decision.as_str(),
            rec.reason.map(EscalationReason::as_str),
            &rec.intent,
            rec.intent_confidence,
            rec.sentiment.as_str(),
            rec.sentiment_score,
            rec.faq_id.as_deref(),
            &rec.models,
            &rec.detail,
            rec.latency_us,
            now,
        ],
    }
}

/// Opens the record's new ticket, or adds the message to the one it joins (`rescore`, when the
/// message re-scores it, does both).
fn ticket_statement(rec: &InboundRecord, now: i64, rescore: Option<Statement>) -> Option<Statement> {
    let preview = preview(&rec.text);
    match &rec.ticket {
        Some(TicketPlan::New { id, priority, reason, reading, draft, due_at, resolution_due_at }) => Some(Statement {
            sql: "INSERT INTO tickets (id, shop, conversation_id, customer_id, status, priority, priority_rank, reason, intent, intent_confidence, sentiment, sentiment_score, lang, faq_id, draft, extracted, last_message, created_at, updated_at, due_at, resolution_due_at) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18, $19, $20)",
            params: params![
                id,
                &rec.shop,
                &rec.conversation_id,
                &rec.customer_id,
                TicketStatus::Open.as_str(),
                priority.as_str(),
                priority.rank(),
                reason.as_str(),
                &reading.intent,
                reading.intent_confidence,
                reading.sentiment.as_str(),
                reading.sentiment_score,
                reading.lang.code(),
                reading.faq_id.as_deref(),
                draft,
                &reading.extracted,
                preview.as_str(),
                now,
                *due_at,
                *resolution_due_at,
            ],
        }),
        Some(TicketPlan::Join { id, .. }) => Some(rescore.unwrap_or_else(|| Statement {
            sql: "UPDATE tickets SET last_message = $1, updated_at = $2 WHERE id = $3",
            params: params![preview.as_str(), now, id],
        })),
        None => None,
    }
}

/// The ticket list's preview of a message.
fn preview(text: &str) -> String {
    text.chars().take(120).collect()
}

async fn find_response(conn: &mut AnyConnection, shop: &str, message_id: &str) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT response FROM messages WHERE shop = $1 AND message_id = $2 AND role = 'customer'")
        .bind(shop)
        .bind(message_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => opt_text(&r, "response")?,
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::{InboundRecord, Recorded};
    use crate::domain::{DecisionKind, EscalationReason as R, Lang, MessageRole, Priority as P, ReplyKind, SentimentLabel};
    use crate::store::Store;
    use crate::store::messages::INBOUND_STATE_SQL;
    use crate::store::rescore::{Reading, TicketPlan};
    use sqlx::{Connection, Row};

    fn escalated(message_id: &str, ticket: &str) -> InboundRecord {
        InboundRecord {
            shop: "demo".into(),
            message_id: message_id.into(),
            conversation_id: "c-1".into(),
            customer_id: "u-1".into(),
            text: "转人工".into(),
            channel: None,
            reply_text: "稍等".into(),
            reply_kind: ReplyKind::Acknowledgement,
            decision: DecisionKind::Escalated,
            reason: Some(R::HumanRequested),
            intent: "human_agent".into(),
            intent_confidence: 0.9,
            sentiment: SentimentLabel::Neutral,
            sentiment_score: 0.0,
            faq_id: None,
            models: "{}".into(),
            detail: "{}".into(),
            latency_us: 1,
            ticket: Some(TicketPlan::New {
                id: ticket.into(),
                priority: P::Normal,
                reason: R::HumanRequested,
                reading: Reading {
                    intent: "human_agent".into(),
                    intent_confidence: 0.9,
                    sentiment: SentimentLabel::Neutral,
                    sentiment_score: 0.0,
                    lang: Lang::Zh,
                    faq_id: None,
                    extracted: "{}".into(),
                },
                draft: "您好".into(),
                due_at: 0,
                resolution_due_at: None,
            }),
            response: format!("answer to {message_id}"),
            case: None,
            inspect_answer: false,
        }
    }

    /// A repeated message id answers with the stored reply and stores nothing; a second new
    /// ticket for the conversation is a race to route again; neither leaves a row behind.
    async fn repeats_and_ticket_races_are_told_apart(store: &Store) {
        assert!(matches!(store.record_inbound(&escalated("m-1", "t-1")).await.unwrap(), Recorded::Stored));
        match store.record_inbound(&escalated("m-1", "t-2")).await.unwrap() {
            Recorded::Duplicate(stored) => assert_eq!(stored, "answer to m-1"),
            other => panic!("a repeat: {other:?}"),
        }
        assert!(matches!(store.record_inbound(&escalated("m-2", "t-3")).await.unwrap(), Recorded::TicketRace));
        let messages = store.conversation("demo", "c-1").await.unwrap();
        assert_eq!(messages.iter().map(|m| m.role).collect::<Vec<_>>(), [MessageRole::Customer, MessageRole::Bot]);
        store.events_settled().await;
        assert_eq!(store.last_event("demo").await.unwrap(), store.events_after("demo", None, 0).await.unwrap().last().unwrap().seq);
        assert_eq!(store.events_after("demo", None, 0).await.unwrap().len(), 3, "two message events and one ticket event");
    }

    #[tokio::test]
    async fn a_widget_stream_reads_its_conversation_by_an_index_of_conversations() {
        let (store, _dir) = super::super::testing::fresh_sqlite(16).await;
        let sql = format!("EXPLAIN QUERY PLAN {}", crate::store::events::CONVERSATION_EVENTS_SQL);
        let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind("demo")
            .bind("c-1")
            .bind(0_i64)
            .bind(i64::MAX)
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        assert!(plan.iter().any(|d| d.contains("events_conversation_seq (shop=? AND conversation_id=? AND seq>?)")), "{plan:?}");
    }

    #[tokio::test]
    async fn on_sqlite_repeats_and_ticket_races_are_told_apart() {
        let (store, _dir) = super::super::testing::fresh_sqlite(16).await;
        repeats_and_ticket_races_are_told_apart(&store).await;
    }

    #[tokio::test]
    #[ignore = "PostgreSQL only: set SMARTREPLY_TEST_POSTGRES_URL and pass --include-ignored"]
    async fn on_postgres_repeats_and_ticket_races_are_told_apart() {
        let (store, url) = super::super::testing::fresh_postgres().await;
        repeats_and_ticket_races_are_told_apart(&store).await;
        drop(store);
        super::super::testing::drop_postgres(&url).await;
    }

    /// `EXPLAIN` of `sql` prepared as `signature` (a name and its parameter types) and run
    /// with `values`, line by line.
    async fn generic_plan(conn: &mut sqlx::PgConnection, signature: &str, sql: &str, values: &str) -> Vec<String> {
        let name = signature.split('(').next().unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PREPARE {signature} AS {sql}"))).execute(&mut *conn).await.unwrap();
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("EXPLAIN EXECUTE {name}{values}"))).fetch_all(&mut *conn).await.unwrap();
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    }

    #[tokio::test]
    #[ignore = "PostgreSQL only: set SMARTREPLY_TEST_POSTGRES_URL and pass --include-ignored"]
    async fn reads_by_conversation_are_planned_inside_it_on_a_fresh_database() {
        let (_store, url) = super::super::testing::fresh_postgres().await;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        // The plan a prepared statement settles on, for any values, while the tables are empty.
        sqlx::raw_sql("SET plan_cache_mode = force_generic_plan").execute(&mut conn).await.unwrap();
        let plan = generic_plan(&mut conn, "inbound_state(text, text, text)", INBOUND_STATE_SQL, "('demo', 'c-1', 'm-1')").await;
        let conditions: Vec<&String> = plan.iter().filter(|l| l.contains("Index Cond")).collect();
        assert_eq!(conditions.len(), 3, "every part uses an index: {plan:#?}");
        // `(shop = $1)` alone would walk every message of the shop.
        assert!(conditions.iter().all(|c| c.contains(" AND ")), "every index is entered by two columns: {plan:#?}");
        let plan = generic_plan(
            &mut conn,
            "conversation_events(text, text, bigint, bigint)",
            crate::store::events::CONVERSATION_EVENTS_SQL,
            "('demo', 'c-1', 0, 9)",
        )
        .await;
        assert!(
            plan.iter().any(|l| l.contains("Index Cond") && l.contains("conversation_id")),
            "a widget's stream reads its conversation: {plan:#?}"
        );
        drop(conn);
        super::super::testing::drop_postgres(&url).await;
    }

    /// The records of one sitting: answers (one in the inspection sample), new tickets (one
    /// with a drafted case), a message joining its conversation's open ticket, and a second
    /// message of one conversation (held for the next group).
    fn sitting(tag: &str) -> Vec<InboundRecord> {
        let mut records = Vec::new();
        for n in 0..12 {
            let mut rec = escalated(&format!("{tag}-m{n}"), &format!("{tag}-t{n}"));
            rec.conversation_id = format!("{tag}-c{n}");
            rec.text = format!("第{n}条消息 \"quoted\" ✓");
            match n % 3 {
                0 => {
                    rec.ticket = None;
                    rec.decision = DecisionKind::Answered;
                    rec.reason = None;
                    rec.reply_kind = ReplyKind::Answer;
                    rec.faq_id = Some("shipping-free".into());
                    rec.intent_confidence = 0.1 + f64::from(n) / 7.0;
                    rec.inspect_answer = n == 3;
                }
                1 if n == 4 => rec.case = Some(crate::aftersales::CaseFields { order_number: Some("E2026".into()), ..Default::default() }),
                _ => {}
            }
            records.push(rec);
        }
        // A later message of conversation 1: it joins ticket t1 (written in an earlier group).
        let mut join = escalated(&format!("{tag}-m1b"), &format!("{tag}-t1"));
        join.conversation_id = format!("{tag}-c1");
        join.ticket = Some(TicketPlan::Join { id: format!("{tag}-t1"), rescore: None });
        records.push(join);
        records
    }

    /// What a database holds for `tag`'s conversations, without generated ids and with each
    /// message event's sequence number checked against its message and then left out.
    async fn stored(store: &Store, tag: &str) -> Vec<String> {
        let like = format!("{tag}-%");
        let mut out = Vec::new();
        let seqs: std::collections::HashMap<i64, String> =
            sqlx::query("SELECT seq, CASE WHEN role = 'bot' THEN 'bot-of-' || COALESCE(in_reply_to, '?') ELSE message_id END AS id FROM messages WHERE conversation_id LIKE $1")
                .bind(&like)
                .fetch_all(store.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<i64, _>("seq"), r.get::<String, _>("id")))
                .collect();
        for r in sqlx::query(
            "SELECT conversation_id, role, message_id, kind, text, ticket_id, faq_id, in_reply_to, response, channel, customer_id FROM messages \
             WHERE conversation_id LIKE $1 ORDER BY conversation_id, seq",
        )
        .bind(&like)
        .fetch_all(store.pool())
        .await
        .unwrap()
        {
            let role: String = r.get("role");
            let id = if role == "bot" { "bot".to_string() } else { r.get::<String, _>("message_id") };
            let cols: Vec<Option<String>> = ["kind", "text", "ticket_id", "faq_id", "in_reply_to", "response", "channel", "customer_id"]
                .iter()
                .map(|c| r.get::<Option<String>, _>(*c))
                .collect();
            out.push(format!("message {} {role} {id} {cols:?}", r.get::<String, _>("conversation_id")));
        }
        for r in sqlx::query(
            "SELECT conversation_id, kind, ticket_id, payload FROM events WHERE conversation_id LIKE $1 ORDER BY conversation_id, seq",
        )
        .bind(&like)
        .fetch_all(store.pool())
        .await
        .unwrap()
        {
            let mut payload: serde_json::Value = serde_json::from_str(&r.get::<String, _>("payload")).unwrap();
            if let Some(seq) = payload.get("seq").and_then(serde_json::Value::as_i64) {
                let id = payload["id"].as_str().unwrap().to_string();
                let of = &seqs[&seq];
                assert!(of == &id || of.starts_with("bot-of-"), "the event of {id} carries the sequence number of {of}");
                payload["seq"] = 0.into();
                payload["created_at"] = "when".into();
                if payload["role"] == "bot" {
                    payload["id"] = "bot".into();
                }
            }
            let ticket: Option<String> = r.get("ticket_id");
            out.push(format!("event {} {} {ticket:?} {payload}", r.get::<String, _>("conversation_id"), r.get::<String, _>("kind")));
        }
        let tables = [
            "SELECT m.message_id || ' ' || d.decision || ' ' || d.intent || ' ' || d.intent_confidence || ' ' || COALESCE(d.faq_id, '-') || ' ' || d.sentiment_score \
             FROM decisions d JOIN messages m ON m.seq = d.message_seq WHERE m.conversation_id LIKE $1",
            "SELECT id || ' ' || conversation_id || ' ' || status || ' ' || priority || ' ' || last_message || ' ' || draft FROM tickets WHERE conversation_id LIKE $1",
            "SELECT ticket_id || ' ' || status || ' ' || COALESCE(order_number, '-') || ' ' || drafted_by FROM cases WHERE conversation_id LIKE $1",
            "SELECT i.why || ' ' || i.author_type || ' ' || m.in_reply_to FROM inspections i JOIN messages m ON m.message_id = i.message_id WHERE m.conversation_id LIKE $1",
        ];
        for sql in tables {
            let mut rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(&like).fetch_all(store.pool()).await.unwrap();
            rows.sort();
            out.extend(rows);
        }
        out
    }

    /// Messages waiting together are written as one statement, and what that stores is what
    /// writing them one by one stores: every row, every value, events in order.
    #[tokio::test]
    #[ignore = "PostgreSQL only: set SMARTREPLY_TEST_POSTGRES_URL and pass --include-ignored"]
    async fn on_postgres_messages_waiting_together_are_stored_as_one_by_one() {
        let (store, url) = super::super::testing::fresh_postgres().await;
        let one_by_one = sitting("a");
        for rec in &one_by_one {
            assert!(matches!(store.record_inbound(rec).await.unwrap(), Recorded::Stored), "{}", rec.message_id);
        }
        let committer = store.committer.clone().expect("PostgreSQL groups inbound writes");
        let singles = committer.counts().single.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(singles, one_by_one.len() as u64, "one at a time, nothing to group");

        // The same records at once, but for the late message, which needs its ticket first.
        let mut together = sitting("b");
        let join = together.pop().unwrap();
        let outcomes = futures_util::future::join_all(together.iter().map(|rec| store.record_inbound(rec))).await;
        assert!(outcomes.iter().all(|o| matches!(o, Ok(Recorded::Stored))), "{outcomes:?}");
        assert!(matches!(store.record_inbound(&join).await.unwrap(), Recorded::Stored));
        let counts = committer.counts();
        assert!(counts.groups.load(std::sync::atomic::Ordering::Relaxed) >= 1, "a group was written");
        // The test's runtime has one thread: every record is queued before the task runs.
        assert_eq!(counts.grouped.load(std::sync::atomic::Ordering::Relaxed), together.len() as u64, "all went in one group");

        let rename = |line: &String| line.replace("b-", "a-");
        assert_eq!(stored(&store, "b").await.iter().map(rename).collect::<Vec<_>>(), stored(&store, "a").await);
        drop(store);
        super::super::testing::drop_postgres(&url).await;
    }

    /// The statements every inbound message runs are never planned for their values: under
    /// load that planning was over a third of PostgreSQL's time on them (`lanes.rs`).
    #[tokio::test]
    #[ignore = "PostgreSQL only: set SMARTREPLY_TEST_POSTGRES_URL and pass --include-ignored"]
    async fn on_postgres_the_inbound_statements_are_not_planned_per_message() {
        let (store, url) = super::super::testing::fresh_postgres().await;
        // One lane, so every statement below runs on the connection inspected after.
        let lanes = std::sync::Arc::new(super::super::lanes::Lanes::new(1));
        let committer = super::super::committer::Committer::start(store.pool().clone(), lanes.clone(), 64);
        let store = Store { lanes, committer: Some(committer), ..store };
        // More executions than the five custom plans PostgreSQL makes before it may switch.
        for round in 0..3 {
            let mut together = sitting(&format!("r{round}"));
            together.pop(); // the late message, which needs its ticket first
            for rec in &together {
                store.inbound_state(&rec.shop, Some(&rec.message_id), &rec.conversation_id).await.unwrap();
            }
            let outcomes = futures_util::future::join_all(together.iter().map(|rec| store.record_inbound(rec))).await;
            assert!(outcomes.iter().all(|o| matches!(o, Ok(Recorded::Stored))), "{outcomes:?}");
            for rec in sitting(&format!("s{round}")).iter().take(8) {
                assert!(matches!(store.record_inbound(rec).await.unwrap(), Recorded::Stored));
            }
        }
        let mut lane = store.lanes.get(store.pool()).await.unwrap();
        let plans = sqlx::query("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
            .fetch_all(lane.conn())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<String, _>(0).chars().take(40).collect::<String>(), r.get::<i64, _>(1), r.get::<i64, _>(2)))
            .collect::<Vec<_>>();
        lane.done(&Ok::<(), sqlx::Error>(()));
        let read = plans.iter().filter(|p| p.0.starts_with("SELECT CAST(0")).map(|p| p.1 + p.2).sum::<i64>();
        assert!(read >= 36, "the read ran on the inspected connection: {plans:#?}");
        assert!(plans.iter().any(|p| p.0.starts_with("WITH m AS") && p.1 + p.2 >= 3), "so did grouped writes: {plans:#?}");
        assert!(plans.iter().all(|p| p.2 == 0), "no statement was planned for its values: {plans:#?}");
        drop(store);
        super::super::testing::drop_postgres(&url).await;
    }

    /// A group that meets a unique key is written again one by one: the repeat gets its stored
    /// answer, the ticket race its retry, every other message is stored.
    #[tokio::test]
    #[ignore = "PostgreSQL only: set SMARTREPLY_TEST_POSTGRES_URL and pass --include-ignored"]
    async fn on_postgres_a_repeat_in_a_group_is_answered_and_the_rest_stored() {
        let (store, url) = super::super::testing::fresh_postgres().await;
        assert!(matches!(store.record_inbound(&escalated("m-1", "t-1")).await.unwrap(), Recorded::Stored));
        let mut records = sitting("g");
        records.push(escalated("m-1", "t-9"));
        let mut race = escalated("m-2", "t-10");
        race.conversation_id = "c-1".into();
        records.push(race);
        let outcomes = futures_util::future::join_all(records.iter().map(|rec| store.record_inbound(rec))).await;
        let n = records.len();
        for (rec, outcome) in records.iter().zip(&outcomes).take(n - 2) {
            assert!(matches!(outcome, Ok(Recorded::Stored)), "{}: {outcome:?}", rec.message_id);
        }
        assert!(matches!(&outcomes[n - 2], Ok(Recorded::Duplicate(a)) if a == "answer to m-1"), "{:?}", outcomes[n - 2]);
        assert!(matches!(&outcomes[n - 1], Ok(Recorded::TicketRace)), "{:?}", outcomes[n - 1]);
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE role = 'customer'").fetch_one(store.pool()).await.unwrap();
        assert_eq!(stored, (n - 1) as i64, "the first m-1 and the sitting's messages");
        drop(store);
        super::super::testing::drop_postgres(&url).await;
    }
}
