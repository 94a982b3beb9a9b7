//! Threads (extensions-spec §10), scheduled events (§12) and pins run by
//! the homeserver, proven through real requests: each rule with a member
//! who may and one who may not, archival and status changes that happen on
//! time across a restart, the listings of §22, and malformed content
//! answered with the field named; and, across federation, a remote
//! member's reply reviving an archived thread (another Nexus, and Synapse
//! when it is available).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nexus_complement::federation::invite_and_join;
use nexus_complement::nexus_servers::{
    assign_role, create_server, invite_code, join_by_code, path, put_role, server_path,
};
use nexus_complement::push_gateway::{Unread, thread_counts_filter, thread_unread};
use nexus_complement::{Backend, Homeserver, Reply, Session, Synapse, TestCa, both_backends, enc, eventually};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const MANAGE_THREADS: u64 = 1 << 34;
const CREATE_PRIVATE_THREADS: u64 = 1 << 36;
const PIN_MESSAGES: u64 = 1 << 51;
const VIEW_CHANNEL: u64 = 1 << 10;
/// One minute of `auto_archive_duration` lasts this long in these
/// scenarios (`guilds.auto_archive_minute_ms`): 60 "minutes" are 6 s.
const MINUTE_MS: u64 = 100;
const WAIT: Duration = Duration::from_secs(30);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

#[track_caller]
fn expect_refusal(reply: &Reply, status: u16, errcode: &str, names: &str) {
    reply.expect_error(status, errcode);
    let error = reply.json["error"].as_str().unwrap_or_default();
    assert!(error.contains(names), "the refusal should name {names:?}: {reply:?}");
}

async fn start(backend: Backend) -> Homeserver {
    Homeserver::builder(backend).env("NEXUS__GUILDS__AUTO_ARCHIVE_MINUTE_MS", MINUTE_MS.to_string()).start().await
}

/// Alice's server with the given members joined through an invite code.
async fn server_with(
    hs: &Homeserver,
    members: &[&str],
) -> (nexus_complement::nexus_servers::CreatedServer, Session, Vec<Session>) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Gardening").await;
    let code = invite_code(&alice, &server.space, json!({})).await;
    let mut sessions = Vec::new();
    for name in members {
        let member = hs.api().register(name, PASSWORD).await;
        join_by_code(&member, &code).await;
        sessions.push(member);
    }
    (server, alice, sessions)
}

/// `nexus.thread` content; a week's `auto_archive_duration` unless `extra`
/// says otherwise (60 "minutes" are seconds here, see [`MINUTE_MS`]).
fn thread(name: &str, extra: Value) -> Value {
    let mut content = json!({ "name": name, "auto_archive_duration": 10080 });
    content.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    content
}

async fn reply_in_thread(author: &Session, room: &str, root: &str, body: &str) -> Reply {
    author
        .send_event_reply(
            room,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": body, "m.relates_to": { "rel_type": "m.thread", "event_id": root } }),
        )
        .await
}

async fn listed_roots(viewer: &Session, tail: &str) -> Vec<String> {
    let reply = viewer.get(&path(tail)).await;
    let body = reply.expect_ok();
    body["threads"].as_array().unwrap().iter().map(|t| t["root_id"].as_str().unwrap().to_owned()).collect()
}

async fn spec_listed_roots(viewer: &Session, room: &str, include: &str) -> Vec<String> {
    let reply = viewer.get(&format!("/_matrix/client/v1/rooms/{}/threads?include={include}", enc(room))).await;
    reply.expect_ok()["chunk"].as_array().unwrap().iter().map(|e| e["event_id"].as_str().unwrap().to_owned()).collect()
}

async fn thread_state(viewer: &Session, room: &str, root: &str) -> Value {
    viewer.state_content(room, "nexus.thread", root).await
}

