//! Live event streams (server-sent events): the agent console's (`GET /v1/events`) and the
//! chat widget's (`GET /v1/widget/{shop}/events`). Each stream reads the store's `events`
//! table after a cursor: woken at once by this replica's commits and, on PostgreSQL, whenever
//! the event horizon moves (`store/horizon.rs`: no stream reads past an event that may still
//! commit, on this replica or another); polling every 2 s besides. `Last-Event-ID` resumes.

use super::auth::agents_shop;
use super::error::{Path, Query};
use super::{ApiError, AppState};
use crate::app::Agent;
use crate::app::{EventKind, StoredEvent, views};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

/// How often a stream looks for commits of other replicas.
const POLL: Duration = Duration::from_secs(2);

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/events", get(agent_events)).route("/v1/widget/{shop}/events", get(widget_events))
}

#[derive(Deserialize)]
struct EventsQuery {
    shop: Option<String>,
    visitor_id: Option<String>,
    after: Option<i64>,
}

/// Which events a stream carries.
#[derive(Clone)]
enum Audience {
    /// Ticket changes and messages of conversations with a ticket.
    Agents,
    /// Messages of one conversation.
    Visitor(String),
}

fn resume_from(headers: &HeaderMap, after: Option<i64>) -> Option<i64> {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()).or(after)
}

async fn agent_events(
    State(state): State<AppState>,
    agent: Agent,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let shop = q.shop.ok_or_else(|| ApiError::BadRequest("shop is required".into()))?;
    let found = agents_shop(&state, &agent, &shop)?;
    let cursor = match resume_from(&headers, q.after) {
        Some(c) => c,
        None => views::last_event(&state, found).await?,
    };
    Ok(stream_events(state, shop, Audience::Agents, cursor))
}

async fn widget_events(
    State(state): State<AppState>,
    Path(shop): Path<String>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<axum::response::Response, ApiError> {
    let visitor = q.visitor_id.ok_or_else(|| ApiError::BadRequest("visitor_id is required".into()))?;
    let cors = super::widget::authorize(&state, &shop, &headers, Some(&visitor))?;
    let cursor = resume_from(&headers, q.after).unwrap_or(0);
    let conversation = crate::app::inbound::widget_conversation_id(&visitor);
    let sse = stream_events(state, shop, Audience::Visitor(conversation), cursor);
    Ok(super::widget::with_cors(axum::response::IntoResponse::into_response(sse), cors))
}

struct Cursor {
    state: AppState,
    closing: tokio::sync::watch::Receiver<bool>,
    shop: String,
    audience: Audience,
    after: i64,
    ready: VecDeque<Event>,
}

fn stream_events(state: AppState, shop: String, audience: Audience, after: i64) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let closing = state.closing();
    let start = Cursor { state, closing, shop, audience, after, ready: VecDeque::new() };
    let events = stream::unfold(start, |mut c| async move {
        loop {
            if *c.closing.borrow() {
                // The server is shutting down: end the stream so the connection can close.
                return None;
            }
            if let Some(event) = c.ready.pop_front() {
                return Some((Ok(event), c));
            }
            // Registered before reading, so a commit between the read and the wait still wakes us.
            let notified = c.state.events().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let conversation = match &c.audience {
                Audience::Visitor(conv) => Some(conv.as_str()),
                Audience::Agents => None,
            };
            match views::events_after(&c.state, &c.shop, conversation, c.after).await {
                Ok(rows) if !rows.is_empty() => {
                    for row in rows {
                        c.after = row.seq;
                        if let Some(event) = render(&c, &row).await {
                            c.ready.push_back(event);
                        }
                    }
                }
                Ok(_) => {
                    tokio::select! {
                        _ = tokio::time::timeout(POLL, notified) => {}
                        _ = c.state.store().event_horizon_moved() => {}
                        _ = c.closing.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event stream read failed; retrying");
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("keep-alive"))
}

async fn render(c: &Cursor, row: &StoredEvent) -> Option<Event> {
    let event = || Event::default().id(row.seq.to_string()).event(row.kind.as_str());
    match (&c.audience, row.kind) {
        (Audience::Visitor(_), EventKind::Message | EventKind::Survey) => Some(event().data(&row.payload)),
        (Audience::Agents, EventKind::Message) if row.ticket_id.is_some() => Some(event().data(&row.payload)),
        (Audience::Agents, EventKind::Ticket) => {
            // Always the ticket's current state, however many changes happened since.
            let ticket = views::ticket_now(&c.state, row.ticket_id.as_deref()?).await.ok()??;
            let data = serde_json::to_string(&ticket).ok()?;
            Some(event().data(data))
        }
        (Audience::Visitor(_), EventKind::Ticket) | (Audience::Agents, EventKind::Message | EventKind::Survey) => None,
    }
}
