//! Validation of a knowledge base, reporting every problem as `file:line: message`
//! (`smartreply kb check`), and the loader that refuses a knowledge base with problems.

use super::files::{self, line_of};
use super::{KnowledgeBase, Route};
use crate::domain::EscalationReason;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Fewest examples per language an intent needs for the classifier to learn it.
const MIN_EXAMPLES_PER_LANG: usize = 5;

/// Placeholders draft templates may use.
const PLACEHOLDERS: &[&str] = &["{answer}", "{asks}", "{order}"];

/// One problem in a knowledge base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the file itself is missing).
    pub line: usize,
    /// What is wrong, for a support lead.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Collects problems against one file's source.
struct Reporter<'a> {
    file: PathBuf,
    src: &'a str,
    problems: &'a mut Vec<Problem>,
}

impl Reporter<'_> {
    fn at(&mut self, offset: usize, message: impl Into<String>) {
        self.problems.push(Problem { file: self.file.clone(), line: line_of(self.src, offset), message: message.into() });
    }
}

/// Reads and parses one file; syntax and shape errors become problems.
fn parse<T: DeserializeOwned>(dir: &Path, name: &str, problems: &mut Vec<Problem>, hasher: &mut Sha256) -> Option<(T, String, PathBuf)> {
    let path = dir.join(name);
    let src = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            problems.push(Problem { file: path, line: 0, message: format!("cannot read: {e}") });
            return None;
        }
    };
    hasher.update(name.as_bytes());
    hasher.update(src.as_bytes());
    match toml::from_str::<T>(&src) {
        Ok(v) => Some((v, src, path)),
        Err(e) => {
            let line = e.span().map(|s| line_of(&src, s.start)).unwrap_or(1);
            problems.push(Problem { file: path, line, message: e.message().trim().to_string() });
            None
        }
    }
}

fn check_text(r: &mut Reporter<'_>, at: usize, what: &str, text: &str) {
    if text.trim().is_empty() {
        r.at(at, format!("{what} is empty"));
    }
}

/// Loads `dir`, returning the knowledge base or every problem found.
pub(super) fn load_checked(dir: &Path) -> Result<KnowledgeBase, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut hasher = Sha256::new();
    let shop = parse::<files::ShopFile>(dir, files::SHOP, &mut problems, &mut hasher);
    let intents = parse::<files::IntentsFile>(dir, files::INTENTS, &mut problems, &mut hasher);
    let faqs = parse::<files::FaqFile>(dir, files::FAQ, &mut problems, &mut hasher);
    let drafts = parse::<files::DraftsFile>(dir, files::DRAFTS, &mut problems, &mut hasher);
    let phrases = parse::<files::QuickPhrasesFile>(dir, files::QUICK_PHRASES, &mut problems, &mut hasher);
    let concepts = if dir.join(files::CONCEPTS).exists() {
        parse::<files::ConceptsFile>(dir, files::CONCEPTS, &mut problems, &mut hasher)
    } else {
        None
    };

    let aftersales = if dir.join(files::AFTERSALES).exists() {
        parse::<files::AftersalesFile>(dir, files::AFTERSALES, &mut problems, &mut hasher)
    } else {
        None
    };

    // Names of the intents, when intents.toml parsed (otherwise nothing can be cross-checked).
    let intent_names = intents.as_ref().map(|(file, src, path)| check_intents(file, &mut reporter(path, src, &mut problems)));
    if let Some((file, src, path)) = &shop {
        let at = src.find("bot_resumes_on").unwrap_or(0);
        let r = &mut reporter(path, src, &mut problems);
        for reason in &file.bot_resumes_on {
            if crate::domain::EscalationReason::parse(reason).is_none() {
                r.at(at, format!("bot_resumes_on: unknown escalation reason `{reason}`"));
            }
        }
    }
    if let Some((file, src, path)) = &faqs {
        let known = intents.as_ref().map(|(f, _, _)| f).zip(intent_names.as_ref());
        check_faqs(file, known, &mut reporter(path, src, &mut problems));
    }
    if let Some((file, src, path)) = &drafts {
        check_drafts(file, intent_names.as_ref(), &mut reporter(path, src, &mut problems));
    }
    if let Some((file, src, path)) = &phrases {
        check_phrases(file, &mut reporter(path, src, &mut problems));
    }
    if let Some((file, src, path)) = &concepts {
        check_concepts(file, &mut reporter(path, src, &mut problems));
    }
    if let Some((file, src, path)) = &aftersales {
        check_case_rules(file, intent_names.as_ref(), &mut reporter(path, src, &mut problems));
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    // Every parse succeeded when there are no problems.
    let (Some(shop), Some(intents), Some(faqs), Some(drafts), Some(phrases)) = (shop, intents, faqs, drafts, phrases) else {
        unreachable!("a file that failed to parse is a problem");
    };
    Ok(KnowledgeBase {
        shop: shop.0,
        intents: intents.0.intent.into_iter().map(|s| s.into_inner()).collect(),
        faqs: faqs.0.faq.into_iter().map(|s| s.into_inner()).collect(),
        drafts: drafts.0.draft.into_iter().map(|s| s.into_inner()).collect(),
        asks: drafts.0.ask.into_iter().map(|(k, v)| (k, v.into_inner())).collect::<BTreeMap<_, _>>(),
        acknowledgement: drafts.0.acknowledgement.into_inner(),
        quick_phrases: phrases.0.phrase.into_iter().map(|s| s.into_inner()).collect(),
        concepts: concepts.map(|c| c.0.concept.into_iter().map(|s| s.into_inner()).collect()).unwrap_or_default(),
        case_rules: aftersales.map(|a| a.0.case.into_iter().map(|s| s.into_inner()).collect()).unwrap_or_default(),
        version: hex::encode(&hasher.finalize()[..6]),
    })
}

