//! Black-box scenario tests for Nexus.
//!
//! The harness starts the real `nexus` binary on a loopback port with a
//! throwaway data directory (and a throwaway PostgreSQL database for the
//! PostgreSQL backend), and scenarios talk to it over HTTP only — through the
//! small client in [`client`] or through matrix-sdk. Scenarios assert what the
//! Matrix specification says, and are named after the spec section or the
//! Complement test they mirror.

pub mod appservice;
pub mod bench;
pub mod client;
pub mod dns;
pub mod e2ee_client;
pub mod federation;
pub mod federation_peer;
pub mod homeserver;
pub mod judge_process;
pub mod media_client;
pub mod netns;
pub mod nexus_servers;
pub mod openapi_log;
pub mod partial_resident;
pub mod postgres;
pub mod push_gateway;
pub mod redis;
pub mod sdk_log;
pub mod sdk_ui;
pub mod signing;
pub mod sync_client;
pub mod well_known_server;

pub use client::{
    Api, Reply, Session, enc, event_ids, expect_event_id, find_state, new_txn_id, password_login, relates_to,
    room_path, room_path_v1,
};
pub use federation::{FEDERATION_WAIT, Synapse, TestCa, eventually};
pub use homeserver::{Backend, Homeserver, HomeserverBuilder, nexus_binary};
pub use reqwest::Method;
pub use sync_client::{Receipt, Synced, inline_filter, message_bodies, state_keys, sync_query};

/// Runs each named scenario — an `async fn(Backend)` in the same file — on
/// both storage backends, as the tests `<scenario>::rocksdb` and
/// `<scenario>::postgres`. The PostgreSQL one is skipped with a SKIP line
/// when `NEXUS_TEST_POSTGRES_URL` is unset (and fails instead when
/// `NEXUS_TEST_REQUIRE_POSTGRES=1`).
///
/// ```ignore
/// async fn registered_user_logs_in(backend: Backend) { /* ... */ }
/// both_backends!(registered_user_logs_in);
/// ```
#[macro_export]
macro_rules! both_backends {
    ($($scenario:ident),+ $(,)?) => {
        $(
            // A module may share its name with the function: they live in
            // different namespaces, and the test names read as the scenario.
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn rocksdb() {
                    super::$scenario($crate::Backend::RocksDb).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::skip_unless_backend_available!($crate::Backend::Postgres);
                    super::$scenario($crate::Backend::Postgres).await;
                }
            }
        )+
    };
}
