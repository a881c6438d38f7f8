//! Keeping knowledge bases current: a shop whose files a support lead edited is reloaded
//! while the service runs, and the next message is routed with the new knowledge.

use super::AppState;
use std::future::Future;
use std::time::Duration;

/// Checks the shops' knowledge base folders every `knowledge.reload_seconds` until `stop`
/// completes (never when that is 0). A shop whose new files do not load keeps serving what it
/// had; the problems are logged and it is tried again after the next edit.
pub(crate) async fn watch(app: AppState, stop: impl Future<Output = ()>) {
    let seconds = app.settings().knowledge.reload_seconds;
    if seconds == 0 {
        return;
    }
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(Duration::from_secs(seconds)) => {}
        }
        let engine = std::sync::Arc::clone(app.engine());
        // Reloading trains and indexes: CPU work off the executor.
        let Ok(outcomes) = tokio::task::spawn_blocking(move || engine.reload_changed()).await else { continue };
        for (shop, outcome) in outcomes {
            match outcome {
                Ok(()) => {
                    metrics::counter!("smartreply_knowledge_reloads_total", "shop" => shop.clone()).increment(1);
                    tracing::info!(shop, "knowledge base reloaded");
                }
                Err(e) => tracing::error!(shop, error = %e, "knowledge base edit does not load; still serving the previous one"),
            }
        }
    }
}
