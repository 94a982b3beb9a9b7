//! The client-server API, one module per spec section.

mod account;
mod account_data;
mod account_moderation;
mod appservice_ping;
mod backup;
mod capabilities;
mod create_room;
mod delayed_events;
mod devices;
mod directory;
mod discovery;
mod ephemeral;
mod keys;
mod membership;
mod presence;
mod profile;
mod push;
mod registration;
mod relations;
mod reporting;
pub(crate) mod room_events;
mod rtc;
mod search;
mod session;
mod spaces;
mod sync;
mod third_party_ids;
mod third_party_lookup;
mod upgrade;
mod versions;
mod voip;

use axum::Router;
use axum::routing::{get, post, put};

use crate::router::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_matrix/client/versions", get(versions::supported_versions))
        .route("/_matrix/client/v3/capabilities", get(capabilities::capabilities))
        .route(
            "/_matrix/client/v1/admin/lock/{user_id}",
            get(account_moderation::get_lock).put(account_moderation::put_lock),
        )
        .route(
            "/_matrix/client/v1/admin/suspend/{user_id}",
            get(account_moderation::get_suspend).put(account_moderation::put_suspend),
        )
        .route("/_matrix/client/v3/register", post(registration::register))
        .route("/_matrix/client/v3/register/available", get(registration::username_available))
        .route(
            "/_matrix/client/v1/register/m.login.registration_token/validity",
            get(registration::registration_token_validity),
        )
        .route("/_matrix/client/v3/login", get(session::login_types).post(session::login))
        .route("/_matrix/client/v3/refresh", post(session::refresh))
        .route("/_matrix/client/v1/login/get_token", post(session::get_login_token))
        .route("/_matrix/client/v3/logout", post(session::logout))
        .route("/_matrix/client/v3/logout/all", post(session::logout_all))
        .route("/_matrix/client/v3/account/whoami", get(account::whoami))
        .route("/_matrix/client/v3/user/{user_id}/openid/request_token", post(account::openid_request_token))
        .route("/_matrix/client/v3/account/password", post(account::change_password))
        .route("/_matrix/client/v3/account/deactivate", post(account::deactivate))
        .route("/_matrix/client/v3/account/3pid", get(third_party_ids::list))
        .route("/_matrix/client/v3/account/3pid/add", post(third_party_ids::refuse))
        .route("/_matrix/client/v3/account/3pid/bind", post(third_party_ids::refuse))
        .route("/_matrix/client/v3/account/3pid/delete", post(third_party_ids::remove))
        .route("/_matrix/client/v3/account/3pid/unbind", post(third_party_ids::remove))
        .route("/_matrix/client/v3/thirdparty/protocols", get(third_party_lookup::protocols))
        .route("/_matrix/client/v3/thirdparty/protocol/{protocol}", get(third_party_lookup::protocol))
        .route("/_matrix/client/v3/thirdparty/location/{protocol}", get(third_party_lookup::locations))
        .route("/_matrix/client/v3/thirdparty/user/{protocol}", get(third_party_lookup::users))
        .route("/_matrix/client/v3/thirdparty/location", get(third_party_lookup::location_by_alias))
        .route("/_matrix/client/v3/thirdparty/user", get(third_party_lookup::user_by_id))
        .route("/_matrix/client/v1/appservice/{appservice_id}/ping", post(appservice_ping::ping))
        .route("/_matrix/client/v3/voip/turnServer", get(voip::turn_server))
        .route("/_matrix/client/unstable/org.matrix.msc4143/rtc/transports", get(rtc::transports))
        .route("/_matrix/client/unstable/org.matrix.msc4140/delayed_events", get(delayed_events::list))
        .route("/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delay_id}", post(delayed_events::update))
        .route(
            "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delay_id}/{action}",
            post(delayed_events::update_by_path),
        )
        .route("/_matrix/client/v3/users/{user_id}/report", post(reporting::report_user))
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
        .route("/_matrix/client/v3/admin/whois/{user_id}", get(devices::whois))
        .route("/_matrix/client/v3/profile/{user_id}", get(profile::get_profile))
        .route(
            "/_matrix/client/v3/profile/{user_id}/{field}",
            get(profile::get_field).put(profile::set_field).delete(profile::delete_field),
        )
        .merge(room_routes())
        .merge(sync_routes())
        .merge(e2ee_routes())
}

