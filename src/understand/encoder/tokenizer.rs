//! XLM-RoBERTa's SentencePiece tokenisation with the `tokenizers` crate: the model file's
//! per-code-point normalisation (NFKC-style folding, applied here), runs of spaces collapsed,
//! the `▁` metaspace, and a Unigram model over the file's pieces and scores.

use super::file::ModelFile;
use std::collections::HashMap;
use tokenizers::models::unigram::Unigram;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::{DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, TokenizerImpl};

type Inner = TokenizerImpl<Unigram, NormalizerWrapper, Metaspace, PostProcessorWrapper, DecoderWrapper>;

/// Why the tokenizer could not be built.
#[derive(Debug, thiserror::Error)]
#[error("tokenizer: {0}")]
pub struct TokenizerError(String);

/// Text → token ids, `<s>` and `</s>` included.
pub(super) struct PieceTokenizer {
    inner: Inner,
    normalization: HashMap<char, Vec<char>>,
    bos: u32,
    eos: u32,
}

impl PieceTokenizer {
    pub(super) fn new(file: &ModelFile) -> Result<PieceTokenizer, TokenizerError> {
        let unk = Some(file.specials.unk as usize);
        let model = Unigram::from(file.pieces.clone(), unk, false).map_err(|e| TokenizerError(e.to_string()))?;
        let mut inner = TokenizerImpl::new(model);
        inner.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Always, true)));
        Ok(PieceTokenizer { inner, normalization: file.normalization.clone(), bos: file.specials.bos, eos: file.specials.eos })
    }

    /// Token ids of `text`, at most `max_len` of them (the content is cut, `</s>` kept).
    pub(super) fn encode(&self, text: &str, max_len: usize, ids: &mut Vec<u32>) {
        ids.clear();
        ids.push(self.bos);
        let normalized = self.normalize(text);
        if let Ok(encoding) = self.inner.encode(normalized.as_str(), false) {
            ids.extend(encoding.get_ids().iter().take(max_len.saturating_sub(2)));
        }
        ids.push(self.eos);
    }

    fn normalize(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match self.normalization.get(&c) {
                Some(replacement) => replacement.iter().for_each(|&r| push_collapsing(&mut out, r)),
                None => push_collapsing(&mut out, c),
            }
        }
        out
    }
}

/// Pushes `c`, except a space right after a space.
fn push_collapsing(out: &mut String, c: char) {
    if !(c == ' ' && out.ends_with(' ')) {
        out.push(c);
    }
}
