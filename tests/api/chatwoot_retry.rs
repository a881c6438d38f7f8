//! Chatwoot calls after an outage: the customer waits in a live chat, so once Chatwoot answers
//! again the queued reply follows within seconds, whatever the outage cost in attempts.

use crate::chatwoot_payloads::*;
use crate::helpers::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn after_a_chatwoot_outage_the_reply_follows_within_seconds() {
    let chatwoot = FakeChatwoot::start().await;
    // The production schedule (1 s doubling, caps as shipped), not the harness's fast one.
    let tune: fn(&mut smartreply::config::Settings) = |s| {
        let defaults = smartreply::config::DeliverySettings::default();
        s.delivery = smartreply::config::DeliverySettings { poll_interval_ms: 50, ..defaults };
    };
    let opts = Options { chatwoot_url: Some(chatwoot.url.clone()), tune, ..Options::default() };
    let app = spawn_app_with(Database::fresh().await, opts).await;
    chatwoot.set_status(503);
    app.chatwoot_event(&customer_message(901, 31, "pending", "满多少包邮呀？"), "outage-1").await;
    // Five failed attempts, the fifth recorded (an attempt counts when it starts): with the
    // reply schedule the next would be 8-16 s away.
    let deadline = Instant::now() + Duration::from_secs(40);
    let (pending, wait) = loop {
        let rows = app.chatwoot_outbox("pending").await;
        let scheduled = rows.into_iter().filter(|r| r["attempts"].as_i64() >= Some(5)).find_map(|r| {
            let next: jiff::Timestamp = r["next_attempt_at"].as_str()?.parse().ok()?;
            let wait = next.duration_since(jiff::Timestamp::now());
            wait.is_positive().then_some((r, wait))
        });
        if let Some(found) = scheduled {
            break found;
        }
        assert!(Instant::now() < deadline, "five attempts did not happen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(wait <= jiff::SignedDuration::from_millis(5_500), "the next attempt is {wait:?} away: {pending}");
    chatwoot.set_status(200);
    let recovered = Instant::now();
    loop {
        if app.chatwoot_outbox("delivered").await.iter().any(|r| r["action"] == "reply") {
            break;
        }
        assert!(recovered.elapsed() < Duration::from_secs(7), "the reply waited more than seconds after Chatwoot was back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.finish().await;
    chatwoot.stop();
}
