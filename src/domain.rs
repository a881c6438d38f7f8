//! Value types shared by every stage of the flow (ingest → understand → retrieve → decide →
//! deliver → learn). Kept free of I/O so the core stays a set of plain functions.

/// Defines a closed set of wire names: the enum (serde uses the same names), `ALL`, `as_str`
/// and `parse`. Every vocabulary that crosses the HTTP edge or the store is written with it, so
/// a name is spelled once.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// Parses a wire name.
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum! {
    /// Main language of a message, and the language a reply is written in.
    pub enum Lang {
        /// Chinese (simplified after normalisation).
        Zh => "zh",
        /// English.
        En => "en",
    }
}

impl Lang {
    /// The code used in evaluation files and APIs.
    pub fn code(self) -> &'static str {
        self.as_str()
    }
}

wire_enum! {
    /// Sentiment class of one customer message.
    pub enum SentimentLabel {
        /// Unhappy, angry, threatening: never answered by the bot.
        Negative => "negative",
        /// Plain questions and statements.
        Neutral => "neutral",
        /// Friendly, thankful.
        Positive => "positive",
    }
}

wire_enum! {
    /// How soon a human must look at a ticket. Ordered: `Urgent` sorts first.
    #[derive(PartialOrd, Ord)]
    pub enum Priority {
        /// Threats (regulator, chargeback, public review) or very negative messages.
        Urgent => "urgent",
        /// Negative messages and complaints.
        High => "high",
        /// Everything else.
        Normal => "normal",
    }
}

impl Priority {
    /// Sort key for queues (smaller is more urgent); stored in the database.
    pub fn rank(self) -> i64 {
        match self {
            Priority::Urgent => 0,
            Priority::High => 1,
            Priority::Normal => 2,
        }
    }
}

wire_enum! {
    /// Why a message went to a human instead of being answered (wire names as written in
    /// knowledge bases and the database).
    pub enum EscalationReason {
        /// The customer is unhappy.
        NegativeSentiment => "negative_sentiment",
        /// The customer is fed up with the service (waiting, sarcasm, threats, shouting),
        /// whatever the question: a person answers, with the factual answer in the draft.
        Frustrated => "frustrated",
        /// The customer complains or threatens (bad review, regulator, chargeback).
        Complaint => "complaint",
        /// The customer asked for a person.
        HumanRequested => "human_requested",
        /// The knowledge base has no answer the router is confident in.
        NoConfidentAnswer => "no_confident_answer",
        /// The intent is understood but the policy needs a person to act (reshipment, damage, medical).
        NeedsHumanAction => "needs_human_action",
        /// The bot already sent this answer in this conversation: it did not help.
        RepeatQuestion => "repeat_question",
        /// The conversation already has an open ticket: the human owns it now.
        ConversationWithAgent => "conversation_with_agent",
        /// The message is outside what the shop handles.
        OutOfScope => "out_of_scope",
    }
}

impl EscalationReason {
    /// How strongly the reason calls for a person: a later message of a conversation replaces
    /// its ticket's reason only with a stronger one (complaint > frustration and negative
    /// sentiment > human requested > the rest, which are all equal).
    pub fn strength(self) -> u8 {
        match self {
            Self::Complaint => 3,
            Self::NegativeSentiment | Self::Frustrated => 2,
            Self::HumanRequested => 1,
            _ => 0,
        }
    }
}

/// Where a ticket stands in the queue: how soon, why, and its first-response deadline (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// How soon.
    pub priority: Priority,
    /// Why it was escalated.
    pub reason: EscalationReason,
    /// First human response deadline, Unix ms.
    pub due_at: i64,
}

impl Standing {
    /// What the ticket becomes when a later message, which alone would stand as `by`, joins it;
    /// `None` when the message is no stronger. A higher priority or a stronger reason is taken,
    /// and the deadline only moves in.
    pub fn rescored(self, by: Standing) -> Option<Standing> {
        let higher = by.priority.rank() < self.priority.rank();
        let stronger = by.reason.strength() > self.reason.strength();
        (higher || stronger).then(|| Standing {
            priority: if higher { by.priority } else { self.priority },
            reason: if stronger { by.reason } else { self.reason },
            due_at: self.due_at.min(by.due_at),
        })
    }

    /// Whether that message's reading replaces the ticket's (intent, sentiment, language,
    /// matched entry, draft): when it re-scores the ticket, or is as strong in reason and
    /// priority (a real question after small talk). A weaker message ("转人工" after a threat)
    /// does not hide what the ticket is about.
    pub fn reread_by(self, by: Standing) -> bool {
        self.rescored(by).is_some() || (by.reason.strength() >= self.reason.strength() && by.priority.rank() <= self.priority.rank())
    }
}

