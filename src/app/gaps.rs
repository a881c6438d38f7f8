//! The knowledge base grows from the queue (`docs/knowledge-loop.md`): the period's messages
//! the bot could not answer, grouped by meaning into topics, each with an entry proposed from
//! what agents sent; the proposal replayed through a shadow of the shop before it goes live;
//! approval written into the shop's TOML and the shop reloaded; and template changes agents
//! keep making by hand, proposed the same way.
//!
//! Everything shown is masked as logs are (phones, addresses, order numbers).

use super::{AppState, Shop};
use crate::decide::{ConversationContext, Decision};
use crate::domain::{Lang, SentimentLabel};
use crate::engine::{ShopEngine, ShopSource};
use crate::learn::gaps::{Trend, calibrate_threshold, cluster, medoid, trend};
use crate::learn::gaps_edits::{Edit, apply, repeated};
pub(crate) use crate::learn::gaps_toml::ProposedEntry;
use crate::learn::gaps_toml::{append_faq, replace_template};
use crate::redact::shown_text;
use crate::store::StoreError;
use crate::store::gaps::{PeriodMessage, ProposalRecord, REOPEN_WINDOW_MS, SentReply, Verdict};
use crate::understand::normalize::normalize;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Customer messages read for one mining (the newest of the period).
const MAX_MINED: i64 = 20_000;
/// Messages replayed through the shadow shop (the newest of the period): two routings each,
/// within the request timeout on a small machine.
const MAX_REPLAYED: i64 = 1_000;
/// Fewest messages that make a topic.
const MIN_TOPIC_SIZE: usize = 2;
/// Masked examples that name a topic.
const NAMING_EXAMPLES: usize = 3;
/// Phrasings proposed per language.
const MAX_PHRASINGS: usize = 8;
/// The same edit to one template this many times makes a proposal.
pub(crate) const TEMPLATE_MIN_EDITS: usize = 5;
/// Messages listed per kind in a replay (counts are always whole).
const MAX_LISTED: usize = 50;
/// Escalation reasons that mean "no answer for this": the knowledge base's gaps.
const GAP_REASONS: &[&str] = &["no_confident_answer", "out_of_scope"];
/// Bounds of what an owner may approve (the knowledge base check does the rest).
const MAX_TEXT_CHARS: usize = 2_000;
const MAX_PHRASINGS_APPROVED: usize = 50;
const MAX_EVIDENCE: usize = 20_000;

/// Why a knowledge-loop action failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GapError {
    /// The agent is not a lead of the shop.
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed or out of bounds.
    #[error("{0}")]
    Invalid(String),
    /// The proposal would not pass `smartreply kb check`: every problem.
    #[error("the knowledge base would not load: {}", .0.join("; "))]
    KnowledgeBase(Vec<String>),
    /// The file changed since the proposal was made.
    #[error("{0}")]
    Conflict(String),
    /// Reading or writing the knowledge base files, or a worker thread, failed.
    #[error("knowledge base files: {0}")]
    Files(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<std::io::Error> for GapError {
    fn from(e: std::io::Error) -> Self {
        GapError::Files(e.to_string())
    }
}

/// A period ending now.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Period {
    /// Unix ms, inclusive.
    pub(crate) from: i64,
    /// Unix ms, exclusive.
    pub(crate) to: i64,
}

impl Period {
    /// The last `days` days (1 to 365).
    pub(crate) fn last_days(days: u32) -> Period {
        let to = crate::store::now_ms() + 1;
        Period { from: to - i64::from(days.clamp(1, 365)) * 24 * 3600 * 1000, to }
    }
}

/// Where a mined message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    /// Escalated for want of an answer.
    Unanswered,
    /// Answered, then voted down (👎).
    RatedDown,
    /// Answered, then the customer asked again and was handed over within 7 days.
    Reopened,
}

/// What `smartreply gaps` and `GET /v1/gaps` report.
#[derive(Debug, Serialize)]
pub(crate) struct GapReport {
    /// The shop.
    pub(crate) shop: String,
    /// The period mined.
    pub(crate) period: Period,
    /// Customer messages of the period read.
    pub(crate) messages: usize,
    /// Of those, messages the bot could not answer well (the mined ones).
    pub(crate) unanswered: usize,
    /// Cosine from which two messages are one topic (calibrated on the shop's FAQ phrasings).
    pub(crate) threshold: f32,
    /// Topics, largest first.
    pub(crate) topics: Vec<Topic>,
    /// Template changes agents keep making by hand.
    pub(crate) templates: Vec<TemplateProposal>,
}

