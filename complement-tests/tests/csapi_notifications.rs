//! Notification counts and `/notifications` — mirrors Complement's
//! `thread_notifications` (`TestThreadedReceipts`, single-server part) and
//! the push rule behaviour `push_test` relies on; spec: client-server API
//! "Receiving notifications", "Marking notifications as read", "Server
//! behaviour" (push module), "Threaded read receipts", `GET /sync`
//! (`unread_notifications`, `unread_thread_notifications`),
//! `GET /notifications` (`from`, `limit`, `only`), "Predefined Rules" and
//! "Actions".

use std::collections::BTreeSet;

use nexus_complement::push_gateway::{
    Unread, highlights, normalize_actions, notified_event_ids, notifies, room_unread, thread_counts_filter,
    thread_unread,
};
use nexus_complement::{Backend, Homeserver, Session, Synced, both_backends, enc, relates_to};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// Alice's public room with bob and charlie joined: three members, so no
/// one-to-one rule applies.
async fn room_of_three(hs: &Homeserver) -> (String, Session, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    charlie.join(&room_id).await;
    (room_id, alice, bob, charlie)
}

fn text(body: &str) -> Value {
    json!({"msgtype": "m.text", "body": body})
}

/// A message mentioning `user_ids` (spec "User and room mentions").
fn mentioning(body: &str, user_ids: &[&str]) -> Value {
    json!({"msgtype": "m.text", "body": body, "m.mentions": {"user_ids": user_ids}})
}

fn room_mention(body: &str) -> Value {
    json!({"msgtype": "m.text", "body": body, "m.mentions": {"room": true}})
}

async fn send_in_thread(author: &Session, room_id: &str, root: &str, content: Value) -> String {
    author.send_relation(room_id, "m.room.message", "m.thread", root, content).await
}

/// Syncs from `since` with `extra` until the room's counts are `expected`,
/// and returns that answer.
async fn until_unread(session: &Session, since: &str, extra: &str, room_id: &str, expected: Unread) -> Synced {
    let what = format!("unread counts {expected:?} in {room_id}");
    session
        .sync_until(since, extra, &what, |s| s.joined(room_id).is_some() && room_unread(s, room_id) == expected)
        .await
}

/// Like [`until_unread`] for the main timeline and threads, with the
/// thread-counts filter.
async fn until_thread_counts(
    session: &Session,
    since: &str,
    room_id: &str,
    main: Unread,
    threads: &[(&str, Unread)],
) -> Synced {
    let what = format!("main timeline counts {main:?} and thread counts {threads:?} in {room_id}");
    session
        .sync_until(since, &thread_counts_filter(), &what, |s| {
            s.joined(room_id).is_some()
                && room_unread(s, room_id) == main
                && threads.iter().all(|(root, counts)| thread_unread(s, room_id, root) == *counts)
        })
        .await
}

/// Syncs from `since` until the room's timeline holds `event_id`, and
/// returns that answer.
async fn until_event(session: &Session, since: &str, extra: &str, room_id: &str, event_id: &str) -> Synced {
    session.sync_until(since, extra, &format!("{event_id}"), |s| s.timeline_has(room_id, event_id)).await
}

async fn unread_notification_counts_come_down_with_the_events(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let bob_since = bob.sync_token().await;
    let alice_since = alice.sync_token().await;

    alice.send_message(&room_id, "one").await;
    alice.send_message(&room_id, "two").await;
    let last = alice.send_message(&room_id, "three").await;

    // "The updated notification count from a new event MUST appear in the
    // same /sync response as the event itself."
    let synced = until_event(&bob, &bob_since, "", &room_id, &last).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::new(3, 0), "{:#}", synced.body);
    let initial = bob.initial_sync().await;
    assert_eq!(room_unread(&initial, &room_id), Unread::new(3, 0), "{:#}", initial.body);

    // "Homeservers MUST NOT notify ... for events that the user has sent
    // themselves."
    let synced = until_event(&alice, &alice_since, "", &room_id, &last).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::NONE, "{:#}", synced.body);
}
both_backends!(unread_notification_counts_come_down_with_the_events);

