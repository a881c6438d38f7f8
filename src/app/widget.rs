//! A chat-widget visitor: issued an id and a token the service can check without storage (an
//! HMAC under the shop's secret), within per-address and per-shop limits.

use super::inbound::widget_conversation_id;
use super::{AppState, Shop};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::Duration;

/// A new visitor of a shop's widget.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Visitor {
    /// Names the visitor in every later call.
    pub(crate) visitor_id: String,
    /// Proves the id was issued here.
    pub(crate) visitor_token: String,
    /// The visitor's conversation.
    pub(crate) conversation_id: String,
}

/// Issues a visitor id and token to a browser at `address`; the wait when the address or the
/// shop has asked for too many lately.
pub(crate) fn new_visitor(app: &AppState, shop: &Shop, address: &str) -> Result<Visitor, Duration> {
    let (per_address, per_shop) = app.visitor_limiters();
    per_address.check(&format!("{}/{address}", shop.id()))?;
    per_shop.check(shop.id())?;
    let visitor_id = uuid::Uuid::new_v4().simple().to_string();
    Ok(Visitor { visitor_token: visitor_token(shop, &visitor_id), conversation_id: widget_conversation_id(&visitor_id), visitor_id })
}

/// The token of a visitor id of the shop.
pub(crate) fn visitor_token(shop: &Shop, visitor_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(shop.settings.webhook_secret.expose().as_bytes()).expect("any key length");
    mac.update(b"widget-visitor:");
    mac.update(shop.id().as_bytes());
    mac.update(b":");
    mac.update(visitor_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
