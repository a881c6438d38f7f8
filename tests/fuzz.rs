//! Hostile-input fuzzing on stable Rust (proptest), bounded in time: normalisation and
//! tokenisation, the webhook body parser, signature verification, and log redaction. Every
//! property runs `PROPTEST_CASES` cases (default below; CI sets it) and may never panic.

use proptest::prelude::*;
use smartreply::ingest::InboundBody;
use smartreply::ingest::signature::{SignatureError, sign, verify};
use smartreply::understand::normalize::normalize;

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    ProptestConfig { cases, max_shrink_time: 10_000, ..ProptestConfig::default() }
}

/// Text as hostile clients write it: any Unicode, mixed with the characters that matter here.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\PC\\n\\r\\t\u{0}\u{1b}\u{2028}\u{202e}！？!?。，、…～😀👍退款快递tkTK０-９Ａ-Ｚ ]{0,200}",
        proptest::collection::vec(any::<char>(), 0..5000).prop_map(|v| v.into_iter().collect()),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn normalisation_never_panics_is_bounded_and_idempotent_in_length(text in hostile_text()) {
        let n = normalize(&text);
        prop_assert!(n.text.chars().count() <= 4 * smartreply::understand::normalize::MAX_CHARS);
        // Normalising normalised text changes nothing more than the first pass did.
        let again = normalize(&n.text);
        prop_assert_eq!(again.lang, n.lang);
    }

    #[test]
    fn tokenisation_never_panics(text in hostile_text()) {
        let mut analyzer = smartreply::understand::analyzer::analyzer();
        let terms = smartreply::understand::analyzer::terms(&mut analyzer, &text);
        prop_assert!(terms.iter().all(|t| !t.is_empty()));
        let _ = smartreply::understand::features::features(&mut analyzer, &normalize(&text).text);
    }

    #[test]
    fn the_body_parser_refuses_garbage_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        if let Ok(body) = serde_json::from_slice::<InboundBody>(&bytes) {
            let _ = body.parse();
        }
    }

    #[test]
    fn every_accepted_body_is_within_the_contracts_limits(
        message_id in hostile_text(), conversation_id in hostile_text(), customer_id in hostile_text(), text in hostile_text(),
    ) {
        let json = serde_json::json!({"message_id": message_id, "conversation_id": conversation_id, "customer_id": customer_id, "text": text});
        let body: InboundBody = serde_json::from_value(json).unwrap();
        if let Ok(m) = body.parse() {
            let chars = m.text.chars().count();
            prop_assert!((1..=4000).contains(&chars) && !m.text.trim().is_empty());
            for id in [&m.message_id, &m.conversation_id, &m.customer_id] {
                prop_assert!(!id.trim().is_empty() && id.chars().count() <= 200 && !id.chars().any(char::is_control));
            }
        }
    }

    #[test]
    fn a_signature_verifies_only_for_its_own_key_timestamp_and_body(
        secret in "[ -~]{8,64}", other in "[ -~]{8,64}", body in proptest::collection::vec(any::<u8>(), 0..512),
        flip in any::<usize>(), ts in 1_000_000_000i64..4_000_000_000, skew in -300i64..=300,
    ) {
        let sig = sign(&secret, ts, &body);
        let t = ts.to_string();
        prop_assert_eq!(verify(&secret, Some(&t), Some(&sig), &body, ts + skew), Ok(()));
        if other != secret {
            prop_assert_eq!(verify(&other, Some(&t), Some(&sig), &body, ts), Err(SignatureError::Mismatch));
        }
        if !body.is_empty() {
            let mut changed = body.clone();
            changed[flip % body.len()] ^= 0x01;
            prop_assert_eq!(verify(&secret, Some(&t), Some(&sig), &changed, ts), Err(SignatureError::Mismatch));
        }
        prop_assert_eq!(verify(&secret, Some(&t), Some(&sig), &body, ts + 301), Err(SignatureError::Stale));
    }

    #[test]
    fn signature_headers_of_any_shape_are_refused_without_panicking(ts in any::<String>(), sig in any::<String>(), body in any::<String>()) {
        prop_assert!(verify("a-secret-key", Some(&ts), Some(&sig), body.as_bytes(), 1_700_000_000).is_err());
    }

    #[test]
    fn redacted_customer_text_is_one_line(text in hostile_text()) {
        let logged = smartreply::redact::customer_text(&text);
        prop_assert!(!logged.chars().any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'), "{:?}", logged);
    }
}
