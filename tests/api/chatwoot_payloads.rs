//! Chatwoot agent-bot event payloads, in Chatwoot's own format.
//!
//! Source: chatwoot/chatwoot `develop` at 1e33bfd553369b58b9cfb7858d7e7c7539f23bdc (version
//! 4.16.2 + 6 commits, 2026-07-28), as checked in `shared/docs/chatwoot.md`, and the files
//! themselves as stored for this project:
//! - `app/listeners/agent_bot_listener.rb`: the payload is the object's `webhook_data` merged
//!   with `event` (the listener method's name); conversation events carry the conversation at
//!   the top level (no `conversation` key).
//! - `app/models/message.rb` `Message#webhook_data`: `id`, `content`, `created_at` (ISO with
//!   milliseconds), `message_type` and `content_type` as strings, `private`,
//!   `content_attributes`, `source_id`, `sender` (its `webhook_data`), `inbox {id,name}`,
//!   `conversation` (its `webhook_data`), `account {id,name}`.
//! - `app/models/agent_bot.rb` `AgentBot#webhook_data`: `{id, name, type: "agent_bot"}`; a
//!   user (agent) has `type: "user"`; a contact sender has no `type` (4.16).
//! - `app/presenters/conversations/event_data_presenter.rb` `push_data` (the conversation's
//!   `webhook_data`): `id` is the display id, `messages[]` holds the last public
//!   non-activity message with an integer `message_type` and epoch `created_at`, integer
//!   timestamps (0 when unset), `updated_at` a float.

use serde_json::{Value, json};

/// The customer of every test conversation (a contact's `webhook_data`: no `type` key).
pub fn contact() -> Value {
    json!({ "id": 5, "name": "李雷", "avatar": "", "phone_number": "+8613800138000", "email": null, "identifier": null })
}

/// An agent's `webhook_data`.
pub fn agent() -> Value {
    json!({ "id": 3, "name": "Alice Wang", "email": "alice@shop.example", "type": "user" })
}

/// The bot's own `AgentBot#webhook_data`.
pub fn bot() -> Value {
    json!({ "id": 1, "name": "smartreply", "type": "agent_bot" })
}

/// A conversation's `webhook_data` (`Conversations::EventDataPresenter#push_data`).
pub fn conversation(display_id: u64, status: &str, last_message: &str) -> Value {
    json!({
        "additional_attributes": { "browser": { "browser_name": "Chrome", "platform_name": "macOS" }, "referer": "https://shop.example/lamps" },
        "can_reply": true,
        "channel": "Channel::WebWidget",
        "contact_inbox": { "id": 40, "contact_id": 5, "inbox_id": 2, "source_id": "0f6a4f52-5d1c-4b8c-9d0e-6c1b0e2b7a11", "hmac_verified": false, "pubsub_token": "x9k2" },
        "id": display_id,
        "inbox_id": 2,
        "messages": [{
            "id": 900, "content": last_message, "account_id": 1, "inbox_id": 2, "conversation_id": display_id,
            "message_type": 0, "created_at": 1_764_000_000, "updated_at": "2025-11-24T16:00:00.123Z", "private": false,
            "status": "sent", "source_id": null, "content_type": "text", "content_attributes": {}, "sender_type": "Contact",
            "sender_id": 5, "external_source_ids": {}, "additional_attributes": {}, "processed_message_content": last_message,
            "sentiment": {}, "conversation": { "assignee_id": null, "unread_count": 1, "last_activity_at": 1_764_000_000, "contact_inbox": { "source_id": "0f6a4f52-5d1c-4b8c-9d0e-6c1b0e2b7a11" } },
            "sender": { "additional_attributes": {}, "custom_attributes": {}, "email": null, "id": 5, "identifier": null, "name": "李雷", "phone_number": "+8613800138000", "thumbnail": "", "blocked": false, "type": "contact" }
        }],
        "labels": [],
        "meta": {
            "sender": { "additional_attributes": {}, "custom_attributes": {}, "email": null, "id": 5, "identifier": null, "name": "李雷", "phone_number": "+8613800138000", "thumbnail": "", "blocked": false, "type": "contact" },
            "assignee": null, "assignee_type": null, "team": null, "hmac_verified": false
        },
        "status": status,
        "custom_attributes": {},
        "snoozed_until": null,
        "unread_count": 1,
        "first_reply_created_at": null,
        "priority": null,
        "waiting_since": 1_764_000_000,
        "agent_last_seen_at": 0,
        "contact_last_seen_at": 0,
        "last_activity_at": 1_764_000_000,
        "timestamp": 1_764_000_000,
        "created_at": 1_764_000_000,
        "updated_at": 1_764_000_000.123,
        "account_id": 1
    })
}

/// `message_created` for a message of `sender` (`Message#webhook_data` + `event`).
pub fn message_created(id: u64, display_id: u64, status: &str, message_type: &str, private: bool, sender: Value, content: &str) -> Value {
    json!({
        "account": { "id": 1, "name": "Lumen Flagship Store" },
        "additional_attributes": {},
        "content_attributes": {},
        "content_type": "text",
        "content": content,
        "conversation": conversation(display_id, status, content),
        "created_at": "2025-11-24T16:00:00.123Z",
        "id": id,
        "inbox": { "id": 2, "name": "Website" },
        "message_type": message_type,
        "private": private,
        "sender": sender,
        "source_id": null,
        "event": "message_created"
    })
}

/// A customer's public message.
pub fn customer_message(id: u64, display_id: u64, status: &str, content: &str) -> Value {
    message_created(id, display_id, status, "incoming", false, contact(), content)
}

/// `conversation_resolved`: the conversation's `webhook_data` + `event`.
pub fn conversation_resolved(display_id: u64) -> Value {
    let mut v = conversation(display_id, "resolved", "谢谢");
    v["event"] = json!("conversation_resolved");
    v
}

/// `conversation_status_changed` (Chatwoot 4.13 and later): the conversation's `webhook_data`
/// with its new status, the change listed in `changed_attributes`, and `event`.
pub fn conversation_status_changed(display_id: u64, from: &str, to: &str) -> Value {
    let mut v = conversation(display_id, to, "谢谢");
    v["event"] = json!("conversation_status_changed");
    v["changed_attributes"] = json!([{ "status": { "previous_value": from, "current_value": to } }]);
    v
}
