//! The text analyzer shared by the intent features and the FAQ index (which imports it from here): jieba segmentation
//! (search mode, so `七天无理由` also yields `七天` and `理由`), lowercase, English stemming,
//! and no tokens without a letter or digit, no stop words.

use jieba_rs::Jieba;
use std::sync::LazyLock;
use tantivy::tokenizer::{Language, LowerCaser, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer};

/// Name under which the analyzer is registered with tantivy.
pub const ANALYZER_NAME: &str = "zh_en";

/// One dictionary for the process: loading it takes ~100 ms and tens of MB.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Words that carry no meaning for matching questions, in both languages.
const STOP_WORDS: &[&str] = &[
    // Chinese particles and pronouns customers add to every sentence.
    "的", "了", "吗", "呢", "啊", "吧", "呀", "哦", "哈", "嘛", "么", "我", "你", "您", "我们", "你们", "亲", "请问", "一下", "这个",
    "那个", "是", "在", "有", "和", "就", "都", "也", "还", "要", "能", "可以", "想", "啦", "喔", "噢", "嗯", "哟", "吖", "捏", "滴", "咯",
    "哇", "呐", "嘞", "哦哦", "嗯嗯", "宝", "亲亲", "老板", // English function words.
    "a", "an", "the", "is", "are", "am", "be", "i", "me", "my", "you", "your", "we", "our", "it", "its", "to", "of", "in", "on", "for",
    "and", "or", "do", "doe", "does", "did", "can", "could", "would", "will", "please", "pleas", "hi", "there", "this", "that", "with",
    "at", "by", "so", "just", "what", "how", "much", "get", "got", "have", "has", "had", "any", "some", "was", "were", "been", "if",
    "from", "about", "them", "they", "us", "he", "she", "him", "her", "his", "mine", "yours", "than", "then", "also", "should",
];

/// Tokenizer over the shared jieba dictionary.
#[derive(Clone, Default)]
pub struct JiebaTokenizer;

/// The tokens of one text.
pub struct JiebaTokenStream {
    tokens: Vec<Token>,
    index: usize,
}

impl Tokenizer for JiebaTokenizer {
    type TokenStream<'a> = JiebaTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> JiebaTokenStream {
        let tokens = JIEBA
            .cut_for_search(text, true)
            .into_iter()
            .filter(|t| t.word.chars().any(char::is_alphanumeric))
            .enumerate()
            .map(|(position, t)| Token {
                offset_from: t.byte_start,
                offset_to: t.byte_end,
                position,
                text: t.word.to_string(),
                position_length: 1,
            })
            .collect();
        JiebaTokenStream { tokens, index: 0 }
    }
}

impl TokenStream for JiebaTokenStream {
    fn advance(&mut self) -> bool {
        self.index += 1;
        self.index <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.index - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.index - 1]
    }
}

/// The analyzer: jieba → lowercase → English stemmer.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(JiebaTokenizer).filter(LowerCaser).filter(Stemmer::new(Language::English)).build()
}

/// Analyzes `text` into its index terms, stop words removed.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = all_terms(analyzer, text);
    out.retain(|t| !STOP_WORDS.contains(&t.as_str()));
    out
}

/// Analyzes `text` keeping stop words: "在吗" is all stop words and still says hello.
pub fn all_terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Loads the dictionary now rather than on the first message.
pub fn warm_up() {
    LazyLock::force(&JIEBA);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_segmented_into_words() {
        let t = terms(&mut analyzer(), "我的快递三天了还没更新物流");
        assert!(t.contains(&"快递".to_string()), "{t:?}");
        assert!(t.contains(&"物流".to_string()), "{t:?}");
        assert!(!t.contains(&"的".to_string()), "stop word kept: {t:?}");
    }

    #[test]
    fn search_mode_yields_the_parts_of_long_words() {
        let t = terms(&mut analyzer(), "七天无理由退货");
        assert!(t.contains(&"理由".to_string()), "{t:?}");
        assert!(t.contains(&"退货".to_string()), "{t:?}");
    }

    #[test]
    fn english_is_lowercased_and_stemmed() {
        let t = terms(&mut analyzer(), "Refunds SHIPPING");
        assert_eq!(t, vec!["refund".to_string(), "ship".to_string()]);
    }

    #[test]
    fn punctuation_and_spaces_make_no_tokens() {
        let t = terms(&mut analyzer(), "退款!!! ??? , refund");
        assert_eq!(t, vec!["退款".to_string(), "refund".to_string()]);
    }
}
