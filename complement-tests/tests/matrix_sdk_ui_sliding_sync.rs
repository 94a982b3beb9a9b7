//! Element X's engine against Nexus: matrix-sdk-ui 0.18 (SyncService,
//! RoomListService, Timeline) over simplified sliding sync. The service
//! reaches Running; `all_rooms` yields every room in recency order; a
//! message from another user moves its room to the top; a room's timeline
//! paginates back to the room's creation with no gap or duplicate.

#![recursion_limit = "256"]

use std::time::Duration;

use futures_util::StreamExt;
use matrix_sdk::Client;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk_ui::eyeball_im::Vector;
use matrix_sdk_ui::room_list_service::RoomListItem;
use matrix_sdk_ui::room_list_service::filters::new_filter_non_left;
use matrix_sdk_ui::sync_service::{State, SyncService};
use matrix_sdk_ui::timeline::{RoomExt, VirtualTimelineItem};
use nexus_complement::{Backend, Homeserver, Session, both_backends};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";
const WAIT: Duration = Duration::from_secs(30);

async fn sdk_client(hs: &Homeserver, localpart: &str) -> Client {
    let client = Client::builder().homeserver_url(hs.base_url()).build().await.expect("build a matrix-sdk client");
    client
        .matrix_auth()
        .login_username(localpart, PASSWORD)
        .initial_device_display_name("matrix-sdk-ui")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{localpart} logs in with matrix-sdk: {e:?}"));
    client
}

async fn running(client: &Client) -> SyncService {
    let sync_service = SyncService::builder(client.clone()).build().await.expect("build the sync service");
    let mut state = sync_service.state();
    sync_service.start().await;
    tokio::time::timeout(WAIT, async {
        loop {
            if matches!(state.get(), State::Running) {
                return;
            }
            if let State::Error(e) = state.get() {
                panic!("the sync service failed: {e:?}");
            }
            state.next().await;
        }
    })
    .await
    .expect("the sync service reaches Running");
    sync_service
}

fn ids(list: &Vector<RoomListItem>) -> Vec<OwnedRoomId> {
    list.iter().map(|room| room.room_id().to_owned()).collect()
}

/// Applies the stream's diffs to `list` until its rooms are `want`.
async fn wait_for<S>(stream: &mut S, list: &mut Vector<RoomListItem>, want: Vec<String>)
where
    S: futures_util::Stream<Item = Vec<matrix_sdk_ui::eyeball_im::VectorDiff<RoomListItem>>> + Unpin,
{
    let reached = tokio::time::timeout(WAIT, async {
        loop {
            let now: Vec<String> = ids(list).iter().map(ToString::to_string).collect();
            if now == want {
                return;
            }
            let Some(diffs) = stream.next().await else { panic!("the room list stream ended") };
            for diff in diffs {
                diff.apply(list);
            }
        }
    })
    .await;
    assert!(reached.is_ok(), "room list {:?}, wanted {want:?}", ids(list));
}

async fn element_x_room_list_and_timeline(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice: Session = hs.api().register("alice", PASSWORD).await;
    let bob: Session = hs.api().register("bob", PASSWORD).await;
    let shared = bob.create_room(json!({ "preset": "public_chat", "name": "shared" })).await;
    alice.join(&shared).await;
    for i in 0..30 {
        bob.send_message(&shared, &format!("history {i}")).await;
    }
    let mut rooms = vec![shared.clone()];
    for i in 0..4 {
        let room = alice.create_room(json!({ "name": format!("room {i}") })).await;
        alice.send_message(&room, &format!("hello {i}")).await;
        rooms.push(room);
    }
    // Newest first: the rooms alice wrote in last, then the shared one.
    let mut expected: Vec<String> = rooms.iter().rev().cloned().collect();

    let client = sdk_client(&hs, "alice").await;
    let sync_service = running(&client).await;
    let room_list_service = sync_service.room_list_service();
    let all_rooms = room_list_service.all_rooms().await.expect("all_rooms");
    let (stream, controller) = all_rooms.entries_with_dynamic_adapters(50);
    controller.set_filter(Box::new(new_filter_non_left()));
    let mut stream = Box::pin(stream);
    let mut list: Vector<RoomListItem> = Vector::new();
    wait_for(&mut stream, &mut list, expected.clone()).await;

    // A message from bob moves the shared room to the top.
    bob.send_message(&shared, "to the top").await;
    expected.retain(|r| r != &shared);
    expected.insert(0, shared.clone());
    wait_for(&mut stream, &mut list, expected.clone()).await;

    // The shared room's timeline paginates back to the room's creation,
    // every message once and in order.
    let room = client.get_room(&shared.parse::<OwnedRoomId>().unwrap()).expect("the SDK knows the room");
    let timeline = room.timeline().await.expect("a timeline");
    let reached_start = tokio::time::timeout(WAIT, async {
        loop {
            if timeline.paginate_backwards(20).await.expect("paginate") {
                return;
            }
        }
    })
    .await;
    assert!(reached_start.is_ok(), "pagination reaches the start");
    let mut want: Vec<String> = (0..30).map(|i| format!("history {i}")).collect();
    want.push("to the top".to_owned());
    // The timeline applies the paginated events asynchronously: look until
    // they are all there (or the wait ends), then judge.
    let deadline = tokio::time::Instant::now() + WAIT;
    let (bodies, at_start) = loop {
        let items = timeline.items().await;
        let at_start = items.iter().any(|item| matches!(item.as_virtual(), Some(VirtualTimelineItem::TimelineStart)));
        let bodies: Vec<String> = items
            .iter()
            .filter_map(|item| item.as_event())
            .filter_map(|event| event.content().as_message().map(|m| m.body().to_owned()))
            .collect();
        if (bodies == want && at_start) || tokio::time::Instant::now() >= deadline {
            break (bodies, at_start);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(at_start, "the timeline starts at the room's creation");
    assert_eq!(bodies, want, "no gap, no duplicate");
    sync_service.stop().await;
}
both_backends!(element_x_room_list_and_timeline);
