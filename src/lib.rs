//! smartreply: the first line of a shop's customer-service team.
//!
//! A customer message flows one way through the crate:
//!
//! ```text
//! ingest ─▶ understand ─▶ retrieve ─▶ decide ─▶ answer | escalate ─▶ deliver ─▶ learn
//! (http,    (normalise,    (tantivy    (policy,   (store: message,     (signed     (draft
//!  widget)   intent,        FAQ index)  drafts)    decision, ticket)    outbox)     outcomes)
//!            sentiment,
//!            extract)
//! ```
//!
//! # Layout
//! - [`domain`]: value types every stage shares.
//! - [`knowledge`]: a shop's knowledge base (FAQ, intent examples, drafts, quick phrases), loaded and checked.
//! - [`understand`]: normalisation, language, intent classifier, sentiment scorer, extraction.
//! - [`retrieve`]: the tantivy FAQ index with Chinese segmentation and English stemming.
//! - [`decide`]: the routing policy, draft replies and acknowledgements.
//! - [`engine`]: one loaded shop (knowledge base + models + index) and the pipeline over them.
//! - [`eval`]: the offline evaluation of the pipeline (`smartreply eval`).
//! - [`chatwoot`]: the Chatwoot agent bot (events in, replies, notes and hand-offs out).
//! - [`config`]: typed settings from defaults, file and environment.
//! - [`ingest`]: parsing and verifying inbound messages (signatures, limits, rate limits).
//! - [`store`]: durable storage (SQLite or PostgreSQL).
//! - [`sla`]: ticket deadlines.
//! - [`http`]: the HTTP API, each resource owning its routes.
//! - [`deliver`]: the outbox worker that delivers agent replies to shops.
//! - [`learn`]: what agents do with drafts, fed back into the numbers.
//! - [`loadgen`]: the load generator (`smartreply loadgen`).
//! - [`redact`]: what logs may show of customer text and URLs.
//! - [`console`]: the agent console, chat widget and demo storefront pages.
//! - [`server`]: start-up and graceful shutdown.

pub mod chatwoot;
pub mod config;
pub mod console;
pub mod decide;
pub mod deliver;
pub mod domain;
pub mod engine;
pub mod eval;
pub mod http;
pub mod ingest;
pub mod knowledge;
pub mod learn;
pub mod loadgen;
pub mod redact;
pub mod retrieve;
pub mod server;
pub mod sla;
pub mod store;
pub mod understand;
