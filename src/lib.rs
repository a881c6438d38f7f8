//! smartreply: the first line of a shop's customer-service team.
//!
//! A customer message flows one way through the crate:
//!
//! ```text
//! http ─▶ app::inbound ─▶ engine: understand ─▶ retrieve ─▶ decide ─▶ store ─▶ answer | escalate
//! (extract,  (the use case:       (normalise,    (tantivy   (policy,  (message, decision,
//!  map)       limits, dedupe,       intent,        FAQ index) drafts)   ticket: one commit)
//!             orchestration)        sentiment,
//!                                   extract)
//! agent reply ─▶ app::tickets ─▶ store (message + outbox row) ─▶ app::delivery ─▶ deliver (signed POST)
//! ```
//!
//! # Layout
//! The pipeline core — pure functions of a message and a loaded shop:
//! - [`domain`]: value types every stage shares.
//! - [`aftersales`]: after-sales case types, reasons, responsibilities and required fields.
//! - [`quality`]: the inspection sample, the checklist and the weighted scorecard's arithmetic.
//! - [`knowledge`]: a shop's knowledge base (FAQ, intent examples, drafts, quick phrases), loaded and checked.
//! - [`understand`]: normalisation, the text analyzer, language, intent classifier, sentiment scorer, extraction.
//! - [`retrieve`]: the tantivy FAQ index (using `understand`'s analyzer) and the fusion with meaning.
//! - [`decide`]: the routing policy, draft replies and acknowledgements.
//! - [`engine`]: one loaded shop (knowledge base + models + index) and the pipeline over them.
//! - [`eval`]: the offline evaluation of the pipeline (`smartreply eval`); it returns values, the binary prints.
//!
//! The application and its edges:
//! - [`app`]: the application state, one `Shop` per configured shop, and the use cases (receive a
//!   message, claim / reply / resolve a ticket, the widget's message, the workers).
//! - `http`: the HTTP API, each resource owning its routes; handlers extract, call one `app`
//!   function and map its result; one JSON error contract.
//! - `store`: durable storage (SQLite or PostgreSQL), typed values in and out.
//! - `deliver`: the reply payload, signed delivery to shops and calls to Chatwoot, backoff.
//! - [`chatwoot`]: the Chatwoot agent bot's events and calls (its worker is in `app`).
//! - [`ingest`]: parsing and verifying inbound messages (signatures, limits, rate limiters).
//! - [`config`]: typed settings from defaults, file and environment.
//! - `sla`: ticket deadlines. [`learn`]: what agents do with drafts, fed back into the numbers, and
//!   gap mining by meaning (the knowledge loop, `docs/knowledge-loop.md`).
//! - [`loadgen`]: the load generator (`smartreply loadgen`).
//! - [`redact`]: what logs may show of customer text and URLs.
//! - `console`: the agent console, chat widget and demo storefront pages.
//! - [`server`]: start-up and graceful shutdown.
//!
//! # Dependency rules
//! The core (`domain`, `knowledge`, `understand`, `retrieve`, `decide`, `engine`) never imports
//! `app`, `http`, `store` or `deliver`; within it imports run one way, `understand` before
//! `retrieve` before `decide`. `app` orchestrates the core and the edges; `http` calls `app`;
//! `store`, `deliver` and `chatwoot` never import `app` or `http`. ARCHITECTURE.md has the
//! whole import graph.

pub mod aftersales;
pub mod app;
pub mod chatwoot;
pub mod config;
pub(crate) mod console;
pub mod decide;
pub(crate) mod deliver;
pub mod domain;
pub mod engine;
pub mod eval;
pub(crate) mod http;
pub mod ingest;
pub mod knowledge;
pub mod learn;
pub mod loadgen;
pub mod quality;
pub mod redact;
pub mod retrieve;
pub mod server;
pub(crate) mod sla;
pub(crate) mod store;
pub mod understand;
