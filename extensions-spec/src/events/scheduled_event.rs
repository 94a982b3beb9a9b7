//! `nexus.scheduled_event` and its RSVPs.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{RuleViolation, ValidationError};
use crate::events::{EventContent, StateKey};
use crate::ids;

/// Longest event name.
pub const MAX_NAME_LEN: usize = 100;
/// Longest description.
pub const MAX_DESCRIPTION_LEN: usize = 1000;
/// Longest external location.
pub const MAX_LOCATION_LEN: usize = 100;

/// Content of `nexus.scheduled_event` in the space; the state key is the
/// event's opaque ID. RSVPs are separate message events (see [`RsvpContent`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledEventContent {
    /// Title.
    pub name: String,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who created it (may edit it with CREATE_EVENTS alone).
    pub creator: String,
    /// Start, ms since the Unix epoch.
    pub start: u64,
    /// End, ms since the Unix epoch; required for external events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u64>,
    /// An external place (exclusive with `channel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// A voice or stage channel's room ID (exclusive with `location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Lifecycle state.
    pub status: EventStatus,
    /// Cover image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Repetition, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Recurrence>,
}

/// Discord's scheduled event statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Not started yet.
    Scheduled,
    /// Running.
    Active,
    /// Finished.
    Completed,
    /// Called off.
    Cancelled,
}

impl EventStatus {
    fn name(self) -> &'static str {
        match self {
            EventStatus::Scheduled => "scheduled",
            EventStatus::Active => "active",
            EventStatus::Completed => "completed",
            EventStatus::Cancelled => "cancelled",
        }
    }

    /// Discord's lifecycle: scheduled → active → completed, or scheduled →
    /// cancelled; completed and cancelled are final. Staying put is allowed
    /// so that other fields can be edited.
    pub fn check_transition(self, to: EventStatus) -> Result<(), RuleViolation> {
        use EventStatus::*;
        let ok = self == to || matches!((self, to), (Scheduled, Active) | (Scheduled, Cancelled) | (Active, Completed));
        if ok { Ok(()) } else { Err(RuleViolation::InvalidTransition { from: self.name(), to: to.name() }) }
    }
}

/// A subset of Discord's recurrence rule (itself a subset of iCalendar RRULE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    /// How often.
    pub frequency: Frequency,
    /// Every `interval` periods.
    #[serde(default = "one")]
    pub interval: u32,
    /// Days of the week, 0 = Monday … 6 = Sunday (Discord's numbering).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_weekday: Vec<u8>,
    /// Stop after this many occurrences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Stop at this time (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
}

fn one() -> u32 {
    1
}

/// Recurrence frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// Every day, or on the listed weekdays.
    Daily,
    /// Every week or every other week on one weekday.
    Weekly,
    /// Every month.
    Monthly,
    /// Every year.
    Yearly,
}

impl Recurrence {
    fn validate(&self, start: u64) -> Result<(), ValidationError> {
        // Discord only offers these: daily, weekly or fortnightly, monthly, yearly.
        let max_interval = if self.frequency == Frequency::Weekly { 2 } else { 1 };
        if self.interval == 0 || self.interval > max_interval {
            return Err(ValidationError::OutOfRange {
                field: "recurrence.interval",
                value: self.interval.into(),
                min: 1,
                max: max_interval.into(),
            });
        }
        for day in &self.by_weekday {
            if *day > 6 {
                return Err(ValidationError::OutOfRange {
                    field: "recurrence.by_weekday[]",
                    value: (*day).into(),
                    min: 0,
                    max: 6,
                });
            }
        }
        let days: BTreeSet<u8> = self.by_weekday.iter().copied().collect();
        if days.len() != self.by_weekday.len() {
            return Err(ValidationError::Duplicate { field: "recurrence.by_weekday", value: "weekday".into() });
        }
        match self.frequency {
            Frequency::Weekly if self.by_weekday.len() > 1 => {
                return Err(ValidationError::TooMany {
                    field: "recurrence.by_weekday",
                    len: self.by_weekday.len(),
                    max: 1,
                });
            }
            Frequency::Monthly | Frequency::Yearly if !self.by_weekday.is_empty() => {
                return Err(ValidationError::NotApplicable {
                    field: "recurrence.by_weekday",
                    only: "with daily or weekly recurrence",
                });
            }
            _ => {}
        }
        if self.count.is_some() && self.until.is_some() {
            return Err(ValidationError::Conflict { first: "recurrence.count", second: "recurrence.until" });
        }
        if self.count == Some(0) {
            return Err(ValidationError::OutOfRange {
                field: "recurrence.count",
                value: 0,
                min: 1,
                max: u32::MAX.into(),
            });
        }
        if let Some(until) = self.until.filter(|u| *u <= start) {
            return Err(ValidationError::EndNotAfterStart { start, end: until });
        }
        Ok(())
    }
}

