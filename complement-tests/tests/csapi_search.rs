//! Server-side search — Complement's `apidoc_search` (`TestSearch`) and
//! the rest of the spec's `POST /_matrix/client/v3/search`: `keys`,
//! `filter`, `order_by`, `event_context` (with `profile_info`),
//! `include_state`, `groupings`, `highlights`, `count`, `next_batch`;
//! history visibility on every hit; edits and redactions; typos; bad
//! input; and the index surviving kill -9 and a rebuild (`nexus admin
//! search reindex`).

use std::collections::HashSet;

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

async fn search(session: &Session, criteria: Value) -> Reply {
    session.post("/_matrix/client/v3/search", json!({ "search_categories": { "room_events": criteria } })).await
}

async fn search_page(session: &Session, criteria: Value, next_batch: &str) -> Reply {
    let path = format!("/_matrix/client/v3/search?next_batch={}", nexus_complement::enc(next_batch));
    session.post(&path, json!({ "search_categories": { "room_events": criteria } })).await
}

fn room_events(reply: &Reply) -> &Value {
    &reply.expect_ok()["search_categories"]["room_events"]
}

/// The event ids of the results, in order.
fn result_ids(reply: &Reply) -> Vec<String> {
    room_events(reply)["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {reply:?}"))
        .iter()
        .map(|r| r["result"]["event_id"].as_str().expect("result.event_id").to_owned())
        .collect()
}

async fn two_users(hs: &Homeserver) -> (Session, Session) {
    (hs.api().register("alice", PASSWORD).await, hs.api().register("bob", PASSWORD).await)
}

async fn search_finds_an_event_by_body(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = two_users(&hs).await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let hit = alice.send_message(&room, "hello world").await;
    alice.send_message(&room, "something else entirely").await;

    let reply = search(&bob, json!({"search_term": "hello"})).await;
    assert_eq!(result_ids(&reply), vec![hit.clone()], "{reply:?}");
    let events = room_events(&reply);
    assert_eq!(events["count"], 1, "{reply:?}");
    assert!(events["highlights"].as_array().unwrap().contains(&json!("hello")), "{reply:?}");
    let result = &events["results"][0];
    assert!(result["rank"].is_number(), "{reply:?}");
    assert_eq!(result["result"]["room_id"], room.as_str());
    assert_eq!(result["result"]["content"]["body"], "hello world");
    assert_eq!(result["result"]["sender"], alice.user_id.as_str());
    assert!(events.get("next_batch").is_none(), "one result, no more pages: {reply:?}");
    // No search_categories asked for: none answered.
    let empty = bob.post("/_matrix/client/v3/search", json!({"search_categories": {}})).await;
    assert_eq!(empty.expect_ok()["search_categories"], json!({}), "{empty:?}");
}
both_backends!(search_finds_an_event_by_body);

async fn search_returns_context_around_results(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = two_users(&hs).await;
    alice
        .put(&format!("/_matrix/client/v3/profile/{}/displayname", alice.user_id), json!({"displayname": "Alice A"}))
        .await
        .expect_ok();
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let mut before = Vec::new();
    for i in 0..3 {
        before.push(alice.send_message(&room, &format!("before {i}")).await);
    }
    let hit = alice.send_message(&room, "the needle").await;
    let mut after = Vec::new();
    for i in 0..3 {
        after.push(bob.send_message(&room, &format!("after {i}")).await);
    }

    let reply = search(
        &bob,
        json!({"search_term": "needle", "event_context": {"before_limit": 2, "after_limit": 2, "include_profile": true}}),
    )
    .await;
    assert_eq!(result_ids(&reply), vec![hit], "{reply:?}");
    let context = &room_events(&reply)["results"][0]["context"];
    let ids = |key: &str| -> Vec<String> {
        context[key].as_array().unwrap().iter().map(|e| e["event_id"].as_str().unwrap().to_owned()).collect()
    };
    // Before: newest first; after: oldest first (as /context orders them).
    assert_eq!(ids("events_before"), vec![before[2].clone(), before[1].clone()], "{context}");
    assert_eq!(ids("events_after"), vec![after[0].clone(), after[1].clone()], "{context}");
    assert!(context["start"].is_string() && context["end"].is_string(), "{context}");
    assert_eq!(context["profile_info"][alice.user_id.as_str()]["displayname"], "Alice A", "{context}");
    assert!(context["profile_info"].get(bob.user_id.as_str()).is_some(), "{context}");
    // The tokens page on from the context, as /messages tokens.
    let end = context["end"].as_str().unwrap();
    let next = bob.messages(&room, &format!("dir=f&from={end}")).await;
    let next_ids: Vec<&str> = next.expect_chunk().iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert_eq!(next_ids, vec![after[2].as_str()], "{next:?}");
}
both_backends!(search_returns_context_around_results);

