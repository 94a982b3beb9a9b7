//! Room aliases (spec: client-server API, "Room aliases").

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use ruma::OwnedRoomId;
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams, QueryParams};
use crate::ids::alias;
use crate::router::AppState;
use nexus_core::rooms::directory::{DirectoryRequest, DirectoryScope};

pub async fn resolve(
    State(state): State<AppState>,
    PathParams(raw_alias): PathParams<String>,
) -> ApiResult<impl IntoResponse> {
    let alias = alias(&raw_alias)?;
    let (room_id, servers) = state.services.federation.resolve_alias(&alias).await?;
    Ok(Json(json!({ "room_id": room_id, "servers": servers })))
}

#[derive(Deserialize)]
pub struct CreateAlias {
    room_id: OwnedRoomId,
}

pub async fn create(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_alias): PathParams<String>,
    JsonBody(body): JsonBody<CreateAlias>,
) -> ApiResult<impl IntoResponse> {
    let alias = alias(&raw_alias)?;
    state.services.rooms.create_alias(&caller.user_id, &alias, &body.room_id).await?;
    Ok(Json(json!({})))
}

pub async fn delete(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_alias): PathParams<String>,
) -> ApiResult<impl IntoResponse> {
    let alias = alias(&raw_alias)?;
    state.services.rooms.delete_alias(&caller.user_id, &alias).await?;
    Ok(Json(json!({})))
}

pub async fn get_visibility(
    State(state): State<AppState>,
    PathParams(raw_room_id): PathParams<String>,
) -> ApiResult<impl IntoResponse> {
    let room_id =
        OwnedRoomId::try_from(raw_room_id).map_err(|e| ApiError(Error::InvalidParam(format!("not a room id: {e}"))))?;
    let published = state.services.rooms.is_published(&room_id).await?;
    Ok(Json(json!({ "visibility": if published { "public" } else { "private" } })))
}

#[derive(Deserialize)]
pub struct VisibilityBody {
    visibility: Option<String>,
}

pub async fn set_visibility(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_room_id): PathParams<String>,
    JsonBody(body): JsonBody<VisibilityBody>,
) -> ApiResult<impl IntoResponse> {
    let room_id =
        OwnedRoomId::try_from(raw_room_id).map_err(|e| ApiError(Error::InvalidParam(format!("not a room id: {e}"))))?;
    let published = match body.visibility.as_deref() {
        Some("public") => true,
        Some("private") | None => false,
        Some(other) => {
            return Err(ApiError(Error::InvalidParam(format!("visibility must be public or private, not {other:?}"))));
        }
    };
    state.services.rooms.set_published(&caller.user_id, &room_id, published).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
pub struct PublicRoomsQuery {
    limit: Option<usize>,
    since: Option<String>,
    server: Option<String>,
    #[serde(default)]
    include_all_networks: bool,
    third_party_instance_id: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PublicRoomsFilter {
    generic_search_term: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PublicRoomsBody {
    limit: Option<usize>,
    since: Option<String>,
    server: Option<String>,
    #[serde(default)]
    filter: PublicRoomsFilter,
    #[serde(default)]
    include_all_networks: bool,
    third_party_instance_id: Option<String>,
}

async fn public_rooms_page(
    state: &AppState,
    server: Option<&str>,
    request: DirectoryRequest<'_>,
) -> ApiResult<Json<serde_json::Value>> {
    let server = server.map(crate::ids::server_name).transpose()?;
    Ok(Json(state.services.federation.public_rooms(server.as_deref(), &request).await?))
}

pub async fn public_rooms(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PublicRoomsQuery>,
) -> ApiResult<impl IntoResponse> {
    let request = DirectoryRequest {
        limit: query.limit,
        since: query.since.as_deref(),
        search: None,
        scope: DirectoryScope::of_request(query.third_party_instance_id.as_deref(), query.include_all_networks),
    };
    public_rooms_page(&state, query.server.as_deref(), request).await
}

pub async fn search_public_rooms(
    State(state): State<AppState>,
    _caller: Authed,
    QueryParams(query): QueryParams<PublicRoomsQuery>,
    JsonBody(body): JsonBody<PublicRoomsBody>,
) -> ApiResult<impl IntoResponse> {
    let server = body.server.or(query.server);
    let request = DirectoryRequest {
        limit: body.limit,
        since: body.since.as_deref(),
        search: body.filter.generic_search_term.as_deref(),
        scope: DirectoryScope::of_request(body.third_party_instance_id.as_deref(), body.include_all_networks),
    };
    public_rooms_page(&state, server.as_deref(), request).await
}

/// `PUT /directory/list/appservice/{networkId}/{roomId}`: an application
/// service publishes a room in one of its networks' directories.
pub async fn set_network_visibility(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((network_id, raw_room_id)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<VisibilityBody>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(raw_room_id)?;
    let published = match body.visibility.as_deref() {
        Some("public") => true,
        Some("private") => false,
        None => return Err(ApiError(Error::BadJson("visibility is required".to_owned()))),
        Some(other) => {
            return Err(ApiError(Error::InvalidParam(format!("visibility must be public or private, not {other:?}"))));
        }
    };
    let appservice = caller.appservice.as_ref().map(|acting| acting.id.as_str());
    state.services.rooms.set_published_in_network(appservice, &network_id, &room_id, published).await?;
    Ok(Json(json!({})))
}

fn room_id(raw: String) -> Result<OwnedRoomId, ApiError> {
    OwnedRoomId::try_from(raw).map_err(|e| ApiError(Error::InvalidParam(format!("not a room id: {e}"))))
}
