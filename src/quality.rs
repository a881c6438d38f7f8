//! Quality: which messages are inspected, the inspection checklist, and the team's weighted
//! scorecard (satisfaction, response speed, resolution, compliance) computed from the facts of
//! a period. Pure: the store gathers the facts, this module does the arithmetic.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a message is drawn into the inspection sample at `rate` (0..1). A hash of its id,
/// not a random draw, so every replica (and a retried write) decides the same way.
pub fn sampled(message_id: &str, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    let digest = Sha256::digest(message_id.as_bytes());
    let draw = u64::from_be_bytes(digest[..8].try_into().expect("eight bytes")) as f64 / u64::MAX as f64;
    draw < rate
}

/// The inspection checklist.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Checklist {
    /// The content is right.
    pub correct: bool,
    /// The tone is polite.
    pub polite: bool,
    /// Nothing against policy or law (promises, personal data).
    pub compliant: bool,
    /// Not a canned reply that ignores what was asked.
    pub no_blind_canned: bool,
}

impl Checklist {
    /// Passes when all four hold.
    pub fn passed(self) -> bool {
        self.correct && self.polite && self.compliant && self.no_blind_canned
    }
}

/// The weights of the scorecard's parts (any scale; the score divides by their sum).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Customer satisfaction (CSAT).
    pub satisfaction: f64,
    /// Response speed (first responses within the deadline).
    pub speed: f64,
    /// Resolution rate.
    pub resolution: f64,
    /// Compliance (inspection pass rate).
    pub compliance: f64,
}

impl Default for Weights {
    /// The weights these teams are judged on: 40 / 30 / 20 / 10.
    fn default() -> Self {
        Weights { satisfaction: 40.0, speed: 30.0, resolution: 20.0, compliance: 10.0 }
    }
}

impl Weights {
    /// Why the weights are unusable, if they are.
    pub fn problem(&self) -> Option<String> {
        let all = [self.satisfaction, self.speed, self.resolution, self.compliance];
        if all.iter().any(|w| !w.is_finite() || *w < 0.0) {
            Some("scorecard weights must be numbers of at least 0".into())
        } else if all.iter().sum::<f64>() <= 0.0 {
            Some("scorecard weights must not all be 0".into())
        } else {
            None
        }
    }
}

/// One rating of a resolved ticket.
#[derive(Debug, Clone)]
pub struct RatingFact {
    /// The agent who resolved the ticket (none: the bot's).
    pub agent: Option<String>,
    /// 1..5.
    pub rating: i64,
}

/// One scored inspection.
#[derive(Debug, Clone)]
pub struct InspectionFact {
    /// The agent inspected (none: a bot answer).
    pub agent: Option<String>,
    /// Passed.
    pub passed: bool,
}

/// One ticket an agent acted on (claimed, replied or resolved).
#[derive(Debug, Clone)]
pub struct TicketFact {
    /// The agent.
    pub agent: String,
    /// Ticket id.
    pub ticket_id: String,
    /// Created, Unix ms.
    pub created_at: i64,
    /// Deadline, Unix ms.
    pub due_at: i64,
    /// The ticket's first response, Unix ms, when this agent gave it within the period.
    pub first_reply_at: Option<i64>,
    /// Resolved (by anyone).
    pub resolved: bool,
    /// The settlement clock ran out (a complaint resolved late, or still open past it).
    pub settled_late: bool,
}

/// The draft outcome of one reply.
#[derive(Debug, Clone)]
pub struct DraftFact {
    /// The agent.
    pub agent: String,
    /// `accepted`, `edited` or `rejected`.
    pub outcome: String,
}

/// Everything the scorecard of a period is computed from.
#[derive(Debug, Clone, Default)]
pub struct ScoreFacts {
    /// Tickets agents acted on in the period (one per agent and ticket).
    pub tickets: Vec<TicketFact>,
    /// Ratings given in the period.
    pub ratings: Vec<RatingFact>,
    /// Inspections scored in the period.
    pub inspections: Vec<InspectionFact>,
    /// Draft outcomes of the period's replies.
    pub drafts: Vec<DraftFact>,
    /// The pipeline's time to answer each message of the period, ms.
    pub bot_latencies_ms: Vec<i64>,
    /// Automatic answers of the period.
    pub bot_answers: i64,
    /// 👍 of the period.
    pub helpful: i64,
    /// 👎 of the period.
    pub not_helpful: i64,
}

/// Median and 90th percentile (nearest rank), ms.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct P50P90 {
    /// Median.
    pub p50: Option<i64>,
    /// 90th percentile.
    pub p90: Option<i64>,
}

