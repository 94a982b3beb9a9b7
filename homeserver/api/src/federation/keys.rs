//! Key discovery (spec: server-server API, "Retrieving server keys"):
//! this server's keys, and other servers' keys as a notary.

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use ruma::ServerName;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::router::AppState;

pub async fn server_keys(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(state.services.federation.keys.own_document()?))
}

#[derive(serde::Deserialize, Default)]
pub struct MinimumValidity {
    #[serde(default)]
    minimum_valid_until_ts: Option<u64>,
}

/// `POST /_matrix/key/v2/query`: `{"server_keys": {server: {key_id: {...}}}}`.
pub async fn query_batch(State(state): State<AppState>, JsonBody(body): JsonBody<Value>) -> ApiResult<Json<Value>> {
    let requested = body
        .get("server_keys")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError(Error::BadJson("server_keys must be an object".to_owned())))?;
    let mut documents = Vec::new();
    for (server, keys) in requested {
        let Ok(server) = <&ServerName>::try_from(server.as_str()) else { continue };
        let minimum = keys
            .as_object()
            .into_iter()
            .flat_map(|k| k.values())
            .filter_map(|criteria| criteria.get("minimum_valid_until_ts").and_then(Value::as_u64))
            .max()
            .unwrap_or(0);
        if let Some(document) = state.services.federation.keys.notarise(server, minimum).await? {
            documents.push(document);
        }
    }
    Ok(Json(json!({ "server_keys": documents })))
}

/// `GET /_matrix/key/v2/query/{serverName}`.
pub async fn query_one(
    State(state): State<AppState>,
    PathParams(server): PathParams<String>,
    QueryParams(query): QueryParams<MinimumValidity>,
) -> ApiResult<Json<Value>> {
    let server = crate::ids::server_name(&server)?;
    let minimum = query.minimum_valid_until_ts.unwrap_or(0);
    let documents: Vec<Value> = state.services.federation.keys.notarise(&server, minimum).await?.into_iter().collect();
    Ok(Json(json!({ "server_keys": documents })))
}
