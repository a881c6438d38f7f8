//! Frustration: a customer fed up with the service, told apart from polarity. The sentiment
//! model reads how a message feels; a shopper can ask a plain question ("when does it ship")
//! while complaining of waiting, mocking the shop or threatening a bad review, and that
//! customer wants a person, not a canned answer.
//!
//! A small explicit detector, so that every verdict can be explained: cue phrases in seven
//! families (Chinese and English, chat spellings included) plus rules for capitals and
//! repeated punctuation. A cue that means frustration on its own (a threat, "how many times")
//! weighs [`STRONG`]; one that only hints at it ("still", "!!", one capitalised word) weighs
//! [`WEAK`], and needs a second hint. Courtesy, a product the customer does not like, and a
//! plain question with one "?" carry no cue at all.

mod lexicon;

use serde::{Deserialize, Serialize};

/// Weight of a cue that shows frustration by itself.
pub const STRONG: u8 = 2;
/// Weight of a cue that only hints at it.
pub const WEAK: u8 = 1;
/// Weight from which a message is frustrated: one strong cue or two hints.
pub const FRUSTRATED_FROM: u8 = 2;
/// Letters a message needs before capitals can be shouting ("OK", "DHL" are not).
const SHOUT_MIN_LETTERS: usize = 8;
/// Share of capitals (in tenths) from which a message is shouted.
const SHOUT_TENTHS: usize = 7;
/// Letters of an all-capitals word that stresses something in a lower-case message.
const EMPHASIS_MIN_LETTERS: usize = 4;

/// A family of frustration cues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cue {
    /// A complaint to the platform, a regulator, a bank, or a bad review.
    Threat,
    /// Complaints about the service itself: nobody answers, the attitude, a bot.
    ServiceComplaint,
    /// Waiting, "still", "again", "how many times".
    Impatience,
    /// Ironic thanks and praise, eye-rolling.
    Sarcasm,
    /// Questions that are reproaches ("is this a joke", "难道").
    Rhetorical,
    /// Capitals: a shouted message or a stressed word.
    Capitals,
    /// `!!`, `??`, `?!`.
    RepeatedPunctuation,
}

impl Cue {
    /// The wire name, as stored with the decision.
    pub fn as_str(self) -> &'static str {
        match self {
            Cue::Threat => "threat",
            Cue::ServiceComplaint => "service_complaint",
            Cue::Impatience => "impatience",
            Cue::Sarcasm => "sarcasm",
            Cue::Rhetorical => "rhetorical",
            Cue::Capitals => "capitals",
            Cue::RepeatedPunctuation => "repeated_punctuation",
        }
    }
}

/// One cue found, with its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    /// Family.
    pub cue: Cue,
    /// [`STRONG`] or [`WEAK`].
    pub weight: u8,
}

/// The detector's verdict on one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frustration {
    /// Cue families found, each once, strongest evidence kept.
    pub cues: Vec<Found>,
}

impl Frustration {
    /// Total weight of the cues.
    pub fn weight(&self) -> u8 {
        self.cues.iter().map(|f| f.weight).sum()
    }

    /// Whether the customer is frustrated: one strong cue or two hints.
    pub fn is_frustrated(&self) -> bool {
        self.weight() >= FRUSTRATED_FROM
    }

    /// Whether a cue of this family was found.
    pub fn has(&self, cue: Cue) -> bool {
        self.cues.iter().any(|f| f.cue == cue)
    }

    /// "impatience+repeated_punctuation": what an agent reads next to the reason.
    pub fn explain(&self) -> String {
        self.cues.iter().map(|f| f.cue.as_str()).collect::<Vec<_>>().join("+")
    }
}