async fn mentions_are_highlighted(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, charlie) = room_of_three(&hs).await;
    let bob_since = bob.sync_token().await;
    let charlie_since = charlie.sync_token().await;

    // .m.rule.is_user_mention: only the mentioned user is highlighted.
    alice.send_event(&room_id, "m.room.message", mentioning("hello you", &[&bob.user_id])).await;
    until_unread(&bob, &bob_since, "", &room_id, Unread::new(1, 1)).await;
    until_unread(&charlie, &charlie_since, "", &room_id, Unread::new(1, 0)).await;

    // .m.rule.is_room_mention: everyone, when the sender may notify the
    // room (alice, the creator, has power 100; `notifications.room`
    // defaults to 50).
    alice.send_event(&room_id, "m.room.message", room_mention("hello all")).await;
    until_unread(&bob, &bob_since, "", &room_id, Unread::new(2, 2)).await;
    until_unread(&charlie, &charlie_since, "", &room_id, Unread::new(2, 1)).await;

    // ... but bob (power 0) may not: his @room is an ordinary message.
    let bobs = bob.send_event(&room_id, "m.room.message", room_mention("hello all")).await;
    let synced = until_event(&charlie, &charlie_since, "", &room_id, &bobs).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::new(3, 1), "{:#}", synced.body);
}
both_backends!(mentions_are_highlighted);

async fn read_receipt_resets_notification_counts(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let since = bob.sync_token().await;
    alice.send_message(&room_id, "one").await;
    let two = alice.send_event(&room_id, "m.room.message", mentioning("two", &[&bob.user_id])).await;
    let three = alice.send_message(&room_id, "three").await;
    let synced = until_unread(&bob, &since, "", &room_id, Unread::new(3, 1)).await;

    // "When the user updates their read receipt ..., notifications prior to
    // and including that event MUST be marked as read."
    bob.send_receipt(&room_id, "m.read", &two, json!({})).await.expect_ok();
    let synced = until_unread(&bob, &synced.next_batch, "", &room_id, Unread::new(1, 0)).await;
    bob.send_receipt(&room_id, "m.read", &three, json!({})).await.expect_ok();
    let synced = until_unread(&bob, &synced.next_batch, "", &room_id, Unread::NONE).await;

    // "users can send both an m.read and m.read.private receipt, both of
    // which are capable of clearing notifications."
    let four = alice.send_message(&room_id, "four").await;
    let synced = until_unread(&bob, &synced.next_batch, "", &room_id, Unread::new(1, 0)).await;
    bob.send_receipt(&room_id, "m.read.private", &four, json!({})).await.expect_ok();
    let synced = until_unread(&bob, &synced.next_batch, "", &room_id, Unread::NONE).await;

    // A receipt behind the private one changes nothing: "the receipt which
    // is more recent/ahead must be used".
    let five = alice.send_message(&room_id, "five").await;
    let synced = until_unread(&bob, &synced.next_batch, "", &room_id, Unread::new(1, 0)).await;
    bob.send_receipt(&room_id, "m.read", &four, json!({})).await.expect_ok();
    let later = bob.sync_for(&synced.next_batch, "", std::time::Duration::from_millis(1500)).await;
    for synced in later.iter().filter(|s| s.joined(&room_id).is_some()) {
        assert_eq!(room_unread(synced, &room_id), Unread::new(1, 0), "{:#}", synced.body);
    }
    assert_eq!(room_unread(&bob.initial_sync().await, &room_id), Unread::new(1, 0));
    bob.send_receipt(&room_id, "m.read", &five, json!({})).await.expect_ok();
    until_unread(
        &bob,
        &later.last().map_or(synced.next_batch.clone(), |s| s.next_batch.clone()),
        "",
        &room_id,
        Unread::NONE,
    )
    .await;
}
both_backends!(read_receipt_resets_notification_counts);

