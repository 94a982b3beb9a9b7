//! Discord-style search (extensions-spec §24): `POST /_nexus/client/v1/search`
//! in one Nexus server or channel with `from:`, `mentions:`, `has:`, `in:`,
//! `before:`/`after:`/`during:`, `pinned:`, `is:thread`, phrases,
//! exclusions and search-as-you-type; saved searches (account data
//! `nexus.saved_searches`) listed, run and deleted; encrypted rooms named
//! as unsearchable; bad queries refused with `M_INVALID_PARAM`.

use std::collections::HashSet;

use nexus_complement::nexus_servers::{create_channel, create_server, invite_code, join_by_code, path};
use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc, relates_to};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

async fn search(session: &Session, body: Value) -> Reply {
    session.post(&path("/search"), body).await
}

fn ids(reply: &Reply) -> HashSet<String> {
    reply.expect_ok()["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {reply:?}"))
        .iter()
        .map(|r| r["event"]["event_id"].as_str().expect("event_id").to_owned())
        .collect()
}

fn set(items: &[&String]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Today as `YYYY-MM-DD` (UTC), from the server's clock as the client sees it.
fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = secs.div_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

async fn discord_filters_find_the_right_messages(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let server = create_server(&alice, "Garden").await;
    let code = invite_code(&alice, &server.space, json!({})).await;
    join_by_code(&bob, &code).await;
    let random = create_channel(&alice, &server.space, json!({"name": "random"})).await;
    bob.join(&random).await;
    let general = server.general.clone();
    bob.join(&general).await;
    let outside = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&outside).await;

    let plain = alice.send_message(&general, "tomatoes are ripening").await;
    let link = bob.send_message(&general, "tomatoes guide https://example.org/tomatoes").await;
    let image = alice
        .send_event(
            &general,
            "m.room.message",
            json!({"msgtype": "m.image", "body": "tomatoes.png", "url": "mxc://x/y"}),
        )
        .await;
    let mention = alice
        .send_event(
            &random,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "bob: tomatoes for you", "m.mentions": {"user_ids": [bob.user_id]},
            }),
        )
        .await;
    let mut in_thread_content = json!({"msgtype": "m.text", "body": "tomatoes in a thread"});
    in_thread_content["m.relates_to"] = relates_to("m.thread", &plain);
    let threaded = bob.send_event(&general, "m.room.message", in_thread_content).await;
    let elsewhere = alice.send_message(&outside, "tomatoes outside the server").await;
    alice.set_state(&general, "m.room.pinned_events", "", json!({"pinned": [plain]})).await;

    let q = |query: &str| json!({"query": query, "server_id": server.space});
    assert_eq!(ids(&search(&bob, q("tomatoes")).await), set(&[&plain, &link, &image, &mention, &threaded]));
    assert_eq!(ids(&search(&bob, json!({"query": "tomatoes"})).await).len(), 6, "no scope: every room");
    assert_eq!(ids(&search(&bob, json!({"query": "tomatoes", "room_id": outside})).await), set(&[&elsewhere]));
    assert_eq!(ids(&search(&bob, q("tomatoes from:bob")).await), set(&[&link, &threaded]));
    assert_eq!(ids(&search(&bob, q(&format!("tomatoes from:{}", alice.user_id))).await).len(), 3);
    assert_eq!(ids(&search(&bob, q("has:link")).await), set(&[&link]));
    assert_eq!(ids(&search(&bob, q("has:image")).await), set(&[&image]));
    assert_eq!(ids(&search(&bob, q("has:file tomatoes")).await), set(&[&image]));
    assert_eq!(ids(&search(&bob, q("mentions:bob")).await), set(&[&mention]));
    assert_eq!(ids(&search(&bob, q("tomatoes in:random")).await), set(&[&mention]));
    assert_eq!(ids(&search(&bob, q("tomatoes in:#Random")).await), set(&[&mention]));
    assert_eq!(ids(&search(&bob, q(&format!("tomatoes in:{random}"))).await), set(&[&mention]));
    assert_eq!(ids(&search(&bob, q("is:thread")).await), set(&[&threaded]));
    assert_eq!(ids(&search(&bob, q("pinned:true")).await), set(&[&plain]));
    assert_eq!(ids(&search(&bob, q("tomatoes pinned:false")).await).len(), 4);
    assert_eq!(ids(&search(&bob, q(&format!("tomatoes during:{}", today()))).await).len(), 5);
    assert!(ids(&search(&bob, q(&format!("tomatoes after:{}", today()))).await).is_empty());
    assert!(ids(&search(&bob, q("tomatoes before:2001-01-01")).await).is_empty());
    assert_eq!(ids(&search(&bob, q("\"tomatoes are\"")).await), set(&[&plain]));
    assert_eq!(ids(&search(&bob, q("tomatoes -thread -guide -bob")).await), set(&[&plain, &image]));
    // Typos, and a word still being typed.
    assert_eq!(ids(&search(&bob, q("tomatos ripenning")).await), set(&[&plain]));
    assert_eq!(
        ids(&search(&bob, json!({"query": "ripen", "prefix": true, "server_id": server.space})).await),
        set(&[&plain])
    );
    // Order and paging.
    let recent =
        search(&bob, json!({"query": "tomatoes", "server_id": server.space, "order_by": "recent", "limit": 2})).await;
    let first_page: Vec<&str> = recent.expect_ok()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(first_page, vec![threaded.as_str(), mention.as_str()], "{recent:?}");
    let next = recent.expect_ok()["next_batch"].as_str().expect("next_batch").to_owned();
    let second = search(
        &bob,
        json!({"query": "tomatoes", "server_id": server.space, "order_by": "recent", "limit": 2, "next_batch": next}),
    )
    .await;
    assert_eq!(ids(&second), set(&[&image, &link]));
    // Highlights name the words found.
    let highlighted = search(&bob, q("tomatos")).await;
    assert!(highlighted.expect_ok()["highlights"].as_array().unwrap().contains(&json!("tomatoes")), "{highlighted:?}");
}
both_backends!(discord_filters_find_the_right_messages);

