//! MSC3381 polls tallied by the server (extensions-spec §11.2), read from
//! `unsigned["nexus.poll.tally"]` wherever the start event is served
//! (`/event`, `/messages`, `/context`, `/sync`), rule by rule: the latest
//! vote wins, a redacted vote reverts to the previous one, `max_selections`
//! truncates, unknown answers spoil, an empty vote withdraws, only the
//! creator or a member who may redact others' events closes a poll, votes
//! after the close are ignored, undisclosed polls withhold counts until
//! closed, and stable `m.poll.*` polls count the same way. Simplified
//! sliding sync serves the tally too.

use std::time::Duration;

use nexus_complement::{Backend, Homeserver, Session, both_backends, enc, relates_to};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const TALLY: &str = "nexus.poll.tally";

const START: &str = "org.matrix.msc3381.poll.start";
const RESPONSE: &str = "org.matrix.msc3381.poll.response";
const END: &str = "org.matrix.msc3381.poll.end";

fn poll(kind: &str, max_selections: u32) -> Value {
    json!({
        "org.matrix.msc1767.text": "What should we plant next?",
        START: {
            "question": {"org.matrix.msc1767.text": "What should we plant next?"},
            "kind": kind,
            "max_selections": max_selections,
            "answers": [
                {"id": "tomatoes", "org.matrix.msc1767.text": "Tomatoes"},
                {"id": "beans", "org.matrix.msc1767.text": "Beans"},
                {"id": "sunflowers", "org.matrix.msc1767.text": "Sunflowers"}
            ]
        }
    })
}

const DISCLOSED: &str = "org.matrix.msc3381.poll.disclosed";
const UNDISCLOSED: &str = "org.matrix.msc3381.poll.undisclosed";

/// Sends a vote; waits a few milliseconds first so that consecutive votes
/// never share an `origin_server_ts` (ties break by event id, §11.2).
async fn vote(voter: &Session, room: &str, poll: &str, answers: &[&str]) -> String {
    tokio::time::sleep(Duration::from_millis(5)).await;
    voter
        .send_event(
            room,
            RESPONSE,
            json!({"m.relates_to": relates_to("m.reference", poll), RESPONSE: {"answers": answers}}),
        )
        .await
}

async fn end(closer: &Session, room: &str, poll: &str) -> String {
    tokio::time::sleep(Duration::from_millis(5)).await;
    closer
        .send_event(
            room,
            END,
            json!({"m.relates_to": relates_to("m.reference", poll), END: {}, "org.matrix.msc1767.text": "Ended"}),
        )
        .await
}

/// The tally as `GET /event` serves it.
async fn tally(viewer: &Session, room: &str, poll: &str) -> Value {
    let event = viewer.get_event(room, poll).await;
    event.expect_ok()["unsigned"][TALLY].clone()
}

fn counts(tally: &Value) -> (u64, u64, u64) {
    let c = &tally["counts"];
    let n = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("no count for {k}: {tally:#}"));
    (n("tomatoes"), n("beans"), n("sunflowers"))
}

