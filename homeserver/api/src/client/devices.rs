//! Device management (spec: client-server API, "Device management").

use axum::extract::State;
use nexus_core::Error;
use ruma::MilliSecondsSinceUnixEpoch;
use ruma::api::client::device::{self, delete_device, delete_devices, get_device, get_devices, update_device};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, Ruma, RumaResponse};
use crate::router::AppState;

fn to_ruma(device: nexus_core::devices::Device) -> device::Device {
    let mut out = device::Device::new(device.device_id.expect("devices read from storage carry their id"));
    out.display_name = device.display_name;
    out.last_seen_ip = device.last_seen_ip;
    out.last_seen_ts = device.last_seen_ts.and_then(|ts| ts.try_into().ok()).map(MilliSecondsSinceUnixEpoch);
    out
}

pub async fn list(
    State(state): State<AppState>,
    Authed(caller): Authed,
) -> ApiResult<RumaResponse<get_devices::v3::Response>> {
    let devices = state.services.devices.list(caller.localpart()).await?;
    Ok(RumaResponse(get_devices::v3::Response::new(devices.into_iter().map(to_ruma).collect())))
}

pub async fn get_one(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<get_device::v3::Request>,
) -> ApiResult<RumaResponse<get_device::v3::Response>> {
    let device = state.services.devices.get(caller.localpart(), &request.device_id).await?;
    let device = device.ok_or_else(|| ApiError(Error::NotFound("no such device".to_owned())))?;
    Ok(RumaResponse(get_device::v3::Response::new(to_ruma(device))))
}

pub async fn rename(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<update_device::v3::Request>,
) -> ApiResult<RumaResponse<update_device::v3::Response>> {
    state.services.devices.rename(caller.localpart(), &request.device_id, request.display_name).await?;
    Ok(RumaResponse(update_device::v3::Response::new()))
}

pub async fn delete_one(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<delete_device::v3::Request>,
) -> ApiResult<RumaResponse<delete_device::v3::Response>> {
    state.services.accounts.delete_devices(&caller, &[request.device_id], request.auth.as_ref()).await?;
    Ok(RumaResponse(delete_device::v3::Response::new()))
}

pub async fn delete_many(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<delete_devices::v3::Request>,
) -> ApiResult<RumaResponse<delete_devices::v3::Response>> {
    state.services.accounts.delete_devices(&caller, &request.devices, request.auth.as_ref()).await?;
    Ok(RumaResponse(delete_devices::v3::Response::new()))
}
