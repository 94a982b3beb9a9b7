//! Accounts: registration, password login, logout, password change,
//! deactivation, and the UIA stages whose secrets live here (passwords,
//! registration tokens).

pub mod admin;
mod password;
pub mod registration_tokens;
mod shared_secret;

pub use shared_secret::SharedSecretRegistration;

use std::sync::Arc;

use nexus_storage::catalog::USERS;
use nexus_storage::codec::KeyBuilder;
use nexus_storage::{Store, WriteBatch};
use ruma::api::client::uiaa::{AuthData, UserIdentifier};
use ruma::{OwnedDeviceId, OwnedServerName, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::devices::{Devices, generate_device_id};
use crate::e2ee::E2ee;
use crate::login_tokens::LoginTokens;
use crate::moderation::Moderation;
use crate::profiles::Profiles;
use crate::settings::RegistrationSettings;
use crate::tokens::{Identity, IssuedTokens, Tokens};
use crate::uia::{self, Submission, Uia};
use crate::values::{decode, encode, now_ms, random_string};
use crate::{Error, Result};

#[derive(Debug, Serialize, Deserialize)]
struct UserRecord {
    password_hash: Option<String>,
    created_ts: u64,
    #[serde(default)]
    deactivated: bool,
    /// Deactivated with `erase`: later services hide the user's messages.
    #[serde(default)]
    erased: bool,
    /// A server admin (the admin API, `accounts::admin`).
    #[serde(default)]
    admin: bool,
    /// `bot`, `support` …, as Synapse's admin API sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_type: Option<String>,
}

/// What a client asked of `POST /register`.
#[derive(Debug, Default)]
pub struct RegistrationRequest {
    pub username: Option<String>,
    pub password: Option<String>,
    pub device_id: Option<OwnedDeviceId>,
    pub initial_device_display_name: Option<String>,
    pub inhibit_login: bool,
    pub refresh_token: bool,
    pub guest: bool,
    pub auth: Option<AuthData>,
    pub client_ip: Option<String>,
}

/// A logged-in device and its tokens.
#[derive(Debug)]
pub struct Session {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub tokens: IssuedTokens,
}

#[derive(Debug)]
pub enum Registered {
    LoggedIn(Session),
    /// `inhibit_login` was set: the account exists, no device was created.
    AccountOnly(OwnedUserId),
}

/// What a client asked of `POST /login` with `m.login.password`.
#[derive(Debug)]
pub struct PasswordLogin {
    /// A localpart or a full user id.
    pub user: String,
    pub password: String,
    pub device: NewDevice,
}

/// The device a login opens (or reopens, with a known `device_id`).
#[derive(Debug)]
pub struct NewDevice {
    pub device_id: Option<OwnedDeviceId>,
    pub initial_device_display_name: Option<String>,
    pub refresh_token: bool,
    pub client_ip: Option<String>,
}

const LOCALPART_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789._=-/+";

pub struct Accounts {
    store: Arc<dyn Store>,
    server_name: OwnedServerName,
    registration: RegistrationSettings,
    uia: Uia,
    devices: Arc<Devices>,
    tokens: Arc<Tokens>,
    profiles: Arc<Profiles>,
    e2ee: Arc<E2ee>,
    login_tokens: LoginTokens,
    moderation: Arc<Moderation>,
    /// Nonces handed out for shared-secret registration, with their expiry.
    nonces: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

fn user_key(localpart: &str) -> Vec<u8> {
    KeyBuilder::new().str(localpart).build()
}

fn user_lock(localpart: &str) -> Vec<u8> {
    format!("user:{localpart}").into_bytes()
}

impl Accounts {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        server_name: OwnedServerName,
        registration: RegistrationSettings,
        uia: Uia,
        devices: Arc<Devices>,
        tokens: Arc<Tokens>,
        profiles: Arc<Profiles>,
        e2ee: Arc<E2ee>,
        moderation: Arc<Moderation>,
    ) -> Self {
        let login_tokens = LoginTokens::new(store.clone());
        Accounts {
            store,
            server_name,
            registration,
            uia,
            devices,
            tokens,
            profiles,
            e2ee,
            login_tokens,
            moderation,
            nonces: Default::default(),
        }
    }

    /// The localpart a requested username becomes: lower-cased (user ids are
    /// case-sensitive, people are not), then checked against the spec's
    /// user id grammar.
    pub fn localpart_for(&self, username: &str) -> Result<String> {
        let localpart = username.to_lowercase();
        if localpart.is_empty() {
            return Err(Error::InvalidUsername("the username must not be empty".to_owned()));
        }
        if let Some(bad) = localpart.chars().find(|c| !LOCALPART_CHARS.contains(*c)) {
            return Err(Error::InvalidUsername(format!("usernames may not contain {bad:?}")));
        }
        // @ + localpart + : + server name
        if 2 + localpart.len() + self.server_name.as_str().len() > 255 {
            return Err(Error::InvalidUsername("the user id would be longer than 255 bytes".to_owned()));
        }
        Ok(localpart)
    }

    fn user_id(&self, localpart: &str) -> Result<OwnedUserId> {
        UserId::parse_with_server_name(localpart, &self.server_name)
            .map_err(|e| Error::InvalidUsername(format!("not a valid user id: {e}")))
    }

    async fn load_user(&self, localpart: &str) -> Result<Option<UserRecord>> {
        let bytes = self.store.get(&USERS, &user_key(localpart)).await?;
        bytes.map(|b| decode(&USERS, &b)).transpose()
    }

    /// `GET /register/available`.
    pub async fn username_available(&self, username: &str) -> Result<()> {
        let localpart = self.localpart_for(username)?;
        match self.load_user(&localpart).await? {
            Some(_) => Err(Error::UserInUse),
            None => Ok(()),
        }
    }

    /// `GET /register/m.login.registration_token/validity`: forbidden when
    /// registration is closed, as the spec says.
    pub async fn check_registration_token(&self, token: &str) -> Result<bool> {
        if !self.registration.enabled {
            return Err(Error::Forbidden("registration is disabled on this server".to_owned()));
        }
        self.registration_token_valid(token).await
    }

    /// A configured token, or an admin-made one still usable.
    async fn registration_token_valid(&self, token: &str) -> Result<bool> {
        // Every configured token is compared, in constant time, so timing
        // reveals neither a token nor how many there are.
        let configured = self
            .registration
            .tokens
            .iter()
            .fold(false, |found, t| found | bool::from(t.as_bytes().ct_eq(token.as_bytes())));
        Ok(configured || self.stored_token_valid(token).await?)
    }

    fn registration_flows(&self) -> Vec<Vec<&'static str>> {
        if self.registration.tokens.is_empty() && !self.registration.requires_token {
            vec![vec![uia::DUMMY]]
        } else {
            vec![vec![uia::REGISTRATION_TOKEN]]
        }
    }

    /// Judges the UIA stage in `auth` and advances the session.
    async fn authorize(
        &self,
        operation: &str,
        user: Option<&str>,
        flows: &[Vec<&'static str>],
        auth: Option<&AuthData>,
    ) -> Result<()> {
        let submission = match auth {
            None => None,
            Some(auth) => {
                let stage = auth.auth_type().map(|t| t.to_string()).unwrap_or_default();
                let verdict = match auth {
                    AuthData::Dummy(_) => Ok(()),
                    AuthData::RegistrationToken(t) => {
                        if self.registration_token_valid(&t.token).await? {
                            Ok(())
                        } else {
                            Err(Error::Forbidden("invalid registration token".to_owned()))
                        }
                    }
                    AuthData::Password(p) => self.check_password_stage(user, &p.identifier, &p.password).await,
                    _ => Err(Error::Unrecognized(format!("unsupported auth type {stage:?}"))),
                };
                Some(Submission { session: auth.session().map(str::to_owned), stage, verdict })
            }
        };
        self.uia.advance(operation, user, flows, json!({}), submission).await
    }

    async fn check_password_stage(
        &self,
        user: Option<&str>,
        identifier: &UserIdentifier,
        password: &str,
    ) -> Result<()> {
        let UserIdentifier::Matrix(id) = identifier else {
            return Err(Error::Forbidden("only m.id.user identifiers are supported".to_owned()));
        };
        let claimed = self.localpart_from_identifier(&id.user)?;
        let stored = self.load_user(&claimed).await?.and_then(|u| u.password_hash);
        let matches = password::verify(password.to_owned(), stored).await?;
        if matches && Some(claimed.as_str()) == user {
            Ok(())
        } else {
            Err(Error::Forbidden("invalid username or password".to_owned()))
        }
    }

    /// `alice` or `@alice:this.server` → `alice`.
    fn localpart_from_identifier(&self, user: &str) -> Result<String> {
        if user.starts_with('@') {
            let user_id =
                UserId::parse(user).map_err(|_| Error::Forbidden("invalid username or password".to_owned()))?;
            if user_id.server_name() != self.server_name {
                return Err(Error::Forbidden("that user is not on this server".to_owned()));
            }
            Ok(user_id.localpart().to_lowercase())
        } else {
            Ok(user.to_lowercase())
        }
    }

    /// `POST /register`.
    pub async fn register(&self, request: RegistrationRequest) -> Result<Registered> {
        if request.guest {
            return Err(Error::GuestAccessForbidden);
        }
        if !self.registration.enabled {
            return Err(Error::Forbidden("registration is disabled on this server".to_owned()));
        }
        let localpart = match &request.username {
            Some(username) => {
                let localpart = self.localpart_for(username)?;
                // Answer a taken name before asking for authentication.
                if self.load_user(&localpart).await?.is_some() {
                    return Err(Error::UserInUse);
                }
                localpart
            }
            None => random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 12),
        };
        let Some(password) = request.password.clone() else {
            return Err(Error::MissingParam("a password is required".to_owned()));
        };
        password::check_policy(&password)?;

        self.authorize("register", None, &self.registration_flows(), request.auth.as_ref()).await?;
        let token = match &request.auth {
            Some(AuthData::RegistrationToken(t)) => Some(t.token.clone()),
            _ => None,
        };
        let registered = self.create_account(localpart, Some(password), request).await?;
        if let Some(token) = token {
            self.token_used(&token).await?;
        }
        Ok(registered)
    }

    /// Whether an account with this localpart exists (deactivated or not).
    pub async fn exists(&self, localpart: &str) -> Result<bool> {
        Ok(self.load_user(localpart).await?.is_some())
    }

    /// `POST /register` with `m.login.application_service`: the appservice
    /// vouches for the user (its namespace was checked by the caller), so
    /// there is no password and no user-interactive auth, and it works
    /// with open registration off.
    pub async fn register_for_appservice(&self, username: &str, request: RegistrationRequest) -> Result<Registered> {
        let localpart = self.localpart_for(username)?;
        self.create_account(localpart, None, request).await
    }

    /// `POST /login` with `m.login.application_service`, for a user the
    /// caller checked is in the appservice's namespace.
    pub async fn login_for_appservice(&self, localpart: &str, device: NewDevice) -> Result<Session> {
        if self.load_user(localpart).await?.is_none_or(|u| u.deactivated) {
            return Err(Error::Forbidden("the appservice has not registered this user".to_owned()));
        }
        self.open_session(localpart, device).await
    }

    /// Removes devices without user-interactive auth: an appservice
    /// managing its users' devices (MSC4190).
    pub async fn remove_devices_for_appservice(&self, localpart: &str, devices: Vec<OwnedDeviceId>) -> Result<()> {
        let _guard = self.store.lock(&user_lock(localpart)).await?;
        self.remove_devices(localpart, devices, WriteBatch::new()).await
    }

    /// Creates a device with no access token (MSC4190: the appservice acts
    /// for it with its own token and `device_id` masquerading).
    pub async fn create_device_for_appservice(
        &self,
        localpart: &str,
        device_id: &ruma::DeviceId,
        display_name: Option<String>,
    ) -> Result<()> {
        let _guard = self.store.lock(&user_lock(localpart)).await?;
        let mut batch = WriteBatch::new();
        self.devices.open_session(&mut batch, localpart, device_id, display_name, None).await?;
        Ok(self.store.write(batch).await?)
    }

    /// Creates an account (and, unless `inhibit_login`, a first session)
    /// for a request that passed its checks.
    async fn create_account(
        &self,
        localpart: String,
        password: Option<String>,
        request: RegistrationRequest,
    ) -> Result<Registered> {
        let user_id = self.user_id(&localpart)?;
        let password_hash = match password {
            Some(password) => Some(password::hash(password).await?),
            None => None,
        };
        let _guard = self.store.lock(&user_lock(&localpart)).await?;
        if self.load_user(&localpart).await?.is_some() {
            return Err(Error::UserInUse);
        }
        let mut batch = WriteBatch::new();
        let record = UserRecord {
            password_hash,
            created_ts: now_ms(),
            deactivated: false,
            erased: false,
            admin: false,
            user_type: None,
        };
        batch.put(&USERS, user_key(&localpart), encode(&record));
        self.profiles.create(&mut batch, &localpart, &localpart);
        if request.inhibit_login {
            self.store.write(batch).await?;
            return Ok(Registered::AccountOnly(user_id));
        }
        let device_id = request.device_id.unwrap_or_else(generate_device_id);
        self.devices
            .open_session(&mut batch, &localpart, &device_id, request.initial_device_display_name, request.client_ip)
            .await?;
        let tokens = self.tokens.issue(&mut batch, &localpart, &device_id, request.refresh_token);
        self.store.write(batch).await?;
        tracing::info!(%user_id, "registered");
        Ok(Registered::LoggedIn(Session { user_id, device_id, tokens }))
    }

    /// `POST /login` with `m.login.password`.
    pub async fn login_with_password(&self, login: PasswordLogin) -> Result<Session> {
        let localpart = self.localpart_from_identifier(&login.user)?;
        let user = self.load_user(&localpart).await?;
        let deactivated = user.as_ref().is_some_and(|u| u.deactivated);
        let stored = user.and_then(|u| u.password_hash);
        if !password::verify(login.password, stored).await? {
            return Err(Error::Forbidden("invalid username or password".to_owned()));
        }
        if deactivated {
            return Err(Error::UserDeactivated("this account has been deactivated".to_owned()));
        }
        self.open_session(&localpart, login.device).await
    }

    /// `POST /login` with `m.login.token`: a token from
    /// [`Self::issue_login_token`], usable once.
    pub async fn login_with_token(&self, token: &str, device: NewDevice) -> Result<Session> {
        let localpart = self.login_tokens.redeem(token).await?;
        if self.load_user(&localpart).await?.is_none_or(|u| u.deactivated) {
            return Err(Error::Forbidden("invalid or expired login token".to_owned()));
        }
        self.open_session(&localpart, device).await
    }

    /// `POST /_matrix/client/v1/login/get_token`: after the user proves it
    /// is them again (their password, through user-interactive auth), a
    /// token another device can sign in with. Returns it with its lifetime.
    pub async fn issue_login_token(
        &self,
        identity: &Identity,
        auth: Option<&AuthData>,
    ) -> Result<(String, std::time::Duration)> {
        self.authorize("login_token", Some(identity.localpart()), &Self::password_flows(), auth).await?;
        Ok((self.login_tokens.issue(identity.localpart()).await?, crate::login_tokens::LIFETIME))
    }

    async fn open_session(&self, localpart: &str, device: NewDevice) -> Result<Session> {
        let user_id = self.user_id(localpart)?;
        self.moderation.refuse_if_locked(&user_id).await?;
        let device_id = device.device_id.unwrap_or_else(generate_device_id);
        let _guard = self.store.lock(&user_lock(localpart)).await?;
        let mut batch = WriteBatch::new();
        self.devices
            .open_session(&mut batch, localpart, &device_id, device.initial_device_display_name, device.client_ip)
            .await?;
        let tokens = self.tokens.issue(&mut batch, localpart, &device_id, device.refresh_token);
        self.store.write(batch).await?;
        Ok(Session { user_id, device_id, tokens })
    }

    /// `POST /logout`: the device goes with its token.
    pub async fn logout(&self, identity: &Identity) -> Result<()> {
        self.remove_devices(identity.localpart(), vec![identity.device_id.clone()], WriteBatch::new()).await
    }

    /// Removes devices with their tokens and keys in one batch (with
    /// whatever else `batch` holds), then tells the users who share a room
    /// that the device list changed.
    async fn remove_devices(&self, localpart: &str, devices: Vec<OwnedDeviceId>, mut batch: WriteBatch) -> Result<()> {
        let user_id = self.user_id(localpart)?;
        for device in &devices {
            self.devices.remove(&mut batch, localpart, device).await?;
            self.e2ee.to_device.remove_device(&mut batch, &user_id, device).await?;
        }
        let device_refs: Vec<&ruma::DeviceId> = devices.iter().map(AsRef::as_ref).collect();
        let change = self.e2ee.keys.remove_devices(&mut batch, &user_id, &device_refs).await?;
        self.store.write(batch).await?;
        if let Some(change) = change {
            change.finish(self.e2ee.keys.changes());
        }
        Ok(())
    }

    /// Every device of the user but `keep`.
    async fn devices_except(&self, localpart: &str, keep: Option<&ruma::DeviceId>) -> Result<Vec<OwnedDeviceId>> {
        let devices = self.devices.list(localpart).await?;
        Ok(devices.into_iter().filter_map(|d| d.device_id).filter(|d| Some(d.as_ref()) != keep).collect())
    }

    /// `POST /logout/all`.
    pub async fn logout_all(&self, identity: &Identity) -> Result<()> {
        let _guard = self.store.lock(&user_lock(identity.localpart())).await?;
        let devices = self.devices_except(identity.localpart(), None).await?;
        self.remove_devices(identity.localpart(), devices, WriteBatch::new()).await
    }

    /// User-interactive auth with the account password, for endpoints
    /// owned by other services (e.g. cross-signing key uploads).
    pub async fn authorize_with_password(
        &self,
        identity: &Identity,
        operation: &str,
        auth: Option<&AuthData>,
    ) -> Result<()> {
        self.authorize(operation, Some(identity.localpart()), &Self::password_flows(), auth).await
    }

    fn password_flows() -> Vec<Vec<&'static str>> {
        vec![vec![uia::PASSWORD]]
    }

    /// `DELETE /devices/{id}` and `POST /delete_devices`. A device already
    /// gone is success, as the spec says ("or had been removed previously").
    pub async fn delete_devices(
        &self,
        identity: &Identity,
        device_ids: &[OwnedDeviceId],
        auth: Option<&AuthData>,
    ) -> Result<()> {
        let localpart = identity.localpart();
        self.authorize("delete_devices", Some(localpart), &Self::password_flows(), auth).await?;
        self.remove_devices(localpart, device_ids.to_vec(), WriteBatch::new()).await
    }

    /// `POST /account/password`.
    pub async fn change_password(
        &self,
        identity: &Identity,
        new_password: String,
        logout_devices: bool,
        auth: Option<&AuthData>,
    ) -> Result<()> {
        password::check_policy(&new_password)?;
        let localpart = identity.localpart();
        self.authorize("change_password", Some(localpart), &Self::password_flows(), auth).await?;
        let password_hash = password::hash(new_password).await?;
        let _guard = self.store.lock(&user_lock(localpart)).await?;
        let mut record = self.load_user(localpart).await?.ok_or_else(|| Error::NotFound("no such user".to_owned()))?;
        record.password_hash = Some(password_hash);
        let mut batch = WriteBatch::new();
        batch.put(&USERS, user_key(localpart), encode(&record));
        let others =
            if logout_devices { self.devices_except(localpart, Some(&identity.device_id)).await? } else { Vec::new() };
        self.remove_devices(localpart, others, batch).await
    }

    /// `POST /account/deactivate`. The user id stays reserved forever, so it
    /// can never be re-registered by someone else.
    pub async fn deactivate(&self, identity: &Identity, erase: bool, auth: Option<&AuthData>) -> Result<()> {
        let localpart = identity.localpart();
        self.authorize("deactivate", Some(localpart), &Self::password_flows(), auth).await?;
        let _guard = self.store.lock(&user_lock(localpart)).await?;
        let mut record = self.load_user(localpart).await?.ok_or_else(|| Error::NotFound("no such user".to_owned()))?;
        record.deactivated = true;
        record.erased |= erase;
        let mut batch = WriteBatch::new();
        batch.put(&USERS, user_key(localpart), encode(&record));
        self.profiles.clear(&mut batch, localpart);
        let devices = self.devices_except(localpart, None).await?;
        self.remove_devices(localpart, devices, batch).await?;
        tracing::info!(user_id = %identity.user_id, erase, "deactivated");
        Ok(())
    }
}
