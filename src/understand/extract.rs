//! Extraction of the fields a ticket needs: order numbers, courier tracking numbers, mainland
//! mobile numbers and money amounts; and masking of phone numbers and addresses for logs.

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// Ticket fields pulled out of the text.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Extracted {
    /// Order numbers (long digit runs, or after 订单号 / order #).
    pub order_numbers: Vec<String>,
    /// Courier tracking numbers (SF..., ZTO/7x digits ...).
    pub tracking_numbers: Vec<String>,
    /// Mainland mobile numbers, as written (mask before logging).
    pub phones: Vec<String>,
    /// Money amounts such as `¥59` or `50元`.
    pub amounts: Vec<String>,
}

static ORDER_LABELLED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:订单号|订单编号|订单|单号|order\s*(?:number|no\.?|id|#)?)\s*(?:是|为|:|：|#)?\s*#?([a-z]{0,3}\d[\d-]{5,23})")
        .unwrap()
});
/// Marketplace order numbers are long digit runs (Taobao: 18–19 digits).
static LONG_DIGITS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:^|\D)(\d{12,22})(?:\D|$)").unwrap());
static TRACKING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[^a-z0-9])((?:sf|zto|yt|jt|jd)\d{10,15}|(?:快递单号|运单号|物流单号|tracking\s*(?:number|no\.?|#)?)\s*(?:是|为|:|：)?\s*[a-z]{0,3}\d{10,15})").unwrap()
});
static PHONE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:^|\D)(1[3-9]\d{9})(?:\D|$)").unwrap());
static AMOUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?:[¥￥$]\s*\d+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?\s*(?:元|块钱|块|rmb|yuan|dollars?|usd))").unwrap());
/// Tail of a Chinese street address: a place word followed by a house number and more.
static ADDRESS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\p{Han}\w]{1,12}(?:省|市|区|县|镇|乡|路|街|道|巷|弄|号楼|小区|栋|单元|室)[\p{Han}\w\-]*").unwrap());
static DIGITS_IN_TRACKING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)[a-z]{0,3}\d{10,15}$").unwrap());

fn push_unique(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

/// Extracts ticket fields from the text as the customer wrote it.
pub fn extract(raw: &str) -> Extracted {
    let mut out = Extracted::default();
    for c in TRACKING.captures_iter(raw) {
        let m = c.get(1).map(|m| m.as_str()).unwrap_or_default();
        if let Some(number) = DIGITS_IN_TRACKING.find(m) {
            push_unique(&mut out.tracking_numbers, &number.as_str().to_uppercase());
        }
    }
    for c in PHONE.captures_iter(raw) {
        push_unique(&mut out.phones, &c[1]);
    }
    for c in ORDER_LABELLED.captures_iter(raw) {
        let number = c[1].trim_end_matches('-');
        if !out.phones.iter().any(|p| p == number) && !out.tracking_numbers.iter().any(|t| t.ends_with(number)) {
            push_unique(&mut out.order_numbers, number);
        }
    }
    for c in LONG_DIGITS.captures_iter(raw) {
        let number = &c[1];
        if !out.tracking_numbers.iter().any(|t| t.ends_with(number)) {
            push_unique(&mut out.order_numbers, number);
        }
    }
    for m in AMOUNT.find_iter(raw) {
        push_unique(&mut out.amounts, m.as_str().trim());
    }
    out
}

/// `13812345678` → `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    format!("{}****{}", chars[..3].iter().collect::<String>(), chars[chars.len() - 4..].iter().collect::<String>())
}

/// [`redact`] without the length bound: phone numbers masked, address tails and long digit
/// runs (order numbers) replaced, for texts shown whole to owners (gap topics, proposals).
pub fn mask(raw: &str) -> String {
    let phones_masked = PHONE.replace_all(raw, |c: &regex::Captures<'_>| c[0].replace(&c[1], &mask_phone(&c[1])));
    let addresses_masked = ADDRESS.replace_all(&phones_masked, "[address]");
    let digits_masked = LONG_DIGITS
        .replace_all(&addresses_masked, |c: &regex::Captures<'_>| c[0].replace(&c[1], &format!("[{} digits]", c[1].chars().count())));
    digits_masked.into_owned()
}

/// Customer text made safe for logs: phone numbers masked, address tails and long digit runs
/// replaced, and the length bounded.
pub fn redact(raw: &str) -> String {
    const MAX_LOGGED_CHARS: usize = 80;
    let bounded: String = raw.chars().take(MAX_LOGGED_CHARS).collect();
    let mut out = mask(&bounded);
    if raw.chars().count() > MAX_LOGGED_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_labelled_and_bare_order_numbers() {
        let e = extract("订单号：3761234567890123456 还没发货");
        assert_eq!(e.order_numbers, vec!["3761234567890123456"]);
        let e = extract("my order #A12345678 never came");
        assert_eq!(e.order_numbers, vec!["A12345678"]);
        let e = extract("4012345678901234567 这个单子呢");
        assert_eq!(e.order_numbers, vec!["4012345678901234567"]);
    }

    #[test]
    fn finds_tracking_numbers() {
        let e = extract("顺丰单号SF1234567890123查不到");
        assert_eq!(e.tracking_numbers, vec!["SF1234567890123"]);
        let e = extract("tracking number: 75312345678901 stuck");
        assert_eq!(e.tracking_numbers, vec!["75312345678901"]);
        assert!(e.order_numbers.is_empty(), "{e:?}");
    }

    #[test]
    fn finds_phones_without_taking_them_for_orders() {
        let e = extract("电话13812345678，订单 20231234567890");
        assert_eq!(e.phones, vec!["13812345678"]);
        assert_eq!(e.order_numbers, vec!["20231234567890"]);
    }

    #[test]
    fn finds_amounts() {
        let e = extract("降了50元，原价¥199，paid $30");
        assert_eq!(e.amounts, vec!["50元", "¥199", "$30"]);
    }

    #[test]
    fn masks_phones() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
    }

    #[test]
    fn redaction_hides_phones_addresses_and_long_numbers() {
        let r = redact("寄到浙江省杭州市西湖区文三路100号 电话13812345678 单号3761234567890123");
        assert!(!r.contains("13812345678"), "{r}");
        assert!(r.contains("138****5678"), "{r}");
        assert!(!r.contains("文三路"), "{r}");
        assert!(!r.contains("3761234567890123"), "{r}");
    }

    #[test]
    fn a_long_number_in_full_width_digits_is_counted_in_digits_not_bytes() {
        let logged = redact("订单号１２３４５６７８９０１２３４５６");
        assert!(logged.contains("[16 digits]"), "{logged}");
        assert!(!logged.contains('１'), "{logged}");
    }

    #[test]
    fn redaction_bounds_length() {
        let r = redact(&"a".repeat(500));
        assert!(r.chars().count() <= 81);
    }
}
