//! The engine: every configured shop loaded (knowledge base, intent classifier, FAQ index)
//! plus the shared sentiment model, and the one pipeline both `serve` and `eval` run.

use crate::decide::{ConversationContext, Decision};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    #[error("knowledge base {path}: {problems:?}")]
    KnowledgeBase {
        /// The folder.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// A model file is missing or unreadable.
    #[error("model {path}: {message}")]
    Model {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The FAQ index could not be built.
    #[error("index: {0}")]
    Index(String),
}

/// A quick phrase agents insert with `/key`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct QuickPhrase {
    /// What the agent types after `/`.
    pub key: String,
    /// Chinese text.
    pub zh: String,
    /// English text.
    pub en: String,
}

/// One loaded shop.
pub struct ShopEngine {
    id: String,
    quick_phrases: Vec<QuickPhrase>,
}

impl ShopEngine {
    /// Shop id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Routes one customer message given the conversation so far. Pure and CPU-only.
    pub fn route(&self, _text: &str, _ctx: &ConversationContext) -> Decision {
        todo!("engine pipeline lands with issue 2")
    }

    /// The shop's quick phrases for the console.
    pub fn quick_phrases(&self) -> &[QuickPhrase] {
        &self.quick_phrases
    }
}

/// All shops.
pub struct Engine {
    shops: HashMap<String, Arc<ShopEngine>>,
}

impl Engine {
    /// Loads every shop and the models in `models_dir`. CPU-heavy: call from `spawn_blocking`.
    pub fn load(shops: &[ShopSource], _models_dir: &Path) -> Result<Engine, EngineError> {
        let shops = shops
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    Arc::new(ShopEngine { id: s.id.clone(), quick_phrases: Vec::new() }),
                )
            })
            .collect();
        Ok(Engine { shops })
    }

    /// A loaded shop.
    pub fn shop(&self, id: &str) -> Option<Arc<ShopEngine>> {
        self.shops.get(id).cloned()
    }
}
