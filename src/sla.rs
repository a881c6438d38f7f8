//! SLA clocks: when a ticket is due. An escalated message is acknowledged at once (the bot);
//! a human first answers within the shop's first-response promise (urgent tickets within
//! 15 min), complaints included; complaints are also settled within the shop's complaint
//! window (24 h), a second clock. Outside agent hours, a
//! first-response deadline moves to the next opening plus 30 minutes (the policy's "answered
//! by 09:30 the next morning"). Pure functions of time.

use crate::domain::{EscalationReason, Priority};
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

/// Grace after opening for messages that arrived while agents were away.
const AFTER_OPENING_MINUTES: i64 = 30;
/// First-response promise for urgent tickets, capped by the shop's own promise.
const URGENT_MINUTES: i64 = 15;

/// Daily agent hours in a time zone.
#[derive(Debug, Clone)]
pub(crate) struct AgentHours {
    open: Time,
    close: Time,
    tz: TimeZone,
    /// `00:00-24:00`: agents around the clock, so a deadline never waits for an opening.
    round_the_clock: bool,
}

impl AgentHours {
    /// Parses `HH:MM-HH:MM` (`00:00-24:00` for round the clock) and an IANA zone name.
    pub(crate) fn parse(hours: &str, time_zone: &str) -> Result<AgentHours, String> {
        let (open, close) = hours.split_once('-').ok_or_else(|| format!("{hours:?}: expected HH:MM-HH:MM"))?;
        let tz = TimeZone::get(time_zone).map_err(|e| format!("{time_zone:?}: {e}"))?;
        if close.trim() == "24:00" {
            if open.trim() != "00:00" {
                return Err(format!("{hours:?}: 24:00 only closes a round-the-clock day, 00:00-24:00"));
            }
            return Ok(AgentHours { open: Time::midnight(), close: Time::MAX, tz, round_the_clock: true });
        }
        let parse = |s: &str| -> Result<Time, String> {
            let (h, m) = s.trim().split_once(':').ok_or_else(|| format!("{s:?}: expected HH:MM"))?;
            let h: i8 = h.parse().map_err(|_| format!("{s:?}: bad hour"))?;
            let m: i8 = m.parse().map_err(|_| format!("{s:?}: bad minute"))?;
            Time::new(h, m, 0, 0).map_err(|e| format!("{s:?}: {e}"))
        };
        let (open, close) = (parse(open)?, parse(close)?);
        if open >= close {
            return Err(format!("{hours:?}: opening must be before closing"));
        }
        Ok(AgentHours { open, close, tz, round_the_clock: false })
    }

    /// Whether agents work at `t`.
    pub(crate) fn is_open(&self, t: Timestamp) -> bool {
        if self.round_the_clock {
            return true;
        }
        let local = t.to_zoned(self.tz.clone()).time();
        local >= self.open && local < self.close
    }

    /// The next opening at or after `t` (today's if it has not happened yet).
    pub(crate) fn next_opening(&self, t: Timestamp) -> Timestamp {
        let zoned = t.to_zoned(self.tz.clone());
        let today = zoned.date().to_datetime(self.open);
        let candidate = if zoned.time() < self.open { today } else { today.checked_add(1.day()).unwrap_or(today) };
        candidate.to_zoned(self.tz.clone()).map(|z| z.timestamp()).unwrap_or(t)
    }

    /// Today's closing time for `t` (in its local day).
    fn closing(&self, t: Timestamp) -> Timestamp {
        let zoned = t.to_zoned(self.tz.clone());
        zoned.date().to_datetime(self.close).to_zoned(self.tz.clone()).map(|z| z.timestamp()).unwrap_or(t)
    }
}

/// The shop's promises.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Promises {
    /// First human answer, minutes.
    pub first_response_minutes: u32,
    /// Complaint settled, hours.
    pub complaint_hours: u32,
}

