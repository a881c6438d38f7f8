//! Deliver: how replies leave the service. The payload of an agent's reply, the signed POST to
//! the shop's `callback_url` (and the call to Chatwoot's API, [`chatwoot`]), and the retry
//! schedule: exponential backoff with jitter. The workers that take due rows from the outbox
//! (leased, so replicas never send one row at the same time), record each outcome and give up
//! after the retry budget (the row is then `failed` and visible in `GET /v1/outbox`, never
//! silently dropped) are in the application layer (`app/delivery.rs`). All state is in the
//! tables, so deliveries survive restarts.

pub(crate) mod chatwoot;

use crate::config::DeliverySettings;
use crate::ingest::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::store::OutboxBody;
use rand::Rng;
use std::time::Duration;

/// The body delivered to the shop's callback for an agent's reply (contract: "Outbound"),
/// built once the store knows the reply's message id, the message it answers and its time.
pub(crate) fn reply_payload(shop: &str, conversation_id: &str, text: &str, agent: &str) -> OutboxBody {
    let (shop, conversation_id, text, agent) = (shop.to_string(), conversation_id.to_string(), text.to_string(), agent.to_string());
    Box::new(move |message_id: &str, in_reply_to: Option<&str>, now_ms: i64| {
        serde_json::json!({
            "event": "reply",
            "shop": shop,
            "conversation_id": conversation_id,
            "message_id": message_id,
            "in_reply_to": in_reply_to,
            "text": text,
            "author": { "type": "agent", "name": agent },
            "sent_at": crate::store::rfc3339(now_ms),
        })
        .to_string()
    })
}

/// The `survey` event (version 1) for a shop's callback: the shop's page renders it and sends
/// the rating back signed (`docs/aftersales.md`).
pub(crate) fn survey_payload(shop: &str, survey_id: &str, conversation_id: &str, ticket_id: &str, prompt: &serde_json::Value) -> String {
    serde_json::json!({
        "event": "survey",
        "version": 1,
        "message_id": survey_id,
        "survey_id": survey_id,
        "shop": shop,
        "conversation_id": conversation_id,
        "ticket_id": ticket_id,
        "scale": { "min": 1, "max": 5 },
        "prompt": prompt,
        "rate_path": format!("/v1/shops/{shop}/surveys/{survey_id}"),
        "sent_at": crate::store::rfc3339(crate::store::now_ms()),
    })
    .to_string()
}

/// The `case` event (version 1): a submitted after-sales case for the shop's system.
pub(crate) fn case_payload() -> crate::store::CasePayload {
    Box::new(|case: &crate::store::CaseRow| {
        let f = &case.fields;
        serde_json::json!({
            "event": "case",
            "version": 1,
            "message_id": case.id,
            "case_id": case.id,
            "shop": case.shop,
            "ticket_id": case.ticket_id,
            "conversation_id": case.conversation_id,
            "customer_id": case.customer_id,
            "type": f.case_type,
            "reason": f.reason,
            "responsibility": f.responsibility,
            "order_number": f.order_number,
            "items": f.items,
            "refund_amount": f.refund_amount,
            "tracking_number": f.tracking_number,
            "evidence_requested": f.evidence_requested,
            "evidence": f.evidence,
            "note": f.note,
            "submitted_by": case.submitted_by,
            "submitted_at": case.submitted_at,
        })
        .to_string()
    })
}

/// Retry delay after `attempts` failed attempts: exponential, capped, with jitter so that many
/// failed rows do not retry in lock-step ("equal jitter": half fixed, half random).
pub(crate) fn backoff(settings: &DeliverySettings, attempts: u32) -> Duration {
    jittered_backoff(settings.backoff_base_ms, settings.backoff_cap_ms, attempts)
}

