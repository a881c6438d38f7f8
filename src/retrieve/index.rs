//! The FAQ index. tantivy's BM25 proposes candidates from every question phrasing and answer;
//! each candidate then gets a confidence: the idf-weighted cosine between the message and the
//! entry's best phrasing over words and Chinese character pairs (pairs make it robust to
//! segmentation slips such as 谁出 / 谁付) and the shop's concepts (so 邮费 meets 运费). A
//! number in 0..1 that means the same for every shop, unlike raw BM25 scores.

use crate::knowledge::Faq;
use crate::understand::analyzer::{self, ANALYZER_NAME};
use crate::understand::concepts::Lexicon;
use crate::understand::normalize::{is_han, normalize};
use std::collections::{HashMap, HashSet};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term, doc};

/// How many documents BM25 proposes before reranking.
const CANDIDATES: usize = 40;

/// Weight of a match in an answer relative to a match in a question phrasing.
const ANSWER_BOOST: f32 = 0.3;
/// Weight of a shared concept relative to a shared word: it proposes entries that use a
/// synonym of the customer's word.
const CONCEPT_BOOST: f32 = 0.5;

/// One FAQ entry proposed for a message.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqMatch {
    /// Index into the knowledge base's `faqs`.
    pub faq: usize,
    /// Best BM25 score among the entry's documents.
    pub score: f32,
    /// 0..1: how well the entry matches the message (words, and meaning when fused).
    pub confidence: f32,
    /// 0..1: how well the entry's best phrasing matches the message's words.
    pub lexical: f32,
    /// Cosine of the message's embedding to the entry's closest phrasing, when fused.
    pub similarity: Option<f32>,
}

/// Weight of a match against an entry's answer relative to a match against a phrasing: an
/// answer states facts ("shelf life", "12 months") customers name without matching any
/// phrasing, but it is long and says many other things too.
const ANSWER_MATCH_WEIGHT: f32 = 0.8;

/// A question phrasing (or an answer), analysed once at build time.
struct Phrasing {
    terms: HashSet<String>,
    /// The terms' squared idf norm, summed once here rather than for every candidate of every
    /// message (it was half of the search's time).
    norm: f32,
    /// Multiplier on this text's confidence: 1 for phrasings, [`ANSWER_MATCH_WEIGHT`] for answers.
    weight: f32,
}

/// The index of one shop's FAQ entries.
pub struct FaqIndex {
    reader: IndexReader,
    text: Field,
    answer: Field,
    concept: Field,
    /// Each document's ordinal (into `phrasings` and `doc_faq`) by segment and document id:
    /// read once from the stored field, so a candidate costs no stored-document read.
    ordinals: Vec<Vec<Option<usize>>>,
    analyzer: TextAnalyzer,
    /// Question phrasings, then answers, by ordinal.
    phrasings: Vec<Phrasing>,
    /// Which FAQ each document belongs to, by ordinal.
    doc_faq: Vec<usize>,
    /// Inverse document frequency over phrasings.
    idf: HashMap<String, f32>,
    /// Weight of a term no phrasing has: such words (place names, product names) say little.
    unknown_idf: f32,
}

