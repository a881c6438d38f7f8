//! The calls smartreply makes into a Chatwoot conversation, built from plain values.

use serde_json::{Value, json};

/// A message the bot posts: public, or a private note only agents see.
pub(crate) fn outgoing(content: &str, private: bool) -> Value {
    json!({ "content": content, "message_type": "outgoing", "private": private, "content_type": "text" })
}
