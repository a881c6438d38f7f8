//! After-sales cases (售后单): their types, reasons and responsibilities, the fields each type
//! requires, and the check that refuses a case with a required field missing. Pure: the
//! router drafts cases (`decide::case`), the application layer stores and submits them.

use crate::domain::wire_enum;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

wire_enum! {
    /// What the shop does for the customer.
    pub enum CaseType {
        /// 补发: send the missing or broken item again.
        Reshipment => "reshipment",
        /// 换货: the customer returns it and gets another.
        Exchange => "exchange",
        /// 退货退款: the customer returns it and is refunded.
        ReturnRefund => "return_refund",
        /// 仅退款: refund without a return.
        RefundOnly => "refund_only",
        /// 召回重发: the courier recalls the stalled parcel and a new one is sent.
        RecallResend => "recall_resend",
        /// 补偿: a gift or coupon as goodwill.
        Goodwill => "goodwill",
    }
}

wire_enum! {
    /// Why the case exists.
    pub enum CaseReason {
        /// An item of the order was not in the parcel.
        MissingItem => "missing_item",
        /// Another item than ordered arrived.
        WrongItem => "wrong_item",
        /// Broken or leaking on arrival.
        Damaged => "damaged",
        /// A quality problem (defect, reaction).
        Quality => "quality",
        /// The parcel stopped moving.
        LogisticsStalled => "logistics_stalled",
        /// The gift promised in a livestream was not sent.
        LivestreamGiftMissing => "livestream_gift_missing",
        /// Goodwill towards an unhappy customer.
        CustomerGoodwill => "customer_goodwill",
        /// Anything else (say what in the note).
        Other => "other",
    }
}

wire_enum! {
    /// Who is responsible (权责): decides who bears the cost.
    pub enum Responsibility {
        /// Picking and packing.
        Warehouse => "warehouse",
        /// Transport.
        Courier => "courier",
        /// The customer's own choice or mistake.
        Customer => "customer",
        /// The shop (product, promise, service).
        Shop => "shop",
    }
}

/// The fields every case needs, whatever its type (in the form's order).
pub const ALWAYS_REQUIRED: &[&str] = &["type", "reason", "responsibility", "order_number"];

impl CaseType {
    /// What a case of this type needs besides [`ALWAYS_REQUIRED`] (and requested evidence).
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            Self::Reshipment | Self::Exchange | Self::Goodwill => &["items"],
            Self::ReturnRefund => &["items", "refund_amount"],
            Self::RefundOnly => &["refund_amount"],
            Self::RecallResend => &["tracking_number"],
        }
    }
}

/// A case's fields as the agent and the router fill them in; every one may still be missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseFields {
    /// What the shop does.
    #[serde(rename = "type")]
    pub case_type: Option<CaseType>,
    /// Why.
    pub reason: Option<CaseReason>,
    /// Who bears it.
    pub responsibility: Option<Responsibility>,
    /// The order concerned.
    pub order_number: Option<String>,
    /// What to send, exchange or return ("玻尿酸精华 30ml ×1").
    pub items: Option<String>,
    /// Amount to refund, as written ("59.00").
    pub refund_amount: Option<String>,
    /// The stalled parcel's tracking number.
    pub tracking_number: Option<String>,
    /// What the customer is asked to show (`photo`).
    #[serde(default)]
    pub evidence_requested: Vec<String>,
    /// What the customer sent (a note or an image URL).
    pub evidence: Option<String>,
    /// Anything the shop's system should know.
    pub note: Option<String>,
}

/// Longest free-text field, in characters.
pub const MAX_FIELD_CHARS: usize = 500;

