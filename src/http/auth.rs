//! Agent authentication: `Authorization: Bearer <token>` as an extractor. An agent sees only
//! the shops in its list; anything of another shop answers 404, as if it did not exist.

use super::{ApiError, AppState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The calling agent.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Name (recorded with every action).
    pub name: String,
    /// Shops the agent may see.
    pub shops: Vec<String>,
}

impl Agent {
    /// 404 unless the agent works for `shop`.
    pub fn require_shop(&self, shop: &str) -> Result<(), ApiError> {
        if self.shops.iter().any(|s| s == shop) { Ok(()) } else { Err(ApiError::NotFound(format!("no shop {shop:?}"))) }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

/// Equal strings compared in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
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
            .map(|a| Agent { name: a.name.clone(), shops: a.shops.clone() })
            .ok_or_else(|| ApiError::Unauthorized("unknown agent token".into()))
    }
}