/// `aftersales.toml`: rules name known intents and escalation reasons, and no empty keyword.
fn check_case_rules(file: &files::AftersalesFile, intent_names: Option<&HashSet<String>>, r: &mut Reporter<'_>) {
    for spanned in &file.case {
        let at = spanned.span().start;
        let rule = spanned.get_ref();
        if rule.intents.is_empty() {
            r.at(at, "case rule names no intent".to_string());
        }
        for intent in &rule.intents {
            if intent_names.is_some_and(|known| !known.contains(intent)) {
                r.at(at, format!("case rule: unknown intent `{intent}`"));
            }
        }
        for reason in &rule.reasons {
            if EscalationReason::parse(reason).is_none() {
                r.at(at, format!("case rule: unknown escalation reason `{reason}`"));
            }
        }
        if rule.keywords.iter().any(|k| k.trim().is_empty()) {
            r.at(at, "case rule: empty keyword".to_string());
        }
        if rule.keywords.iter().any(|k| k.to_lowercase() != *k) {
            r.at(at, "case rule: keywords are matched in lower case; write them so".to_string());
        }
    }
}

fn reporter<'a>(path: &Path, src: &'a str, problems: &'a mut Vec<Problem>) -> Reporter<'a> {
    Reporter { file: path.to_path_buf(), src, problems }
}

/// `intents.toml`: unique names, known reasons, enough examples, no example under two
/// intents. Returns the intent names.
fn check_intents(file: &files::IntentsFile, r: &mut Reporter<'_>) -> HashSet<String> {
    let mut intent_names: HashSet<String> = HashSet::new();
    if file.intent.is_empty() {
        r.at(0, "no [[intent]] entries");
    }
    // The same text under two intents teaches the classifier both answers at once.
    let mut labelled: HashMap<String, &str> = HashMap::new();
    for item in &file.intent {
        let at = item.span().start;
        let i = item.get_ref();
        if !intent_names.insert(i.name.clone()) {
            r.at(at, format!("intent `{}` is defined twice", i.name));
        }
        match (i.route, i.reason.as_deref()) {
            (Route::Escalate, None) => r.at(at, format!("intent `{}` escalates but has no `reason`", i.name)),
            (_, Some(reason)) if EscalationReason::parse(reason).is_none() => {
                r.at(at, format!("intent `{}`: unknown reason `{reason}`", i.name))
            }
            _ => {}
        }
        for (lang, examples) in [("zh", &i.examples_zh), ("en", &i.examples_en)] {
            if examples.len() < MIN_EXAMPLES_PER_LANG {
                r.at(
                    at,
                    format!("intent `{}` has {} examples_{lang}; at least {MIN_EXAMPLES_PER_LANG} are needed", i.name, examples.len()),
                );
            }
            if examples.iter().any(|e| e.trim().is_empty()) {
                r.at(at, format!("intent `{}` has an empty example in examples_{lang}", i.name));
            }
            for e in examples {
                match labelled.insert(e.trim().to_lowercase(), &i.name) {
                    Some(other) if other != i.name => {
                        r.at(at, format!("example `{e}` of intent `{}` is also an example of `{other}`", i.name))
                    }
                    _ => {}
                }
            }
        }
    }
    intent_names
}

