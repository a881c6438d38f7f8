//! The after-sales case the router drafts for an escalated message: the first of the shop's
//! case rules (`aftersales.toml`) that fits the intent, the escalation reason and the wording
//! gives type, reason, responsibility and the evidence to ask for; the order and tracking
//! numbers come from the message. The agent completes and submits it.

use super::Extracted;
use crate::aftersales::CaseFields;
use crate::domain::EscalationReason;
use crate::knowledge::CaseRule;

/// The case for a message of `intent` escalated for `reason`, whose normalised text is
/// `normalized`; none when no rule fits.
pub fn draft(rules: &[CaseRule], intent: &str, reason: EscalationReason, normalized: &str, extracted: &Extracted) -> Option<CaseFields> {
    let rule = rules.iter().find(|rule| {
        rule.intents.iter().any(|i| i == intent)
            && (rule.reasons.is_empty() || rule.reasons.iter().any(|r| r == reason.as_str()))
            && (rule.keywords.is_empty() || rule.keywords.iter().any(|k| normalized.contains(k.as_str())))
    })?;
    Some(CaseFields {
        case_type: Some(rule.case_type),
        reason: Some(rule.reason),
        responsibility: Some(rule.responsibility),
        order_number: extracted.order_numbers.first().cloned(),
        tracking_number: extracted.tracking_numbers.first().cloned(),
        evidence_requested: rule.evidence.clone(),
        ..CaseFields::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aftersales::{CaseReason, CaseType, Responsibility};

    fn rule(intents: &[&str], reasons: &[&str], keywords: &[&str], case_type: CaseType, reason: CaseReason) -> CaseRule {
        CaseRule {
            intents: intents.iter().map(|s| s.to_string()).collect(),
            reasons: reasons.iter().map(|s| s.to_string()).collect(),
            keywords: keywords.iter().map(|s| s.to_string()).collect(),
            case_type,
            reason,
            responsibility: Responsibility::Warehouse,
            evidence: vec!["photo".into()],
        }
    }

    fn rules() -> Vec<CaseRule> {
        vec![
            rule(&["missing"], &[], &["发错", "wrong item"], CaseType::Exchange, CaseReason::WrongItem),
            rule(&["missing"], &[], &[], CaseType::Reshipment, CaseReason::MissingItem),
            rule(&["order_status"], &["needs_human_action"], &["stuck"], CaseType::RecallResend, CaseReason::LogisticsStalled),
        ]
    }

    #[test]
    fn the_first_fitting_rule_drafts_the_case_with_the_numbers_of_the_message() {
        let extracted = Extracted { order_numbers: vec!["4102938475610293".into()], ..Extracted::default() };
        let case = draft(&rules(), "missing", EscalationReason::NeedsHumanAction, "订单4102938475610293少了一瓶", &extracted).unwrap();
        assert_eq!(case.case_type, Some(CaseType::Reshipment));
        assert_eq!(case.reason, Some(CaseReason::MissingItem));
        assert_eq!(case.order_number.as_deref(), Some("4102938475610293"));
        assert_eq!(case.evidence_requested, ["photo"]);
        let wrong =
            draft(&rules(), "missing", EscalationReason::NeedsHumanAction, "you sent the wrong item", &Extracted::default()).unwrap();
        assert_eq!(wrong.case_type, Some(CaseType::Exchange));
        assert_eq!(wrong.order_number, None);
    }

    #[test]
    fn intent_reason_and_keywords_must_all_fit() {
        let none = Extracted::default();
        assert_eq!(draft(&rules(), "refund", EscalationReason::NeedsHumanAction, "少了", &none), None);
        assert_eq!(draft(&rules(), "order_status", EscalationReason::HumanRequested, "parcel stuck", &none), None);
        assert_eq!(draft(&rules(), "order_status", EscalationReason::NeedsHumanAction, "where is it", &none), None);
        let stalled = draft(&rules(), "order_status", EscalationReason::NeedsHumanAction, "parcel stuck", &none).unwrap();
        assert_eq!(stalled.case_type, Some(CaseType::RecallResend));
    }
}