wire_enum! {
    /// What an agent did with the suggested draft: the learning signal.
    pub enum DraftOutcome {
        /// Sent as suggested.
        Accepted => "accepted",
        /// Sent after changes.
        Edited => "edited",
        /// Not used.
        Rejected => "rejected",
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

wire_enum! {
    /// Where a queued delivery (a reply to the shop's callback, a call to Chatwoot) stands.
    pub enum DeliveryStatus {
        /// Waiting for its next attempt.
        Pending => "pending",
        /// The receiver took it.
        Delivered => "delivered",
        /// Given up after the last attempt.
        Failed => "failed",
    }
}

wire_enum! {
    /// Where an event accepted from Chatwoot stands.
    pub enum EventStatus {
        /// Waiting to be worked off (or for its retry).
        Pending => "pending",
        /// Worked off: its calls are queued.
        Done => "done",
        /// Given up after the last attempt.
        Failed => "failed",
    }
}

wire_enum! {
    /// Life cycle of a ticket.
    pub enum TicketStatus {
        /// Waiting for an agent.
        Open => "open",
        /// An agent took it.
        Claimed => "claimed",
        /// Closed.
        Resolved => "resolved",
    }
}

wire_enum! {
    /// What the router did with a customer message.
    pub enum DecisionKind {
        /// Answered at once by the bot.
        Answered => "answered",
        /// Handed to a person, with an acknowledgement to the customer.
        Escalated => "escalated",
    }
}

wire_enum! {
    /// What the bot's reply to a customer message is.
    pub enum ReplyKind {
        /// An answer from the knowledge base.
        Answer => "answer",
        /// An acknowledgement while a person takes over.
        Acknowledgement => "acknowledgement",
    }
}

wire_enum! {
    /// Who wrote a message of a conversation.
    pub enum MessageRole {
        /// The shop's customer (untrusted text).
        Customer => "customer",
        /// smartreply's own answer or acknowledgement.
        Bot => "bot",
        /// A human agent's reply.
        Agent => "agent",
    }
}

wire_enum! {
    /// What a bot or agent message is (customer messages have no kind).
    pub enum MessageKind {
        /// The bot's answer from the knowledge base.
        Answer => "answer",
        /// The bot's acknowledgement of an escalated message.
        Acknowledgement => "acknowledgement",
        /// A human agent's reply.
        Reply => "reply",
    }
}

impl From<ReplyKind> for MessageKind {
    fn from(kind: ReplyKind) -> Self {
        match kind {
            ReplyKind::Answer => MessageKind::Answer,
            ReplyKind::Acknowledgement => MessageKind::Acknowledgement,
        }
    }
}

wire_enum! {
    /// Which line of agents a ticket waits for.
    pub enum TicketTier {
        /// Every agent.
        First => "first",
        /// The second line, after a transfer.
        Second => "second",
    }
}

wire_enum! {
    /// Where an after-sales case stands.
    pub enum CaseStatus {
        /// Being filled in; can still change.
        Draft => "draft",
        /// Handed to the shop's systems; final.
        Submitted => "submitted",
    }
}

wire_enum! {
    /// Where an inspection item stands.
    pub enum InspectionStatus {
        /// Waiting for an inspector.
        Pending => "pending",
        /// The inspector filled in the checklist.
        Scored => "scored",
    }
}

wire_enum! {
    /// What a queued call to Chatwoot does.
    pub enum ChatwootAction {
        /// The bot's answer to the customer.
        Reply => "reply",
        /// The bot's acknowledgement of an escalated message.
        Acknowledgement => "acknowledgement",
        /// A private note for the agents (reason, priority, draft).
        Note => "note",
        /// Opens the conversation for humans.
        Handoff => "handoff",
        /// A console agent's reply sent into the Chatwoot conversation.
        AgentReply => "agent_reply",
    }
}

impl TicketStatus {
    /// The status after an agent's reply: resolved when the reply closes the ticket, an open
    /// ticket becomes the replying agent's, anything else stays as it is.
    pub fn after_reply(self, resolve: bool) -> TicketStatus {
        match self {
            _ if resolve => TicketStatus::Resolved,
            TicketStatus::Open => TicketStatus::Claimed,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{EscalationReason as R, Priority as P, Standing};

    const DUE: i64 = 1_000_000;

    fn standing(priority: P, reason: R, due_at: i64) -> Standing {
        Standing { priority, reason, due_at }
    }

    #[test]
    fn only_a_stronger_message_re_scores_and_the_deadline_only_moves_in() {
        let ticket = standing(P::Normal, R::HumanRequested, DUE);
        let threat = standing(P::Urgent, R::Complaint, DUE - 900);
        assert_eq!(ticket.rescored(threat), Some(threat));
        // A complaint's own deadline is a day away: the earlier one stays.
        let complaint = standing(P::High, R::Complaint, DUE + 86_400_000);
        assert_eq!(ticket.rescored(complaint), Some(standing(P::High, R::Complaint, DUE)));
        // Higher priority, weaker reason: the priority rises, the reason stays.
        let shouting = standing(P::Urgent, R::NoConfidentAnswer, DUE - 1);
        assert_eq!(standing(P::High, R::Complaint, DUE).rescored(shouting), Some(standing(P::Urgent, R::Complaint, DUE - 1)));
        // Nothing stronger: nothing changes.
        assert_eq!(ticket.rescored(standing(P::Normal, R::NoConfidentAnswer, DUE - 5)), None);
        assert_eq!(standing(P::Urgent, R::Complaint, DUE).rescored(threat), None);
    }

    #[test]
    fn a_message_as_strong_as_its_ticket_re_reads_it_and_a_weaker_one_does_not() {
        let by = |priority, reason| standing(priority, reason, DUE);
        // Small talk handed over as a repeat, then the real problem: the problem is the ticket.
        assert!(by(P::Normal, R::RepeatQuestion).reread_by(by(P::Normal, R::NeedsHumanAction)));
        assert!(by(P::Normal, R::RepeatQuestion).reread_by(by(P::Urgent, R::Complaint)));
        // "转人工" after a threat does not hide the threat.
        assert!(!by(P::Urgent, R::Complaint).reread_by(by(P::Normal, R::HumanRequested)));
        assert!(!by(P::High, R::NeedsHumanAction).reread_by(by(P::Normal, R::NeedsHumanAction)));
    }
}
