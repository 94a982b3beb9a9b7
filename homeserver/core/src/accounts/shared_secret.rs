//! Shared-secret registration (`/_synapse/admin/v1/register`), the
//! operator's way to create accounts when public registration is closed,
//! and what Complement's image contract asks for. Off unless
//! `registration.shared_secret` is set. The scheme is Synapse's: a
//! one-use nonce, and an HMAC-SHA1 over nonce, username, password and the
//! admin flag keyed with the secret.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::{Accounts, Registered, RegistrationRequest, password};
use crate::values::{ALPHANUMERIC, random_string};
use crate::{Error, Result};

const NONCE_LIFETIME: Duration = Duration::from_secs(60);

/// What the client sends (besides the nonce it was given).
pub struct SharedSecretRegistration {
    pub nonce: String,
    pub username: String,
    pub password: String,
    pub admin: bool,
    pub user_type: Option<String>,
    pub displayname: Option<String>,
    /// Hex HMAC-SHA1.
    pub mac: String,
}

impl Accounts {
    fn shared_secret(&self) -> Result<&str> {
        self.registration
            .shared_secret
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Unrecognized("shared-secret registration is not enabled".to_owned()))
    }

    /// A fresh one-use nonce.
    pub fn registration_nonce(&self) -> Result<String> {
        self.shared_secret()?;
        let nonce = random_string(ALPHANUMERIC, 32);
        let mut nonces = self.nonces.lock().expect("nonces poisoned");
        let now = Instant::now();
        nonces.retain(|_, expiry| *expiry > now);
        nonces.insert(nonce.clone(), now + NONCE_LIFETIME);
        Ok(nonce)
    }

    pub async fn register_with_shared_secret(&self, request: SharedSecretRegistration) -> Result<Registered> {
        let secret = self.shared_secret()?;
        let known = self.nonces.lock().expect("nonces poisoned").remove(&request.nonce);
        if known.is_none_or(|expiry| expiry <= Instant::now()) {
            return Err(Error::BadRequest("unrecognised or expired nonce".to_owned()));
        }
        let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).map_err(|e| Error::Internal(e.to_string()))?;
        mac.update(request.nonce.as_bytes());
        mac.update(b"\0");
        mac.update(request.username.as_bytes());
        mac.update(b"\0");
        mac.update(request.password.as_bytes());
        mac.update(b"\0");
        mac.update(if request.admin { b"admin" } else { b"notadmin" });
        if let Some(user_type) = &request.user_type {
            mac.update(b"\0");
            mac.update(user_type.as_bytes());
        }
        let expected = hex::encode(mac.finalize().into_bytes());
        if !bool::from(expected.as_bytes().ct_eq(request.mac.to_ascii_lowercase().as_bytes())) {
            return Err(Error::Forbidden("HMAC incorrect".to_owned()));
        }
        let localpart = self.localpart_for(&request.username)?;
        if self.load_user(&localpart).await?.is_some() {
            return Err(Error::UserInUse);
        }
        password::check_policy(&request.password)?;
        let registered = self
            .create_account(
                localpart.clone(),
                Some(request.password),
                RegistrationRequest {
                    username: Some(request.username),
                    password: None,
                    device_id: None,
                    initial_device_display_name: None,
                    inhibit_login: false,
                    refresh_token: false,
                    guest: false,
                    auth: None,
                    client_ip: None,
                },
            )
            .await?;
        if request.admin {
            self.set_admin(&localpart).await?;
        }
        if let (Some(name), Registered::LoggedIn(session)) = (request.displayname, &registered) {
            self.profiles
                .set_field(&session.user_id, &session.user_id, "displayname", Some(serde_json::Value::String(name)))
                .await?;
        }
        Ok(registered)
    }
}
