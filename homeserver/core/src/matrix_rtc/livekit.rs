//! What Nexus says to a LiveKit server: access tokens (JWTs signed with
//! the API secret, HS256, LiveKit's claim names) and room creation through
//! its Twirp API (`livekit.RoomService/CreateRoom`, JSON).
//!
//! The derivations of LiveKit room names and identities follow
//! element-hq/lk-jwt-service, so that Element Call, the SFU and any
//! lk-jwt-service in front of the same LiveKit agree on them.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The participant attribute naming the Matrix user a token was issued to.
pub const USER_ID_ATTRIBUTE: &str = "org.matrix.user_id";

/// How long a join token is valid (as lk-jwt-service: an hour).
pub const JOIN_TOKEN_SECS: u64 = 3600;

/// A LiveKit API key and secret.
#[derive(Clone)]
pub struct ApiKey {
    pub key: String,
    pub secret: String,
}

fn sha256_of_strings(parts: &[&str]) -> String {
    let json = serde_json::to_vec(parts).expect("strings serialise");
    STANDARD_NO_PAD.encode(Sha256::digest(json))
}

/// The LiveKit room for a MatrixRTC slot of a Matrix room: unpadded
/// base64 of SHA-256 over the JSON array `[room_id, slot_id]`.
pub fn room_alias(room_id: &str, slot_id: &str) -> String {
    sha256_of_strings(&[room_id, slot_id])
}

/// A participant's LiveKit identity (MSC4195 form): unpadded base64 of
/// SHA-256 over `[user_id, device_id, member_id]`.
pub fn identity(user_id: &str, device_id: &str, member_id: &str) -> String {
    sha256_of_strings(&[user_id, device_id, member_id])
}

/// The identity of the legacy `/sfu/get` form: `user_id:device_id`.
pub fn legacy_identity(user_id: &str, device_id: &str) -> String {
    format!("{user_id}:{device_id}")
}

/// What a token lets its holder do in a room.
pub struct Grant<'a> {
    pub room: &'a str,
    pub identity: &'a str,
    /// The Matrix user, carried as the participant attribute
    /// [`USER_ID_ATTRIBUTE`] so moderation can find their participants
    /// (identities are hashes).
    pub user_id: &'a str,
    pub can_publish: bool,
    pub can_subscribe: bool,
    pub room_create: bool,
}

/// A signed LiveKit access token valid from `now_secs` for `valid_secs`.
pub fn access_token(key: &ApiKey, grant: &Grant<'_>, now_secs: u64, valid_secs: u64) -> String {
    let mut video = json!({ "room": grant.room, "canSubscribe": grant.can_subscribe, "canPublish": grant.can_publish });
    if grant.room_create {
        video["roomCreate"] = json!(true);
    } else {
        video["roomJoin"] = json!(true);
    }
    let mut claims = json!({
        "iss": key.key,
        "sub": grant.identity,
        "nbf": now_secs,
        "exp": now_secs + valid_secs,
        "video": video,
    });
    if !grant.user_id.is_empty() {
        claims["attributes"] = json!({ USER_ID_ATTRIBUTE: grant.user_id });
    }
    sign(&key.secret, &claims)
}

/// A token for the server API on one room (`roomAdmin`): what Nexus
/// itself presents to ask about the room's participants.
pub fn admin_token(key: &ApiKey, room: &str, now_secs: u64, valid_secs: u64) -> String {
    let claims = json!({
        "iss": key.key,
        "nbf": now_secs,
        "exp": now_secs + valid_secs,
        "video": { "room": room, "roomAdmin": true },
    });
    sign(&key.secret, &claims)
}

fn sign(secret: &str, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// The HTTP base of a LiveKit server from the WebSocket URL clients use.
pub fn http_base(livekit_url: &str) -> String {
    let url = livekit_url.trim_end_matches('/');
    if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        url.to_owned()
    }
}

/// Creates (or finds) the LiveKit room, so that a full-access member's
/// call has a room to join: empty rooms close after five minutes, rooms
/// everyone left after twenty seconds (lk-jwt-service's values).
pub async fn create_room(
    http: &reqwest::Client,
    api_url: &str,
    key: &ApiKey,
    room: &str,
    now_secs: u64,
) -> Result<(), String> {
    let token = access_token(
        key,
        &Grant { room, identity: "", user_id: "", can_publish: false, can_subscribe: false, room_create: true },
        now_secs,
        60,
    );
    let url = format!("{}/twirp/livekit.RoomService/CreateRoom", api_url.trim_end_matches('/'));
    let body = json!({ "name": room, "empty_timeout": 300, "departure_timeout": 20 });
    let response =
        http.post(url).bearer_auth(token).json(&body).send().await.map_err(|e| format!("unreachable: {e}"))?;
    if response.status().is_success() { Ok(()) } else { Err(format!("answered {}", response.status())) }
}

/// Calls a `RoomService` method about one room with a `roomAdmin` token;
/// the JSON answer.
pub async fn room_admin_call(
    http: &reqwest::Client,
    api_url: &str,
    key: &ApiKey,
    method: &str,
    room: &str,
    body: Value,
    now_secs: u64,
) -> Result<Value, String> {
    let token = admin_token(key, room, now_secs, 60);
    let url = format!("{}/twirp/livekit.RoomService/{method}", api_url.trim_end_matches('/'));
    let response =
        http.post(url).bearer_auth(token).json(&body).send().await.map_err(|e| format!("unreachable: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    response.json().await.map_err(|e| format!("answered something other than JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivations_hash_json_arrays() {
        // sha256('["!room:example.org","m.call#ROOM"]'), unpadded base64.
        let expected = STANDARD_NO_PAD.encode(Sha256::digest(br#"["!room:example.org","m.call#ROOM"]"#));
        assert_eq!(room_alias("!room:example.org", "m.call#ROOM"), expected);
        assert_eq!(legacy_identity("@a:example.org", "DEV"), "@a:example.org:DEV");
        assert_ne!(identity("@a:x", "D", "m1"), identity("@a:x", "D", "m2"));
    }

    #[test]
    fn tokens_are_hs256_jwts_with_livekit_claims() {
        let key = ApiKey { key: "APIkey".into(), secret: "s3cret".into() };
        let token = access_token(
            &key,
            &Grant {
                room: "r",
                identity: "id",
                user_id: "",
                can_publish: true,
                can_subscribe: true,
                room_create: false,
            },
            100,
            3600,
        );
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "APIkey");
        assert_eq!(claims["sub"], "id");
        assert_eq!(claims["exp"], 3700);
        assert_eq!(claims["video"], json!({"room": "r", "roomJoin": true, "canPublish": true, "canSubscribe": true}));
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        assert_eq!(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()), parts[2]);
    }

    #[test]
    fn websocket_urls_become_http() {
        assert_eq!(http_base("wss://lk.example.org/"), "https://lk.example.org");
        assert_eq!(http_base("ws://127.0.0.1:7880"), "http://127.0.0.1:7880");
    }
}