impl EventContent for ScheduledEventContent {
    const EVENT_TYPE: &'static str = super::SCHEDULED_EVENT;
    const STATE_KEY: StateKey = StateKey::OpaqueId;

    fn validate(&self) -> Result<(), ValidationError> {
        ids::check_len("name", &self.name, 1, MAX_NAME_LEN)?;
        if let Some(description) = &self.description {
            ids::check_len("description", description, 0, MAX_DESCRIPTION_LEN)?;
        }
        ids::check_user_id("creator", &self.creator)?;
        match (&self.location, &self.channel) {
            (Some(_), Some(_)) => {
                return Err(ValidationError::Conflict { first: "location", second: "channel" });
            }
            (None, None) => {
                return Err(ValidationError::Required { field: "location", when: "unless `channel` is set" });
            }
            (Some(location), None) => {
                ids::check_len("location", location, 1, MAX_LOCATION_LEN)?;
                if self.end.is_none() {
                    return Err(ValidationError::Required {
                        field: "end",
                        when: "for events with an external `location`",
                    });
                }
            }
            (None, Some(channel)) => ids::check_room_id("channel", channel)?,
        }
        if let Some(end) = self.end.filter(|end| *end <= self.start) {
            return Err(ValidationError::EndNotAfterStart { start: self.start, end });
        }
        if let Some(image) = &self.image {
            ids::check_mxc("image", image)?;
        }
        if let Some(recurrence) = &self.recurrence {
            recurrence.validate(self.start)?;
        }
        Ok(())
    }
}

const DAY_MS: u64 = 86_400_000;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian, UTC).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
fn weekday(days: i64) -> u8 {
    (days + 3).rem_euclid(7) as u8
}

impl Recurrence {
    /// The start of the occurrence after the one starting at `start` (UTC
    /// calendar), or `None` when the rule ends there. `count` counts the
    /// occurrences still to come, this one included (see
    /// [`ScheduledEventContent::next_occurrence`]).
    pub fn next_start(&self, start: u64) -> Option<u64> {
        if self.count.is_some_and(|c| c <= 1) {
            return None;
        }
        let days = (start / DAY_MS) as i64;
        let time_of_day = start % DAY_MS;
        let interval = i64::from(self.interval.max(1));
        let next_day = match self.frequency {
            Frequency::Daily if self.by_weekday.is_empty() => days + interval,
            Frequency::Daily => (1..=7).map(|d| days + d).find(|d| self.by_weekday.contains(&weekday(*d)))?,
            Frequency::Weekly => days + 7 * interval,
            Frequency::Monthly | Frequency::Yearly => {
                let (year, month, day) = civil_from_days(days);
                // The same day of a later month (or year); months without it
                // are skipped, as iCalendar does.
                (1..=48).find_map(|step| {
                    let (y, m) = if self.frequency == Frequency::Monthly {
                        let index = year * 12 + i64::from(month) - 1 + step * interval;
                        (index.div_euclid(12), (index.rem_euclid(12) + 1) as u32)
                    } else {
                        (year + step * interval, month)
                    };
                    let candidate = days_from_civil(y, m, day);
                    (civil_from_days(candidate) == (y, m, day)).then_some(candidate)
                })?
            }
        };
        let next = u64::try_from(next_day).ok()? * DAY_MS + time_of_day;
        if self.until.is_some_and(|until| next > until) {
            return None;
        }
        Some(next)
    }
}

impl ScheduledEventContent {
    /// The event moved on to its next occurrence once the current one has
    /// ended: `start` (and `end`, by the same amount) advanced, status
    /// `scheduled` again, `recurrence.count` one less. `None` when the event
    /// does not recur or its rule ends here (it then completes).
    pub fn next_occurrence(&self) -> Option<ScheduledEventContent> {
        let recurrence = self.recurrence.as_ref()?;
        let start = recurrence.next_start(self.start)?;
        let shift = start - self.start;
        let mut next = self.clone();
        next.start = start;
        next.end = self.end.map(|end| end + shift);
        next.status = EventStatus::Scheduled;
        if let Some(rule) = next.recurrence.as_mut() {
            rule.count = rule.count.map(|c| c - 1);
        }
        Some(next)
    }

