//! What a Chatwoot agent-bot event asks of smartreply, decided from the payload alone.
//!
//! Chatwoot sends its bot every message of the conversations in the bot's inboxes: the
//! customer's, the bot's own, agents' replies and private notes, whatever the conversation's
//! status (facts checked in Chatwoot's `AgentBotListener`, `Message#webhook_data` and
//! `Conversations::EventDataPresenter`; see `shared/docs/chatwoot.md`). Answering anything but
//! a customer's public message in a conversation the bot owns (`pending`) would make the bot
//! talk over humans or answer itself, so everything else is ignored here, before any I/O.
//!
//! Payloads are read leniently (every field optional): Chatwoot adds fields between versions
//! and an event smartreply does not understand must still get its 200.

use crate::config::ChatwootSettings;
use crate::ingest::MAX_TEXT_CHARS;
use serde::{Deserialize, Serialize};

/// The parts of an agent-bot event smartreply reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Payload {
    /// `message_created`, `conversation_resolved`, ...
    pub event: Option<String>,
    /// Message events: the message id. Conversation events: the conversation's display id.
    pub id: Option<u64>,
    /// Message text (null for attachments only).
    pub content: Option<String>,
    /// `incoming`, `outgoing`, `activity`, `template` (a string in `webhook_data`).
    pub message_type: Option<serde_json::Value>,
    /// A private note is visible to agents only.
    pub private: Option<bool>,
    /// Who wrote it: a contact (no `type`), `user` (an agent) or `agent_bot`.
    pub sender: Option<Sender>,
    /// Message events: the inbox.
    pub inbox: Option<IdOnly>,
    /// Message events: the account.
    pub account: Option<IdOnly>,
    /// Message events: the conversation.
    pub conversation: Option<Conversation>,
    /// Conversation events: the conversation's status.
    pub status: Option<String>,
    /// Conversation events: the inbox id.
    pub inbox_id: Option<u64>,
    /// Conversation events: the account id.
    pub account_id: Option<u64>,
}

/// `{ "id": ... }` objects (inbox, account).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct IdOnly {
    /// Id.
    pub id: Option<u64>,
}

/// A message's sender.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Sender {
    /// Contact, user or bot id.
    pub id: Option<u64>,
    /// Display name.
    pub name: Option<String>,
    /// `user`, `agent_bot`; absent (or `contact`) for customers.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `conversation` inside a message event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Conversation {
    /// The display id: the one Chatwoot's API takes.
    pub id: Option<u64>,
    /// `open`, `pending`, `resolved`, `snoozed`.
    pub status: Option<String>,
    /// Inbox id.
    pub inbox_id: Option<u64>,
    /// Account id.
    pub account_id: Option<u64>,
    /// `meta.sender` is the contact of the conversation.
    pub meta: Option<Meta>,
}

/// `conversation.meta`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Meta {
    /// The conversation's contact.
    pub sender: Option<Sender>,
}

/// What to do with an event. Stored as JSON between the 200 and the work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Work {
    /// A customer wrote in a conversation the bot owns: route it.
    CustomerMessage {
        /// Chatwoot's message id.
        message_id: u64,
        /// The conversation's display id.
        conversation: u64,
        /// The contact id.
        contact: Option<u64>,
        /// The text, at most [`MAX_TEXT_CHARS`] characters.
        text: String,
    },
    /// An agent replied to the customer in Chatwoot: learn what became of the draft.
    AgentReply {
        /// The conversation's display id.
        conversation: u64,
        /// The agent's name in Chatwoot.
        agent: String,
        /// What the agent sent.
        text: String,
    },
    /// The conversation was resolved: close its ticket so the bot answers the next message.
    Resolved {
        /// The conversation's display id.
        conversation: u64,
    },
    /// An agent handed the conversation back to the bot (status `pending`) without resolving
    /// it: the human's turn is over, so its ticket closes and the bot answers again.
    HandedBack {
        /// The conversation's display id.
        conversation: u64,
    },
}

impl Work {
    /// Short name for logs and the stored row.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Work::CustomerMessage { .. } => "customer_message",
            Work::AgentReply { .. } => "agent_reply",
            Work::Resolved { .. } => "resolved",
            Work::HandedBack { .. } => "handed_back",
        }
    }

    /// The conversation's display id.
    pub(crate) fn conversation(&self) -> u64 {
        match self {
            Work::CustomerMessage { conversation, .. }
            | Work::AgentReply { conversation, .. }
            | Work::Resolved { conversation }
            | Work::HandedBack { conversation } => *conversation,
        }
    }
}

