//! Settings: embedded defaults → TOML file (`--config`) → environment variables, validated at
//! start-up with errors that name the key. Secrets are wrapped so `Debug` and logs never show
//! them.
//!
//! Environment overrides: `SMARTREPLY_LISTEN`, `SMARTREPLY_DATABASE_URL`,
//! `SMARTREPLY_MODELS_DIR`, `SMARTREPLY_DELIVERY__<KEY>`, `SMARTREPLY_LIMITS__<KEY>`; per shop
//! `SMARTREPLY_SHOP_<ID>_WEBHOOK_SECRET` and `SMARTREPLY_SHOP_<ID>_CALLBACK_URL`; per agent
//! `SMARTREPLY_AGENT_<NAME>_TOKEN` (ids and names upper-cased, `-` as `_`); a shop's Chatwoot
//! agent bot with `SMARTREPLY_SHOP_<ID>_CHATWOOT_BASE_URL`, `..._CHATWOOT_ACCOUNT_ID`,
//! `..._CHATWOOT_BOT_TOKEN`, `..._CHATWOOT_WEBHOOK_SECRET` and `..._CHATWOOT_ADMIN_TOKEN`.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Dev webhook secret of the demo shop when running on embedded defaults.
pub const DEV_WEBHOOK_SECRET: &str = "dev-secret-change-me";
/// Dev agent token when running on embedded defaults.
pub const DEV_AGENT_TOKEN: &str = "dev-agent-token";
/// Dev widget key of the demo shop.
pub const DEV_WIDGET_KEY: &str = "pk_demo_dev";

/// A secret: usable, never printed.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for signing and comparing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One shop.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopSettings {
    /// Id in URLs.
    pub id: String,
    /// Knowledge-base folder.
    pub knowledge_base: PathBuf,
    /// HMAC key of inbound and outbound webhooks.
    pub webhook_secret: Secret,
    /// Where agent replies are delivered.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Agent working hours, `HH:MM-HH:MM` in `time_zone` (`00:00-24:00`: round the clock).
    #[serde(default = "default_agent_hours")]
    pub agent_hours: String,
    /// IANA time zone of `agent_hours`.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Public key of the chat widget.
    #[serde(default)]
    pub widget_key: Option<String>,
    /// Origins allowed to use the widget channel.
    #[serde(default)]
    pub widget_origins: Vec<String>,
    /// Overrides the knowledge base's first-response promise (minutes).
    #[serde(default)]
    pub first_response_minutes: Option<u32>,
    /// The shop's Chatwoot agent bot, when its team works in Chatwoot.
    #[serde(default)]
    pub chatwoot: Option<ChatwootSettings>,
    /// Share (0..1) of bot answers and agent replies drawn into the inspection sample.
    #[serde(default = "default_inspection_sample_rate")]
    pub inspection_sample_rate: f64,
    /// Weights of the scorecard's parts (`[shops.scorecard]`; default 40/30/20/10).
    #[serde(default)]
    pub scorecard: crate::quality::Weights,
}

fn default_inspection_sample_rate() -> f64 {
    0.1
}

/// What an agent may do besides answering tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// First-line agent: the queue, replies, cases.
    Agent,
    /// Second-line agent: hard complaints and disputes transferred from the first line.
    SecondLine,
    /// Quality inspector (质检): scores the inspection sample.
    Inspector,
    /// Support lead: mines the queue for knowledge gaps and approves changes to the knowledge
    /// base (`docs/knowledge-loop.md`).
    Lead,
}

fn default_roles() -> Vec<Role> {
    vec![Role::Agent]
}

/// A shop served as a Chatwoot agent bot (`[shops.chatwoot]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatwootSettings {
    /// Chatwoot's address, e.g. `https://chatwoot.example.com` (API calls go below it).
    pub base_url: String,
    /// The Chatwoot account the bot's inboxes belong to.
    pub account_id: u64,
    /// The agent bot's access token (`api_access_token` on every call to Chatwoot).
    pub bot_token: Secret,
    /// The agent bot's secret: Chatwoot signs every event with it.
    pub webhook_secret: Secret,
    /// Chatwoot inbox ids this shop answers; events of other inboxes are ignored. Empty: all
    /// inboxes the bot is connected to.
    #[serde(default)]
    pub inboxes: Vec<u64>,
    /// An administrator's access token, only for `smartreply chatwoot sync-canned` (Chatwoot
    /// does not let bot tokens manage canned responses).
    #[serde(default)]
    pub admin_token: Option<Secret>,
}

