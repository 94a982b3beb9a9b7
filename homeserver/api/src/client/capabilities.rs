//! `GET /capabilities`: what this server lets the user change.

use axum::Json;
use axum::response::IntoResponse;
use serde_json::json;

use crate::extract::Authed;

pub async fn capabilities(_caller: Authed) -> impl IntoResponse {
    Json(json!({
        "capabilities": {
            "m.change_password": { "enabled": true },
            "m.set_displayname": { "enabled": true },
            "m.set_avatar_url": { "enabled": true },
            "m.profile_fields": { "enabled": true },
            "m.3pid_changes": { "enabled": false },
            "m.get_login_token": { "enabled": false },
        }
    }))
}
