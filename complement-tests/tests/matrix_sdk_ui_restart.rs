//! Element X's engine across a Nexus restart: the SDK keeps its sliding
//! sync `pos`, and after the server comes back that `pos` still works (the
//! connection state is persisted): the SDK never has to expire its session
//! (`M_UNKNOWN_POS`), and the room list keeps following the rooms.
//! Its own test binary: it counts the SDK's session expiries, which no
//! other scenario here may cause.

#![recursion_limit = "256"]

use matrix_sdk_ui::eyeball_im::Vector;
use matrix_sdk_ui::room_list_service::RoomListItem;
use matrix_sdk_ui::room_list_service::filters::new_filter_non_left;
use matrix_sdk_ui::sync_service::SyncService;
use nexus_complement::sdk_ui::{count_expired_sessions, expired_sessions, list_until, sdk_client, until_running};
use nexus_complement::{Backend, Homeserver, Session, both_backends};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

async fn a_restart_keeps_the_persisted_pos_working(backend: Backend) {
    count_expired_sessions();
    let mut hs = Homeserver::start(backend).await;
    let alice: Session = hs.api().register("alice", PASSWORD).await;
    let mut rooms = Vec::new();
    for i in 0..4 {
        let room = alice.create_room(json!({ "name": format!("room {i}") })).await;
        alice.send_message(&room, &format!("hello {i}")).await;
        rooms.push(room);
    }
    let mut expected: Vec<String> = rooms.iter().rev().cloned().collect();

    let client = sdk_client(&hs, "alice", PASSWORD).await;
    // As Element X: offline mode, so a vanished server is waited for.
    let sync_service = SyncService::builder(client.clone()).with_offline_mode().build().await.expect("sync service");
    until_running(&sync_service).await;
    let all_rooms = sync_service.room_list_service().all_rooms().await.expect("all_rooms");
    let (stream, controller) = all_rooms.entries_with_dynamic_adapters(50);
    controller.set_filter(Box::new(new_filter_non_left()));
    let mut stream = Box::pin(stream);
    let mut list: Vector<RoomListItem> = Vector::new();
    let want = expected.clone();
    list_until(&mut stream, &mut list, |now| now == want).await;

    // The server goes away mid-session (SIGKILL) and comes back.
    hs.restart().await;
    let alice = hs.api().login("alice", PASSWORD).await;
    alice.send_message(&rooms[0], "after the restart").await;
    until_running(&sync_service).await;
    expected.retain(|r| r != &rooms[0]);
    expected.insert(0, rooms[0].clone());
    let want = expected.clone();
    list_until(&mut stream, &mut list, |now| now == want).await;

    // Twice, to be sure the answers after the restart chain on.
    alice.send_message(&rooms[2], "and again").await;
    expected.retain(|r| r != &rooms[2]);
    expected.insert(0, rooms[2].clone());
    let want = expected.clone();
    list_until(&mut stream, &mut list, |now| now == want).await;
    assert_eq!(expired_sessions(), 0, "the SDK had to start its session over after the restart");
    sync_service.stop().await;
}
both_backends!(a_restart_keeps_the_persisted_pos_working);