/// One gap: messages that ask the same thing.
#[derive(Debug, Serialize)]
pub(crate) struct Topic {
    /// Stable for the same messages.
    pub(crate) id: String,
    /// Messages in it.
    pub(crate) size: usize,
    /// Its most central messages, masked: its name.
    pub(crate) examples: Vec<String>,
    /// Messages per language.
    pub(crate) languages: BTreeMap<String, usize>,
    /// Messages per source.
    pub(crate) sources: BTreeMap<Source, usize>,
    /// Growing, shrinking or steady over the period.
    pub(crate) trend: Trend,
    /// Messages in the first and second half of the period.
    pub(crate) halves: [usize; 2],
    /// The messages (ids), most central first: approval or rejection records them.
    pub(crate) message_ids: Vec<String>,
    /// The entry proposed for it.
    pub(crate) proposal: Proposal,
}

/// An entry proposed for a topic from what agents sent.
#[derive(Debug, Serialize)]
pub(crate) struct Proposal {
    /// The entry (answers chosen from agents' replies, phrasings from the topic, masked).
    pub(crate) entry: ProposedEntry,
    /// Agents' replies to the topic's messages.
    pub(crate) replies: usize,
    /// What became of the drafts on those tickets.
    pub(crate) draft_outcomes: BTreeMap<String, usize>,
    /// Fields the owner must still write before approving (no reply or phrasing in a language).
    pub(crate) needs: Vec<&'static str>,
}

/// A change agents keep making to one template's drafts.
#[derive(Debug, Serialize)]
pub(crate) struct TemplateProposal {
    /// Stable for the same change to the same template.
    pub(crate) id: String,
    /// The template's intent (`*` for any) and sentiment, as in `drafts.toml`.
    pub(crate) intent: String,
    /// Sentiment of the template.
    pub(crate) sentiment: String,
    /// `zh` or `en`.
    pub(crate) lang: String,
    /// Replies that made this change.
    pub(crate) edits: usize,
    /// The change (masked).
    pub(crate) removed: String,
    /// The text put in.
    pub(crate) added: String,
    /// The template now.
    pub(crate) current: String,
    /// The template with the change.
    pub(crate) proposed: String,
    /// Up to three drafts and what was sent instead (masked).
    pub(crate) examples: Vec<[String; 2]>,
    /// The tickets: approval or rejection records them.
    pub(crate) ticket_ids: Vec<String>,
}

/// The lead of a shop, or why not.
fn lead_of<'a>(agent: &super::Agent, shop: &'a Shop) -> Result<&'a Shop, GapError> {
    if agent.is(crate::config::Role::Lead) {
        Ok(shop)
    } else {
        Err(GapError::Forbidden("changing or mining the knowledge base needs the lead role".into()))
    }
}

/// Gap mining over `period` (the console's gaps page, `GET /v1/gaps`), for a lead.
pub(crate) async fn report_for(app: &AppState, agent: &super::Agent, shop: &Shop, period: Period) -> Result<GapReport, GapError> {
    report(app, lead_of(agent, shop)?, period).await
}

/// `smartreply gaps`: gap mining of `shop` over the last `days` days, as `GET /v1/gaps` answers.
pub async fn report_json(app: &AppState, shop: &str, days: u32) -> anyhow::Result<serde_json::Value> {
    let shop = app.shop(shop).ok_or_else(|| anyhow::anyhow!("unknown shop {shop:?}"))?;
    Ok(serde_json::to_value(report(app, shop, Period::last_days(days)).await?)?)
}

