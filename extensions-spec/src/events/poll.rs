//! MSC3381 polls (unstable names) and the tally a Nexus server computes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::events::{EventContent, StateKey};
use crate::ids;

/// MSC3381 truncates polls to 20 answers; Nexus refuses more outright.
pub const MAX_ANSWERS: usize = 20;
/// Discord's question length.
pub const MAX_QUESTION_LEN: usize = 300;
/// Discord's answer length.
pub const MAX_ANSWER_LEN: usize = 55;
/// Longest answer ID.
pub const MAX_ANSWER_ID_LEN: usize = 100;
/// Unstable kind: results visible while open.
pub const KIND_DISCLOSED: &str = "org.matrix.msc3381.poll.disclosed";
/// Unstable kind: results shown once closed (MSC3381's default).
pub const KIND_UNDISCLOSED: &str = "org.matrix.msc3381.poll.undisclosed";

const TEXT: &str = "org.matrix.msc1767.text";

/// Content of `org.matrix.msc3381.poll.start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollStartContent {
    /// The poll.
    #[serde(rename = "org.matrix.msc3381.poll.start")]
    pub poll: PollStart,
    /// Plain-text fallback for clients without poll support.
    #[serde(rename = "org.matrix.msc1767.text")]
    pub text: String,
}

/// The `org.matrix.msc3381.poll.start` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollStart {
    /// The question.
    pub question: PollText,
    /// Disclosed or undisclosed; unknown kinds count as undisclosed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// How many answers one voter may pick.
    #[serde(default = "one")]
    pub max_selections: u32,
    /// The answers, in display order.
    pub answers: Vec<PollAnswer>,
}

fn one() -> u32 {
    1
}

/// A text block (unstable extensible-events form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollText {
    /// The text.
    #[serde(rename = "org.matrix.msc1767.text")]
    pub text: String,
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollAnswer {
    /// Opaque ID responses refer to.
    pub id: String,
    /// Display text.
    #[serde(rename = "org.matrix.msc1767.text")]
    pub text: String,
}

impl PollStart {
    /// Whether results may be shown while the poll is open.
    pub fn is_disclosed(&self) -> bool {
        self.kind.as_deref() == Some(KIND_DISCLOSED)
    }
}

/// An `m.reference` relation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// Always `m.reference`.
    pub rel_type: String,
    /// The poll start event.
    pub event_id: String,
}

/// Content of `org.matrix.msc3381.poll.response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollResponseContent {
    /// Reference to the poll.
    #[serde(rename = "m.relates_to")]
    pub relates_to: Reference,
    /// The selections.
    #[serde(rename = "org.matrix.msc3381.poll.response")]
    pub response: PollSelections,
}

/// The `org.matrix.msc3381.poll.response` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollSelections {
    /// Answer IDs; empty withdraws the vote.
    pub answers: Vec<String>,
}

/// Content of `org.matrix.msc3381.poll.end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollEndContent {
    /// Reference to the poll.
    #[serde(rename = "m.relates_to")]
    pub relates_to: Reference,
    /// Required empty marker block.
    #[serde(rename = "org.matrix.msc3381.poll.end")]
    pub end: EmptyBlock,
    /// Plain-text fallback announcing the result.
    #[serde(rename = "org.matrix.msc1767.text")]
    pub text: String,
}

/// A content block that carries no fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyBlock {}

fn check_reference(reference: &Reference) -> Result<(), ValidationError> {
    if reference.rel_type != "m.reference" {
        return Err(ValidationError::Malformed {
            field: "m.relates_to.rel_type",
            expected: "`m.reference`",
            value: reference.rel_type.clone(),
        });
    }
    ids::check_grammar("m.relates_to.event_id", &reference.event_id, "event ID", ids::is_event_id)
}

impl EventContent for PollStartContent {
    const EVENT_TYPE: &'static str = super::POLL_START;
    const STATE_KEY: StateKey = StateKey::None;