/// Alice's public room with bob and carol in it.
async fn room_of_three(hs: &Homeserver) -> (String, Session, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let carol = hs.api().register("carol", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    carol.join(&room).await;
    (room, alice, bob, carol)
}

async fn latest_vote_wins_redaction_reverts_and_selections_follow_the_rules(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room, alice, bob, carol) = room_of_three(&hs).await;
    let start = alice.send_event(&room, START, poll(DISCLOSED, 2)).await;
    let empty = tally(&alice, &room, &start).await;
    assert_eq!(counts(&empty), (0, 0, 0), "{empty:#}");
    assert_eq!(empty["voters"], 0);
    assert_eq!(empty["closed_by"], Value::Null);

    // Latest vote wins.
    vote(&bob, &room, &start, &["tomatoes"]).await;
    let second = vote(&bob, &room, &start, &["beans"]).await;
    assert_eq!(counts(&tally(&alice, &room, &start).await), (0, 1, 0));

    // max_selections (2) truncates the third answer away.
    vote(&carol, &room, &start, &["tomatoes", "beans", "sunflowers"]).await;
    let t = tally(&alice, &room, &start).await;
    assert_eq!(counts(&t), (1, 2, 0), "{t:#}");
    assert_eq!(t["voters"], 2);

    // A redacted vote reverts to the voter's previous one.
    bob.redact(&room, &second, json!({})).await.expect_ok();
    assert_eq!(counts(&tally(&alice, &room, &start).await), (2, 1, 0));

    // Repeated entries count once.
    vote(&bob, &room, &start, &["sunflowers", "sunflowers"]).await;
    assert_eq!(counts(&tally(&alice, &room, &start).await), (1, 1, 1));

    // An unknown answer (within the limit) spoils carol's vote: her latest
    // counts for nothing, and her earlier one no longer counts either.
    vote(&carol, &room, &start, &["beans", "cabbages"]).await;
    let t = tally(&alice, &room, &start).await;
    assert_eq!(counts(&t), (0, 0, 1), "{t:#}");
    assert_eq!(t["voters"], 1);

    // An unknown answer past the limit is truncated away: the vote counts.
    vote(&carol, &room, &start, &["tomatoes", "beans", "cabbages"]).await;
    assert_eq!(counts(&tally(&alice, &room, &start).await), (1, 1, 1));

    // An empty response withdraws the vote.
    vote(&carol, &room, &start, &[]).await;
    let t = tally(&alice, &room, &start).await;
    assert_eq!(counts(&t), (0, 0, 1), "{t:#}");
    assert_eq!(t["voters"], 1);

    // Every read path serves the same tally on the start event.
    let messages = alice.messages(&room, "dir=b&limit=50").await;
    let served = messages.expect_chunk().iter().find(|e| e["event_id"] == start.as_str()).expect("start in /messages");
    assert_eq!(served["unsigned"][TALLY], t, "{served:#}");
    let context = alice.context(&room, &start, "limit=2").await;
    assert_eq!(context.expect_ok()["event"]["unsigned"][TALLY], t, "{context:?}");
    let synced = alice.sync_with(None, "").await;
    let in_sync = synced.timeline(&room).into_iter().find(|e| e["event_id"] == start.as_str()).expect("start in /sync");
    assert_eq!(in_sync["unsigned"][TALLY], t, "{in_sync:#}");
}

async fn only_the_creator_or_a_redactor_closes_and_late_votes_are_ignored(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room, alice, bob, carol) = room_of_three(&hs).await;
    let start = bob.send_event(&room, START, poll(DISCLOSED, 1)).await;
    vote(&carol, &room, &start, &["beans"]).await;

    // Alice created the room (power 100, may redact); carol may not: her
    // end is ignored and votes keep counting.
    end(&carol, &room, &start).await;
    let t = tally(&bob, &room, &start).await;
    assert_eq!(t["closed_by"], Value::Null, "{t:#}");
    vote(&alice, &room, &start, &["tomatoes"]).await;
    assert_eq!(counts(&tally(&bob, &room, &start).await), (1, 1, 0));

    // The creator closes it; a later vote and a later change of mind are
    // ignored.
    let closing = end(&bob, &room, &start).await;
    vote(&carol, &room, &start, &["sunflowers"]).await;
    vote(&bob, &room, &start, &["sunflowers"]).await;
    let t = tally(&alice, &room, &start).await;
    assert_eq!(t["closed_by"], closing.as_str(), "{t:#}");
    assert_eq!(counts(&t), (1, 1, 0), "{t:#}");
    assert_eq!(t["voters"], 2);

    // A later end by the room's moderator does not move the close.
    end(&alice, &room, &start).await;
    assert_eq!(tally(&alice, &room, &start).await["closed_by"], closing.as_str());

    // Someone who may redact others' events closes another user's poll.
    let second = carol.send_event(&room, START, poll(DISCLOSED, 1)).await;
    vote(&bob, &room, &second, &["beans"]).await;
    let by_moderator = end(&alice, &room, &second).await;
    vote(&bob, &room, &second, &["tomatoes"]).await;
    let t = tally(&carol, &room, &second).await;
    assert_eq!(t["closed_by"], by_moderator.as_str(), "{t:#}");
    assert_eq!(counts(&t), (0, 1, 0), "{t:#}");

    // Redacting the end reopens the poll (the next valid end, none here):
    // bob's later vote then counts.
    alice.redact(&room, &by_moderator, json!({})).await.expect_ok();
    let t = tally(&carol, &room, &second).await;
    assert_eq!(t["closed_by"], Value::Null, "{t:#}");
    assert_eq!(counts(&t), (1, 0, 0), "{t:#}");
}

