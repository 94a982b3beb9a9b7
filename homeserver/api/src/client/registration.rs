//! Account registration (spec: client-server API, "Account registration").

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use nexus_core::accounts::{Registered, RegistrationRequest};
use nexus_core::rate_limits::Limited;
use ruma::api::client::account::register::{LoginType, RegistrationKind};
use ruma::api::client::account::{check_registration_token_validity, get_username_availability, register};
use serde_json::json;

use crate::error::ApiResult;
use crate::extract::{AccessToken, ClientIp, Ruma, RumaResponse};
use crate::router::AppState;

pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AccessToken(token): AccessToken,
    Ruma(request): Ruma<register::v3::Request>,
) -> ApiResult<Response> {
    let appservice_login = request.login_type == Some(LoginType::ApplicationService);
    // Bridges register their users in bursts: one registered with
    // `rate_limited: false` is not limited per address.
    if let Some(ip) = ip
        && !(appservice_login && state.services.appservices.exempt_from_rate_limits(token.as_deref()))
    {
        state.services.rate_limits.check(Limited::Register, ip).await?;
    }
    let registered = state
        .services
        .register(
            token.as_deref(),
            appservice_login,
            RegistrationRequest {
                username: request.username,
                password: request.password,
                device_id: request.device_id,
                initial_device_display_name: request.initial_device_display_name,
                inhibit_login: request.inhibit_login,
                refresh_token: request.refresh_token,
                guest: request.kind == RegistrationKind::Guest,
                auth: request.auth,
                client_ip: ip.map(|ip| ip.to_string()),
            },
        )
        .await?;
    let response = match registered {
        // ruma writes `"device_id": null` here; the spec says to leave it out.
        Registered::AccountOnly(user_id) => return Ok(Json(json!({ "user_id": user_id })).into_response()),
        Registered::LoggedIn(session) => {
            let mut response = register::v3::Response::new(session.user_id);
            response.access_token = Some(session.tokens.access_token);
            response.device_id = Some(session.device_id);
            response.refresh_token = session.tokens.refresh_token;
            response.expires_in = session.tokens.expires_in;
            response
        }
    };
    Ok(RumaResponse(response).into_response())
}

pub async fn username_available(
    State(state): State<AppState>,
    Ruma(request): Ruma<get_username_availability::v3::Request>,
) -> ApiResult<RumaResponse<get_username_availability::v3::Response>> {
    state.services.accounts.username_available(&request.username).await?;
    Ok(RumaResponse(get_username_availability::v3::Response::new(true)))
}

pub async fn registration_token_validity(
    State(state): State<AppState>,
    Ruma(request): Ruma<check_registration_token_validity::v1::Request>,
) -> ApiResult<RumaResponse<check_registration_token_validity::v1::Response>> {
    let valid = state.services.accounts.check_registration_token(&request.token).await?;
    Ok(RumaResponse(check_registration_token_validity::v1::Response::new(valid)))
}
