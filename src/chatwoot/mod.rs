//! Chatwoot agent bot: smartreply inside a help desk support teams already use.
//!
//! ```text
//! Chatwoot ─signed event─▶ http/chatwoot (verify, classify, store, 200)
//!                              │ chatwoot_events (durable)
//!                              ▼
//!              worker: the same inbound use case as webhook messages (route, store, ticket)
//!                              │ chatwoot_outbox (durable, ordered per conversation)
//!                              ▼
//!              deliver/chatwoot: reply | acknowledgement → private note with the draft → hand-off
//! ```
//!
//! Chatwoot waits 5 s for the bot and treats a failed delivery as a hand-off, so the endpoint
//! answers as soon as the event is stored; routing and the calls back happen afterwards.
//!
//! # Layout
//! - [`event`]: what an event asks for, decided from the payload alone.
//! - [`calls`]: the calls into a Chatwoot conversation (replies, notes, hand-offs).
//! - [`canned`]: `smartreply chatwoot sync-canned`, quick phrases as canned responses.
//!
//! The worker that turns stored events into tickets and calls is a use case of the
//! application layer (`app/chatwoot.rs`).

pub(crate) mod calls;
pub mod canned;
pub(crate) mod event;

pub(crate) use event::{Payload, classify, display_id};

use tokio::sync::Notify;

/// Wakes the Chatwoot workers when there is new work (the poll interval is the fallback).
#[derive(Debug, Default)]
pub(crate) struct Wake {
    /// An event was stored.
    pub(crate) events: Notify,
    /// A call was queued.
    pub(crate) calls: Notify,
}