async fn saved_searches_are_listed_run_and_deleted(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room = alice.create_room(json!({})).await;
    let mine = alice.send_message(&room, "quarterly report draft").await;

    let saved = alice.put(&path("/saved_searches/reports"), json!({"query": "report", "room_id": room})).await;
    assert_eq!(saved.expect_ok()["query"], "report", "{saved:?}");
    alice.put(&path("/saved_searches/links"), json!({"query": "has:link"})).await.expect_ok();
    alice.put(&path("/saved_searches/reports"), json!({"query": "quarterly", "room_id": room})).await.expect_ok();
    let listed = alice.get(&path("/saved_searches")).await;
    let names: Vec<&str> =
        listed.expect_ok()["searches"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["reports", "links"], "replaced in place: {listed:?}");
    // They are account data, so every session syncs them.
    let data =
        alice.get(&format!("/_matrix/client/v3/user/{}/account_data/nexus.saved_searches", enc(&alice.user_id))).await;
    assert_eq!(data.expect_ok()["searches"][0]["query"], "quarterly", "{data:?}");

    assert_eq!(ids(&search(&alice, json!({"saved": "reports"})).await), set(&[&mine]));
    search(&alice, json!({"saved": "nope"})).await.expect_error(404, "M_NOT_FOUND");
    alice.delete(&path("/saved_searches/links"), json!({})).await.expect_ok();
    alice.delete(&path("/saved_searches/links"), json!({})).await.expect_error(404, "M_NOT_FOUND");
    let listed = alice.get(&path("/saved_searches")).await;
    assert_eq!(listed.expect_ok()["searches"].as_array().unwrap().len(), 1);
    alice
        .put(&path("/saved_searches/bad"), json!({"query": "has:spaceship"}))
        .await
        .expect_error(400, "M_INVALID_PARAM");
    alice.put(&path("/saved_searches/bad"), json!({"query": 7})).await.expect_error(400, "M_BAD_JSON");
}
both_backends!(saved_searches_are_listed_run_and_deleted);

async fn encrypted_rooms_are_named_and_bad_queries_refused(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let secret = alice
        .create_room(json!({"initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}))
        .await;
    alice.create_room(json!({})).await;
    let reply = search(&alice, json!({"query": "anything"})).await;
    assert_eq!(reply.expect_ok()["unsearchable_rooms"], json!([secret]), "{reply:?}");
    let spec = alice
        .post("/_matrix/client/v3/search", json!({"search_categories": {"room_events": {"search_term": "anything"}}}))
        .await;
    assert_eq!(spec.expect_ok()["search_categories"]["room_events"]["nexus.unsearchable_rooms"], json!([secret]));

    for query in ["has:spaceship", "before:2023-02-30", "pinned:maybe", "is:dm", "from:"] {
        search(&alice, json!({"query": query})).await.expect_error(400, "M_INVALID_PARAM");
    }
    search(&alice, json!({"query": "x".repeat(1001)})).await.expect_error(400, "M_INVALID_PARAM");
    search(&alice, json!({"query": "x", "limit": 0})).await.expect_error(400, "M_INVALID_PARAM");
    search(&alice, json!({"query": "x", "order_by": "loudest"})).await.expect_error(400, "M_INVALID_PARAM");
    search(&alice, json!({"query": "x", "next_batch": "nonsense"})).await.expect_error(400, "M_INVALID_PARAM");
    search(&alice, json!({"query": "x", "server_id": "not a room"})).await.expect_error(400, "M_BAD_JSON");
    search(&alice, json!({})).await.expect_error(400, "M_MISSING_PARAM");
}
both_backends!(encrypted_rooms_are_named_and_bad_queries_refused);