async fn search_back_paginates_without_repeats(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, _bob) = two_users(&hs).await;
    let room = alice.create_room(json!({})).await;
    let mut sent = Vec::new();
    for i in 0..25 {
        sent.push(alice.send_message(&room, &format!("Message number {i}")).await);
    }
    for order_by in ["recent", "rank"] {
        let criteria = json!({"search_term": "message", "order_by": order_by, "filter": {"limit": 10}});
        let mut seen = Vec::new();
        let mut reply = search(&alice, criteria.clone()).await;
        loop {
            assert_eq!(room_events(&reply)["count"], 25, "{order_by}: {reply:?}");
            let page = result_ids(&reply);
            assert!(page.len() <= 10, "{order_by}: {reply:?}");
            seen.extend(page);
            match room_events(&reply)["next_batch"].as_str() {
                Some(next) => reply = search_page(&alice, criteria.clone(), next).await,
                None => break,
            }
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!((seen.len(), unique.len()), (25, 25), "{order_by}: {seen:?}");
        if order_by == "recent" {
            let mut newest_first = sent.clone();
            newest_first.reverse();
            assert_eq!(seen, newest_first, "recent is newest first");
        }
    }
}
both_backends!(search_back_paginates_without_repeats);

async fn search_works_across_an_upgraded_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, _bob) = two_users(&hs).await;
    let old_room = alice.create_room(json!({"room_version": "10"})).await;
    let before = alice.send_message(&old_room, "Message before upgrade").await;
    let upgraded =
        alice.post(&format!("/_matrix/client/v3/rooms/{old_room}/upgrade"), json!({"new_version": "12"})).await;
    let new_room = upgraded.expect_ok()["replacement_room"].as_str().unwrap().to_owned();
    let after = alice.send_message(&new_room, "Message after upgrade").await;

    let reply = search(
        &alice,
        json!({"search_term": "upgrade", "filter": {"rooms": [old_room, new_room]}, "order_by": "recent"}),
    )
    .await;
    assert_eq!(result_ids(&reply), vec![after, before], "{reply:?}");
}
both_backends!(search_works_across_an_upgraded_room);

async fn search_never_returns_redacted_events(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, _bob) = two_users(&hs).await;
    let room = alice.create_room(json!({})).await;
    let kept = alice.send_message(&room, "This message is not redacted").await;
    let redacted = alice.send_message(&room, "This message is redacted").await;
    alice.redact(&room, &redacted, json!({})).await.expect_ok();
    for order_by in ["rank", "recent"] {
        let reply = search(&alice, json!({"search_term": "this message", "order_by": order_by})).await;
        assert_eq!(result_ids(&reply), vec![kept.clone()], "{order_by}: {reply:?}");
    }
}
both_backends!(search_never_returns_redacted_events);

async fn search_follows_history_visibility(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = two_users(&hs).await;
    let carol = hs.api().register("carol", PASSWORD).await;
    // "joined": members read from their join on.
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    alice.set_state(&room, "m.room.history_visibility", "", json!({"history_visibility": "joined"})).await;
    alice.send_message(&room, "secret before bob").await;
    bob.join(&room).await;
    let while_in = alice.send_message(&room, "secret while bob is in").await;
    assert_eq!(result_ids(&search(&bob, json!({"search_term": "secret"})).await), vec![while_in.clone()]);
    // After leaving, bob still finds what he could read, and nothing newer.
    bob.leave(&room).await;
    alice.send_message(&room, "secret after bob left").await;
    assert_eq!(result_ids(&search(&bob, json!({"search_term": "secret"})).await), vec![while_in]);
    // Never joined: nothing, even naming the room.
    let never = search(&carol, json!({"search_term": "secret", "filter": {"rooms": [room]}})).await;
    assert!(result_ids(&never).is_empty(), "{never:?}");
    assert_eq!(room_events(&never)["count"], 0);

    // "world_readable" (and "shared"): a member finds history from before
    // their join.
    let open = alice.create_room(json!({"preset": "public_chat"})).await;
    alice.set_state(&open, "m.room.history_visibility", "", json!({"history_visibility": "world_readable"})).await;
    let early = alice.send_message(&open, "public record").await;
    carol.join(&open).await;
    assert_eq!(result_ids(&search(&carol, json!({"search_term": "record"})).await), vec![early]);
    // Forgetting a room takes its history out of search.
    bob.post(&format!("/_matrix/client/v3/rooms/{room}/forget"), json!({})).await.expect_ok();
    assert!(result_ids(&search(&bob, json!({"search_term": "secret"})).await).is_empty());
}
both_backends!(search_follows_history_visibility);

