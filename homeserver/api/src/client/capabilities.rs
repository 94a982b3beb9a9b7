//! `GET /capabilities`: what this server lets the user change.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::json;

use nexus_core::rooms::versions;

use crate::error::ApiResult;
use crate::extract::Authed;
use crate::router::AppState;

pub async fn capabilities(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<impl IntoResponse> {
    let available: serde_json::Map<String, serde_json::Value> = versions::available()
        .map(|(version, stable)| (version.to_string(), json!(if stable { "stable" } else { "unstable" })))
        .collect();
    let mut answer = json!({
        "capabilities": {
            "m.room_versions": { "default": versions::DEFAULT, "available": available },
            "m.change_password": { "enabled": true },
            "m.set_displayname": { "enabled": true },
            "m.set_avatar_url": { "enabled": true },
            "m.profile_fields": { "enabled": true },
            "m.3pid_changes": { "enabled": false },
            "m.get_login_token": { "enabled": true },
        }
    });
    // Only admins may moderate accounts; the spec omits the capability
    // for everyone else.
    if state.services.accounts.is_admin(&caller.user_id).await? {
        answer["capabilities"]["m.account_moderation"] = json!({ "suspend": true, "lock": true });
    }
    Ok(Json(answer))
}
