//! MSC3381 polls, tallied as they are persisted (extensions-spec §11.2):
//! a running tally per poll, and every vote keyed by voter and time, so a
//! vote, a redacted vote or a late vote costs a few point reads and one
//! short scan whatever the poll's size. Closing a poll recounts it once.
//! Polls are plain Matrix (any room), stable (`m.poll.*`) or unstable
//! (`org.matrix.msc3381.poll.*`) names alike. The rules are the ones
//! `nexus_extensions::events::poll::tally` states for a whole poll at once;
//! the tests hold the two to the same answers.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use nexus_storage::catalog::{POLL_ENDS, POLL_VOTES, POLLS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::{EventId, OwnedEventId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Result;
use crate::values::{corrupt, decode, encode};

pub const START_TYPES: [&str; 2] = ["org.matrix.msc3381.poll.start", "m.poll.start"];
pub const RESPONSE_TYPES: [&str; 2] = ["org.matrix.msc3381.poll.response", "m.poll.response"];
pub const END_TYPES: [&str; 2] = ["org.matrix.msc3381.poll.end", "m.poll.end"];
const DISCLOSED_KINDS: [&str; 3] = ["org.matrix.msc3381.poll.disclosed", "m.disclosed", "m.poll.disclosed"];
/// Where clients find the tally (§11.2).
pub const UNSIGNED_KEY: &str = "nexus.poll.tally";

/// A poll and its running tally.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Poll {
    pub creator: String,
    pub answers: Vec<String>,
    pub max_selections: u64,
    pub disclosed: bool,
    /// Votes per answer, every answer present.
    pub counts: BTreeMap<String, u64>,
    /// Voters whose counted vote chose at least one answer.
    pub voters: u64,
    /// The end event that closed it: `(origin_server_ts, event id)`.
    #[serde(default)]
    pub closed: Option<(u64, OwnedEventId)>,
}

/// One response as stored; `None` when its content names no list of
/// answers (it still replaces the voter's earlier vote, and is spoiled).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Vote {
    answers: Option<Vec<String>>,
}

/// An end event as stored: who sent it, and whether they could redact
/// others' events when they sent it (the creator may always end).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct End {
    sender: String,
    may_redact: bool,
}

/// What an event is to the tally.
pub enum PollEvent {
    Start,
    Response(OwnedEventId),
    End(OwnedEventId),
}

/// Classifies an event by type and relation; `None` for anything else.
pub fn poll_event(kind: &str, content: &Value) -> Option<PollEvent> {
    if START_TYPES.contains(&kind) {
        return Some(PollEvent::Start);
    }
    let (rel_type, parent) = super::relations::relation_of(content)?;
    if rel_type != super::relations::REFERENCE {
        return None;
    }
    if RESPONSE_TYPES.contains(&kind) {
        Some(PollEvent::Response(parent))
    } else if END_TYPES.contains(&kind) {
        Some(PollEvent::End(parent))
    } else {
        None
    }
}

/// The poll a start event's content describes (lenient: polls from other
/// clients are tallied whatever their limits). `None` when there are no
/// answers to count.
fn parse_start(creator: &str, content: &Value) -> Option<Poll> {
    let (block, id_field) = match (content.get(START_TYPES[0]), content.get("m.poll")) {
        (Some(block), _) => (block, "id"),
        (None, Some(block)) => (block, "m.id"),
        _ => return None,
    };
    let mut answers: Vec<String> = Vec::new();
    for answer in block.get("answers")?.as_array()? {
        if let Some(id) = answer.get(id_field).and_then(Value::as_str)
            && !answers.iter().any(|a| a == id)
        {
            answers.push(id.to_owned());
        }
    }
    let max_selections = block.get("max_selections").and_then(Value::as_u64).unwrap_or(1).max(1);
    let disclosed = block.get("kind").and_then(Value::as_str).is_some_and(|k| DISCLOSED_KINDS.contains(&k));
    let counts = answers.iter().map(|a| (a.clone(), 0)).collect();
    Some(Poll { creator: creator.to_owned(), answers, max_selections, disclosed, counts, voters: 0, closed: None })
}

fn parse_selections(content: &Value) -> Option<Vec<String>> {
    let list = content
        .get(RESPONSE_TYPES[0])
        .and_then(|r| r.get("answers"))
        .or_else(|| content.get("m.selections"))?
        .as_array()?;
    list.iter().map(|a| a.as_str().map(str::to_owned)).collect()
}