async fn undisclosed_polls_withhold_counts_until_closed(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room, alice, bob, carol) = room_of_three(&hs).await;
    let start = alice.send_event(&room, START, poll(UNDISCLOSED, 1)).await;
    vote(&bob, &room, &start, &["beans"]).await;
    vote(&carol, &room, &start, &["beans"]).await;
    let open = tally(&bob, &room, &start).await;
    assert!(open.get("counts").is_none(), "counts are withheld while open: {open:#}");
    assert_eq!(open["voters"], 2, "{open:#}");
    let closing = end(&alice, &room, &start).await;
    let closed = tally(&bob, &room, &start).await;
    assert_eq!(closed["closed_by"], closing.as_str());
    assert_eq!(counts(&closed), (0, 2, 0), "{closed:#}");
}

async fn a_vote_shows_in_the_next_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room, alice, bob, _carol) = room_of_three(&hs).await;
    let start = alice.send_event(&room, START, poll(DISCLOSED, 1)).await;
    let since = alice.sync_token().await;
    let voted = vote(&bob, &room, &start, &["sunflowers"]).await;
    let synced = alice.sync_until(&since, "", "bob's vote", |s| s.timeline_has(&room, &voted)).await;
    let response = synced.timeline(&room).into_iter().find(|e| e["event_id"] == voted.as_str()).unwrap();
    // The vote carries its poll's tally as it stands, so a client updates
    // the poll from the next sync alone.
    assert_eq!(counts(&response["unsigned"][TALLY]), (0, 0, 1), "{response:#}");

    // Simplified sliding sync serves the same tally on the start event.
    let sliding = alice
        .post(
            "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync?timeout=0",
            json!({"conn_id": "polls", "lists": {"all": {"ranges": [[0, 9]], "required_state": [], "timeline_limit": 10}}}),
        )
        .await;
    let timeline = sliding.expect_ok()["rooms"][room.as_str()]["timeline"].as_array().cloned().unwrap_or_default();
    let start_event = timeline.iter().find(|e| e["event_id"] == start.as_str()).expect("the start in sliding sync");
    assert_eq!(counts(&start_event["unsigned"][TALLY]), (0, 0, 1), "{start_event:#}");
}

