//! `POST /_matrix/client/v1/appservice/{appserviceId}/ping` (spec:
//! client-server API, "Appservice ping"; MSC2659): an appservice asks the
//! homeserver to reach it, to check both directions at start-up.

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams};
use crate::router::AppState;

#[derive(Deserialize, Default)]
pub struct PingBody {
    transaction_id: Option<String>,
}

pub async fn ping(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(appservice_id): PathParams<String>,
    JsonBody(body): JsonBody<PingBody>,
) -> ApiResult<Json<Value>> {
    let services = &state.services;
    let registry = services.appservices.registry();
    let Some(registration) = caller.appservice.as_ref().and_then(|acting| registry.by_id(&acting.id)) else {
        return Err(ApiError(Error::Forbidden("only an application service may ping".to_owned())));
    };
    let elapsed = services.appservices.ping(registration, &appservice_id, body.transaction_id.as_deref()).await?;
    Ok(Json(json!({ "duration_ms": elapsed.as_millis() as u64 })))
}