/// Gap mining over `period`.
pub(crate) async fn report(app: &AppState, shop: &Shop, period: Period) -> Result<GapReport, GapError> {
    let store = app.store();
    let messages = store.period_messages(shop.id(), period.from, period.to, MAX_MINED).await?;
    let decided = store.decided_evidence(shop.id()).await?;
    let mined: Vec<(PeriodMessage, Source)> = unanswered(&messages).into_iter().filter(|(m, _)| !decided.contains(&m.message_id)).collect();
    let replies = store.sent_replies(shop.id(), period.from).await?;
    let engine = shop.engine();
    let shop_id = shop.id().to_string();
    let count = messages.len();
    let work = move || {
        let topics = topics(&engine, &mined, &replies, period);
        let templates = template_proposals(&engine, &replies, &decided);
        (topics, templates, mined.len())
    };
    let ((threshold, topics), templates, unanswered) =
        tokio::task::spawn_blocking(work).await.map_err(|e| GapError::Files(format!("gap mining stopped: {e}")))?;
    Ok(GapReport { shop: shop_id, period, messages: count, unanswered, threshold, topics, templates })
}

/// The messages the bot could not answer well, with why.
fn unanswered(messages: &[PeriodMessage]) -> Vec<(PeriodMessage, Source)> {
    // When each conversation was later handed over because a question came back.
    let mut repeats: HashMap<&str, Vec<i64>> = HashMap::new();
    for m in messages.iter().filter(|m| m.reason.as_deref() == Some("repeat_question")) {
        repeats.entry(&m.conversation_id).or_default().push(m.created_at);
    }
    messages
        .iter()
        .filter_map(|m| {
            let source = if m.decision == "escalated" && m.reason.as_deref().is_some_and(|r| GAP_REASONS.contains(&r)) {
                Source::Unanswered
            } else if m.decision == "answered" && m.rated_down {
                Source::RatedDown
            } else if m.decision == "answered"
                && repeats
                    .get(m.conversation_id.as_str())
                    .is_some_and(|at| at.iter().any(|&t| t > m.created_at && t < m.created_at + REOPEN_WINDOW_MS))
            {
                Source::Reopened
            } else {
                return None;
            };
            Some((m.clone(), source))
        })
        .collect()
}

/// The mined messages grouped by meaning, each topic with its proposal; and the threshold.
fn topics(engine: &ShopEngine, mined: &[(PeriodMessage, Source)], replies: &[SentReply], period: Period) -> (f32, Vec<Topic>) {
    let threshold = calibrate_threshold(&engine.phrasing_embeddings());
    let texts: Vec<String> = mined.iter().map(|(m, _)| m.text.clone()).collect();
    let Some(embeddings) = engine.embed_messages(&texts) else { return (threshold, Vec::new()) };
    let vectors: Vec<&[f32]> = embeddings.iter().map(|e| &e[..]).collect();
    // The first reply of each ticket that is not a follow-up: the answer an agent gave.
    let mut first_reply: HashMap<&str, &SentReply> = HashMap::new();
    for r in replies.iter().filter(|r| r.outcome.as_deref() != Some("followup")) {
        first_reply.entry(r.ticket_id.as_str()).or_insert(r);
    }
    let topics = cluster(&vectors, threshold)
        .into_iter()
        .filter(|members| members.len() >= MIN_TOPIC_SIZE)
        .map(|members| topic(engine, mined, &members, &first_reply, period))
        .collect();
    (threshold, topics)
}

fn topic(
    engine: &ShopEngine,
    mined: &[(PeriodMessage, Source)],
    members: &[usize],
    first_reply: &HashMap<&str, &SentReply>,
    period: Period,
) -> Topic {
    let messages: Vec<&PeriodMessage> = members.iter().map(|&i| &mined[i].0).collect();
    let mut languages = BTreeMap::new();
    let mut sources = BTreeMap::new();
    for &i in members {
        *languages.entry(normalize(&mined[i].0.text).lang.code().to_string()).or_insert(0) += 1;
        *sources.entry(mined[i].1).or_insert(0) += 1;
    }
    let times: Vec<i64> = messages.iter().map(|m| m.created_at).collect();
    let (trend, first, second) = trend(&times, period.from, period.to);
    let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
    let id = {
        let mut sorted = ids.clone();
        sorted.sort();
        format!("gap-{}", &hex::encode(Sha256::digest(sorted.join("\n").as_bytes()))[..10])
    };
    let examples = messages.iter().take(NAMING_EXAMPLES).map(|m| shown_text(&m.text)).collect();
    let proposal = proposal(engine, &id, &messages, first_reply);
    Topic { id, size: members.len(), examples, languages, sources, trend, halves: [first, second], message_ids: ids, proposal }
}

