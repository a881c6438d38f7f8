//! Value types shared by every stage of the flow (ingest → understand → retrieve → decide →
//! deliver → learn). Kept free of I/O so the core stays a set of plain functions.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Main language of a message, and the language a reply is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Chinese (simplified after normalisation).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The code used in evaluation files and APIs.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

/// Sentiment class of one customer message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentimentLabel {
    /// Unhappy, angry, threatening: never answered by the bot.
    Negative,
    /// Plain questions and statements.
    Neutral,
    /// Friendly, thankful.
    Positive,
}

impl SentimentLabel {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Negative => "negative",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Positive => "positive",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "negative" => Some(Self::Negative),
            "neutral" => Some(Self::Neutral),
            "positive" => Some(Self::Positive),
            _ => None,
        }
    }
}

/// How soon a human must look at a ticket. Ordered: `Urgent` sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Threats (regulator, chargeback, public review) or very negative messages.
    Urgent,
    /// Negative messages and complaints.
    High,
    /// Everything else.
    Normal,
}

impl Priority {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Normal => "normal",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "urgent" => Some(Self::Urgent),
            "high" => Some(Self::High),
            "normal" => Some(Self::Normal),
            _ => None,
        }
    }

    /// Sort key for queues (smaller is more urgent); stored in the database.
    pub fn rank(self) -> i64 {
        match self {
            Priority::Urgent => 0,
            Priority::High => 1,
            Priority::Normal => 2,
        }
    }
}

/// Why a message went to a human instead of being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationReason {
    /// The customer is unhappy.
    NegativeSentiment,
    /// The customer complains or threatens (bad review, regulator, chargeback).
    Complaint,
    /// The customer asked for a person.
    HumanRequested,
    /// The knowledge base has no answer the router is confident in.
    NoConfidentAnswer,
    /// The intent is understood but the policy needs a person to act (reshipment, damage, medical).
    NeedsHumanAction,
    /// The bot already sent this answer in this conversation: it did not help.
    RepeatQuestion,
    /// The conversation already has an open ticket: the human owns it now.
    ConversationWithAgent,
    /// The message is outside what the shop handles.
    OutOfScope,
}

impl EscalationReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NegativeSentiment => "negative_sentiment",
            Self::Complaint => "complaint",
            Self::HumanRequested => "human_requested",
            Self::NoConfidentAnswer => "no_confident_answer",
            Self::NeedsHumanAction => "needs_human_action",
            Self::RepeatQuestion => "repeat_question",
            Self::ConversationWithAgent => "conversation_with_agent",
            Self::OutOfScope => "out_of_scope",
        }
    }

    /// Parses the wire name (as written in knowledge bases and the database).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "negative_sentiment" => Self::NegativeSentiment,
            "complaint" => Self::Complaint,
            "human_requested" => Self::HumanRequested,
            "no_confident_answer" => Self::NoConfidentAnswer,
            "needs_human_action" => Self::NeedsHumanAction,
            "repeat_question" => Self::RepeatQuestion,
            "conversation_with_agent" => Self::ConversationWithAgent,
            "out_of_scope" => Self::OutOfScope,
            _ => return None,
        })
    }

    /// How strongly the reason calls for a person: a later message of a conversation replaces
    /// its ticket's reason only with a stronger one (complaint > negative sentiment > human
    /// requested > the rest, which are all equal).
    pub fn strength(self) -> u8 {
        match self {
            Self::Complaint => 3,
            Self::NegativeSentiment => 2,
            Self::HumanRequested => 1,
            _ => 0,
        }
    }
}

impl fmt::Display for EscalationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an agent did with the suggested draft: the learning signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DraftOutcome {
    /// Sent as suggested.
    Accepted,
    /// Sent after changes.
    Edited,
    /// Not used.
    Rejected,
}

impl DraftOutcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Edited => "edited",
            Self::Rejected => "rejected",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" => Some(Self::Accepted),
            "edited" => Some(Self::Edited),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// What an agent's reply records about the suggested draft: the draft's fate for the first
/// human answer; later answers are follow-ups that could not have used it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyOutcome {
    /// The first human answer, and what became of the draft.
    Draft(DraftOutcome),
    /// A later answer.
    Followup,
}

impl ReplyOutcome {
    /// The wire name (the draft outcome's, or `followup`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft(outcome) => outcome.as_str(),
            Self::Followup => "followup",
        }
    }
}

/// Where a queued delivery (a reply to the shop's callback, a call to Chatwoot) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver took it.
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl DeliveryStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Life cycle of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    /// Waiting for an agent.
    Open,
    /// An agent took it.
    Claimed,
    /// Closed.
    Resolved,
}

impl TicketStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Claimed => "claimed",
            Self::Resolved => "resolved",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "claimed" => Some(Self::Claimed),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }
}

/// What the router did with a customer message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    /// Answered at once by the bot.
    Answered,
    /// Handed to a person, with an acknowledgement to the customer.
    Escalated,
}

impl DecisionKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Escalated => "escalated",
        }
    }
}

/// What the bot's reply to a customer message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyKind {
    /// An answer from the knowledge base.
    Answer,
    /// An acknowledgement while a person takes over.
    Acknowledgement,
}

impl ReplyKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::Acknowledgement => "acknowledgement",
        }
    }
}