impl FaqIndex {
    /// Builds the in-memory index, finding each text's concepts with `lexicon`. CPU-bound; tens
    /// of milliseconds for a few hundred entries.
    pub fn build(faqs: &[Faq], lexicon: &Lexicon) -> tantivy::Result<FaqIndex> {
        let mut schema = Schema::builder();
        let indexing = TextFieldIndexing::default().set_tokenizer(ANALYZER_NAME).set_index_option(IndexRecordOption::WithFreqs);
        let text = schema.add_text_field("text", TextOptions::default().set_indexing_options(indexing.clone()));
        let answer = schema.add_text_field("answer", TextOptions::default().set_indexing_options(indexing));
        // Concept names are indexed whole ("raw"), one value per concept the text mentions.
        let concept = schema
            .add_text_field("concept", TextOptions::default().set_indexing_options(TextFieldIndexing::default().set_tokenizer("raw")));
        let ordinal = schema.add_u64_field("ordinal", NumericOptions::default().set_stored());
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(ANALYZER_NAME, analyzer::analyzer());
        let mut analyzer = analyzer::analyzer();

        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 15_000_000)?;
        let mut phrasings = Vec::new();
        let mut doc_faq = Vec::new();
        for (faq_no, faq) in faqs.iter().enumerate() {
            for question in faq.questions() {
                let normalized = normalize(question).text;
                let concepts = lexicon.find(&mut analyzer, &normalized);
                let terms = match_terms(&mut analyzer, &normalized, &concepts);
                let mut document = doc!(text => normalized.as_str(), ordinal => doc_faq.len() as u64);
                add_concepts(&mut document, concept, &terms);
                writer.add_document(document)?;
                phrasings.push(Phrasing { terms, norm: 0.0, weight: 1.0 });
                doc_faq.push(faq_no);
            }
        }
        let questions = phrasings.len();
        for (faq_no, faq) in faqs.iter().enumerate() {
            for text in [&faq.answer_zh, &faq.answer_en] {
                let normalized = normalize(text).text;
                let concepts = lexicon.find(&mut analyzer, &normalized);
                let terms = match_terms(&mut analyzer, &normalized, &concepts);
                let mut document = doc!(answer => normalized.as_str(), ordinal => doc_faq.len() as u64);
                add_concepts(&mut document, concept, &terms);
                writer.add_document(document)?;
                phrasings.push(Phrasing { terms, norm: 0.0, weight: ANSWER_MATCH_WEIGHT });
                doc_faq.push(faq_no);
            }
        }
        writer.commit()?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;

        // idf over the question phrasings only: answers repeat the shop's vocabulary.
        let mut df: HashMap<&str, usize> = HashMap::new();
        for p in &phrasings[..questions] {
            for t in &p.terms {
                *df.entry(t.as_str()).or_default() += 1;
            }
        }
        let n = questions.max(1) as f32;
        let idf = df.iter().map(|(t, &d)| (t.to_string(), (1.0 + n / d as f32).ln())).collect();
        let unknown_idf = (1.0 + n).ln() * 0.5;
        let ordinals = stored_ordinals(&reader.searcher(), ordinal)?;
        let mut index = FaqIndex { reader, text, answer, concept, ordinals, analyzer, phrasings, doc_faq, idf, unknown_idf };
        let norms: Vec<f32> = index.phrasings.iter().map(|p| index.norm(&p.terms)).collect();
        for (p, norm) in index.phrasings.iter_mut().zip(norms) {
            p.norm = norm;
        }
        Ok(index)
    }

    /// Squared idf norm of a set of terms.
    fn norm(&self, terms: &HashSet<String>) -> f32 {
        terms.iter().map(|t| self.weight(t).powi(2)).sum()
    }

    fn weight(&self, term: &str) -> f32 {
        self.idf.get(term).copied().unwrap_or(self.unknown_idf)
    }

    /// FAQ entries for a normalised message whose concepts (found with the lexicon the index
    /// was built with) are `concepts`, best first (by confidence, then BM25).
    pub fn search(&self, normalized: &str, concepts: &[&str]) -> Vec<FaqMatch> {
        let mut analyzer = self.analyzer.clone();
        let query_terms = match_terms(&mut analyzer, normalized, concepts);
        // The analyzed words among the match terms (the others carry a marker prefix).
        let words: Vec<&String> = query_terms.iter().filter(|t| !t.starts_with(PAIR_PREFIX) && !t.starts_with(CONCEPT_PREFIX)).collect();
        if words.is_empty() {
            return Vec::new();
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for name in concepts {
            let q = TermQuery::new(Term::from_field_text(self.concept, name), IndexRecordOption::Basic);
            clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), CONCEPT_BOOST))));
        }
        for t in words {
            for (field, boost) in [(self.text, 1.0), (self.answer, ANSWER_BOOST)] {
                let q = TermQuery::new(Term::from_field_text(field, t), IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
            }
        }
        let searcher = self.reader.searcher();
        let Ok(hits) = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(CANDIDATES).order_by_score()) else {
            return Vec::new();
        };
        let query_weight = self.norm(&query_terms);

        let mut best: HashMap<usize, FaqMatch> = HashMap::new();
        for (score, address) in hits {
            let ordinal = self.ordinals.get(address.segment_ord as usize).and_then(|s| s.get(address.doc_id as usize)).copied().flatten();
            let Some(ordinal) = ordinal else { continue };
            let faq = self.doc_faq[ordinal];
            let confidence = self.phrasings.get(ordinal).map(|p| p.weight * self.overlap(&query_terms, query_weight, p)).unwrap_or(0.0);
            let entry = best.entry(faq).or_insert(FaqMatch { faq, score, confidence, lexical: confidence, similarity: None });
            entry.score = entry.score.max(score);
            entry.confidence = entry.confidence.max(confidence);
            entry.lexical = entry.confidence;
        }
        let mut matches: Vec<FaqMatch> = best.into_values().collect();
        matches.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(b.score.total_cmp(&a.score)).then(a.faq.cmp(&b.faq)));
        matches
    }

    /// idf-weighted cosine of a message and a phrasing (binary term weights), in 0..1.
    /// `query_weight` is the message's squared norm.
    fn overlap(&self, query: &HashSet<String>, query_weight: f32, phrasing: &Phrasing) -> f32 {
        if query_weight <= 0.0 || phrasing.norm <= 0.0 {
            return 0.0;
        }
        let shared: f32 = query.intersection(&phrasing.terms).map(|t| self.weight(t).powi(2)).sum();
        shared / (query_weight * phrasing.norm).sqrt()
    }
}

