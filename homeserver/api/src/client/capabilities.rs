//! `GET /capabilities`: what this server lets the user change.

use axum::Json;
use axum::response::IntoResponse;
use serde_json::json;

use nexus_core::rooms::versions;

use crate::extract::Authed;

pub async fn capabilities(_caller: Authed) -> impl IntoResponse {
    let available: serde_json::Map<String, serde_json::Value> = versions::available()
        .map(|(version, stable)| (version.to_string(), json!(if stable { "stable" } else { "unstable" })))
        .collect();
    Json(json!({
        "capabilities": {
            "m.room_versions": { "default": versions::DEFAULT, "available": available },
            "m.change_password": { "enabled": true },
            "m.set_displayname": { "enabled": true },
            "m.set_avatar_url": { "enabled": true },
            "m.profile_fields": { "enabled": true },
            "m.3pid_changes": { "enabled": false },
            "m.get_login_token": { "enabled": true },
        }
    }))
}
