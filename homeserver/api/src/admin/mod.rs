//! The Synapse-compatible admin API under `/_synapse/admin`, shaped as
//! Synapse documents it so the tools admins already use (synapse-admin)
//! work unchanged: `users.rs` (accounts, devices, memberships),
//! `rooms.rs` (the rooms list, details, members, state, blocking),
//! `reports.rs` (event reports) and `tokens.rs` (registration tokens).
//! Who is an admin is the accounts service's to say ([`Admin`] asks it);
//! the handlers only shape answers.

mod federation;
mod media;
mod query;
mod register;
mod reports;
mod room_actions;
mod room_deletion;
mod rooms;
mod search;
mod tokens;
mod user_actions;
mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{delete, get, post, put};
use nexus_core::tokens::Identity;

use crate::error::ApiError;
use crate::extract::Authed;
use crate::router::AppState;

pub fn routes() -> Router<AppState> {
    const V1: &str = "/_synapse/admin/v1";
    const V2: &str = "/_synapse/admin/v2";
    Router::new()
        .route(&format!("{V1}/register"), get(register::nonce).post(register::register))
        .route(&format!("{V1}/server_version"), get(users::server_version))
        .route(&format!("{V2}/users"), get(users::list_v2))
        .route("/_synapse/admin/v3/users", get(users::list_v3))
        .route(&format!("{V2}/users/{{user_id}}"), get(users::get).put(users::put))
        .route(&format!("{V1}/deactivate/{{user_id}}"), post(users::deactivate))
        .route(&format!("{V1}/suspend/{{user_id}}"), put(users::suspend))
        .route(&format!("{V1}/users/{{user_id}}/login"), post(user_actions::login_as))
        .route(&format!("{V1}/users/{{user_id}}/accountdata"), get(user_actions::account_data))
        .route(
            &format!("{V1}/users/{{user_id}}/shadow_ban"),
            post(user_actions::shadow_ban).delete(user_actions::lift_shadow_ban),
        )
        .route(&format!("{V1}/username_available"), get(user_actions::username_available))
        .route(&format!("{V1}/user/{{user_id}}/redact"), post(user_actions::redact))
        .route(&format!("{V1}/user/redact_status/{{redact_id}}"), get(user_actions::redact_status))
        .route(
            &format!("{V1}/users/{{user_id}}/override_ratelimit"),
            get(user_actions::get_ratelimit).post(user_actions::set_ratelimit).delete(user_actions::delete_ratelimit),
        )
        .route(&format!("{V1}/reset_password/{{user_id}}"), post(users::reset_password))
        .route(&format!("{V1}/whois/{{user_id}}"), get(users::whois))
        .route(&format!("{V1}/send_server_notice"), post(users::send_server_notice))
        .route(&format!("{V2}/users/{{user_id}}/devices"), get(users::devices))
        .route(
            &format!("{V2}/users/{{user_id}}/devices/{{device_id}}"),
            get(users::device).put(users::rename_device).delete(users::delete_device),
        )
        .route(&format!("{V2}/users/{{user_id}}/delete_devices"), post(users::delete_devices))
        .route(&format!("{V1}/users/{{user_id}}/joined_rooms"), get(users::joined_rooms))
        .route(&format!("{V1}/users/{{user_id}}/memberships"), get(users::memberships))
        .route(&format!("{V1}/users/{{user_id}}/pushers"), get(users::pushers))
        .route(&format!("{V1}/event_reports"), get(reports::list))
        .route(&format!("{V1}/event_reports/{{report_id}}"), get(reports::get).delete(reports::delete))
        .route(&format!("{V1}/registration_tokens"), get(tokens::list))
        .route(&format!("{V1}/registration_tokens/new"), post(tokens::create))
        .route(
            &format!("{V1}/registration_tokens/{{token}}"),
            get(tokens::get).put(tokens::update).delete(tokens::delete),
        )
        .route(&format!("{V1}/rooms"), get(rooms::list))
        .route(&format!("{V1}/rooms/{{room_id}}"), get(rooms::get).delete(room_deletion::delete_v1))
        .route(&format!("{V2}/rooms/{{room_id}}"), delete(room_deletion::delete_v2))
        .route(&format!("{V2}/rooms/{{room_id}}/delete_status"), get(room_deletion::status_by_room))
        .route(&format!("{V2}/rooms/delete_status/{{delete_id}}"), get(room_deletion::status_by_id))
        .route(&format!("{V1}/rooms/{{room_id}}/members"), get(rooms::members))
        .route(&format!("{V1}/rooms/{{room_id}}/state"), get(rooms::room_state))
        .route(&format!("{V1}/rooms/{{room_id}}/block"), get(rooms::get_block).put(rooms::put_block))
        .route(&format!("{V1}/rooms/{{room_id}}/messages"), get(room_actions::messages))
        .route(&format!("{V1}/rooms/{{room_id}}/context/{{event_id}}"), get(room_actions::context))
        .route(&format!("{V1}/rooms/{{room_id}}/timestamp_to_event"), get(room_actions::timestamp_to_event))
        .route(&format!("{V1}/rooms/{{room_id}}/forward_extremities"), get(room_actions::forward_extremities))
        .route(&format!("{V1}/rooms/{{room_id}}/make_room_admin"), post(room_actions::make_room_admin))
        .route(&format!("{V1}/join/{{room_id}}"), post(room_actions::join))
        .route(&format!("{V1}/fetch_event/{{event_id}}"), get(room_actions::fetch_event))
        .route(&format!("{V1}/users/{{user_id}}/media"), get(media::user_media).delete(media::delete_user_media))
        .route(&format!("{V1}/media/{{server_name}}/{{media_id}}"), get(media::info).delete(media::delete))
        .route(&format!("{V1}/media/quarantine/{{server_name}}/{{media_id}}"), post(media::quarantine))
        .route(&format!("{V1}/media/unquarantine/{{server_name}}/{{media_id}}"), post(media::unquarantine))
        .route(&format!("{V1}/media/protect/{{media_id}}"), post(media::protect))
        .route(&format!("{V1}/media/unprotect/{{media_id}}"), post(media::unprotect))
        .route(&format!("{V1}/media/delete"), post(media::delete_old))
        .route(&format!("{V1}/user/{{user_id}}/media/quarantine"), post(media::quarantine_user))
        .route(&format!("{V1}/room/{{room_id}}/media"), get(media::room_media))
        .route(&format!("{V1}/room/{{room_id}}/media/quarantine"), post(media::quarantine_room))
        .route(&format!("{V1}/purge_media_cache"), post(media::purge_cache))
        .route("/_nexus/admin/v1/search", get(search::status))
        .route("/_nexus/admin/v1/search/reindex", post(search::reindex))
        .route(&format!("{V1}/statistics/users/media"), get(media::statistics))
        .route(&format!("{V1}/federation/destinations"), get(federation::list))
        .route(&format!("{V1}/federation/destinations/{{destination}}"), get(federation::get))
        .route(&format!("{V1}/federation/destinations/{{destination}}/rooms"), get(federation::rooms))
        .route(
            &format!("{V1}/federation/destinations/{{destination}}/reset_connection"),
            post(federation::reset_connection),
        )
}

/// A caller the accounts service says is a server admin (else 403
/// `M_FORBIDDEN`, "You are not a server admin").
pub struct Admin(pub Identity);

/// Marks a request the binary itself routes in-process for its operator
/// (`nexus admin` on the store, with the server stopped). A request
/// extension: nothing that arrives over the network can carry one.
#[derive(Clone)]
pub struct OperatorRequest;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts.extensions.get::<OperatorRequest>().is_some() {
            return Ok(Admin(Identity::operator(state.services.server_name())));
        }
        let Authed(caller) = Authed::from_request_parts(parts, state).await?;
        state.services.accounts.require_admin(&caller).await?;
        Ok(Admin(caller))
    }
}
