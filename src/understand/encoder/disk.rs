//! A shop's knowledge-base embeddings kept on disk between starts, so a shop whose knowledge base
//! did not change loads without a forward pass, and an edit re-embeds only the phrasings it
//! touched.
//!
//! One file per shop: the encoder's version, the embedding size, then `(key, embedding)` records,
//! the key being the first 16 bytes of SHA-256 over the text as the encoder reads it (`query: …`).
//! A file of another encoder, or one that does not parse, is ignored (and rewritten): the cache
//! can only save time, never change an answer. Files are replaced by rename, so a crash leaves the
//! old file or the new one, never half of one.

use super::{Embedding, Encoder, Kind};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"SREMB01\n";

type Key = [u8; 16];

/// The embeddings of one shop's texts, read from and written back to one file.
pub struct DiskCache {
    path: PathBuf,
    stored: HashMap<Key, Embedding>,
    /// What this load used: what [`DiskCache::save`] writes (texts removed from the knowledge
    /// base drop out).
    used: HashMap<Key, Embedding>,
    /// Texts this load had to embed.
    computed: usize,
}

impl DiskCache {
    /// The cache at `path` for `encoder`; empty when the file is absent, unreadable or another
    /// encoder's.
    pub fn open(path: &Path, encoder: &Encoder) -> DiskCache {
        let stored = match std::fs::read(path) {
            Ok(bytes) => parse(&bytes, encoder.version(), encoder.dim()).unwrap_or_else(|| {
                tracing::info!(path = %path.display(), "embedding cache of another encoder or damaged; rebuilding it");
                HashMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "embedding cache unreadable; rebuilding it");
                HashMap::new()
            }
        };
        DiskCache { path: path.to_path_buf(), stored, used: HashMap::new(), computed: 0 }
    }

    /// Embeddings of `texts`: stored ones from the file, the rest by `encoder` (in batches over
    /// every core).
    pub fn embed_all(&mut self, encoder: &Encoder, kind: Kind, texts: &[String]) -> Vec<Embedding> {
        let keys: Vec<Key> = texts.iter().map(|t| key(kind, t)).collect();
        // Each missing text once (a phrasing is often an intent example too).
        let mut missing: HashMap<Key, &String> = HashMap::new();
        for (text, k) in texts.iter().zip(&keys) {
            if !self.stored.contains_key(k) {
                missing.entry(*k).or_insert(text);
            }
        }
        let (missing_keys, missing_texts): (Vec<Key>, Vec<String>) = missing.into_iter().map(|(k, t)| (k, t.clone())).unzip();
        for (k, e) in missing_keys.into_iter().zip(encoder.embed_all(kind, &missing_texts)) {
            self.stored.insert(k, e);
        }
        self.computed += missing_texts.len();
        texts
            .iter()
            .zip(keys)
            .map(|(text, k)| {
                let embedding = Arc::clone(&self.stored[&k]);
                // Canonical phrasings are what customers send most: keep them hot.
                encoder.remember(kind, text, &embedding);
                self.used.insert(k, Arc::clone(&embedding));
                embedding
            })
            .collect()
    }

    /// Texts embedded by this load rather than read from the file.
    pub fn computed(&self) -> usize {
        self.computed
    }

    /// Writes what this load used, when that differs from the file (atomically, by rename).
    pub fn save(&self, encoder: &Encoder) -> std::io::Result<()> {
        if self.computed == 0 && self.used.len() == self.stored.len() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let version = encoder.version().as_bytes();
        let mut out = Vec::with_capacity(64 + self.used.len() * (16 + 4 * encoder.dim()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(version.len() as u32).to_le_bytes());
        out.extend_from_slice(version);
        out.extend_from_slice(&(encoder.dim() as u32).to_le_bytes());
        out.extend_from_slice(&(self.used.len() as u64).to_le_bytes());
        for (k, e) in &self.used {
            out.extend_from_slice(k);
            for v in e.iter() {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &out)?;
        std::fs::rename(&tmp, &self.path)
    }
}

fn key(kind: Kind, text: &str) -> Key {
    let digest = Sha256::new().chain_update(kind.prefix()).chain_update(text).finalize();
    digest[..16].try_into().expect("16 of 32 bytes")
}

/// The records of a file written by this encoder version with this embedding size.
fn parse(bytes: &[u8], version: &str, dim: usize) -> Option<HashMap<Key, Embedding>> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let (file_version, rest) = rest.split_at_checked(u32::from_le_bytes(*len) as usize)?;
    let (file_dim, rest) = rest.split_first_chunk::<4>()?;
    let (count, rest) = rest.split_first_chunk::<8>()?;
    if file_version != version.as_bytes() || u32::from_le_bytes(*file_dim) as usize != dim {
        return None;
    }
    let record = 16 + 4 * dim;
    let count = usize::try_from(u64::from_le_bytes(*count)).ok()?;
    if rest.len() != count.checked_mul(record)? {
        return None;
    }
    Some(
        rest.chunks_exact(record)
            .map(|r| {
                let k: Key = r[..16].try_into().expect("16 bytes");
                let e: Embedding = r[16..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
                (k, e)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::understand::encoder::tests::encoder;

    #[test]
    fn a_second_load_reads_every_embedding_from_disk_and_an_edit_embeds_only_what_changed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shop.emb");
        let e = encoder();
        // The repeated text must not shift the others' embeddings.
        let texts: Vec<String> = ["满多少包邮", "when do you ship", "满多少包邮", "发票怎么开"].iter().map(|s| s.to_string()).collect();

        let mut first = DiskCache::open(&path, e);
        let fresh = first.embed_all(e, Kind::Query, &texts);
        assert_eq!(first.computed(), 3);
        for (text, got) in texts.iter().zip(&fresh) {
            assert_eq!(&got[..], &e.embed_uncached(Kind::Query, text)[..], "{text}");
        }
        first.save(e).expect("saved");

        let mut second = DiskCache::open(&path, e);
        let again = second.embed_all(e, Kind::Query, &texts);
        assert_eq!(second.computed(), 0, "nothing changed: nothing embedded");
        for (a, b) in fresh.iter().zip(&again) {
            assert_eq!(&a[..], &b[..]);
        }

        let edited: Vec<String> = vec![texts[0].clone(), "do you ship abroad".into()];
        let mut third = DiskCache::open(&path, e);
        let got = third.embed_all(e, Kind::Query, &edited);
        assert_eq!(third.computed(), 1, "only the new phrasing is embedded");
        assert!(super::super::cosine(&got[1], &e.embed_uncached(Kind::Query, "do you ship abroad")) > 0.9999);
        third.save(e).expect("saved");
        // The removed texts are gone from the file; the kept and the new one are there.
        assert_eq!(DiskCache::open(&path, e).stored.len(), 2);
    }

    #[test]
    fn a_damaged_or_foreign_file_is_ignored_not_trusted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shop.emb");
        let e = encoder();
        let texts = vec!["hi".to_string()];
        let mut cache = DiskCache::open(&path, e);
        cache.embed_all(e, Kind::Query, &texts);
        cache.save(e).expect("saved");
        let bytes = std::fs::read(&path).expect("written");
        // Cut short by one byte: every record must be whole.
        std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("write");
        assert!(DiskCache::open(&path, e).stored.is_empty());
        // Written by another encoder version.
        assert!(parse(&bytes, "e5-other", e.dim()).is_none());
        assert_eq!(parse(&bytes, e.version(), e.dim()).map(|m| m.len()), Some(1));
    }
}