impl Poll {
    /// The answers a vote counts for (§11.2 rule 4): truncated to
    /// `max_selections`, spoiled (none) by an unknown entry, duplicates
    /// once, empty withdraws.
    fn counted(&self, vote: &Vote) -> Vec<String> {
        let Some(answers) = &vote.answers else { return Vec::new() };
        let limit = usize::try_from(self.max_selections).unwrap_or(usize::MAX);
        let truncated = &answers[..answers.len().min(limit)];
        if truncated.iter().any(|a| !self.answers.contains(a)) {
            return Vec::new();
        }
        let mut chosen: Vec<String> = Vec::new();
        for answer in truncated {
            if !chosen.contains(answer) {
                chosen.push(answer.clone());
            }
        }
        chosen
    }

    fn add(&mut self, vote: &Vote, sign: i64) {
        let chosen = self.counted(vote);
        if chosen.is_empty() {
            return;
        }
        self.voters = self.voters.saturating_add_signed(sign);
        for answer in chosen {
            let count = self.counts.entry(answer).or_default();
            *count = count.saturating_add_signed(sign);
        }
    }

    /// Votes sent after this time are ignored (§11.2 rule 2).
    fn deadline(&self) -> u64 {
        self.closed.as_ref().map_or(u64::MAX, |(ts, _)| *ts)
    }

    /// What clients see: counts withheld while an undisclosed poll is open.
    pub fn for_client(&self) -> Value {
        let closed_by = self.closed.as_ref().map(|(_, id)| id.as_str());
        let mut tally = json!({ "voters": self.voters, "closed_by": closed_by });
        if self.disclosed || self.closed.is_some() {
            tally["counts"] = json!(self.counts);
        }
        tally
    }
}

fn poll_key(room_id: &RoomId, poll: &EventId) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(poll.as_str()).build()
}

fn voter_prefix(room_id: &RoomId, poll: &EventId, voter: &str) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(poll.as_str()).str(voter).build()
}

fn vote_key(room_id: &RoomId, poll: &EventId, voter: &str, ts: u64, event_id: &EventId) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(poll.as_str()).str(voter).u64(ts).str(event_id.as_str()).build()
}

fn end_key(room_id: &RoomId, poll: &EventId, ts: u64, event_id: &EventId) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(poll.as_str()).u64(ts).str(event_id.as_str()).build()
}

/// A response or end event as the tally needs it.
pub struct Related<'a> {
    pub room_id: &'a RoomId,
    pub poll: &'a EventId,
    pub event_id: &'a EventId,
    pub sender: &'a UserId,
    pub origin_server_ts: u64,
}

pub struct Polls {
    store: Arc<dyn Store>,
}