/// `faq.toml`: ids, known intents (when `intents` parsed), both languages, one default per
/// intent, and every automatically answered intent served.
fn check_faqs(file: &files::FaqFile, intents: Option<(&files::IntentsFile, &HashSet<String>)>, r: &mut Reporter<'_>) {
    let mut ids = HashSet::new();
    let mut defaults: HashMap<&str, usize> = HashMap::new();
    for item in &file.faq {
        let at = item.span().start;
        let f = item.get_ref();
        if !ids.insert(f.id.as_str()) {
            r.at(at, format!("faq id `{}` is used twice", f.id));
        }
        if f.id.is_empty() || !f.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            r.at(at, format!("faq id `{}`: use lowercase letters, digits and '-'", f.id));
        }
        if f.intents.is_empty() {
            r.at(at, format!("faq `{}` serves no intent", f.id));
        }
        if let Some((_, intent_names)) = intents {
            for name in &f.intents {
                if !intent_names.contains(name) {
                    r.at(at, format!("faq `{}`: unknown intent `{name}`", f.id));
                }
            }
        }
        if f.questions_zh.is_empty() || f.questions_en.is_empty() {
            r.at(at, format!("faq `{}` needs questions_zh and questions_en", f.id));
        }
        check_text(r, at, &format!("faq `{}` answer_zh", f.id), &f.answer_zh);
        check_text(r, at, &format!("faq `{}` answer_en", f.id), &f.answer_en);
        match (&f.again_zh, &f.again_en) {
            (Some(zh), Some(en)) => {
                check_text(r, at, &format!("faq `{}` again_zh", f.id), zh);
                check_text(r, at, &format!("faq `{}` again_en", f.id), en);
            }
            (None, None) => {}
            _ => r.at(at, format!("faq `{}` needs both again_zh and again_en, or neither", f.id)),
        }
        if f.default
            && let Some(main) = f.intents.first()
        {
            *defaults.entry(main.as_str()).or_default() += 1;
            if defaults[main.as_str()] > 1 {
                r.at(at, format!("intent `{main}` has more than one default faq"));
            }
        }
    }
    if let Some((ifile, _)) = intents {
        for i in ifile.intent.iter().map(|s| s.get_ref()) {
            let served = file.faq.iter().any(|f| f.get_ref().intents.contains(&i.name));
            if i.route == Route::Auto && !served {
                r.at(0, format!("intent `{}` is answered automatically but no faq serves it", i.name));
            }
        }
    }
}

/// `drafts.toml`: known intents and sentiments, known asks and placeholders, a fallback
/// template, and every acknowledgement written.
fn check_drafts(file: &files::DraftsFile, intent_names: Option<&HashSet<String>>, r: &mut Reporter<'_>) {
    let mut has_fallback = false;
    for item in &file.draft {
        let at = item.span().start;
        let d = item.get_ref();
        if d.intent != "*" && intent_names.is_some_and(|names| !names.contains(&d.intent)) {
            r.at(at, format!("draft for unknown intent `{}`", d.intent));
        }
        if !matches!(d.sentiment.as_str(), "negative" | "neutral" | "positive" | "any") {
            r.at(at, format!("draft sentiment `{}`: use negative, neutral, positive or any", d.sentiment));
        }
        has_fallback |= d.intent == "*" && d.sentiment == "any";
        for ask in &d.asks {
            if !file.ask.contains_key(ask) {
                r.at(at, format!("draft asks for `{ask}` but there is no [ask.{ask}]"));
            }
        }
        for text in [&d.zh, &d.en] {
            check_text(r, at, "draft text", text);
            for placeholder in placeholders_in(text) {
                if !PLACEHOLDERS.contains(&placeholder) {
                    r.at(at, format!("unknown placeholder `{placeholder}` (use {})", PLACEHOLDERS.join(", ")));
                }
            }
        }
    }
    if !has_fallback {
        r.at(0, "no fallback draft: add one with intent = \"*\" and sentiment = \"any\"");
    }
    let ack = file.acknowledgement.get_ref();
    let at = file.acknowledgement.span().start;
    for (what, text) in
        [("online_zh", &ack.online_zh), ("online_en", &ack.online_en), ("offline_zh", &ack.offline_zh), ("offline_en", &ack.offline_en)]
    {
        check_text(r, at, &format!("acknowledgement {what}"), text);
    }
    let upset = [
        ("upset_online_zh", &ack.upset_online_zh),
        ("upset_online_en", &ack.upset_online_en),
        ("upset_offline_zh", &ack.upset_offline_zh),
        ("upset_offline_en", &ack.upset_offline_en),
    ];
    let given = upset.iter().filter(|(_, t)| t.is_some()).count();
    if given != 0 && given != upset.len() {
        r.at(at, "acknowledgement: give all four upset_* texts or none");
    }
    for (what, text) in upset {
        if let Some(text) = text {
            check_text(r, at, &format!("acknowledgement {what}"), text);
        }
    }
}

