//! The delivery workers: the reply outbox (agent replies to the shop's callback) and the
//! Chatwoot outbox (calls to Chatwoot's API). Each takes due rows (leased, so replicas never
//! send one row at the same time), attempts them through [`crate::deliver`], and records the
//! outcome: delivered, retried with backoff, or failed for good after the retry budget.

use super::AppState;
use super::drain::{Queue, drain};
use crate::config::DeliverySettings;
use crate::deliver::{backoff, client};
use crate::store::chatwoot::Call;
use crate::store::now_ms;
use crate::store::outbox::Delivery;
use crate::store::queue::Failure;
use std::future::Future;
use std::time::Duration;
use tokio::sync::Notify;

/// The reply outbox's worker. Runs until `shutdown` completes; an attempt in flight finishes
/// first.
pub(crate) async fn run(state: AppState, shutdown: impl Future<Output = ()>) {
    let settings = state.settings().delivery.clone();
    let client = client(&settings);
    let (state, client, settings) = (&state, &client, &settings);
    let claim = move |now, lease| state.store().claim_next::<Delivery>(now, lease);
    let send = move |d| attempt(state, client, settings, d);
    drain(queue("reply outbox", settings, state.outbox_wake()), shutdown, claim, send).await;
}

/// The Chatwoot outbox's worker. Runs until `shutdown` completes; a call in flight finishes
/// first.
pub(crate) async fn run_chatwoot(state: AppState, shutdown: impl Future<Output = ()>) {
    let settings = state.settings().delivery.clone();
    let client = client(&settings);
    let (state, client, settings) = (&state, &client, &settings);
    let claim = move |now, lease| state.store().claim_next::<Call>(now, lease);
    let send = move |call| attempt_chatwoot(state, client, settings, call);
    drain(queue("chatwoot outbox", settings, &state.chatwoot_wake().calls), shutdown, claim, send).await;
}

/// An outbox as its worker drains it.
fn queue<'a>(name: &'a str, settings: &DeliverySettings, wake: &'a Notify) -> Queue<'a> {
    // A lease outlives one attempt's timeout, so a live worker never loses its row.
    let lease_ms = (settings.timeout_ms as i64) * 2 + 5_000;
    Queue { name, lease_ms, poll: Duration::from_millis(settings.poll_interval_ms), wake }
}

async fn attempt(state: &AppState, client: &reqwest::Client, settings: &DeliverySettings, d: Delivery) {
    let Some(shop) = state.shop(&d.shop) else { return };
    let result = match &shop.settings.callback_url {
        None => Err("the shop has no callback_url".to_string()),
        Some(url) => crate::deliver::post_reply(client, url, shop.settings.webhook_secret.expose(), &d.payload).await,
    };
    let now = now_ms();
    let outcome = match result {
        Ok(()) => {
            metrics::counter!("smartreply_deliveries_total", "outcome" => "delivered").increment(1);
            tracing::info!(delivery = %d.id, shop = %d.shop, attempts = d.attempts, "reply delivered");
            state.store().settle_done(&d, now).await
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
            state.store().settle_failed(&d, Failure { error: &error, retry_at: next, give_up }).await
        }
    };
    if let Err(e) = outcome {
        tracing::error!(delivery = %d.id, error = %e, "could not record the delivery outcome; the lease will expire and it is retried");
    }
}

async fn attempt_chatwoot(state: &AppState, client: &reqwest::Client, settings: &DeliverySettings, call: Call) {
    let chatwoot = state.shop(&call.shop).and_then(|s| s.settings.chatwoot.clone());
    let result = match chatwoot {
        None => Err("the shop has no Chatwoot agent bot configured".to_string()),
        Some(cw) => crate::deliver::chatwoot::post_call(client, &cw, &call).await,
    };
    let now = now_ms();
    let outcome = match result {
        Ok(()) => {
            metrics::counter!("smartreply_chatwoot_calls_total", "action" => call.action.as_str(), "outcome" => "delivered").increment(1);
            tracing::info!(call = %call.id, shop = %call.shop, action = %call.action, attempts = call.attempts, "chatwoot call delivered");
            state.store().settle_done(&call, now).await
        }
        Err(error) => {
            let attempts = u32::try_from(call.attempts).unwrap_or(u32::MAX);
            let give_up = crate::deliver::chatwoot_gives_up(settings, attempts);
            let next = now + crate::deliver::chatwoot_backoff(settings, attempts).as_millis() as i64;
            let outcome = if give_up { "failed" } else { "retry" };
            metrics::counter!("smartreply_chatwoot_calls_total", "action" => call.action.as_str(), "outcome" => outcome).increment(1);
            if give_up {
                tracing::error!(call = %call.id, shop = %call.shop, action = %call.action, attempts = call.attempts, %error, "chatwoot call failed for good");
            } else {
                tracing::warn!(call = %call.id, shop = %call.shop, action = %call.action, attempts = call.attempts, %error, "chatwoot call failed; will retry");
            }
            state.store().settle_failed(&call, Failure { error: &error, retry_at: next, give_up }).await
        }
    };
    if let Err(e) = outcome {
        tracing::error!(call = %call.id, error = %e, "could not record a chatwoot call's outcome; the lease will expire and it is retried");
    }
}