/// One agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// Display name.
    pub name: String,
    /// Bearer token.
    pub token: Secret,
    /// Shops this agent may see.
    pub shops: Vec<String>,
    /// What the agent does (`["agent"]` unless set; `inspector` scores the inspection sample).
    #[serde(default = "default_roles")]
    pub roles: Vec<Role>,
}

/// Outbox delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Timeout of one delivery attempt.
    pub timeout_ms: u64,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt (with full jitter).
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_cap_ms: u64,
    /// How often the worker looks for due deliveries when not woken.
    pub poll_interval_ms: u64,
    /// Chatwoot calls: a customer waits in a live chat, so their retries wait at most this
    /// long (and never more than `backoff_cap_ms`)...
    #[serde(default = "default_chatwoot_backoff_cap_ms")]
    pub chatwoot_backoff_cap_ms: u64,
    /// ...and at most `chatwoot_fast_backoff_cap_ms` for the first `chatwoot_fast_retries`
    /// retries (about two minutes), which are not counted in `max_attempts`: a short outage
    /// of Chatwoot costs seconds.
    #[serde(default = "default_chatwoot_fast_backoff_cap_ms")]
    pub chatwoot_fast_backoff_cap_ms: u64,
    /// See `chatwoot_fast_backoff_cap_ms`.
    #[serde(default = "default_chatwoot_fast_retries")]
    pub chatwoot_fast_retries: u32,
}

fn default_chatwoot_backoff_cap_ms() -> u64 {
    60_000
}
fn default_chatwoot_fast_backoff_cap_ms() -> u64 {
    5_000
}
fn default_chatwoot_fast_retries() -> u32 {
    24
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            max_attempts: 12,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 600_000,
            poll_interval_ms: 1_000,
            chatwoot_backoff_cap_ms: default_chatwoot_backoff_cap_ms(),
            chatwoot_fast_backoff_cap_ms: default_chatwoot_fast_backoff_cap_ms(),
            chatwoot_fast_retries: default_chatwoot_fast_retries(),
        }
    }
}

/// Request limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Signed webhook messages per minute per shop.
    pub shop_per_minute: u32,
    /// Messages per minute per customer (webhook) or visitor (widget).
    pub customer_per_minute: u32,
    /// Widget messages per minute per shop: a budget of its own, so anonymous traffic can
    /// never use up the shop's signed webhook budget.
    #[serde(default = "default_widget_per_minute")]
    pub widget_per_minute: u32,
    /// New widget visitors per minute per client address.
    #[serde(default = "default_visitors_per_address_per_minute")]
    pub visitors_per_address_per_minute: u32,
    /// New widget visitors per minute per shop.
    #[serde(default = "default_visitors_per_shop_per_minute")]
    pub visitors_per_shop_per_minute: u32,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Longest request, ms.
    pub request_timeout_ms: u64,
    /// Open connections at most; more are closed at once (file descriptors stay bounded).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time a client has to send a request's headers, from connecting or from the previous
    /// response on a kept-alive connection (slow or silent clients are closed), ms.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// A connection on which nothing is read or written for this long is closed, ms.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// SQLite: writes waiting for the single writer before new ones get 503 + Retry-After.
    #[serde(default = "default_write_queue")]
    pub write_queue: usize,
    /// Largest request line and headers together, bytes; more gets 431 (JSON error) and the
    /// connection is closed. Also bounds what one connection buffers while reading headers.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Most header fields in one request; more gets 431 like oversize headers.
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
}

fn default_widget_per_minute() -> u32 {
    3_000
}
fn default_visitors_per_address_per_minute() -> u32 {
    10
}
fn default_visitors_per_shop_per_minute() -> u32 {
    600
}
fn default_max_connections() -> usize {
    4_096
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}
/// Waiting writes the SQLite writer accepts before refusing with 503 (`store.write_queue`).
pub(crate) const DEFAULT_WRITE_QUEUE: usize = 4096;

