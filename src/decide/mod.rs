//! Decide: turn what was understood and retrieved into an action — answer now, or escalate
//! to a human with a reason, a priority, a draft reply and an acknowledgement for the customer.

pub mod case;
pub mod draft;
pub mod policy;

use crate::domain::{EscalationReason, Lang, Priority};
use serde::{Deserialize, Serialize};

// Produced by `understand`; the decision carries them, so they are named here too.
pub use crate::understand::extract::Extracted;
pub use crate::understand::frustration::Frustration;
pub use crate::understand::sentiment::SentimentScore;

/// What the router knows about the conversation before this message.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConversationContext {
    /// FAQ ids the bot already sent in this conversation (the no-repeat rule).
    pub answered_faq_ids: Vec<String>,
    /// The conversation already has an unresolved ticket: later messages join it.
    pub open_ticket_id: Option<String>,
    /// Whether human agents are working now (changes the acknowledgement wording).
    pub agents_online: bool,
}

/// The intent the classifier chose.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntentPrediction {
    /// Intent name from the shop's knowledge base.
    pub name: String,
    /// Calibrated probability in 0..1.
    pub confidence: f32,
}

/// The best FAQ entry retrieval found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Retrieved {
    /// FAQ entry id.
    pub faq_id: String,
    /// Raw tantivy score.
    pub score: f32,
    /// Confidence in 0..1 that this entry answers the message.
    pub confidence: f32,
}

/// An escalation to a human.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Escalation {
    /// Why.
    pub reason: EscalationReason,
    /// How soon.
    pub priority: Priority,
    /// Suggested reply for the agent, in the customer's language.
    pub draft: String,
    /// What the customer is told at once.
    pub acknowledgement: String,
    /// For a message that joins an open ticket: how it would have been escalated on its own
    /// (none when it would have been answered). A stronger judgement re-scores the ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standalone: Option<Standalone>,
}

/// How a message would have been escalated had its conversation no open ticket.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Standalone {
    /// Why.
    pub reason: EscalationReason,
    /// How soon.
    pub priority: Priority,
}

/// What to do with the message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Send this FAQ answer now.
    Answer {
        /// The FAQ entry used.
        faq_id: String,
        /// The reply text, in the customer's language.
        text: String,
    },
    /// Hand to a human.
    Escalate(Escalation),
}

/// Versions of everything that shaped a decision, stored with it for audit.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModelVersions {
    /// Intent classifier (trained from the knowledge base: includes its hash).
    pub intent: String,
    /// Sentiment model file.
    pub sentiment: String,
    /// Sentence encoder (empty when the router ran without one).
    #[serde(default)]
    pub encoder: String,
    /// Knowledge base content hash.
    pub knowledge_base: String,
}

/// The router's full verdict on one message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Decision {
    /// Language of the message; replies use it.
    pub lang: Lang,
    /// Intent.
    pub intent: IntentPrediction,
    /// Sentiment.
    pub sentiment: SentimentScore,
    /// Frustration with the service, read beside polarity (absent in decisions stored before
    /// it existed).
    #[serde(default)]
    pub frustration: Frustration,
    /// Extracted ticket fields.
    pub extracted: Extracted,
    /// Best FAQ candidate, if any (also set when escalating: the draft may use it).
    pub retrieval: Option<Retrieved>,
    /// What to do.
    pub action: Action,
    /// Model versions.
    pub models: ModelVersions,
    /// The after-sales case the shop's rules draft for an escalated message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<crate::aftersales::CaseFields>,
}

impl Decision {
    /// The FAQ id of an automatic answer.
    pub fn answered_faq_id(&self) -> Option<&str> {
        match &self.action {
            Action::Answer { faq_id, .. } => Some(faq_id),
            Action::Escalate(_) => None,
        }
    }

    /// The text the customer receives at once (answer or acknowledgement).
    pub fn reply_text(&self) -> &str {
        match &self.action {
            Action::Answer { text, .. } => text,
            Action::Escalate(e) => &e.acknowledgement,
        }
    }
}
