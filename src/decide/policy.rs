//! The routing policy: answer only when the intent is answerable, understood with confidence,
//! a FAQ entry answers it with confidence, the message is not negative, and the answer was not
//! already sent in this conversation. Everything else escalates, with the most specific reason.

use super::{Action, ConversationContext, Escalation, Extracted, IntentPrediction, SentimentScore, draft};
use crate::domain::{EscalationReason, Lang, Priority, SentimentLabel};
use crate::knowledge::{KnowledgeBase, Route};
use crate::retrieve::FaqMatch;

/// Below this intent confidence the router does not trust its reading of the message.
pub const MIN_INTENT_CONFIDENCE: f32 = 0.45;
/// A FAQ entry answers automatically only at or above this match confidence.
pub const MIN_ANSWER_CONFIDENCE: f32 = 0.42;
/// The intent's default (summary) answer is used only when the intent is this certain.
pub const MIN_DEFAULT_INTENT_CONFIDENCE: f32 = 0.7;
/// ... and the summary itself matches the message at least this well: a confident intent
/// alone does not make "I have rosacea, will this serum make it worse?" a question about
/// genuineness.
pub const MIN_DEFAULT_MATCH_CONFIDENCE: f32 = 0.15;
/// An escalating FAQ entry ("tracking stuck", "medical question") wins from this confidence
/// on, and whenever it is within [`ESCALATION_MARGIN`] of the best entry: err toward a human.
pub const MIN_ESCALATION_FAQ_CONFIDENCE: f32 = 0.4;
/// See [`MIN_ESCALATION_FAQ_CONFIDENCE`].
pub const ESCALATION_MARGIN: f32 = 0.1;
/// A FAQ answer goes into an agent's draft from this confidence on. Below it, a specific
/// entry is not a match at all, so the intent's summary answer may stand in for it.
pub const MIN_DRAFT_CONFIDENCE: f32 = 0.3;
/// Ranking bonus for an entry whose main intent is the message's intent (entries also serve
/// secondary intents, e.g. delivery time is mostly an order-status question).
pub const MAIN_INTENT_BONUS: f32 = 0.1;
/// Ranking bonus for the intent's default entry: the question most customers ask.
pub const DEFAULT_BONUS: f32 = 0.03;
/// With the encoder, an answer must mean what the message means: the entry's closest
/// phrasing may trail the closest phrasing of any entry by at most this cosine (none: it
/// must be the closest). "How soon do
/// you dispatch?" is not answered with the delivery time when the dispatch entry is closer.
pub const VERIFY_MARGIN: f32 = 0.0;
/// ... and be at least this close to the message.
pub const VERIFY_MIN_SIMILARITY: f32 = 0.86;
/// Sentiment score at or below which a negative message is urgent.
pub const URGENT_SCORE: f32 = -0.75;

/// Everything the policy looks at.
pub struct Inputs<'a> {
    /// The shop's knowledge base.
    pub kb: &'a KnowledgeBase,
    /// Message language.
    pub lang: Lang,
    /// Intent.
    pub intent: &'a IntentPrediction,
    /// Sentiment.
    pub sentiment: &'a SentimentScore,
    /// FAQ candidates, best first.
    pub matches: &'a [FaqMatch],
    /// Extracted fields.
    pub extracted: &'a Extracted,
    /// Conversation so far.
    pub ctx: &'a ConversationContext,
}

/// The chosen action and the FAQ candidate it rests on (for the audit record).
pub struct Verdict {
    /// Answer or escalate.
    pub action: Action,
    /// The FAQ entry considered for this intent, if any.
    pub considered: Option<FaqMatch>,
}

