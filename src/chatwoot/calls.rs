//! The calls smartreply makes into a Chatwoot conversation, built from plain values.

use super::event::conversation_id;
use crate::domain::ChatwootAction;
use crate::store::chatwoot::NewCall;
use serde_json::{Value, json};

/// The call posting an agent's console reply into its Chatwoot conversation (through the bot:
/// Chatwoot shows the bot as its sender).
pub(crate) fn agent_reply_call(shop: &str, message_id: &str, display_id: u64, text: &str) -> NewCall {
    NewCall {
        id: format!("{shop}:{message_id}:agent_reply"),
        conversation_id: conversation_id(display_id),
        action: ChatwootAction::AgentReply,
        path: format!("conversations/{display_id}/messages"),
        body: outgoing(text, false).to_string(),
    }
}

/// A message the bot posts: public, or a private note only agents see.
pub(crate) fn outgoing(content: &str, private: bool) -> Value {
    json!({ "content": content, "message_type": "outgoing", "private": private, "content_type": "text" })
}
