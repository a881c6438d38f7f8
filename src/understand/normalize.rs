//! Text normalisation for real chat input: bounded length, traditional → simplified Chinese,
//! full-width → half-width, lowercase, runs of punctuation collapsed (but kept: `!!!` is a
//! signal), emoji kept, and common chat shorthand expanded (tk → 退款, pls → please).
//!
//! Every model sees text through [`normalize`], at training and at inference time alike.

use crate::domain::Lang;

/// Longest text the pipeline reads, in characters. The HTTP layer refuses longer messages;
/// this bound protects the pipeline when it is called from elsewhere (eval files, tests).
pub const MAX_CHARS: usize = 4000;

/// Longest run of one punctuation mark kept: enough to tell `!!!` from `!`.
const MAX_PUNCT_RUN: usize = 3;

/// A normalised message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// Normalised text.
    pub text: String,
    /// Main language, decided after normalisation.
    pub lang: Lang,
}

/// Latin-letter shorthand of Chinese and English chat, matched as whole ASCII words.
/// Chinese customers type pinyin initials for common words (tk = 退款 tuikuan).
const LATIN_SHORTHAND: &[(&str, &str)] = &[
    ("tk", "退款"),
    ("kd", "快递"),
    ("wl", "物流"),
    ("dd", "订单"),
    ("sh", "售后"),
    ("fp", "发票"),
    ("yh", "优惠"),
    ("yhq", "优惠券"),
    ("zp", "正品"),
    ("kf", "客服"),
    ("rg", "人工"),
    ("bz", "保质"),
    ("thx", "thanks"),
    ("thanx", "thanks"),
    ("tks", "thanks"),
    ("ty", "thank you"),
    ("pls", "please"),
    ("plz", "please"),
    ("asap", "as soon as possible"),
    ("u", "you"),
    ("ur", "your"),
    ("r", "are"),
    ("pkg", "package"),
    ("pkge", "package"),
    ("addr", "address"),
    ("info", "information"),
    ("msg", "message"),
    ("rn", "right now"),
    ("idk", "i do not know"),
    ("wont", "will not"),
    ("cant", "cannot"),
    ("dont", "do not"),
    ("doesnt", "does not"),
    ("didnt", "did not"),
    ("isnt", "is not"),
    ("havent", "have not"),
    ("hasnt", "has not"),
    ("im", "i am"),
    ("b4", "before"),
    ("2day", "today"),
    ("tmr", "tomorrow"),
    ("tmrw", "tomorrow"),
    ("bday", "birthday"),
];

/// Colloquial Chinese spellings mapped to the standard word, matched as substrings.
const CHINESE_SHORTHAND: &[(&str, &str)] = &[
    ("木有", "没有"),
    ("肿么", "怎么"),
    ("神马", "什么"),
    ("啥时候", "什么时候"),
    ("酱紫", "这样"),
    ("童鞋", "同学"),
    ("稀饭", "喜欢"),
    ("灰常", "非常"),
    ("造吗", "知道吗"),
];

/// Normalises one message. Pure; cost is linear in the (bounded) length.
pub fn normalize(raw: &str) -> Normalized {
    let bounded: String = raw.chars().take(MAX_CHARS).collect();
    let simplified = fast2s::convert(&bounded);
    let mut half = String::with_capacity(simplified.len());
    for c in simplified.chars() {
        half.push(to_half_width(c));
    }
    let lowered = half.to_lowercase();
    let collapsed = collapse_runs(&lowered);
    let mut text = expand_latin_shorthand(&collapsed);
    for (from, to) in CHINESE_SHORTHAND {
        if text.contains(from) {
            text = text.replace(from, to);
        }
    }
    let lang = detect_lang(&text);
    Normalized { text, lang }
}

/// Full-width ASCII variants and the ideographic space become their ASCII forms; a few
/// Chinese punctuation marks become the ASCII mark customers use interchangeably.
fn to_half_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '。' => '.',
        '、' => ',',
        '〜' => '~',
        '“' | '”' | '「' | '」' => '"',
        '‘' | '’' => '\'',
        '\u{200B}' | '\u{FEFF}' => ' ',
        _ => c,
    }
}