/// Every document's stored ordinal, by segment and document id.
fn stored_ordinals(searcher: &tantivy::Searcher, field: Field) -> tantivy::Result<Vec<Vec<Option<usize>>>> {
    let mut ordinals = Vec::new();
    for (segment_ord, segment) in searcher.segment_readers().iter().enumerate() {
        let mut of_segment = Vec::with_capacity(segment.max_doc() as usize);
        for doc_id in 0..segment.max_doc() {
            let doc = searcher.doc::<TantivyDocument>(tantivy::DocAddress::new(segment_ord as u32, doc_id))?;
            of_segment.push(doc.get_first(field).and_then(|v| v.as_u64()).map(|o| o as usize));
        }
        ordinals.push(of_segment);
    }
    Ok(ordinals)
}

/// Marks a concept among match terms (no analyzed word starts with it).
const CONCEPT_PREFIX: &str = "~";
/// Marks a pair of Chinese characters among match terms.
const PAIR_PREFIX: &str = "#";

/// Indexes the concepts among `terms` in the `concept` field.
fn add_concepts(document: &mut TantivyDocument, field: Field, terms: &HashSet<String>) {
    let mut names: Vec<&str> = terms.iter().filter_map(|t| t.strip_prefix(CONCEPT_PREFIX)).collect();
    names.sort_unstable();
    for name in names {
        document.add_text(field, name);
    }
}

/// Chat particles that carry no meaning inside a character pair (包邮呀 is still 包邮).
const PARTICLES: &str = "的了吗呢啊吧呀哦哈嘛么我你您亲啦喔噢嗯哟吖捏滴咯哇呐嘞";