/// `quick-phrases.toml`: one-word unique keys and both texts.
fn check_phrases(file: &files::QuickPhrasesFile, r: &mut Reporter<'_>) {
    let mut keys = HashSet::new();
    for item in &file.phrase {
        let at = item.span().start;
        let p = item.get_ref();
        if p.key.is_empty() || p.key.contains(char::is_whitespace) || p.key.starts_with('/') {
            r.at(at, format!("quick phrase key `{}`: one word, without the leading '/'", p.key));
        }
        if !keys.insert(p.key.as_str()) {
            r.at(at, format!("quick phrase key `{}` is used twice", p.key));
        }
        check_text(r, at, &format!("quick phrase `{}` zh", p.key), &p.zh);
        check_text(r, at, &format!("quick phrase `{}` en", p.key), &p.en);
    }
}

/// `concepts.toml`: unique names, words, and no word in two groups.
fn check_concepts(file: &files::ConceptsFile, r: &mut Reporter<'_>) {
    let mut names = HashSet::new();
    let mut owner: HashMap<String, &str> = HashMap::new();
    for item in &file.concept {
        let at = item.span().start;
        let c = item.get_ref();
        if c.name.trim().is_empty() || !names.insert(c.name.as_str()) {
            r.at(at, format!("concept name `{}` is empty or used twice", c.name));
        }
        if c.zh.is_empty() && c.en.is_empty() {
            r.at(at, format!("concept `{}` has no words", c.name));
        }
        for word in c.zh.iter().chain(&c.en) {
            if word.trim().is_empty() {
                r.at(at, format!("concept `{}` has an empty word", c.name));
            } else if let Some(other) = owner.insert(word.trim().to_lowercase(), &c.name) {
                // One word in two groups would make the groups mean the same thing.
                r.at(at, format!("word `{word}` of concept `{}` is also in concept `{other}`", c.name));
            }
        }
    }
}

/// `{name}` placeholders in a template.
fn placeholders_in(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices('{').filter_map(move |(start, _)| text[start..].find('}').map(|end| &text[start..start + end + 1]))
}

