//! HMAC-SHA256 signatures of webhooks, both directions: `X-Smartreply-Signature:
//! sha256=<hex>` over `{timestamp}.{raw body}`, keyed with the shop's webhook secret, with
//! `X-Smartreply-Timestamp` within 300 s of the receiver's clock.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Header carrying the Unix timestamp.
pub const TIMESTAMP_HEADER: &str = "x-smartreply-timestamp";
/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-smartreply-signature";
/// Largest accepted clock difference, seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a signature was refused (a 401).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// A header is missing or unreadable.
    #[error("missing or malformed {0} header")]
    Missing(&'static str),
    /// The timestamp is outside the window.
    #[error("timestamp is more than 300 seconds away from the server's clock")]
    Stale,
    /// The signature does not match.
    #[error("signature does not match")]
    Mismatch,
}

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header value for a body.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, &timestamp.to_string(), body).finalize().into_bytes()))
}

/// Checks the headers against the body, in constant time.
pub fn verify(secret: &str, timestamp: Option<&str>, signature: Option<&str>, body: &[u8], now: i64) -> Result<(), SignatureError> {
    verify_named(secret, timestamp, signature, body, now, ("X-Smartreply-Timestamp", "X-Smartreply-Signature"))
}

/// [`verify`] for a sender using the same scheme under other header names (Chatwoot's
/// `X-Chatwoot-Timestamp` / `X-Chatwoot-Signature`), so errors name the headers it sent.
pub fn verify_named(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
    (ts_header, sig_header): (&'static str, &'static str),
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing(ts_header))?;
    let ts: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Missing(ts_header))?;
    let hex_sig = signature.and_then(|s| s.trim().strip_prefix("sha256=")).ok_or(SignatureError::Missing(sig_header))?;
    let given = hex::decode(hex_sig).map_err(|_| SignatureError::Missing(sig_header))?;
    if (now - ts).abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    mac(secret, timestamp.trim(), body).verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_body_verifies() {
        let sig = sign("s3cret-key", 1_700_000_000, b"{}");
        assert!(sig.starts_with("sha256="));
        assert_eq!(verify("s3cret-key", Some("1700000000"), Some(&sig), b"{}", 1_700_000_100), Ok(()));
    }

    #[test]
    fn a_changed_body_or_key_fails() {
        let sig = sign("s3cret-key", 1_700_000_000, b"{}");
        assert_eq!(verify("s3cret-key", Some("1700000000"), Some(&sig), b"{ }", 1_700_000_000), Err(SignatureError::Mismatch));
        assert_eq!(verify("other-key", Some("1700000000"), Some(&sig), b"{}", 1_700_000_000), Err(SignatureError::Mismatch));
    }

    #[test]
    fn old_and_future_timestamps_fail() {
        let sig = sign("k", 1_700_000_000, b"x");
        assert_eq!(verify("k", Some("1700000000"), Some(&sig), b"x", 1_700_000_301), Err(SignatureError::Stale));
        assert_eq!(verify("k", Some("1700000000"), Some(&sig), b"x", 1_699_999_699), Err(SignatureError::Stale));
    }

    #[test]
    fn missing_headers_are_named() {
        assert_eq!(verify("k", None, Some("sha256=00"), b"x", 0), Err(SignatureError::Missing("X-Smartreply-Timestamp")));
        assert_eq!(verify("k", Some("0"), Some("md5=00"), b"x", 0), Err(SignatureError::Missing("X-Smartreply-Signature")));
    }
}