/// The entry for a topic: per language the most representative reply agents sent to its
/// messages (one without masked details when there is one), the topic's own messages as
/// phrasings, and the intent the router gave them most (an automatically answered one first).
fn proposal(engine: &ShopEngine, id: &str, messages: &[&PeriodMessage], first_reply: &HashMap<&str, &SentReply>) -> Proposal {
    let mut seen = HashSet::new();
    let replies: Vec<&SentReply> = messages
        .iter()
        .filter_map(|m| m.ticket_id.as_deref())
        .filter(|t| seen.insert(*t))
        .filter_map(|t| first_reply.get(t).copied())
        .collect();
    let mut draft_outcomes = BTreeMap::new();
    for r in &replies {
        *draft_outcomes.entry(r.outcome.clone().unwrap_or_else(|| "unknown".into())).or_insert(0) += 1;
    }
    let answer = |lang: Lang| -> String {
        let of_lang: Vec<&SentReply> = replies.iter().copied().filter(|r| normalize(&r.text).lang == lang).collect();
        // Replies that mask to themselves carry no customer's details: preferred.
        let clean: Vec<&SentReply> = of_lang.iter().copied().filter(|r| shown_text(&r.text) == r.text).collect();
        let pool = if clean.is_empty() { of_lang } else { clean };
        let texts: Vec<String> = pool.iter().map(|r| r.text.clone()).collect();
        let chosen = match engine.embed_messages(&texts) {
            Some(e) => medoid(&e.iter().map(|v| &v[..]).collect::<Vec<_>>()),
            None => (!texts.is_empty()).then_some(0),
        };
        chosen.map(|i| shown_text(texts[i].trim())).unwrap_or_default()
    };
    let phrasings = |lang: Lang| -> Vec<String> {
        let mut seen = HashSet::new();
        messages
            .iter()
            .filter(|m| normalize(&m.text).lang == lang)
            .map(|m| m.text.trim().to_string())
            // A message with masked details is no phrasing for everyone.
            .filter(|t| !t.is_empty() && shown_text(t) == *t && seen.insert(t.to_lowercase()))
            .take(MAX_PHRASINGS)
            .collect()
    };
    let entry = ProposedEntry {
        id: id.to_string(),
        intents: vec![suggested_intent(engine, messages)],
        questions_zh: phrasings(Lang::Zh),
        questions_en: phrasings(Lang::En),
        answer_zh: answer(Lang::Zh),
        answer_en: answer(Lang::En),
    };
    let mut needs = Vec::new();
    // An entry of an always-escalated intent would never be sent: the owner picks another.
    if !entry.intents.iter().any(|i| engine.knowledge().intent(i).is_some_and(|d| d.route == crate::knowledge::Route::Auto)) {
        needs.push("intents");
    }
    for (field, empty) in [
        ("questions_zh", entry.questions_zh.is_empty()),
        ("questions_en", entry.questions_en.is_empty()),
        ("answer_zh", entry.answer_zh.is_empty()),
        ("answer_en", entry.answer_en.is_empty()),
    ] {
        if empty {
            needs.push(field);
        }
    }
    Proposal { entry, replies: replies.len(), draft_outcomes, needs }
}

/// The intent the router gave the topic's messages most, among intents it answers
/// automatically (an entry for an always-escalated intent would never be sent); failing
/// that, the most given.
fn suggested_intent(engine: &ShopEngine, messages: &[&PeriodMessage]) -> String {
    let kb = engine.knowledge();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for m in messages {
        *counts.entry(m.intent.as_str()).or_insert(0) += 1;
    }
    let auto = |name: &str| kb.intent(name).is_some_and(|i| i.route == crate::knowledge::Route::Auto);
    let most = |only_auto: bool| {
        counts.iter().filter(|(name, _)| !only_auto || auto(name)).max_by_key(|(_, n)| **n).map(|(name, _)| name.to_string())
    };
    most(true).or_else(|| most(false)).unwrap_or_default()
}