impl P50P90 {
    fn of(mut values: Vec<i64>) -> P50P90 {
        values.sort_unstable();
        let at = |p: f64| (!values.is_empty()).then(|| values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1]);
        P50P90 { p50: at(0.5), p90: at(0.9) }
    }
}

/// Draft outcomes.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Drafts {
    /// Sent unchanged.
    pub accepted: i64,
    /// Sent after edits.
    pub edited: i64,
    /// Not used.
    pub rejected: i64,
}

/// One row of the scorecard: an agent, or the team.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScoreRow {
    /// Agent name, or `team`.
    pub agent: String,
    /// Ticket created → first reply.
    pub first_response_ms: P50P90,
    /// Tickets handled.
    pub tickets: i64,
    /// Of which resolved.
    pub resolved: i64,
    /// resolved / tickets.
    pub resolution_rate: Option<f64>,
    /// Ratings given.
    pub ratings: i64,
    /// Share of 4 and 5 stars.
    pub csat: Option<f64>,
    /// Inspections scored.
    pub inspected: i64,
    /// Share passed.
    pub compliance: Option<f64>,
    /// First responses after the deadline.
    pub sla_breaches: i64,
    /// Tickets past their settlement deadline (complaints: the second SLA clock).
    pub resolution_breaches: i64,
    /// Share of first responses within the deadline.
    pub speed: Option<f64>,
    /// Draft outcomes.
    pub drafts: Drafts,
    /// accepted / all.
    pub draft_acceptance: Option<f64>,
    /// Weighted score 0..100 over the parts with data.
    pub score: Option<f64>,
}

/// The bot's part of the team's row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BotRow {
    /// The pipeline's time to answer, ms.
    pub first_response_ms: P50P90,
    /// Automatic answers.
    pub answers: i64,
    /// 👍.
    pub helpful: i64,
    /// 👎.
    pub not_helpful: i64,
    /// Inspections of bot answers scored.
    pub inspected: i64,
    /// Share passed.
    pub compliance: Option<f64>,
}

/// The scorecard of a period.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scorecard {
    /// The weights used.
    pub weights: Weights,
    /// One row per agent, by name.
    pub agents: Vec<ScoreRow>,
    /// Everyone together.
    pub team: ScoreRow,
    /// The bot.
    pub bot: BotRow,
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The weighted score 0..100 (one decimal) of the parts that have data; none without any.
pub fn weighted(weights: &Weights, csat: Option<f64>, speed: Option<f64>, resolution: Option<f64>, compliance: Option<f64>) -> Option<f64> {
    let parts = [(weights.satisfaction, csat), (weights.speed, speed), (weights.resolution, resolution), (weights.compliance, compliance)];
    let (sum, total) = parts.iter().filter_map(|(w, v)| v.map(|v| (w * v, *w))).fold((0.0, 0.0), |(s, t), (wv, w)| (s + wv, t + w));
    (total > 0.0).then(|| (1000.0 * sum / total).round() / 10.0)
}

