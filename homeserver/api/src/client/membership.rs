//! Room membership (spec: client-server API, "Room membership").

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use ruma::api::client::knock::knock_room;
use ruma::api::client::membership::invite_user::v3::InvitationRecipient;
use ruma::api::client::membership::{
    ban_user, forget_room, invite_user, join_room_by_id, join_room_by_id_or_alias, joined_rooms, kick_user, leave_room,
    unban_user,
};
use ruma::{OwnedRoomId, RoomId};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, PathParams, QueryParams, Ruma, RumaResponse};
use crate::ids::room_id;
use crate::router::AppState;

pub async fn join_by_id_or_alias(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<join_room_by_id_or_alias::v3::Request>,
) -> ApiResult<RumaResponse<join_room_by_id_or_alias::v3::Response>> {
    let rooms = &state.services.rooms;
    let mut via = request.via.clone();
    let room_id: OwnedRoomId = match <&RoomId>::try_from(request.room_id_or_alias.as_ref() as &ruma::RoomOrAliasId) {
        Ok(room_id) => room_id.to_owned(),
        Err(alias) => {
            let (room_id, servers) = state.services.federation.resolve_alias(alias).await?;
            via.extend(servers);
            room_id
        }
    };
    rooms.join(&room_id, &caller.user_id, request.reason.as_deref(), &via).await?;
    Ok(RumaResponse(join_room_by_id_or_alias::v3::Response::new(room_id)))
}

pub async fn knock(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<knock_room::v3::Request>,
) -> ApiResult<RumaResponse<knock_room::v3::Response>> {
    let rooms = &state.services.rooms;
    let room_id: OwnedRoomId = match <&RoomId>::try_from(request.room_id_or_alias.as_ref() as &ruma::RoomOrAliasId) {
        Ok(room_id) => room_id.to_owned(),
        Err(alias) => rooms.resolve_alias(alias).await?,
    };
    rooms.knock(&room_id, &caller.user_id, request.reason.as_deref()).await?;
    Ok(RumaResponse(knock_room::v3::Response::new(room_id)))
}

pub async fn join_by_id(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<join_room_by_id::v3::Request>,
) -> ApiResult<RumaResponse<join_room_by_id::v3::Response>> {
    state.services.rooms.join(&request.room_id, &caller.user_id, request.reason.as_deref(), &[]).await?;
    Ok(RumaResponse(join_room_by_id::v3::Response::new(request.room_id)))
}

pub async fn invite(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<invite_user::v3::Request>,
) -> ApiResult<RumaResponse<invite_user::v3::Response>> {
    let InvitationRecipient::UserId(recipient) = &request.recipient else {
        return Err(ApiError(Error::ThreepidMediumNotSupported(
            "this server does not invite by email or phone number".to_owned(),
        )));
    };
    let rooms = &state.services.rooms;
    rooms.invite(&request.room_id, &caller.user_id, &recipient.user_id, recipient.reason.as_deref(), false).await?;
    Ok(RumaResponse(invite_user::v3::Response::new()))
}

pub async fn leave(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<leave_room::v3::Request>,
) -> ApiResult<RumaResponse<leave_room::v3::Response>> {
    state.services.rooms.leave(&request.room_id, &caller.user_id, request.reason.as_deref()).await?;
    Ok(RumaResponse(leave_room::v3::Response::new()))
}

pub async fn kick(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<kick_user::v3::Request>,
) -> ApiResult<RumaResponse<kick_user::v3::Response>> {
    let rooms = &state.services.rooms;
    rooms.kick(&request.room_id, &caller.user_id, &request.user_id, request.reason.as_deref()).await?;
    Ok(RumaResponse(kick_user::v3::Response::new()))
}

pub async fn ban(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<ban_user::v3::Request>,
) -> ApiResult<RumaResponse<ban_user::v3::Response>> {
    let rooms = &state.services.rooms;
    rooms.ban(&request.room_id, &caller.user_id, &request.user_id, request.reason.as_deref()).await?;
    Ok(RumaResponse(ban_user::v3::Response::new()))
}

pub async fn unban(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<unban_user::v3::Request>,
) -> ApiResult<RumaResponse<unban_user::v3::Response>> {
    let rooms = &state.services.rooms;
    rooms.unban(&request.room_id, &caller.user_id, &request.user_id, request.reason.as_deref()).await?;
    Ok(RumaResponse(unban_user::v3::Response::new()))
}

pub async fn forget(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<forget_room::v3::Request>,
) -> ApiResult<RumaResponse<forget_room::v3::Response>> {
    state.services.rooms.forget(&request.room_id, &caller.user_id).await?;
    Ok(RumaResponse(forget_room::v3::Response::new()))
}

pub async fn joined(
    State(state): State<AppState>,
    Authed(caller): Authed,
) -> ApiResult<RumaResponse<joined_rooms::v3::Response>> {
    let rooms = state.services.rooms.joined_rooms(&caller.user_id).await?;
    Ok(RumaResponse(joined_rooms::v3::Response::new(rooms)))
}

pub async fn joined_members(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_room_id): PathParams<String>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let joined = state.services.rooms.joined_members(&caller.user_id, &room_id).await?;
    Ok(Json(json!({ "joined": joined })))
}

#[derive(Deserialize)]
pub struct MembersQuery {
    membership: Option<String>,
    not_membership: Option<String>,
    at: Option<String>,
}

pub async fn members(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_room_id): PathParams<String>,
    QueryParams(query): QueryParams<MembersQuery>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let chunk = state
        .services
        .rooms
        .members_for_client(
            &caller.user_id,
            &caller.device_id,
            &room_id,
            query.membership.as_deref(),
            query.not_membership.as_deref(),
            query.at.as_deref(),
        )
        .await?;
    Ok(Json(json!({ "chunk": chunk })))
}
