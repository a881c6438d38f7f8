//! Calls to Chatwoot's API from the Chatwoot outbox: `POST {base}/api/v1/accounts/{account}/
//! {path}` with the bot's `api_access_token`. Same retry budget and backoff as reply
//! deliveries; after the budget a call is `failed` and visible in `GET /v1/chatwoot/outbox`.
//! The address and token are read from the settings at each attempt (never stored), so a
//! corrected configuration applies to calls already queued.

use crate::config::ChatwootSettings;
use crate::store::chatwoot::Call;

/// POSTs one queued call to the shop's Chatwoot account as its agent bot.
pub(crate) async fn post_call(client: &reqwest::Client, chatwoot: &ChatwootSettings, call: &Call) -> Result<(), String> {
    client
        .post(format!("{}/{}", chatwoot.account_api(), call.path))
        .header("content-type", "application/json")
        .header("api_access_token", chatwoot.bot_token.expose())
        .body(call.body.clone())
        .send()
        .await
        // reqwest's error names the URL, never the token header.
        .map_err(|e| format!("request failed: {e}"))
        .and_then(|r| if r.status().is_success() { Ok(()) } else { Err(format!("Chatwoot answered {}", r.status())) })
}
