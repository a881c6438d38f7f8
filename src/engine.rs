//! The engine: every configured shop loaded (knowledge base, intent classifier trained from
//! it, FAQ index) plus the shared sentiment model, and the one pipeline that both `serve` and
//! `eval` run: normalise → intent, sentiment, extraction → FAQ retrieval → policy.

use crate::aftersales::CaseFields;
use crate::decide::{Action, ConversationContext, Decision, Extracted, IntentPrediction, ModelVersions, Retrieved, policy};
use crate::knowledge::KnowledgeBase;
pub use crate::knowledge::QuickPhrase;
use crate::retrieve::{DenseFaqs, FaqIndex, fuse};
use crate::understand::analyzer;
use crate::understand::concepts::Lexicon;
use crate::understand::encoder::{Embedding, Encoder, EncoderError, Kind};
use crate::understand::extract::extract;
use crate::understand::intent::{Example, IntentModel};
use crate::understand::normalize::normalize;
use crate::understand::sentiment::SentimentModel;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File name of the sentiment model inside `models_dir`.
pub const SENTIMENT_MODEL_FILE: &str = "sentiment-v1.json";
pub use crate::understand::encoder::MODEL_FILE as ENCODER_MODEL_FILE;

/// Where to load one shop from.
#[derive(Debug, Clone)]
pub struct ShopSource {
    /// Shop id (URL path segment).
    pub id: String,
    /// Folder of the shop's knowledge base.
    pub knowledge_base: PathBuf,
}