/// §10.2, §10.4, §14: naming a thread is its creator's (with
/// CREATE_PUBLIC_THREADS) or a manager's; locking needs MANAGE_THREADS, and
/// a locked thread refuses posts from members without it.
async fn thread_state_and_locked_threads_follow_the_rules(backend: Backend) {
    let hs = start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "carol"]).await;
    let [bob, carol] = &members[..] else { unreachable!() };
    let room = &server.general;
    let root = bob.send_message(room, "Aphids on my roses").await;

    // Malformed content and a state key that is no event: 400 naming it.
    let reply =
        bob.set_state_reply(room, "nexus.thread", &root, thread("Aphids", json!({ "auto_archive_duration": 5 }))).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "auto_archive_duration");
    let reply = bob.set_state_reply(room, "nexus.thread", &root, json!({ "auto_archive_duration": 60 })).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "name");
    let reply = bob.set_state_reply(room, "nexus.thread", "$nothing:example.org", thread("Aphids", json!({}))).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "state key");

    // Not the root's sender, no MANAGE_THREADS: refused; the creator may.
    let reply = carol.set_state_reply(room, "nexus.thread", &root, thread("Mine now", json!({}))).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "CREATE_PUBLIC_THREADS");
    bob.set_state(room, "nexus.thread", &root, thread("Aphids", json!({}))).await;
    let reply = carol.set_state_reply(room, "nexus.thread", &root, thread("Renamed", json!({}))).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "MANAGE_THREADS");
    bob.set_state(room, "nexus.thread", &root, thread("Aphids, help", json!({}))).await;
    reply_in_thread(carol, room, &root, "try soap").await.expect_ok();

    // Locking needs MANAGE_THREADS: bob may not, alice (the owner) may.
    let reply =
        bob.set_state_reply(room, "nexus.thread", &root, thread("Aphids, help", json!({ "locked": true }))).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "locked");
    alice.set_state(room, "nexus.thread", &root, thread("Aphids, help", json!({ "locked": true }))).await;
    // A locked thread refuses members without MANAGE_THREADS, names why.
    let reply = reply_in_thread(carol, room, &root, "more soap").await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "locked");
    let reply = bob.set_state_reply(room, "nexus.thread", &root, thread("Unlock", json!({}))).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "locked");
    reply_in_thread(&alice, room, &root, "closing this").await.expect_ok();
    // A moderator role with MANAGE_THREADS may post there too.
    put_role(
        &alice,
        &server.space,
        "mods",
        json!({ "name": "Mods", "position": 1, "permissions": (MANAGE_THREADS | VIEW_CHANNEL).to_string() }),
    )
    .await;
    assign_role(&alice, &server.space, &carol.user_id, "mods").await;
    eventually("carol's role takes effect", WAIT, || async {
        let reply = reply_in_thread(carol, room, &root, "as a mod").await;
        if reply.status == 200 { Ok(()) } else { Err(format!("{reply:?}")) }
    })
    .await;
}
both_backends!(thread_state_and_locked_threads_follow_the_rules);

/// §10.3: an idle thread archives after `auto_archive_duration` with
/// nobody sending anything — the timer survives a restart — and a post
/// into it unarchives it; the server publishes both as `nexus.thread`, and
/// per-thread unread counts do not move.
async fn an_idle_thread_archives_on_time_across_a_restart_and_a_post_revives_it(backend: Backend) {
    let mut hs = start(backend).await;
    let (server, _alice, members) = server_with(&hs, &["bob", "carol"]).await;
    let [bob, carol] = &members[..] else { unreachable!() };
    let room = server.general.clone();
    let root = bob.send_message(&room, "Seed swap?").await;
    bob.set_state(&room, "nexus.thread", &root, thread("Seed swap", json!({ "auto_archive_duration": 60 }))).await;
    reply_in_thread(carol, &room, &root, "yes").await.expect_ok();
    reply_in_thread(carol, &room, &root, "Saturday?").await.expect_ok();
    let counts = |s: &Session| {
        let s = s.clone();
        let room = room.clone();
        let root = root.clone();
        async move { thread_unread(&s.sync_with(None, &thread_counts_filter()).await, &room, &root) }
    };
    assert_eq!(counts(bob).await, Unread::new(2, 0));
    assert_eq!(listed_roots(bob, &format!("/channels/{}/threads", enc(&room))).await, vec![root.clone()]);

    // The server goes down before the thread is due (60 "minutes" = 6 s).
    hs.restart().await;
    let state = eventually("the thread archives on time", WAIT, || async {
        let state = thread_state(bob, &room, &root).await;
        if state["archived"] == true { Ok(state) } else { Err(format!("{state}")) }
    })
    .await;
    assert_eq!(state["name"], "Seed swap", "only the archival changed: {state}");
    assert!(state["archive_timestamp"].is_u64(), "{state}");
    assert_eq!(counts(bob).await, Unread::new(2, 0), "archiving (sent as bob) did not read the thread for him");
    assert!(listed_roots(bob, &format!("/channels/{}/threads", enc(&room))).await.is_empty());
    assert_eq!(listed_roots(bob, &format!("/channels/{}/threads?archived=true", enc(&room))).await, vec![root.clone()]);
    assert!(listed_roots(bob, &format!("/servers/{}/threads", enc(&server.space))).await.is_empty());

    // A post into the archived, unlocked thread is accepted and revives it.
    reply_in_thread(carol, &room, &root, "still on?").await.expect_ok();
    eventually("the post unarchives the thread", WAIT, || async {
        let state = thread_state(bob, &room, &root).await;
        // `archived: false` is the default, left out of the content.
        if state["archived"] != true && state["archive_timestamp"].is_u64() { Ok(()) } else { Err(format!("{state}")) }
    })
    .await;
    assert_eq!(listed_roots(bob, &format!("/servers/{}/threads", enc(&server.space))).await, vec![root.clone()]);
    assert_eq!(counts(bob).await, Unread::new(3, 0));
    // The spec listing still has it (archival is Nexus's, not Matrix's).
    assert_eq!(spec_listed_roots(carol, &room, "participated").await, vec![root.clone()]);
    assert_eq!(spec_listed_roots(&_alice, &room, "participated").await, Vec::<String>::new());
}
both_backends!(an_idle_thread_archives_on_time_across_a_restart_and_a_post_revives_it);