impl Polls {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Polls { store }
    }

    /// The poll a start event opened, with its tally: one point read.
    pub async fn get(&self, room_id: &RoomId, poll: &EventId) -> Result<Option<Poll>> {
        let bytes = self.store.get(&POLLS, &poll_key(room_id, poll)).await?;
        bytes.map(|b| decode(&POLLS, &b)).transpose()
    }

    /// A start event: the poll opens, counting any votes and ends that
    /// arrived before it (possible over federation).
    pub async fn start(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        event_id: &EventId,
        sender: &UserId,
        content: &Value,
    ) -> Result<()> {
        let Some(mut poll) = parse_start(sender.as_str(), content) else { return Ok(()) };
        self.recount(&mut poll, room_id, event_id, None, None).await?;
        batch.put(&POLLS, poll_key(room_id, event_id), encode(&poll));
        Ok(())
    }

    /// The start was redacted: its tally goes (votes and ends stay, unread).
    pub fn forget(&self, batch: &mut WriteBatch, room_id: &RoomId, poll: &EventId) {
        batch.delete(&POLLS, poll_key(room_id, poll));
    }

    /// A response (§11.2 rule 3): it counts if it is the voter's latest
    /// before the deadline, replacing their previous vote.
    pub async fn respond(&self, batch: &mut WriteBatch, vote: &Related<'_>, content: &Value) -> Result<()> {
        let new = Vote { answers: parse_selections(content) };
        let voter = vote.sender.as_str();
        let key = vote_key(vote.room_id, vote.poll, voter, vote.origin_server_ts, vote.event_id);
        batch.put(&POLL_VOTES, key.clone(), encode(&new));
        let Some(mut poll) = self.get(vote.room_id, vote.poll).await? else { return Ok(()) };
        if vote.origin_server_ts > poll.deadline() {
            return Ok(());
        }
        let previous = self.effective_votes(vote.room_id, vote.poll, voter, poll.deadline(), 1).await?;
        if let Some((previous_key, previous)) = previous.first() {
            if *previous_key > key {
                return Ok(());
            }
            poll.add(previous, -1);
        }
        poll.add(&new, 1);
        batch.put(&POLLS, poll_key(vote.room_id, vote.poll), encode(&poll));
        Ok(())
    }

    /// An end event (§11.2 rule 1): kept if its sender is the creator or
    /// `may_redact`; the earliest kept one closes the poll.
    pub async fn end(&self, batch: &mut WriteBatch, end: &Related<'_>, may_redact: bool) -> Result<()> {
        let record = End { sender: end.sender.to_string(), may_redact };
        batch.put(&POLL_ENDS, end_key(end.room_id, end.poll, end.origin_server_ts, end.event_id), encode(&record));
        let Some(mut poll) = self.get(end.room_id, end.poll).await? else { return Ok(()) };
        if !(may_redact || record.sender == poll.creator) {
            return Ok(());
        }
        let candidate = (end.origin_server_ts, end.event_id.to_owned());
        if poll.closed.as_ref().is_some_and(|closed| *closed <= candidate) {
            return Ok(());
        }
        self.recount(&mut poll, end.room_id, end.poll, None, Some(candidate)).await?;
        batch.put(&POLLS, poll_key(end.room_id, end.poll), encode(&poll));
        Ok(())
    }

    /// A response was redacted: if it was the voter's counted vote, their
    /// previous one counts again (§11.2 rule 3).
    pub async fn unrespond(&self, batch: &mut WriteBatch, vote: &Related<'_>) -> Result<()> {
        let voter = vote.sender.as_str();
        let key = vote_key(vote.room_id, vote.poll, voter, vote.origin_server_ts, vote.event_id);
        batch.delete(&POLL_VOTES, key.clone());
        let Some(mut poll) = self.get(vote.room_id, vote.poll).await? else { return Ok(()) };
        let effective = self.effective_votes(vote.room_id, vote.poll, voter, poll.deadline(), 2).await?;
        let Some((counted_key, counted)) = effective.first() else { return Ok(()) };
        if *counted_key != key {
            return Ok(());
        }
        poll.add(counted, -1);
        if let Some((_, previous)) = effective.get(1) {
            poll.add(previous, 1);
        }
        batch.put(&POLLS, poll_key(vote.room_id, vote.poll), encode(&poll));
        Ok(())
    }

    /// An end event was redacted: if it closed the poll, the next valid
    /// end (or none) closes it, and the poll is recounted.
    pub async fn unend(&self, batch: &mut WriteBatch, end: &Related<'_>) -> Result<()> {
        batch.delete(&POLL_ENDS, end_key(end.room_id, end.poll, end.origin_server_ts, end.event_id));
        let Some(mut poll) = self.get(end.room_id, end.poll).await? else { return Ok(()) };
        if poll.closed.as_ref().is_none_or(|(_, id)| id != end.event_id) {
            return Ok(());
        }
        self.recount(&mut poll, end.room_id, end.poll, Some(end.event_id), None).await?;
        batch.put(&POLLS, poll_key(end.room_id, end.poll), encode(&poll));
        Ok(())
    }

    /// The voter's newest votes sent by `deadline`, newest first: a scan of
    /// at most `limit` entries.
    async fn effective_votes(
        &self,
        room_id: &RoomId,
        poll: &EventId,
        voter: &str,
        deadline: u64,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vote)>> {
        let prefix = voter_prefix(room_id, poll, voter);
        let mut range = KeyRange::prefix(&prefix);
        if let Some(after) = deadline.checked_add(1) {
            range.end = Bound::Excluded([prefix.as_slice(), &after.to_be_bytes()].concat());
        }
        let entries = self.store.scan(&POLL_VOTES, range, Direction::Backward, limit).await?;
        entries.into_iter().map(|(k, v)| Ok((k, decode(&POLL_VOTES, &v)?))).collect()
    }

    /// Recounts a whole poll from its stored votes and ends, leaving out
    /// the end `skip` (being redacted) and adding the valid end `new` (being
    /// written). Only when it opens or its closing changes.
    async fn recount(
        &self,
        poll: &mut Poll,
        room_id: &RoomId,
        poll_id: &EventId,
        skip: Option<&EventId>,
        new: Option<(u64, OwnedEventId)>,
    ) -> Result<()> {
        let prefix = poll_key(room_id, poll_id);
        let ends = self.store.scan_prefix(&POLL_ENDS, &prefix, Direction::Forward, usize::MAX).await?;
        poll.closed = None;
        for (key, value) in ends {
            let mut reader = KeyReader::new(&key[prefix.len()..]);
            let ts = reader.u64().map_err(|e| corrupt(&POLL_ENDS, e))?;
            let id = reader.str().map_err(|e| corrupt(&POLL_ENDS, e))?;
            if skip.is_some_and(|s| s.as_str() == id) {
                continue;
            }
            let end: End = decode(&POLL_ENDS, &value)?;
            if end.may_redact || end.sender == poll.creator {
                poll.closed = Some((ts, OwnedEventId::try_from(id).map_err(|e| corrupt(&POLL_ENDS, e))?));
                break;
            }
        }
        if let Some(new) = new
            && poll.closed.as_ref().is_none_or(|closed| new < *closed)
        {
            poll.closed = Some(new);
        }
        let deadline = poll.deadline();
        let votes = self.store.scan_prefix(&POLL_VOTES, &prefix, Direction::Forward, usize::MAX).await?;
        // Keys sort by voter, then time and event id: the last one a voter
        // has by the deadline is their vote.
        let mut latest: BTreeMap<String, Vote> = BTreeMap::new();
        for (key, value) in votes {
            let mut reader = KeyReader::new(&key[prefix.len()..]);
            let voter = reader.str().map_err(|e| corrupt(&POLL_VOTES, e))?;
            let ts = reader.u64().map_err(|e| corrupt(&POLL_VOTES, e))?;
            if ts > deadline {
                continue;
            }
            latest.insert(voter, decode(&POLL_VOTES, &value)?);
        }
        poll.counts = poll.answers.iter().map(|a| (a.clone(), 0)).collect();
        poll.voters = 0;
        for vote in latest.values() {
            poll.add(vote, 1);
        }
        Ok(())
    }
}

