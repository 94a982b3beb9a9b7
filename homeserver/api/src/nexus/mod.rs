//! The Nexus client API (`/_nexus/client/v1`, documented in
//! `extensions-spec/README.md` §22): what Nexus clients and bots use to run
//! Discord-style servers. Thin handlers over `core::guilds`; everything they
//! do is also expressible as plain Matrix state, judged the same way.

mod channels;
mod community;
mod emoji;
mod export;
mod invites;
mod moderation;
mod notifications;
mod search;
mod servers;
mod voice;

use axum::Router;
use axum::routing::{get, patch, post, put};

use crate::router::AppState;

const PREFIX: &str = "/_nexus/client/v1";

fn path(tail: &str) -> String {
    format!("{PREFIX}{tail}")
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&path("/servers"), post(servers::create_server))
        .route(&path("/servers/{server_id}"), get(servers::get_server))
        .route(&path("/servers/{server_id}/channels"), post(servers::create_channel))
        .route(&path("/servers/{server_id}/roles"), post(servers::create_role))
        .route(&path("/servers/{server_id}/role_positions"), put(channels::set_role_positions))
        .route(&path("/servers/{server_id}/categories"), put(channels::set_categories))
        .route(&path("/channels/{room_id}"), patch(channels::edit_channel).delete(channels::remove_channel))
        .route(&path("/servers/{server_id}/roles/{role_id}"), put(servers::put_role).delete(servers::delete_role))
        .route(
            &path("/servers/{server_id}/members/{user_id}/roles/{role_id}"),
            put(servers::assign_role).delete(servers::remove_role),
        )
        .route(&path("/servers/{server_id}/members/{user_id}/timeout"), put(servers::set_timeout))
        .route(&path("/servers/{server_id}/members/{user_id}/kick"), post(servers::kick))
        .route(&path("/servers/{server_id}/members/{user_id}/ban"), post(servers::ban))
        .route(&path("/servers/{server_id}/members/{user_id}/purge"), post(moderation::purge))
        .route(&path("/servers/{server_id}/audit_log"), get(moderation::audit_log))
        .route(&path("/servers/{server_id}/invites"), post(invites::create).get(invites::list))
        .route(&path("/rooms/{room_id}/permissions"), get(servers::permissions))
        .route(&path("/rooms/{room_id}/power_levels"), get(servers::compiled_power_levels))
        .route(&path("/invites/{code}"), get(invites::resolve).delete(invites::revoke))
        .route(&path("/invites/{code}/join"), post(invites::join))
        .route(&path("/channels/{room_id}/threads"), get(community::channel_threads))
        .route(&path("/channels/{room_id}/pins"), get(community::pins))
        .route(&path("/channels/{room_id}/voice"), get(voice::voice_state))
        .route(&path("/channels/{room_id}/voice/{user_id}"), put(voice::moderate))
        .route(&path("/channels/{room_id}/voice/{user_id}/disconnect"), post(voice::disconnect))
        .route(&path("/servers/{server_id}/threads"), get(community::server_threads))
        .route(&path("/servers/{server_id}/scheduled_events"), get(community::scheduled_events))
        .route(&path("/servers/{server_id}/notifications"), get(notifications::get).put(notifications::put))
        .route(&path("/channels/{room_id}/emoji"), get(emoji::usable))
        .route(&path("/channels/{room_id}/notifications"), get(notifications::get).put(notifications::put))
        .route(&path("/export"), post(export::start).get(export::list))
        .route(&path("/search"), post(search::search))
        .route(&path("/saved_searches"), get(search::list_saved))
        .route(&path("/saved_searches/{name}"), put(search::put_saved).delete(search::delete_saved))
        .route(&path("/export/{export_id}"), get(export::get).delete(export::delete))
        .route(&path("/export/{export_id}/download"), get(export::download))
}