fn e2ee_routes() -> Router<AppState> {
    const KEYS: &str = "/_matrix/client/v3/room_keys";
    let keys = |path: &str| format!("{KEYS}{path}");
    Router::new()
        .route("/_matrix/client/v3/keys/upload", post(keys::upload))
        .route("/_matrix/client/v3/keys/query", post(keys::query))
        .route("/_matrix/client/v3/keys/claim", post(keys::claim))
        .route("/_matrix/client/v3/keys/changes", get(keys::changes))
        .route("/_matrix/client/v3/keys/device_signing/upload", post(keys::upload_cross_signing))
        .route("/_matrix/client/v3/keys/signatures/upload", post(keys::upload_signatures))
        .route("/_matrix/client/v3/sendToDevice/{event_type}/{txn_id}", put(keys::send_to_device))
        .route(&keys("/version"), post(backup::create_version).get(backup::current_version))
        .route(
            &keys("/version/{version}"),
            get(backup::get_version).put(backup::update_version).delete(backup::delete_version),
        )
        .route(&keys("/keys"), put(backup::put_all).get(backup::get_all).delete(backup::delete_all))
        .route(&keys("/keys/{room_id}"), put(backup::put_room).get(backup::get_room).delete(backup::delete_room))
        .route(
            &keys("/keys/{room_id}/{session_id}"),
            put(backup::put_session).get(backup::get_session).delete(backup::delete_session),
        )
}

fn sync_routes() -> Router<AppState> {
    const USER: &str = "/_matrix/client/v3/user/{user_id}";
    let user = |path: &str| format!("{USER}{path}");
    Router::new()
        .route("/_matrix/client/v3/sync", get(sync::sync))
        .route("/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", post(sync::sliding_sync))
        .route(&user("/filter"), post(sync::create_filter))
        .route(&user("/filter/{filter_id}"), get(sync::get_filter))
        .route(&user("/account_data/{type}"), get(account_data::get_global).put(account_data::put_global))
        .route(&user("/rooms/{room_id}/account_data/{type}"), get(account_data::get_room).put(account_data::put_room))
        .route(&user("/rooms/{room_id}/tags"), get(account_data::get_tags))
        .route(&user("/rooms/{room_id}/tags/{tag}"), put(account_data::put_tag).delete(account_data::delete_tag))
        .route("/_matrix/client/v3/rooms/{room_id}/typing/{user_id}", put(ephemeral::typing))
        .route("/_matrix/client/v3/rooms/{room_id}/receipt/{receipt_type}/{event_id}", post(ephemeral::receipt))
        .route("/_matrix/client/v3/rooms/{room_id}/read_markers", post(ephemeral::read_markers))
        .route("/_matrix/client/v3/pushrules/", get(push::all_rules))
        .route("/_matrix/client/v3/pushrules/global/", get(push::global_rules))
        .route(
            "/_matrix/client/v3/pushrules/global/{kind}/{rule_id}",
            get(push::get_rule).put(push::set_rule).delete(push::delete_rule),
        )
        .route(
            "/_matrix/client/v3/pushrules/global/{kind}/{rule_id}/enabled",
            get(push::get_enabled).put(push::set_enabled),
        )
        .route(
            "/_matrix/client/v3/pushrules/global/{kind}/{rule_id}/actions",
            get(push::get_actions).put(push::set_actions),
        )
        .route("/_matrix/client/v3/notifications", get(push::notifications))
        .route("/_matrix/client/v3/presence/{user_id}/status", get(presence::get_status).put(presence::set_status))
        .route("/_matrix/client/v3/pushers", get(push::pushers))
        .route("/_matrix/client/v3/pushers/set", post(push::set_pusher))
}

