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
//! - [`process`]: working stored events off into tickets and queued calls.
//! - [`canned`]: `smartreply chatwoot sync-canned`, quick phrases as canned responses.

pub mod canned;
pub mod event;
pub mod process;

pub use event::{Payload, Work, classify, conversation_id, display_id, message_id};

use tokio::sync::Notify;

/// Wakes the Chatwoot workers when there is new work (the poll interval is the fallback).
#[derive(Debug, Default)]
pub struct Wake {
    /// An event was stored.
    pub events: Notify,
    /// A call was queued.
    pub calls: Notify,
}