async fn sending_a_message_marks_the_room_as_read(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let since = bob.sync_token().await;
    alice.send_message(&room_id, "one").await;
    alice.send_event(&room_id, "m.room.message", mentioning("two", &[&bob.user_id])).await;
    let synced = until_unread(&bob, &since, "", &room_id, Unread::new(2, 1)).await;

    // "When the user updates their read receipt (either by using the API or
    // by sending an event) ..."
    bob.send_message(&room_id, "caught up").await;
    until_unread(&bob, &synced.next_batch, "", &room_id, Unread::NONE).await;
}
both_backends!(sending_a_message_marks_the_room_as_read);

async fn threaded_receipts(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let since = bob.sync_with(None, &thread_counts_filter()).await.next_batch;

    let root = alice.send_message(&room_id, "root").await;
    let t1 = send_in_thread(&alice, &room_id, &root, text("in thread")).await;
    send_in_thread(&alice, &room_id, &root, mentioning("in thread, for bob", &[&bob.user_id])).await;
    let m2 = alice.send_message(&room_id, "main again").await;

    // With `unread_thread_notifications`, unread_notifications counts the
    // main timeline only ("Thread roots are considered to be in the main
    // timeline") and each thread is counted under its root.
    let synced = until_event(&bob, &since, &thread_counts_filter(), &room_id, &m2).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::new(2, 0), "{:#}", synced.body);
    assert_eq!(thread_unread(&synced, &room_id, &root), Unread::new(2, 1), "{:#}", synced.body);
    // Without it, the room's counts cover everything.
    let unfiltered = bob.initial_sync().await;
    assert_eq!(room_unread(&unfiltered, &room_id), Unread::new(4, 1), "{:#}", unfiltered.body);

    // A receipt in a thread reads that thread only.
    bob.send_receipt(&room_id, "m.read", &t1, json!({"thread_id": root})).await.expect_ok();
    let synced =
        until_thread_counts(&bob, &synced.next_batch, &room_id, Unread::new(2, 0), &[(&root, Unread::new(1, 1))]).await;
    // `main` reads the main timeline only: the root, not m2 after it.
    bob.send_receipt(&room_id, "m.read", &root, json!({"thread_id": "main"})).await.expect_ok();
    let synced =
        until_thread_counts(&bob, &synced.next_batch, &room_id, Unread::new(1, 0), &[(&root, Unread::new(1, 1))]).await;
    assert_eq!(room_unread(&bob.initial_sync().await, &room_id), Unread::new(2, 1));
    // An unthreaded receipt reads everything up to its event, threads
    // included ("affect the whole room regardless of threads").
    bob.send_receipt(&room_id, "m.read", &m2, json!({})).await.expect_ok();
    until_thread_counts(&bob, &synced.next_batch, &room_id, Unread::NONE, &[(&root, Unread::NONE)]).await;
    assert_eq!(room_unread(&bob.initial_sync().await, &room_id), Unread::NONE);
}
both_backends!(threaded_receipts);

async fn thread_counts_follow_relations_to_the_thread(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, charlie) = room_of_three(&hs).await;
    let since = bob.sync_with(None, &thread_counts_filter()).await.next_batch;
    let root = alice.send_message(&room_id, "root").await;
    let reply = send_in_thread(&charlie, &room_id, &root, text("in thread")).await;

    // An event related to an event in a thread is in that thread ("Following
    // the event relationships, it has a parent event which references the
    // thread root with a rel_type of m.thread"). A reference does not fall
    // under any suppressing default rule, so it notifies.
    let mut content = text("about that reply");
    content["m.relates_to"] = json!({"rel_type": "m.reference", "event_id": reply});
    let reference = alice.send_event(&room_id, "m.room.message", content).await;

    let synced = until_event(&bob, &since, &thread_counts_filter(), &room_id, &reference).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::new(1, 0), "{:#}", synced.body);
    assert_eq!(thread_unread(&synced, &room_id, &root), Unread::new(2, 0), "{:#}", synced.body);
}
both_backends!(thread_counts_follow_relations_to_the_thread);

