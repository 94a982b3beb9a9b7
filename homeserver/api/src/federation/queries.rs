//! Queries other servers make of this one (spec: server-server API,
//! "Querying for information").

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use serde_json::{Value, json};

use super::Signed;
use crate::error::{ApiError, ApiResult};
use crate::router::AppState;
use nexus_core::rooms::directory::{DirectoryRequest, DirectoryScope};

pub async fn version() -> Json<Value> {
    Json(json!({ "server": { "name": "Nexus", "version": env!("CARGO_PKG_VERSION") } }))
}

/// `GET /query/profile?user_id=…[&field=displayname|avatar_url]`.
pub async fn profile(State(state): State<AppState>, signed: Signed) -> ApiResult<Json<Value>> {
    let user =
        signed.query_one("user_id").ok_or_else(|| ApiError(Error::MissingParam("user_id is required".to_owned())))?;
    let user = crate::ids::user_id(user)?;
    if user.server_name() != state.services.server_name() {
        return Err(ApiError(Error::NotFound(format!("{user} is not a user of this server"))));
    }
    let profile = state.services.profiles.get(&user).await?;
    let mut answer = serde_json::Map::new();
    for (key, value) in profile {
        if signed.query_one("field").is_none_or(|field| field == key) {
            answer.insert(key, value);
        }
    }
    Ok(Json(Value::Object(answer)))
}

/// `GET /query/directory?room_alias=…`.
pub async fn directory(State(state): State<AppState>, signed: Signed) -> ApiResult<Json<Value>> {
    let alias = signed
        .query_one("room_alias")
        .ok_or_else(|| ApiError(Error::MissingParam("room_alias is required".to_owned())))?;
    let alias = crate::ids::alias(alias)?;
    let rooms = &state.services.rooms;
    let room_id = rooms.resolve_alias(&alias).await?;
    let mut servers = rooms.joined_servers(&room_id).await?;
    let own = state.services.server_name().to_owned();
    servers.retain(|s| *s != own);
    servers.insert(0, own);
    Ok(Json(json!({ "room_id": room_id, "servers": servers })))
}

#[derive(serde::Deserialize)]
pub struct KeysQuery {
    device_keys: serde_json::Map<String, Value>,
}

pub async fn user_keys_query(State(state): State<AppState>, signed: Signed) -> ApiResult<Json<Value>> {
    let body: KeysQuery = signed.json()?;
    Ok(Json(state.services.federation.answer_key_query(&signed.origin, &body.device_keys).await?))
}

#[derive(serde::Deserialize)]
pub struct KeysClaim {
    one_time_keys: serde_json::Map<String, Value>,
}

pub async fn user_keys_claim(State(state): State<AppState>, signed: Signed) -> ApiResult<Json<Value>> {
    let body: KeysClaim = signed.json()?;
    Ok(Json(state.services.federation.answer_key_claim(&body.one_time_keys).await?))
}

pub async fn user_devices(
    State(state): State<AppState>,
    crate::extract::PathParams(user): crate::extract::PathParams<String>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    let user = crate::ids::user_id(&user)?;
    Ok(Json(state.services.federation.answer_devices(&signed.origin, &user).await?))
}

/// `GET /publicRooms?limit=&since=&include_all_networks=&third_party_instance_id=`.
pub async fn public_rooms(State(state): State<AppState>, signed: Signed) -> ApiResult<Json<Value>> {
    let all_networks = signed.query_one("include_all_networks") == Some("true");
    let request = DirectoryRequest {
        limit: signed.query_one("limit").and_then(|l| l.parse().ok()),
        since: signed.query_one("since"),
        search: None,
        scope: DirectoryScope::of_request(signed.query_one("third_party_instance_id"), all_networks),
    };
    Ok(Json(state.services.federation.local_public_rooms(&request).await?))
}

#[derive(serde::Deserialize, Default)]
pub struct PublicRoomsSearch {
    limit: Option<usize>,
    since: Option<String>,
    #[serde(default)]
    filter: Option<Value>,
    #[serde(default)]
    include_all_networks: bool,
    third_party_instance_id: Option<String>,
}

/// `POST /publicRooms` with a filter.
pub async fn search_public_rooms(State(state): State<AppState>, signed: Signed) -> ApiResult<Json<Value>> {
    let body: PublicRoomsSearch = signed.json()?;
    let request = DirectoryRequest {
        limit: body.limit,
        since: body.since.as_deref(),
        search: body.filter.as_ref().and_then(|f| f.get("generic_search_term")).and_then(Value::as_str),
        scope: DirectoryScope::of_request(body.third_party_instance_id.as_deref(), body.include_all_networks),
    };
    Ok(Json(state.services.federation.local_public_rooms(&request).await?))
}

#[derive(serde::Deserialize)]
pub struct UserinfoQuery {
    access_token: String,
}

/// `GET /openid/userinfo?access_token=…`: not X-Matrix signed — the
/// caller is any third party holding the user's OpenID token.
pub async fn openid_userinfo(
    State(state): State<AppState>,
    crate::extract::QueryParams(query): crate::extract::QueryParams<UserinfoQuery>,
) -> ApiResult<Json<Value>> {
    let user = state.services.openid.user_of(&query.access_token).await?;
    Ok(Json(json!({ "sub": user })))
}
