//! TURN credentials for 1:1 calls (spec: client-server API, "Voice over
//! IP", `GET /voip/turnServer`), in the time-limited scheme TURN servers
//! such as coturn check with a shared secret (`use-auth-secret`): the
//! username is `<expiry unix seconds>:<user id>` and the password is
//! base64(HMAC-SHA1(secret, username)). Nothing is stored: the TURN server
//! checks the same HMAC.

use base64::Engine;
use hmac::{Hmac, Mac};
use ruma::UserId;
use serde_json::{Value, json};
use sha1::Sha1;

use crate::settings::TurnSettings;
use crate::values::now_ms;
use crate::{Error, Result};

pub struct Voip {
    settings: TurnSettings,
}

impl Voip {
    pub fn new(settings: TurnSettings) -> Self {
        Voip { settings }
    }

    /// Credentials for `user`, valid for `turn.ttl_secs`.
    pub fn turn_credentials(&self, user: &UserId) -> Result<Value> {
        let secret = match &self.settings.shared_secret {
            Some(secret) if !self.settings.uris.is_empty() => secret,
            _ => return Err(Error::NotFound("this server offers no TURN server".to_owned())),
        };
        let expiry = now_ms() / 1000 + self.settings.ttl_secs;
        let username = format!("{expiry}:{user}");
        let password = turn_password(secret, &username)?;
        Ok(json!({
            "username": username,
            "password": password,
            "uris": self.settings.uris,
            "ttl": self.settings.ttl_secs,
        }))
    }
}

fn turn_password(secret: &str, username: &str) -> Result<String> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).map_err(|e| Error::Internal(e.to_string()))?;
    mac.update(username.as_bytes());
    Ok(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_coturn_rest_hmac() {
        // HMAC-SHA1("secret", "1700000000:@alice:example.org"), base64; the
        // value coturn's turnutils computes for the same inputs.
        let expected = {
            let mut mac = Hmac::<Sha1>::new_from_slice(b"secret").unwrap();
            mac.update(b"1700000000:@alice:example.org");
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        };
        assert_eq!(turn_password("secret", "1700000000:@alice:example.org").unwrap(), expected);
        assert_eq!(expected.len(), 28, "20 bytes of SHA-1, base64");
    }

    #[test]
    fn unconfigured_turn_is_not_found() {
        let voip = Voip::new(TurnSettings::default());
        let user = UserId::parse("@alice:example.org").unwrap();
        assert!(matches!(voip.turn_credentials(&user), Err(Error::NotFound(_))));
    }
}
