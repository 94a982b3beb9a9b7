//! LiveKit's server API (Twirp `livekit.RoomService`, JSON): what the
//! homeserver asks of its media server — make a room, who is in it, mute
//! or remove a participant, change what they may do — answered by the
//! embedded SFU exactly as by an external LiveKit, with the same tokens.
//! Requests carry a token signed with the API key: `roomCreate` or
//! `roomList` for rooms, `roomAdmin` on the room for its participants.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Inner;
use crate::proto::{self, ParticipantInfo, TrackInfo};
use crate::rooms::{Outgoing, permission_of};
use crate::token::{Grants, MediaPermissions};

fn error(status: StatusCode, code: &str, msg: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "code": code, "msg": msg.into() }))).into_response()
}

fn not_found(what: &str) -> Response {
    error(StatusCode::NOT_FOUND, "not_found", format!("{what} does not exist"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Request {
    #[serde(alias = "name")]
    room: String,
    identity: String,
    #[serde(alias = "trackSid")]
    track_sid: String,
    muted: bool,
    names: Vec<String>,
    #[serde(alias = "emptyTimeout")]
    empty_timeout: Option<u32>,
    #[serde(alias = "maxParticipants")]
    max_participants: u32,
    permission: Option<Permission>,
    metadata: Option<String>,
    #[serde(rename = "participant_name", alias = "participantName")]
    participant_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Permission {
    #[serde(alias = "canSubscribe")]
    can_subscribe: bool,
    #[serde(alias = "canPublish")]
    can_publish: bool,
    #[serde(alias = "canPublishData")]
    can_publish_data: bool,
    #[serde(alias = "canPublishSources")]
    can_publish_sources: Vec<Value>,
    hidden: bool,
    #[serde(alias = "canUpdateMetadata")]
    can_update_metadata: bool,
}

pub async fn call(
    State(inner): State<Arc<Inner>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/json"));
    if !json_body {
        return error(StatusCode::NOT_FOUND, "bad_route", "only JSON requests are served");
    }
    let Some(grants) = crate::http::bearer(&headers, &HashMap::new())
        .and_then(|token| inner.keys.verify(&token, crate::now_secs()).ok())
    else {
        return error(StatusCode::UNAUTHORIZED, "unauthenticated", "a valid token is needed");
    };
    let request: Request = match serde_json::from_slice(if body.is_empty() { b"{}" } else { &body }) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, "malformed", format!("the body is not a request: {e}")),
    };
    match method.as_str() {
        "CreateRoom" | "ListRooms" | "DeleteRoom" => rooms(&inner, &grants, &method, request),
        "ListParticipants" | "GetParticipant" | "RemoveParticipant" | "MutePublishedTrack" | "UpdateParticipant" => {
            if !grants.video.room_admin || grants.video.room != request.room || request.room.is_empty() {
                return error(StatusCode::FORBIDDEN, "permission_denied", "roomAdmin on this room is needed");
            }
            participants(&inner, &method, request)
        }
        _ => error(StatusCode::NOT_FOUND, "bad_route", format!("no method {method}")),
    }
}

fn rooms(inner: &Inner, grants: &Grants, method: &str, request: Request) -> Response {
    match method {
        "CreateRoom" if grants.video.room_create => {
            if request.room.is_empty() {
                return error(StatusCode::BAD_REQUEST, "invalid_argument", "a room name is needed");
            }
            let room = inner.rooms.create(&request.room, request.empty_timeout, request.max_participants);
            axum::Json(room_json(&room)).into_response()
        }
        "ListRooms" if grants.video.room_list => {
            let rooms: Vec<Value> = inner.rooms.list(&request.names).iter().map(room_json).collect();
            axum::Json(json!({ "rooms": rooms })).into_response()
        }
        "DeleteRoom" if grants.video.room_create => {
            inner.rooms.delete(&request.room);
            axum::Json(json!({})).into_response()
        }
        _ => error(StatusCode::FORBIDDEN, "permission_denied", "the token does not grant this"),
    }
}

fn participants(inner: &Inner, method: &str, request: Request) -> Response {
    if method == "ListParticipants" {
        return match inner.rooms.participants(&request.room) {
            Some(list) => axum::Json(json!({ "participants": list.iter().map(participant_json).collect::<Vec<_>>() }))
                .into_response(),
            None => not_found("the room"),
        };
    }
    let Some((pid, info)) = inner.rooms.find(&request.room, &request.identity) else {
        return not_found("the participant");
    };
    match method {
        "GetParticipant" => axum::Json(participant_json(&info)).into_response(),
        "RemoveParticipant" => {
            inner.rooms.send_to(&request.room, pid, Outgoing::Leave(proto::DisconnectReason::ParticipantRemoved));
            axum::Json(json!({})).into_response()
        }
        "MutePublishedTrack" => {
            let track = inner.rooms.change(&request.room, pid, false, |p| {
                let track = p.tracks.iter_mut().find(|t| t.sid == request.track_sid)?;
                track.muted = request.muted;
                Some(track.clone())
            });
            let Some(Some(track)) = track else { return not_found("the track") };
            inner.rooms.send_to(&request.room, pid, Outgoing::Mute { track: track.sid.clone(), muted: request.muted });
            axum::Json(json!({ "track": track_json(&track) })).into_response()
        }
        "UpdateParticipant" => {
            let permission = request.permission.map(|p| MediaPermissions {
                can_publish: p.can_publish,
                can_subscribe: p.can_subscribe,
                can_publish_data: p.can_publish_data,
                can_publish_sources: p
                    .can_publish_sources
                    .iter()
                    .filter_map(|s| match s {
                        Value::String(name) => Some(name.to_ascii_lowercase()),
                        Value::Number(n) => n
                            .as_i64()
                            .and_then(|n| proto::TrackSource::try_from(n as i32).ok())
                            .map(|s| s.as_str_name().to_ascii_lowercase()),
                        _ => None,
                    })
                    .collect(),
                can_update_metadata: p.can_update_metadata,
                hidden: p.hidden,
            });
            let updated = inner.rooms.change(&request.room, pid, true, |p| {
                if let Some(permission) = &permission {
                    p.permission = Some(permission_of(permission));
                }
                if let Some(metadata) = &request.metadata {
                    p.metadata = metadata.clone();
                }
                if let Some(name) = &request.participant_name {
                    p.name = name.clone();
                }
                p.clone()
            });
            let Some(updated) = updated else { return not_found("the participant") };
            if let Some(permission) = permission {
                inner.rooms.send_to(&request.room, pid, Outgoing::Permissions(permission));
            }
            axum::Json(participant_json(&updated)).into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "bad_route", format!("no method {method}")),
    }
}

fn room_json(room: &proto::Room) -> Value {
    json!({
        "sid": room.sid,
        "name": room.name,
        "empty_timeout": room.empty_timeout,
        "departure_timeout": room.departure_timeout,
        "max_participants": room.max_participants,
        "creation_time": room.creation_time.to_string(),
        "creation_time_ms": room.creation_time_ms.to_string(),
        "metadata": room.metadata,
        "num_participants": room.num_participants,
        "num_publishers": room.num_publishers,
    })
}

fn track_json(track: &TrackInfo) -> Value {
    let kind = proto::TrackType::try_from(track.r#type).map_or("AUDIO", |t| t.as_str_name());
    let source = proto::TrackSource::try_from(track.source).map_or("UNKNOWN", |s| s.as_str_name());
    json!({
        "sid": track.sid,
        "type": kind,
        "name": track.name,
        "muted": track.muted,
        "width": track.width,
        "height": track.height,
        "source": source,
    })
}

/// A participant as protobuf's JSON mapping writes it (field names as in
/// the schema, enums by name, 64-bit integers as strings).
pub fn participant_json(p: &ParticipantInfo) -> Value {
    let state = proto::participant_info::State::try_from(p.state).map_or("JOINING", |s| s.as_str_name());
    let permission = p.permission.as_ref().map(|permission| {
        json!({
            "can_subscribe": permission.can_subscribe,
            "can_publish": permission.can_publish,
            "can_publish_data": permission.can_publish_data,
            "hidden": permission.hidden,
            "can_update_metadata": permission.can_update_metadata,
        })
    });
    json!({
        "sid": p.sid,
        "identity": p.identity,
        "state": state,
        "tracks": p.tracks.iter().map(track_json).collect::<Vec<_>>(),
        "metadata": p.metadata,
        "joined_at": p.joined_at.to_string(),
        "joined_at_ms": p.joined_at_ms.to_string(),
        "name": p.name,
        "version": p.version,
        "permission": permission,
        "is_publisher": p.is_publisher,
        "attributes": p.attributes,
    })
}
