//! Login, token refresh and logout (spec: client-server API, "Login",
//! "Refreshing access tokens", "Logout").

use axum::extract::State;
use nexus_core::Error;
use nexus_core::accounts::{NewDevice, PasswordLogin};
use nexus_core::rate_limits::Limited;
use ruma::api::client::session::get_login_types::v3::{
    ApplicationServiceLoginType, LoginType, PasswordLoginType, TokenLoginType,
};
use ruma::api::client::session::{get_login_token, get_login_types, login, logout, logout_all, refresh_token};
use ruma::api::client::uiaa::UserIdentifier;

use crate::error::{ApiError, ApiResult};
use crate::extract::{AccessToken, Authed, AuthedEvenLocked, ClientIp, Ruma, RumaResponse};
use crate::router::AppState;

pub async fn login_types() -> RumaResponse<get_login_types::v3::Response> {
    let mut token = TokenLoginType::new();
    token.get_login_token = true;
    RumaResponse(get_login_types::v3::Response::new(vec![
        LoginType::Password(PasswordLoginType::new()),
        LoginType::Token(token),
        LoginType::ApplicationService(ApplicationServiceLoginType::new()),
    ]))
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AccessToken(token): AccessToken,
    Ruma(request): Ruma<login::v3::Request>,
) -> ApiResult<RumaResponse<login::v3::Response>> {
    let appservice_login = matches!(request.login_info, login::v3::LoginInfo::ApplicationService(_));
    if let Some(ip) = ip
        && !(appservice_login && state.services.appservices.exempt_from_rate_limits(token.as_deref()))
    {
        state.services.rate_limits.check(Limited::Login, ip).await?;
    }
    let device = NewDevice {
        device_id: request.device_id,
        initial_device_display_name: request.initial_device_display_name,
        refresh_token: request.refresh_token,
        client_ip: ip.map(|ip| ip.to_string()),
    };
    let accounts = &state.services.accounts;
    let session = match request.login_info {
        login::v3::LoginInfo::Password(password) => {
            #[allow(deprecated)]
            let user = match (password.identifier, password.user) {
                (Some(UserIdentifier::Matrix(id)), _) => id.user,
                (None, Some(user)) => user,
                (Some(_), _) => {
                    return Err(ApiError(Error::Forbidden("only m.id.user identifiers are supported".to_owned())));
                }
                (None, None) => return Err(ApiError(Error::MissingParam("identifier is required".to_owned()))),
            };
            accounts.login_with_password(PasswordLogin { user, password: password.password, device }).await?
        }
        login::v3::LoginInfo::Token(token) => accounts.login_with_token(&token.token, device).await?,
        login::v3::LoginInfo::ApplicationService(appservice) => {
            #[allow(deprecated)]
            let user = match (appservice.identifier, appservice.user) {
                (Some(UserIdentifier::Matrix(id)), _) => id.user,
                (None, Some(user)) => user,
                (Some(_), _) => {
                    return Err(ApiError(Error::Forbidden("only m.id.user identifiers are supported".to_owned())));
                }
                (None, None) => return Err(ApiError(Error::MissingParam("identifier is required".to_owned()))),
            };
            state.services.login_appservice(token.as_deref(), &user, device).await?
        }
        _ => {
            return Err(ApiError(Error::BadRequest(
                "unknown login type: m.login.password, m.login.token and m.login.application_service are supported"
                    .to_owned(),
            )));
        }
    };
    let mut response = login::v3::Response::new(session.user_id, session.tokens.access_token, session.device_id);
    response.refresh_token = session.tokens.refresh_token;
    response.expires_in = session.tokens.expires_in;
    Ok(RumaResponse(response))
}

pub async fn refresh(
    State(state): State<AppState>,
    Ruma(request): Ruma<refresh_token::v3::Request>,
) -> ApiResult<RumaResponse<refresh_token::v3::Response>> {
    let tokens = state.services.refresh(&request.refresh_token).await?;
    let mut response = refresh_token::v3::Response::new(tokens.access_token);
    response.refresh_token = tokens.refresh_token;
    response.expires_in_ms = tokens.expires_in;
    Ok(RumaResponse(response))
}

pub async fn logout(
    State(state): State<AppState>,
    AuthedEvenLocked(caller): AuthedEvenLocked,
) -> ApiResult<RumaResponse<logout::v3::Response>> {
    state.services.accounts.logout(&caller).await?;
    Ok(RumaResponse(logout::v3::Response::new()))
}

pub async fn logout_all(
    State(state): State<AppState>,
    AuthedEvenLocked(caller): AuthedEvenLocked,
) -> ApiResult<RumaResponse<logout_all::v3::Response>> {
    state.services.accounts.logout_all(&caller).await?;
    Ok(RumaResponse(logout_all::v3::Response::new()))
}

/// `POST /_matrix/client/v1/login/get_token`: a single-use token for
/// signing in another device, after user-interactive auth.
pub async fn get_login_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Authed(caller): Authed,
    Ruma(request): Ruma<get_login_token::v1::Request>,
) -> ApiResult<RumaResponse<get_login_token::v1::Response>> {
    // Minting a way in is a login: it shares the login rate limit.
    if let Some(ip) = ip {
        state.services.rate_limits.check(Limited::Login, ip).await?;
    }
    let (token, lifetime) = state.services.accounts.issue_login_token(&caller, request.auth.as_ref()).await?;
    Ok(RumaResponse(get_login_token::v1::Response::new(lifetime, token)))
}
