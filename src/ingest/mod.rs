//! Ingest: what a message must pass before the router sees it — a valid HMAC signature within
//! the timestamp window, a well-formed body with bounded fields (parsed once into typed
//! values), and the shop's and customer's rate limits.

pub mod rate_limit;
pub mod signature;

use serde::Deserialize;

/// Longest message text, in characters (contract).
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest id (message, conversation, customer).
pub const MAX_ID_CHARS: usize = 200;

/// The body of `POST /v1/shops/{shop}/messages`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundBody {
    /// Idempotency key, unique per shop.
    pub message_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Customer.
    pub customer_id: String,
    /// The message.
    pub text: String,
    /// Optional channel name.
    #[serde(default)]
    pub channel: Option<String>,
    /// Optional RFC 3339 send time.
    #[serde(default)]
    pub sent_at: Option<String>,
    /// Optional free-form metadata.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// An inbound message that passed validation.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// Idempotency key.
    pub message_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Customer.
    pub customer_id: String,
    /// 1..=4000 characters, not blank.
    pub text: String,
    /// Channel.
    pub channel: Option<String>,
}

/// Why a body was refused (a 400 with this message).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct InvalidMessage(pub String);

fn check_id(field: &str, value: &str) -> Result<(), InvalidMessage> {
    if value.trim().is_empty() {
        return Err(InvalidMessage(format!("{field} must not be empty")));
    }
    if value.chars().count() > MAX_ID_CHARS {
        return Err(InvalidMessage(format!("{field} is longer than {MAX_ID_CHARS} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidMessage(format!("{field} contains control characters")));
    }
    Ok(())
}

impl InboundBody {
    /// Validates the fields' limits.
    pub fn parse(self) -> Result<InboundMessage, InvalidMessage> {
        check_id("message_id", &self.message_id)?;
        check_id("conversation_id", &self.conversation_id)?;
        check_id("customer_id", &self.customer_id)?;
        let chars = self.text.chars().count();
        if chars == 0 || self.text.trim().is_empty() {
            return Err(InvalidMessage("text must not be empty".into()));
        }
        if chars > MAX_TEXT_CHARS {
            return Err(InvalidMessage(format!("text has {chars} characters; at most {MAX_TEXT_CHARS} are allowed")));
        }
        if let Some(sent_at) = &self.sent_at {
            sent_at.parse::<jiff::Timestamp>().map_err(|_| InvalidMessage("sent_at must be an RFC 3339 timestamp".into()))?;
        }
        if let Some(meta) = &self.metadata
            && !meta.is_object()
        {
            return Err(InvalidMessage("metadata must be an object".into()));
        }
        if let Some(channel) = &self.channel {
            check_id("channel", channel)?;
        }
        Ok(InboundMessage {
            message_id: self.message_id,
            conversation_id: self.conversation_id,
            customer_id: self.customer_id,
            text: self.text,
            channel: self.channel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> InboundBody {
        serde_json::from_value(serde_json::json!({
            "message_id": "m1", "conversation_id": "c1", "customer_id": "u1", "text": text
        }))
        .unwrap()
    }

    #[test]
    fn a_normal_message_parses() {
        assert_eq!(body("退款多久到账").parse().unwrap().text, "退款多久到账");
    }

    #[test]
    fn empty_blank_and_oversize_texts_are_refused() {
        assert!(body("").parse().is_err());
        assert!(body("   ").parse().is_err());
        assert!(body(&"字".repeat(MAX_TEXT_CHARS)).parse().is_ok());
        let err = body(&"字".repeat(MAX_TEXT_CHARS + 1)).parse().unwrap_err();
        assert!(err.0.contains("4001 characters"), "{err}");
    }

    #[test]
    fn unknown_fields_and_bad_timestamps_are_refused() {
        assert!(
            serde_json::from_value::<InboundBody>(serde_json::json!({
                "message_id": "m", "conversation_id": "c", "customer_id": "u", "text": "t", "colour": 1
            }))
            .is_err()
        );
        let mut b = body("hi");
        b.sent_at = Some("yesterday".into());
        assert!(b.parse().is_err());
    }
}