async fn notifications_lists_notified_events(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let plain = alice.send_message(&room_id, "plain").await;
    let mention_content = mentioning("for bob", &[&bob.user_id]);
    let mention = alice.send_event(&room_id, "m.room.message", mention_content.clone()).await;
    // Neither of these notifies (.m.rule.suppress_notices, .m.rule.reaction).
    alice.send_event(&room_id, "m.room.message", json!({"msgtype": "m.notice", "body": "bot says"})).await;
    let reaction = json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": plain, "key": "👍"}});
    alice.send_event(&room_id, "m.reaction", reaction).await;

    let notifications = bob.all_notifications("", None).await;

    let ids: BTreeSet<String> = notified_event_ids(&notifications).into_iter().collect();
    assert_eq!(ids, BTreeSet::from([plain.clone(), mention.clone()]), "{notifications:#?}");
    for n in &notifications {
        assert_eq!(n["room_id"], room_id.as_str(), "{n:#}");
        assert_eq!(n["read"], false, "{n:#}");
        assert_eq!(n["event"]["sender"], alice.user_id.as_str(), "{n:#}");
        assert!(notifies(&n["actions"]), "the actions of a notification notify: {n:#}");
    }
    let of = |id: &str| notifications.iter().find(|n| n["event"]["event_id"] == id).unwrap().clone();
    assert_eq!(of(&mention)["event"]["content"], mention_content, "{notifications:#?}");
    assert!(highlights(&of(&mention)["actions"]), "{notifications:#?}");
    assert!(!highlights(&of(&plain)["actions"]), "{notifications:#?}");
    // Alice sent them: nothing for her.
    assert!(alice.all_notifications("", None).await.is_empty());

    // "read: Indicates whether the user has sent a read receipt indicating
    // that they have read this message."
    bob.send_receipt(&room_id, "m.read", &plain, json!({})).await.expect_ok();
    let notifications = bob.all_notifications("", None).await;
    assert_eq!(of_in(&notifications, &plain)["read"], true, "{notifications:#?}");
    assert_eq!(of_in(&notifications, &mention)["read"], false, "{notifications:#?}");
    bob.send_receipt(&room_id, "m.read", &mention, json!({})).await.expect_ok();
    let notifications = bob.all_notifications("", None).await;
    assert_eq!(notifications.len(), 2, "read notifications are still listed: {notifications:#?}");
    assert!(notifications.iter().all(|n| n["read"] == true), "{notifications:#?}");
}
both_backends!(notifications_lists_notified_events);

#[track_caller]
fn of_in<'a>(notifications: &'a [Value], event_id: &str) -> &'a Value {
    notifications
        .iter()
        .find(|n| n["event"]["event_id"] == event_id)
        .unwrap_or_else(|| panic!("no notification for {event_id}: {notifications:#?}"))
}

async fn notifications_can_be_paged(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let other_room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&other_room).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let room = if i % 2 == 0 { &room_id } else { &other_room };
        sent.push(alice.send_message(room, &format!("message {i}")).await);
    }

    let everything = bob.all_notifications("", None).await;
    let paged = bob.all_notifications("", Some(2)).await;

    // Every notification once, across rooms, whatever the page size. (The
    // spec does not fix an order.)
    let expected: BTreeSet<String> = sent.iter().cloned().collect();
    let paged_ids = notified_event_ids(&paged);
    assert_eq!(paged_ids.iter().cloned().collect::<BTreeSet<_>>(), expected, "{paged:#?}");
    assert_eq!(paged_ids.len(), sent.len(), "a notification was served twice: {paged_ids:?}");
    assert_eq!(notified_event_ids(&everything).into_iter().collect::<BTreeSet<_>>(), expected, "{everything:#?}");
    // Pages are served in one consistent order.
    assert_eq!(paged_ids, notified_event_ids(&everything));

    let first = bob.notifications("limit=2").await;
    let page = first.expect_ok()["notifications"].as_array().unwrap().clone();
    assert!(!page.is_empty() && page.len() <= 2, "{first:?}");
    assert!(first.token("next_token").is_some(), "more results, so a next_token: {first:?}");
}
both_backends!(notifications_can_be_paged);

