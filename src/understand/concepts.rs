//! Finds a shop's synonym groups ([`Concept`]s) in a normalised message. Chinese words match
//! anywhere (Chinese has no spaces); English words and phrases match whole stemmed words, so
//! "refund" finds "refunds" but "hi" does not fire inside "ship". A word the customer says
//! they do not want does not count: "I don't want a refund, I want to swap it" is not about
//! refunds. Other negations keep the topic ("aren't these counterfeit?" is about genuineness).

use super::analyzer;
use crate::knowledge::Concept;
use crate::understand::normalize::normalize;
use aho_corasick::AhoCorasick;
use std::collections::HashMap;
use tantivy::tokenizer::TextAnalyzer;

/// English negations ("t" is what the analyzer leaves of "don't") and how many words back
/// they reach; they drop a concept only together with a word of wanting.
const EN_NEGATIONS: &[&str] = &["not", "no", "never", "t", "without", "nor"];
const EN_WANTING: &[&str] = &["want", "need", "wanna"];
const EN_NEGATION_REACH: usize = 3;
/// Chinese "do not want / need" before a word.
const ZH_NEGATIONS: &[&str] = &["不要", "不想", "不用", "不需要", "无需", "别", "不是要"];

/// A compiled set of concepts.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    names: Vec<String>,
    /// Normalised Chinese words, searched in one pass.
    zh: Option<AhoCorasick>,
    /// Concept index of each Chinese word, by pattern id.
    zh_concept: Vec<usize>,
    /// Stemmed English words and phrases by their first term: (all terms, concept index).
    en: HashMap<String, Vec<(Vec<String>, usize)>>,
}

impl Lexicon {
    /// Compiles `concepts`, normalising each word the way messages are normalised.
    pub fn new(concepts: &[Concept], analyzer: &mut TextAnalyzer) -> Lexicon {
        let mut lexicon = Lexicon::default();
        let mut zh_words = Vec::new();
        for (i, concept) in concepts.iter().enumerate() {
            lexicon.names.push(concept.name.clone());
            for word in &concept.zh {
                let word = normalize(word).text;
                if !word.trim().is_empty() {
                    zh_words.push(word.trim().to_string());
                    lexicon.zh_concept.push(i);
                }
            }
            for phrase in &concept.en {
                let terms = analyzer::all_terms(analyzer, &normalize(phrase).text);
                if let Some(first) = terms.first() {
                    lexicon.en.entry(first.clone()).or_default().push((terms, i));
                }
            }
        }
        // Building fails only past aho-corasick's size limits, far beyond any word list.
        lexicon.zh = AhoCorasick::new(&zh_words).ok();
        lexicon
    }

    /// Whether there are no concepts.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Names of the concepts present in a normalised message, each once, in lexicon order.
    pub fn find(&self, analyzer: &mut TextAnalyzer, normalized: &str) -> Vec<&str> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut hit = vec![false; self.names.len()];
        if let Some(zh) = &self.zh {
            for m in zh.find_overlapping_iter(normalized) {
                if !ZH_NEGATIONS.iter().any(|n| normalized[..m.start()].ends_with(n)) {
                    hit[self.zh_concept[m.pattern().as_usize()]] = true;
                }
            }
        }
        let terms = analyzer::all_terms(analyzer, normalized);
        for (at, term) in terms.iter().enumerate() {
            let Some(phrases) = self.en.get(term) else { continue };
            let before = &terms[at.saturating_sub(EN_NEGATION_REACH)..at];
            let unwanted =
                before.iter().any(|t| EN_NEGATIONS.contains(&t.as_str())) && before.iter().any(|t| EN_WANTING.contains(&t.as_str()));
            if unwanted {
                continue;
            }
            for (phrase, i) in phrases {
                if terms[at..].starts_with(phrase) {
                    hit[*i] = true;
                }
            }
        }
        self.names.iter().zip(hit).filter(|(_, h)| *h).map(|(n, _)| n.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::understand::analyzer::analyzer;

    fn lexicon() -> Lexicon {
        let concepts = vec![
            Concept { name: "fraud".into(), zh: vec!["骗子".into(), "忽悠".into()], en: vec!["scam".into(), "rip off".into()] },
            Concept { name: "hello".into(), zh: vec!["你好".into()], en: vec!["hi".into()] },
        ];
        Lexicon::new(&concepts, &mut analyzer())
    }

    fn find(text: &str) -> Vec<String> {
        lexicon().find(&mut analyzer(), &normalize(text).text).into_iter().map(String::from).collect()
    }

    #[test]
    fn chinese_words_match_anywhere_and_traditional_script_is_normalised() {
        assert_eq!(find("你们就是一群骗子吧"), ["fraud"]);
        assert_eq!(find("別人都說你們忽悠"), ["fraud"]);
        assert_eq!(find("你好 骗子"), ["fraud", "hello"]);
    }

    #[test]
    fn english_matches_whole_stemmed_words_and_phrases() {
        assert_eq!(find("these are SCAMS"), ["fraud"]);
        assert_eq!(find("total rip-off"), ["fraud"]);
        assert!(find("do you ship today").is_empty(), "`hi` must not fire inside `ship`");
        assert!(find("rip the off switch").is_empty());
    }

    #[test]
    fn a_negated_word_does_not_count() {
        assert!(find("I don't want a scam").is_empty());
        assert!(find("别忽悠我").is_empty());
        assert_eq!(find("this is not a scam"), ["fraud"], "still the topic");
        assert_eq!(find("don't want to be rude, but I'd say this is a scam"), ["fraud"], "too far back");
        assert_eq!(find("不要骗子 你就是骗子"), ["fraud"], "a later, plain mention counts");
    }

    #[test]
    fn an_empty_lexicon_finds_nothing() {
        assert!(Lexicon::default().find(&mut analyzer(), "骗子 scam").is_empty());
    }
}
