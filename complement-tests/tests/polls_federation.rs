//! Polls with remote members (extensions-spec §11.2, issue 17 part 7): a
//! vote sent on another homeserver — a second Nexus, or Synapse — counts in
//! the tally the poll's home server serves, a remote end from a member who
//! may not close the poll is ignored, and the second Nexus, which persists
//! the same events, serves the same tally. RocksDB only: storage is not what
//! these scenarios are about.

use std::time::Duration;

use nexus_complement::federation::invite_and_join;
use nexus_complement::{Backend, Homeserver, Session, Synapse, TestCa, eventually, relates_to};
use serde_json::{Value, json};

const PASSWORD: &str = "fed-Passw0rd!";
const WAIT: Duration = Duration::from_secs(30);
const TALLY: &str = "nexus.poll.tally";
const START: &str = "org.matrix.msc3381.poll.start";
const RESPONSE: &str = "org.matrix.msc3381.poll.response";
const END: &str = "org.matrix.msc3381.poll.end";

fn poll() -> Value {
    json!({
        "org.matrix.msc1767.text": "Where do we meet?",
        START: {
            "question": {"org.matrix.msc1767.text": "Where do we meet?"},
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": 1,
            "answers": [
                {"id": "park", "org.matrix.msc1767.text": "The park"},
                {"id": "cafe", "org.matrix.msc1767.text": "The café"}
            ]
        }
    })
}

async fn vote(voter: &Session, room: &str, start: &str, answer: &str) -> String {
    tokio::time::sleep(Duration::from_millis(5)).await;
    voter
        .send_event(
            room,
            RESPONSE,
            json!({"m.relates_to": relates_to("m.reference", start), RESPONSE: {"answers": [answer]}}),
        )
        .await
}

async fn end(closer: &Session, room: &str, start: &str) -> String {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let content =
        json!({"m.relates_to": relates_to("m.reference", start), END: {}, "org.matrix.msc1767.text": "Ended"});
    closer.send_event(room, END, content).await
}

/// Waits until `viewer`'s server serves the poll with `want` true of its tally.
async fn await_tally(viewer: &Session, room: &str, start: &str, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    eventually(&format!("{what}, as {} sees it", viewer.user_id), WAIT, || async {
        let reply = viewer.get_event(room, start).await;
        let tally = reply.json["unsigned"][TALLY].clone();
        if reply.status == 200 && want(&tally) { Ok(tally) } else { Err(format!("{reply:?}")) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_from_a_second_nexus_counts_on_both() {
    let ca = TestCa::new();
    let federating = || Homeserver::builder(Backend::RocksDb).federation(&ca).start();
    let (home, other) = tokio::join!(federating(), federating());
    let alice = home.api().register("alice", PASSWORD).await;
    let bob = other.api().register("bob", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "private_chat"})).await;
    invite_and_join(&alice, &bob, &room, &home.server_name()).await;
    let start = alice.send_event(&room, START, poll()).await;
    await_tally(&bob, &room, &start, "the poll reached the second server", |t| t.is_object()).await;

    vote(&bob, &room, &start, "cafe").await;
    let t = await_tally(&alice, &room, &start, "bob's vote counted", |t| t["counts"]["cafe"] == 1).await;
    assert_eq!(t["voters"], 1, "{t:#}");
    vote(&alice, &room, &start, "park").await;
    await_tally(&bob, &room, &start, "both votes on the second server", |t| {
        t["counts"] == json!({"park": 1, "cafe": 1})
    })
    .await;

    // Bob (power 0) may not close alice's poll: ignored on both servers.
    end(&bob, &room, &start).await;
    vote(&alice, &room, &start, "cafe").await;
    await_tally(&alice, &room, &start, "alice changed her mind", |t| t["counts"]["cafe"] == 2).await;
    let t = await_tally(&bob, &room, &start, "the change reached bob", |t| t["counts"]["cafe"] == 2).await;
    assert_eq!(t["closed_by"], Value::Null, "{t:#}");

    // Alice closes it; bob's later vote counts nowhere.
    let closing = end(&alice, &room, &start).await;
    await_tally(&bob, &room, &start, "closed on the second server", |t| t["closed_by"] == closing.as_str()).await;
    let late = vote(&bob, &room, &start, "park").await;
    eventually("bob's late vote reached alice", WAIT, || async {
        let reply = alice.get_event(&room, &late).await;
        if reply.status == 200 { Ok(()) } else { Err(format!("{reply:?}")) }
    })
    .await;
    for viewer in [&alice, &bob] {
        let t = viewer.get_event(&room, &start).await.json["unsigned"][TALLY].clone();
        assert_eq!(t["counts"], json!({"park": 0, "cafe": 2}), "{t:#}");
        assert_eq!(t["closed_by"], closing.as_str(), "{t:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synapse_users_vote_counts_in_a_nexus_hosted_poll() {
    let ca = TestCa::new();
    let (synapse, nexus) =
        tokio::join!(Synapse::start(&ca), Homeserver::builder(Backend::RocksDb).federation(&ca).start());
    let Some(synapse) = synapse else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "private_chat"})).await;
    invite_and_join(&alice, &bob, &room, &nexus.server_name()).await;
    let start = alice.send_event(&room, START, poll()).await;
    eventually("the poll reached Synapse", WAIT, || async {
        let reply = bob.get_event(&room, &start).await;
        if reply.status == 200 { Ok(()) } else { Err(format!("{reply:?}")) }
    })
    .await;

    vote(&bob, &room, &start, "park").await;
    vote(&bob, &room, &start, "cafe").await;
    let t = await_tally(&alice, &room, &start, "the Synapse user's latest vote", |t| t["counts"]["cafe"] == 1).await;
    assert_eq!(t["counts"]["park"], 0, "{t:#}");
    end(&bob, &room, &start).await;
    let closing = end(&alice, &room, &start).await;
    let t = await_tally(&alice, &room, &start, "closed by its creator", |t| t["closed_by"] == closing.as_str()).await;
    assert_eq!(t["counts"], json!({"park": 0, "cafe": 1}), "{t:#}");
}