/// Checks one knowledge-base folder, or every shop folder inside `path`.
pub fn check_dir(path: &Path) -> Result<Vec<(PathBuf, KnowledgeBase)>, Vec<Problem>> {
    let shop_dirs: Vec<PathBuf> = if path.join(files::SHOP).exists() {
        vec![path.to_path_buf()]
    } else {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| vec![Problem { file: path.to_path_buf(), line: 0, message: format!("cannot read: {e}") }])?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(files::SHOP).exists())
            .collect();
        dirs.sort();
        if dirs.is_empty() {
            return Err(vec![Problem {
                file: path.join(files::SHOP),
                line: 0,
                message: "not a knowledge base (no shop.toml here or in any sub-folder)".into(),
            }]);
        }
        dirs
    };
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for dir in shop_dirs {
        match load_checked(&dir) {
            Ok(kb) => loaded.push((dir, kb)),
            Err(p) => problems.extend(p),
        }
    }
    if problems.is_empty() { Ok(loaded) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = "name_zh = \"测试店\"\nname_en = \"Test shop\"\n";
    const INTENTS: &str = r#"
[[intent]]
name = "greeting"
route = "auto"
examples_zh = ["你好", "在吗", "有人吗", "哈喽", "亲在不在"]
examples_en = ["hi", "hello", "anyone there", "hey", "good morning"]

[[intent]]
name = "complaint"
route = "escalate"
reason = "complaint"
examples_zh = ["我要投诉", "差评", "太差了", "服务真烂", "12315"]
examples_en = ["i want to complain", "terrible service", "1 star", "report you", "awful"]
"#;
    const FAQ: &str = r#"
[[faq]]
id = "hello"
intents = ["greeting"]
default = true
questions_zh = ["你好"]
questions_en = ["hello"]
answer_zh = "您好！"
answer_en = "Hello!"
"#;
    const DRAFTS: &str = r#"
[[draft]]
intent = "*"
sentiment = "any"
zh = "您好，{answer}{asks}"
en = "Hello, {answer}{asks}"
asks = ["order_number"]

[ask.order_number]
zh = "请提供订单号。"
en = "Please share your order number."

[acknowledgement]
online_zh = "已转人工"
online_en = "An agent will reply soon"
offline_zh = "客服 9:00 上班"
offline_en = "Agents start at 9:00"
"#;
    const PHRASES: &str = "[[phrase]]\nkey = \"sorry\"\nzh = \"抱歉\"\nen = \"Sorry\"\n";

    fn write_kb(overrides: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in
            [(files::SHOP, SHOP), (files::INTENTS, INTENTS), (files::FAQ, FAQ), (files::DRAFTS, DRAFTS), (files::QUICK_PHRASES, PHRASES)]
        {
            let text = overrides.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).unwrap_or(text);
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_valid_knowledge_base_loads() {
        let dir = write_kb(&[]);
        let kb = load_checked(dir.path()).unwrap();
        assert_eq!(kb.intents.len(), 2);
        assert_eq!(kb.faqs[0].id, "hello");
        assert_eq!(kb.version.len(), 12);
    }

    #[test]
    fn a_toml_syntax_error_is_reported_with_its_line() {
        let dir = write_kb(&[(files::FAQ, "[[faq]]\nid = \"a\"\nintents = [\"greeting\"\n")]);
        let problems = load_checked(dir.path()).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].to_string().contains("faq.toml:3:"), "{}", problems[0]);
    }

    #[test]
    fn semantic_problems_name_the_line_of_the_entry() {
        let faq = format!(
            "{FAQ}\n[[faq]]\nid = \"hello\"\nintents = [\"nope\"]\nquestions_zh = [\"x\"]\nquestions_en = [\"x\"]\nanswer_zh = \"\"\nanswer_en = \"y\"\n"
        );
        let dir = write_kb(&[(files::FAQ, &faq)]);
        let problems: Vec<String> = load_checked(dir.path()).unwrap_err().iter().map(ToString::to_string).collect();
        assert!(problems.iter().any(|p| p.contains("used twice")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("unknown intent `nope`")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("answer_zh is empty")), "{problems:?}");
        // The second entry starts on line 11 of the file.
        assert!(problems.iter().all(|p| p.contains("faq.toml:11:") || p.contains("faq.toml:12:")), "{problems:?}");
    }

    #[test]
    fn case_rules_name_known_intents_reasons_and_values() {
        let dir = write_kb(&[]);
        let good = "[[case]]\nintents = [\"complaint\"]\nkeywords = [\"少发\"]\ntype = \"reshipment\"\nreason = \"missing_item\"\nresponsibility = \"warehouse\"\n";
        std::fs::write(dir.path().join(files::AFTERSALES), good).unwrap();
        let kb = load_checked(dir.path()).unwrap();
        assert_eq!(kb.case_rules.len(), 1);
        assert_eq!(kb.case_rules[0].case_type, crate::aftersales::CaseType::Reshipment);

        let bad = format!(
            "{good}\n[[case]]\nintents = [\"nope\"]\nreasons = [\"bored\"]\nkeywords = [\"Wrong\", \" \"]\ntype = \"exchange\"\nreason = \"wrong_item\"\nresponsibility = \"shop\"\n"
        );
        std::fs::write(dir.path().join(files::AFTERSALES), bad).unwrap();
        let problems: Vec<String> = load_checked(dir.path()).unwrap_err().iter().map(ToString::to_string).collect();
        assert!(problems.iter().any(|p| p.contains("aftersales.toml:8:") && p.contains("unknown intent `nope`")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("unknown escalation reason `bored`")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("empty keyword")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("lower case")), "{problems:?}");

        std::fs::write(dir.path().join(files::AFTERSALES), good.replace("reshipment", "teleport")).unwrap();
        let problems: Vec<String> = load_checked(dir.path()).unwrap_err().iter().map(ToString::to_string).collect();
        assert!(problems.iter().any(|p| p.contains("aftersales.toml:") && p.contains("teleport")), "{problems:?}");
    }

    #[test]
    fn unknown_keys_and_missing_files_are_problems() {
        let dir = write_kb(&[(files::SHOP, "name_zh = \"a\"\nname_en = \"b\"\ncolour = \"red\"\n")]);
        std::fs::remove_file(dir.path().join(files::QUICK_PHRASES)).unwrap();
        let problems: Vec<String> = load_checked(dir.path()).unwrap_err().iter().map(ToString::to_string).collect();
        assert!(problems.iter().any(|p| p.contains("shop.toml:3:") && p.contains("colour")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("quick_phrases.toml:0: cannot read")), "{problems:?}");
    }

    #[test]
    fn drafts_must_reference_defined_asks_and_known_placeholders() {
        let drafts = DRAFTS.replace("asks = [\"order_number\"]", "asks = [\"photos\"]").replace("{asks}", "{asks}{price}");
        let dir = write_kb(&[(files::DRAFTS, &drafts)]);
        let problems: Vec<String> = load_checked(dir.path()).unwrap_err().iter().map(ToString::to_string).collect();
        assert!(problems.iter().any(|p| p.contains("no [ask.photos]")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("unknown placeholder `{price}`")), "{problems:?}");
    }

    #[test]
    fn an_escalating_intent_needs_a_reason_and_an_auto_intent_needs_a_faq() {
        let intents = INTENTS.replace("reason = \"complaint\"\n", "");
        let faq = FAQ.replace("intents = [\"greeting\"]", "intents = [\"complaint\"]");
        let dir = write_kb(&[(files::INTENTS, &intents), (files::FAQ, &faq)]);
        let problems: Vec<String> = load_checked(dir.path()).unwrap_err().iter().map(ToString::to_string).collect();
        assert!(problems.iter().any(|p| p.contains("escalates but has no `reason`")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("`greeting` is answered automatically but no faq serves it")), "{problems:?}");
    }

    #[test]
    fn one_example_under_two_intents_is_a_problem() {
        let intents = INTENTS.replace("\"awful\"", "\"Hello \"");
        let dir = write_kb(&[(files::INTENTS, &intents)]);
        let problems: Vec<String> = load_checked(dir.path()).unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("intents.toml:8:") && problems[0].contains("also an example of `greeting`"), "{problems:?}");
    }

    #[test]
    fn concepts_are_optional_loaded_and_checked() {
        let dir = write_kb(&[]);
        assert!(load_checked(dir.path()).unwrap().concepts.is_empty());

        let good = "[[concept]]\nname = \"fraud\"\nzh = [\"骗子\"]\nen = [\"scam\", \"rip off\"]\n";
        std::fs::write(dir.path().join(files::CONCEPTS), good).unwrap();
        let kb = load_checked(dir.path()).unwrap();
        assert_eq!(kb.concepts[0].en, ["scam", "rip off"]);

        let bad = format!("{good}\n[[concept]]\nname = \"fraud\"\nen = [\"Scam\", \" \"]\n\n[[concept]]\nname = \"empty\"\n");
        std::fs::write(dir.path().join(files::CONCEPTS), bad).unwrap();
        let problems: Vec<String> = load_checked(dir.path()).unwrap_err().iter().map(ToString::to_string).collect();
        assert!(problems.iter().any(|p| p.contains("concepts.toml:6:") && p.contains("used twice")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("word `Scam`") && p.contains("also in concept `fraud`")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("empty word")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("concepts.toml:10:") && p.contains("has no words")), "{problems:?}");
    }

    #[test]
    fn a_folder_of_shops_is_checked_shop_by_shop() {
        let root = tempfile::tempdir().unwrap();
        let shop = write_kb(&[]);
        let target = root.path().join("a");
        std::fs::create_dir(&target).unwrap();
        for entry in std::fs::read_dir(shop.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
        }
        assert_eq!(check_dir(root.path()).unwrap().len(), 1);
        assert!(check_dir(&root.path().join("missing")).is_err());
    }
}