/// Why the engine could not load.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A knowledge base has problems (each as `file:line: message`).
    #[error("knowledge base {}:\n{}", path.display(), problems.join("\n"))]
    KnowledgeBase {
        /// The folder.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// The sentence encoder could not load.
    #[error("sentence encoder: {0}")]
    Encoder(#[from] EncoderError),
    /// A model file is missing or unreadable.
    #[error("model {}: {message}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The FAQ index could not be built.
    #[error("FAQ index of shop {shop}: {message}")]
    Index {
        /// The shop.
        shop: String,
        /// What went wrong.
        message: String,
    },
}

/// One loaded shop: its knowledge and the models trained from it.
pub struct ShopEngine {
    id: String,
    kb: KnowledgeBase,
    /// The shop's concepts, found once per message for the classifier and the FAQ search.
    lexicon: Lexicon,
    intents: IntentModel,
    index: Arc<FaqIndex>,
    /// Every FAQ phrasing embedded (empty without an encoder).
    dense: Arc<DenseFaqs>,
    encoder: Option<Arc<Encoder>>,
    sentiment: Arc<SentimentModel>,
    versions: ModelVersions,
}

impl ShopEngine {
    fn load(source: &ShopSource, sentiment: Arc<SentimentModel>, encoder: Option<Arc<Encoder>>) -> Result<ShopEngine, EngineError> {
        let kb = KnowledgeBase::load(&source.knowledge_base).map_err(|problems| EngineError::KnowledgeBase {
            path: source.knowledge_base.clone(),
            problems: problems.iter().map(ToString::to_string).collect(),
        })?;
        let lexicon = Lexicon::new(&kb.concepts, &mut analyzer::analyzer());
        let examples = training_examples(&kb);
        let intents = train_intents(&examples, &lexicon, encoder.as_deref());
        let index =
            FaqIndex::build(&kb.faqs, &lexicon).map_err(|e| EngineError::Index { shop: source.id.clone(), message: e.to_string() })?;
        let dense = dense_faqs(&kb, encoder.as_deref());
        let blend = intents.blend();
        let versions = ModelVersions {
            intent: format!("logreg+e5-kb{}-l{:.1}-d{:.2}", kb.version, blend.lexical, blend.dense),
            sentiment: sentiment.version().to_string(),
            encoder: encoder.as_ref().map(|e| e.version().to_string()).unwrap_or_default(),
            knowledge_base: kb.version.clone(),
        };
        Ok(ShopEngine {
            id: source.id.clone(),
            kb,
            lexicon,
            intents,
            index: Arc::new(index),
            dense: Arc::new(dense),
            encoder,
            sentiment,
            versions,
        })
    }

    /// Shop id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The loaded knowledge base.
    pub fn knowledge(&self) -> &KnowledgeBase {
        &self.kb
    }

    /// This shop with its intent classifier trained on `examples` only, everything else
    /// shared: cross-validation routes held-out examples through the real pipeline with it.
    pub fn with_intent_examples(&self, examples: &[Example]) -> ShopEngine {
        ShopEngine {
            id: self.id.clone(),
            kb: self.kb.clone(),
            lexicon: self.lexicon.clone(),
            intents: train_intents(examples, &self.lexicon, self.encoder.as_deref()),
            index: Arc::clone(&self.index),
            dense: Arc::clone(&self.dense),
            encoder: self.encoder.clone(),
            sentiment: Arc::clone(&self.sentiment),
            versions: self.versions.clone(),
        }
    }

    /// Routes one customer message given the conversation so far. Pure and CPU-only: a few
    /// milliseconds with the encoder (less for a text it saw recently), tens to hundreds of
    /// microseconds without.
    pub fn route(&self, text: &str, ctx: &ConversationContext) -> Decision {
        let normalized = normalize(text);
        let embedding: Option<Embedding> = self.encoder.as_ref().map(|e| e.embed(Kind::Query, &normalized.text));
        let concepts = self.lexicon.find(&mut analyzer::analyzer(), &normalized.text);
        let scores = self.intents.predict(&normalized.text, &concepts, embedding.as_deref());
        let (name, confidence) = scores.best();
        let intent = IntentPrediction { name: name.to_string(), confidence };
        let sentiment = self.sentiment.score(text, &normalized.text, embedding.as_deref());
        let extracted = extract(text);
        let lexical = self.index.search(&normalized.text, &concepts);
        let matches = match &embedding {
            Some(e) => fuse(lexical, &self.dense.similarities(e)),
            None => lexical,
        };
        let verdict = policy::decide(&policy::Inputs {
            kb: &self.kb,
            lang: normalized.lang,
            intent: &intent,
            sentiment: &sentiment,
            matches: &matches,
            extracted: &extracted,
            ctx,
        });
        let case = self.case_for(&intent, &verdict.action, &normalized.text, &extracted);
        Decision {
            lang: normalized.lang,
            intent,
            sentiment,
            extracted,
            retrieval: verdict.considered.map(|m| Retrieved {
                faq_id: self.kb.faqs[m.faq].id.clone(),
                score: m.score,
                confidence: m.confidence,
            }),
            case,
            action: verdict.action,
            models: self.versions.clone(),
        }
    }

    /// The after-sales case an escalation drafts; for a message joining an open ticket, judged
    /// as the message alone.
    fn case_for(&self, intent: &IntentPrediction, action: &Action, normalized: &str, extracted: &Extracted) -> Option<CaseFields> {
        let Action::Escalate(e) = action else { return None };
        let reason = e.standalone.map_or(e.reason, |s| s.reason);
        crate::decide::case::draft(&self.kb.case_rules, &intent.name, reason, normalized, extracted)
    }

    /// [`ShopEngine::route`] on tokio's blocking pool, at most one message per core at a time:
    /// the encoder's forward pass is milliseconds of CPU that must not stall the async
    /// executor (health checks, event streams), and more concurrent passes than cores only
    /// add switching. Waiting messages queue on the permits.
    pub async fn route_off_executor(self: Arc<Self>, text: String, ctx: ConversationContext) -> Decision {
        // A text whose embedding is cached (a shop's canonical phrasings come again and again)
        // costs a tenth of a millisecond: handing it to another thread would cost more than
        // routing it here.
        if self.encoder.as_ref().is_none_or(|e| e.is_cached(Kind::Query, &normalize(&text).text)) {
            return self.route(&text, &ctx);
        }
        static CORES: std::sync::LazyLock<tokio::sync::Semaphore> =
            std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));
        let _permit = CORES.acquire().await.expect("the routing semaphore is never closed");
        match tokio::task::spawn_blocking(move || self.route(&text, &ctx)).await {
            Ok(decision) => decision,
            // A panic in the router is a bug: re-raise it in the request that hit it.
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("routing task cancelled: {e}"),
            },
        }
    }

    /// The shop's quick phrases for the console.
    pub fn quick_phrases(&self) -> &[QuickPhrase] {
        &self.kb.quick_phrases
    }

    /// Minutes within which a human first answers an escalated message (`shop.toml`).
    pub fn first_response_minutes(&self) -> u32 {
        self.kb.shop.first_response_minutes
    }

    /// Hours within which a complaint is settled (`shop.toml`).
    pub fn complaint_hours(&self) -> u32 {
        self.kb.shop.complaint_hours
    }
}

