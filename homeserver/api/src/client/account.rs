//! Account management (spec: client-server API, "Account management").

use axum::Json;
use axum::extract::State;
use ruma::api::client::account::{ThirdPartyIdRemovalStatus, change_password, deactivate, whoami};

use crate::error::ApiResult;
use crate::extract::{Authed, PathParams, Ruma, RumaResponse};
use crate::router::AppState;

pub async fn whoami(Authed(caller): Authed) -> RumaResponse<whoami::v3::Response> {
    let mut response = whoami::v3::Response::new(caller.user_id, false);
    // An appservice that named no device has none.
    if caller.appservice.as_ref().is_none_or(|acting| acting.device_named) {
        response.device_id = Some(caller.device_id);
    }
    RumaResponse(response)
}

pub async fn change_password(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<change_password::v3::Request>,
) -> ApiResult<RumaResponse<change_password::v3::Response>> {
    state
        .services
        .accounts
        .change_password(&caller, request.new_password, request.logout_devices, request.auth.as_ref())
        .await?;
    Ok(RumaResponse(change_password::v3::Response::new()))
}

pub async fn deactivate(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<deactivate::v3::Request>,
) -> ApiResult<RumaResponse<deactivate::v3::Response>> {
    state.services.accounts.deactivate(&caller, request.erase, request.auth.as_ref()).await?;
    // No third-party identifier is ever bound; the spec says an empty
    // unbind is `success`.
    Ok(RumaResponse(deactivate::v3::Response::new(ThirdPartyIdRemovalStatus::Success)))
}

/// `POST /user/{userId}/openid/request_token`: a token a third party can
/// check with `/_matrix/federation/v1/openid/userinfo`.
pub async fn openid_request_token(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(user): PathParams<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = crate::ids::own_user(&user, &caller.user_id)?;
    let token = state.services.openid.issue(&user).await?;
    Ok(Json(serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "matrix_server_name": state.services.server_name(),
        "expires_in": nexus_core::openid::LIFETIME_SECS,
    })))
}
