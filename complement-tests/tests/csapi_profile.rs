//! Profiles — mirrors Complement's `apidoc_profile_displayname` and
//! `apidoc_profile_avatar_url`; spec: client-server API "Profiles"
//! (`GET /profile/{userId}`, `GET`/`PUT /profile/{userId}/{keyName}`).

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

fn profile_path(session: &Session, field: &str) -> String {
    format!("/profile/{}/{field}", enc(&session.user_id))
}

/// Another user's profile: the spec lets a server refuse look-ups of users
/// who share no room with the requester ("MAY deny profile look-up by
/// responding with 403 and an error code of M_FORBIDDEN"). Returns whether
/// the server answered.
fn answered_or_denied(reply: &Reply) -> bool {
    if reply.status == 403 {
        reply.expect_error(403, "M_FORBIDDEN");
        return false;
    }
    reply.expect_ok();
    true
}

async fn registration_sets_displayname_to_localpart(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let reply = alice.get(&profile_path(&alice, "displayname")).await;

    assert_eq!(reply.expect_ok()["displayname"], "alice", "{reply:?}");
}
both_backends!(registration_sets_displayname_to_localpart);

async fn user_sets_own_displayname(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    alice.put(&profile_path(&alice, "displayname"), json!({"displayname": "Alice Liddell"})).await.expect_ok();

    let field = alice.get(&profile_path(&alice, "displayname")).await;
    assert_eq!(field.expect_ok()["displayname"], "Alice Liddell", "{field:?}");
    let profile = alice.get(&format!("/profile/{}", enc(&alice.user_id))).await;
    assert_eq!(profile.expect_ok()["displayname"], "Alice Liddell", "{profile:?}");
}
both_backends!(user_sets_own_displayname);

async fn user_sets_own_avatar_url(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let avatar = format!("mxc://{}/SDGdghriugerRg", hs.server_name());

    alice.put(&profile_path(&alice, "avatar_url"), json!({"avatar_url": avatar})).await.expect_ok();

    let field = alice.get(&profile_path(&alice, "avatar_url")).await;
    assert_eq!(field.expect_ok()["avatar_url"], avatar.as_str(), "{field:?}");
    let profile = alice.get(&format!("/profile/{}", enc(&alice.user_id))).await;
    let profile_body = profile.expect_ok();
    assert_eq!(profile_body["avatar_url"], avatar.as_str(), "{profile:?}");
    assert_eq!(profile_body["displayname"], "alice", "{profile:?}");
}
both_backends!(user_sets_own_avatar_url);

async fn other_users_see_the_new_displayname(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    alice.put(&profile_path(&alice, "displayname"), json!({"displayname": "Alice Liddell"})).await.expect_ok();

    let reply = bob.get(&profile_path(&alice, "displayname")).await;

    if answered_or_denied(&reply) {
        assert_eq!(reply.json["displayname"], "Alice Liddell", "{reply:?}");
    }
}
both_backends!(other_users_see_the_new_displayname);

async fn setting_another_users_profile_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;

    bob.put(&profile_path(&alice, "displayname"), json!({"displayname": "Mallory"}))
        .await
        .expect_error(403, "M_FORBIDDEN");
    bob.put(&profile_path(&alice, "avatar_url"), json!({"avatar_url": "mxc://example.org/evil"}))
        .await
        .expect_error(403, "M_FORBIDDEN");

    let reply = alice.get(&profile_path(&alice, "displayname")).await;
    assert_eq!(reply.expect_ok()["displayname"], "alice", "{reply:?}");
}
both_backends!(setting_another_users_profile_is_forbidden);

async fn setting_a_profile_needs_an_access_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    hs.api()
        .put(&profile_path(&alice, "displayname"), json!({"displayname": "Anonymous"}))
        .await
        .expect_error(401, "M_MISSING_TOKEN");
}
both_backends!(setting_a_profile_needs_an_access_token);

async fn profile_of_unknown_user_is_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let nobody = enc(&hs.user_id("nobody"));

    // "When the requested user does not exist, homeservers MAY choose whether
    // to respond with 403 or 404."
    for path in [
        format!("/profile/{nobody}"),
        format!("/profile/{nobody}/displayname"),
        format!("/profile/{nobody}/avatar_url"),
    ] {
        let reply = alice.get(&path).await;
        match reply.status {
            403 => reply.expect_error(403, "M_FORBIDDEN"),
            _ => reply.expect_error(404, "M_NOT_FOUND"),
        }
    }
}
both_backends!(profile_of_unknown_user_is_not_found);

async fn displayname_that_is_not_a_string_is_refused(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    // "For displayname, the value MUST be a string."
    let reply = alice.put(&profile_path(&alice, "displayname"), json!({"displayname": 42})).await;

    reply.expect_error_in(400, &["M_BAD_JSON", "M_INVALID_PARAM"]);
    let field = alice.get(&profile_path(&alice, "displayname")).await;
    assert_eq!(field.expect_ok()["displayname"], "alice", "{field:?}");
}
both_backends!(displayname_that_is_not_a_string_is_refused);