/// Collapses whitespace to single spaces and runs of one punctuation mark to at most
/// [`MAX_PUNCT_RUN`].
fn collapse_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    let mut run = 0usize;
    for c in s.chars() {
        let c = if c.is_whitespace() { ' ' } else { c };
        if Some(c) == prev {
            run += 1;
        } else {
            run = 1;
            prev = Some(c);
        }
        let limit = if c == ' ' {
            1
        } else if c.is_ascii_punctuation() || matches!(c, '…' | '~') {
            MAX_PUNCT_RUN
        } else {
            usize::MAX
        };
        if run <= limit {
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// Replaces whole ASCII-alphanumeric words found in [`LATIN_SHORTHAND`]. A word boundary is
/// any character that is not an ASCII letter or digit, so `tk什么时候到` expands too.
fn expand_latin_shorthand(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            match LATIN_SHORTHAND.iter().find(|(k, _)| *k == word.as_str()) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(word),
            }
            word.clear();
        }
    };
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else if c == '\'' && !word.is_empty() {
            // "don't" stays one word: the apostrophe is kept inside it.
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// True for CJK ideographs (the Chinese characters customers type).
pub fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// Chinese when Chinese characters carry the message (at least as many characters as there
/// are English words): customers who mix languages are usually Chinese speakers dropping in
/// an English word ("refund 什么时候到"), while "Do you ship to 新疆?" is English.
fn detect_lang(text: &str) -> Lang {
    let han = text.chars().filter(|&c| is_han(c)).count();
    let latin_words = text.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| !w.is_empty()).count();
    if han > 0 && han >= latin_words { Lang::Zh } else { Lang::En }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traditional_chinese_becomes_simplified() {
        assert_eq!(normalize("請問退貨運費誰出").text, "请问退货运费谁出");
    }

    #[test]
    fn full_width_letters_digits_and_punctuation_become_half_width() {
        assert_eq!(normalize("ＳＦ快递？１２３").text, "sf快递?123");
        assert_eq!(normalize("你好，在吗！").text, "你好,在吗!");
    }

    #[test]
    fn case_is_folded() {
        assert_eq!(normalize("WHERE IS MY ORDER").text, "where is my order");
    }

    #[test]
    fn long_punctuation_runs_keep_three_marks() {
        assert_eq!(normalize("怎么还没到！！！！！！？？？？").text, "怎么还没到!!!???");
        assert_eq!(normalize("what??????").text, "what???");
    }

    #[test]
    fn whitespace_collapses_and_trims() {
        assert_eq!(normalize("  hi \t\n there  ").text, "hi there");
    }

    #[test]
    fn pinyin_shorthand_expands_even_next_to_chinese() {
        assert_eq!(normalize("tk什么时候到啊").text, "退款什么时候到啊");
        assert_eq!(normalize("wl信息在哪看").text, "物流信息在哪看");
        assert_eq!(normalize("kd到哪了").text, "快递到哪了");
    }

    #[test]
    fn english_shorthand_expands_as_whole_words_only() {
        assert_eq!(normalize("pls help asap").text, "please help as soon as possible");
        assert_eq!(normalize("thx u").text, "thanks you");
        // Inside a longer word nothing changes.
        assert_eq!(normalize("tkinter dds").text, "tkinter dds");
    }

    #[test]
    fn colloquial_chinese_is_standardised() {
        assert_eq!(normalize("肿么还木有发货").text, "怎么还没有发货");
    }

    #[test]
    fn emoji_are_kept_as_signals() {
        assert_eq!(normalize("Hi there 👋").text, "hi there 👋");
        assert!(normalize("太差了😡😡").text.contains('😡'));
    }

    #[test]
    fn length_is_bounded() {
        let long = "好".repeat(MAX_CHARS * 2);
        assert_eq!(normalize(&long).text.chars().count(), MAX_CHARS);
    }

    #[test]
    fn language_follows_the_chinese_characters() {
        assert_eq!(normalize("我的快递到哪了").lang, Lang::Zh);
        assert_eq!(normalize("refund 什么时候到").lang, Lang::Zh);
        assert_eq!(normalize("Where is my order?").lang, Lang::En);
        assert_eq!(normalize("Do you ship to 新疆?").lang, Lang::En);
        assert_eq!(normalize("tk pls").lang, Lang::Zh);
    }

    proptest::proptest! {
        #[test]
        fn normalising_twice_changes_nothing(s in "\\PC{0,64}") {
            let once = normalize(&s).text;
            proptest::prop_assert_eq!(normalize(&once).text, once.clone());
        }
    }
}