async fn notifications_can_be_limited_to_highlights(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    alice.send_message(&room_id, "plain").await;
    let mention = alice.send_event(&room_id, "m.room.message", mentioning("for bob", &[&bob.user_id])).await;
    let room_wide = alice.send_event(&room_id, "m.room.message", room_mention("for all")).await;
    alice.send_message(&room_id, "plain again").await;

    // "Supply highlight to return only events where the notification had
    // the highlight tweak set."
    for limit in [None, Some(1)] {
        let highlighted = bob.all_notifications("only=highlight", limit).await;
        let ids: BTreeSet<String> = notified_event_ids(&highlighted).into_iter().collect();
        assert_eq!(ids, BTreeSet::from([mention.clone(), room_wide.clone()]), "{highlighted:#?}");
        assert!(highlighted.iter().all(|n| highlights(&n["actions"])), "{highlighted:#?}");
    }
    assert_eq!(bob.all_notifications("", None).await.len(), 4);
}
both_backends!(notifications_can_be_limited_to_highlights);

async fn notices_reactions_and_edits_do_not_notify(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let since = bob.sync_token().await;
    let original = alice.send_message(&room_id, "original").await;

    // .m.rule.suppress_notices, .m.rule.reaction, .m.rule.suppress_edits.
    alice.send_event(&room_id, "m.room.message", json!({"msgtype": "m.notice", "body": "bot"})).await;
    let reaction = json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": original, "key": "👍"}});
    alice.send_event(&room_id, "m.reaction", reaction).await;
    let mut edit = text("* edited");
    edit["m.new_content"] = text("edited");
    edit["m.relates_to"] = relates_to("m.replace", &original);
    let last = alice.send_event(&room_id, "m.room.message", edit).await;

    let synced = until_event(&bob, &since, "", &room_id, &last).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::new(1, 0), "{:#}", synced.body);
    assert_eq!(notified_event_ids(&bob.all_notifications("", None).await), [original]);
}
both_backends!(notices_reactions_and_edits_do_not_notify);

async fn one_to_one_messages_notify_with_a_sound(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (group, alice, bob, _charlie) = room_of_three(&hs).await;
    let pair = alice.create_room(json!({"preset": "private_chat", "invite": [bob.user_id]})).await;
    bob.join(&pair).await;
    let in_pair = alice.send_message(&pair, "just us").await;
    let in_group = alice.send_message(&group, "everyone").await;

    let notifications = bob.all_notifications("", None).await;

    // .m.rule.room_one_to_one (two members) sets the default sound;
    // .m.rule.message (any message) only notifies.
    let sound = json!({"set_tweak": "sound", "value": "default"});
    let pair_actions = normalize_actions(&of_in(&notifications, &in_pair)["actions"]);
    assert!(pair_actions.contains(&json!("notify")) && pair_actions.contains(&sound), "{notifications:#?}");
    let group_actions = normalize_actions(&of_in(&notifications, &in_group)["actions"]);
    assert_eq!(group_actions, [json!("notify")], "{notifications:#?}");
}
both_backends!(one_to_one_messages_notify_with_a_sound);

async fn invite_notifies_the_invited_user(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "private_chat"})).await;
    alice.invite(&room_id, &bob.user_id).await;

    // .m.rule.invite_for_me: "Matches any invites to a new room for this
    // user", with notify and the default sound.
    let notifications = bob.all_notifications("", None).await;
    let invite = notifications
        .iter()
        .find(|n| n["event"]["type"] == "m.room.member" && n["event"]["state_key"] == bob.user_id.as_str())
        .unwrap_or_else(|| panic!("no notification for bob's invite: {notifications:#?}"));
    assert_eq!(invite["room_id"], room_id.as_str(), "{invite:#}");
    assert_eq!(invite["event"]["content"]["membership"], "invite", "{invite:#}");
    assert!(normalize_actions(&invite["actions"]).contains(&json!({"set_tweak": "sound", "value": "default"})));
}
both_backends!(invite_notifies_the_invited_user);