    fn validate(&self) -> Result<(), ValidationError> {
        let poll = &self.poll;
        ids::check_len(TEXT, &self.text, 1, usize::MAX)?;
        ids::check_len("question", &poll.question.text, 1, MAX_QUESTION_LEN)?;
        if poll.answers.is_empty() {
            return Err(ValidationError::Empty { field: "answers" });
        }
        ids::check_max_entries("answers", poll.answers.len(), MAX_ANSWERS)?;
        for answer in &poll.answers {
            ids::check_len("answers[].id", &answer.id, 1, MAX_ANSWER_ID_LEN)?;
            ids::check_len("answers[].text", &answer.text, 1, MAX_ANSWER_LEN)?;
        }
        ids::check_unique("answers[].id", poll.answers.iter().map(|a| a.id.as_str()))?;
        let answers = poll.answers.len() as u64;
        if poll.max_selections == 0 || u64::from(poll.max_selections) > answers {
            return Err(ValidationError::OutOfRange {
                field: "max_selections",
                value: poll.max_selections.into(),
                min: 1,
                max: answers,
            });
        }
        Ok(())
    }
}

impl EventContent for PollResponseContent {
    const EVENT_TYPE: &'static str = super::POLL_RESPONSE;
    const STATE_KEY: StateKey = StateKey::None;

    fn validate(&self) -> Result<(), ValidationError> {
        check_reference(&self.relates_to)?;
        ids::check_max_entries("answers", self.response.answers.len(), MAX_ANSWERS)
    }
}

impl EventContent for PollEndContent {
    const EVENT_TYPE: &'static str = super::POLL_END;
    const STATE_KEY: StateKey = StateKey::None;

    fn validate(&self) -> Result<(), ValidationError> {
        check_reference(&self.relates_to)
    }
}

/// A response as the tally sees it (redacted responses are left out by the
/// caller: MSC3381 reverts a redacted vote to the voter's previous one).
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    /// Voter.
    pub sender: &'a str,
    /// Breaks timestamp ties deterministically.
    pub event_id: &'a str,
    /// When it was sent.
    pub origin_server_ts: u64,
    /// Selections as sent.
    pub answers: &'a [String],
}

/// An end event as the tally sees it.
#[derive(Debug, Clone, Copy)]
pub struct End<'a> {
    /// Who sent it.
    pub sender: &'a str,
    /// Breaks timestamp ties deterministically.
    pub event_id: &'a str,
    /// When it was sent.
    pub origin_server_ts: u64,
}

/// The end that closed a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    /// Event ID of the end event.
    pub event_id: String,
    /// Who closed it.
    pub sender: String,
    /// When; later votes do not count.
    pub origin_server_ts: u64,
}

/// The server-computed result of a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Votes per answer ID; every answer is present, possibly with 0.
    pub counts: BTreeMap<String, u64>,
    /// Each counted voter's effective selection (spoiled and empty votes omitted).
    pub selections: BTreeMap<String, Vec<String>>,
    /// The valid end event, if the poll is closed.
    pub closed: Option<Closure>,
}

