//! Reporting content — no Complement counterpart; spec: client-server API
//! "Reporting content" (`POST /rooms/{roomId}/report/{eventId}`,
//! `POST /rooms/{roomId}/report`) and its server behaviour ("servers MUST
//! verify that the reporting user is currently joined to the room the event
//! is in"; "servers MUST NOT restrict room reports based on whether or not
//! the reporting user is joined to the room").

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

async fn report_event(reporter: &Session, room_id: &str, event_id: &str, body: Value) -> Reply {
    reporter.post(&room_path(room_id, &format!("/report/{}", enc(event_id))), body).await
}

async fn report_room(reporter: &Session, room_id: &str, body: Value) -> Reply {
    reporter.post(&room_path(room_id, "/report"), body).await
}

#[track_caller]
fn assert_accepted(reply: &Reply) {
    assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");
}

async fn report_event_by_a_member_is_accepted(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    let event_id = alice.send_message(&room_id, "something rude").await;

    assert_accepted(&report_event(&bob, &room_id, &event_id, json!({"reason": "this makes me sad"})).await);
    // The body's only property, `reason`, is optional.
    assert_accepted(&report_event(&bob, &room_id, &event_id, json!({})).await);
    // `score` was "-100 (most offensive) to 0 (inoffensive)" until v1.18.
    assert_accepted(&report_event(&bob, &room_id, &event_id, json!({"reason": "rude", "score": -100})).await);
    assert_accepted(&report_event(&bob, &room_id, &event_id, json!({"reason": "rude", "score": 0})).await);
}
both_backends!(report_event_by_a_member_is_accepted);

async fn report_event_score_out_of_range(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let event_id = alice.send_message(&room_id, "hm").await;

    // A score outside -100..0 broke the pre-1.18 schema; v1.18 removed the
    // parameter, so a server may also ignore it.
    for score in [json!(1), json!(-101), json!("very")] {
        let reply = report_event(&alice, &room_id, &event_id, json!({"reason": "x", "score": score})).await;
        if reply.status == 200 {
            assert_accepted(&reply);
        } else {
            reply.expect_error_in(400, &["M_INVALID_PARAM", "M_BAD_JSON"]);
        }
    }
}
both_backends!(report_event_score_out_of_range);

async fn report_event_requires_joining_the_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    let event_id = alice.send_message(&room_id, "world-visible?").await;
    bob.join(&room_id).await;
    bob.leave(&room_id).await;

    // "404: The event was not found or you are not joined to the room where
    // the event resides."
    // Bob, who left, can still read the event (history `shared`), but is
    // not joined any more.
    for outsider in [&charlie, &bob] {
        let reply = report_event(outsider, &room_id, &event_id, json!({"reason": "x"})).await;
        assert_eq!(reply.status, 404, "{outsider:?} is not joined: {reply:?}");
        reply.expect_error(404, "M_NOT_FOUND");
    }
}
both_backends!(report_event_requires_joining_the_room);

async fn report_of_unknown_or_invisible_event_reveals_nothing(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "initial_state": [{"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}],
        }))
        .await;
    let before_bob = alice.send_message(&room_id, "before bob").await;
    bob.join(&room_id).await;

    let unknown =
        report_event(&bob, &room_id, "$doesnotexist0000000000000000000000000000000", json!({"reason": "x"})).await;
    let invisible = report_event(&bob, &room_id, &before_bob, json!({"reason": "x"})).await;

    // A 404, or — "Homeservers that wish to conceal this information MAY
    // return 200 responses regardless of the existence of the reported
    // event" — a 200. Either way an event bob may not see must look like
    // one that does not exist.
    if unknown.status == 200 {
        assert_accepted(&unknown);
    } else {
        unknown.expect_error(404, "M_NOT_FOUND");
    }
    assert_eq!(invisible.status, unknown.status, "an invisible event is told apart: {invisible:?} vs {unknown:?}");
    assert_eq!(invisible.errcode(), unknown.errcode(), "{invisible:?} vs {unknown:?}");
}
both_backends!(report_of_unknown_or_invisible_event_reveals_nothing);

async fn report_room_needs_no_membership(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let public = alice.create_room(json!({"preset": "public_chat"})).await;
    let private = alice.create_room(json!({"preset": "private_chat"})).await;

    // "servers MUST NOT restrict room reports based on whether or not the
    // reporting user is joined to the room."
    assert_accepted(&report_room(&alice, &public, json!({"reason": "spam"})).await);
    assert_accepted(&report_room(&bob, &public, json!({"reason": "spam"})).await);
    assert_accepted(&report_room(&bob, &private, json!({"reason": ""})).await);
}
both_backends!(report_room_needs_no_membership);

async fn report_room_unknown_room_or_missing_reason(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    // "404: The room was not found on the homeserver" — or a concealing 200.
    let unknown = format!("!doesnotexist:{}", hs.server_name());
    let reply = report_room(&alice, &unknown, json!({"reason": "spam"})).await;
    if reply.status == 200 {
        assert_accepted(&reply);
    } else {
        reply.expect_error(404, "M_NOT_FOUND");
    }
    // `reason` is required ("May be blank").
    report_room(&alice, &room_id, json!({})).await.expect_error_in(400, &["M_BAD_JSON", "M_MISSING_PARAM"]);
}
both_backends!(report_room_unknown_room_or_missing_reason);

async fn reports_require_an_access_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let event_id = alice.send_message(&room_id, "hm").await;

    for path in [room_path(&room_id, &format!("/report/{}", enc(&event_id))), room_path(&room_id, "/report")] {
        hs.api().post(&path, json!({"reason": "x"})).await.expect_error(401, "M_MISSING_TOKEN");
    }
}
both_backends!(reports_require_an_access_token);
