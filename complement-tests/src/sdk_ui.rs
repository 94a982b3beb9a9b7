//! matrix-sdk-ui (Element X's engine) helpers for the sliding sync
//! scenarios: logged-in SDK clients, a running `SyncService`, the room
//! list as the app sees it, and a count of the sliding sync sessions the
//! SDK had to expire (`M_UNKNOWN_POS`).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use matrix_sdk::Client;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk_ui::eyeball_im::{Vector, VectorDiff};
use matrix_sdk_ui::room_list_service::RoomListItem;
use matrix_sdk_ui::sync_service::{State, SyncService};
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::Homeserver;

/// How long the SDK may take to see a change.
pub const WAIT: Duration = Duration::from_secs(30);

/// A matrix-sdk client (a new device, in-memory stores, crypto on) logged
/// in as `localpart`.
pub async fn sdk_client(hs: &Homeserver, localpart: &str, password: &str) -> Client {
    let client = Client::builder().homeserver_url(hs.base_url()).build().await.expect("build a matrix-sdk client");
    client
        .matrix_auth()
        .login_username(localpart, password)
        .initial_device_display_name("matrix-sdk-ui")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{localpart} logs in with matrix-sdk: {e:?}"));
    client
}

/// Starts the service (again, as Element X does after an error or going
/// offline) until it is Running.
pub async fn until_running(sync_service: &SyncService) {
    let mut state = sync_service.state();
    let reached = tokio::time::timeout(WAIT, async {
        loop {
            match state.get() {
                State::Running => return,
                State::Idle | State::Terminated | State::Error(_) => sync_service.start().await,
                State::Offline => {}
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), state.next()).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "the sync service reaches Running (now {:?})", sync_service.state().get());
}

/// Restarts the service whenever it stopped on an error (as Element X
/// does), until the task is aborted.
pub fn keep_running(sync_service: Arc<SyncService>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut state = sync_service.state();
        loop {
            if matches!(state.get(), State::Error(_) | State::Terminated) {
                sync_service.start().await;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), state.next()).await;
        }
    })
}

/// A started sync service, Running.
pub async fn running(client: &Client) -> Arc<SyncService> {
    let sync_service = Arc::new(SyncService::builder(client.clone()).build().await.expect("build the sync service"));
    until_running(&sync_service).await;
    sync_service
}

pub fn ids(list: &Vector<RoomListItem>) -> Vec<OwnedRoomId> {
    list.iter().map(|room| room.room_id().to_owned()).collect()
}

/// Applies the stream's diffs to `list` until `done(list)` holds.
pub async fn list_until<S>(stream: &mut S, list: &mut Vector<RoomListItem>, done: impl Fn(&[String]) -> bool)
where
    S: futures_util::Stream<Item = Vec<VectorDiff<RoomListItem>>> + Unpin,
{
    let reached = tokio::time::timeout(WAIT, async {
        loop {
            let now: Vec<String> = ids(list).iter().map(ToString::to_string).collect();
            if done(&now) {
                return;
            }
            let Some(diffs) = stream.next().await else { panic!("the room list stream ended") };
            for diff in diffs {
                diff.apply(list);
            }
        }
    })
    .await;
    assert!(reached.is_ok(), "room list {:?} never reached the wanted state", ids(list));
}

/// Polls `check` every 100 ms until it yields a value; panics after
/// [`WAIT`] naming `what`.
pub async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, check: impl Fn() -> F) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

static EXPIRED: AtomicU64 = AtomicU64::new(0);

struct ExpiryCounter;

struct IsExpiry(bool);

impl Visit for IsExpiry {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}").contains("Session expired") {
            self.0 = true;
        }
    }
}

fn sliding_sync_info(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("matrix_sdk::sliding_sync") && *meta.level() <= Level::INFO
}

impl<S: Subscriber> Layer<S> for ExpiryCounter {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if sliding_sync_info(meta) { Interest::always() } else { Interest::never() }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        sliding_sync_info(meta)
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut seen = IsExpiry(false);
        event.record(&mut seen);
        if seen.0 {
            EXPIRED.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Starts counting the sliding sync sessions the SDK expires (it does on
/// `M_UNKNOWN_POS`), once per test binary.
pub fn count_expired_sessions() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(ExpiryCounter));
    });
}

/// The sessions expired so far in this test binary.
pub fn expired_sessions() -> u64 {
    EXPIRED.load(Ordering::SeqCst)
}
