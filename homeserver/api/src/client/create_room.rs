//! `POST /createRoom` (spec: client-server API, "Creation").

use axum::extract::State;
use nexus_core::Error;
use nexus_core::rooms::{CreateRoom, Preset};
use ruma::api::client::room::Visibility;
use ruma::api::client::room::create_room::v3::{self, RoomPreset};
use ruma::canonical_json::CanonicalJsonObject;
use ruma::serde::Raw;
use ruma::{OwnedRoomAliasId, RoomAliasId};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, Ruma, RumaResponse};
use crate::router::AppState;

fn object<T>(raw: &Raw<T>, what: &str) -> Result<CanonicalJsonObject, ApiError> {
    serde_json::from_str(raw.json().get())
        .map_err(|e| ApiError(Error::BadJson(format!("{what} must be a canonical JSON object: {e}"))))
}

pub async fn create_room(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<v3::Request>,
) -> ApiResult<RumaResponse<v3::Response>> {
    let mut initial_state = Vec::with_capacity(request.initial_state.len());
    for raw in &request.initial_state {
        let mut event = object(raw, "an initial_state event")?;
        let kind = event.remove("type").and_then(|v| v.as_str().map(str::to_owned));
        let kind = kind.ok_or_else(|| ApiError(Error::BadJson("initial_state events need a type".to_owned())))?;
        let state_key = event.remove("state_key").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let content = match event.remove("content") {
            Some(ruma::CanonicalJsonValue::Object(content)) => content,
            _ => return Err(ApiError(Error::BadJson("initial_state events need an object content".to_owned()))),
        };
        initial_state.push((kind, state_key, content));
    }
    let alias = match &request.room_alias_name {
        Some(name) => {
            let alias = format!("#{name}:{}", state.services.server_name());
            let alias: OwnedRoomAliasId = RoomAliasId::parse(&alias).map_err(|e| {
                ApiError(Error::InvalidParam(format!("room_alias_name does not make a valid alias: {e}")))
            })?;
            Some(alias)
        }
        None => None,
    };
    let preset = match &request.preset {
        None => None,
        Some(RoomPreset::PrivateChat) => Some(Preset::PrivateChat),
        Some(RoomPreset::PublicChat) => Some(Preset::PublicChat),
        Some(RoomPreset::TrustedPrivateChat) => Some(Preset::TrustedPrivateChat),
        Some(other) => return Err(ApiError(Error::BadJson(format!("unknown preset {other:?}")))),
    };
    let create = CreateRoom {
        room_version: request.room_version,
        creation_content: request.creation_content.as_ref().map(|c| object(c, "creation_content")).transpose()?,
        initial_state,
        preset,
        public: request.visibility == Visibility::Public,
        invite: request.invite,
        is_direct: request.is_direct,
        name: request.name,
        topic: request.topic,
        alias,
        power_level_content_override: request
            .power_level_content_override
            .as_ref()
            .map(|c| object(c, "power_level_content_override"))
            .transpose()?,
        by_appservice: caller.appservice.is_some(),
    };
    let room_id = state.services.rooms.create_room(&caller.user_id, create).await?;
    Ok(RumaResponse(v3::Response::new(room_id)))
}