    /// Whether `new` is this event moved on to a later occurrence (the one
    /// change that takes an active event back to `scheduled`).
    pub fn is_moved_on_by(&self, new: &ScheduledEventContent) -> bool {
        self.recurrence.is_some()
            && self.status == EventStatus::Active
            && new.status == EventStatus::Scheduled
            && new.start > self.start
    }
}

/// Content of `nexus.scheduled_event.rsvp`, a message event in the space.
///
/// A message event rather than a field of the state event: writing state
/// needs a power level every member would have to hold, and then anyone could
/// overwrite anyone's answer. A message event is bound to its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsvpContent {
    /// State key of the `nexus.scheduled_event`.
    pub scheduled_event: String,
    /// Interested (Discord's only RSVP) or withdrawn.
    pub interested: bool,
}

impl EventContent for RsvpContent {
    const EVENT_TYPE: &'static str = super::SCHEDULED_EVENT_RSVP;
    const STATE_KEY: StateKey = StateKey::None;

    fn validate(&self) -> Result<(), ValidationError> {
        ids::check_opaque_id("scheduled_event", &self.scheduled_event)
    }
}

/// One RSVP as the tally sees it.
#[derive(Debug, Clone, Copy)]
pub struct Rsvp<'a> {
    /// Who answered.
    pub sender: &'a str,
    /// Breaks timestamp ties deterministically.
    pub event_id: &'a str,
    /// When.
    pub origin_server_ts: u64,
    /// The answer.
    pub interested: bool,
}