/// Changes agents made to at least [`TEMPLATE_MIN_EDITS`] drafts of one template that map
/// onto the template's own words.
fn template_proposals(engine: &ShopEngine, replies: &[SentReply], decided: &HashSet<String>) -> Vec<TemplateProposal> {
    let kb = engine.knowledge();
    type Key = (String, String, String);
    let edited: Vec<(&SentReply, Key)> = replies
        .iter()
        .filter(|r| r.outcome.as_deref() == Some("edited") && !decided.contains(&r.ticket_id))
        .filter_map(|r| {
            let sentiment = SentimentLabel::parse(&r.sentiment)?;
            let template = kb.draft_for(&r.intent, sentiment);
            Some((r, (template.intent.clone(), template.sentiment.clone(), r.lang.clone())))
        })
        .collect();
    let inputs: Vec<(Key, String, String)> = edited.iter().map(|(r, k)| (k.clone(), r.draft.clone(), r.text.clone())).collect();
    repeated(&inputs, TEMPLATE_MIN_EDITS)
        .into_iter()
        .filter_map(|found| {
            let (intent, sentiment, lang) = found.template.clone();
            let template = kb.drafts.iter().find(|d| d.intent == intent && d.sentiment == sentiment)?;
            let lang_code = if lang == "en" { Lang::En } else { Lang::Zh };
            let current = template.text(lang_code).to_string();
            let proposed = apply(&current, &found.edit)?;
            let Edit { old, new, .. } = &found.edit;
            let id =
                format!("tpl-{}", &hex::encode(Sha256::digest(format!("{intent}\n{sentiment}\n{lang}\n{old}\n{new}").as_bytes()))[..10]);
            Some(TemplateProposal {
                id,
                edits: found.replies.len(),
                removed: shown_text(old),
                added: shown_text(new),
                examples: found.replies.iter().take(3).map(|&i| [shown_text(&inputs[i].1), shown_text(&inputs[i].2)]).collect(),
                ticket_ids: found.replies.iter().map(|&i| edited[i].0.ticket_id.clone()).collect(),
                intent,
                sentiment,
                lang,
                current,
                proposed,
            })
        })
        .collect()
}

/// What a proposed entry would have changed over the period.
#[derive(Debug, Serialize)]
pub(crate) struct Replay {
    /// Messages replayed (the period's newest, at most 1,000).
    pub(crate) replayed: usize,
    /// Answered automatically without the entry / with it.
    pub(crate) answered_before: usize,
    /// With the entry.
    pub(crate) answered_after: usize,
    /// Escalated without the entry, answered with it (newest first, at most 50 listed).
    pub(crate) gained: Vec<Replayed>,
    /// How many.
    pub(crate) gained_count: usize,
    /// Answered either way, with a different entry.
    pub(crate) changed: Vec<Replayed>,
    /// How many.
    pub(crate) changed_count: usize,
    /// Answered without the entry, escalated with it.
    pub(crate) lost: Vec<Replayed>,
    /// How many.
    pub(crate) lost_count: usize,
}

/// One replayed message whose routing the entry changes.
#[derive(Debug, Serialize)]
pub(crate) struct Replayed {
    /// The shop's message id.
    pub(crate) message_id: String,
    /// Masked.
    pub(crate) text: String,
    /// The entry that answered it without the proposal (none: escalated).
    pub(crate) before: Option<String>,
    /// With it.
    pub(crate) after: Option<String>,
}

/// Replays the period's messages through the shop as it is and through a shadow shop with
/// `entry` added (nothing is written): which messages it would have answered, and which
/// earlier answers it would change.
pub(crate) async fn replay(
    app: &AppState,
    agent: &super::Agent,
    shop: &Shop,
    period: Period,
    entry: ProposedEntry,
) -> Result<Replay, GapError> {
    let shop = lead_of(agent, shop)?;
    check_bounds(&entry)?;
    let messages = app.store().period_messages(shop.id(), period.from, period.to, MAX_REPLAYED).await?;
    let shadow = shadow_shop(app, shop, entry).await?;
    let current = shop.engine();
    let work = move || {
        let texts: Vec<String> = messages.iter().map(|m| m.text.clone()).collect();
        // Embedded once for both routings (the encoder's cache keeps them).
        let _ = current.embed_messages(&texts);
        let ctx = ConversationContext { agents_online: true, ..ConversationContext::default() };
        let answered = |d: &Decision| d.answered_faq_id().map(String::from);
        let mut out = Replay {
            replayed: messages.len(),
            answered_before: 0,
            answered_after: 0,
            gained: Vec::new(),
            gained_count: 0,
            changed: Vec::new(),
            changed_count: 0,
            lost: Vec::new(),
            lost_count: 0,
        };
        for m in messages.iter().rev() {
            let (before, after) = (answered(&current.route(&m.text, &ctx)), answered(&shadow.route(&m.text, &ctx)));
            out.answered_before += usize::from(before.is_some());
            out.answered_after += usize::from(after.is_some());
            let (list, count) = match (&before, &after) {
                (None, Some(_)) => (&mut out.gained, &mut out.gained_count),
                (Some(_), None) => (&mut out.lost, &mut out.lost_count),
                (Some(b), Some(a)) if a != b => (&mut out.changed, &mut out.changed_count),
                _ => continue,
            };
            *count += 1;
            if list.len() < MAX_LISTED {
                list.push(Replayed { message_id: m.message_id.clone(), text: shown_text(&m.text), before, after });
            }
        }
        out
    };
    tokio::task::spawn_blocking(work).await.map_err(|e| GapError::Files(format!("replay stopped: {e}")))
}