/// When a ticket opened at `created` for `reason` must be settled: complaints within the
/// shop's complaint window (a day, around the clock); no other ticket carries this promise.
/// The first human response has its own, shorter clock ([`response_due`]).
pub(crate) fn resolution_due(created: Timestamp, reason: EscalationReason, promises: Promises) -> Option<Timestamp> {
    (reason == EscalationReason::Complaint).then(|| created + SignedDuration::from_hours(i64::from(promises.complaint_hours)))
}

/// When a person must first answer a message of `priority` that arrived at `created`: the
/// shop's first-response promise (urgent: 15 minutes at most), moved to the next opening
/// outside agent hours. A later, more urgent message of a ticket pulls its deadline in to this.
pub(crate) fn response_due(created: Timestamp, priority: Priority, hours: &AgentHours, promises: Promises) -> Timestamp {
    let minutes = match priority {
        Priority::Urgent => URGENT_MINUTES.min(i64::from(promises.first_response_minutes)),
        _ => i64::from(promises.first_response_minutes),
    };
    let due = created + SignedDuration::from_mins(minutes);
    if hours.round_the_clock || (hours.is_open(created) && due <= hours.closing(created)) {
        due
    } else {
        hours.next_opening(created) + SignedDuration::from_mins(AFTER_OPENING_MINUTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> AgentHours {
        AgentHours::parse("09:00-23:00", "Asia/Shanghai").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const PROMISES: Promises = Promises { first_response_minutes: 30, complaint_hours: 24 };

    #[test]
    fn round_the_clock_a_deadline_crosses_midnight_and_24_00_closes_only_such_a_day() {
        let always = AgentHours::parse("00:00-24:00", "Asia/Shanghai").unwrap();
        // 23:50 in Shanghai is 15:50 UTC.
        let due = response_due(at("2026-11-23T15:50:00Z"), Priority::Normal, &always, PROMISES);
        assert_eq!(due, at("2026-11-23T16:20:00Z"));
        assert!(always.is_open(at("2026-11-23T15:59:30Z")));
        assert!(AgentHours::parse("09:00-24:00", "Asia/Shanghai").is_err());
    }

    #[test]
    fn during_hours_the_first_response_is_due_within_the_promise() {
        // 10:00 in Shanghai is 02:00 UTC.
        let due = response_due(at("2026-11-23T02:00:00Z"), Priority::Normal, &shanghai(), PROMISES);
        assert_eq!(due, at("2026-11-23T02:30:00Z"));
    }

    #[test]
    fn urgent_tickets_are_due_sooner() {
        let due = response_due(at("2026-11-23T02:00:00Z"), Priority::Urgent, &shanghai(), PROMISES);
        assert_eq!(due, at("2026-11-23T02:15:00Z"));
    }

    #[test]
    fn at_night_the_deadline_is_half_an_hour_after_opening() {
        // 02:00 Shanghai (18:00 UTC the day before) → 09:30 Shanghai = 01:30 UTC.
        let due = response_due(at("2026-11-22T18:00:00Z"), Priority::Normal, &shanghai(), PROMISES);
        assert_eq!(due, at("2026-11-23T01:30:00Z"));
        // 23:50 Shanghai → next morning 09:30.
        let due = response_due(at("2026-11-23T15:50:00Z"), Priority::High, &shanghai(), PROMISES);
        assert_eq!(due, at("2026-11-24T01:30:00Z"));
    }

    #[test]
    fn complaints_are_settled_within_a_day_and_only_they_have_that_clock() {
        let due = resolution_due(at("2026-11-23T18:00:00Z"), EscalationReason::Complaint, PROMISES);
        assert_eq!(due, Some(at("2026-11-24T18:00:00Z")));
        assert_eq!(resolution_due(at("2026-11-23T18:00:00Z"), EscalationReason::NegativeSentiment, PROMISES), None);
    }

    #[test]
    fn bad_hours_are_refused() {
        assert!(AgentHours::parse("23:00-09:00", "Asia/Shanghai").is_err());
        assert!(AgentHours::parse("9-5", "Asia/Shanghai").is_err());
        assert!(AgentHours::parse("09:00-17:00", "Mars/Olympus").is_err());
    }
}
