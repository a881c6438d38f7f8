//! Sentiment scorer (placeholder interface; the trained model lands with issue 2).

use crate::decide::SentimentScore;
use std::path::Path;

/// A loaded sentiment model.
pub struct SentimentModel {
    version: String,
}

impl SentimentModel {
    /// Loads the model file.
    pub fn load(path: &Path) -> Result<Self, String> {
        Ok(Self { version: path.display().to_string() })
    }

    /// Scores one message: `raw` as typed (for shouting), `normalized` from `normalize`.
    pub fn score(&self, _raw: &str, _normalized: &str) -> SentimentScore {
        todo!()
    }

    /// Model version for audit.
    pub fn version(&self) -> &str {
        &self.version
    }
}
