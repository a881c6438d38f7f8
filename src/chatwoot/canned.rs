//! `smartreply chatwoot sync-canned`: the shop's quick phrases (`quick_phrases.toml`) as
//! Chatwoot canned responses, so agents type the same `/key` in Chatwoot as in the console.
//! Each phrase becomes `key` (Chinese) and `key-en` (English). Canned responses with other
//! short codes are the team's own and are left alone; nothing is deleted.

use crate::config::ChatwootSettings;
use crate::knowledge::QuickPhrase;
use serde_json::{Value, json};

/// What a sync changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Short codes created.
    pub created: Vec<String>,
    /// Short codes whose content was replaced.
    pub updated: Vec<String>,
    /// Short codes already up to date.
    pub unchanged: Vec<String>,
}

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Chatwoot could not be reached.
    #[error("cannot reach Chatwoot: {0}")]
    Request(#[from] reqwest::Error),
    /// Chatwoot refused a call (a bot token gets 401 here: use an administrator's token).
    #[error("Chatwoot answered {status} to {what}: {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Which call.
        what: String,
        /// Chatwoot's answer (bounded).
        body: String,
    },
}

/// The canned responses a shop's quick phrases make: `(short_code, content)`.
pub fn wanted(phrases: &[QuickPhrase]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in phrases {
        out.push((p.key.clone(), p.zh.trim().to_string()));
        out.push((format!("{}-en", p.key), p.en.trim().to_string()));
    }
    out
}

/// Creates and updates the canned responses of the account to match `phrases`. With `dry_run`
/// it only reports what it would change.
pub async fn sync(settings: &ChatwootSettings, phrases: &[QuickPhrase], dry_run: bool) -> Result<SyncReport, SyncError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(15)).build()?;
    let token = settings.admin_token.as_ref().unwrap_or(&settings.bot_token).expose().to_string();
    let base = format!("{}/canned_responses", settings.account_api());
    let existing = check(client.get(&base).header("api_access_token", &token).send().await?, "GET canned_responses").await?;
    // The index is a JSON array; some versions wrap lists in {"payload": [...]}.
    let existing = existing.get("payload").cloned().unwrap_or(existing);
    let existing: Vec<(u64, String, String)> = existing
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|c| {
                    Some((c["id"].as_u64()?, c["short_code"].as_str()?.to_string(), c["content"].as_str().unwrap_or_default().to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut report = SyncReport::default();
    for (code, content) in wanted(phrases) {
        let body = json!({ "canned_response": { "short_code": code, "content": content } });
        match existing.iter().find(|(_, c, _)| *c == code) {
            Some((_, _, current)) if current.trim() == content => report.unchanged.push(code),
            Some((id, _, _)) => {
                if !dry_run {
                    let url = format!("{base}/{id}");
                    check(
                        client.patch(&url).header("api_access_token", &token).json(&body).send().await?,
                        &format!("PATCH canned_responses/{id}"),
                    )
                    .await?;
                }
                report.updated.push(code);
            }
            None => {
                if !dry_run {
                    check(client.post(&base).header("api_access_token", &token).json(&body).send().await?, "POST canned_responses").await?;
                }
                report.created.push(code);
            }
        }
    }
    Ok(report)
}

async fn check(response: reqwest::Response, what: &str) -> Result<Value, SyncError> {
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        return Err(SyncError::Refused { status: status.as_u16(), what: what.into(), body: text.chars().take(300).collect() });
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}
