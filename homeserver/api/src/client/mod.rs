//! The client-server API, one module per spec section.

mod account;
mod capabilities;
mod devices;
mod profile;
mod registration;
mod session;
mod third_party_ids;
mod versions;

use axum::Router;
use axum::routing::{get, post};

use crate::router::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_matrix/client/versions", get(versions::supported_versions))
        .route("/_matrix/client/v3/capabilities", get(capabilities::capabilities))
        .route("/_matrix/client/v3/register", post(registration::register))
        .route("/_matrix/client/v3/register/available", get(registration::username_available))
        .route(
            "/_matrix/client/v1/register/m.login.registration_token/validity",
            get(registration::registration_token_validity),
        )
        .route("/_matrix/client/v3/login", get(session::login_types).post(session::login))
        .route("/_matrix/client/v3/refresh", post(session::refresh))
        .route("/_matrix/client/v3/logout", post(session::logout))
        .route("/_matrix/client/v3/logout/all", post(session::logout_all))
        .route("/_matrix/client/v3/account/whoami", get(account::whoami))
        .route("/_matrix/client/v3/account/password", post(account::change_password))
        .route("/_matrix/client/v3/account/deactivate", post(account::deactivate))
        .route("/_matrix/client/v3/account/3pid", get(third_party_ids::list))
        .route("/_matrix/client/v3/account/3pid/add", post(third_party_ids::refuse))
        .route("/_matrix/client/v3/account/3pid/bind", post(third_party_ids::refuse))
        .route("/_matrix/client/v3/register/email/requestToken", post(third_party_ids::refuse))
        .route("/_matrix/client/v3/register/msisdn/requestToken", post(third_party_ids::refuse))
        .route("/_matrix/client/v3/account/password/email/requestToken", post(third_party_ids::refuse))
        .route("/_matrix/client/v3/account/password/msisdn/requestToken", post(third_party_ids::refuse))
        .route("/_matrix/client/v3/account/3pid/email/requestToken", post(third_party_ids::refuse))
        .route("/_matrix/client/v3/account/3pid/msisdn/requestToken", post(third_party_ids::refuse))
        .route("/_matrix/client/v3/devices", get(devices::list))
        .route(
            "/_matrix/client/v3/devices/{device_id}",
            get(devices::get_one).put(devices::rename).delete(devices::delete_one),
        )
        .route("/_matrix/client/v3/delete_devices", post(devices::delete_many))
        .route("/_matrix/client/v3/profile/{user_id}", get(profile::get_profile))
        .route(
            "/_matrix/client/v3/profile/{user_id}/{field}",
            get(profile::get_field).put(profile::set_field).delete(profile::delete_field),
        )
}