/// §10.5: starting a private thread needs CREATE_PRIVATE_THREADS; it is
/// listed (spec `/threads` and the Nexus listings) for its members and
/// members with MANAGE_THREADS only.
async fn private_threads_are_listed_for_their_members_and_managers_only(backend: Backend) {
    let hs = start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "carol", "dave"]).await;
    let [bob, carol, dave] = &members[..] else { unreachable!() };
    let room = &server.general;
    let root = bob.send_message(room, "Just us").await;
    let reply = bob.set_state_reply(room, "nexus.thread", &root, thread("Secret", json!({ "private": true }))).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "CREATE_PRIVATE_THREADS");
    put_role(
        &alice,
        &server.space,
        "planners",
        json!({ "name": "Planners", "position": 1, "permissions": CREATE_PRIVATE_THREADS.to_string() }),
    )
    .await;
    assign_role(&alice, &server.space, &bob.user_id, "planners").await;
    eventually("bob may start a private thread", WAIT, || async {
        let reply =
            bob.set_state_reply(room, "nexus.thread", &root, thread("Secret", json!({ "private": true }))).await;
        if reply.status == 200 { Ok(()) } else { Err(format!("{reply:?}")) }
    })
    .await;
    reply_in_thread(carol, room, &root, "I'm in").await.expect_ok();

    let channel = format!("/channels/{}/threads", enc(room));
    for member in [&alice, bob, carol] {
        assert_eq!(listed_roots(member, &channel).await, vec![root.clone()], "{} is part of it", member.user_id);
        assert_eq!(spec_listed_roots(member, room, "all").await, vec![root.clone()], "{}", member.user_id);
    }
    assert!(listed_roots(dave, &channel).await.is_empty(), "dave is not part of the private thread");
    assert!(spec_listed_roots(dave, room, "all").await.is_empty());
    assert!(listed_roots(dave, &format!("/servers/{}/threads", enc(&server.space))).await.is_empty());
    // A public thread is listed for everyone.
    let open = dave.send_message(room, "Open question").await;
    reply_in_thread(dave, room, &open, "anyone?").await.expect_ok();
    assert_eq!(listed_roots(dave, &channel).await, vec![open.clone()]);
    // Bad query parameters are 400s.
    dave.get(&format!("{}?archived=maybe", path(&channel))).await.expect_error(400, "M_INVALID_PARAM");
}
both_backends!(private_threads_are_listed_for_their_members_and_managers_only);

