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
use crate::understand::encoder::{Batcher, DiskCache, Embedding, Encoder, EncoderError, Kind};
use crate::understand::extract::extract;
use crate::understand::frustration;
use crate::understand::intent::{Example, IntentModel};
use crate::understand::normalize::{Normalized, normalize};
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
    /// The encoder's queue for messages routed concurrently (shared by every shop).
    batcher: Option<Arc<Batcher>>,
    sentiment: Arc<SentimentModel>,
    versions: ModelVersions,
    /// The knowledge base files as they were when this shop loaded ([`Engine::reload_changed`]).
    fingerprint: Option<u64>,
    /// Texts the encoder embedded to load this shop (the rest came from the embedding cache).
    embedded_at_load: usize,
}

impl ShopEngine {
    fn load(source: &ShopSource, models: &Models, cache_dir: Option<&Path>) -> Result<ShopEngine, EngineError> {
        // Taken before reading, so an edit made while loading is seen by the next check.
        let fingerprint = knowledge_fingerprint(&source.knowledge_base);
        let kb = KnowledgeBase::load(&source.knowledge_base).map_err(|problems| EngineError::KnowledgeBase {
            path: source.knowledge_base.clone(),
            problems: problems.iter().map(ToString::to_string).collect(),
        })?;
        let encoder = models.batcher.as_ref().map(|b| Arc::clone(b.encoder()));
        let lexicon = Lexicon::new(&kb.concepts, &mut analyzer::analyzer());
        let examples = training_examples(&kb);
        let mut embedder = encoder.as_deref().map(|e| ShopEmbedder::open(e, cache_dir.map(|d| d.join(format!("{}.emb", source.id)))));
        let intents = train_intents(&examples, &lexicon, embedder.as_mut());
        let index =
            FaqIndex::build(&kb.faqs, &lexicon).map_err(|e| EngineError::Index { shop: source.id.clone(), message: e.to_string() })?;
        let dense = dense_faqs(&kb, embedder.as_mut());
        let embedded_at_load = embedder.as_ref().map_or(0, |e| e.finish(&source.id));
        let blend = intents.blend();
        let versions = ModelVersions {
            intent: format!("logreg+e5-kb{}-l{:.1}-d{:.2}", kb.version, blend.lexical, blend.dense),
            sentiment: models.sentiment.version().to_string(),
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
            batcher: models.batcher.clone(),
            sentiment: Arc::clone(&models.sentiment),
            versions,
            fingerprint,
            embedded_at_load,
        })
    }

    /// Texts embedded when this shop loaded rather than read from its embedding cache (0 for an
    /// unchanged knowledge base with a cache folder; every text without one).
    pub fn embedded_at_load(&self) -> usize {
        self.embedded_at_load
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
            intents: train_intents(examples, &self.lexicon, self.encoder.as_deref().map(|e| ShopEmbedder::open(e, None)).as_mut()),
            index: Arc::clone(&self.index),
            dense: Arc::clone(&self.dense),
            encoder: self.encoder.clone(),
            batcher: self.batcher.clone(),
            sentiment: Arc::clone(&self.sentiment),
            versions: self.versions.clone(),
            fingerprint: self.fingerprint,
            embedded_at_load: 0,
        }
    }

    /// Routes one customer message given the conversation so far. Pure and CPU-only: a few
    /// milliseconds with the encoder (less for a text it saw recently), tens to hundreds of
    /// microseconds without.
    pub fn route(&self, text: &str, ctx: &ConversationContext) -> Decision {
        let normalized = normalize(text);
        let embedding = self.encoder.as_ref().map(|e| e.embed(Kind::Query, &normalized.text));
        self.route_embedded(text, normalized, embedding, ctx)
    }

    /// [`ShopEngine::route`] once the message is normalised and embedded.
    fn route_embedded(&self, text: &str, normalized: Normalized, embedding: Option<Embedding>, ctx: &ConversationContext) -> Decision {
        let concepts = self.lexicon.find(&mut analyzer::analyzer(), &normalized.text);
        let scores = self.intents.predict(&normalized.text, &concepts, embedding.as_deref());
        let (name, confidence) = scores.best();
        let intent = IntentPrediction { name: name.to_string(), confidence };
        let sentiment = self.sentiment.score(text, &normalized.text, embedding.as_deref());
        let frustration = frustration::detect(text, &normalized.text);
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
            frustration: &frustration,
            matches: &matches,
            extracted: &extracted,
            ctx,
            text: &normalized.text,
        });
        let case = self.case_for(&intent, &verdict.action, &normalized.text, &extracted);
        Decision {
            lang: normalized.lang,
            intent,
            sentiment,
            frustration,
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

    /// [`ShopEngine::route`] for the service: the message waits for the encoder in its queue
    /// (concurrent messages share a forward pass on the encoder's own threads, one per core, so
    /// the async executor never runs one), then the rest of the pipeline — a fraction of a
    /// millisecond — runs here.
    pub async fn route_off_executor(self: Arc<Self>, text: String, ctx: ConversationContext) -> Decision {
        let normalized = normalize(&text);
        let embedding = match &self.batcher {
            Some(batcher) => Some(batcher.embed(Kind::Query, normalized.text.clone()).await),
            None => None,
        };
        self.route_embedded(&text, normalized, embedding, &ctx)
    }

    /// Customer texts embedded as the router embeds them (normalised, as queries), spread over
    /// the cores; `None` for the lexical-only router. Gap mining groups messages with these.
    pub fn embed_messages(&self, texts: &[String]) -> Option<Vec<Embedding>> {
        let encoder = self.encoder.as_ref()?;
        let normalized: Vec<String> = texts.iter().map(|t| normalize(t).text).collect();
        Some(encoder.embed_all(Kind::Query, &normalized))
    }

    /// Every FAQ phrasing's embedding with its entry's index: what "the same question" means
    /// to this shop (gap mining calibrates its grouping on it). Empty without an encoder.
    pub fn phrasing_embeddings(&self) -> Vec<(usize, &[f32])> {
        self.dense.phrasings().collect()
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
fn train_intents(examples: &[Example], lexicon: &Lexicon, embedder: Option<&mut ShopEmbedder<'_>>) -> IntentModel {
    let embeddings = embedder.map(|e| {
        let texts: Vec<String> = examples.iter().map(|x| normalize(&x.text).text).collect();
        e.embed_all(&texts)
    });
    let views: Option<Vec<&[f32]>> = embeddings.as_ref().map(|v| v.iter().map(|e| &e[..]).collect());
    IntentModel::train(examples, lexicon, analyzer::analyzer(), views.as_deref())
}

/// Every FAQ phrasing embedded as a query (they are questions, compared with questions).
fn dense_faqs(kb: &KnowledgeBase, embedder: Option<&mut ShopEmbedder<'_>>) -> DenseFaqs {
    let Some(embedder) = embedder else { return DenseFaqs::new(kb.faqs.len(), std::iter::empty()) };
    let (owners, texts): (Vec<usize>, Vec<String>) =
        kb.faqs.iter().enumerate().flat_map(|(i, f)| f.questions().map(move |q| (i, normalize(q).text))).unzip();
    let vectors = embedder.embed_all(&texts);
    DenseFaqs::new(kb.faqs.len(), owners.into_iter().zip(vectors.iter().map(|v| &v[..])))
}

/// Embeds a shop's texts as queries while it loads: through its file in the cache folder when
/// there is one, so an unchanged knowledge base is read back instead of embedded again.
struct ShopEmbedder<'a> {
    encoder: &'a Encoder,
    disk: Option<DiskCache>,
    /// Texts asked for without a cache folder (all of them embedded, bar the memory cache's).
    uncached: usize,
}

impl<'a> ShopEmbedder<'a> {
    fn open(encoder: &'a Encoder, file: Option<PathBuf>) -> ShopEmbedder<'a> {
        ShopEmbedder { encoder, disk: file.map(|f| DiskCache::open(&f, encoder)), uncached: 0 }
    }

    fn embed_all(&mut self, texts: &[String]) -> Vec<Embedding> {
        match &mut self.disk {
            Some(disk) => disk.embed_all(self.encoder, Kind::Query, texts),
            None => {
                self.uncached += texts.len();
                self.encoder.embed_all(Kind::Query, texts)
            }
        }
    }

    /// Writes the cache back (a failure costs the next start time, not this one's answers);
    /// returns how many texts were embedded rather than read.
    fn finish(&self, shop: &str) -> usize {
        let Some(disk) = &self.disk else { return self.uncached };
        tracing::info!(shop, embedded = disk.computed(), "knowledge base embeddings ready");
        if let Err(e) = disk.save(self.encoder) {
            tracing::warn!(shop, error = %e, "could not write the embedding cache; the next start embeds again");
        }
        disk.computed()
    }
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

/// The models every shop shares.
struct Models {
    sentiment: Arc<SentimentModel>,
    /// The sentence encoder behind its queue (absent for the lexical-only router).
    batcher: Option<Arc<Batcher>>,
}

/// How to load the engine.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Load the sentence encoder (`false`: the lexical-only router benchmarks and
    /// `eval --lexical-only` compare against).
    pub encoder: bool,
    /// Folder of the shops' embedding caches (`{shop}.emb`): an unchanged knowledge base loads
    /// without embedding anything. `None` embeds every phrasing at every load.
    pub cache_dir: Option<PathBuf>,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions { encoder: true, cache_dir: None }
    }
}

/// All shops. A shop's knowledge base can be reloaded while the service runs
/// ([`Engine::reload_changed`]): requests already routing keep the shop they started with.
pub struct Engine {
    shops: std::sync::RwLock<HashMap<String, Arc<ShopEngine>>>,
    sources: Vec<ShopSource>,
    models: Models,
    cache_dir: Option<PathBuf>,
    /// Per shop, the files' fingerprint whose load failed: not tried again until they change.
    failed: std::sync::Mutex<HashMap<String, u64>>,
}

impl Engine {
    /// Loads every shop and the models in `models_dir`, the sentence encoder included.
    /// CPU-heavy (embedding the knowledge base, training, index building): call it from
    /// `spawn_blocking` inside a runtime.
    pub fn load(shops: &[ShopSource], models_dir: &Path) -> Result<Engine, EngineError> {
        Engine::load_with_options(shops, models_dir, &LoadOptions::default())
    }

    /// [`Engine::load`], or without the encoder (`encoder: false`).
    pub fn load_with(shops: &[ShopSource], models_dir: &Path, encoder: bool) -> Result<Engine, EngineError> {
        Engine::load_with_options(shops, models_dir, &LoadOptions { encoder, ..LoadOptions::default() })
    }

    /// [`Engine::load`] as `options` say.
    pub fn load_with_options(shops: &[ShopSource], models_dir: &Path, options: &LoadOptions) -> Result<Engine, EngineError> {
        let path = models_dir.join(SENTIMENT_MODEL_FILE);
        let sentiment =
            Arc::new(SentimentModel::load(&path).map_err(|e| EngineError::Model { path: path.clone(), message: e.to_string() })?);
        let encoder = if options.encoder { Some(Encoder::shared(&models_dir.join(ENCODER_MODEL_FILE))?) } else { None };
        if let (Some(e), Some(wanted)) = (&encoder, sentiment.encoder_version())
            && e.version() != wanted
        {
            return Err(EngineError::Model {
                path,
                message: format!("its embedding half was trained with encoder {wanted}, not {}; retrain it", e.version()),
            });
        }
        if let Some(e) = &encoder {
            tracing::info!(encoder = %e.version(), kernel = e.kernel().name(), "sentence encoder loaded");
        }
        analyzer::warm_up();
        let models = Models { sentiment, batcher: encoder.map(|e| Arc::new(Batcher::per_core(e))) };
        let mut loaded = HashMap::new();
        for source in shops {
            loaded.insert(source.id.clone(), Arc::new(load_shop(source, &models, options.cache_dir.as_deref())?));
        }
        Ok(Engine {
            shops: std::sync::RwLock::new(loaded),
            sources: shops.to_vec(),
            models,
            cache_dir: options.cache_dir.clone(),
            failed: Default::default(),
        })
    }

    /// A loaded shop.
    pub fn shop(&self, id: &str) -> Option<Arc<ShopEngine>> {
        self.shops.read().expect("shops lock").get(id).cloned()
    }

    /// Ids of the loaded shops.
    pub fn shop_ids(&self) -> Vec<String> {
        self.shops.read().expect("shops lock").keys().cloned().collect()
    }

    /// A shop loaded from `source` with the engine's models and embedding cache, not served:
    /// a shadow of a shop with an edited knowledge base, to replay messages through before the
    /// edit goes live. CPU-heavy like a reload.
    pub fn load_detached(&self, source: &ShopSource) -> Result<ShopEngine, EngineError> {
        load_shop(source, &self.models, self.cache_dir.as_deref())
    }

    /// Reloads every shop whose knowledge base files changed since it was loaded (CPU-heavy
    /// when one did: call it off the executor). A shop whose new files do not load keeps its
    /// old knowledge and the error is returned; the others are swapped in.
    pub fn reload_changed(&self) -> Vec<(String, Result<(), EngineError>)> {
        let mut outcomes = Vec::new();
        for source in &self.sources {
            let Some(current) = self.shop(&source.id) else { continue };
            let Some(now) = knowledge_fingerprint(&source.knowledge_base) else { continue };
            let mut failed = self.failed.lock().expect("failed loads lock");
            if Some(now) == current.fingerprint || failed.get(&source.id) == Some(&now) {
                continue;
            }
            let outcome = load_shop(source, &self.models, self.cache_dir.as_deref()).map(|shop| {
                self.shops.write().expect("shops lock").insert(source.id.clone(), Arc::new(shop));
            });
            match outcome {
                Ok(()) => failed.remove(&source.id),
                Err(_) => failed.insert(source.id.clone(), now),
            };
            outcomes.push((source.id.clone(), outcome));
        }
        outcomes
    }
}

/// Loads one shop, logging how long it took.
fn load_shop(source: &ShopSource, models: &Models, cache_dir: Option<&Path>) -> Result<ShopEngine, EngineError> {
    let started = std::time::Instant::now();
    let shop = ShopEngine::load(source, models, cache_dir)?;
    tracing::info!(shop = %source.id, kb = %shop.versions.knowledge_base, seconds = started.elapsed().as_secs_f32(), "shop loaded");
    Ok(shop)
}

/// What changes when any file of a knowledge base folder changes: names, sizes and modification
/// times (reading the files' contents every few seconds would cost more than it tells).
/// `None` when the folder cannot be read.
fn knowledge_fingerprint(dir: &Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<(std::ffi::OsString, u64, Option<std::time::SystemTime>)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.metadata().ok().filter(|m| m.is_file()).map(|m| (entry.file_name(), m.len(), m.modified().ok())))
        .collect();
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    files.hash(&mut hasher);
    Some(hasher.finish())
}