/// The rows of one agent (`Some`) or of the team (`None`: every ticket once, the earliest reply).
fn row(facts: &ScoreFacts, weights: &Weights, agent: Option<&str>) -> ScoreRow {
    let mine = |a: &str| agent.is_none_or(|x| x == a);
    // The team counts a ticket once, with its earliest first reply by anyone.
    let mut tickets: BTreeMap<&str, (i64, i64, Option<i64>, bool)> = BTreeMap::new();
    let mut settled_late = std::collections::BTreeSet::new();
    for t in facts.tickets.iter().filter(|t| mine(&t.agent)) {
        if t.settled_late {
            settled_late.insert(t.ticket_id.as_str());
        }
        let e = tickets.entry(&t.ticket_id).or_insert((t.created_at, t.due_at, None, t.resolved));
        e.2 = match (e.2, t.first_reply_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let handled = tickets.len() as i64;
    let resolved = tickets.values().filter(|t| t.3).count() as i64;
    let answered: Vec<(i64, bool)> = tickets.values().filter_map(|(c, due, f, _)| f.map(|f| (f - c, f <= *due))).collect();
    let within = answered.iter().filter(|(_, ok)| *ok).count() as i64;
    let ratings: Vec<i64> =
        facts.ratings.iter().filter(|r| agent.map_or(r.agent.is_some(), |a| r.agent.as_deref() == Some(a))).map(|r| r.rating).collect();
    let satisfied = ratings.iter().filter(|r| **r >= 4).count() as i64;
    let inspections: Vec<bool> =
        facts.inspections.iter().filter(|i| agent.map_or(i.agent.is_some(), |a| i.agent.as_deref() == Some(a))).map(|i| i.passed).collect();
    let passed = inspections.iter().filter(|p| **p).count() as i64;
    let mut drafts = Drafts::default();
    for d in facts.drafts.iter().filter(|d| mine(&d.agent)) {
        match d.outcome.as_str() {
            "accepted" => drafts.accepted += 1,
            "edited" => drafts.edited += 1,
            "rejected" => drafts.rejected += 1,
            _ => {}
        }
    }
    let (resolution_rate, csat) = (ratio(resolved, handled), ratio(satisfied, ratings.len() as i64));
    let (compliance, speed) = (ratio(passed, inspections.len() as i64), ratio(within, answered.len() as i64));
    ScoreRow {
        agent: agent.unwrap_or("team").to_string(),
        first_response_ms: P50P90::of(answered.iter().map(|(ms, _)| *ms).collect()),
        tickets: handled,
        resolved,
        resolution_rate,
        ratings: ratings.len() as i64,
        csat,
        inspected: inspections.len() as i64,
        compliance,
        sla_breaches: answered.len() as i64 - within,
        resolution_breaches: settled_late.len() as i64,
        speed,
        draft_acceptance: ratio(drafts.accepted, drafts.accepted + drafts.edited + drafts.rejected),
        drafts,
        score: weighted(weights, csat, speed, resolution_rate, compliance),
    }
}

/// The scorecard of a period's facts.
pub fn scorecard(facts: &ScoreFacts, weights: Weights) -> Scorecard {
    let names: BTreeSet<&str> = facts
        .tickets
        .iter()
        .map(|t| t.agent.as_str())
        .chain(facts.ratings.iter().filter_map(|r| r.agent.as_deref()))
        .chain(facts.inspections.iter().filter_map(|i| i.agent.as_deref()))
        .chain(facts.drafts.iter().map(|d| d.agent.as_str()))
        .collect();
    let bot_inspections: Vec<bool> = facts.inspections.iter().filter(|i| i.agent.is_none()).map(|i| i.passed).collect();
    Scorecard {
        weights,
        agents: names.into_iter().map(|a| row(facts, &weights, Some(a))).collect(),
        team: row(facts, &weights, None),
        bot: BotRow {
            first_response_ms: P50P90::of(facts.bot_latencies_ms.clone()),
            answers: facts.bot_answers,
            helpful: facts.helpful,
            not_helpful: facts.not_helpful,
            inspected: bot_inspections.len() as i64,
            compliance: ratio(bot_inspections.iter().filter(|p| **p).count() as i64, bot_inspections.len() as i64),
        },
    }
}

/// A scorecard period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// One calendar day.
    Day,
    /// Monday to Sunday.
    Week,
}

/// The period containing `date` in `tz`: its first day and `[from, to)` in Unix ms.
pub fn period_bounds(
    period: Period,
    date: jiff::civil::Date,
    tz: &jiff::tz::TimeZone,
) -> Result<(jiff::civil::Date, i64, i64), jiff::Error> {
    let (start, days) = match period {
        Period::Day => (date, 1),
        Period::Week => (date.checked_sub(jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())))?, 7),
    };
    let end = start.checked_add(jiff::Span::new().days(days))?;
    let ms = |d: jiff::civil::Date| d.to_zoned(tz.clone()).map(|z| z.timestamp().as_millisecond());
    Ok((start, ms(start)?, ms(end)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_the_rate_and_is_the_same_every_time() {
        let ids: Vec<String> = (0..4000).map(|i| format!("m-{i}")).collect();
        let drawn = ids.iter().filter(|id| sampled(id, 0.25)).count();
        assert!((850..1150).contains(&drawn), "{drawn} of 4000 at 0.25");
        assert!(ids.iter().all(|id| sampled(id, 0.25) == sampled(id, 0.25)));
        assert!(!ids.iter().any(|id| sampled(id, 0.0)));
        assert!(ids.iter().all(|id| sampled(id, 1.0)));
    }

    #[test]
    fn the_score_leaves_out_parts_without_data_and_scales_the_other_weights() {
        let w = Weights::default();
        assert_eq!(weighted(&w, Some(1.0), Some(1.0), Some(1.0), Some(1.0)), Some(100.0));
        // 40×0.5 + 30×1 + 20×0.5 + 10×0 = 60.
        assert_eq!(weighted(&w, Some(0.5), Some(1.0), Some(0.5), Some(0.0)), Some(60.0));
        // Not inspected yet: (40×0.5 + 30×1 + 20×0.5) / 90 = 66.7.
        assert_eq!(weighted(&w, Some(0.5), Some(1.0), Some(0.5), None), Some(66.7));
        assert_eq!(weighted(&w, None, None, None, None), None);
        assert!(Weights { satisfaction: 0.0, speed: 0.0, resolution: 0.0, compliance: 0.0 }.problem().is_some());
        assert!(Weights { satisfaction: -1.0, ..w }.problem().is_some());
    }

    fn ticket(agent: &str, id: &str, wait_ms: Option<i64>, resolved: bool) -> TicketFact {
        TicketFact {
            agent: agent.into(),
            ticket_id: id.into(),
            created_at: 0,
            due_at: 60_000,
            first_reply_at: wait_ms,
            resolved,
            settled_late: id == "late",
        }
    }

    #[test]
    fn rows_per_agent_and_for_the_team_by_hand() {
        let facts = ScoreFacts {
            tickets: vec![
                ticket("alice", "t1", Some(30_000), true),
                ticket("alice", "t2", Some(90_000), false),
                ticket("bob", "t2", Some(45_000), false),
            ],
            ratings: vec![
                RatingFact { agent: Some("alice".into()), rating: 5 },
                RatingFact { agent: Some("alice".into()), rating: 2 },
                RatingFact { agent: None, rating: 4 },
            ],
            inspections: vec![InspectionFact { agent: Some("bob".into()), passed: false }, InspectionFact { agent: None, passed: true }],
            drafts: vec![
                DraftFact { agent: "alice".into(), outcome: "accepted".into() },
                DraftFact { agent: "alice".into(), outcome: "edited".into() },
            ],
            bot_latencies_ms: vec![5, 7, 9],
            bot_answers: 2,
            helpful: 1,
            not_helpful: 1,
        };
        let card = scorecard(&facts, Weights::default());
        let alice = &card.agents[0];
        assert_eq!((alice.agent.as_str(), alice.tickets, alice.resolved, alice.sla_breaches), ("alice", 2, 1, 1));
        assert_eq!((alice.csat, alice.speed, alice.resolution_rate, alice.compliance), (Some(0.5), Some(0.5), Some(0.5), None));
        // (40×0.5 + 30×0.5 + 20×0.5) / 90 = 50.
        assert_eq!(alice.score, Some(50.0));
        assert_eq!(alice.draft_acceptance, Some(0.5));
        assert_eq!(alice.first_response_ms, P50P90 { p50: Some(30_000), p90: Some(90_000) });
        let bob = &card.agents[1];
        // No rating yet: (30×1 + 20×0 + 10×0) / 60 = 50.
        assert_eq!((bob.speed, bob.resolution_rate, bob.compliance, bob.score), (Some(1.0), Some(0.0), Some(0.0), Some(50.0)));
        // The team: t1 (30 s, resolved) and t2 once (earliest reply 45 s, by bob; open).
        let team = &card.team;
        assert_eq!((team.tickets, team.resolved, team.sla_breaches), (2, 1, 0));
        assert_eq!((team.csat, team.speed, team.compliance), (Some(0.5), Some(1.0), Some(0.0)));
        assert_eq!(team.score, Some(60.0)); // 40×0.5 + 30×1 + 20×0.5 + 10×0 = 60.
        assert_eq!((card.bot.answers, card.bot.compliance, card.bot.first_response_ms.p50), (2, Some(1.0), Some(7)));
    }

    #[test]
    fn complaints_settled_late_count_once_per_ticket_on_the_second_clock() {
        let facts = ScoreFacts {
            tickets: vec![ticket("alice", "late", Some(30_000), true), ticket("bob", "late", None, true), ticket("bob", "t3", None, true)],
            ..ScoreFacts::default()
        };
        let card = scorecard(&facts, Weights::default());
        assert_eq!((card.agents[0].resolution_breaches, card.agents[1].resolution_breaches), (1, 1));
        assert_eq!(card.team.resolution_breaches, 1, "one ticket, however many agents touched it");
        assert_eq!(card.team.sla_breaches, 0, "the first response was in time: the clocks are apart");
    }

    #[test]
    fn a_week_starts_on_monday_in_the_shops_time_zone() {
        let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let (start, from, to) = period_bounds(Period::Week, jiff::civil::date(2026, 12, 2), &tz).unwrap();
        assert_eq!(start, jiff::civil::date(2026, 11, 30));
        assert_eq!(jiff::Timestamp::from_millisecond(from).unwrap().to_string(), "2026-11-29T16:00:00Z");
        assert_eq!(to - from, 7 * 86_400_000);
        let (_, from, to) = period_bounds(Period::Day, jiff::civil::date(2026, 12, 2), &tz).unwrap();
        assert_eq!(to - from, 86_400_000);
    }
}