/// Pins: `m.room.pinned_events` needs PIN_MESSAGES; the pins endpoint
/// serves the events a reader may read, and only the ids of the others.
async fn pins_need_pin_messages_and_are_served_with_their_events(backend: Backend) {
    let hs = start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "carol"]).await;
    let [bob, carol] = &members[..] else { unreachable!() };
    let room = &server.general;
    let first = bob.send_message(room, "Rules: be kind").await;
    let reply = bob.set_state_reply(room, "m.room.pinned_events", "", json!({ "pinned": [first] })).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "PIN_MESSAGES");
    put_role(
        &alice,
        &server.space,
        "pinners",
        json!({ "name": "Pinners", "position": 1, "permissions": PIN_MESSAGES.to_string() }),
    )
    .await;
    assign_role(&alice, &server.space, &bob.user_id, "pinners").await;
    eventually("bob may pin", WAIT, || async {
        let reply = bob.set_state_reply(room, "m.room.pinned_events", "", json!({ "pinned": [first] })).await;
        if reply.status == 200 { Ok(()) } else { Err(format!("{reply:?}")) }
    })
    .await;
    let reply = carol.set_state_reply(room, "m.room.pinned_events", "", json!({ "pinned": [] })).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "PIN_MESSAGES");

    let pins_path = path(&format!("/channels/{}/pins", enc(room)));
    let pins = carol.get(&pins_path).await.expect_ok()["pins"].clone();
    assert_eq!(pins[0]["event_id"], first.as_str(), "{pins}");
    assert_eq!(pins[0]["event"]["content"]["body"], "Rules: be kind", "{pins}");

    // History visibility: with `joined`, a later member sees the pin's id
    // but not the event from before they joined.
    alice.set_state(room, "m.room.history_visibility", "", json!({ "history_visibility": "joined" })).await;
    let secret = alice.send_message(room, "members-only notes").await;
    bob.set_state(room, "m.room.pinned_events", "", json!({ "pinned": [first, secret] })).await;
    let erin = hs.api().register("erin", PASSWORD).await;
    let code = invite_code(&alice, &server.space, json!({})).await;
    join_by_code(&erin, &code).await;
    let pins = erin.get(&pins_path).await.expect_ok()["pins"].clone();
    assert_eq!(pins.as_array().unwrap().len(), 2, "{pins}");
    assert_eq!(pins[1]["event_id"], secret.as_str());
    assert!(pins[1].get("event").is_none(), "erin may not read it: {pins}");
    let pins = carol.get(&pins_path).await.expect_ok()["pins"].clone();
    assert_eq!(pins[1]["event"]["content"]["body"], "members-only notes", "{pins}");
    // Outsiders get a 404.
    let outsider = hs.api().register("mallory", PASSWORD).await;
    outsider.get(&pins_path).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(pins_need_pin_messages_and_are_served_with_their_events);

fn meetup(creator: &str, start: u64, end: u64) -> Value {
    json!({
        "name": "Seed swap",
        "creator": creator,
        "start": start,
        "end": end,
        "location": "Community hall",
        "status": "scheduled",
    })
}

async fn upcoming(viewer: &Session, space: &str) -> Vec<Value> {
    viewer.get(&server_path(space, "/scheduled_events")).await.expect_ok()["events"].as_array().unwrap().clone()
}

async fn event_state(viewer: &Session, space: &str, id: &str) -> Value {
    viewer.state_content(space, "nexus.scheduled_event", id).await
}

