//! The service over real HTTP on a random port, against a fresh SQLite database — or a fresh
//! PostgreSQL database when `SMARTREPLY_TEST_POSTGRES_URL` is set (CI runs both).

// Helpers are `pub` for the test modules of this binary, not for a library surface.
#![allow(unreachable_pub)]

mod abuse;
mod agents;
mod cases;
mod chatwoot;
mod chatwoot_payloads;
mod chatwoot_retry;
mod conversation;
mod delivery;
mod errors;
mod followup;
mod frustration;
mod gaps;
mod harness;
mod helpers;
mod inbound;
mod operations;
mod quality;
mod scale_out;
mod under_load;
mod widget;