impl CaseFields {
    /// Field-level problems that keep the case from being submitted (field → message), empty
    /// when it is complete.
    pub fn missing(&self) -> BTreeMap<&'static str, String> {
        let mut problems = BTreeMap::new();
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        // every missing field at once: an agent should not discover them one submit at a time
        if self.case_type.is_none() {
            problems.insert("type", "required".to_string());
        }
        if self.reason.is_none() {
            problems.insert("reason", "required".into());
        }
        if self.responsibility.is_none() {
            problems.insert("responsibility", "required".into());
        }
        if blank(&self.order_number) {
            problems.insert("order_number", "required".into());
        }
        if let Some(case_type) = self.case_type {
            for field in case_type.required_fields() {
                if blank(self.text(field)) {
                    problems.insert(field, format!("required for {}", case_type.as_str()));
                }
            }
        }
        if !self.evidence_requested.is_empty() && blank(&self.evidence) {
            problems.insert("evidence", format!("required: {} requested", self.evidence_requested.join(", ")));
        }
        if let Some(amount) = self.refund_amount.as_deref().filter(|a| !a.trim().is_empty())
            && !amount.trim().trim_start_matches(['¥', '￥']).parse::<f64>().is_ok_and(|a| a > 0.0 && a.is_finite())
        {
            problems.insert("refund_amount", "a positive amount, e.g. 59.00".into());
        }
        problems
    }

    /// Problems with values as given (too long), whatever the type.
    pub fn too_long(&self) -> BTreeMap<&'static str, String> {
        ["order_number", "items", "refund_amount", "tracking_number", "evidence", "note"]
            .into_iter()
            .filter(|f| self.text(f).as_deref().is_some_and(|v| v.chars().count() > MAX_FIELD_CHARS))
            .map(|f| (f, format!("at most {MAX_FIELD_CHARS} characters")))
            .collect()
    }

    fn text(&self, field: &str) -> &Option<String> {
        match field {
            "order_number" => &self.order_number,
            "items" => &self.items,
            "refund_amount" => &self.refund_amount,
            "tracking_number" => &self.tracking_number,
            "evidence" => &self.evidence,
            "note" => &self.note,
            _ => unreachable!("not a text field: {field}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(case_type: CaseType) -> CaseFields {
        CaseFields {
            case_type: Some(case_type),
            reason: Some(CaseReason::Other),
            responsibility: Some(Responsibility::Shop),
            order_number: Some("4102938475610293".into()),
            items: Some("精华 ×1".into()),
            refund_amount: Some("59.00".into()),
            tracking_number: Some("SF1234567890123".into()),
            ..CaseFields::default()
        }
    }

    #[test]
    fn every_type_names_exactly_its_own_required_fields() {
        let expected: &[(CaseType, &[&str])] = &[
            (CaseType::Reshipment, &["items"]),
            (CaseType::Exchange, &["items"]),
            (CaseType::ReturnRefund, &["items", "refund_amount"]),
            (CaseType::RefundOnly, &["refund_amount"]),
            (CaseType::RecallResend, &["tracking_number"]),
            (CaseType::Goodwill, &["items"]),
        ];
        assert_eq!(expected.len(), CaseType::ALL.len());
        for (case_type, fields) in expected {
            assert!(complete(*case_type).missing().is_empty(), "{case_type:?}");
            let empty = CaseFields {
                case_type: Some(*case_type),
                reason: Some(CaseReason::Other),
                responsibility: Some(Responsibility::Shop),
                order_number: Some("1".into()),
                ..CaseFields::default()
            };
            let missing: Vec<&str> = empty.missing().into_keys().collect();
            assert_eq!(missing, *fields, "{case_type:?}");
        }
    }

    #[test]
    fn the_common_fields_and_requested_evidence_are_required() {
        // an empty case names every field it needs at once (the type's own come with the type)
        let missing: Vec<&str> = CaseFields::default().missing().into_keys().collect();
        assert_eq!(missing, ["order_number", "reason", "responsibility", "type"]);
        let no_type = CaseFields { evidence_requested: vec!["photo".into()], ..CaseFields::default() };
        assert!(no_type.missing().contains_key("evidence"));
        let bare = CaseFields { case_type: Some(CaseType::RefundOnly), refund_amount: Some("10".into()), ..CaseFields::default() };
        assert_eq!(bare.missing().into_keys().collect::<Vec<_>>(), ["order_number", "reason", "responsibility"]);
        let photo = CaseFields { evidence_requested: vec!["photo".into()], ..complete(CaseType::Reshipment) };
        assert_eq!(photo.missing().get("evidence").map(String::as_str), Some("required: photo requested"));
        let blank = CaseFields { items: Some("  ".into()), ..complete(CaseType::Reshipment) };
        assert_eq!(blank.missing().get("items").map(String::as_str), Some("required for reshipment"));
        let bad_amount = CaseFields { refund_amount: Some("-3".into()), ..complete(CaseType::RefundOnly) };
        assert!(bad_amount.missing().contains_key("refund_amount"));
        assert!(CaseFields { refund_amount: Some("¥59".into()), ..complete(CaseType::RefundOnly) }.missing().is_empty());
    }

    #[test]
    fn wire_names_round_trip() {
        for t in CaseType::ALL {
            assert_eq!(CaseType::parse(t.as_str()), Some(*t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for r in CaseReason::ALL {
            assert_eq!(CaseReason::parse(r.as_str()), Some(*r));
        }
        for r in Responsibility::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(CaseType::parse("refund"), None);
    }
}
