//! What receiving a customer message comes to: [`Received`], answered with its knowledge-base
//! entry or escalated with its ticket, carrying the contract's [`Answer`] as typed values. The
//! HTTP edge serialises the answer; the store keeps it as text only so that a repeated message
//! id is answered with the same bytes.

use super::StoreError;
use crate::domain::{DecisionKind, ReplyKind, SentimentLabel};
use serde::{Deserialize, Serialize};

/// The answer to an inbound message, in the contract's shape (field order is the wire order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Answer {
    pub(crate) message_id: String,
    pub(crate) conversation_id: String,
    pub(crate) decision: DecisionKind,
    pub(crate) reply: AnswerReply,
    pub(crate) intent: AnswerIntent,
    pub(crate) sentiment: AnswerSentiment,
    pub(crate) faq_id: Option<String>,
    pub(crate) ticket_id: Option<String>,
}

/// The bot's reply: the answer itself or an acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnswerReply {
    pub(crate) text: String,
    pub(crate) kind: ReplyKind,
}

/// The intent the router read, its confidence rounded to three decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnswerIntent {
    pub(crate) name: String,
    pub(crate) confidence: f32,
}

/// The sentiment the router read, its score rounded to three decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnswerSentiment {
    pub(crate) label: SentimentLabel,
    pub(crate) score: f32,
}

impl Answer {
    /// The text the store keeps for replays.
    pub(crate) fn stored(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// An answer as the store kept it.
    pub(crate) fn from_stored(text: &str) -> Result<Answer, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored answer is unreadable: {e}")))
    }
}

/// What became of a received message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Received {
    /// The bot answered (from the knowledge base entry the answer names).
    Answered(Answer),
    /// A person takes over: the message's ticket, and whether this message opened it (a
    /// message joining a ticket already with people asks nothing new of them).
    Escalated { answer: Answer, ticket_id: String, opened: bool },
}

impl Received {
    /// The contract's answer, for the caller to send.
    pub(crate) fn answer(&self) -> &Answer {
        match self {
            Received::Answered(answer) | Received::Escalated { answer, .. } => answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(confidence: f32, score: f32) -> Answer {
        Answer {
            message_id: "m-1".into(),
            conversation_id: "c-1".into(),
            decision: DecisionKind::Escalated,
            reply: AnswerReply { text: "亲，\"已收到\"\n<b>".into(), kind: ReplyKind::Acknowledgement },
            intent: AnswerIntent { name: "complaint".into(), confidence },
            sentiment: AnswerSentiment { label: SentimentLabel::Negative, score },
            faq_id: None,
            ticket_id: Some("t-1".into()),
        }
    }

    /// A repeated message id is answered with the stored text read back and serialised again:
    /// those must be the first answer's bytes, for every rounded score.
    #[test]
    fn a_stored_answer_read_back_serialises_to_the_same_bytes() {
        for i in 0..=1000 {
            let raw = i as f32 * 0.000_997;
            let rounded = (raw * 1000.0).round() / 1000.0;
            let first = answer(rounded, 1.0 - rounded).stored().unwrap();
            let again = Answer::from_stored(&first).unwrap().stored().unwrap();
            assert_eq!(first, again);
        }
    }

    #[test]
    fn the_wire_shape_is_the_contracts() {
        let json: serde_json::Value = serde_json::from_str(&answer(0.5, 0.25).stored().unwrap()).unwrap();
        assert_eq!(json["decision"], "escalated");
        assert_eq!(json["reply"]["kind"], "acknowledgement");
        assert_eq!(json["sentiment"]["label"], "negative");
        assert_eq!(json["faq_id"], serde_json::Value::Null);
    }
}
