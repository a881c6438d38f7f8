//! A shop's knowledge base: FAQ entries, intent examples, draft templates and quick phrases,
//! read from hand-edited TOML files in one folder (format: `docs/knowledge-base.md`).
//!
//! Loading validates everything [`check`] validates: a knowledge base with problems is never
//! half-loaded.

mod check;
mod files;

pub use check::{Problem, check_dir};

use crate::aftersales::{CaseReason, CaseType, Responsibility};
use crate::domain::{EscalationReason, Lang, SentimentLabel};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// How an intent is routed when the message is not negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// Answered automatically when a FAQ entry is confident.
    Auto,
    /// Always handed to a human.
    Escalate,
}

/// The shop's name and promises (`shop.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopInfo {
    /// Chinese display name.
    pub name_zh: String,
    /// English display name.
    pub name_en: String,
    /// Minutes within which a human first answers an escalated message.
    #[serde(default = "default_first_response_minutes")]
    pub first_response_minutes: u32,
    /// Hours within which a complaint is settled.
    #[serde(default = "default_complaint_hours")]
    pub complaint_hours: u32,
    /// Escalation reasons (wire names) after which the bot goes on answering what it can
    /// while no agent has taken the ticket up: a person waits for a conversation only while
    /// the reason it was handed over still holds (a spurious repeat does not).
    #[serde(default = "default_bot_resumes_on")]
    pub bot_resumes_on: Vec<String>,
}

impl ShopInfo {
    /// Whether the bot may answer again in a conversation whose untaken ticket was opened for
    /// `reason` ([`ShopInfo::bot_resumes_on`]).
    pub fn bot_resumes_on(&self, reason: EscalationReason) -> bool {
        self.bot_resumes_on.iter().any(|r| r == reason.as_str())
    }
}

fn default_first_response_minutes() -> u32 {
    30
}

fn default_complaint_hours() -> u32 {
    24
}

fn default_bot_resumes_on() -> Vec<String> {
    vec![EscalationReason::RepeatQuestion.as_str().to_string()]
}

/// One intent (`intents.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentDef {
    /// Name, as in evaluation files.
    pub name: String,
    /// What the customer wants (for people editing the file).
    #[serde(default)]
    pub description: String,
    /// Routing when not negative.
    pub route: Route,
    /// Escalation reason for `route = "escalate"` (wire name).
    #[serde(default)]
    pub reason: Option<String>,
    /// Chinese training examples.
    #[serde(default)]
    pub examples_zh: Vec<String>,
    /// English training examples.
    #[serde(default)]
    pub examples_en: Vec<String>,
}

impl IntentDef {
    /// The escalation reason of an always-escalated intent.
    pub fn escalation_reason(&self) -> Option<EscalationReason> {
        self.reason.as_deref().and_then(EscalationReason::parse)
    }
}

/// One FAQ entry (`faq.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faq {
    /// Unique id.
    pub id: String,
    /// Intents it serves; the first is its main intent.
    pub intents: Vec<String>,
    /// The intent's fallback answer when no phrasing matches well.
    #[serde(default)]
    pub default: bool,
    /// This situation needs a human; the answer only feeds the agent's draft.
    #[serde(default)]
    pub escalate: bool,
    /// Chinese phrasings.
    #[serde(default)]
    pub questions_zh: Vec<String>,
    /// English phrasings.
    #[serde(default)]
    pub questions_en: Vec<String>,
    /// Chinese answer.
    pub answer_zh: String,
    /// English answer.
    pub answer_en: String,
    /// Small talk (a greeting, thanks, "ok"): the brief Chinese answer when the customer says
    /// it again in the same conversation. Saying it twice is then no repeat question.
    #[serde(default)]
    pub again_zh: Option<String>,
    /// The same in English (both or neither).
    #[serde(default)]
    pub again_en: Option<String>,
}

impl Faq {
    /// Whether the entry is small talk, answered briefly when said again ([`Faq::again_zh`]).
    pub fn is_small_talk(&self) -> bool {
        self.again_zh.is_some()
    }

    /// The brief answer to the entry said again, in a language.
    pub fn again(&self, lang: Lang) -> Option<&str> {
        match lang {
            Lang::Zh => self.again_zh.as_deref(),
            Lang::En => self.again_en.as_deref(),
        }
    }

    /// The answer in a language.
    pub fn answer(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.answer_zh,
            Lang::En => &self.answer_en,
        }
    }

    /// All question phrasings, both languages.
    pub fn questions(&self) -> impl Iterator<Item = &str> {
        self.questions_zh.iter().chain(&self.questions_en).map(String::as_str)
    }
}

/// A text in both languages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bilingual {
    /// Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

impl Bilingual {
    /// The text in a language.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }
}

/// A draft template (`drafts.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftTemplate {
    /// Intent name or `*`.
    pub intent: String,
    /// `negative`, `neutral`, `positive` or `any`.
    pub sentiment: String,
    /// Chinese template.
    pub zh: String,
    /// English template.
    pub en: String,
    /// Keys of `[ask.*]` entries: what the agent will need from the customer.
    #[serde(default)]
    pub asks: Vec<String>,
}

impl DraftTemplate {
    /// How well this template fits (higher is more specific), or `None` when it does not.
    pub fn fit(&self, intent: &str, sentiment: SentimentLabel) -> Option<u8> {
        let intent_fit = if self.intent == intent {
            2
        } else if self.intent == "*" {
            0
        } else {
            return None;
        };
        let sentiment_fit = if self.sentiment == sentiment.as_str() {
            1
        } else if self.sentiment == "any" {
            0
        } else {
            return None;
        };
        Some(intent_fit + sentiment_fit)
    }