fn room_routes() -> Router<AppState> {
    const ROOM: &str = "/_matrix/client/v3/rooms/{room_id}";
    let room = |path: &str| format!("{ROOM}{path}");
    Router::new()
        .route("/_matrix/client/v3/createRoom", post(create_room::create_room))
        .route("/_matrix/client/v3/joined_rooms", get(membership::joined))
        .route("/_matrix/client/v3/join/{room_id_or_alias}", post(membership::join_by_id_or_alias))
        .route(&room("/join"), post(membership::join_by_id))
        .route("/_matrix/client/v3/knock/{room_id_or_alias}", post(membership::knock))
        .route(&room("/invite"), post(membership::invite))
        .route(&room("/leave"), post(membership::leave))
        .route(&room("/kick"), post(membership::kick))
        .route(&room("/ban"), post(membership::ban))
        .route(&room("/unban"), post(membership::unban))
        .route(&room("/forget"), post(membership::forget))
        .route(&room("/joined_members"), get(membership::joined_members))
        .route(&room("/members"), get(membership::members))
        .route(&room("/send/{event_type}/{txn_id}"), put(room_events::send))
        .route(&room("/state"), get(room_events::get_state))
        .route(
            &room("/state/{event_type}"),
            get(room_events::get_state_event_empty_key).put(room_events::put_state_empty_key),
        )
        .route(
            &room("/state/{event_type}/"),
            get(room_events::get_state_event_empty_key).put(room_events::put_state_empty_key),
        )
        .route(&room("/state/{event_type}/{state_key}"), get(room_events::get_state_event).put(room_events::put_state))
        .route(&room("/redact/{event_id}/{txn_id}"), put(room_events::redact))
        .route(&room("/event/{event_id}"), get(room_events::get_event))
        .route(&room("/messages"), get(room_events::messages))
        .route(&room("/context/{event_id}"), get(room_events::context))
        .route("/_matrix/client/v1/rooms/{room_id}/timestamp_to_event", get(room_events::timestamp_to_event))
        .route(&room("/report/{event_id}"), post(reporting::report_event))
        .route(&room("/report"), post(reporting::report_room))
        .route(&room("/aliases"), get(discovery::aliases))
        .route("/_matrix/client/v1/room_summary/{room_id_or_alias}", get(discovery::summary))
        .route("/_matrix/client/v1/mutual_rooms", get(discovery::mutual_rooms))
        .route("/_matrix/client/v1/rooms/{room_id}/hierarchy", get(spaces::hierarchy))
        .route("/_matrix/client/v3/user_directory/search", post(discovery::search_users))
        .route("/_matrix/client/v3/search", post(search::search))
        .route(&room("/upgrade"), post(upgrade::upgrade))
        .route("/_matrix/client/v1/rooms/{room_id}/relations/{event_id}", get(relations::all_relations))
        .route("/_matrix/client/v1/rooms/{room_id}/relations/{event_id}/{rel_type}", get(relations::relations_of_type))
        .route(
            "/_matrix/client/v1/rooms/{room_id}/relations/{event_id}/{rel_type}/{event_type}",
            get(relations::relations_of_type_and_event_type),
        )
        .route("/_matrix/client/v1/rooms/{room_id}/threads", get(relations::threads))
        .route(
            "/_matrix/client/v3/directory/list/room/{room_id}",
            get(directory::get_visibility).put(directory::set_visibility),
        )
        .route(
            "/_matrix/client/v3/directory/list/appservice/{network_id}/{room_id}",
            put(directory::set_network_visibility),
        )
        .route("/_matrix/client/v3/publicRooms", get(directory::public_rooms).post(directory::search_public_rooms))
        .route(
            "/_matrix/client/v3/directory/room/{room_alias}",
            get(directory::resolve).put(directory::create).delete(directory::delete),
        )
}