/// Who is interested: each member's latest RSVP (by timestamp, then event
/// ID) for the event decides, as with poll votes.
pub fn interested_members<'a>(rsvps: impl IntoIterator<Item = Rsvp<'a>>) -> BTreeSet<String> {
    let mut latest: BTreeMap<&str, Rsvp<'a>> = BTreeMap::new();
    for rsvp in rsvps {
        let newer = latest
            .get(rsvp.sender)
            .is_none_or(|seen| (rsvp.origin_server_ts, rsvp.event_id) > (seen.origin_server_ts, seen.event_id));
        if newer {
            latest.insert(rsvp.sender, rsvp);
        }
    }
    latest.into_values().filter(|r| r.interested).map(|r| r.sender.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meetup() -> ScheduledEventContent {
        serde_json::from_value(json!({
            "name": "Community call",
            "creator": "@alice:example.org",
            "start": 1_000,
            "end": 2_000,
            "channel": "!voice:example.org",
            "status": "scheduled"
        }))
        .unwrap()
    }

    #[test]
    fn a_voice_event_is_valid() {
        assert!(meetup().validate().is_ok());
    }

    #[test]
    fn location_and_channel_are_exclusive_and_one_is_required() {
        let mut e = meetup();
        e.location = Some("Town hall".into());
        assert!(matches!(e.validate(), Err(ValidationError::Conflict { .. })));
        e.channel = None;
        assert!(e.validate().is_ok());
        e.location = None;
        assert!(matches!(e.validate(), Err(ValidationError::Required { field: "location", .. })));
    }

    #[test]
    fn external_events_need_an_end() {
        let mut e = meetup();
        e.channel = None;
        e.location = Some("Town hall".into());
        e.end = None;
        assert!(matches!(e.validate(), Err(ValidationError::Required { field: "end", .. })));
    }

    #[test]
    fn end_must_follow_start() {
        let mut e = meetup();
        e.end = Some(1_000);
        assert!(matches!(e.validate(), Err(ValidationError::EndNotAfterStart { .. })));
    }

    fn recurring(frequency: &str, extra: serde_json::Value) -> Recurrence {
        let mut rule = json!({ "frequency": frequency });
        rule.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(rule).unwrap()
    }

    #[test]
    fn occurrences_follow_the_rule() {
        // Friday 2026-01-02 10:00 UTC.
        let start = 1_767_348_000_000;
        assert_eq!(weekday((start / DAY_MS) as i64), 4);
        let daily = recurring("daily", json!({}));
        assert_eq!(daily.next_start(start), Some(start + DAY_MS));
        let weekdays = recurring("daily", json!({ "by_weekday": [0, 4] }));
        assert_eq!(weekdays.next_start(start), Some(start + 3 * DAY_MS), "Friday, then Monday");
        let fortnightly = recurring("weekly", json!({ "interval": 2, "by_weekday": [4] }));
        assert_eq!(fortnightly.next_start(start), Some(start + 14 * DAY_MS));
        let monthly = recurring("monthly", json!({}));
        assert_eq!(monthly.next_start(start), Some(start + 31 * DAY_MS), "2026-02-02");
        // 2026-01-31 skips February.
        let end_of_month = start + 29 * DAY_MS;
        assert_eq!(monthly.next_start(end_of_month), Some(end_of_month + (28 + 31) * DAY_MS), "2026-03-31");
        let yearly = recurring("yearly", json!({}));
        assert_eq!(yearly.next_start(start), Some(start + 365 * DAY_MS));
        assert_eq!(recurring("daily", json!({ "count": 1 })).next_start(start), None);
        assert_eq!(recurring("daily", json!({ "until": start + DAY_MS / 2 })).next_start(start), None);
    }

    #[test]
    fn the_next_occurrence_is_scheduled_again_with_one_fewer_to_go() {
        let mut event = meetup();
        event.status = EventStatus::Active;
        event.recurrence = Some(recurring("daily", json!({ "count": 2 })));
        let next = event.next_occurrence().expect("a second occurrence");
        assert_eq!((next.start, next.end, next.status), (1_000 + DAY_MS, Some(2_000 + DAY_MS), EventStatus::Scheduled));
        assert!(event.is_moved_on_by(&next));
        assert_eq!(next.recurrence.as_ref().unwrap().count, Some(1));
        assert!(next.next_occurrence().is_none(), "the last occurrence completes");
    }

    #[test]
    fn status_lifecycle() {
        use EventStatus::*;
        assert!(Scheduled.check_transition(Active).is_ok());
        assert!(Scheduled.check_transition(Cancelled).is_ok());
        assert!(Active.check_transition(Completed).is_ok());
        assert!(Active.check_transition(Active).is_ok());
        assert!(Active.check_transition(Scheduled).is_err());
        assert!(Completed.check_transition(Active).is_err());
        assert!(Cancelled.check_transition(Scheduled).is_err());
        assert!(Scheduled.check_transition(Completed).is_err());
    }

    #[test]
    fn recurrence_follows_discords_options() {
        let mut e = meetup();
        e.recurrence = Some(Recurrence {
            frequency: Frequency::Weekly,
            interval: 2,
            by_weekday: vec![3],
            count: None,
            until: None,
        });
        assert!(e.validate().is_ok());
        let r = e.recurrence.as_mut().unwrap();
        r.by_weekday = vec![1, 3];
        assert!(matches!(e.validate(), Err(ValidationError::TooMany { .. })));
        let r = e.recurrence.as_mut().unwrap();
        r.by_weekday = vec![3];
        r.frequency = Frequency::Monthly;
        assert!(e.validate().is_err());
        let r = e.recurrence.as_mut().unwrap();
        r.by_weekday.clear();
        r.interval = 2;
        assert!(matches!(e.validate(), Err(ValidationError::OutOfRange { .. })));
        let r = e.recurrence.as_mut().unwrap();
        r.interval = 1;
        r.count = Some(3);
        r.until = Some(10_000);
        assert!(matches!(e.validate(), Err(ValidationError::Conflict { .. })));
    }

    #[test]
    fn weekdays_run_monday_to_sunday() {
        let mut e = meetup();
        e.recurrence = Some(Recurrence {
            frequency: Frequency::Daily,
            interval: 1,
            by_weekday: vec![0, 1, 2, 3, 4],
            count: None,
            until: None,
        });
        assert!(e.validate().is_ok());
        e.recurrence.as_mut().unwrap().by_weekday = vec![7];
        assert!(e.validate().is_err());
    }

    #[test]
    fn latest_rsvp_per_member_decides() {
        let rsvps = [
            Rsvp { sender: "@a:x", event_id: "$1", origin_server_ts: 1, interested: true },
            Rsvp { sender: "@a:x", event_id: "$2", origin_server_ts: 2, interested: false },
            Rsvp { sender: "@b:x", event_id: "$3", origin_server_ts: 1, interested: true },
        ];
        assert_eq!(interested_members(rsvps), BTreeSet::from(["@b:x".to_owned()]));
    }
}