async fn stable_polls_are_tallied_the_same_way(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room, alice, bob, carol) = room_of_three(&hs).await;
    let start = alice
        .send_event(
            &room,
            "m.poll.start",
            json!({
                "m.text": [{"body": "Tea or coffee?"}],
                "m.poll": {
                    "kind": "m.disclosed",
                    "max_selections": 1,
                    "question": {"m.text": [{"body": "Tea or coffee?"}]},
                    "answers": [{"m.id": "tea", "m.text": [{"body": "Tea"}]}, {"m.id": "coffee", "m.text": [{"body": "Coffee"}]}]
                }
            }),
        )
        .await;
    for (voter, choice) in [(&bob, "tea"), (&carol, "coffee"), (&bob, "coffee")] {
        tokio::time::sleep(Duration::from_millis(5)).await;
        voter
            .send_event(
                &room,
                "m.poll.response",
                json!({"m.relates_to": relates_to("m.reference", &start), "m.selections": [choice]}),
            )
            .await;
    }
    let t = tally(&alice, &room, &start).await;
    assert_eq!(t["counts"], json!({"tea": 0, "coffee": 2}), "{t:#}");
    let closing = alice
        .send_event(
            &room,
            "m.poll.end",
            json!({"m.relates_to": relates_to("m.reference", &start), "m.text": [{"body": "Ended"}]}),
        )
        .await;
    assert_eq!(tally(&alice, &room, &start).await["closed_by"], closing.as_str());
    // A redacted poll takes its tally with it, from its votes too.
    let vote_id = bob
        .send_event(
            &room,
            "m.poll.response",
            json!({"m.relates_to": relates_to("m.reference", &start), "m.selections": ["tea"]}),
        )
        .await;
    alice.redact(&room, &start, json!({})).await.expect_ok();
    assert!(alice.get_event(&room, &start).await.expect_ok()["unsigned"].get(TALLY).is_none());
    assert!(alice.get_event(&room, &vote_id).await.expect_ok()["unsigned"].get(TALLY).is_none());
    // A message that is not a poll has no tally.
    let plain = alice.send_message(&room, "hello").await;
    let event = alice.get(&format!("/_matrix/client/v3/rooms/{}/event/{}", enc(&room), enc(&plain))).await;
    assert!(event.expect_ok()["unsigned"].get(TALLY).is_none());
}

both_backends!(
    latest_vote_wins_redaction_reverts_and_selections_follow_the_rules,
    only_the_creator_or_a_redactor_closes_and_late_votes_are_ignored,
    undisclosed_polls_withhold_counts_until_closed,
    a_vote_shows_in_the_next_sync,
    stable_polls_are_tallied_the_same_way,
);

/// §11.1: in a Nexus server's channels, polls the server's own users send
/// follow Discord's limits; a malformed one is refused naming the field.
async fn polls_in_a_server_follow_discords_limits(backend: Backend) {
    use nexus_complement::nexus_servers::create_server;
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Gardening").await;
    let general = &server.general;
    let start = alice.send_event(general, START, poll(DISCLOSED, 2)).await;

    let mut too_many = poll(DISCLOSED, 1);
    too_many[START]["answers"] =
        json!((0..21).map(|i| json!({"id": format!("a{i}"), "org.matrix.msc1767.text": "x"})).collect::<Vec<_>>());
    let mut over_max = poll(DISCLOSED, 4);
    over_max[START]["max_selections"] = json!(4);
    let mut long_question = poll(DISCLOSED, 1);
    long_question[START]["question"]["org.matrix.msc1767.text"] = json!("?".repeat(301));
    let mut twice = poll(DISCLOSED, 1);
    twice[START]["answers"][1]["id"] = json!("tomatoes");
    let mut no_answers = poll(DISCLOSED, 1);
    no_answers[START].as_object_mut().unwrap().remove("answers");
    for (kind, content, field) in [
        (START, too_many, "answers"),
        (START, over_max, "max_selections"),
        (START, long_question, "question"),
        (START, twice, "answers[].id"),
        (START, no_answers, "answers"),
        (RESPONSE, json!({"m.relates_to": relates_to("m.annotation", &start), RESPONSE: {"answers": []}}), "rel_type"),
        (RESPONSE, json!({"m.relates_to": relates_to("m.reference", &start), RESPONSE: {}}), "answers"),
        (END, json!({"m.relates_to": relates_to("m.reference", &start), "org.matrix.msc1767.text": "x"}), END),
    ] {
        let reply = alice.send_event_reply(general, kind, content.clone()).await;
        reply.expect_error(400, "M_BAD_JSON");
        assert!(reply.json["error"].as_str().unwrap_or_default().contains(field), "{field}: {reply:?}");
    }
    // Outside a server, polls from any client are accepted and tallied.
    let plain = alice.create_room(json!({})).await;
    let mut big = poll(DISCLOSED, 1);
    big[START]["question"]["org.matrix.msc1767.text"] = json!("?".repeat(301));
    let other = alice.send_event(&plain, START, big).await;
    assert_eq!(tally(&alice, &plain, &other).await["voters"], 0);
}

both_backends!(polls_in_a_server_follow_discords_limits);