/// smartreply's conversation id for a Chatwoot conversation (prefixed: a shop may also take
/// webhook messages, whose conversation ids are the storefront's).
pub(crate) fn conversation_id(display_id: u64) -> String {
    format!("chatwoot-{display_id}")
}

/// The Chatwoot display id of one of smartreply's conversation ids, if it is a Chatwoot one.
pub(crate) fn display_id(conversation_id: &str) -> Option<u64> {
    conversation_id.strip_prefix("chatwoot-")?.parse().ok()
}

/// smartreply's message id of a Chatwoot message (its idempotency key).
pub(crate) fn message_id(chatwoot_id: u64) -> String {
    format!("chatwoot-{chatwoot_id}")
}

/// Work for an event, or why it needs none.
pub(crate) fn classify(p: &Payload, settings: &ChatwootSettings) -> Result<Work, &'static str> {
    let event = p.event.as_deref().unwrap_or_default();
    let conv = p.conversation.as_ref();
    let account = p.account.as_ref().and_then(|a| a.id).or(p.account_id).or(conv.and_then(|c| c.account_id));
    if account.is_some_and(|a| a != settings.account_id) {
        return Err("event of another Chatwoot account");
    }
    let inbox = p.inbox.as_ref().and_then(|i| i.id).or(p.inbox_id).or(conv.and_then(|c| c.inbox_id));
    if !settings.inboxes.is_empty() && !inbox.is_some_and(|i| settings.inboxes.contains(&i)) {
        return Err("inbox not mapped to this shop");
    }
    match event {
        "message_created" => message_created(p),
        "conversation_resolved" => p.id.map(|conversation| Work::Resolved { conversation }).ok_or("conversation event without an id"),
        // Back to `pending` is the hand-back; other statuses are the bot's own hand-off
        // (`open`), resolution (its own event) or snoozing, which change nothing here.
        "conversation_status_changed" => match (p.status.as_deref(), p.id) {
            (Some("pending"), Some(conversation)) => Ok(Work::HandedBack { conversation }),
            (Some("pending"), None) => Err("conversation event without an id"),
            _ => Err("status change other than a hand-back to the bot"),
        },
        // message_updated, conversation_opened, webwidget_triggered, conversation_updated (it
        // repeats a status change as an attribute change: acting on both would be twice):
        // nothing to answer.
        _ => Err("event not used by smartreply"),
    }
}

