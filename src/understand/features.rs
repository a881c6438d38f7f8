//! Sparse features of a normalised message for the intent classifier: words (jieba +
//! stemmer, stop words kept), word pairs, Chinese character uni- and bigrams (robust to
//! segmentation slips and typos), English character trigrams (robust to misspellings),
//! emoji, and shape cues (digit runs, `!!!`, `???`). Hashed, sublinear counts, unit length.

use super::analyzer;
use crate::understand::normalize::is_han;
use std::collections::HashMap;
use std::hash::Hasher;
use tantivy::tokenizer::TextAnalyzer;

/// Words after which English meaning flips ("t" is what remains of "don't").
const ENGLISH_NEGATORS: &[&str] = &["not", "no", "never", "without", "t", "nor"];

/// A feature id (64-bit FNV-1a of the feature's text).
pub type FeatureId = u64;

/// FNV-1a: tiny, deterministic across runs and platforms (unlike `RandomState`).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The id of a feature of `kind` with `text` (extensions such as concepts use their own kind).
pub fn id(kind: &str, text: &str) -> FeatureId {
    let mut h = Fnv::default();
    h.write(kind.as_bytes());
    h.write(&[0]);
    h.write(text.as_bytes());
    h.finish()
}

/// Feature vector of a normalised message: sorted by id, unit L2 length.
pub fn features(analyzer: &mut TextAnalyzer, normalized: &str) -> Vec<(FeatureId, f32)> {
    if normalized.trim().is_empty() {
        return Vec::new();
    }
    let mut counts: HashMap<FeatureId, f32> = HashMap::new();
    let mut add = |kind: &str, text: &str, weight: f32| {
        *counts.entry(id(kind, text)).or_default() += weight;
    };

    let words = analyzer::all_terms(analyzer, normalized);
    // English negation flips the next two words: "not bad" must not count as "bad".
    let mut negated = 0u8;
    for w in &words {
        if w.chars().all(|c| c.is_ascii_digit()) {
            add("n", if w.len() >= 8 { "long" } else { "short" }, 1.0);
        } else if negated > 0 && w.is_ascii() {
            add("not", w, 1.0);
        } else {
            add("w", w, 1.0);
        }
        negated = if ENGLISH_NEGATORS.contains(&w.as_str()) { 2 } else { negated.saturating_sub(1) };
    }
    for pair in words.windows(2) {
        add("b", &format!("{} {}", pair[0], pair[1]), 0.7);
    }

    let chars: Vec<char> = normalized.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if is_han(c) {
            add("c1", c.encode_utf8(&mut [0; 4]), 0.5);
            if let Some(&next) = chars.get(i + 1).filter(|&&n| is_han(n)) {
                add("c2", &format!("{c}{next}"), 0.8);
            }
        } else if !c.is_alphanumeric() && !c.is_whitespace() && !c.is_ascii_punctuation() && (c as u32) > 0x2000 {
            // Emoji and symbols: 👋 says hello, 😡 says something else.
            add("e", c.encode_utf8(&mut [0; 4]), 1.0);
        }
    }

    for word in normalized.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| w.len() >= 3) {
        let bounded: Vec<char> = format!("^{word}$").chars().collect();
        for tri in bounded.windows(3) {
            add("t3", &tri.iter().collect::<String>(), 0.3);
        }
    }

    if normalized.contains("!!") {
        add("p", "!!", 1.0);
    }
    if normalized.contains("??") {
        add("p", "??", 1.0);
    }
    if normalized.chars().count() <= 4 {
        add("len", "short", 0.5);
    }

    let mut out: Vec<(FeatureId, f32)> = counts.into_iter().map(|(k, v)| (k, (1.0 + v).ln())).collect();
    to_unit_length(&mut out);
    out
}

/// Sorts a feature vector by id and scales it to unit L2 length (an empty one stays empty).
pub fn to_unit_length(x: &mut [(FeatureId, f32)]) {
    // Sorted before summing: float sums depend on order, and training must be reproducible.
    x.sort_unstable_by_key(|(k, _)| *k);
    let norm = x.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, v) in x {
            *v /= norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::understand::analyzer::analyzer;

    #[test]
    fn vectors_have_unit_length_and_are_deterministic() {
        let mut a = analyzer();
        let f = features(&mut a, "我的快递到哪了 where is it 👋");
        let norm: f32 = f.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_eq!(f, features(&mut a, "我的快递到哪了 where is it 👋"));
    }

    #[test]
    fn empty_text_has_no_features() {
        assert!(features(&mut analyzer(), "").is_empty());
    }

    #[test]
    fn misspellings_share_character_trigrams() {
        let mut a = analyzer();
        let right: std::collections::HashSet<_> = features(&mut a, "refund").into_iter().map(|f| f.0).collect();
        let typo: std::collections::HashSet<_> = features(&mut a, "refnud").into_iter().map(|f| f.0).collect();
        assert!(right.intersection(&typo).count() >= 1);
    }
}
