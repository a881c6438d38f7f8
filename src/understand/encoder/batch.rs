//! Concurrent messages share the encoder's forward passes.
//!
//! One worker thread per core waits on a queue. A worker takes the oldest waiting text and,
//! with it, its share of whatever else is waiting (the queue split evenly among the workers, up
//! to [`MAX_TEXTS`] texts and [`MAX_TOKENS`] tokens), and embeds them in one pass: every weight
//! is read once for all of them. An even share keeps every core busy: one worker taking the
//! whole queue would leave the others idle and make every message wait for the longest pass. Nothing waits for a
//! batch to fill: a lone message starts at once, and batches form only when messages arrive
//! faster than the workers finish, which is exactly when sharing the weight loads pays. The
//! callers are async: they wait on a channel, not on a thread.

use super::{Embedding, Encoder, Kind};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Texts embedded together at most.
const MAX_TEXTS: usize = 8;
/// Tokens embedded together at most (the activations of a pass stay in L2).
const MAX_TOKENS: usize = 384;

/// The encoder behind a queue served by one thread per core. Dropping it stops the threads
/// once the queue is empty.
pub struct Batcher {
    shared: Arc<Shared>,
}

struct Shared {
    encoder: Arc<Encoder>,
    /// Worker threads (the queue is shared out among them).
    workers: usize,
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Forward passes run, and texts embedded by them (their ratio is the mean batch).
    passes: AtomicU64,
    texts: AtomicU64,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Job>,
    closed: bool,
}

struct Job {
    kind: Kind,
    text: String,
    reply: tokio::sync::oneshot::Sender<Embedding>,
}

impl Batcher {
    /// Starts `workers` threads (at least one) embedding with `encoder`.
    pub fn new(encoder: Arc<Encoder>, workers: usize) -> Batcher {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            encoder,
            workers,
            queue: Mutex::default(),
            ready: Condvar::new(),
            passes: AtomicU64::new(0),
            texts: AtomicU64::new(0),
        });
        for i in 0..workers {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new().name(format!("encoder-{i}")).spawn(move || shared.work()).expect("the OS starts an encoder thread");
        }
        Batcher { shared }
    }

    /// One worker per core.
    pub fn per_core(encoder: Arc<Encoder>) -> Batcher {
        Batcher::new(encoder, std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// The encoder it runs.
    pub fn encoder(&self) -> &Arc<Encoder> {
        &self.shared.encoder
    }

    /// Forward passes run so far and the texts they embedded.
    pub fn passes(&self) -> (u64, u64) {
        (self.shared.passes.load(Ordering::Relaxed), self.shared.texts.load(Ordering::Relaxed))
    }

    /// `text`'s embedding: from the cache at once, else from the next pass a worker starts.
    pub async fn embed(&self, kind: Kind, text: String) -> Embedding {
        if let Some(hit) = self.shared.encoder.cached(kind, &text) {
            return hit;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.shared.queue.lock().expect("encoder queue").waiting.push_back(Job { kind, text, reply });
        self.shared.ready.notify_one();
        // A worker answers every job it takes; only a panic in the forward pass drops one.
        answer.await.expect("the encoder worker embedding this text panicked")
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.shared.queue.lock().expect("encoder queue").closed = true;
        self.shared.ready.notify_all();
    }
}

impl Shared {
    fn work(&self) {
        while let Some(batch) = self.next_batch() {
            // One pass per kind (a batch is almost always all queries).
            let (queries, passages): (Vec<Job>, Vec<Job>) = batch.into_iter().partition(|j| j.kind == Kind::Query);
            for jobs in [queries, passages].into_iter().filter(|jobs| !jobs.is_empty()) {
                let kind = jobs[0].kind;
                let texts: Vec<&str> = jobs.iter().map(|j| j.text.as_str()).collect();
                // A panic in the pass (a bug) fails these requests, not the worker: the jobs'
                // senders are dropped and their callers see it.
                let pass = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.encoder.compute_many(kind, &texts)));
                let Ok(embeddings) = pass else { continue };
                self.passes.fetch_add(1, Ordering::Relaxed);
                self.texts.fetch_add(jobs.len() as u64, Ordering::Relaxed);
                metrics::histogram!("smartreply_encoder_batch_texts").record(jobs.len() as f64);
                for (job, embedding) in jobs.into_iter().zip(embeddings) {
                    self.encoder.remember(kind, &job.text, &embedding);
                    // The caller may have gone (its request was cancelled): nothing to answer.
                    let _ = job.reply.send(embedding);
                }
            }
        }
    }

    /// Waits for work; takes the oldest job and whatever waits behind it within the limits.
    /// `None` once the batcher is dropped and the queue is empty.
    fn next_batch(&self) -> Option<Vec<Job>> {
        let mut queue = self.queue.lock().expect("encoder queue");
        while queue.waiting.is_empty() {
            if queue.closed {
                return None;
            }
            queue = self.ready.wait(queue).expect("encoder queue");
        }
        let share = queue.waiting.len().div_ceil(self.workers).min(MAX_TEXTS);
        let mut batch = Vec::new();
        let mut tokens = 0;
        while let Some(job) = queue.waiting.front() {
            // Tokens estimated from the text (a token per character of Chinese, about one per
            // four bytes of English): counting exactly would tokenise under the lock.
            let estimate = job.text.len() / 3 + 3;
            if !batch.is_empty() && (batch.len() == share || tokens + estimate > MAX_TOKENS) {
                break;
            }
            tokens += estimate;
            batch.extend(queue.waiting.pop_front());
        }
        if !queue.waiting.is_empty() {
            // Another worker may start on the rest.
            self.ready.notify_one();
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::understand::encoder::tests::encoder;

    /// A second encoder over the committed file: the shared test encoder's cache would answer
    /// without a pass.
    fn own_encoder() -> Arc<Encoder> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(super::super::MODEL_FILE);
        Arc::new(Encoder::load(&path).expect("the committed encoder loads"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn messages_waiting_together_share_a_pass_and_get_their_own_embeddings() {
        let batcher = Batcher::new(own_encoder(), 1);
        let texts: Vec<String> = (0..20).map(|i| format!("订单{i}什么时候发货 when does order {i} ship")).collect();
        let embeddings = futures_util::future::join_all(texts.iter().map(|t| batcher.embed(Kind::Query, t.clone()))).await;
        for (text, got) in texts.iter().zip(&embeddings) {
            let alone = encoder().embed_uncached(Kind::Query, text);
            assert_eq!(&got[..], &alone[..], "{text}: a batch gives what a pass of its own gives");
        }
        let (passes, embedded) = batcher.passes();
        assert_eq!(embedded, 20);
        assert!(passes < 20, "20 messages waiting at once took {passes} passes");
        // Sent again, they come from the cache: no pass.
        batcher.embed(Kind::Query, texts[3].clone()).await;
        assert_eq!(batcher.passes().1, 20);
    }
}