/// What an approval did.
#[derive(Debug, Serialize)]
pub(crate) struct Approved {
    /// The file written (inside the shop's knowledge base folder).
    pub(crate) file: &'static str,
    /// The FAQ id added, or the template changed.
    pub(crate) target: String,
    /// The knowledge base version now served.
    pub(crate) knowledge_base: String,
}

/// Approvals write files and reload: one at a time.
static WRITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Writes an approved entry into the shop's `faq.toml` under a comment saying where it came
/// from, reloads the shop (the next message is answered with it) and records the decision.
/// Refused, with every problem, when the knowledge base would not load with it.
pub(crate) async fn approve_entry(
    app: &AppState,
    agent: &super::Agent,
    shop: &Shop,
    entry: ProposedEntry,
    message_ids: Vec<String>,
) -> Result<Approved, GapError> {
    let shop = lead_of(agent, shop)?;
    check_bounds(&entry)?;
    if message_ids.len() > MAX_EVIDENCE {
        return Err(GapError::Invalid(format!("at most {MAX_EVIDENCE} message ids")));
    }
    let note = vec![
        format!("Added from the queue by gap mining: {} escalated message(s) and the replies agents sent to them.", message_ids.len()),
        format!("Approved by {} on {} (docs/knowledge-loop.md).", agent.name, jiff::Timestamp::now().strftime("%Y-%m-%d")),
    ];
    let target = entry.id.clone();
    let approved = write_and_reload(app, shop, FAQ_FILE, move |src| Ok(append_faq(src, &entry, &note)), target.clone()).await?;
    app.store()
        .record_proposal(
            shop.id(),
            ProposalRecord { kind: "faq", target, evidence: message_ids, verdict: Verdict::Approved, agent: agent.name.clone() },
        )
        .await?;
    Ok(approved)
}

/// A template change as approved (possibly edited by the owner).
#[derive(Debug, Clone)]
pub(crate) struct TemplateChange {
    /// The template's intent and sentiment, as in `drafts.toml`.
    pub(crate) intent: String,
    /// Sentiment of the template.
    pub(crate) sentiment: String,
    /// `zh` or `en`.
    pub(crate) lang: String,
    /// The template text now (refused when the file says otherwise).
    pub(crate) current: String,
    /// The new text.
    pub(crate) proposed: String,
    /// The tickets behind it.
    pub(crate) ticket_ids: Vec<String>,
}