impl super::Rooms {
    /// Keeps the tally of the poll an event starts, votes in or ends, in
    /// the batch that persists it (local or from another server; the room
    /// lock is held).
    pub(super) async fn tally_poll(&self, batch: &mut WriteBatch, room_id: &RoomId, pdu: &super::Pdu) -> Result<()> {
        let kind = pdu.kind.to_string();
        if !(START_TYPES.contains(&kind.as_str())
            || RESPONSE_TYPES.contains(&kind.as_str())
            || END_TYPES.contains(&kind.as_str()))
            || pdu.state_key.is_some()
        {
            return Ok(());
        }
        let content = pdu.content_json();
        let Some(event) = poll_event(&kind, &content) else { return Ok(()) };
        let related = |poll| Related {
            room_id,
            poll,
            event_id: &pdu.event_id,
            sender: &pdu.sender,
            origin_server_ts: pdu.origin_server_ts.get().into(),
        };
        match event {
            PollEvent::Start => self.polls.start(batch, room_id, &pdu.event_id, &pdu.sender, &content).await,
            PollEvent::Response(poll) => self.polls.respond(batch, &related(&poll), &content).await,
            PollEvent::End(poll) => {
                // RedactOthers at the end event (§11.2 rule 1).
                let power = self.power_levels(room_id).await?;
                let may_redact = power.user(&pdu.sender) >= power.action("redact");
                self.polls.end(batch, &related(&poll), may_redact).await
            }
        }
    }