fn default_write_queue() -> usize {
    DEFAULT_WRITE_QUEUE
}
fn default_max_header_bytes() -> usize {
    // Browsers send a few KB (cookies included); 32 KB leaves room and bounds memory.
    32 * 1024
}
fn default_max_headers() -> usize {
    100
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            shop_per_minute: 6_000,
            customer_per_minute: 30,
            widget_per_minute: default_widget_per_minute(),
            visitors_per_address_per_minute: default_visitors_per_address_per_minute(),
            visitors_per_shop_per_minute: default_visitors_per_shop_per_minute(),
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 15_000,
            max_connections: default_max_connections(),
            header_read_timeout_ms: default_header_read_timeout_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            write_queue: default_write_queue(),
            max_header_bytes: default_max_header_bytes(),
            max_headers: default_max_headers(),
        }
    }
}

/// All settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Listen address.
    pub listen: String,
    /// `sqlite://...` or `postgres://...`.
    pub database_url: Secret,
    /// Folder of model files.
    pub models_dir: PathBuf,
    /// Shops.
    #[serde(default)]
    pub shops: Vec<ShopSettings>,
    /// Agents.
    #[serde(default)]
    pub agents: Vec<AgentSettings>,
    /// Delivery.
    #[serde(default)]
    pub delivery: DeliverySettings,
    /// Limits.
    #[serde(default)]
    pub limits: LimitSettings,
    /// Knowledge bases: the embedding cache and reloading edits.
    #[serde(default)]
    pub knowledge: KnowledgeSettings,
}

/// How knowledge bases are loaded and kept current.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeSettings {
    /// Folder of the shops' embedding caches (`{shop}.emb`, rebuilt when missing): a shop whose
    /// knowledge base did not change starts without embedding its phrasings again. Empty: no
    /// cache, every start embeds everything.
    pub cache_dir: PathBuf,
    /// Seconds between checks of the knowledge base folders; a shop whose files changed is
    /// reloaded without a restart (0: only at start).
    pub reload_seconds: u64,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self { cache_dir: "./data/embeddings".into(), reload_seconds: 5 }
    }
}

impl KnowledgeSettings {
    /// The cache folder, unless disabled.
    pub fn cache_dir(&self) -> Option<&Path> {
        Some(self.cache_dir.as_path()).filter(|p| !p.as_os_str().is_empty())
    }
}

fn default_agent_hours() -> String {
    "09:00-23:00".into()
}

fn default_time_zone() -> String {
    "Asia/Shanghai".into()
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: Secret::new("sqlite://./data/smartreply.db"),
            models_dir: "./models".into(),
            shops: Vec::new(),
            agents: Vec::new(),
            delivery: DeliverySettings::default(),
            limits: LimitSettings::default(),
            knowledge: KnowledgeSettings::default(),
        }
    }
}

