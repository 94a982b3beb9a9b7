//! Event relationships — mirrors Complement's `room_relations`
//! (`TestRelations`, `TestRelationsPagination`); spec: client-server API
//! "Forming relationships between events", `GET /_matrix/client/v1/rooms/
//! {roomId}/relations/{eventId}[/{relType}[/{eventType}]]`, "Aggregations of
//! child events" and the server-side aggregation of `m.replace` (event
//! replacements), `m.thread` (threading), `m.reference` (reference
//! relations) and — not aggregated — `m.annotation`.

use std::collections::{BTreeSet, HashSet};

use nexus_complement::{Backend, Homeserver, Session, both_backends, enc, event_ids, room_path_v1};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// Alice's public room with bob joined.
async fn room_with_bob(hs: &Homeserver) -> (String, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id =
        alice.create_room(json!({"preset": "public_chat", "power_level_content_override": {"redact": 50}})).await;
    bob.join(&room_id).await;
    (room_id, alice, bob)
}

fn text(body: &str) -> Value {
    json!({"msgtype": "m.text", "body": body})
}

/// The content of an edit of `body` (`m.new_content` is what makes it valid).
fn edit(body: &str) -> Value {
    json!({"msgtype": "m.text", "body": format!("* {body}"), "m.new_content": text(body)})
}

/// `/relations/{eventId}` followed by `rest` (`/{relType}[/{eventType}]` or empty).
fn relations_path(room_id: &str, event_id: &str, rest: &str) -> String {
    room_path_v1(room_id, &format!("/relations/{}{rest}", enc(event_id)))
}

/// Pages through a relations endpoint (`query` without `from`), following
/// `next_batch` until it is left out, and returns every child in the order
/// served, asserting none is served twice.
async fn all_relations(viewer: &Session, path: &str, query: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..100 {
        let mut url = format!("{path}?{query}");
        if let Some(from) = &from {
            url.push_str(&format!("&from={}", enc(from)));
        }
        let reply = viewer.get(&url).await;
        events.extend(reply.expect_chunk().iter().cloned());
        match reply.token("next_batch") {
            Some(next) => from = Some(next),
            None => {
                let ids = event_ids(&events);
                let unique: HashSet<&String> = ids.iter().collect();
                assert_eq!(unique.len(), ids.len(), "a child was served twice: {ids:?}");
                return events;
            }
        }
    }
    panic!("{path} still returned a next_batch after 100 pages");
}

/// The same event as served by `/event`, `/messages` and `/context` — the
/// endpoints where "the server should include bundled aggregations".
async fn served_copies(viewer: &Session, room_id: &str, event_id: &str) -> Vec<(&'static str, Value)> {
    let by_event = viewer.get_event(room_id, event_id).await.expect_ok().clone();
    let timeline = viewer.paginate_all(room_id, "b", 50, None).await;
    let by_messages = timeline
        .into_iter()
        .find(|e| e["event_id"] == event_id)
        .unwrap_or_else(|| panic!("{event_id} is not in /messages"));
    let context = viewer.context(room_id, event_id, "limit=2").await;
    let by_context = context.expect_ok()["event"].clone();
    assert_eq!(by_context["event_id"], event_id, "{context:?}");
    vec![("/event", by_event), ("/messages", by_messages), ("/context", by_context)]
}

/// The bundled aggregation of `rel_type`, if any.
fn bundled<'a>(event: &'a Value, rel_type: &str) -> Option<&'a Value> {
    event.get("unsigned")?.get("m.relations")?.get(rel_type)
}

