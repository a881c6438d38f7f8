//! The on-disk shape of each knowledge-base file, with source spans so that problems can be
//! reported as `file:line`.

use super::{Acknowledgements, Bilingual, CaseRule, Concept, DraftTemplate, Faq, IntentDef, QuickPhrase, ShopInfo};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// File names, in the order they are read.
pub(super) const SHOP: &str = "shop.toml";
pub(super) const INTENTS: &str = "intents.toml";
pub(super) const FAQ: &str = "faq.toml";
pub(super) const DRAFTS: &str = "drafts.toml";
pub(super) const QUICK_PHRASES: &str = "quick_phrases.toml";
/// Optional: a shop without synonym groups simply has none.
pub(super) const CONCEPTS: &str = "concepts.toml";
/// Optional: a shop without case rules drafts no after-sales cases.
pub(super) const AFTERSALES: &str = "aftersales.toml";

/// `shop.toml` is the table itself.
pub(super) type ShopFile = ShopInfo;

/// `intents.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IntentsFile {
    pub(super) intent: Vec<Spanned<IntentDef>>,
}

/// `faq.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaqFile {
    pub(super) faq: Vec<Spanned<Faq>>,
}

/// `drafts.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DraftsFile {
    pub(super) draft: Vec<Spanned<DraftTemplate>>,
    #[serde(default)]
    pub(super) ask: BTreeMap<String, Spanned<Bilingual>>,
    pub(super) acknowledgement: Spanned<Acknowledgements>,
}

/// `quick_phrases.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QuickPhrasesFile {
    pub(super) phrase: Vec<Spanned<QuickPhrase>>,
}

/// `concepts.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConceptsFile {
    pub(super) concept: Vec<Spanned<Concept>>,
}

/// `aftersales.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AftersalesFile {
    pub(super) case: Vec<Spanned<CaseRule>>,
}

/// 1-based line of a byte offset.
pub(super) fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())].iter().filter(|&&b| b == b'\n').count() + 1
}