async fn push_rule_with_no_actions_suppresses_notifications(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, charlie) = room_of_three(&hs).await;
    let since = bob.sync_token().await;

    // Room rule with no actions: nothing from this room notifies, mentions
    // included (room rules outrank the underride .m.rule.message; the
    // mention rule is an override, so a plain message is used).
    bob.put_push_rule("room", &room_id, "", json!({"actions": []})).await.expect_ok();
    let quiet = alice.send_message(&room_id, "quiet").await;
    let synced = until_event(&bob, &since, "", &room_id, &quiet).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::NONE, "{:#}", synced.body);

    // "a rule with ["dont_notify"] actions MUST be equivalent to a rule with
    // an empty actions array."
    bob.set_push_rule_actions("room", &room_id, json!(["dont_notify"])).await.expect_ok();
    let still_quiet = alice.send_message(&room_id, "still quiet").await;
    let synced = until_event(&bob, &synced.next_batch, "", &room_id, &still_quiet).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::NONE, "{:#}", synced.body);

    // "Disabled rules never match."
    bob.set_push_rule_enabled("room", &room_id, false).await.expect_ok();
    let loud = alice.send_message(&room_id, "loud").await;
    let synced = until_event(&bob, &synced.next_batch, "", &room_id, &loud).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::new(1, 0), "{:#}", synced.body);
    bob.delete_push_rule("room", &room_id).await.expect_ok();

    // A sender rule silences one sender only.
    bob.put_push_rule("sender", &alice.user_id, "", json!({"actions": []})).await.expect_ok();
    alice.send_message(&room_id, "from alice").await;
    let from_charlie = charlie.send_message(&room_id, "from charlie").await;
    let synced = until_event(&bob, &synced.next_batch, "", &room_id, &from_charlie).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::new(2, 0), "{:#}", synced.body);

    let notified: BTreeSet<String> = notified_event_ids(&bob.all_notifications("", None).await).into_iter().collect();
    assert_eq!(notified, BTreeSet::from([loud, from_charlie]));
}
both_backends!(push_rule_with_no_actions_suppresses_notifications);

async fn enabled_master_rule_suppresses_all_notifications(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let since = bob.sync_token().await;

    // ".m.rule.master ... can be enabled to turn off all push notifications"
    // — mentions too.
    bob.set_push_rule_enabled("override", ".m.rule.master", true).await.expect_ok();
    alice.send_message(&room_id, "plain").await;
    let mention = alice.send_event(&room_id, "m.room.message", mentioning("for bob", &[&bob.user_id])).await;
    let synced = until_event(&bob, &since, "", &room_id, &mention).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::NONE, "{:#}", synced.body);
    assert!(bob.all_notifications("", None).await.is_empty());

    bob.set_push_rule_enabled("override", ".m.rule.master", false).await.expect_ok();
    let after = alice.send_message(&room_id, "after").await;
    let synced = until_event(&bob, &synced.next_batch, "", &room_id, &after).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::new(1, 0), "{:#}", synced.body);
}
both_backends!(enabled_master_rule_suppresses_all_notifications);

async fn content_rule_matches_words_in_the_body(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let since = bob.sync_token().await;
    let actions = json!(["notify", {"set_tweak": "highlight"}]);
    bob.put_push_rule("content", "cake", "", json!({"pattern": "cake", "actions": actions})).await.expect_ok();

    // Content rules match "any substring of the content.body ... which
    // starts and ends at a word boundary", case-insensitively.
    let cake = alice.send_message(&room_id, "Time for CAKE!").await;
    let pancakes = alice.send_message(&room_id, "pancakes are not cake-free").await;
    let not_cake = alice.send_message(&room_id, "pancakes only").await;
    let synced = until_event(&bob, &since, "", &room_id, &not_cake).await;
    assert_eq!(room_unread(&synced, &room_id), Unread::new(3, 2), "{:#}", synced.body);

    let highlighted: BTreeSet<String> =
        notified_event_ids(&bob.all_notifications("only=highlight", None).await).into_iter().collect();
    assert_eq!(highlighted, BTreeSet::from([cake, pancakes]));
}
both_backends!(content_rule_matches_words_in_the_body);

async fn notifications_require_an_access_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    for path in ["/notifications", "/pushrules/", "/pushers"] {
        api.get(path).await.expect_error(401, "M_MISSING_TOKEN");
    }
    let reply = api.get(&format!("/notifications?from={}", enc("not a token"))).await;
    reply.expect_error(401, "M_MISSING_TOKEN");
}
both_backends!(notifications_require_an_access_token);