impl ChatwootSettings {
    /// The first problem, as `key: message`.
    fn validate(&self) -> Result<(), String> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err("base_url: must be an http(s) URL".into());
        }
        if self.account_id == 0 {
            return Err("account_id: must be Chatwoot's account id (1 or more)".into());
        }
        if self.bot_token.expose().trim().is_empty() {
            return Err("bot_token: must not be empty".into());
        }
        if self.webhook_secret.expose().len() < 8 {
            return Err("webhook_secret: at least 8 characters (the agent bot's secret in Chatwoot)".into());
        }
        Ok(())
    }

    /// The API root of the account: `{base_url}/api/v1/accounts/{account_id}`.
    pub fn account_api(&self) -> String {
        format!("{}/api/v1/accounts/{}", self.base_url.trim_end_matches('/'), self.account_id)
    }
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Loads defaults → file → environment. Without any shop configured the demo shop and a dev
    /// agent are added; the second value says so (the caller warns).
    pub fn load(file: Option<&Path>) -> Result<(Settings, bool), ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!("{} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(
            // The filter sees keys as written (upper case); they are lower-cased only after it.
            Env::prefixed("SMARTREPLY_").split("__").filter(|k| {
                let k = k.as_str().to_ascii_lowercase();
                matches!(k.as_str(), "listen" | "database_url" | "models_dir")
                    || k.starts_with("delivery.")
                    || k.starts_with("limits.")
                    || k.starts_with("knowledge.")
            }),
        );
        let mut settings: Settings = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        let dev = settings.shops.is_empty();
        if dev {
            settings.shops.push(ShopSettings {
                id: "demo".into(),
                knowledge_base: "./knowledge-base/demo".into(),
                webhook_secret: Secret::new(DEV_WEBHOOK_SECRET),
                callback_url: None,
                agent_hours: default_agent_hours(),
                time_zone: default_time_zone(),
                widget_key: Some(DEV_WIDGET_KEY.into()),
                widget_origins: vec!["http://127.0.0.1:8080".into(), "http://localhost:8080".into()],
                first_response_minutes: None,
                chatwoot: None,
                inspection_sample_rate: default_inspection_sample_rate(),
                scorecard: crate::quality::Weights::default(),
            });
            if settings.agents.is_empty() {
                settings.agents.push(AgentSettings {
                    name: "dev-agent".into(),
                    token: Secret::new(DEV_AGENT_TOKEN),
                    shops: vec!["demo".into()],
                    // The demo's one agent also inspects and leads, so every page can be tried.
                    roles: vec![Role::Agent, Role::Inspector, Role::Lead],
                });
            }
        }
        settings.apply_secret_env(|k| std::env::var(k).ok());
        settings.apply_chatwoot_env(|k| std::env::var(k).ok())?;
        settings.validate()?;
        Ok((settings, dev))
    }

    fn apply_secret_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        let key = |s: &str| s.to_uppercase().replace('-', "_");
        for shop in &mut self.shops {
            if let Some(v) = var(&format!("SMARTREPLY_SHOP_{}_WEBHOOK_SECRET", key(&shop.id))) {
                shop.webhook_secret = Secret::new(v);
            }
            if let Some(v) = var(&format!("SMARTREPLY_SHOP_{}_CALLBACK_URL", key(&shop.id))) {
                shop.callback_url = Some(v);
            }
        }
        for agent in &mut self.agents {
            if let Some(v) = var(&format!("SMARTREPLY_AGENT_{}_TOKEN", key(&agent.name))) {
                agent.token = Secret::new(v);
            }
        }
    }

    /// `SMARTREPLY_SHOP_<ID>_CHATWOOT_*`: secrets (and the address) kept out of the file. A
    /// shop without `[shops.chatwoot]` gets one when the base URL, account id, bot token and
    /// webhook secret are all set.
    fn apply_chatwoot_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for shop in &mut self.shops {
            let prefix = format!("SMARTREPLY_SHOP_{}_CHATWOOT_", shop.id.to_uppercase().replace('-', "_"));
            let get = |name: &str| var(&format!("{prefix}{name}"));
            let account = match get("ACCOUNT_ID") {
                Some(v) => Some(v.trim().parse::<u64>().map_err(|_| ConfigError(format!("{prefix}ACCOUNT_ID: not a number")))?),
                None => None,
            };
            if shop.chatwoot.is_none()
                && let (Some(base_url), Some(account_id), Some(token), Some(secret)) =
                    (get("BASE_URL"), account, get("BOT_TOKEN"), get("WEBHOOK_SECRET"))
            {
                shop.chatwoot = Some(ChatwootSettings {
                    base_url,
                    account_id,
                    bot_token: Secret::new(token),
                    webhook_secret: Secret::new(secret),
                    inboxes: Vec::new(),
                    admin_token: None,
                });
            }
            let Some(cw) = shop.chatwoot.as_mut() else { continue };
            if let Some(v) = get("BASE_URL") {
                cw.base_url = v;
            }
            if let Some(v) = account {
                cw.account_id = v;
            }
            if let Some(v) = get("BOT_TOKEN") {
                cw.bot_token = Secret::new(v);
            }
            if let Some(v) = get("WEBHOOK_SECRET") {
                cw.webhook_secret = Secret::new(v);
            }
            if let Some(v) = get("ADMIN_TOKEN") {
                cw.admin_token = Some(Secret::new(v));
            }
        }
        Ok(())
    }

    /// The published development secrets still in force (`shop demo: webhook_secret`, ...):
    /// the embedded defaults' values, wherever they came from, unless overridden.
    pub fn development_secrets(&self) -> Vec<String> {
        let shops =
            self.shops.iter().filter(|s| s.webhook_secret.expose() == DEV_WEBHOOK_SECRET).map(|s| format!("shop {}: webhook_secret", s.id));
        let agents = self.agents.iter().filter(|a| a.token.expose() == DEV_AGENT_TOKEN).map(|a| format!("agent {}: token", a.name));
        shops.chain(agents).collect()
    }

    /// Refuses a listen address reachable from other machines while [`Self::development_secrets`]
    /// are in force (anyone could sign messages and open the console with the README's
    /// values), unless `allow` (`serve --allow-dev-secrets-on-network`, for a throwaway demo).
    pub fn check_development_secrets(&self, allow: bool) -> Result<(), ConfigError> {
        let loopback = self.listen.parse::<std::net::SocketAddr>().is_ok_and(|a| a.ip().is_loopback());
        let secrets = self.development_secrets();
        if loopback || allow || secrets.is_empty() {
            return Ok(());
        }
        Err(ConfigError(format!(
            "listen = {:?} is reachable from other machines, but the published development secrets are in force ({}). \
             Configure real secrets (--config FILE, or SMARTREPLY_SHOP_<ID>_WEBHOOK_SECRET and SMARTREPLY_AGENT_<NAME>_TOKEN), \
             listen on 127.0.0.1, or for a throwaway demo pass --allow-dev-secrets-on-network \
             (or set SMARTREPLY_ALLOW_DEV_SECRETS_ON_NETWORK=true)",
            self.listen,
            secrets.join(", ")
        )))
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database_url.expose();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError("database_url: use sqlite://PATH or postgres://...".into()));
        }
        self.listen.parse::<std::net::SocketAddr>().map_err(|e| ConfigError(format!("listen = {:?}: {e}", self.listen)))?;
        let mut ids = std::collections::HashSet::new();
        for (i, shop) in self.shops.iter().enumerate() {
            if shop.id.is_empty() || !shop.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(ConfigError(format!("shops[{i}].id {:?}: use letters, digits, '-' and '_'", shop.id)));
            }
            if !ids.insert(&shop.id) {
                return Err(ConfigError(format!("shops[{i}].id {:?} is used twice", shop.id)));
            }
            if shop.webhook_secret.expose().len() < 8 {
                return Err(ConfigError(format!("shops[{i}].webhook_secret: at least 8 characters")));
            }
            crate::sla::AgentHours::parse(&shop.agent_hours, &shop.time_zone)
                .map_err(|e| ConfigError(format!("shops[{i}].agent_hours/time_zone: {e}")))?;
            if let Some(url) = &shop.callback_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(ConfigError(format!("shops[{i}].callback_url: must be an http(s) URL")));
            }
            if let Some(cw) = &shop.chatwoot {
                cw.validate().map_err(|e| ConfigError(format!("shops[{i}].chatwoot.{e}")))?;
            }
            if !(0.0..=1.0).contains(&shop.inspection_sample_rate) {
                return Err(ConfigError(format!("shops[{i}].inspection_sample_rate: between 0 and 1")));
            }
            if let Some(problem) = shop.scorecard.problem() {
                return Err(ConfigError(format!("shops[{i}].scorecard: {problem}")));
            }
        }
        for (i, agent) in self.agents.iter().enumerate() {
            if agent.token.expose().len() < 8 {
                return Err(ConfigError(format!("agents[{i}].token: at least 8 characters")));
            }
            for shop in &agent.shops {
                if !ids.contains(shop) {
                    return Err(ConfigError(format!("agents[{i}].shops: unknown shop {shop:?}")));
                }
            }
        }
        Ok(())
    }

    /// A shop by id.
    pub fn shop(&self, id: &str) -> Option<&ShopSettings> {
        self.shops.iter().find(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let (s, dev) = Settings::load(None).unwrap();
        assert!(dev);
        let printed = format!("{s:?}");
        assert!(!printed.contains(DEV_WEBHOOK_SECRET) && !printed.contains(DEV_AGENT_TOKEN), "{printed}");
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn a_file_configures_shops_and_validation_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9999\"\n[[shops]]\nid = \"a\"\nknowledge_base = \"kb\"\nwebhook_secret = \"short\"\n")
            .unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("shops[0].webhook_secret"), "{err}");
        std::fs::write(
            &path,
            "[[shops]]\nid = \"a\"\nknowledge_base = \"kb\"\nwebhook_secret = \"long-enough\"\n[[agents]]\nname = \"x\"\ntoken = \"tok-tok-tok\"\nshops = [\"b\"]\n",
        )
        .unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("agents[0].shops"), "{err}");
    }

    #[test]
    fn secret_environment_variables_override_the_file() {
        let (mut s, _) = Settings::load(None).unwrap();
        s.apply_secret_env(|k| (k == "SMARTREPLY_SHOP_DEMO_WEBHOOK_SECRET").then(|| "from-env-123".to_string()));
        assert_eq!(s.shops[0].webhook_secret.expose(), "from-env-123");
    }

    #[test]
    fn chatwoot_settings_come_from_the_file_or_the_environment_and_stay_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[[shops]]\nid = \"demo\"\nknowledge_base = \"kb\"\nwebhook_secret = \"long-enough\"\n\
             [shops.chatwoot]\nbase_url = \"https://cw.example\"\naccount_id = 3\nbot_token = \"bot-tok-123\"\n\
             webhook_secret = \"cw-secret-456\"\ninboxes = [7]\n",
        )
        .unwrap();
        let (s, _) = Settings::load(Some(&path)).unwrap();
        let cw = s.shops[0].chatwoot.as_ref().unwrap();
        assert_eq!((cw.account_id, cw.inboxes.as_slice()), (3, &[7][..]));
        assert_eq!(cw.account_api(), "https://cw.example/api/v1/accounts/3");
        let printed = format!("{s:?}");
        assert!(!printed.contains("bot-tok-123") && !printed.contains("cw-secret-456"), "{printed}");

        let (mut s, _) = Settings::load(None).unwrap();
        let env = |k: &str| match k {
            "SMARTREPLY_SHOP_DEMO_CHATWOOT_BASE_URL" => Some("http://cw.local/".to_string()),
            "SMARTREPLY_SHOP_DEMO_CHATWOOT_ACCOUNT_ID" => Some("9".to_string()),
            "SMARTREPLY_SHOP_DEMO_CHATWOOT_BOT_TOKEN" => Some("tok".to_string()),
            "SMARTREPLY_SHOP_DEMO_CHATWOOT_WEBHOOK_SECRET" => Some("from-env-secret".to_string()),
            _ => None,
        };
        s.apply_chatwoot_env(env).unwrap();
        let cw = s.shops[0].chatwoot.as_ref().unwrap();
        assert_eq!(cw.account_api(), "http://cw.local/api/v1/accounts/9");
        assert_eq!(cw.webhook_secret.expose(), "from-env-secret");
        s.validate().unwrap();
        s.shops[0].chatwoot.as_mut().unwrap().webhook_secret = Secret::new("short");
        assert!(s.validate().unwrap_err().to_string().contains("shops[0].chatwoot.webhook_secret"));
        let bad = |k: &str| (k == "SMARTREPLY_SHOP_DEMO_CHATWOOT_ACCOUNT_ID").then(|| "three".to_string());
        assert!(s.apply_chatwoot_env(bad).unwrap_err().to_string().contains("ACCOUNT_ID"));
    }

    #[test]
    fn development_secrets_stay_on_loopback_unless_allowed() {
        let (mut dev, _) = Settings::load(None).unwrap();
        for listen in ["127.0.0.1:8080", "[::1]:8080"] {
            dev.listen = listen.into();
            assert!(dev.check_development_secrets(false).is_ok(), "{listen}");
        }
        for listen in ["0.0.0.0:8080", "[::]:8080", "192.168.1.20:8080"] {
            dev.listen = listen.into();
            let refused = dev.check_development_secrets(false).unwrap_err().to_string();
            assert!(refused.contains("--allow-dev-secrets-on-network") && refused.contains("shop demo: webhook_secret"), "{refused}");
            assert!(refused.contains("agent dev-agent: token") && !refused.contains(DEV_AGENT_TOKEN), "never the secret itself: {refused}");
            assert!(dev.check_development_secrets(true).is_ok(), "{listen}");
        }
        // Real secrets from the environment replace the development ones.
        dev.apply_secret_env(|k| match k {
            "SMARTREPLY_SHOP_DEMO_WEBHOOK_SECRET" => Some("a-real-secret".into()),
            "SMARTREPLY_AGENT_DEV_AGENT_TOKEN" => Some("a-real-token".into()),
            _ => None,
        });
        assert!(dev.check_development_secrets(false).is_ok());
    }
}
