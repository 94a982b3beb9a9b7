//! Push rules, notifications and pushers (spec: client-server API, "Push
//! notifications").

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use nexus_core::pushers::Pusher;
use ruma::api::client::push::{
    delete_pushrule, get_pushrule, get_pushrule_actions, get_pushrule_enabled, get_pushrules_all, set_pushrule,
    set_pushrule_actions, set_pushrule_enabled,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, QueryParams, Ruma, RumaResponse};
use crate::router::AppState;

pub async fn all_rules(
    State(state): State<AppState>,
    Authed(caller): Authed,
) -> ApiResult<RumaResponse<get_pushrules_all::v3::Response>> {
    let ruleset = state.services.push.ruleset(&caller.user_id).await?;
    Ok(RumaResponse(get_pushrules_all::v3::Response::new((*ruleset).clone())))
}

pub async fn global_rules(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<impl IntoResponse> {
    let ruleset = state.services.push.ruleset(&caller.user_id).await?;
    Ok(Json(serde_json::to_value(&*ruleset).map_err(|e| ApiError(Error::Internal(e.to_string())))?))
}

pub async fn get_rule(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<get_pushrule::v3::Request>,
) -> ApiResult<RumaResponse<get_pushrule::v3::Response>> {
    let rule = state.services.push.rule(&caller.user_id, request.kind, &request.rule_id).await?;
    Ok(RumaResponse(get_pushrule::v3::Response::new(rule)))
}

pub async fn set_rule(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<set_pushrule::v3::Request>,
) -> ApiResult<RumaResponse<set_pushrule::v3::Response>> {
    let push = &state.services.push;
    push.set_rule(&caller.user_id, request.rule, request.after.as_deref(), request.before.as_deref()).await?;
    Ok(RumaResponse(set_pushrule::v3::Response::new()))
}

pub async fn delete_rule(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<delete_pushrule::v3::Request>,
) -> ApiResult<RumaResponse<delete_pushrule::v3::Response>> {
    state.services.push.delete_rule(&caller.user_id, request.kind, &request.rule_id).await?;
    Ok(RumaResponse(delete_pushrule::v3::Response::new()))
}

pub async fn get_enabled(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<get_pushrule_enabled::v3::Request>,
) -> ApiResult<RumaResponse<get_pushrule_enabled::v3::Response>> {
    let rule = state.services.push.rule(&caller.user_id, request.kind, &request.rule_id).await?;
    Ok(RumaResponse(get_pushrule_enabled::v3::Response::new(rule.enabled)))
}

pub async fn set_enabled(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<set_pushrule_enabled::v3::Request>,
) -> ApiResult<RumaResponse<set_pushrule_enabled::v3::Response>> {
    state.services.push.set_enabled(&caller.user_id, request.kind, &request.rule_id, request.enabled).await?;
    Ok(RumaResponse(set_pushrule_enabled::v3::Response::new()))
}

pub async fn get_actions(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<get_pushrule_actions::v3::Request>,
) -> ApiResult<RumaResponse<get_pushrule_actions::v3::Response>> {
    let rule = state.services.push.rule(&caller.user_id, request.kind, &request.rule_id).await?;
    Ok(RumaResponse(get_pushrule_actions::v3::Response::new(rule.actions)))
}

pub async fn set_actions(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<set_pushrule_actions::v3::Request>,
) -> ApiResult<RumaResponse<set_pushrule_actions::v3::Response>> {
    state.services.push.set_actions(&caller.user_id, request.kind, &request.rule_id, request.actions).await?;
    Ok(RumaResponse(set_pushrule_actions::v3::Response::new()))
}

#[derive(Deserialize)]
pub struct NotificationsQuery {
    from: Option<String>,
    limit: Option<usize>,
    only: Option<String>,
}

pub async fn notifications(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<NotificationsQuery>,
) -> ApiResult<impl IntoResponse> {
    let from = match query.from.as_deref() {
        Some(token) => Some(token.strip_prefix('p').and_then(|n| n.parse::<u64>().ok()).ok_or_else(|| {
            ApiError(Error::InvalidParam(format!("{token:?} is not a notifications token of this server")))
        })?),
        None => None,
    };
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let services = &state.services;
    let listed = services.push.list(&caller.user_id, from, limit, query.only.as_deref() == Some("highlight")).await?;
    let next_token = (listed.len() == limit).then(|| listed.last().map(|(o, _, _)| format!("p{o}"))).flatten();
    let mut chunk = Vec::with_capacity(listed.len());
    for (_, notification, read) in listed {
        // Only events the user may (still) see are listed.
        let Ok(event) = services
            .rooms
            .event_for_client(&caller.user_id, &caller.device_id, &notification.room_id, &notification.event_id)
            .await
        else {
            continue;
        };
        chunk.push(json!({
            "actions": notification.actions,
            "event": event,
            "read": read,
            "room_id": notification.room_id,
            "ts": notification.ts,
        }));
    }
    let mut body = json!({ "notifications": chunk });
    if let Some(next) = next_token {
        body["next_token"] = json!(next);
    }
    Ok(Json(body))
}

pub async fn pushers(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<impl IntoResponse> {
    let pushers = state.services.pushers.list(&caller.user_id).await?;
    Ok(Json(json!({ "pushers": pushers })))
}

#[derive(Deserialize)]
pub struct SetPusher {
    pushkey: String,
    /// Required; `null` deletes. `Some(None)` is null, `None` missing.
    #[serde(default, deserialize_with = "present")]
    kind: Option<Option<String>>,
    app_id: String,
    app_display_name: Option<String>,
    device_display_name: Option<String>,
    profile_tag: Option<String>,
    lang: Option<String>,
    #[serde(default)]
    data: serde_json::Map<String, Value>,
    #[serde(default)]
    append: bool,
}

/// Tells a present `null` from an absent field.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

pub async fn set_pusher(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(body): JsonBody<SetPusher>,
) -> ApiResult<impl IntoResponse> {
    let pushers = &state.services.pushers;
    let kind = body.kind.ok_or_else(|| ApiError(Error::MissingParam("kind is required".to_owned())))?;
    let Some(kind) = kind else {
        // `kind: null` deletes (spec: "If the kind is null, the pusher is deleted").
        pushers.delete(&caller.user_id, &body.app_id, &body.pushkey).await?;
        return Ok(Json(json!({})));
    };
    let missing = |field: &str| ApiError(Error::MissingParam(format!("{field} is required")));
    let pusher = Pusher {
        pushkey: body.pushkey,
        kind,
        app_id: body.app_id,
        app_display_name: body.app_display_name.ok_or_else(|| missing("app_display_name"))?,
        device_display_name: body.device_display_name.ok_or_else(|| missing("device_display_name"))?,
        profile_tag: body.profile_tag,
        lang: body.lang.ok_or_else(|| missing("lang"))?,
        data: body.data,
    };
    pushers.set(&caller.user_id, pusher, body.append).await?;
    Ok(Json(json!({})))
}
