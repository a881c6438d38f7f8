//! Deliver: the outbox worker. It takes due rows (leased, so replicas never send one row at the
//! same time), POSTs each reply to the shop's `callback_url` signed like inbound webhooks, and
//! on failure or timeout retries with exponential backoff and jitter; after the retry budget
//! the row is `failed` and visible in `GET /v1/outbox`, never silently dropped. All state is in
//! the table, so deliveries survive restarts.

pub mod chatwoot;

use crate::config::DeliverySettings;
use crate::http::AppState;
use crate::ingest::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::store::now_ms;
use crate::store::outbox::Delivery;
use rand::Rng;
use std::future::Future;
use std::time::Duration;

/// Retry delay after `attempts` failed attempts: exponential, capped, with jitter so that many
/// failed rows do not retry in lock-step ("equal jitter": half fixed, half random).
pub fn backoff(settings: &DeliverySettings, attempts: u32) -> Duration {
    let exp = settings.backoff_base_ms.saturating_mul(1u64 << attempts.saturating_sub(1).min(30));
    let capped = exp.min(settings.backoff_cap_ms).max(1);
    let half = capped / 2;
    Duration::from_millis(half + rand::rng().random_range(0..=capped - half))
}

/// Builds the HTTP client (installs the TLS crypto provider first).
pub fn client(settings: &DeliverySettings) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_millis(settings.timeout_ms))
        .user_agent(concat!("smartreply/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds with a crypto provider installed")
}

/// Runs until `shutdown` completes; an attempt in flight finishes first.
pub async fn run(state: AppState, shutdown: impl Future<Output = ()>) {
    let settings = state.settings().delivery.clone();
    let client = client(&settings);
    let poll = Duration::from_millis(settings.poll_interval_ms);
    // A lease outlives one attempt's timeout, so a live worker never loses its row.
    let lease_ms = (settings.timeout_ms as i64) * 2 + 5_000;
    tokio::pin!(shutdown);
    loop {
        loop {
            match state.store().claim_delivery(now_ms(), lease_ms).await {
                Ok(Some(delivery)) => attempt(&state, &client, &settings, delivery).await,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox read failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = state.outbox_wake().notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
    tracing::info!("delivery worker stopped");
}

async fn attempt(state: &AppState, client: &reqwest::Client, settings: &DeliverySettings, d: Delivery) {
    let Ok(shop) = state.shop(&d.shop) else { return };
    let result = match &shop.settings.callback_url {
        None => Err("the shop has no callback_url".to_string()),
        Some(url) => {
            let ts = jiff::Timestamp::now().as_second();
            let signature = sign(shop.settings.webhook_secret.expose(), ts, d.payload.as_bytes());
            client
                .post(url)
                .header("content-type", "application/json")
                .header(TIMESTAMP_HEADER, ts.to_string())
                .header(SIGNATURE_HEADER, signature)
                .body(d.payload.clone())
                .send()
                .await
                .map_err(|e| {
                    crate::redact::error_about(
                        url,
                        &format!("request to {} failed: {}", crate::redact::url(url), error_chain(&e.without_url())),
                    )
                })
                .and_then(|r| if r.status().is_success() { Ok(()) } else { Err(format!("receiver answered {}", r.status())) })
        }
    };
    let now = now_ms();
    let outcome = match result {
        Ok(()) => {
            metrics::counter!("smartreply_deliveries_total", "outcome" => "delivered").increment(1);
            tracing::info!(delivery = %d.id, shop = %d.shop, attempts = d.attempts, "reply delivered");
            state.store().delivered(&d.id, now).await
        }
        Err(error) => {
            let give_up = d.attempts >= i64::from(settings.max_attempts);
            let next = now + backoff(settings, d.attempts as u32).as_millis() as i64;
            metrics::counter!("smartreply_deliveries_total", "outcome" => if give_up { "failed" } else { "retry" }).increment(1);
            if give_up {
                tracing::error!(delivery = %d.id, shop = %d.shop, attempts = d.attempts, %error, "delivery failed for good");
            } else {
                tracing::warn!(delivery = %d.id, shop = %d.shop, attempts = d.attempts, %error, "delivery failed; will retry");
            }
            state.store().delivery_failed(&d.id, &error, next, give_up).await
        }
    };
    if let Err(e) = outcome {
        tracing::error!(delivery = %d.id, error = %e, "could not record the delivery outcome; the lease will expire and it is retried");
    }
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
        let s =
            DeliverySettings { timeout_ms: 1000, max_attempts: 10, backoff_base_ms: 1000, backoff_cap_ms: 60_000, poll_interval_ms: 100 };
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
}