/// Reads a message: `raw` as typed (capitals), `normalized` from `normalize` (everything else).
pub fn detect(raw: &str, normalized: &str) -> Frustration {
    let mut cues: Vec<Found> = Vec::new();
    for family in lexicon::FAMILIES {
        let found = |phrases: &[&str]| phrases.iter().any(|p| lexicon::contains(normalized, p));
        if found(family.strong) {
            add(&mut cues, Found { cue: family.cue, weight: STRONG });
        } else if found(family.weak) {
            add(&mut cues, Found { cue: family.cue, weight: WEAK });
        }
    }
    if lexicon::waited_a_counted_time(normalized) {
        add(&mut cues, Found { cue: Cue::Impatience, weight: STRONG });
    }
    if let Some(weight) = capitals(raw) {
        add(&mut cues, Found { cue: Cue::Capitals, weight });
    }
    if repeated_punctuation(normalized) {
        add(&mut cues, Found { cue: Cue::RepeatedPunctuation, weight: WEAK });
    }
    cues.sort_by_key(|f| f.cue);
    Frustration { cues }
}

/// Adds `found`, or raises the weight of its family when already there.
fn add(cues: &mut Vec<Found>, found: Found) {
    match cues.iter_mut().find(|f| f.cue == found.cue) {
        Some(f) => f.weight = f.weight.max(found.weight),
        None => cues.push(found),
    }
}

/// A shouted message is strong; one stressed word ("I STILL have nothing") a hint. Words that
/// are written in capitals anyway (couriers, "ASAP") do not count.
fn capitals(raw: &str) -> Option<u8> {
    let letters: Vec<char> = raw.chars().filter(char::is_ascii_alphabetic).collect();
    let upper = letters.iter().filter(|c| c.is_ascii_uppercase()).count();
    if letters.len() >= SHOUT_MIN_LETTERS && upper * 10 >= letters.len() * SHOUT_TENTHS {
        return Some(STRONG);
    }
    let stressed = raw.split(|c: char| !c.is_ascii_alphabetic()).any(|w| {
        w.len() >= EMPHASIS_MIN_LETTERS
            && w.chars().all(|c| c.is_ascii_uppercase())
            && !lexicon::USUAL_CAPITALS.contains(&w.to_ascii_lowercase().as_str())
    });
    stressed.then_some(WEAK)
}