    /// The template in a language.
    pub fn text(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }
}

/// What the customer is told at once when a message is escalated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgements {
    /// While agents work, Chinese.
    pub online_zh: String,
    /// While agents work, English.
    pub online_en: String,
    /// Outside agent hours, Chinese.
    pub offline_zh: String,
    /// Outside agent hours, English.
    pub offline_en: String,
    /// For an upset customer (a negative message), while agents work, Chinese: the plain
    /// wording without playful particles or promises the first-response clock does not keep.
    /// Optional (the general one stands in); all four or none.
    #[serde(default)]
    pub upset_online_zh: Option<String>,
    /// The same, English.
    #[serde(default)]
    pub upset_online_en: Option<String>,
    /// For an upset customer outside agent hours, Chinese.
    #[serde(default)]
    pub upset_offline_zh: Option<String>,
    /// The same, English.
    #[serde(default)]
    pub upset_offline_en: Option<String>,
}

impl Acknowledgements {
    /// The acknowledgement for a language and whether agents are online.
    pub fn get(&self, lang: Lang, online: bool) -> &str {
        match (lang, online) {
            (Lang::Zh, true) => &self.online_zh,
            (Lang::En, true) => &self.online_en,
            (Lang::Zh, false) => &self.offline_zh,
            (Lang::En, false) => &self.offline_en,
        }
    }

    /// The acknowledgement that fits the customer's mood: the upset wording for a negative
    /// message when the shop wrote one.
    pub fn for_mood(&self, lang: Lang, online: bool, upset: bool) -> &str {
        let upset_text = match (lang, online) {
            (Lang::Zh, true) => &self.upset_online_zh,
            (Lang::En, true) => &self.upset_online_en,
            (Lang::Zh, false) => &self.upset_offline_zh,
            (Lang::En, false) => &self.upset_offline_en,
        };
        match upset_text {
            Some(text) if upset => text,
            _ => self.get(lang, online),
        }
    }
}

/// A quick phrase agents insert with `/key`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuickPhrase {
    /// What the agent types after `/`.
    pub key: String,
    /// Chinese text.
    pub zh: String,
    /// English text.
    pub en: String,
}

/// Words that mean the same thing to this shop (`concepts.toml`, optional). The intent
/// classifier sees the concept wherever any of its words appears, so an example written with
/// one word ("骗子") teaches the classifier the others ("scam", "忽悠") too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concept {
    /// Unique name (for people and for error messages).
    pub name: String,
    /// Chinese words, matched anywhere in the message.
    #[serde(default)]
    pub zh: Vec<String>,
    /// English words or phrases, matched as whole stemmed words ("refund" also finds "refunds").
    #[serde(default)]
    pub en: Vec<String>,
}

/// Which escalated messages open which after-sales case (`aftersales.toml`, optional). The
/// first rule that fits a message drafts its case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRule {
    /// Intents the rule applies to.
    pub intents: Vec<String>,
    /// Escalation reasons it applies to (wire names); empty: any.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Words of which one must be in the message (matched in the normalised, lower-case text);
    /// empty: any message of the intents.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The case it drafts.
    #[serde(rename = "type")]
    pub case_type: CaseType,
    /// Why.
    pub reason: CaseReason,
    /// Who is responsible, until the agent says otherwise.
    pub responsibility: Responsibility,
    /// What to ask the customer for (`photo`).
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// A whole, validated knowledge base.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    /// Shop info.
    pub shop: ShopInfo,
    /// Intents, in file order.
    pub intents: Vec<IntentDef>,
    /// FAQ entries, in file order.
    pub faqs: Vec<Faq>,
    /// Draft templates.
    pub drafts: Vec<DraftTemplate>,
    /// Ask texts by key.
    pub asks: BTreeMap<String, Bilingual>,
    /// Acknowledgements.
    pub acknowledgement: Acknowledgements,
    /// Quick phrases.
    pub quick_phrases: Vec<QuickPhrase>,
    /// Synonym groups for the intent classifier (empty when the shop has no `concepts.toml`).
    pub concepts: Vec<Concept>,
    /// After-sales case rules (empty when the shop has no `aftersales.toml`).
    pub case_rules: Vec<CaseRule>,
    /// Content hash of the files: changes whenever a support lead edits them.
    pub version: String,
}

impl KnowledgeBase {
    /// Loads and validates the folder. Every problem is reported, not just the first.
    pub fn load(dir: &Path) -> Result<KnowledgeBase, Vec<Problem>> {
        check::load_checked(dir)
    }

    /// An intent by name.
    pub fn intent(&self, name: &str) -> Option<&IntentDef> {
        self.intents.iter().find(|i| i.name == name)
    }

    /// A FAQ entry by id.
    pub fn faq(&self, id: &str) -> Option<&Faq> {
        self.faqs.iter().find(|f| f.id == id)
    }

    /// The most specific draft template for an intent and sentiment.
    pub fn draft_for(&self, intent: &str, sentiment: SentimentLabel) -> &DraftTemplate {
        // Reversed so that among equally specific templates the first in the file wins.
        self.drafts
            .iter()
            .rev()
            .filter_map(|d| d.fit(intent, sentiment).map(|f| (f, d)))
            .max_by_key(|(f, _)| *f)
            .map(|(_, d)| d)
            // check() guarantees a "*"/"any" template exists.
            .unwrap_or(&self.drafts[0])
    }
}
