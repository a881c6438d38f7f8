//! The routing policy: answer only when the intent is answerable, understood with confidence,
//! a FAQ entry answers it with confidence, the message is neither negative nor frustrated, and
//! the answer was not already sent in this conversation. Everything else escalates, with the
//! most specific reason.

use super::{Action, ConversationContext, Escalation, Extracted, Frustration, IntentPrediction, SentimentScore, Standalone, draft};
use crate::domain::{EscalationReason, Lang, Priority, SentimentLabel};
use crate::knowledge::{KnowledgeBase, Route};
use crate::retrieve::FaqMatch;
use crate::understand::frustration::Cue;

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
/// Small talk (a greeting, thanks, "ok") is answered this many times in one conversation
/// (the first answer, then its brief form); said once more, the customer is going round in
/// circles and a person takes over as for any repeated question.
pub const MAX_SMALL_TALK_ANSWERS: usize = 3;
/// Small talk is short: a message longer than this (Chinese characters, English words) that
/// resembles a greeting or an "ok" carries something more — "好的，那什么时候发货" — and a
/// small-talk answer would ignore it. Such a message is judged as a question or passed on.
pub const SMALL_TALK_MAX_CHARS_ZH: usize = 8;
/// See [`SMALL_TALK_MAX_CHARS_ZH`]; "thank you, have a nice day" is six words.
pub const SMALL_TALK_MAX_WORDS_EN: usize = 6;

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
    /// Frustration with the service.
    pub frustration: &'a Frustration,
    /// FAQ candidates, best first.
    pub matches: &'a [FaqMatch],
    /// Extracted fields.
    pub extracted: &'a Extracted,
    /// Conversation so far.
    pub ctx: &'a ConversationContext,
    /// The normalised message.
    pub text: &'a str,
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
    let found = Candidates::find(inp);
    let intent_def = inp.kb.intent(&inp.intent.name);
    let route = intent_def.map(|i| i.route).unwrap_or(Route::Escalate);
    let intent_reason = intent_def.and_then(|i| i.escalation_reason());
    let reason = escalation_reason(inp, &found, route, intent_reason);
    let considered = found.escalation_faq.clone().or(found.best_for_intent.clone());
    match reason {
        None => answer(inp, &found, considered),
        Some(reason) => {
            let mut verdict = escalate(inp, &found, route, reason, considered);
            if inp.ctx.open_ticket_id.is_some()
                && let Action::Escalate(e) = &mut verdict.action
            {
                // The same message in a new conversation: what re-scores the open ticket.
                let alone = ConversationContext { open_ticket_id: None, ..inp.ctx.clone() };
                let standalone_reason = escalation_reason(&Inputs { ctx: &alone, ..*inp }, &found, route, intent_reason);
                e.standalone = standalone_reason.map(|r| Standalone { reason: r, priority: priority(r, inp.sentiment, inp.frustration) });
            }
            verdict
        }
    }
}

/// The FAQ entries the decision rests on, for the message's intent.
struct Candidates {
    /// The best-ranked entry serving the intent.
    best_for_intent: Option<FaqMatch>,
    /// An escalating entry ("tracking stuck") close enough to the best to hand the message on.
    escalation_faq: Option<FaqMatch>,
    /// The intent's default (summary) entry.
    default_faq: Option<usize>,
    /// The entry an automatic reply would use (and a draft can reuse).
    candidate: Option<usize>,
}

impl Candidates {
    fn find(inp: &Inputs<'_>) -> Candidates {
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

        // The intent's summary answer stands in only when no specific entry half-matches: a
        // half-match means the customer asked something specific the summary may not answer.
        let default_match = default_faq.and_then(|d| inp.matches.iter().find(|m| m.faq == d)).map_or(0.0, |m| m.confidence);
        let candidate: Option<usize> = match &best_for_intent {
            Some(m) if m.confidence >= MIN_ANSWER_CONFIDENCE && !kb.faqs[m.faq].escalate => Some(m.faq),
            Some(m) if m.confidence >= MIN_DRAFT_CONFIDENCE && Some(m.faq) != default_faq => None,
            _ if inp.intent.confidence >= MIN_DEFAULT_INTENT_CONFIDENCE && default_match >= MIN_DEFAULT_MATCH_CONFIDENCE => default_faq,
            _ => None,
        };
        Candidates { best_for_intent, escalation_faq, default_faq, candidate }
    }
}

