//! LiveKit access tokens, checked: HS256 JWTs whose issuer is the API key
//! and whose `video` claim grants joining one room (LiveKit's
//! `auth/grants.go` names; absent grants take LiveKit's defaults). The
//! homeserver's token service signs them with the same key and secret, so
//! a token works against this SFU and an external LiveKit alike.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Clock skew allowed on `nbf` and `exp`, as LiveKit allows.
const LEEWAY_SECS: u64 = 60;

/// Why a token was refused (the text goes to the client).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("invalid token: {0}")]
    Malformed(&'static str),
    #[error("invalid token: unknown API key")]
    UnknownKey,
    #[error("invalid token: signature does not match")]
    BadSignature,
    #[error("invalid token: expired or not yet valid")]
    Expired,
    #[error("permissions denied: {0}")]
    Denied(&'static str),
    /// The token lacks what a join names (LiveKit answers 400).
    #[error("{0}")]
    Incomplete(&'static str),
}

/// The `video` grant (LiveKit's camelCase claim names).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VideoGrant {
    pub room_create: bool,
    pub room_list: bool,
    pub room_admin: bool,
    pub room_join: bool,
    pub room: String,
    pub can_publish: Option<bool>,
    pub can_subscribe: Option<bool>,
    pub can_publish_data: Option<bool>,
    pub can_publish_sources: Vec<String>,
    pub can_update_own_metadata: Option<bool>,
    pub hidden: bool,
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    jti: Option<String>,
    exp: Option<u64>,
    nbf: Option<u64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    metadata: Option<String>,
    #[serde(default)]
    attributes: std::collections::HashMap<String, String>,
    #[serde(default)]
    video: Option<VideoGrant>,
}

/// A verified token's holder and what it may do.
#[derive(Debug, Clone)]
pub struct Grants {
    pub identity: String,
    pub name: String,
    pub metadata: String,
    pub attributes: std::collections::HashMap<String, String>,
    pub video: VideoGrant,
}

/// What a participant may do with media, from the grant and LiveKit's
/// defaults: publish and subscribe unless denied, publish data as they
/// may publish, every source unless listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPermissions {
    pub can_publish: bool,
    pub can_subscribe: bool,
    pub can_publish_data: bool,
    /// Lower-case LiveKit source names; empty means all.
    pub can_publish_sources: Vec<String>,
    pub can_update_metadata: bool,
    pub hidden: bool,
}

impl Grants {
    pub fn permissions(&self) -> MediaPermissions {
        let can_publish = self.video.can_publish.unwrap_or(true);
        MediaPermissions {
            can_publish,
            can_subscribe: self.video.can_subscribe.unwrap_or(true),
            can_publish_data: self.video.can_publish_data.unwrap_or(can_publish),
            can_publish_sources: self.video.can_publish_sources.clone(),
            can_update_metadata: self.video.can_update_own_metadata.unwrap_or(false),
            hidden: self.video.hidden,
        }
    }

    /// Joining a room needs `roomJoin`, a room name and an identity.
    pub fn require_join(&self) -> Result<(), TokenError> {
        if !self.video.room_join {
            return Err(TokenError::Denied("the token does not grant roomJoin"));
        }
        if self.video.room.is_empty() {
            return Err(TokenError::Incomplete("the token names no room"));
        }
        if self.identity.is_empty() {
            return Err(TokenError::Incomplete("the token has no identity"));
        }
        Ok(())
    }
}

/// The API keys this SFU accepts, with their secrets.
#[derive(Clone)]
pub struct Keys {
    keys: Vec<(String, String)>,
}

impl Keys {
    pub fn new(keys: impl IntoIterator<Item = (String, String)>) -> Self {
        Keys { keys: keys.into_iter().collect() }
    }

    fn secret(&self, key: &str) -> Option<&str> {
        self.keys.iter().find(|(k, _)| k == key).map(|(_, s)| s.as_str())
    }

    /// Checks a token at `now_secs` (expiry is required).
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Grants, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not a JWT"));
        };
        let header: serde_json::Value = decode_json(header)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(TokenError::Malformed("only HS256 is accepted"));
        }
        let claims: Claims = decode_json(payload)?;
        let issuer = claims.iss.as_deref().ok_or(TokenError::Malformed("no issuer"))?;
        let secret = self.secret(issuer).ok_or(TokenError::UnknownKey)?;
        let signature =
            URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Malformed("signature is not base64"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
        mac.update(header_and_payload(token).as_bytes());
        // verify_slice compares in constant time.
        mac.verify_slice(&signature).map_err(|_| TokenError::BadSignature)?;
        let exp = claims.exp.ok_or(TokenError::Malformed("no expiry"))?;
        if now_secs > exp + LEEWAY_SECS || claims.nbf.is_some_and(|nbf| nbf > now_secs + LEEWAY_SECS) {
            return Err(TokenError::Expired);
        }
        let identity = claims.sub.or(claims.jti).unwrap_or_default();
        Ok(Grants {
            identity,
            name: claims.name.unwrap_or_default(),
            metadata: claims.metadata.unwrap_or_default(),
            attributes: claims.attributes,
            video: claims.video.unwrap_or_default(),
        })
    }
}

fn header_and_payload(token: &str) -> &str {
    token.rsplit_once('.').map_or(token, |(signed, _)| signed)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes =
        URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|_| TokenError::Malformed("not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed("not the JSON a token holds"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{Value, json};

    pub(crate) fn sign(secret: &str, claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn keys() -> Keys {
        Keys::new([("APIkey".to_owned(), "s3cret".to_owned())])
    }

    #[test]
    fn a_good_token_gives_its_grants_with_livekits_defaults() {
        let token = sign(
            "s3cret",
            &json!({"iss": "APIkey", "sub": "alice", "exp": 2000, "video": {"roomJoin": true, "room": "r", "canSubscribe": false}}),
        );
        let grants = keys().verify(&token, 1000).unwrap();
        assert_eq!(grants.identity, "alice");
        grants.require_join().unwrap();
        let permissions = grants.permissions();
        assert!(permissions.can_publish && permissions.can_publish_data && !permissions.can_subscribe);
    }

    #[test]
    fn bad_tokens_are_refused_for_the_right_reason() {
        let claims = json!({"iss": "APIkey", "sub": "a", "exp": 2000, "video": {"roomJoin": true, "room": "r"}});
        assert_eq!(keys().verify(&sign("wrong", &claims), 1000).unwrap_err(), TokenError::BadSignature);
        assert_eq!(keys().verify(&sign("s3cret", &claims), 2061).unwrap_err(), TokenError::Expired);
        let other_key = json!({"iss": "other", "sub": "a", "exp": 2000});
        assert_eq!(keys().verify(&sign("s3cret", &other_key), 1000).unwrap_err(), TokenError::UnknownKey);
        let no_exp = json!({"iss": "APIkey", "sub": "a"});
        assert!(matches!(keys().verify(&sign("s3cret", &no_exp), 1000), Err(TokenError::Malformed(_))));
        for garbage in ["", "a.b", "a.b.c.d", "!!!.###.$$$", "e30.e30.e30"] {
            assert!(keys().verify(garbage, 1000).is_err(), "{garbage}");
        }
        let no_join = sign("s3cret", &json!({"iss": "APIkey", "sub": "a", "exp": 2000, "video": {"room": "r"}}));
        assert!(keys().verify(&no_join, 1000).unwrap().require_join().is_err());
    }
}
