//! Durability: what the server acknowledged survives a crash (SIGKILL) or a
//! clean shutdown (SIGTERM) and a restart on the same data, on both backends.

use nexus_complement::{Backend, Homeserver, Method, both_backends, password_login};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

async fn account_registered_before_sigkill_logs_in_after_restart(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    hs.kill9();
    hs.restart().await;

    let again = hs.api().login("alice", PASSWORD).await;
    assert_eq!(again.user_id, alice.user_id);
    // The access token issued before the crash is still good, too.
    alice.expect_token_valid().await;
    hs.api().get("/register/available?username=alice").await.expect_error(400, "M_USER_IN_USE");
}
both_backends!(account_registered_before_sigkill_logs_in_after_restart);

async fn logout_before_sigkill_stays_logged_out_after_restart(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let phone = hs.api().register("alice", PASSWORD).await;
    let laptop = phone.login_again().await;
    laptop.post("/logout", json!({})).await.expect_ok();

    hs.kill9();
    hs.restart().await;

    laptop.expect_token_rejected().await;
    phone.expect_token_valid().await;
}
both_backends!(logout_before_sigkill_stays_logged_out_after_restart);

async fn password_change_before_sigkill_holds_after_restart(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    alice
        .with_password_uia(Method::POST, "/account/password", json!({"new_password": "n3w-Secret!"}))
        .await
        .expect_ok();

    hs.kill9();
    hs.restart().await;

    let api = hs.api();
    api.login("alice", "n3w-Secret!").await;
    api.login_with(password_login("alice", PASSWORD)).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(password_change_before_sigkill_holds_after_restart);

async fn profile_and_device_names_survive_a_sigkill(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let user = nexus_complement::enc(&alice.user_id);
    alice.put(&format!("/profile/{user}/displayname"), json!({"displayname": "Alice Liddell"})).await.expect_ok();
    alice.put(&format!("/devices/{}", alice.device_id), json!({"display_name": "Rabbit hole"})).await.expect_ok();

    hs.kill9();
    hs.restart().await;

    let name = alice.get(&format!("/profile/{user}/displayname")).await;
    assert_eq!(name.expect_ok()["displayname"], "Alice Liddell", "{name:?}");
    let device = alice.get(&format!("/devices/{}", alice.device_id)).await;
    assert_eq!(device.expect_ok()["display_name"], "Rabbit hole", "{device:?}");
}
both_backends!(profile_and_device_names_survive_a_sigkill);

async fn sigterm_stops_the_server_cleanly_and_data_survives(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let status = hs.stop();

    assert!(status.success(), "SIGTERM should end in a clean exit, got {status}");
    hs.restart().await;
    hs.api().login("alice", PASSWORD).await;
    alice.expect_token_valid().await;
}
both_backends!(sigterm_stops_the_server_cleanly_and_data_survives);

async fn several_restarts_keep_every_account(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let mut registered = Vec::new();

    for round in 0..3 {
        let localpart = format!("user{round}");
        hs.api().register(&localpart, PASSWORD).await;
        registered.push(localpart);
        hs.kill9();
        hs.restart().await;
        for localpart in &registered {
            hs.api().login(localpart, PASSWORD).await;
        }
    }
}
both_backends!(several_restarts_keep_every_account);