/// Decides. Pure.
pub fn decide(inp: &Inputs<'_>) -> Verdict {
    let kb = inp.kb;
    let intent = inp.intent.name.as_str();
    let serves = |m: &&FaqMatch| kb.faqs[m.faq].intents.iter().any(|i| i == intent);
    let default_faq = kb.faqs.iter().position(|f| f.default && f.intents.first().is_some_and(|i| i == intent));
    let rank = |m: &FaqMatch| {
        let faq = &kb.faqs[m.faq];
        m.confidence
            + if faq.intents.first().is_some_and(|i| i == intent) { MAIN_INTENT_BONUS } else { 0.0 }
            + if Some(m.faq) == default_faq { DEFAULT_BONUS } else { 0.0 }
    };
    let best_for_intent = inp.matches.iter().filter(serves).max_by(|a, b| rank(a).total_cmp(&rank(b))).cloned();

    let escalation_faq = best_for_intent.as_ref().and_then(|best| {
        inp.matches
            .iter()
            .filter(serves)
            .find(|m| {
                kb.faqs[m.faq].escalate
                    && m.confidence >= MIN_ESCALATION_FAQ_CONFIDENCE
                    && m.confidence >= best.confidence - ESCALATION_MARGIN
            })
            .cloned()
    });

    // The answer an automatic reply would use (and a draft can reuse). The intent's summary
    // answer stands in only when no specific entry half-matches: a half-match means the
    // customer asked something specific the summary may not answer.
    let default_match = default_faq.and_then(|d| inp.matches.iter().find(|m| m.faq == d)).map_or(0.0, |m| m.confidence);
    let candidate: Option<usize> = match &best_for_intent {
        Some(m) if m.confidence >= MIN_ANSWER_CONFIDENCE && !kb.faqs[m.faq].escalate => Some(m.faq),
        Some(m) if m.confidence >= MIN_DRAFT_CONFIDENCE && Some(m.faq) != default_faq => None,
        _ if inp.intent.confidence >= MIN_DEFAULT_INTENT_CONFIDENCE && default_match >= MIN_DEFAULT_MATCH_CONFIDENCE => default_faq,
        _ => None,
    };

    let intent_def = kb.intent(intent);
    let route = intent_def.map(|i| i.route).unwrap_or(Route::Escalate);
    let intent_reason = intent_def.and_then(|i| i.escalation_reason());
    let negative = inp.sentiment.label == SentimentLabel::Negative;

    let unverified = candidate.is_some_and(|faq| !verified(faq, inp.matches));
    let reason = if inp.ctx.open_ticket_id.is_some() {
        Some(EscalationReason::ConversationWithAgent)
    } else if intent_reason == Some(EscalationReason::HumanRequested) && inp.intent.confidence >= MIN_INTENT_CONFIDENCE {
        Some(EscalationReason::HumanRequested)
    } else if negative {
        Some(if intent_reason == Some(EscalationReason::Complaint) {
            EscalationReason::Complaint
        } else {
            EscalationReason::NegativeSentiment
        })
    } else if escalation_faq.is_some() && route == Route::Auto {
        // A situation the knowledge base hands to people (stuck parcel, medical question).
        Some(EscalationReason::NeedsHumanAction)
    } else if inp.intent.confidence < MIN_INTENT_CONFIDENCE {
        Some(EscalationReason::NoConfidentAnswer)
    } else if route == Route::Escalate {
        Some(intent_reason.unwrap_or(EscalationReason::NoConfidentAnswer))
    } else {
        match candidate {
            None => Some(EscalationReason::NoConfidentAnswer),
            Some(_) if unverified => Some(EscalationReason::NoConfidentAnswer),
            Some(faq) if inp.ctx.answered_faq_ids.iter().any(|id| *id == kb.faqs[faq].id) => Some(EscalationReason::RepeatQuestion),
            Some(_) => None,
        }
    };

    let considered = escalation_faq.clone().or(best_for_intent.clone());
    let Some(reason) = reason else {
        let faq = &kb.faqs[candidate.expect("an answer has a candidate")];
        return Verdict {
            action: Action::Answer { faq_id: faq.id.clone(), text: faq.answer(inp.lang).to_string() },
            considered: considered.or_else(|| {
                candidate.map(|faq| FaqMatch { faq, score: 0.0, confidence: inp.intent.confidence, lexical: 0.0, similarity: None })
            }),
        };
    };

    // The draft reuses the most relevant knowledge: the escalating entry, else a confident
    // match, else the intent's summary.
    let draft_faq = escalation_faq
        .as_ref()
        .map(|m| m.faq)
        .or(best_for_intent.as_ref().filter(|m| m.confidence >= MIN_DRAFT_CONFIDENCE).map(|m| m.faq))
        .or(if route == Route::Auto { default_faq } else { None });
    let answer = draft_faq.map(|f| kb.faqs[f].answer(inp.lang));
    let draft = draft::compose(kb, intent, inp.sentiment.label, inp.lang, answer, inp.extracted);
    Verdict {
        action: Action::Escalate(Escalation {
            reason,
            priority: priority(reason, inp.sentiment),
            draft,
            acknowledgement: kb.acknowledgement.get(inp.lang, inp.ctx.agents_online).to_string(),
        }),
        considered,
    }
}

/// Whether the entry `faq` answers what the message means: true without an encoder (no
/// similarities), else its similarity is high and not clearly beaten by another entry's.
fn verified(faq: usize, matches: &[FaqMatch]) -> bool {
    let top = matches.iter().filter_map(|m| m.similarity).fold(f32::NEG_INFINITY, f32::max);
    if top == f32::NEG_INFINITY {
        return true;
    }
    let own = matches.iter().find(|m| m.faq == faq).and_then(|m| m.similarity).unwrap_or(-1.0);
    own >= VERIFY_MIN_SIMILARITY && own >= top - VERIFY_MARGIN
}

/// Urgent for threats and very negative messages, high for other negatives and complaints.
pub fn priority(reason: EscalationReason, sentiment: &SentimentScore) -> Priority {
    let threat = sentiment.signals.iter().any(|s| s == "threat");
    if threat || (sentiment.label == SentimentLabel::Negative && sentiment.score <= URGENT_SCORE) {
        Priority::Urgent
    } else if sentiment.label == SentimentLabel::Negative || reason == EscalationReason::Complaint {
        Priority::High
    } else {
        Priority::Normal
    }
}