/// [`backoff`] for a Chatwoot call: capped at `chatwoot_fast_backoff_cap_ms` for the first
/// `chatwoot_fast_retries` retries, then at `chatwoot_backoff_cap_ms` (neither above
/// `backoff_cap_ms`). The customer is in a live chat: once Chatwoot is back, the reply must
/// follow within seconds, not after a wait that grew with the outage.
pub(crate) fn chatwoot_backoff(settings: &DeliverySettings, attempts: u32) -> Duration {
    let cap =
        if attempts <= settings.chatwoot_fast_retries { settings.chatwoot_fast_backoff_cap_ms } else { settings.chatwoot_backoff_cap_ms };
    jittered_backoff(settings.backoff_base_ms, cap.min(settings.backoff_cap_ms), attempts)
}

/// Whether a Chatwoot call that failed `attempts` times is given up: the fast retries come on
/// top of `max_attempts`, so the budget lasts about as long as a reply delivery's.
pub(crate) fn chatwoot_gives_up(settings: &DeliverySettings, attempts: u32) -> bool {
    attempts >= settings.max_attempts.saturating_add(settings.chatwoot_fast_retries)
}

fn jittered_backoff(base_ms: u64, cap_ms: u64, attempts: u32) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << attempts.saturating_sub(1).min(30));
    let capped = exp.min(cap_ms).max(1);
    let half = capped / 2;
    Duration::from_millis(half + rand::rng().random_range(0..=capped - half))
}

/// Builds the HTTP client (installs the TLS crypto provider first).
pub(crate) fn client(settings: &DeliverySettings) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_millis(settings.timeout_ms))
        .user_agent(concat!("smartreply/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds with a crypto provider installed")
}

/// POSTs one reply's payload to the shop's callback, signed with the shop's secret like inbound
/// webhooks. The error is for operators: the URL's secrets are redacted.
pub(crate) async fn post_reply(client: &reqwest::Client, url: &str, secret: &str, payload: &str) -> Result<(), String> {
    let ts = jiff::Timestamp::now().as_second();
    let signature = sign(secret, ts, payload.as_bytes());
    client
        .post(url)
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(payload.to_string())
        .send()
        .await
        .map_err(|e| {
            crate::redact::error_about(url, &format!("request to {} failed: {}", crate::redact::url(url), error_chain(&e.without_url())))
        })
        .and_then(|r| if r.status().is_success() { Ok(()) } else { Err(format!("receiver answered {}", r.status())) })
}

/// An error and its causes ("error sending request: connection refused"), for operators.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_stays_within_the_cap_and_jitters() {
        let s = DeliverySettings { max_attempts: 10, backoff_cap_ms: 60_000, ..DeliverySettings::default() };
        let first = backoff(&s, 1);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(1000), "{first:?}");
        let fifth = backoff(&s, 5);
        assert!(fifth >= Duration::from_millis(8000) && fifth <= Duration::from_millis(16_000), "{fifth:?}");
        for _ in 0..50 {
            assert!(backoff(&s, 30) <= Duration::from_millis(60_000));
        }
        let samples: std::collections::HashSet<_> = (0..20).map(|_| backoff(&s, 8)).collect();
        assert!(samples.len() > 1, "jitter varies the delay");
    }

    #[test]
    fn chatwoot_retries_wait_seconds_during_an_outage_and_a_minute_at_most_after() {
        let s = DeliverySettings::default();
        // After 30 s of outage (about 8 failed attempts) the next try is seconds away; the
        // reply backoff would wait 64-128 s here.
        for attempts in 1..=s.chatwoot_fast_retries {
            assert!(chatwoot_backoff(&s, attempts) <= Duration::from_millis(5_000), "{attempts}");
        }
        assert!(backoff(&s, 8) >= Duration::from_secs(64));
        for attempts in s.chatwoot_fast_retries + 1..60 {
            let wait = chatwoot_backoff(&s, attempts);
            assert!(wait >= Duration::from_secs(30) && wait <= Duration::from_secs(60), "{attempts}: {wait:?}");
        }
        // Never above the general cap (tests set it low).
        let low = DeliverySettings { backoff_cap_ms: 200, ..DeliverySettings::default() };
        assert!(chatwoot_backoff(&low, 3) <= Duration::from_millis(200));
        assert!(!chatwoot_gives_up(&s, s.max_attempts) && chatwoot_gives_up(&s, s.max_attempts + s.chatwoot_fast_retries));
    }
}