fn message_created(p: &Payload) -> Result<Work, &'static str> {
    let conversation = p.conversation.as_ref().ok_or("message without a conversation")?;
    let display_id = conversation.id.ok_or("message without a conversation id")?;
    let message_type = match &p.message_type {
        Some(serde_json::Value::String(s)) => s.as_str(),
        // Integers appear only inside conversation.messages[]; accept them anyway (0 = incoming).
        Some(serde_json::Value::Number(n)) => match n.as_u64() {
            Some(0) => "incoming",
            Some(1) => "outgoing",
            _ => "other",
        },
        _ => "other",
    };
    if p.private.unwrap_or(false) {
        return Err("private note");
    }
    let text = p.content.as_deref().map(str::trim).unwrap_or_default();
    let sender_kind = p.sender.as_ref().and_then(|s| s.kind.as_deref());
    match (message_type, sender_kind) {
        ("incoming", _) => {
            if conversation.status.as_deref() != Some("pending") {
                return Err("conversation is not pending: humans own it");
            }
            if text.is_empty() {
                return Err("message has no text");
            }
            let contact =
                p.sender.as_ref().and_then(|s| s.id).or(conversation.meta.as_ref().and_then(|m| m.sender.as_ref()).and_then(|s| s.id));
            Ok(Work::CustomerMessage {
                message_id: p.id.ok_or("message without an id")?,
                conversation: display_id,
                contact,
                text: text.chars().take(MAX_TEXT_CHARS).collect(),
            })
        }
        ("outgoing", Some("agent_bot")) => Err("the bot's own message"),
        ("outgoing", Some("user")) if !text.is_empty() => Ok(Work::AgentReply {
            conversation: display_id,
            agent: p.sender.as_ref().and_then(|s| s.name.clone()).unwrap_or_else(|| "chatwoot agent".into()),
            text: text.chars().take(MAX_TEXT_CHARS).collect(),
        }),
        _ => Err("not a customer or agent message"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use serde_json::json;

    fn settings(inboxes: Vec<u64>) -> ChatwootSettings {
        ChatwootSettings {
            base_url: "http://cw".into(),
            account_id: 1,
            bot_token: Secret::new("t"),
            webhook_secret: Secret::new("secret-secret"),
            inboxes,
            admin_token: None,
        }
    }

    fn message(message_type: &str, private: bool, sender: serde_json::Value, status: &str) -> Payload {
        serde_json::from_value(json!({
            "event": "message_created", "id": 10, "content": "满多少包邮", "message_type": message_type,
            "private": private, "sender": sender, "inbox": {"id": 2, "name": "Web"}, "account": {"id": 1, "name": "Shop"},
            "conversation": {"id": 7, "status": status, "inbox_id": 2, "meta": {"sender": {"id": 5, "name": "Li"}}}
        }))
        .unwrap()
    }

    #[test]
    fn only_a_customers_public_message_in_a_pending_conversation_is_routed() {
        let contact = json!({"id": 5, "name": "Li"});
        let work = classify(&message("incoming", false, contact.clone(), "pending"), &settings(vec![])).unwrap();
        assert_eq!(work, Work::CustomerMessage { message_id: 10, conversation: 7, contact: Some(5), text: "满多少包邮".into() });
        assert!(classify(&message("incoming", false, contact.clone(), "open"), &settings(vec![])).is_err());
        assert!(classify(&message("incoming", true, contact, "pending"), &settings(vec![])).is_err());
        let bot = json!({"id": 1, "name": "smartreply", "type": "agent_bot"});
        assert_eq!(classify(&message("outgoing", false, bot, "pending"), &settings(vec![])), Err("the bot's own message"));
        let agent = json!({"id": 3, "name": "Alice", "type": "user"});
        assert!(matches!(classify(&message("outgoing", false, agent.clone(), "open"), &settings(vec![])), Ok(Work::AgentReply { .. })));
        assert_eq!(classify(&message("outgoing", true, agent, "open"), &settings(vec![])), Err("private note"));
        assert!(classify(&message("template", false, json!(null), "pending"), &settings(vec![])).is_err());
    }

    #[test]
    fn other_inboxes_accounts_and_events_are_ignored() {
        let contact = json!({"id": 5});
        assert!(classify(&message("incoming", false, contact.clone(), "pending"), &settings(vec![2])).is_ok());
        assert_eq!(classify(&message("incoming", false, contact, "pending"), &settings(vec![9])), Err("inbox not mapped to this shop"));
        let other: Payload = serde_json::from_value(json!({"event": "conversation_resolved", "id": 7, "account_id": 2})).unwrap();
        assert_eq!(classify(&other, &settings(vec![])), Err("event of another Chatwoot account"));
        let resolved: Payload = serde_json::from_value(json!({"event": "conversation_resolved", "id": 7, "account_id": 1})).unwrap();
        assert_eq!(classify(&resolved, &settings(vec![])), Ok(Work::Resolved { conversation: 7 }));
        let updated: Payload = serde_json::from_value(json!({"event": "message_updated", "id": 1})).unwrap();
        assert!(classify(&updated, &settings(vec![])).is_err());
    }

    #[test]
    fn a_status_change_back_to_pending_is_a_hand_back_and_others_are_ignored() {
        let event = |status: &str| -> Payload {
            serde_json::from_value(
                json!({"event": "conversation_status_changed", "id": 7, "status": status, "account_id": 1, "inbox_id": 2}),
            )
            .unwrap()
        };
        assert_eq!(classify(&event("pending"), &settings(vec![2])), Ok(Work::HandedBack { conversation: 7 }));
        for status in ["open", "snoozed", "resolved"] {
            assert!(classify(&event(status), &settings(vec![2])).is_err(), "{status}");
        }
        assert_eq!(classify(&event("pending"), &settings(vec![9])), Err("inbox not mapped to this shop"));
    }

    #[test]
    fn conversation_ids_map_both_ways() {
        assert_eq!(display_id(&conversation_id(42)), Some(42));
        assert_eq!(display_id("c-42"), None);
        assert_eq!(display_id("chatwoot-x"), None);
    }

    #[test]
    fn long_texts_are_cut_to_the_pipeline_limit() {
        let mut p = message("incoming", false, json!({"id": 5}), "pending");
        p.content = Some("字".repeat(MAX_TEXT_CHARS + 10));
        let Ok(Work::CustomerMessage { text, .. }) = classify(&p, &settings(vec![])) else { panic!() };
        assert_eq!(text.chars().count(), MAX_TEXT_CHARS);
    }
}