/// `!!`, `??` and their mixtures (full-width marks are half-width after `normalize`).
fn repeated_punctuation(normalized: &str) -> bool {
    ["!!", "??", "?!", "!?"].iter().any(|p| normalized.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::understand::normalize::normalize;

    fn read(text: &str) -> Frustration {
        detect(text, &normalize(text).text)
    }

    fn frustrated(text: &str) -> bool {
        read(text).is_frustrated()
    }

    /// Asserts every text is frustrated and that `cue` is among the reasons.
    fn all_frustrated_by(cue: Cue, texts: &[&str]) {
        for text in texts {
            let f = read(text);
            assert!(f.is_frustrated() && f.has(cue), "{text}: {f:?}");
        }
    }

    #[test]
    fn threats_of_platforms_regulators_banks_and_reviews_are_frustration() {
        all_frustrated_by(
            Cue::Threat,
            &[
                "再不发货我就找平台介入了",
                "等着给差评吧，什么时候发货",
                "I'll leave a bad review, when does it ship?",
                "gonna open a paypal claim",
            ],
        );
    }

    #[test]
    fn complaints_about_the_service_itself_are_frustration() {
        all_frustrated_by(
            Cue::ServiceComplaint,
            &[
                "客服呢 满多少包邮",
                "问了半天都没人回，退货地址是哪",
                "nobody replies here, how do I return this",
                "I'm fed up, where is my refund",
            ],
        );
    }

    #[test]
    fn impatience_is_frustration_when_it_counts_times_or_waits() {
        all_frustrated_by(
            Cue::Impatience,
            &[
                "问了多少次了 到底什么时候发货",
                "都等了5天了还不发货",
                "how many times do I have to ask when my order ships",
                "I've been waiting for weeks, where is my refund",
                "asking yet again: do you ship to Canada",
            ],
        );
    }

    #[test]
    fn sarcasm_and_ironic_thanks_are_frustration() {
        all_frustrated_by(
            Cue::Sarcasm,
            &[
                "呵呵 你们可真行",
                "真是谢谢你们了，一个星期了还没发",
                "thanks for nothing, so how do I return it",
                "oh great, another delay 🙄",
            ],
        );
    }

    #[test]
    fn rhetorical_questions_are_frustration() {
        all_frustrated_by(
            Cue::Rhetorical,
            &["有没有搞错，发票怎么开", "is this a joke? when will it ship", "what is wrong with you people"],
        );
    }

    #[test]
    fn shouting_is_frustration_and_a_stressed_word_is_a_hint() {
        all_frustrated_by(Cue::Capitals, &["WHERE IS MY REFUND", "I STILL have not got my parcel!!"]);
        let stressed = read("I have NEVER had this problem before, can I return it?");
        assert!(stressed.has(Cue::Capitals) && !stressed.is_frustrated(), "{stressed:?}");
        assert!(!read("Do you ship with DHL or FEDEX to the USA?").has(Cue::Capitals));
    }

    #[test]
    fn repeated_punctuation_is_a_hint_that_needs_company() {
        let alone = read("when will my parcel arrive??");
        assert!(alone.has(Cue::RepeatedPunctuation) && !alone.is_frustrated(), "{alone:?}");
        all_frustrated_by(Cue::RepeatedPunctuation, &["还没发货？？", "still no tracking number!!!", "到底什么时候到？？？"]);
    }

    #[test]
    fn mixed_language_and_chat_spellings_are_read() {
        for text in ["wtf 怎么还没发货！！", "kf呢？？ 人都去哪了", "u guys r a joke, still no refund", "催了三次了 tk呢"]
        {
            assert!(frustrated(text), "{text}: {:?}", read(text));
        }
    }

    #[test]
    fn courtesy_mild_dissatisfaction_and_plain_questions_are_not_frustration() {
        for text in [
            "谢谢亲！！",
            "thank you so much!!",
            "颜色不太喜欢，可以退吗？",
            "the colour isn't what I expected, can I return it?",
            "满多少包邮？",
            "is it still available?",
            "还没收到货，能帮我查一下吗",
            "how many days does delivery take?",
            "how long does a refund take",
            "有人吗",
            "I ordered the wrong size again, can I exchange it?",
        ] {
            assert!(!frustrated(text), "{text}: {:?}", read(text));
        }
    }

    #[test]
    fn the_verdict_names_its_cues() {
        let f = read("都问了多少次了？？");
        assert_eq!(f.explain(), "impatience+repeated_punctuation");
        assert_eq!(f.weight(), STRONG + WEAK);
    }

    /// The knowledge base's examples of answerable intents are neutral questions: the share
    /// read as frustrated is the detector's false-positive rate, kept under one in a hundred
    /// (the few it catches wait out loud: "still no refund", "到底什么时候能到？？？").
    #[test]
    fn few_of_the_knowledge_bases_answerable_examples_read_as_frustrated() {
        use crate::knowledge::{KnowledgeBase, Route};
        let kb = KnowledgeBase::load(std::path::Path::new("knowledge-base/demo")).expect("the demo knowledge base loads");
        let auto = |intent: &str| kb.intent(intent).is_some_and(|i| i.route == Route::Auto);
        let examples: Vec<&str> = kb
            .intents
            .iter()
            .filter(|i| i.route == Route::Auto)
            .flat_map(|i| i.examples_zh.iter().chain(&i.examples_en).map(String::as_str))
            .chain(kb.faqs.iter().filter(|f| f.intents.first().is_some_and(|i| auto(i))).flat_map(|f| f.questions()))
            .collect();
        let flagged: Vec<&str> = examples.iter().copied().filter(|t| frustrated(t)).collect();
        assert!(examples.len() > 1000, "{} examples", examples.len());
        assert!(flagged.len() * 100 <= examples.len(), "{} of {}: {flagged:?}", flagged.len(), examples.len());
    }
}