async fn search_sees_edits_and_redacted_edits(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = two_users(&hs).await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let original = alice.send_message(&room, "meet at the harbour").await;
    let edit = alice
        .send_relation(
            &room,
            "m.room.message",
            "m.replace",
            &original,
            json!({
                "msgtype": "m.text",
                "body": "* meet at the lighthouse",
                "m.new_content": {"msgtype": "m.text", "body": "meet at the lighthouse"},
            }),
        )
        .await;
    // The edited text finds the original event; the old text no longer
    // does; the edit itself is not a separate result.
    let found = search(&bob, json!({"search_term": "lighthouse"})).await;
    assert_eq!(result_ids(&found), vec![original.clone()]);
    assert_eq!(room_events(&found)["highlights"], json!(["lighthouse"]), "the edit's words are lit: {found:?}");
    assert!(result_ids(&search(&bob, json!({"search_term": "harbour"})).await).is_empty());
    // Someone else's "edit" changes nothing.
    bob.send_relation(
        &room,
        "m.room.message",
        "m.replace",
        &original,
        json!({
            "msgtype": "m.text", "body": "* vandalised", "m.new_content": {"msgtype": "m.text", "body": "vandalised"},
        }),
    )
    .await;
    assert!(result_ids(&search(&bob, json!({"search_term": "vandalised"})).await).is_empty());
    // Redacting the edit brings the original text back.
    alice.redact(&room, &edit, json!({})).await.expect_ok();
    assert_eq!(result_ids(&search(&bob, json!({"search_term": "harbour"})).await), vec![original.clone()]);
    assert!(result_ids(&search(&bob, json!({"search_term": "lighthouse"})).await).is_empty());
}
both_backends!(search_sees_edits_and_redacted_edits);

async fn search_tolerates_typos_and_stems(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, _bob) = two_users(&hs).await;
    let room = alice.create_room(json!({})).await;
    let receive = alice.send_message(&room, "Did you receive the package?").await;
    let running = alice.send_message(&room, "She was running late").await;
    alice.send_message(&room, "cat").await;

    let reply = search(&alice, json!({"search_term": "recieve"})).await;
    assert_eq!(result_ids(&reply), vec![receive.clone()], "{reply:?}");
    assert_eq!(room_events(&reply)["highlights"], json!(["receive"]), "{reply:?}");
    assert_eq!(result_ids(&search(&alice, json!({"search_term": "runs"})).await), vec![running]);
    // Short words take no typos ("cat" is not "car").
    assert!(result_ids(&search(&alice, json!({"search_term": "car"})).await).is_empty());
    // Phrases and exclusions.
    assert_eq!(result_ids(&search(&alice, json!({"search_term": "\"the package\" -running"})).await), vec![receive]);
}
both_backends!(search_tolerates_typos_and_stems);

async fn search_filters_keys_groups_and_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = two_users(&hs).await;
    let first = alice.create_room(json!({"preset": "public_chat", "name": "Gardening club"})).await;
    let second = alice.create_room(json!({"preset": "public_chat", "topic": "gardening tips"})).await;
    bob.join(&first).await;
    bob.join(&second).await;
    let from_alice = alice.send_message(&first, "gardening today").await;
    let from_bob = bob.send_message(&second, "gardening tomorrow").await;

    let ids = |reply: &Reply| -> HashSet<String> { result_ids(reply).into_iter().collect() };
    let only = |ids: &[&String]| -> HashSet<String> { ids.iter().map(|s| s.to_string()).collect() };
    let body = |filter: Value| json!({"search_term": "gardening", "keys": ["content.body"], "filter": filter});
    assert_eq!(ids(&search(&bob, body(json!({}))).await), only(&[&from_alice, &from_bob]));
    assert_eq!(ids(&search(&bob, body(json!({"rooms": [first]}))).await), only(&[&from_alice]));
    assert_eq!(ids(&search(&bob, body(json!({"not_rooms": [first]}))).await), only(&[&from_bob]));
    assert_eq!(ids(&search(&bob, body(json!({"senders": [bob.user_id]}))).await), only(&[&from_bob]));
    assert_eq!(ids(&search(&bob, body(json!({"not_senders": [bob.user_id]}))).await), only(&[&from_alice]));
    assert_eq!(ids(&search(&bob, body(json!({"types": ["m.room.*"]}))).await).len(), 2);
    assert!(ids(&search(&bob, body(json!({"types": ["m.sticker"]}))).await).is_empty());
    // Room names and topics are searchable through their keys.
    let names = search(&bob, json!({"search_term": "gardening", "keys": ["content.name"]})).await;
    let name_events = room_events(&names)["results"].as_array().unwrap().clone();
    assert_eq!(name_events.len(), 1, "{names:?}");
    assert_eq!(name_events[0]["result"]["type"], "m.room.name");
    let topics = search(&bob, json!({"search_term": "gardening", "keys": ["content.topic"]})).await;
    assert_eq!(room_events(&topics)["results"][0]["result"]["type"], "m.room.topic", "{topics:?}");

    // Groupings and state.
    let reply = search(
        &bob,
        json!({
            "search_term": "gardening", "keys": ["content.body"], "include_state": true,
            "groupings": {"group_by": [{"key": "room_id"}, {"key": "sender"}]},
        }),
    )
    .await;
    let events = room_events(&reply);
    assert_eq!(events["groups"]["room_id"][first.as_str()]["results"], json!([from_alice]), "{reply:?}");
    assert_eq!(events["groups"]["sender"][bob.user_id.as_str()]["results"], json!([from_bob]), "{reply:?}");
    assert!(events["groups"]["room_id"][second.as_str()]["order"].is_number());
    let state = events["state"][first.as_str()].as_array().expect("state of a room with a result");
    assert!(state.iter().any(|e| e["type"] == "m.room.create"), "{reply:?}");
}
both_backends!(search_filters_keys_groups_and_state);