async fn relations_lists_children_by_rel_type_and_event_type(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let root = alice.send_message(&room_id, "root").await;
    let thread_message = bob.send_relation(&room_id, "m.room.message", "m.thread", &root, text("in thread")).await;
    let reaction = bob
        .send_event(
            &room_id,
            "m.reaction",
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": "👍"}}),
        )
        .await;
    let reference = alice.send_relation(&room_id, "m.room.message", "m.reference", &root, text("see above")).await;
    let thread_custom = alice.send_relation(&room_id, "com.example.note", "m.thread", &root, json!({"n": 1})).await;
    // Neither a child of the root nor of anything.
    alice.send_message(&room_id, "unrelated").await;
    let other_root = alice.send_message(&room_id, "another root").await;
    bob.send_relation(&room_id, "m.room.message", "m.thread", &other_root, text("elsewhere")).await;

    let all = all_relations(&bob, &relations_path(&room_id, &root, ""), "").await;
    let threads = all_relations(&bob, &relations_path(&room_id, &root, "/m.thread"), "").await;
    let thread_messages = all_relations(&bob, &relations_path(&room_id, &root, "/m.thread/m.room.message"), "").await;
    let annotations = all_relations(&alice, &relations_path(&room_id, &root, "/m.annotation"), "").await;
    let none = all_relations(&alice, &relations_path(&room_id, &root, "/m.replace"), "").await;

    // "The child events of the requested event, ordered topologically
    // most-recent first."
    assert_eq!(
        event_ids(&all),
        [thread_custom.as_str(), reference.as_str(), reaction.as_str(), thread_message.as_str()]
    );
    assert_eq!(event_ids(&threads), [thread_custom.as_str(), thread_message.as_str()]);
    assert_eq!(event_ids(&thread_messages), [thread_message.as_str()]);
    assert_eq!(event_ids(&annotations), [reaction.as_str()]);
    assert!(none.is_empty(), "{none:#?}");
    // "If the client did not specify the recurse parameter, this field must
    // be absent."
    let reply = bob.get(&relations_path(&room_id, &root, "")).await;
    assert!(reply.expect_ok().get("recursion_depth").is_none(), "{reply:?}");
    for event in &all {
        assert_eq!(event["room_id"], room_id.as_str(), "{event:#}");
        assert_eq!(event["content"]["m.relates_to"]["event_id"], root.as_str(), "{event:#}");
        assert!(event["sender"].is_string() && event["origin_server_ts"].is_u64(), "{event:#}");
    }
}
both_backends!(relations_lists_children_by_rel_type_and_event_type);

async fn relations_of_childless_event_is_an_empty_chunk(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;
    let lonely = alice.send_message(&room_id, "nobody answers").await;

    // "If no events are pointing to the parent or the pagination yields no
    // results, an empty chunk is returned."
    let reply = alice.get(&relations_path(&room_id, &lonely, "")).await;

    assert_eq!(reply.expect_chunk(), &Vec::<Value>::new(), "{reply:?}");
    assert_eq!(reply.token("next_batch"), None, "nothing more to fetch: {reply:?}");
}
both_backends!(relations_of_childless_event_is_an_empty_chunk);

async fn relations_pagination(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let root = alice.send_message(&room_id, "root").await;
    let mut replies = Vec::new();
    for i in 1..=10 {
        let author = if i % 2 == 0 { &alice } else { &bob };
        replies.push(author.send_relation(&room_id, "m.room.message", "m.thread", &root, text(&format!("r{i}"))).await);
    }
    let path = relations_path(&room_id, &root, "/m.thread");

    let first = alice.get(&format!("{path}?limit=3")).await;
    let next = first.token("next_batch").unwrap_or_else(|| panic!("ten children, three served: {first:?}"));
    let second = alice.get(&format!("{path}?limit=3&from={}", enc(&next))).await;
    let backwards = all_relations(&alice, &path, "limit=3").await;
    let forwards = all_relations(&alice, &path, "limit=4&dir=f").await;

    let newest_first: Vec<String> = replies.iter().rev().cloned().collect();
    assert_eq!(event_ids(first.expect_chunk()), newest_first[0..3], "{first:?}");
    assert_eq!(event_ids(second.expect_chunk()), newest_first[3..6], "{second:?}");
    assert_eq!(event_ids(&backwards), newest_first);
    // "If this is set to f, events will be returned in chronological order".
    assert_eq!(event_ids(&forwards), replies);
    // A later page is not the start of the result set: "The absence of this
    // token means this is the start of the result set".
    assert!(second.token("prev_batch").is_some(), "a second page without prev_batch: {second:?}");
}
both_backends!(relations_pagination);