/// The intent classifier, with its embedding half when there is an encoder.
fn train_intents(examples: &[Example], lexicon: &Lexicon, encoder: Option<&Encoder>) -> IntentModel {
    let embeddings = encoder.map(|e| {
        let texts: Vec<String> = examples.iter().map(|x| normalize(&x.text).text).collect();
        e.embed_all(Kind::Query, &texts)
    });
    let views: Option<Vec<&[f32]>> = embeddings.as_ref().map(|v| v.iter().map(|e| &e[..]).collect());
    IntentModel::train(examples, lexicon, analyzer::analyzer(), views.as_deref())
}

/// Every FAQ phrasing embedded as a query (they are questions, compared with questions).
fn dense_faqs(kb: &KnowledgeBase, encoder: Option<&Encoder>) -> DenseFaqs {
    let Some(encoder) = encoder else { return DenseFaqs::new(kb.faqs.len(), std::iter::empty()) };
    let (owners, texts): (Vec<usize>, Vec<String>) =
        kb.faqs.iter().enumerate().flat_map(|(i, f)| f.questions().map(move |q| (i, normalize(q).text))).unzip();
    let vectors = encoder.embed_all(Kind::Query, &texts);
    DenseFaqs::new(kb.faqs.len(), owners.into_iter().zip(vectors.iter().map(|v| &v[..])))
}

/// Intent examples plus every FAQ phrasing, labelled with the entry's main intent.
pub fn training_examples(kb: &KnowledgeBase) -> Vec<Example> {
    let mut out = Vec::new();
    for intent in &kb.intents {
        for text in intent.examples_zh.iter().chain(&intent.examples_en) {
            out.push(Example { text: text.clone(), intent: intent.name.clone() });
        }
    }
    for faq in &kb.faqs {
        if let Some(main) = faq.intents.first() {
            for q in faq.questions() {
                out.push(Example { text: q.to_string(), intent: main.clone() });
            }
        }
    }
    out
}

/// All shops.
pub struct Engine {
    shops: HashMap<String, Arc<ShopEngine>>,
}

impl Engine {
    /// Loads every shop and the models in `models_dir`, the sentence encoder included.
    /// CPU-heavy (embedding the knowledge base, training, index building): call it from
    /// `spawn_blocking` inside a runtime.
    pub fn load(shops: &[ShopSource], models_dir: &Path) -> Result<Engine, EngineError> {
        Engine::load_with(shops, models_dir, true)
    }

    /// [`Engine::load`], or without the encoder (`encoder: false`): the lexical-only router
    /// that benchmarks and `eval --lexical-only` compare against.
    pub fn load_with(shops: &[ShopSource], models_dir: &Path, encoder: bool) -> Result<Engine, EngineError> {
        let path = models_dir.join(SENTIMENT_MODEL_FILE);
        let sentiment =
            Arc::new(SentimentModel::load(&path).map_err(|e| EngineError::Model { path: path.clone(), message: e.to_string() })?);
        let encoder = if encoder { Some(Encoder::shared(&models_dir.join(ENCODER_MODEL_FILE))?) } else { None };
        if let (Some(e), Some(wanted)) = (&encoder, sentiment.encoder_version())
            && e.version() != wanted
        {
            return Err(EngineError::Model {
                path,
                message: format!("its embedding half was trained with encoder {wanted}, not {}; retrain it", e.version()),
            });
        }
        analyzer::warm_up();
        let mut loaded = HashMap::new();
        for source in shops {
            let started = std::time::Instant::now();
            let shop = ShopEngine::load(source, sentiment.clone(), encoder.clone())?;
            tracing::info!(shop = %source.id, kb = %shop.versions.knowledge_base, seconds = started.elapsed().as_secs_f32(), "shop loaded");
            loaded.insert(source.id.clone(), Arc::new(shop));
        }
        Ok(Engine { shops: loaded })
    }

    /// A loaded shop.
    pub fn shop(&self, id: &str) -> Option<Arc<ShopEngine>> {
        self.shops.get(id).cloned()
    }

    /// Ids of the loaded shops.
    pub fn shop_ids(&self) -> impl Iterator<Item = &str> {
        self.shops.keys().map(String::as_str)
    }
}