/// Why the message goes to a human, the most specific reason first; `None` answers it.
fn escalation_reason(
    inp: &Inputs<'_>,
    found: &Candidates,
    route: Route,
    intent_reason: Option<EscalationReason>,
) -> Option<EscalationReason> {
    let negative = inp.sentiment.label == SentimentLabel::Negative;
    let frustrated = inp.frustration.is_frustrated();
    let unverified = found.candidate.is_some_and(|faq| !verified(faq, inp.matches));
    if inp.ctx.open_ticket_id.is_some() {
        Some(EscalationReason::ConversationWithAgent)
    } else if intent_reason == Some(EscalationReason::HumanRequested) && inp.intent.confidence >= MIN_INTENT_CONFIDENCE {
        Some(EscalationReason::HumanRequested)
    } else if negative || frustrated {
        // A frustrated customer goes to a person even with an answerable question; the
        // reason says so, and the draft still carries the answer.
        Some(if intent_reason == Some(EscalationReason::Complaint) {
            EscalationReason::Complaint
        } else if frustrated {
            EscalationReason::Frustrated
        } else {
            EscalationReason::NegativeSentiment
        })
    } else if found.escalation_faq.is_some() && route == Route::Auto {
        // A situation the knowledge base hands to people (stuck parcel, medical question).
        Some(EscalationReason::NeedsHumanAction)
    } else if inp.intent.confidence < MIN_INTENT_CONFIDENCE {
        Some(EscalationReason::NoConfidentAnswer)
    } else if route == Route::Escalate {
        Some(intent_reason.unwrap_or(EscalationReason::NoConfidentAnswer))
    } else {
        match found.candidate {
            None => Some(EscalationReason::NoConfidentAnswer),
            Some(_) if unverified => Some(EscalationReason::NoConfidentAnswer),
            Some(faq) if inp.kb.faqs[faq].is_small_talk() && !is_short(inp.text) => Some(EscalationReason::NoConfidentAnswer),
            Some(faq) => {
                // Asking the same question again means the answer did not help: a person
                // looks. Small talk said again is just conversation, up to a point.
                let sent = times_sent(inp, faq);
                let again_ok = inp.kb.faqs[faq].is_small_talk() && sent < MAX_SMALL_TALK_ANSWERS;
                (sent > 0 && !again_ok).then_some(EscalationReason::RepeatQuestion)
            }
        }
    }
}

/// Whether `text` is as short as small talk is ([`SMALL_TALK_MAX_CHARS_ZH`]).
fn is_short(text: &str) -> bool {
    let han = text.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count();
    let words = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty() && w.is_ascii()).count();
    han <= SMALL_TALK_MAX_CHARS_ZH && words <= SMALL_TALK_MAX_WORDS_EN
}

/// How many times the bot already sent the entry `faq` in this conversation.
fn times_sent(inp: &Inputs<'_>, faq: usize) -> usize {
    inp.ctx.answered_faq_ids.iter().filter(|id| **id == inp.kb.faqs[faq].id).count()
}

/// The automatic answer with the candidate entry.
fn answer(inp: &Inputs<'_>, found: &Candidates, considered: Option<FaqMatch>) -> Verdict {
    let index = found.candidate.expect("an answer has a candidate");
    let faq = &inp.kb.faqs[index];
    // Small talk said again gets its brief form, not the same canned text once more.
    let again = if times_sent(inp, index) > 0 { faq.again(inp.lang) } else { None };
    Verdict {
        action: Action::Answer { faq_id: faq.id.clone(), text: again.unwrap_or(faq.answer(inp.lang)).to_string() },
        considered: considered.or_else(|| {
            found.candidate.map(|faq| FaqMatch { faq, score: 0.0, confidence: inp.intent.confidence, lexical: 0.0, similarity: None })
        }),
    }
}