/// §12, §14: members with CREATE_EVENTS create their own events, edit only
/// their own; MANAGE_EVENTS edits any; the status follows its lifecycle;
/// RSVPs name an existing event and the latest per member counts;
/// malformed content is a 400 naming the field.
async fn scheduled_events_and_rsvps_follow_the_rules(backend: Backend) {
    let hs = start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "carol"]).await;
    let [bob, carol] = &members[..] else { unreachable!() };
    let space = &server.space;
    let later = now_ms() + 3_600_000;

    let reply =
        bob.set_state_reply(space, "nexus.scheduled_event", "swap", meetup(&alice.user_id, later, later + 1)).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "creator");
    let mut bad = meetup(&bob.user_id, later, later);
    let reply = bob.set_state_reply(space, "nexus.scheduled_event", "swap", bad.clone()).await;
    reply.expect_error(400, "M_BAD_JSON");
    bad["end"] = json!(later + 1);
    bad["status"] = json!("soon");
    let reply = bob.set_state_reply(space, "nexus.scheduled_event", "swap", bad).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "status");
    let reply = bob
        .set_state_reply(space, "nexus.scheduled_event", "swap", json!({ "name": "x", "creator": bob.user_id, "start": later, "channel": "!nope:example.org", "status": "scheduled" }))
        .await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "channel");
    let reply = bob
        .set_state_reply(&server.general, "nexus.scheduled_event", "swap", meetup(&bob.user_id, later, later + 1))
        .await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "space");

    bob.set_state(space, "nexus.scheduled_event", "swap", meetup(&bob.user_id, later, later + 60_000)).await;
    // Carol (CREATE_EVENTS, not the creator) may not edit it; alice may.
    let mut edited = meetup(&bob.user_id, later, later + 120_000);
    let reply = carol.set_state_reply(space, "nexus.scheduled_event", "swap", edited.clone()).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "MANAGE_EVENTS");
    alice.set_state(space, "nexus.scheduled_event", "swap", edited.clone()).await;
    // Nobody changes the creator or skips the lifecycle.
    edited["creator"] = json!(alice.user_id);
    let reply = alice.set_state_reply(space, "nexus.scheduled_event", "swap", edited.clone()).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "creator");
    edited["creator"] = json!(bob.user_id);
    edited["status"] = json!("completed");
    let reply = bob.set_state_reply(space, "nexus.scheduled_event", "swap", edited).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "completed");

    // RSVPs: bob and carol interested, carol withdraws; unknown events and
    // malformed answers are 400s naming the field.
    let rsvp = |interested: Value| json!({ "scheduled_event": "swap", "interested": interested });
    bob.send_event(space, "nexus.scheduled_event.rsvp", rsvp(json!(true))).await;
    carol.send_event(space, "nexus.scheduled_event.rsvp", rsvp(json!(true))).await;
    carol.send_event(space, "nexus.scheduled_event.rsvp", rsvp(json!(false))).await;
    let reply = carol.send_event_reply(space, "nexus.scheduled_event.rsvp", rsvp(json!("yes"))).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "interested");
    let reply = carol
        .send_event_reply(space, "nexus.scheduled_event.rsvp", json!({ "scheduled_event": "nope", "interested": true }))
        .await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "scheduled_event");
    let reply = carol.send_event_reply(&server.general, "nexus.scheduled_event.rsvp", rsvp(json!(true))).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "space");

    let events = upcoming(&carol, space).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["id"], "swap");
    assert_eq!(events[0]["interested"], 1, "carol withdrew: {events:?}");
    assert_eq!(events[0]["you_interested"], false);
    assert_eq!(upcoming(bob, space).await[0]["you_interested"], true);
    // Cancelled events are not upcoming.
    let mut cancelled = meetup(&bob.user_id, later, later + 120_000);
    cancelled["status"] = json!("cancelled");
    bob.set_state(space, "nexus.scheduled_event", "swap", cancelled).await;
    assert!(upcoming(bob, space).await.is_empty());
    let outsider = hs.api().register("mallory", PASSWORD).await;
    outsider.get(&server_path(space, "/scheduled_events")).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(scheduled_events_and_rsvps_follow_the_rules);