/// Writes an approved template change into `drafts.toml` and reloads the shop.
pub(crate) async fn approve_template(
    app: &AppState,
    agent: &super::Agent,
    shop: &Shop,
    change: TemplateChange,
) -> Result<Approved, GapError> {
    let shop = lead_of(agent, shop)?;
    if !matches!(change.lang.as_str(), "zh" | "en") {
        return Err(GapError::Invalid("lang: use zh or en".into()));
    }
    if change.proposed.chars().count() > MAX_TEXT_CHARS || change.ticket_ids.len() > MAX_EVIDENCE {
        return Err(GapError::Invalid(format!("a template is at most {MAX_TEXT_CHARS} characters")));
    }
    let note = vec![format!(
        "Changed from the queue: agents made this edit to {} draft(s); approved by {} on {} (docs/knowledge-loop.md).",
        change.ticket_ids.len(),
        agent.name,
        jiff::Timestamp::now().strftime("%Y-%m-%d")
    )];
    let target = format!("{}/{}/{}", change.intent, change.sentiment, change.lang);
    let c = change.clone();
    let approved = write_and_reload(
        app,
        shop,
        DRAFTS_FILE,
        move |src| {
            replace_template(src, (&c.intent, &c.sentiment, &c.lang), &c.current, &c.proposed, &note)
                .ok_or_else(|| GapError::Conflict("drafts.toml has no such template with that text (edited meanwhile?)".into()))
        },
        target.clone(),
    )
    .await?;
    app.store()
        .record_proposal(
            shop.id(),
            ProposalRecord { kind: "template", target, evidence: change.ticket_ids, verdict: Verdict::Approved, agent: agent.name.clone() },
        )
        .await?;
    Ok(approved)
}

/// Records that the owner does not want a proposal: its messages (or tickets) are not
/// proposed again.
pub(crate) async fn reject(
    app: &AppState,
    agent: &super::Agent,
    shop: &Shop,
    target: String,
    evidence: Vec<String>,
) -> Result<(), GapError> {
    let shop = lead_of(agent, shop)?;
    if evidence.is_empty() || evidence.len() > MAX_EVIDENCE || target.chars().count() > 200 {
        return Err(GapError::Invalid(format!("name the proposal and its 1 to {MAX_EVIDENCE} message or ticket ids")));
    }
    let kind = if target.starts_with("tpl-") { "template" } else { "faq" };
    app.store()
        .record_proposal(shop.id(), ProposalRecord { kind, target, evidence, verdict: Verdict::Rejected, agent: agent.name.clone() })
        .await?;
    Ok(())
}

const FAQ_FILE: &str = "faq.toml";
const DRAFTS_FILE: &str = "drafts.toml";

