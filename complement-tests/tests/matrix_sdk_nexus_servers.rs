//! A Nexus server through matrix-sdk (Element X's engine) as a stock
//! client: after joining with an invite code through the Nexus API, it sees
//! the server as a space with its channels through the standard
//! `/hierarchy`, the channel it may not see is left out, and the server
//! refuses exactly what its role denies.

use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::space::get_hierarchy;
use matrix_sdk::ruma::events::room::message::{ImageMessageEventContent, MessageType, RoomMessageEventContent};
use matrix_sdk::ruma::room::RoomType;
use matrix_sdk::ruma::{OwnedMxcUri, RoomId};
use nexus_complement::nexus_servers::{assign_role, create_channel, create_server, invite_code, path, put_role};
use nexus_complement::{Backend, Homeserver, both_backends, enc};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";
const ATTACH_FILES: u64 = 1 << 15;

async fn sdk_user(hs: &Homeserver, localpart: &str) -> Client {
    hs.api().register(localpart, PASSWORD).await;
    let client = Client::builder().homeserver_url(hs.base_url()).build().await.expect("build a matrix-sdk client");
    client.matrix_auth().login_username(localpart, PASSWORD).send().await.expect("matrix-sdk login");
    client
}

async fn matrix_sdk_sees_a_nexus_server_as_a_space_and_obeys_its_roles(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Gardening").await;
    let staff = create_channel(&alice, &server.space, json!({ "name": "staff", "private": true })).await;
    put_role(&alice, &server.space, "quiet", json!({ "name": "Quiet", "position": 1, "permissions": "0" })).await;
    alice
        .set_state(
            &server.general,
            "nexus.channel.overwrites",
            "",
            json!({ "roles": { "quiet": { "deny": ATTACH_FILES.to_string() } } }),
        )
        .await;
    let code = invite_code(&alice, &server.space, json!({})).await;

    let dave = sdk_user(&hs, "dave").await;
    let token = dave.access_token().expect("a token");
    // The Nexus endpoint, with the session matrix-sdk holds.
    let joined = hs.api().post_as(&token, &path(&format!("/invites/{}/join", enc(&code))), json!({})).await;
    joined.expect_ok();
    let dave_id = dave.user_id().expect("logged in").to_string();
    assign_role(&alice, &server.space, &dave_id, "quiet").await;

    dave.sync_once(SyncSettings::default().timeout(Duration::from_millis(500))).await.expect("sync");
    let space_id = RoomId::parse(&server.space).unwrap();
    let space = dave.get_room(&space_id).expect("the client knows the space after a sync");
    assert!(space.is_space(), "matrix-sdk sees the server as a space");

    let hierarchy = dave.send(get_hierarchy::v1::Request::new(space_id.clone())).await.expect("/hierarchy");
    let rooms: Vec<_> =
        hierarchy.rooms.iter().map(|r| (r.summary.room_id.to_string(), r.summary.room_type.clone())).collect();
    assert_eq!(rooms[0], (server.space.clone(), Some(RoomType::Space)), "the root first: {rooms:?}");
    let ids: Vec<&str> = rooms.iter().map(|(id, _)| id.as_str()).collect();
    assert!(ids.contains(&server.general.as_str()) && ids.contains(&server.voice.as_str()), "channels listed: {ids:?}");
    assert!(!ids.contains(&staff.as_str()), "a private channel dave cannot see is left out: {ids:?}");

    let general = dave.get_room(&RoomId::parse(&server.general).unwrap()).expect("joined #general by the code");
    general.send(RoomMessageEventContent::text_plain("hello from matrix-sdk")).await.expect("text is allowed");
    let url: OwnedMxcUri = "mxc://example.org/cat".into();
    let image =
        RoomMessageEventContent::new(MessageType::Image(ImageMessageEventContent::plain("cat.png".to_owned(), url)));
    let refused = general.send(image).await.expect_err("ATTACH_FILES is denied to dave's role");
    let api_error = refused.as_client_api_error().unwrap_or_else(|| panic!("not an API error: {refused:?}"));
    assert_eq!(api_error.status_code.as_u16(), 403, "{refused:?}");
    assert!(format!("{api_error:?}").contains("ATTACH_FILES"), "the refusal names the permission: {api_error:?}");
}
both_backends!(matrix_sdk_sees_a_nexus_server_as_a_space_and_obeys_its_roles);
