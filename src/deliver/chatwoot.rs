//! Calls to Chatwoot's API from the Chatwoot outbox: `POST {base}/api/v1/accounts/{account}/
//! {path}` with the bot's `api_access_token`. Same retry budget and backoff as reply
//! deliveries; after the budget a call is `failed` and visible in `GET /v1/chatwoot/outbox`.
//! The address and token are read from the settings at each attempt (never stored), so a
//! corrected configuration applies to calls already queued.

use super::{backoff, client};
use crate::config::DeliverySettings;
use crate::http::AppState;
use crate::store::chatwoot::Call;
use crate::store::now_ms;
use std::future::Future;
use std::time::Duration;

/// Runs until `shutdown` completes; a call in flight finishes first.
pub async fn run(state: AppState, shutdown: impl Future<Output = ()>) {
    let settings = state.settings().delivery.clone();
    let client = client(&settings);
    let poll = Duration::from_millis(settings.poll_interval_ms);
    let lease_ms = (settings.timeout_ms as i64) * 2 + 5_000;
    tokio::pin!(shutdown);
    loop {
        loop {
            match state.store().chatwoot_call_claim(now_ms(), lease_ms).await {
                Ok(Some(call)) => attempt(&state, &client, &settings, call).await,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "chatwoot outbox read failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = state.chatwoot_wake().calls.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
    tracing::info!("chatwoot delivery worker stopped");
}

async fn attempt(state: &AppState, client: &reqwest::Client, settings: &DeliverySettings, call: Call) {
    let chatwoot = state.shop(&call.shop).ok().and_then(|s| s.settings.chatwoot.clone());
    let result = match chatwoot {
        None => Err("the shop has no Chatwoot agent bot configured".to_string()),
        Some(cw) => client
            .post(format!("{}/{}", cw.account_api(), call.path))
            .header("content-type", "application/json")
            .header("api_access_token", cw.bot_token.expose())
            .body(call.body.clone())
            .send()
            .await
            // reqwest's error names the URL, never the token header.
            .map_err(|e| format!("request failed: {e}"))
            .and_then(|r| if r.status().is_success() { Ok(()) } else { Err(format!("Chatwoot answered {}", r.status())) }),
    };
    let now = now_ms();
    let outcome = match result {
        Ok(()) => {
            metrics::counter!("smartreply_chatwoot_calls_total", "action" => call.action.clone(), "outcome" => "delivered").increment(1);
            tracing::info!(call = %call.id, shop = %call.shop, action = %call.action, attempts = call.attempts, "chatwoot call delivered");
            state.store().chatwoot_call_delivered(&call.id, now).await
        }
        Err(error) => {
            let give_up = call.attempts >= i64::from(settings.max_attempts);
            let next = now + backoff(settings, call.attempts as u32).as_millis() as i64;
            let outcome = if give_up { "failed" } else { "retry" };
            metrics::counter!("smartreply_chatwoot_calls_total", "action" => call.action.clone(), "outcome" => outcome).increment(1);
            if give_up {
                tracing::error!(call = %call.id, shop = %call.shop, action = %call.action, attempts = call.attempts, %error, "chatwoot call failed for good");
            } else {
                tracing::warn!(call = %call.id, shop = %call.shop, action = %call.action, attempts = call.attempts, %error, "chatwoot call failed; will retry");
            }
            state.store().chatwoot_call_failed(&call.id, &error, next, give_up).await
        }
    };
    if let Err(e) = outcome {
        tracing::error!(call = %call.id, error = %e, "could not record a chatwoot call's outcome; the lease will expire and it is retried");
    }
}