fn check_bounds(entry: &ProposedEntry) -> Result<(), GapError> {
    let long = |t: &String| t.chars().count() > MAX_TEXT_CHARS;
    if entry.id.chars().count() > 64
        || entry.intents.len() > 8
        || entry.questions_zh.len() > MAX_PHRASINGS_APPROVED
        || entry.questions_en.len() > MAX_PHRASINGS_APPROVED
        || entry.questions_zh.iter().chain(&entry.questions_en).chain(&entry.intents).any(long)
        || long(&entry.answer_zh)
        || long(&entry.answer_en)
    {
        return Err(GapError::Invalid(format!(
            "an entry has an id of at most 64 characters, at most {MAX_PHRASINGS_APPROVED} phrasings per language and texts of at most {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(())
}

/// The shop's knowledge base folder.
fn folder(shop: &Shop) -> PathBuf {
    shop.settings.knowledge_base.clone()
}

/// A copy of the shop's knowledge base folder with `file` rewritten by `edit`, in a new
/// temporary folder (removed when the guard drops).
fn edited_copy(dir: &Path, file: &str, edit: impl FnOnce(&str) -> Result<String, GapError>) -> Result<(TempFolder, String), GapError> {
    let copy = TempFolder::new()?;
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        if item.file_type()?.is_file() {
            std::fs::copy(item.path(), copy.0.join(item.file_name()))?;
        }
    }
    let edited = edit(&std::fs::read_to_string(dir.join(file))?)?;
    std::fs::write(copy.0.join(file), &edited)?;
    Ok((copy, edited))
}

/// A shadow of the shop with `entry` added, loaded like a reload but not served.
async fn shadow_shop(app: &AppState, shop: &Shop, entry: ProposedEntry) -> Result<Arc<ShopEngine>, GapError> {
    let (dir, id, engine) = (folder(shop), shop.id().to_string(), Arc::clone(app.engine()));
    let work = move || -> Result<ShopEngine, GapError> {
        let (copy, _) = edited_copy(&dir, FAQ_FILE, |src| Ok(append_faq(src, &entry, &[])))?;
        engine.load_detached(&ShopSource { id, knowledge_base: copy.0.clone() }).map_err(|e| load_problems(e, &copy.0))
    };
    let shadow = tokio::task::spawn_blocking(work).await.map_err(|e| GapError::Files(format!("shadow load stopped: {e}")))??;
    Ok(Arc::new(shadow))
}

fn load_problems(e: crate::engine::EngineError, copy: &Path) -> GapError {
    match e {
        crate::engine::EngineError::KnowledgeBase { problems, .. } => {
            // The temporary copy's folder means nothing to the owner: file name and line only.
            let folder = format!("{}/", copy.display());
            GapError::KnowledgeBase(problems.into_iter().map(|p| p.strip_prefix(&folder).map_or(p.clone(), String::from)).collect())
        }
        e => GapError::Files(e.to_string()),
    }
}

/// Checks the edited knowledge base loads (a copy), writes the file in place of the old one
/// (renamed over it, so the watcher never reads half a file) and reloads the shop.
async fn write_and_reload(
    app: &AppState,
    shop: &Shop,
    file: &'static str,
    edit: impl FnOnce(&str) -> Result<String, GapError> + Send + 'static,
    target: String,
) -> Result<Approved, GapError> {
    let _one_at_a_time = WRITING.lock().await;
    let (dir, id, engine) = (folder(shop), shop.id().to_string(), Arc::clone(app.engine()));
    let work = move || -> Result<String, GapError> {
        let (copy, edited) = edited_copy(&dir, file, edit)?;
        if let Err(problems) = crate::knowledge::check_dir(&copy.0) {
            // Named by file and line: the copy's folder means nothing to the owner.
            let name = |p: &crate::knowledge::Problem| p.file.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
            return Err(GapError::KnowledgeBase(problems.iter().map(|p| format!("{}:{}: {}", name(p), p.line, p.message)).collect()));
        }
        let tmp = dir.join(format!(".{file}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, edited)?;
        std::fs::rename(&tmp, dir.join(file))?;
        for (shop_id, outcome) in engine.reload_changed() {
            if shop_id == id {
                outcome.map_err(|e| GapError::Files(format!("written but not reloaded: {e}")))?;
            }
        }
        Ok(engine.shop(&id).map(|s| s.knowledge().version.clone()).unwrap_or_default())
    };
    let version = tokio::task::spawn_blocking(work).await.map_err(|e| GapError::Files(format!("approval stopped: {e}")))??;
    tracing::info!(shop = %shop.id(), file, target = %target, "knowledge base changed from the queue");
    Ok(Approved { file, target, knowledge_base: version })
}

/// A temporary folder removed when dropped (the crate has no temp-file dependency outside tests).
struct TempFolder(PathBuf);

impl TempFolder {
    fn new() -> std::io::Result<TempFolder> {
        let path = std::env::temp_dir().join(format!("smartreply-kb-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path)?;
        Ok(TempFolder(path))
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::{Source, unanswered};
    use crate::store::gaps::PeriodMessage;

    fn message(id: &str, conversation: &str, at: i64, decision: &str, reason: Option<&str>, rated_down: bool) -> PeriodMessage {
        PeriodMessage {
            message_id: id.into(),
            conversation_id: conversation.into(),
            text: id.into(),
            created_at: at,
            ticket_id: None,
            decision: decision.into(),
            reason: reason.map(String::from),
            intent: "product_info".into(),
            rated_down,
        }
    }

    #[test]
    fn only_messages_the_bot_could_not_answer_well_are_mined() {
        let day = 24 * 3600 * 1000;
        let messages = [
            message("no-answer", "a", 0, "escalated", Some("no_confident_answer"), false),
            message("angry", "b", 0, "escalated", Some("negative_sentiment"), false),
            message("answered", "c", 0, "answered", None, false),
            message("voted-down", "d", 0, "answered", None, true),
            message("asked-again", "e", 0, "answered", None, false),
            message("repeat", "e", day, "escalated", Some("repeat_question"), false),
            message("asked-again-late", "f", 0, "answered", None, false),
            message("repeat-late", "f", 8 * day, "escalated", Some("repeat_question"), false),
        ];
        let mined: Vec<(String, Source)> = unanswered(&messages).into_iter().map(|(m, s)| (m.message_id, s)).collect();
        assert_eq!(
            mined,
            [
                ("no-answer".to_string(), Source::Unanswered),
                ("voted-down".to_string(), Source::RatedDown),
                ("asked-again".to_string(), Source::Reopened),
            ]
        );
    }
}
