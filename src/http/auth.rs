//! Agent authentication: `Authorization: Bearer <token>` as an extractor. An agent sees only
//! the shops in its list; anything of another shop answers 404, as if it did not exist.

use super::{ApiError, AppState, find_shop};
use crate::app::{Agent, Shop};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// A shop the agent works for, or the contract's 404 — the same answer as a shop that does
/// not exist.
pub(super) fn agents_shop<'a>(state: &'a AppState, agent: &Agent, shop: &str) -> Result<&'a Shop, ApiError> {
    if !agent.works_for(shop) {
        return Err(ApiError::no_shop(shop));
    }
    find_shop(state, shop)
}

/// The bearer token of a request, if any.
pub(super) fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

/// Equal strings compared in time independent of where they differ.
pub(super) fn constant_time_eq(a: &str, b: &str) -> bool {
    // Comparing MACs of both sides hides the length and the position of the first difference.
    let tag = |s: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"smartreply-token-compare").expect("any key length");
        mac.update(s.as_bytes());
        mac.finalize().into_bytes()
    };
    tag(a) == tag(b)
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        state
            .settings()
            .agents
            .iter()
            .find(|a| constant_time_eq(a.token.expose(), token))
            .map(|a| Agent { name: a.name.clone(), shops: a.shops.clone(), roles: a.roles.clone() })
            .ok_or_else(|| ApiError::Unauthorized("unknown agent token".into()))
    }
}