/// The terms confidence is computed over: analyzed words (stop words removed), pairs of
/// adjacent Chinese characters (without particles) and the concepts found.
fn match_terms(analyzer: &mut TextAnalyzer, normalized: &str, concepts: &[&str]) -> HashSet<String> {
    let mut terms: HashSet<String> = analyzer::terms(analyzer, normalized).into_iter().collect();
    for concept in concepts {
        terms.insert(format!("{CONCEPT_PREFIX}{concept}"));
    }
    let chars: Vec<char> = normalized.chars().filter(|c| !PARTICLES.contains(*c)).collect();
    for pair in chars.windows(2) {
        if is_han(pair[0]) && is_han(pair[1]) {
            terms.insert(format!("{PAIR_PREFIX}{}{}", pair[0], pair[1]));
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faq(id: &str, zh: &[&str], en: &[&str]) -> Faq {
        Faq {
            id: id.into(),
            intents: vec!["x".into()],
            default: false,
            escalate: false,
            questions_zh: zh.iter().map(|s| s.to_string()).collect(),
            questions_en: en.iter().map(|s| s.to_string()).collect(),
            answer_zh: format!("{id} 答案"),
            answer_en: format!("{id} answer"),
            again_zh: None,
            again_en: None,
        }
    }

    fn sample() -> Vec<Faq> {
        vec![
            faq("free-shipping", &["包邮吗", "满多少包邮"], &["Do you offer free shipping?"]),
            faq("refund-time", &["退款多久到账", "钱什么时候退回来"], &["When will I get my refund?"]),
            faq("courier", &["发什么快递", "可以发顺丰吗"], &["Which courier do you use?"]),
        ]
    }

    fn top(index: &FaqIndex, text: &str) -> Option<(usize, f32)> {
        index.search(&normalize(text).text, &[]).first().map(|m| (m.faq, m.confidence))
    }

    #[test]
    fn finds_the_entry_in_chinese_and_english() {
        let index = FaqIndex::build(&sample(), &Lexicon::default()).unwrap();
        assert_eq!(top(&index, "请问满多少包邮呀").unwrap().0, 0);
        assert_eq!(top(&index, "退款什么时候到账").unwrap().0, 1);
        assert_eq!(top(&index, "which couriers do you ship with").unwrap().0, 2);
        assert_eq!(top(&index, "When do I get my REFUNDS?").unwrap().0, 1);
    }

    #[test]
    fn an_exact_phrasing_is_fully_confident() {
        let index = FaqIndex::build(&sample(), &Lexicon::default()).unwrap();
        let (_, confidence) = top(&index, "满多少包邮").unwrap();
        assert!(confidence > 0.99, "{confidence}");
    }

    #[test]
    fn a_concept_matches_synonyms_no_phrasing_uses() {
        let without = FaqIndex::build(&sample(), &Lexicon::default()).unwrap();
        let concepts = [crate::knowledge::Concept {
            name: "shipping_fee".into(),
            zh: vec!["包邮".into(), "邮费".into(), "运费".into()],
            en: vec!["postage".into(), "free shipping".into()],
        }];
        let lexicon = Lexicon::new(&concepts, &mut analyzer::analyzer());
        let with = FaqIndex::build(&sample(), &lexicon).unwrap();
        let plain = top(&without, "邮费怎么算").map_or(0.0, |m| m.1);
        let text = normalize("邮费怎么算").text;
        let found = lexicon.find(&mut analyzer::analyzer(), &text);
        assert_eq!(found, ["shipping_fee"]);
        let best = with.search(&text, &found)[0].clone();
        let (faq, confidence) = (best.faq, best.confidence);
        assert_eq!(faq, 0);
        assert!(confidence > plain + 0.2, "{confidence} vs {plain}");
    }

    #[test]
    fn an_unrelated_message_finds_nothing_or_little() {
        let index = FaqIndex::build(&sample(), &Lexicon::default()).unwrap();
        match top(&index, "what is the weather like in shanghai") {
            None => {}
            Some((_, confidence)) => assert!(confidence < 0.3, "{confidence}"),
        }
        assert!(index.search("", &[]).is_empty());
    }
}
