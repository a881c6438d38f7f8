//! Draft replies for agents and acknowledgements for customers, filled from the knowledge
//! base's templates: the most specific template for the intent and sentiment, the best FAQ
//! answer in place of `{answer}`, and only the asks the customer has not already answered.

use super::Extracted;
use crate::domain::{Lang, SentimentLabel};
use crate::knowledge::{DraftTemplate, KnowledgeBase};

/// Fills the draft template for an escalated message. With `carry_answer` (the router had a
/// verified answer and escalated only because of the customer's mood) the draft always
/// contains `answer`: the agent should not have to look up what the bot already knew.
pub fn compose(
    kb: &KnowledgeBase,
    intent: &str,
    sentiment: SentimentLabel,
    lang: Lang,
    answer: Option<&str>,
    carry_answer: bool,
    extracted: &Extracted,
) -> String {
    let carry_answer = carry_answer && answer.is_some();
    let template = template(kb, intent, sentiment, lang, carry_answer);
    let asks: String = template
        .asks
        .iter()
        .filter(|ask| !already_given(ask, extracted))
        .filter_map(|ask| kb.asks.get(ask.as_str()))
        .map(|ask| ask.get(lang))
        .collect();
    let order = extracted.order_numbers.first().map(String::as_str).unwrap_or("");
    let answer = answer.map(without_salutation).unwrap_or("");
    let text = template.text(lang);
    let mut filled = text.replace("{answer}", answer).replace("{asks}", &asks).replace("{order}", order);
    if carry_answer && !text.contains("{answer}") {
        filled = format!("{filled} {answer}");
    }
    tidy(&filled)
}

/// The most specific template for the intent and mood; when the answer must be carried, the
/// most specific one with an `{answer}` place (a stuck-parcel template has none: its answer is
/// the agent's own check).
fn template<'k>(kb: &'k KnowledgeBase, intent: &str, sentiment: SentimentLabel, lang: Lang, carry_answer: bool) -> &'k DraftTemplate {
    let best = kb.draft_for(intent, sentiment);
    if !carry_answer || best.text(lang).contains("{answer}") {
        return best;
    }
    kb.drafts
        .iter()
        .rev()
        .filter(|d| d.text(lang).contains("{answer}"))
        .filter_map(|d| d.fit(intent, sentiment).map(|f| (f, d)))
        .max_by_key(|(f, _)| *f)
        .map_or(best, |(_, d)| d)
}

/// Openings an FAQ answer may start with; a draft template has its own, and "亲，您好！亲，…"
/// reads as a copy-pasted reply.
const SALUTATIONS: &[&str] = &[
    "亲，",
    "亲,",
    "亲～",
    "亲~",
    "亲 ",
    "您好！",
    "您好，",
    "您好,",
    "你好！",
    "你好，",
    "Hello! ",
    "Hello, ",
    "Hi there! ",
    "Hi! ",
    "Hi, ",
    "Hey! ",
    "Hey, ",
];

/// `answer` without the greetings it opens with.
fn without_salutation(answer: &str) -> &str {
    let mut rest = answer.trim_start();
    while let Some(stripped) = SALUTATIONS.iter().find_map(|s| rest.strip_prefix(s)) {
        rest = stripped.trim_start();
    }
    rest
}

/// Asks the message itself already answers.
fn already_given(ask: &str, extracted: &Extracted) -> bool {
    match ask {
        "order_number" => !extracted.order_numbers.is_empty(),
        "tracking_number" | "tracking_screenshot" => !extracted.tracking_numbers.is_empty(),
        "phone" => !extracted.phones.is_empty(),
        _ => false,
    }
}

/// Removes the doubled spaces and dangling separators empty placeholders leave behind.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_space = false;
    for c in text.chars() {
        let space = c == ' ';
        if !(space && prev_space) {
            out.push(c);
        }
        prev_space = space;
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_lose_their_own_greeting_inside_a_draft() {
        assert_eq!(without_salutation("亲，您好！16:00 前付款的订单当天发货。"), "16:00 前付款的订单当天发货。");
        assert_eq!(without_salutation("Hello! Hi, returns are free within 7 days."), "returns are free within 7 days.");
        assert_eq!(without_salutation("亲爱的顾客"), "亲爱的顾客");
    }

    #[test]
    fn tidy_collapses_spaces_left_by_empty_placeholders() {
        assert_eq!(tidy("Sorry!  {x}  Please send photos. "), "Sorry! {x} Please send photos.");
    }

    #[test]
    fn an_order_number_in_the_message_satisfies_the_ask() {
        let with = Extracted { order_numbers: vec!["123456789012".into()], ..Default::default() };
        assert!(already_given("order_number", &with));
        assert!(!already_given("order_number", &Extracted::default()));
        assert!(!already_given("photos", &with));
    }
}
