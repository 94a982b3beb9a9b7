//! Third-party networks (spec: "Third-party networks"): the protocols this
//! server knows are the ones its application services declare; every
//! lookup is passed to the appservices that provide the protocol.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde_json::Value;

use crate::error::ApiResult;
use crate::extract::{Authed, PathParams};
use crate::router::AppState;

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    let Some(query) = uri.query() else { return Vec::new() };
    form_urlencoded::parse(query.as_bytes())
        // The caller's masquerading and token are not the appservice's business.
        .filter(|(k, _)| !matches!(&**k, "access_token" | "user_id" | "device_id" | "org.matrix.msc3202.device_id"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub async fn protocols(State(state): State<AppState>, _caller: Authed) -> Json<Value> {
    Json(state.services.appservices.third_party_protocols().await)
}

pub async fn protocol(
    State(state): State<AppState>,
    _caller: Authed,
    PathParams(protocol): PathParams<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(state.services.appservices.third_party_protocol(&protocol).await?))
}

/// `GET /thirdparty/location/{protocol}`.
pub async fn locations(
    State(state): State<AppState>,
    _caller: Authed,
    PathParams(protocol): PathParams<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let found = state.services.appservices.third_party_lookup("location", Some(&protocol), &query_pairs(&uri)).await?;
    Ok(Json(found))
}

/// `GET /thirdparty/user/{protocol}`.
pub async fn users(
    State(state): State<AppState>,
    _caller: Authed,
    PathParams(protocol): PathParams<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let found = state.services.appservices.third_party_lookup("user", Some(&protocol), &query_pairs(&uri)).await?;
    Ok(Json(found))
}

/// `GET /thirdparty/location?alias=`: the reverse lookup.
pub async fn location_by_alias(State(state): State<AppState>, _caller: Authed, uri: Uri) -> ApiResult<Json<Value>> {
    Ok(Json(state.services.appservices.third_party_lookup("location", None, &query_pairs(&uri)).await?))
}

/// `GET /thirdparty/user?userid=`: the reverse lookup.
pub async fn user_by_id(State(state): State<AppState>, _caller: Authed, uri: Uri) -> ApiResult<Json<Value>> {
    Ok(Json(state.services.appservices.third_party_lookup("user", None, &query_pairs(&uri)).await?))
}
