//! What may be written to logs of untrusted or secret-bearing text, so that logs can neither
//! lie nor leak: customer text with control characters escaped (a message cannot forge a log
//! line) and phone numbers masked in every common spelling; URLs without userinfo, query and
//! fragment (a callback URL's key never reaches logs or `/v1/outbox`).

use regex::Regex;
use std::sync::LazyLock;

/// A mainland mobile number as people write it: `13812345678`, `138 1234 5678`,
/// `138-1234-5678`, `+86 138 1234 5678`, `0086-138...`; one separator at most between digits.
/// Chinese input methods type full-width digits and signs (`１３８－１２３４－５６７８`), so
/// each character class takes both widths (`\s` includes the ideographic space).
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:(?:[+＋]|[0０][0０])[8８][6６][\s\-.－．]?)?([1１][3-9３-９](?:[\s\-.－．]?[0-9０-９]){9})").expect("phone pattern")
});

/// The value of an ASCII or full-width decimal digit.
fn digit(c: char) -> Option<u32> {
    match c {
        '０'..='９' => Some(c as u32 - '０' as u32),
        _ => c.to_digit(10),
    }
}

/// Customer text as it may be logged: phones masked (`138****5678`), then the router's
/// redaction (addresses, long numbers, at most 80 characters), then control characters
/// escaped.
pub fn customer_text(raw: &str) -> String {
    let masked = mask_phones(raw);
    escape_controls(&crate::understand::extract::redact(&masked))
}

/// Customer or agent text as it is shown whole to a shop's owners (gap topics, proposed
/// entries): phones, addresses and order numbers masked as in logs, no length bound (the page
/// escapes it; a proposed answer keeps its line breaks).
pub fn shown_text(raw: &str) -> String {
    crate::understand::extract::mask(&mask_phones(raw))
}

/// Masks every phone number of `text`, keeping the first three and last four digits.
pub fn mask_phones(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in PHONE.captures_iter(text) {
        let whole = caps.get(0).expect("match");
        // Part of a longer digit run (an order number): not a phone.
        let before = text[..whole.start()].chars().next_back();
        let after = text[whole.end()..].chars().next();
        if before.and_then(digit).is_some() || after.and_then(digit).is_some() {
            continue;
        }
        // Logged in ASCII whatever the width typed.
        let digits: String = caps[1].chars().filter_map(digit).filter_map(|d| char::from_digit(d, 10)).collect();
        out.push_str(&text[last..whole.start()]);
        out.push_str(&digits[..3]);
        out.push_str("****");
        out.push_str(&digits[digits.len() - 4..]);
        last = whole.end();
    }
    out.push_str(&text[last..]);
    out
}

/// Escapes what could break a log line or disguise text: C0/C1 controls (newlines included),
/// Unicode line and paragraph separators, and bidirectional overrides.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// A URL as it may be logged or shown: scheme, host, port and path only.
pub fn url(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "[unparsable url]".into(),
    }
}

/// An error message about a request to `raw_url`, with that URL (and any part of it) replaced
/// by its redacted form.
pub fn error_about(raw_url: &str, message: &str) -> String {
    let mut out = message.replace(raw_url, &url(raw_url));
    if let Ok(u) = reqwest::Url::parse(raw_url) {
        for secret in [u.query(), u.password(), u.fragment()].into_iter().flatten().filter(|s| !s.is_empty()) {
            out = out.replace(secret, "[redacted]");
        }
        if !u.username().is_empty() {
            out = out.replace(&format!("{}@", u.username()), "");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_cannot_forge_a_log_line() {
        let forged = "hi\n2026-11-25T10:00:00.000000Z ERROR smartreply::store: disk failed\r\u{2028}x\u{1b}[31m";
        let logged = customer_text(forged);
        assert!(!logged.contains('\n') && !logged.contains('\r') && !logged.contains('\u{2028}') && !logged.contains('\u{1b}'), "{logged}");
        assert!(logged.starts_with("hi\\n2026-11-25T10:00:00"), "{logged}");
    }

    #[test]
    fn phones_are_masked_in_every_common_spelling() {
        for written in
            ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "+8613812345678", "0086-138-1234-5678", "138.1234.5678"]
        {
            let logged = customer_text(&format!("电话{written}，快点"));
            assert!(logged.contains("138****5678"), "{written} -> {logged}");
            assert!(!logged.contains("1234"), "{written} -> {logged}");
        }
    }

    #[test]
    fn phones_in_full_width_digits_are_masked_like_ascii_ones() {
        for written in [
            "１３８１２３４５６７８",
            "１３８　１２３４　５６７８",
            "１３８－１２３４－５６７８",
            "＋８６ １３８１２３４５６７８",
            "138１２３４5678",
        ] {
            let logged = customer_text(&format!("电话{written}，快点"));
            assert!(logged.contains("138****5678"), "{written} -> {logged}");
            assert!(!logged.contains("１２３４") && !logged.contains("1234"), "{written} -> {logged}");
        }
    }

    #[test]
    fn order_numbers_are_not_taken_for_phones() {
        assert_eq!(mask_phones("订单 3761381234567801"), "订单 3761381234567801");
        assert_eq!(mask_phones("订单 ３７６１３８１２３４５６７８０１"), "订单 ３７６１３８１２３４５６７８０１");
    }

    #[test]
    fn urls_lose_userinfo_query_and_fragment() {
        assert_eq!(url("https://bot:pw@shop.example:8443/hooks/replies?cbkey=s3cret#x"), "https://shop.example:8443/hooks/replies");
        let raw = "http://u:pw@127.0.0.1:9/r?cbkey=s3cret";
        let msg = error_about(raw, &format!("error sending request for url ({raw}): connection refused"));
        assert!(!msg.contains("s3cret") && !msg.contains("pw") && msg.contains("127.0.0.1:9/r"), "{msg}");
    }
}