    /// A poll event is being redacted: a response or an end no longer
    /// counts, a start takes its tally with it.
    pub(super) async fn untally_poll(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        event_id: &EventId,
        object: &ruma::CanonicalJsonObject,
    ) -> Result<()> {
        let kind = object.get("type").and_then(|v| v.as_str()).unwrap_or_default();
        if object.contains_key("state_key") {
            return Ok(());
        }
        let content = object.get("content").cloned().map(Value::from).unwrap_or_default();
        let Some(sender) = object.get("sender").and_then(|v| v.as_str()).and_then(|s| UserId::parse(s).ok()) else {
            return Ok(());
        };
        let ts = object
            .get("origin_server_ts")
            .and_then(|v| v.as_integer())
            .map_or(0, |t| u64::try_from(i64::from(t)).unwrap_or(0));
        let related = |poll| Related { room_id, poll, event_id, sender: &sender, origin_server_ts: ts };
        match poll_event(kind, &content) {
            Some(PollEvent::Response(poll)) => self.polls.unrespond(batch, &related(&poll)).await,
            Some(PollEvent::End(poll)) => self.polls.unend(batch, &related(&poll)).await,
            Some(PollEvent::Start) => {
                // A redacted poll has no question or answers left to count.
                self.polls.forget(batch, room_id, event_id);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// `unsigned["nexus.poll.tally"]` for a served event: a poll start
    /// carries its tally, and so do its responses and ends (so the next
    /// sync after a vote shows the new count). One point read.
    pub(super) async fn poll_tally_for_client(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        object: &ruma::CanonicalJsonObject,
    ) -> Result<Option<Value>> {
        let kind = object.get("type").and_then(|v| v.as_str()).unwrap_or_default();
        if object.contains_key("state_key") {
            return Ok(None);
        }
        let poll = if START_TYPES.contains(&kind) {
            event_id.to_owned()
        } else if RESPONSE_TYPES.contains(&kind) || END_TYPES.contains(&kind) {
            let content = object.get("content").cloned().map(Value::from).unwrap_or_default();
            match poll_event(kind, &content) {
                Some(PollEvent::Response(poll) | PollEvent::End(poll)) => poll,
                _ => return Ok(None),
            }
        } else {
            return Ok(None);
        };
        Ok(self.polls.get(room_id, &poll).await?.map(|p| p.for_client()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(max: u64) -> Poll {
        parse_start(
            "@alice:x",
            &json!({"org.matrix.msc3381.poll.start": {
                "question": {"org.matrix.msc1767.text": "Lunch?"},
                "kind": "org.matrix.msc3381.poll.disclosed",
                "max_selections": max,
                "answers": [{"id": "pizza"}, {"id": "ramen"}, {"id": "salad"}]
            }}),
        )
        .unwrap()
    }

    fn vote(answers: &[&str]) -> Vote {
        Vote { answers: Some(answers.iter().map(|s| (*s).to_owned()).collect()) }
    }

    #[test]
    fn selections_are_truncated_deduplicated_and_spoiled_as_the_spec_says() {
        let p = poll(2);
        assert_eq!(p.counted(&vote(&["pizza", "ramen", "salad"])), ["pizza", "ramen"]);
        assert_eq!(p.counted(&vote(&["ramen", "ramen"])), ["ramen"]);
        assert!(p.counted(&vote(&["pizza", "sushi"])).is_empty());
        assert_eq!(p.counted(&vote(&["pizza", "pizza", "sushi"])), ["pizza"]);
        assert!(p.counted(&vote(&[])).is_empty());
        assert!(p.counted(&Vote { answers: None }).is_empty());
    }

    #[test]
    fn stable_polls_parse_like_unstable_ones() {
        let stable = parse_start(
            "@alice:x",
            &json!({"m.poll": {"kind": "m.disclosed", "max_selections": 1,
                "question": {"m.text": [{"body": "?"}]},
                "answers": [{"m.id": "a", "m.text": [{"body": "A"}]}, {"m.id": "b", "m.text": [{"body": "B"}]}]}}),
        )
        .unwrap();
        assert_eq!(stable.answers, ["a", "b"]);
        assert!(stable.disclosed);
        assert_eq!(parse_selections(&json!({"m.selections": ["a"]})), Some(vec!["a".to_owned()]));
    }

    #[test]
    fn undisclosed_counts_are_withheld_until_closed() {
        let mut p = poll(1);
        p.disclosed = false;
        assert!(p.for_client().get("counts").is_none());
        p.closed = Some((1, OwnedEventId::try_from("$end").unwrap()));
        assert!(p.for_client().get("counts").is_some());
    }
    /// The incremental tally against the extensions crate's whole-poll
    /// reference, after every step of a long pseudo-random history: votes
    /// arriving out of time order, redacted votes, ends from the creator,
    /// a moderator and a stranger, redacted ends.
    #[tokio::test]
    async fn the_incremental_tally_always_equals_a_full_recount() {
        use nexus_extensions::events::poll as reference;
        use nexus_storage::backend::{Backend, StoreOptions};

        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            backend: Backend::RocksDb { path: dir.path().to_owned() },
            sync_writes: false,
            cluster: None,
        };
        let store = nexus_storage::open(&options, nexus_storage::catalog::NEXUS).await.unwrap();
        let polls = Polls::new(store.clone());
        let room = RoomId::parse("!r:x").unwrap();
        let poll_id = OwnedEventId::try_from("$poll").unwrap();
        let creator = UserId::parse("@alice:x").unwrap();
        let start_content = json!({"org.matrix.msc3381.poll.start": {
            "question": {"org.matrix.msc1767.text": "?"},
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": 2,
            "answers": [{"id": "a", "org.matrix.msc1767.text": "A"}, {"id": "b", "org.matrix.msc1767.text": "B"},
                        {"id": "c", "org.matrix.msc1767.text": "C"}]
        }});
        let start: reference::PollStart =
            serde_json::from_value(start_content["org.matrix.msc3381.poll.start"].clone()).unwrap();
        let mut batch = WriteBatch::new();
        polls.start(&mut batch, &room, &poll_id, &creator, &start_content).await.unwrap();
        store.write(batch).await.unwrap();

        let voters = ["@bob:x", "@carol:x", "@dave:x", "@mod:x"];
        let choices: [&[&str]; 7] = [&["a"], &["b"], &["a", "b", "c"], &["c", "c"], &[], &["a", "zzz"], &["zzz"]];
        let mut live_votes: Vec<(String, OwnedEventId, u64, Vec<String>)> = Vec::new();
        let mut live_ends: Vec<(String, OwnedEventId, u64)> = Vec::new();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for step in 0..400u64 {
            let mut batch = WriteBatch::new();
            let event_id = OwnedEventId::try_from(format!("$e{step}")).unwrap();
            let ts = 1000 + next(500);
            match next(10) {
                0..=5 => {
                    let voter = voters[next(4) as usize];
                    let answers: Vec<String> = choices[next(7) as usize].iter().map(|s| (*s).to_owned()).collect();
                    let sender = UserId::parse(voter).unwrap();
                    let vote = Related {
                        room_id: &room,
                        poll: &poll_id,
                        event_id: &event_id,
                        sender: &sender,
                        origin_server_ts: ts,
                    };
                    polls.respond(&mut batch, &vote, &json!({RESPONSE_TYPES[0]: {"answers": answers}})).await.unwrap();
                    live_votes.push((voter.to_owned(), event_id.clone(), ts, answers));
                }
                6 if !live_votes.is_empty() => {
                    let (voter, id, ts, _) = live_votes.remove(next(live_votes.len() as u64) as usize);
                    let sender = UserId::parse(&voter).unwrap();
                    let vote = Related {
                        room_id: &room,
                        poll: &poll_id,
                        event_id: &id,
                        sender: &sender,
                        origin_server_ts: ts,
                    };
                    polls.unrespond(&mut batch, &vote).await.unwrap();
                }
                7 | 8 => {
                    let sender = ["@alice:x", "@mod:x", "@bob:x"][next(3) as usize];
                    let user = UserId::parse(sender).unwrap();
                    let end = Related {
                        room_id: &room,
                        poll: &poll_id,
                        event_id: &event_id,
                        sender: &user,
                        origin_server_ts: ts + 200,
                    };
                    polls.end(&mut batch, &end, sender == "@mod:x").await.unwrap();
                    live_ends.push((sender.to_owned(), event_id.clone(), ts + 200));
                }
                _ if !live_ends.is_empty() => {
                    let (sender, id, ts) = live_ends.remove(next(live_ends.len() as u64) as usize);
                    let user = UserId::parse(&sender).unwrap();
                    let end =
                        Related { room_id: &room, poll: &poll_id, event_id: &id, sender: &user, origin_server_ts: ts };
                    polls.unend(&mut batch, &end).await.unwrap();
                }
                _ => continue,
            }
            store.write(batch).await.unwrap();

            let responses = live_votes.iter().map(|(voter, id, ts, answers)| reference::Response {
                sender: voter,
                event_id: id.as_str(),
                origin_server_ts: *ts,
                answers,
            });
            let ends = live_ends.iter().map(|(sender, id, ts)| reference::End {
                sender,
                event_id: id.as_str(),
                origin_server_ts: *ts,
            });
            let expected = reference::tally(&start, creator.as_str(), responses, ends, |u| u == "@mod:x");
            let got = polls.get(&room, &poll_id).await.unwrap().unwrap();
            assert_eq!(got.counts, expected.counts, "counts after step {step}");
            assert_eq!(got.voters as usize, expected.selections.len(), "voters after step {step}");
            assert_eq!(
                got.closed.as_ref().map(|(_, id)| id.to_string()),
                expected.closed.map(|c| c.event_id),
                "closing end after step {step}"
            );
        }
    }
}
