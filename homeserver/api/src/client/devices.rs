//! Device management (spec: client-server API, "Device management").

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use ruma::api::client::device::{delete_device, delete_devices, get_device, update_device};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, Ruma, RumaResponse};
use crate::router::AppState;

/// A device as the spec's `Device` schema has it: absent optional fields
/// are left out (ruma's type writes `null` for them, which the schema's
/// `string` does not allow).
#[derive(Serialize)]
pub struct DeviceView {
    device_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen_ts: Option<u64>,
}

fn view(device: nexus_core::devices::Device) -> DeviceView {
    DeviceView {
        device_id: device.device_id.map(|id| id.to_string()).unwrap_or_default(),
        display_name: device.display_name,
        last_seen_ip: device.last_seen_ip,
        last_seen_ts: device.last_seen_ts,
    }
}

pub async fn list(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<Json<Value>> {
    let devices: Vec<DeviceView> =
        state.services.devices.list(caller.localpart()).await?.into_iter().map(view).collect();
    Ok(Json(json!({ "devices": devices })))
}

pub async fn get_one(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<get_device::v3::Request>,
) -> ApiResult<Json<DeviceView>> {
    let device = state.services.devices.get(caller.localpart(), &request.device_id).await?;
    let device = device.ok_or_else(|| ApiError(Error::NotFound("no such device".to_owned())))?;
    Ok(Json(view(device)))
}

pub async fn rename(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<update_device::v3::Request>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    // MSC4190: an appservice creates its users' devices this way (201).
    let services = &state.services;
    if services.create_appservice_device(&caller, &request.device_id, request.display_name.clone()).await? {
        return Ok((axum::http::StatusCode::CREATED, Json(serde_json::json!({}))).into_response());
    }
    services.devices.rename(caller.localpart(), &request.device_id, request.display_name).await?;
    Ok(RumaResponse(update_device::v3::Response::new()).into_response())
}

pub async fn delete_one(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<delete_device::v3::Request>,
) -> ApiResult<RumaResponse<delete_device::v3::Response>> {
    // MSC4190: an appservice removes its users' devices without
    // user-interactive auth.
    if caller.appservice.is_some() {
        if state.services.devices.get(caller.localpart(), &request.device_id).await?.is_none() {
            return Err(ApiError(Error::NotFound("no such device".to_owned())));
        }
        state.services.accounts.remove_devices_for_appservice(caller.localpart(), vec![request.device_id]).await?;
        return Ok(RumaResponse(delete_device::v3::Response::new()));
    }
    state.services.accounts.delete_devices(&caller, &[request.device_id], request.auth.as_ref()).await?;
    Ok(RumaResponse(delete_device::v3::Response::new()))
}

pub async fn delete_many(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<delete_devices::v3::Request>,
) -> ApiResult<RumaResponse<delete_devices::v3::Response>> {
    if caller.appservice.is_some() {
        state.services.accounts.remove_devices_for_appservice(caller.localpart(), request.devices).await?;
        return Ok(RumaResponse(delete_devices::v3::Response::new()));
    }
    state.services.accounts.delete_devices(&caller, &request.devices, request.auth.as_ref()).await?;
    Ok(RumaResponse(delete_devices::v3::Response::new()))
}

pub async fn whois(
    State(state): State<AppState>,
    Authed(caller): Authed,
    crate::extract::PathParams(raw_user_id): crate::extract::PathParams<String>,
) -> ApiResult<Json<Value>> {
    let target = crate::ids::user_id(&raw_user_id)?;
    let admin = state.services.accounts.is_admin(&caller.user_id).await?;
    Ok(Json(state.services.devices.whois(&caller.user_id, &target, admin).await?))
}