/// The escalation: its priority, the agent's draft and the customer's acknowledgement.
fn escalate(inp: &Inputs<'_>, found: &Candidates, route: Route, reason: EscalationReason, considered: Option<FaqMatch>) -> Verdict {
    let kb = inp.kb;
    // The draft reuses the most relevant knowledge: the escalating entry, else a confident
    // match, else the intent's summary.
    let draft_faq = found
        .escalation_faq
        .as_ref()
        .map(|m| m.faq)
        .or(found.best_for_intent.as_ref().filter(|m| m.confidence >= MIN_DRAFT_CONFIDENCE).map(|m| m.faq))
        .or(if route == Route::Auto { found.default_faq } else { None });
    let answer = draft_faq.map(|f| kb.faqs[f].answer(inp.lang));
    let upset = inp.sentiment.label == SentimentLabel::Negative || inp.frustration.is_frustrated();
    let mood = if upset { SentimentLabel::Negative } else { inp.sentiment.label };
    // Escalated for the mood alone, with the answer the bot would have sent: the agent's
    // draft carries it.
    let mood_only = matches!(reason, EscalationReason::Frustrated | EscalationReason::NegativeSentiment);
    let carry = mood_only && draft_faq.is_some_and(|f| Some(f) == found.candidate && verified(f, inp.matches));
    let draft = draft::compose(kb, &inp.intent.name, mood, inp.lang, answer, carry, inp.extracted);
    Verdict {
        action: Action::Escalate(Escalation {
            reason,
            priority: priority(reason, inp.sentiment, inp.frustration),
            draft,
            acknowledgement: kb.acknowledgement.for_mood(inp.lang, inp.ctx.agents_online, upset).to_string(),
            standalone: None,
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

/// Urgent for threats and very negative messages, high for other negatives, frustrated
/// customers and complaints.
pub fn priority(reason: EscalationReason, sentiment: &SentimentScore, frustration: &Frustration) -> Priority {
    let threat = sentiment.signals.iter().any(|s| s == "threat") || frustration.has(Cue::Threat);
    if threat || (sentiment.label == SentimentLabel::Negative && sentiment.score <= URGENT_SCORE) {
        Priority::Urgent
    } else if sentiment.label == SentimentLabel::Negative || frustration.is_frustrated() || reason == EscalationReason::Complaint {
        Priority::High
    } else {
        Priority::Normal
    }
}

/// The policy as a specification: one test per rule and per escalation reason, on a small
/// knowledge base built here (no files, no models: the policy is a pure function).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::{Acknowledgements, DraftTemplate, Faq, IntentDef, ShopInfo};
    use crate::understand::frustration::{Found, STRONG, WEAK};
    use std::collections::BTreeMap;

    fn intent(name: &str, route: Route, reason: Option<&str>) -> IntentDef {
        IntentDef {
            name: name.into(),
            description: String::new(),
            route,
            reason: reason.map(String::from),
            examples_zh: vec![],
            examples_en: vec![],
        }
    }

    fn faq(id: &str, intents: &[&str], default: bool, escalate: bool) -> Faq {
        Faq {
            id: id.into(),
            intents: intents.iter().map(|i| i.to_string()).collect(),
            default,
            escalate,
            questions_zh: vec![],
            questions_en: vec![],
            answer_zh: format!("{id} zh"),
            answer_en: format!("{id} en"),
            again_zh: None,
            again_en: None,
        }
    }

    /// Faq indices of [`kb`], for readable matches.
    const SHIPPING_FEE: usize = 0;
    const FREE_SHIPPING_DEFAULT: usize = 1;
    const WHERE_IS_ORDER: usize = 2;
    const TRACKING_STUCK: usize = 3;
    const HELLO: usize = 4;

    /// Two answerable intents (one with a default entry, one with an escalating entry) and
    /// four always-escalated intents.
    fn kb() -> KnowledgeBase {
        KnowledgeBase {
            shop: ShopInfo {
                name_zh: "店".into(),
                name_en: "Shop".into(),
                first_response_minutes: 30,
                complaint_hours: 24,
                bot_resumes_on: vec![],
            },
            intents: vec![
                intent("shipping", Route::Auto, None),
                intent("order_status", Route::Auto, None),
                intent("greeting", Route::Auto, None),
                intent("human", Route::Escalate, Some("human_requested")),
                intent("complaint", Route::Escalate, Some("complaint")),
                intent("off_topic", Route::Escalate, Some("out_of_scope")),
                intent("refund", Route::Escalate, None),
            ],
            faqs: vec![
                faq("shipping-fee", &["shipping"], false, false),
                faq("free-shipping", &["shipping"], true, false),
                faq("where-is-order", &["order_status"], false, false),
                faq("tracking-stuck", &["order_status"], false, true),
                Faq { again_zh: Some("在的".into()), again_en: Some("Still here!".into()), ..faq("hello", &["greeting"], true, false) },
            ],
            drafts: vec![DraftTemplate {
                intent: "*".into(),
                sentiment: "any".into(),
                zh: "{answer}".into(),
                en: "Draft: {answer}".into(),
                asks: vec![],
            }],
            asks: BTreeMap::new(),
            acknowledgement: Acknowledgements {
                online_zh: "在线".into(),
                online_en: "An agent will reply shortly.".into(),
                offline_zh: "离线".into(),
                offline_en: "An agent will reply when we open.".into(),
                upset_online_zh: Some("抱歉".into()),
                upset_online_en: Some("Sorry about this; an agent is looking into it.".into()),
                upset_offline_zh: Some("抱歉，明早".into()),
                upset_offline_en: Some("Sorry about this; an agent will look into it when we open.".into()),
            },
            quick_phrases: vec![],
            concepts: vec![],
            case_rules: vec![],
            version: "test".into(),
        }
    }

    fn m(faq: usize, confidence: f32) -> FaqMatch {
        FaqMatch { faq, score: 1.0, confidence, lexical: confidence, similarity: None }
    }

    fn neutral() -> SentimentScore {
        SentimentScore { label: SentimentLabel::Neutral, score: 0.0, signals: vec![] }
    }

    fn calm() -> Frustration {
        Frustration::default()
    }

    fn negative(score: f32) -> SentimentScore {
        SentimentScore { label: SentimentLabel::Negative, score, signals: vec![] }
    }

    /// One message: its intent and confidence, sentiment, FAQ matches and conversation.
    struct Case {
        intent: IntentPrediction,
        sentiment: SentimentScore,
        frustration: Frustration,
        matches: Vec<FaqMatch>,
        ctx: ConversationContext,
        text: String,
    }

    impl Case {
        fn new(intent: &str, confidence: f32, matches: Vec<FaqMatch>) -> Case {
            Case {
                intent: IntentPrediction { name: intent.into(), confidence },
                sentiment: neutral(),
                frustration: Frustration::default(),
                matches,
                ctx: ConversationContext { agents_online: true, ..ConversationContext::default() },
                text: "hello".into(),
            }
        }

        fn sentiment(mut self, sentiment: SentimentScore) -> Case {
            self.sentiment = sentiment;
            self
        }

        fn frustrated_by(mut self, cues: &[(Cue, u8)]) -> Case {
            self.frustration = Frustration { cues: cues.iter().map(|&(cue, weight)| Found { cue, weight }).collect() };
            self
        }

        fn verdict(&self) -> Verdict {
            self.verdict_with(&kb())
        }

        fn verdict_with(&self, kb: &KnowledgeBase) -> Verdict {
            decide(&Inputs {
                kb,
                lang: Lang::En,
                intent: &self.intent,
                sentiment: &self.sentiment,
                frustration: &self.frustration,
                matches: &self.matches,
                extracted: &Extracted::default(),
                ctx: &self.ctx,
                text: &self.text,
            })
        }

        fn answer(&self) -> String {
            match self.verdict().action {
                Action::Answer { faq_id, .. } => faq_id,
                Action::Escalate(e) => panic!("escalated ({:?}) instead of answering", e.reason),
            }
        }

        fn escalation(&self) -> Escalation {
            match self.verdict().action {
                Action::Escalate(e) => e,
                Action::Answer { faq_id, .. } => panic!("answered with {faq_id} instead of escalating"),
            }
        }

        fn reason(&self) -> EscalationReason {
            self.escalation().reason
        }
    }

    /// The answerable case the rules below start from.
    fn answerable() -> Case {
        Case::new("shipping", 0.9, vec![m(SHIPPING_FEE, 0.8)])
    }

    #[test]
    fn a_confident_neutral_question_with_a_confident_entry_is_answered_with_that_entry() {
        assert_eq!(answerable().answer(), "shipping-fee");
        assert!(matches!(answerable().verdict().action, Action::Answer { text, .. } if text == "shipping-fee en"));
    }

    #[test]
    fn a_conversation_with_an_open_ticket_goes_to_its_agent_whatever_the_message() {
        let mut case = answerable();
        case.ctx.open_ticket_id = Some("t-1".into());
        assert_eq!(case.reason(), EscalationReason::ConversationWithAgent);
    }

    #[test]
    fn a_confident_request_for_a_person_is_human_requested_even_when_negative() {
        let case = Case::new("human", 0.8, vec![]).sentiment(negative(-0.5));
        assert_eq!(case.reason(), EscalationReason::HumanRequested);
    }

    #[test]
    fn an_unsure_request_for_a_person_is_no_confident_answer() {
        assert_eq!(Case::new("human", MIN_INTENT_CONFIDENCE - 0.01, vec![]).reason(), EscalationReason::NoConfidentAnswer);
    }

    #[test]
    fn a_negative_message_is_never_answered_it_escalates_as_negative_sentiment() {
        assert_eq!(answerable().sentiment(negative(-0.4)).reason(), EscalationReason::NegativeSentiment);
    }

    #[test]
    fn a_negative_complaint_escalates_as_complaint() {
        assert_eq!(Case::new("complaint", 0.9, vec![]).sentiment(negative(-0.4)).reason(), EscalationReason::Complaint);
    }

    #[test]
    fn a_neutral_complaint_escalates_with_its_intents_reason() {
        assert_eq!(Case::new("complaint", 0.9, vec![]).reason(), EscalationReason::Complaint);
    }

    #[test]
    fn an_escalating_entry_within_the_margin_of_the_best_needs_human_action() {
        let escalating = MIN_ESCALATION_FAQ_CONFIDENCE.max(0.8 - ESCALATION_MARGIN);
        let case = Case::new("order_status", 0.9, vec![m(WHERE_IS_ORDER, 0.8), m(TRACKING_STUCK, escalating)]);
        assert_eq!(case.reason(), EscalationReason::NeedsHumanAction);
        assert!(case.escalation().draft.contains("tracking-stuck en"), "the draft reuses the escalating entry");
    }

    #[test]
    fn an_escalating_entry_clearly_beaten_by_the_best_does_not_escalate() {
        let case = Case::new("order_status", 0.9, vec![m(WHERE_IS_ORDER, 0.8), m(TRACKING_STUCK, 0.8 - ESCALATION_MARGIN - 0.05)]);
        assert_eq!(case.answer(), "where-is-order");
    }

    #[test]
    fn an_escalating_entry_below_its_minimum_confidence_does_not_escalate() {
        let case = Case::new("order_status", 0.9, vec![m(WHERE_IS_ORDER, 0.45), m(TRACKING_STUCK, MIN_ESCALATION_FAQ_CONFIDENCE - 0.01)]);
        assert_eq!(case.answer(), "where-is-order");
    }

    #[test]
    fn an_unsure_intent_is_no_confident_answer() {
        let case = Case::new("shipping", MIN_INTENT_CONFIDENCE - 0.01, vec![m(SHIPPING_FEE, 0.9)]);
        assert_eq!(case.reason(), EscalationReason::NoConfidentAnswer);
    }

    #[test]
    fn an_always_escalated_intent_escalates_with_its_own_reason() {
        assert_eq!(Case::new("off_topic", 0.9, vec![]).reason(), EscalationReason::OutOfScope);
    }

    #[test]
    fn an_always_escalated_intent_without_a_reason_is_no_confident_answer() {
        assert_eq!(Case::new("refund", 0.9, vec![]).reason(), EscalationReason::NoConfidentAnswer);
    }

    #[test]
    fn an_intent_the_knowledge_base_does_not_know_escalates() {
        assert_eq!(Case::new("unknown", 0.9, vec![]).reason(), EscalationReason::NoConfidentAnswer);
    }

    #[test]
    fn an_answerable_intent_without_a_confident_entry_is_no_confident_answer() {
        let case = Case::new("shipping", 0.9, vec![m(SHIPPING_FEE, MIN_ANSWER_CONFIDENCE - 0.01)]);
        assert_eq!(case.reason(), EscalationReason::NoConfidentAnswer);
    }

    #[test]
    fn the_intents_default_entry_answers_a_certain_intent_when_no_specific_entry_half_matches() {
        let case = Case::new("shipping", MIN_DEFAULT_INTENT_CONFIDENCE, vec![m(FREE_SHIPPING_DEFAULT, MIN_DEFAULT_MATCH_CONFIDENCE)]);
        assert_eq!(case.answer(), "free-shipping");
    }

    #[test]
    fn the_default_entry_does_not_answer_a_less_certain_intent() {
        let case =
            Case::new("shipping", MIN_DEFAULT_INTENT_CONFIDENCE - 0.01, vec![m(FREE_SHIPPING_DEFAULT, MIN_DEFAULT_MATCH_CONFIDENCE)]);
        assert_eq!(case.reason(), EscalationReason::NoConfidentAnswer);
    }

    #[test]
    fn the_default_entry_does_not_stand_in_for_a_half_matching_specific_entry() {
        let case = Case::new("shipping", 0.9, vec![m(SHIPPING_FEE, MIN_DRAFT_CONFIDENCE), m(FREE_SHIPPING_DEFAULT, 0.2)]);
        assert_eq!(case.reason(), EscalationReason::NoConfidentAnswer);
    }

    #[test]
    fn an_answer_the_encoder_does_not_verify_is_no_confident_answer() {
        let close = |faq, confidence, similarity| FaqMatch { similarity: Some(similarity), ..m(faq, confidence) };
        let too_far = Case::new("shipping", 0.9, vec![close(SHIPPING_FEE, 0.8, VERIFY_MIN_SIMILARITY - 0.01)]);
        assert_eq!(too_far.reason(), EscalationReason::NoConfidentAnswer);
        let not_closest = Case::new("shipping", 0.9, vec![close(SHIPPING_FEE, 0.8, 0.9), close(WHERE_IS_ORDER, 0.1, 0.95)]);
        assert_eq!(not_closest.reason(), EscalationReason::NoConfidentAnswer);
        let verified = Case::new("shipping", 0.9, vec![close(SHIPPING_FEE, 0.8, 0.9)]);
        assert_eq!(verified.answer(), "shipping-fee");
    }

    #[test]
    fn an_answer_already_sent_in_the_conversation_is_a_repeat_question() {
        let mut case = answerable();
        case.ctx.answered_faq_ids = vec!["shipping-fee".into()];
        assert_eq!(case.reason(), EscalationReason::RepeatQuestion);
    }

    #[test]
    fn small_talk_said_again_gets_its_brief_answer_not_a_hand_off() {
        let mut case = Case::new("greeting", 0.9, vec![m(HELLO, 0.9)]);
        assert!(matches!(case.verdict().action, Action::Answer { text, .. } if text == "hello en"), "the first time in full");
        for sent in 1..MAX_SMALL_TALK_ANSWERS {
            case.ctx.answered_faq_ids = vec!["hello".into(); sent];
            assert!(
                matches!(case.verdict().action, Action::Answer { ref text, .. } if text == "Still here!"),
                "said {} times: the brief answer",
                sent + 1
            );
        }
    }

    #[test]
    fn a_long_message_that_resembles_small_talk_is_not_answered_as_small_talk() {
        for text in ["好的，那我昨天买的那件什么时候能发货呢", "ok thanks, but when will the parcel i ordered yesterday arrive"]
        {
            let mut case = Case::new("greeting", 0.9, vec![m(HELLO, 0.9)]);
            case.text = text.into();
            assert_eq!(case.reason(), EscalationReason::NoConfidentAnswer, "{text}");
        }
        for text in ["好的谢谢", "ok got it, thanks!", "在吗 亲"] {
            let mut case = Case::new("greeting", 0.9, vec![m(HELLO, 0.9)]);
            case.text = text.into();
            assert!(matches!(case.verdict().action, Action::Answer { .. }), "{text}");
        }
    }

    #[test]
    fn small_talk_without_end_is_going_round_in_circles() {
        let mut case = Case::new("greeting", 0.9, vec![m(HELLO, 0.9)]);
        case.ctx.answered_faq_ids = vec!["hello".into(); MAX_SMALL_TALK_ANSWERS];
        assert_eq!(case.reason(), EscalationReason::RepeatQuestion);
    }

    #[test]
    fn the_acknowledgement_says_whether_agents_are_working() {
        let mut case = Case::new("off_topic", 0.9, vec![]);
        assert_eq!(case.escalation().acknowledgement, "An agent will reply shortly.");
        case.ctx.agents_online = false;
        assert_eq!(case.escalation().acknowledgement, "An agent will reply when we open.");
    }

    #[test]
    fn an_upset_customer_gets_the_plain_acknowledgement() {
        let mut case = Case::new("off_topic", 0.9, vec![]).sentiment(negative(-0.9));
        assert_eq!(case.escalation().acknowledgement, "Sorry about this; an agent is looking into it.");
        case.ctx.agents_online = false;
        assert_eq!(case.escalation().acknowledgement, "Sorry about this; an agent will look into it when we open.");
    }

    #[test]
    fn threats_and_very_negative_messages_are_urgent() {
        let threat = SentimentScore { signals: vec!["threat".into()], ..neutral() };
        assert_eq!(priority(EscalationReason::NoConfidentAnswer, &threat, &calm()), Priority::Urgent);
        assert_eq!(priority(EscalationReason::NegativeSentiment, &negative(URGENT_SCORE), &calm()), Priority::Urgent);
    }

    #[test]
    fn other_negative_messages_and_complaints_are_high() {
        assert_eq!(priority(EscalationReason::NegativeSentiment, &negative(URGENT_SCORE + 0.01), &calm()), Priority::High);
        assert_eq!(priority(EscalationReason::Complaint, &neutral(), &calm()), Priority::High);
    }

    #[test]
    fn everything_else_is_normal() {
        assert_eq!(priority(EscalationReason::NoConfidentAnswer, &neutral(), &calm()), Priority::Normal);
        assert_eq!(Case::new("off_topic", 0.9, vec![]).escalation().priority, Priority::Normal);
    }

    #[test]
    fn a_frustrated_customer_with_an_answerable_question_goes_to_a_person_with_the_answer_drafted() {
        let case = answerable().frustrated_by(&[(Cue::Impatience, STRONG)]);
        let e = case.escalation();
        assert_eq!(e.reason, EscalationReason::Frustrated);
        assert_eq!(e.priority, Priority::High);
        assert!(e.draft.contains("shipping-fee en"), "{}", e.draft);
        assert_eq!(e.acknowledgement, "Sorry about this; an agent is looking into it.");
    }

    #[test]
    fn one_hint_of_frustration_does_not_stop_an_answer() {
        assert_eq!(answerable().frustrated_by(&[(Cue::RepeatedPunctuation, WEAK)]).answer(), "shipping-fee");
    }

    #[test]
    fn frustration_names_the_reason_even_when_polarity_is_negative_but_a_complaint_stays_a_complaint() {
        let both = answerable().sentiment(negative(-0.4)).frustrated_by(&[(Cue::Sarcasm, STRONG)]);
        assert_eq!(both.reason(), EscalationReason::Frustrated);
        let complaint = Case::new("complaint", 0.9, vec![]).frustrated_by(&[(Cue::ServiceComplaint, STRONG)]);
        assert_eq!(complaint.reason(), EscalationReason::Complaint);
    }

    #[test]
    fn a_threat_cue_makes_a_frustrated_message_urgent() {
        let case = answerable().frustrated_by(&[(Cue::Threat, STRONG)]);
        assert_eq!(case.escalation().priority, Priority::Urgent);
    }

    #[test]
    fn the_answer_lands_in_the_draft_even_when_the_intents_upset_template_has_no_place_for_it() {
        let mut kb = kb();
        kb.drafts.push(DraftTemplate {
            intent: "shipping".into(),
            sentiment: "negative".into(),
            zh: "抱歉".into(),
            en: "So sorry for the wait.".into(),
            asks: vec![],
        });
        let Action::Escalate(e) = answerable().frustrated_by(&[(Cue::Impatience, STRONG)]).verdict_with(&kb).action else {
            panic!("a frustrated customer is escalated")
        };
        assert!(e.draft.contains("shipping-fee en"), "{}", e.draft);
        let Action::Escalate(calm) = Case::new("off_topic", 0.9, vec![]).verdict_with(&kb).action else { panic!("off topic escalates") };
        assert!(!calm.draft.contains("shipping-fee"), "{}", calm.draft);
    }
}