/// Tallies a poll by MSC3381's rules, made deterministic:
///
/// * the poll is closed by the earliest end event (by `origin_server_ts`, then
///   event ID) sent by the poll's creator or by someone `may_redact` accepts;
///   ends from anyone else are ignored;
/// * once closed, responses sent after the end's timestamp are ignored;
/// * each voter's latest response (by `origin_server_ts`, then event ID) is the
///   only one considered, even when it is spoiled;
/// * a response is truncated to `max_selections`; if any remaining entry is
///   not an answer ID the vote is spoiled; repeated entries count once.
pub fn tally<'a>(
    poll: &PollStart,
    creator: &str,
    responses: impl IntoIterator<Item = Response<'a>>,
    ends: impl IntoIterator<Item = End<'a>>,
    may_redact: impl Fn(&str) -> bool,
) -> Tally {
    let closed = ends
        .into_iter()
        .filter(|end| end.sender == creator || may_redact(end.sender))
        .min_by(|a, b| (a.origin_server_ts, a.event_id).cmp(&(b.origin_server_ts, b.event_id)))
        .map(|end| Closure {
            event_id: end.event_id.to_owned(),
            sender: end.sender.to_owned(),
            origin_server_ts: end.origin_server_ts,
        });
    let deadline = closed.as_ref().map_or(u64::MAX, |c| c.origin_server_ts);

    let mut latest: BTreeMap<&str, Response<'a>> = BTreeMap::new();
    for response in responses {
        if response.origin_server_ts > deadline {
            continue;
        }
        let newer = latest
            .get(response.sender)
            .is_none_or(|seen| (response.origin_server_ts, response.event_id) > (seen.origin_server_ts, seen.event_id));
        if newer {
            latest.insert(response.sender, response);
        }
    }

    let known: BTreeSet<&str> = poll.answers.iter().map(|a| a.id.as_str()).collect();
    let limit = usize::try_from(poll.max_selections.max(1)).unwrap_or(usize::MAX);
    let mut counts: BTreeMap<String, u64> = poll.answers.iter().map(|a| (a.id.clone(), 0)).collect();
    let mut selections = BTreeMap::new();
    for (voter, response) in latest {
        let truncated = &response.answers[..response.answers.len().min(limit)];
        if truncated.iter().any(|a| !known.contains(a.as_str())) {
            continue;
        }
        let mut chosen: Vec<String> = Vec::new();
        for answer in truncated {
            if !chosen.contains(answer) {
                chosen.push(answer.clone());
            }
        }
        if chosen.is_empty() {
            continue;
        }
        for answer in &chosen {
            *counts.entry(answer.clone()).or_default() += 1;
        }
        selections.insert(voter.to_owned(), chosen);
    }
    Tally { counts, selections, closed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lunch(max_selections: u32) -> PollStart {
        serde_json::from_value(json!({
            "question": {TEXT: "Lunch?"},
            "kind": KIND_DISCLOSED,
            "max_selections": max_selections,
            "answers": [
                {"id": "pizza", TEXT: "Pizza"},
                {"id": "ramen", TEXT: "Ramen"},
                {"id": "salad", TEXT: "Salad"}
            ]
        }))
        .unwrap()
    }

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn resp<'a>(sender: &'a str, id: &'a str, ts: u64, answers: &'a [String]) -> Response<'a> {
        Response { sender, event_id: id, origin_server_ts: ts, answers }
    }

    fn never(_: &str) -> bool {
        false
    }

    #[test]
    fn only_the_latest_vote_per_user_counts() {
        let (first, second) = (v(&["pizza"]), v(&["ramen"]));
        let t = tally(
            &lunch(1),
            "@alice:x",
            [resp("@bob:x", "$2", 20, &second), resp("@bob:x", "$1", 10, &first)],
            [],
            never,
        );
        assert_eq!(t.counts["pizza"], 0);
        assert_eq!(t.counts["ramen"], 1);
        assert_eq!(t.selections["@bob:x"], v(&["ramen"]));
        assert!(t.closed.is_none());
    }

    #[test]
    fn timestamp_ties_are_broken_by_event_id() {
        let (a, b) = (v(&["pizza"]), v(&["salad"]));
        let t = tally(&lunch(1), "@alice:x", [resp("@bob:x", "$b", 10, &b), resp("@bob:x", "$a", 10, &a)], [], never);
        assert_eq!(t.selections["@bob:x"], v(&["salad"]));
    }

    #[test]
    fn max_selections_truncates_before_counting() {
        let all = v(&["pizza", "ramen", "salad"]);
        let t = tally(&lunch(2), "@alice:x", [resp("@bob:x", "$1", 1, &all)], [], never);
        assert_eq!(t.selections["@bob:x"], v(&["pizza", "ramen"]));
        assert_eq!(t.counts["salad"], 0);
    }

    #[test]
    fn an_unknown_answer_spoils_the_vote_and_replaces_the_old_one() {
        let (good, bad) = (v(&["pizza"]), v(&["pizza", "sushi"]));
        let t =
            tally(&lunch(2), "@alice:x", [resp("@bob:x", "$1", 1, &good), resp("@bob:x", "$2", 2, &bad)], [], never);
        assert_eq!(t.counts["pizza"], 0);
        assert!(t.selections.is_empty());
    }

    #[test]
    fn unknown_answers_past_the_limit_are_truncated_away() {
        let sel = v(&["ramen", "sushi"]);
        let t = tally(&lunch(1), "@alice:x", [resp("@bob:x", "$1", 1, &sel)], [], never);
        assert_eq!(t.counts["ramen"], 1);
    }

    #[test]
    fn repeated_answers_count_once() {
        let sel = v(&["ramen", "ramen"]);
        let t = tally(&lunch(2), "@alice:x", [resp("@bob:x", "$1", 1, &sel)], [], never);
        assert_eq!(t.counts["ramen"], 1);
    }

    #[test]
    fn an_empty_response_withdraws_the_vote() {
        let (a, none) = (v(&["pizza"]), v(&[]));
        let t = tally(&lunch(1), "@alice:x", [resp("@bob:x", "$1", 1, &a), resp("@bob:x", "$2", 2, &none)], [], never);
        assert_eq!(t.counts["pizza"], 0);
    }

    #[test]
    fn only_the_creator_or_a_redactor_may_end() {
        let late = v(&["salad"]);
        let responses = [resp("@carol:x", "$v", 50, &late)];
        let stranger = End { sender: "@mallory:x", event_id: "$e1", origin_server_ts: 10 };
        let t = tally(&lunch(1), "@alice:x", responses, [stranger], never);
        assert!(t.closed.is_none());
        assert_eq!(t.counts["salad"], 1);

        let t = tally(&lunch(1), "@alice:x", responses, [stranger], |u| u == "@mallory:x");
        assert_eq!(t.closed.unwrap().sender, "@mallory:x");
        assert_eq!(t.counts["salad"], 0, "votes after the end do not count");
    }

    #[test]
    fn the_earliest_valid_end_wins_and_votes_at_its_timestamp_count() {
        let sel = v(&["ramen"]);
        let ends = [
            End { sender: "@alice:x", event_id: "$late", origin_server_ts: 30 },
            End { sender: "@alice:x", event_id: "$early", origin_server_ts: 20 },
        ];
        let t = tally(
            &lunch(1),
            "@alice:x",
            [resp("@bob:x", "$1", 20, &sel), resp("@carol:x", "$2", 21, &sel)],
            ends,
            never,
        );
        assert_eq!(t.closed.unwrap().event_id, "$early");
        assert_eq!(t.counts["ramen"], 1);
    }

    #[test]
    fn start_validation() {
        let mut c = PollStartContent { poll: lunch(1), text: "Lunch?".into() };
        assert!(c.validate().is_ok());
        c.poll.max_selections = 4;
        assert!(matches!(c.validate(), Err(ValidationError::OutOfRange { field: "max_selections", .. })));
        c.poll.max_selections = 0;
        assert!(c.validate().is_err());
        c.poll.max_selections = 1;
        c.poll.answers = (0..21).map(|i| PollAnswer { id: format!("a{i}"), text: "x".into() }).collect();
        assert!(matches!(c.validate(), Err(ValidationError::TooMany { .. })));
        c.poll.answers.clear();
        assert!(matches!(c.validate(), Err(ValidationError::Empty { .. })));
    }

    #[test]
    fn kind_defaults_to_undisclosed() {
        let mut p = lunch(1);
        assert!(p.is_disclosed());
        p.kind = None;
        assert!(!p.is_disclosed());
        p.kind = Some("com.example.weird".into());
        assert!(!p.is_disclosed());
    }

    #[test]
    fn responses_must_reference_an_event() {
        let r: PollResponseContent = serde_json::from_value(json!({
            "m.relates_to": {"rel_type": "m.annotation", "event_id": "$p"},
            "org.matrix.msc3381.poll.response": {"answers": ["pizza"]}
        }))
        .unwrap();
        assert!(r.validate().is_err());
    }
}