async fn relations_only_returns_visible_children(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    alice.set_state(&room_id, "m.room.history_visibility", "", json!({"history_visibility": "joined"})).await;
    let root = alice.send_message(&room_id, "root").await;
    let seen_before = alice.send_relation(&room_id, "m.room.message", "m.thread", &root, text("r1")).await;
    bob.leave(&room_id).await;
    let missed = alice.send_relation(&room_id, "m.room.message", "m.thread", &root, text("r2, bob is away")).await;
    bob.join(&room_id).await;
    let seen_after = alice.send_relation(&room_id, "m.room.message", "m.thread", &root, text("r3")).await;

    let for_bob = all_relations(&bob, &relations_path(&room_id, &root, ""), "").await;
    let for_alice = all_relations(&alice, &relations_path(&room_id, &root, ""), "").await;

    // History visibility `joined`: bob was not in the room when r2 was sent.
    assert_eq!(event_ids(&for_bob), [seen_after.as_str(), seen_before.as_str()]);
    assert_eq!(event_ids(&for_alice), [seen_after.as_str(), missed.as_str(), seen_before.as_str()]);
}
both_backends!(relations_only_returns_visible_children);

async fn relations_of_unknown_or_invisible_parent_is_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "initial_state": [{"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}],
        }))
        .await;
    let before_bob = alice.send_message(&room_id, "before bob").await;
    alice.send_relation(&room_id, "m.room.message", "m.thread", &before_bob, text("reply")).await;
    bob.join(&room_id).await;

    // "404: The parent event was not found or the user does not have
    // permission to read this event".
    let unknown = "$doesnotexist0000000000000000000000000000000";
    bob.get(&relations_path(&room_id, unknown, "")).await.expect_error(404, "M_NOT_FOUND");
    bob.get(&relations_path(&room_id, &before_bob, "")).await.expect_error(404, "M_NOT_FOUND");
    bob.get(&relations_path(&room_id, &before_bob, "/m.thread")).await.expect_error(404, "M_NOT_FOUND");
    // Not in the room at all: not found, or the room-level 403 of the other
    // room endpoints.
    let reply = charlie.get(&relations_path(&room_id, &before_bob, "")).await;
    reply.expect_error_in(reply.status, &["M_NOT_FOUND", "M_FORBIDDEN"]);
    assert!(reply.status == 404 || reply.status == 403, "{reply:?}");
}
both_backends!(relations_of_unknown_or_invisible_parent_is_not_found);

// ----- bundled aggregations -----

async fn latest_edit_is_bundled_as_m_replace(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let original = alice.send_message(&room_id, "I like cake").await;
    let first_edit = alice.send_relation(&room_id, "m.room.message", "m.replace", &original, edit("I like pie")).await;
    let second_edit =
        alice.send_relation(&room_id, "m.room.message", "m.replace", &original, edit("I like chocolate cake")).await;
    // "The most recent event is determined by comparing origin_server_ts; if
    // two or more replacement events have identical origin_server_ts, the
    // event with the lexicographically largest event_id" wins.
    let ts = |event: &Value| event["origin_server_ts"].as_u64().expect("origin_server_ts");
    let first = alice.get_event(&room_id, &first_edit).await.expect_ok().clone();
    let second = alice.get_event(&room_id, &second_edit).await.expect_ok().clone();
    let latest = if (ts(&second), &second_edit) > (ts(&first), &first_edit) { &second_edit } else { &first_edit };

    for (endpoint, event) in served_copies(&bob, &room_id, &original).await {
        let replace = bundled(&event, "m.replace").unwrap_or_else(|| panic!("{endpoint}: no m.replace: {event:#}"));
        // "formatted as normal": the whole replacement event.
        assert_eq!(replace["event_id"], latest.as_str(), "{endpoint}: {event:#}");
        assert_eq!(replace["type"], "m.room.message", "{endpoint}: {event:#}");
        assert_eq!(replace["sender"], alice.user_id.as_str(), "{endpoint}: {event:#}");
        assert!(replace["origin_server_ts"].is_u64(), "{endpoint}: {event:#}");
        assert_eq!(replace["content"]["m.relates_to"]["rel_type"], "m.replace", "{endpoint}: {event:#}");
        assert!(replace["content"]["m.new_content"].is_object(), "{endpoint}: {event:#}");
        // "servers should not replace the content with that of the
        // replacement event."
        assert_eq!(event["content"]["body"], "I like cake", "{endpoint}: {event:#}");
    }
}
both_backends!(latest_edit_is_bundled_as_m_replace);