/// §12.1: a scheduled event becomes active at its start and completed at
/// its end with nobody sending anything, across a restart; a recurring one
/// moves on to its next occurrence instead of completing.
async fn scheduled_events_change_status_on_time_across_a_restart(backend: Backend) {
    let mut hs = start(backend).await;
    let (server, _alice, members) = server_with(&hs, &["bob"]).await;
    let bob = &members[0];
    let space = server.space.clone();
    let start = now_ms() + 4_000;
    bob.set_state(&space, "nexus.scheduled_event", "call", meetup(&bob.user_id, start, start + 3_000)).await;
    let mut weekly = meetup(&bob.user_id, start, start + 3_000);
    weekly["recurrence"] = json!({ "frequency": "daily", "count": 2 });
    bob.set_state(&space, "nexus.scheduled_event", "daily", weekly).await;

    hs.restart().await;
    let status = |id: &'static str| {
        let bob = bob.clone();
        let space = space.clone();
        async move { event_state(&bob, &space, id).await }
    };
    eventually("the event starts on time", WAIT, || async {
        let state = status("call").await;
        if state["status"] == "active" { Ok(()) } else { Err(format!("{state}")) }
    })
    .await;
    assert!(now_ms() >= start, "not before its start");
    let ended = eventually("the event completes at its end", WAIT, || async {
        let state = status("call").await;
        if state["status"] == "completed" { Ok(state) } else { Err(format!("{state}")) }
    })
    .await;
    assert_eq!(ended["creator"], bob.user_id.as_str(), "{ended}");
    let next = eventually("the daily event moves on to tomorrow", WAIT, || async {
        let state = status("daily").await;
        if state["start"] == start + 86_400_000 { Ok(state) } else { Err(format!("{state}")) }
    })
    .await;
    assert_eq!(next["status"], "scheduled", "{next}");
    assert_eq!(next["end"], start + 3_000 + 86_400_000, "{next}");
    assert_eq!(next["recurrence"]["count"], 1, "{next}");
    let listed = upcoming(bob, &space).await;
    assert_eq!(listed.iter().map(|e| e["id"].as_str().unwrap()).collect::<Vec<_>>(), vec!["daily"], "{listed:?}");
}
both_backends!(scheduled_events_change_status_on_time_across_a_restart);

/// §10.3 across federation: a reply from another homeserver's member into
/// an archived, unlocked thread unarchives it — the hosting server, whose
/// members may write `nexus.thread`, publishes the update.
async fn a_remote_reply_unarchives_a_thread(host: &Homeserver, alice: &Session, carol: &Session) {
    let server = create_server(alice, "Threads travel").await;
    invite_and_join(alice, carol, &server.space, &host.server_name()).await;
    invite_and_join(alice, carol, &server.general, &host.server_name()).await;
    let room = &server.general;
    let root = alice.send_message(room, "Harvest plans").await;
    alice.set_state(room, "nexus.thread", &root, thread("Harvest", json!({ "auto_archive_duration": 60 }))).await;
    for viewer in [alice, carol] {
        eventually(&format!("{} sees the thread archived", viewer.user_id), WAIT, || async {
            let reply = viewer.get_state(room, "nexus.thread", &root).await;
            if reply.status == 200 && reply.json["archived"] == true { Ok(()) } else { Err(format!("{reply:?}")) }
        })
        .await;
    }
    reply_in_thread(carol, room, &root, "count me in").await.expect_ok();
    for viewer in [alice, carol] {
        eventually(&format!("{} sees the thread revived", viewer.user_id), WAIT, || async {
            let reply = viewer.get_state(room, "nexus.thread", &root).await;
            let revived = reply.json["archived"] != true && reply.json["archive_timestamp"].is_u64();
            if reply.status == 200 && revived { Ok(reply.json.clone()) } else { Err(format!("{reply:?}")) }
        })
        .await;
    }
    let state = alice.room_state(room).await;
    let sender = state.as_array().unwrap().iter().find(|e| e["type"] == "nexus.thread").unwrap()["sender"].clone();
    assert_eq!(sender, alice.user_id.as_str(), "the hosting server's member sent the update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_nexus_members_reply_unarchives_a_thread() {
    let ca = TestCa::new();
    let host = Homeserver::builder(Backend::RocksDb)
        .federation(&ca)
        .env("NEXUS__GUILDS__AUTO_ARCHIVE_MINUTE_MS", MINUTE_MS.to_string())
        .start();
    let (host, other) = tokio::join!(host, Homeserver::builder(Backend::RocksDb).federation(&ca).start());
    let alice = host.api().register("alice", PASSWORD).await;
    let carol = other.api().register("carol", PASSWORD).await;
    a_remote_reply_unarchives_a_thread(&host, &alice, &carol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synapse_members_reply_unarchives_a_thread() {
    let ca = TestCa::new();
    let host = Homeserver::builder(Backend::RocksDb)
        .federation(&ca)
        .env("NEXUS__GUILDS__AUTO_ARCHIVE_MINUTE_MS", MINUTE_MS.to_string())
        .start();
    let (synapse, host) = tokio::join!(Synapse::start(&ca), host);
    let Some(synapse) = synapse else { return };
    let alice = host.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    a_remote_reply_unarchives_a_thread(&host, &alice, &bob).await;
}