async fn search_refuses_bad_input(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, _bob) = two_users(&hs).await;
    let raw = alice
        .api
        .raw(reqwest::Method::POST, "/_matrix/client/v3/search")
        .bearer_auth(&alice.access_token)
        .body("{not json");
    alice.api.send(raw).await.expect_error(400, "M_NOT_JSON");
    alice.post("/_matrix/client/v3/search", json!({})).await.expect_error(400, "M_BAD_JSON");
    search(&alice, json!({"search_term": 5})).await.expect_error(400, "M_BAD_JSON");
    search(&alice, json!({})).await.expect_error(400, "M_BAD_JSON");
    search(&alice, json!({"search_term": "x", "order_by": "loudest"})).await.expect_error(400, "M_INVALID_PARAM");
    search(&alice, json!({"search_term": "x", "keys": ["content.sender"]})).await.expect_error(400, "M_INVALID_PARAM");
    search(&alice, json!({"search_term": "x", "groupings": {"group_by": [{"key": "type"}]}}))
        .await
        .expect_error(400, "M_INVALID_PARAM");
    search(&alice, json!({"search_term": "x", "filter": {"limit": "ten"}})).await.expect_error(400, "M_BAD_JSON");
    search_page(&alice, json!({"search_term": "x"}), "garbage").await.expect_error(400, "M_INVALID_PARAM");
    alice
        .api
        .post("/_matrix/client/v3/search", json!({"search_categories": {}}))
        .await
        .expect_error(401, "M_MISSING_TOKEN");
    // A Discord filter a spec client cannot know about is searched as words.
    let reply = search(&alice, json!({"search_term": "has:spaceship"})).await;
    assert!(result_ids(&reply).is_empty(), "{reply:?}");
}
both_backends!(search_refuses_bad_input);

async fn search_index_survives_kill9_and_rebuilds(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let (alice, _bob) = two_users(&hs).await;
    let room = alice.create_room(json!({})).await;
    let mut sent = HashSet::new();
    for i in 0..60 {
        sent.insert(alice.send_message(&room, &format!("durable note {i}")).await);
    }
    // Killed while the indexer may still be working through these.
    hs.kill9();
    hs.restart().await;
    let all = |reply: &Reply| -> HashSet<String> { result_ids(reply).into_iter().collect() };
    let criteria = json!({"search_term": "durable", "filter": {"limit": 100}});
    let mut found = HashSet::new();
    for _ in 0..50 {
        let reply = search(&alice, criteria.clone()).await;
        found = all(&reply);
        if found.len() == sent.len() {
            assert_eq!(room_events(&reply)["count"], 60, "nothing indexed twice: {reply:?}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(found, sent);

    // `nexus admin search reindex` on the stopped server: the index starts
    // again from the store when the server next starts.
    let _ = hs.stop();
    let output = hs.run_binary(&["admin", "--json", "search", "reindex"]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    hs.restart().await;
    let mut found = HashSet::new();
    for _ in 0..100 {
        found = all(&search(&alice, criteria.clone()).await);
        if found.len() == sent.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(found, sent, "the rebuilt index finds every message");
}
both_backends!(search_index_survives_kill9_and_rebuilds);