async fn invalid_edits_are_not_bundled(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    // "If any of these criteria are not satisfied, implementations should
    // ignore the replacement event (... the edit should not be included in
    // the server-side aggregation)." Per criterion, one original with only
    // an invalid edit, and one whose valid edit is followed by an invalid one.
    let cases = [
        ("must have the same sender", &bob, "m.room.message", edit("bob's now")),
        ("must have an m.new_content property", &alice, "m.room.message", text("* no new content")),
        ("must have the same type", &alice, "com.example.other", edit("another type")),
    ];
    let mut expectations = Vec::new();
    for (criterion, editor, event_type, content) in cases {
        let alone = alice.send_message(&room_id, criterion).await;
        editor.send_relation(&room_id, event_type, "m.replace", &alone, content.clone()).await;
        expectations.push((criterion, alone, None));
        let edited = alice.send_message(&room_id, criterion).await;
        let valid = alice.send_relation(&room_id, "m.room.message", "m.replace", &edited, edit("valid")).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        editor.send_relation(&room_id, event_type, "m.replace", &edited, content).await;
        expectations.push((criterion, edited, Some(valid)));
    }

    let mut wrong = Vec::new();
    for (criterion, original, expected) in expectations {
        for (endpoint, event) in served_copies(&alice, &room_id, &original).await {
            let got = bundled(&event, "m.replace").map(|e| e["event_id"].as_str().unwrap_or_default().to_owned());
            if got != expected {
                wrong.push(format!(
                    "{endpoint}: expected {expected:?}, bundled {got:?} (the invalid replacement {criterion})"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
both_backends!(invalid_edits_are_not_bundled);

async fn redacting_the_latest_edit_bundles_the_previous_one(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let original = alice.send_message(&room_id, "v1").await;
    let first_edit = alice.send_relation(&room_id, "m.room.message", "m.replace", &original, edit("v2")).await;
    // Later by origin_server_ts, whatever the event ids.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second_edit = alice.send_relation(&room_id, "m.room.message", "m.replace", &original, edit("v3")).await;

    alice.redact(&room_id, &second_edit, json!({})).await.expect_ok();

    // "When an event using a rel_type of m.replace is redacted, it removes
    // that edit revision": the server "needs to de-aggregate" it.
    for (endpoint, event) in served_copies(&bob, &room_id, &original).await {
        let replace = bundled(&event, "m.replace").unwrap_or_else(|| panic!("{endpoint}: no m.replace: {event:#}"));
        assert_eq!(replace["event_id"], first_edit.as_str(), "{endpoint}: {event:#}");
    }
}
both_backends!(redacting_the_latest_edit_bundles_the_previous_one);

async fn redacted_original_has_no_bundled_edit(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let original = alice.send_message(&room_id, "regrettable").await;
    let edited =
        alice.send_relation(&room_id, "m.room.message", "m.replace", &original, edit("still regrettable")).await;
    let before = bob.get_event(&room_id, &original).await;
    assert_eq!(bundled(before.expect_ok(), "m.replace").map(|e| &e["event_id"]), Some(&json!(edited)), "{before:?}");

    alice.redact(&room_id, &original, json!({})).await.expect_ok();

    // "If the original event is redacted, any m.replace relationship should
    // not be bundled with it".
    for (endpoint, event) in served_copies(&bob, &room_id, &original).await {
        assert_eq!(event["content"], json!({}), "{endpoint}: {event:#}");
        assert!(bundled(&event, "m.replace").is_none(), "{endpoint}: {event:#}");
    }
    // "the subsequent edits are not actually redacted themselves".
    let edit_event = bob.get_event(&room_id, &edited).await;
    assert_eq!(edit_event.expect_ok()["content"]["m.new_content"]["body"], "still regrettable", "{edit_event:?}");
}
both_backends!(redacted_original_has_no_bundled_edit);

async fn thread_root_has_bundled_thread_summary(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    charlie.join(&room_id).await;
    let root = alice.send_message(&room_id, "Hello world! How are you?").await;
    bob.send_relation(&room_id, "m.room.message", "m.thread", &root, text("okay")).await;
    let latest = bob.send_relation(&room_id, "m.room.message", "m.thread", &root, text("and you?")).await;

    // `current_user_participated` is true for the root's sender and for the
    // senders of m.thread children; charlie is neither.
    for (viewer, participated) in [(&alice, true), (&bob, true), (&charlie, false)] {
        for (endpoint, event) in served_copies(viewer, &room_id, &root).await {
            let thread = bundled(&event, "m.thread").unwrap_or_else(|| panic!("{endpoint}: no m.thread: {event:#}"));
            assert_eq!(thread["count"], 2, "{endpoint}: {event:#}");
            assert_eq!(thread["current_user_participated"], participated, "{viewer:?} {endpoint}: {event:#}");
            // "It should be serialized in the same form as the event itself."
            let latest_event = &thread["latest_event"];
            assert_eq!(latest_event["event_id"], latest.as_str(), "{endpoint}: {event:#}");
            assert_eq!(latest_event["sender"], bob.user_id.as_str(), "{endpoint}: {event:#}");
            assert_eq!(latest_event["type"], "m.room.message", "{endpoint}: {event:#}");
            assert_eq!(latest_event["content"]["body"], "and you?", "{endpoint}: {event:#}");
            assert!(latest_event["origin_server_ts"].is_u64(), "{endpoint}: {event:#}");
        }
    }
}
both_backends!(thread_root_has_bundled_thread_summary);

async fn redacting_a_thread_reply_decrements_the_count(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let root = alice.send_message(&room_id, "root").await;
    alice.send_relation(&room_id, "m.room.message", "m.thread", &root, text("r1")).await;
    let second = alice.send_relation(&room_id, "m.room.message", "m.thread", &root, text("r2")).await;
    let third = alice.send_relation(&room_id, "m.room.message", "m.thread", &root, text("r3")).await;

    alice.redact(&room_id, &third, json!({})).await.expect_ok();

    // "when a child event is redacted then the relationship is broken.
    // Therefore, the server needs to de-aggregate".
    for (endpoint, event) in served_copies(&bob, &room_id, &root).await {
        let thread = bundled(&event, "m.thread").unwrap_or_else(|| panic!("{endpoint}: no m.thread: {event:#}"));
        assert_eq!(thread["count"], 2, "{endpoint}: {event:#}");
        assert_eq!(thread["latest_event"]["event_id"], second.as_str(), "{endpoint}: {event:#}");
    }
    let children = all_relations(&bob, &relations_path(&room_id, &root, "/m.thread"), "").await;
    assert!(!event_ids(&children).contains(&third), "a redacted child still relates: {children:#?}");
}
both_backends!(redacting_a_thread_reply_decrements_the_count);

async fn references_are_bundled_as_a_chunk_of_event_ids(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let parent = alice.send_message(&room_id, "the parent").await;
    let one = bob.send_relation(&room_id, "m.room.message", "m.reference", &parent, text("one")).await;
    let two = alice.send_relation(&room_id, "com.example.ref", "m.reference", &parent, json!({})).await;

    for (endpoint, event) in served_copies(&bob, &room_id, &parent).await {
        let reference =
            bundled(&event, "m.reference").unwrap_or_else(|| panic!("{endpoint}: no m.reference: {event:#}"));
        let chunk = reference["chunk"].as_array().unwrap_or_else(|| panic!("{endpoint}: no chunk: {event:#}"));
        // "Currently, only a single event_id field is present on the events in
        // the chunk."
        let ids: BTreeSet<&str> = chunk.iter().map(|e| e["event_id"].as_str().expect("an event_id")).collect();
        assert_eq!(ids, BTreeSet::from([one.as_str(), two.as_str()]), "{endpoint}: {event:#}");
        assert_eq!(chunk.len(), 2, "{endpoint}: {event:#}");
    }
}
both_backends!(references_are_bundled_as_a_chunk_of_event_ids);

async fn annotations_are_not_bundled(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let parent = alice.send_message(&room_id, "react to me").await;
    for (who, key) in [(&bob, "👍"), (&alice, "👍"), (&bob, "🎉")] {
        who.send_event(
            &room_id,
            "m.reaction",
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": parent, "key": key}}),
        )
        .await;
    }

    // "m.annotation relationships are not aggregated by the server. In other
    // words, m.annotation is not included in the m.relations property."
    for (endpoint, event) in served_copies(&bob, &room_id, &parent).await {
        assert!(bundled(&event, "m.annotation").is_none(), "{endpoint}: {event:#}");
    }
    // They are still children of the parent.
    let children = all_relations(&alice, &relations_path(&room_id, &parent, "/m.annotation/m.reaction"), "").await;
    assert_eq!(children.len(), 3, "{children:#?}");
}
both_backends!(annotations_are_not_bundled);

async fn relations_chunk_events_carry_their_own_aggregations(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let root = alice.send_message(&room_id, "root").await;
    let reply = bob.send_relation(&room_id, "m.room.message", "m.thread", &root, text("typo")).await;
    let mut fix = edit("no typo");
    fix["m.new_content"]["m.relates_to"] = json!({"rel_type": "m.thread", "event_id": root});
    let fixed = bob.send_relation(&room_id, "m.room.message", "m.replace", &reply, fix).await;

    // GET /relations is one of the endpoints with bundled aggregations.
    let children = all_relations(&alice, &relations_path(&room_id, &root, "/m.thread"), "").await;

    assert_eq!(event_ids(&children), [reply.as_str()]);
    let replace = bundled(&children[0], "m.replace").unwrap_or_else(|| panic!("no m.replace: {children:#?}"));
    assert_eq!(replace["event_id"], fixed.as_str(), "{children:#?}");
}
both_backends!(relations_chunk_events_carry_their_own_aggregations);

async fn relations_recurse_includes_indirect_children(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let root = alice.send_message(&room_id, "root").await;
    let reply = bob.send_relation(&room_id, "m.room.message", "m.thread", &root, text("reply")).await;
    let edit_of_reply = bob.send_relation(&room_id, "m.room.message", "m.replace", &reply, edit("edited reply")).await;
    let reaction_to_edit = alice
        .send_event(
            &room_id,
            "m.reaction",
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": edit_of_reply, "key": "👀"}}),
        )
        .await;
    let path = relations_path(&room_id, &root, "");

    let direct = all_relations(&alice, &path, "recurse=false").await;
    let recursive = all_relations(&alice, &path, "recurse=true").await;
    let first = alice.get(&format!("{path}?recurse=true")).await;

    assert_eq!(event_ids(&direct), [reply.as_str()]);
    // "Homeservers SHOULD traverse at least 3 levels of relationships."
    let ids: BTreeSet<String> = event_ids(&recursive).into_iter().collect();
    assert_eq!(ids, BTreeSet::from([reply.clone(), edit_of_reply.clone(), reaction_to_edit.clone()]), "{recursive:#?}");
    // "If the recurse parameter was supplied by the client, this response
    // field is mandatory".
    let depth = first.expect_ok()["recursion_depth"].as_u64();
    assert!(depth.is_some_and(|d| d >= 3), "recursion_depth: {first:?}");
    // With a relation type, only children of that type, at any depth.
    let threads = all_relations(&alice, &relations_path(&room_id, &root, "/m.thread"), "recurse=true").await;
    assert_eq!(event_ids(&threads), [reply.as_str()]);
}
both_backends!(relations_recurse_includes_indirect_children);

/// Spec: "Avoiding duplicate annotations" — a second annotation with the
/// same event type and key by the same user is refused with 400
/// `M_DUPLICATE_ANNOTATION`, until the first is redacted; other users and
/// other keys are unaffected.
async fn a_duplicate_annotation_is_refused_until_the_first_is_redacted(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let parent = alice.send_event(&room_id, "m.room.message", text("react to me")).await;
    let reaction = |key: &str| json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": parent, "key": key}});

    let first = alice.send_event(&room_id, "m.reaction", reaction("👍")).await;
    let duplicate = alice.send_event_reply(&room_id, "m.reaction", reaction("👍")).await;
    duplicate.expect_error(400, "M_DUPLICATE_ANNOTATION");

    // Another key, another user: both fine.
    alice.send_event(&room_id, "m.reaction", reaction("🎉")).await;
    bob.send_event(&room_id, "m.reaction", reaction("👍")).await;

    // Once redacted, the key may be used again.
    alice.redact(&room_id, &first, json!({})).await.expect_ok();
    alice.send_event(&room_id, "m.reaction", reaction("👍")).await;
}
both_backends!(a_duplicate_annotation_is_refused_until_the_first_is_redacted);
