//! Accounts through a real client library: matrix-sdk registers (through the
//! dummy UIA stage), logs in, asks whoami and logs out against Nexus, pointed
//! straight at the base URL (no server discovery) with in-memory stores.

use matrix_sdk::Client;
use matrix_sdk::ruma::api::client::account::register::v3::Request as RegistrationRequest;
use matrix_sdk::ruma::api::client::uiaa::{AuthData, AuthType, Dummy};
use matrix_sdk::ruma::api::error::ErrorKind;
use nexus_complement::{Backend, Homeserver, both_backends};

const PASSWORD: &str = "sUp3r-secret";

async fn sdk_client(hs: &Homeserver) -> Client {
    Client::builder().homeserver_url(hs.base_url()).build().await.expect("build a matrix-sdk client")
}

async fn matrix_sdk_registers_through_the_dummy_stage(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let client = sdk_client(&hs).await;
    let mut request = RegistrationRequest::new();
    request.username = Some("alice".to_owned());
    request.password = Some(PASSWORD.to_owned());
    request.initial_device_display_name = Some("matrix-sdk".to_owned());

    let challenge =
        client.matrix_auth().register(request.clone()).await.expect_err("registration without auth must be challenged");
    let info = challenge.as_uiaa_response().unwrap_or_else(|| panic!("not a UIA challenge: {challenge:?}"));
    assert!(info.flows.iter().any(|flow| flow.stages == [AuthType::Dummy]), "no [m.login.dummy] flow: {info:?}");
    let mut dummy = Dummy::new();
    dummy.session = info.session.clone();
    request.auth = Some(AuthData::Dummy(dummy));
    let response = client.matrix_auth().register(request).await.expect("registration with the dummy stage");

    assert_eq!(response.user_id.as_str(), hs.user_id("alice"));
    assert!(client.is_active(), "the client is logged in after registering");
    let whoami = client.whoami().await.expect("whoami");
    assert_eq!(whoami.user_id.as_str(), hs.user_id("alice"));
    assert_eq!(whoami.device_id, response.device_id);
}
both_backends!(matrix_sdk_registers_through_the_dummy_stage);

async fn matrix_sdk_logs_in_and_out_and_the_old_token_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    hs.api().register("alice", PASSWORD).await;
    let client = sdk_client(&hs).await;

    let login = client
        .matrix_auth()
        .login_username("alice", PASSWORD)
        .initial_device_display_name("matrix-sdk")
        .send()
        .await
        .expect("password login");
    assert_eq!(login.user_id.as_str(), hs.user_id("alice"));
    let whoami = client.whoami().await.expect("whoami");
    assert_eq!(whoami.user_id, login.user_id);
    assert_eq!(whoami.device_id.as_ref(), Some(&login.device_id));
    let token = client.access_token().expect("an access token after login");

    client.logout().await.expect("logout");

    hs.api().get_as(&token, "/account/whoami").await.expect_error(401, "M_UNKNOWN_TOKEN");
    let after = client.whoami().await.expect_err("whoami after logout");
    assert!(
        matches!(after.client_api_error_kind(), Some(ErrorKind::UnknownToken(_))),
        "expected M_UNKNOWN_TOKEN, got {after:?}"
    );
}
both_backends!(matrix_sdk_logs_in_and_out_and_the_old_token_is_rejected);

async fn matrix_sdk_login_with_wrong_password_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    hs.api().register("alice", PASSWORD).await;
    let client = sdk_client(&hs).await;

    let error = client
        .matrix_auth()
        .login_username(hs.user_id("alice"), "not-the-password")
        .send()
        .await
        .expect_err("a wrong password must not log in");

    assert!(matches!(error.client_api_error_kind(), Some(ErrorKind::Forbidden)), "expected M_FORBIDDEN, got {error:?}");
    assert!(!client.is_active());
}
both_backends!(matrix_sdk_login_with_wrong_password_is_forbidden);

async fn matrix_sdk_sees_the_device_it_logged_in_with(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    hs.api().register("alice", PASSWORD).await;
    let client = sdk_client(&hs).await;
    let login = client
        .matrix_auth()
        .login_username("alice", PASSWORD)
        .initial_device_display_name("matrix-sdk")
        .send()
        .await
        .expect("password login");

    let devices = client.devices().await.expect("list devices");

    let mine = devices
        .devices
        .iter()
        .find(|d| d.device_id == login.device_id)
        .unwrap_or_else(|| panic!("{} missing from {devices:?}", login.device_id));
    assert_eq!(mine.display_name.as_deref(), Some("matrix-sdk"));
}
both_backends!(matrix_sdk_sees_the_device_it_logged_in_with);
