//! Who a request made with an appservice's `as_token` acts as (spec:
//! "Identity assertion"; MSC3202/MSC4326 device masquerading), and the
//! account operations only appservices may do: `m.login.application_service`
//! registration and login, and (MSC4190) device management.

use ruma::{DeviceId, OwnedDeviceId, UserId};

use crate::accounts::{NewDevice, Registered, RegistrationRequest, Session};
use crate::tokens::Identity;
use crate::{Error, Result, Services};

/// The appservice behind a request.
#[derive(Debug, Clone)]
pub struct Acting {
    pub id: String,
    /// Whether the request named a device (`device_id` masquerading); if
    /// not, `Identity::device_id` is [`NO_DEVICE`] and stands for none.
    pub device_named: bool,
}

/// The device id of an appservice request that named no device. Never a
/// real device: generated ids are upper-case letters.
pub const NO_DEVICE: &str = "_appservice";

/// The masquerading asked for in a request's query string.
#[derive(Debug, Default)]
pub struct Masquerade {
    pub user_id: Option<String>,
    pub device_id: Option<String>,
}

impl Services {
    /// Resolves an access token: an appservice's `as_token` (acting as its
    /// sender, or as the user and device the query names), or a user's.
    /// A locked account's token is refused with `M_USER_LOCKED`.
    pub async fn authenticate(&self, token: &str, masquerade: Masquerade) -> Result<Identity> {
        let identity = self.authenticate_even_locked(token, masquerade).await?;
        self.moderation.refuse_if_locked(&identity.user_id).await?;
        Ok(identity)
    }

    /// `POST /refresh`: a locked account may not obtain new tokens.
    pub async fn refresh(&self, refresh_token: &str) -> Result<crate::tokens::IssuedTokens> {
        if let Some(owner) = self.tokens.refresh_token_owner(refresh_token).await? {
            self.moderation.refuse_if_locked(&owner).await?;
        }
        self.tokens.refresh(refresh_token).await
    }

    /// [`Services::authenticate`] without the lock: only logging out
    /// accepts a locked account's token (spec: "Account locking").
    pub async fn authenticate_even_locked(&self, token: &str, masquerade: Masquerade) -> Result<Identity> {
        let Some(registration) = self.appservices.by_token(token) else {
            return self.tokens.authenticate(token).await;
        };
        let user_id = match masquerade.user_id.as_deref() {
            None => registration.sender.clone(),
            Some(raw) => UserId::parse(raw).map_err(|e| Error::InvalidParam(format!("user_id: {e}")))?,
        };
        if user_id.server_name() != self.server_name() || !registration.owns_user(&user_id) {
            return Err(Error::Forbidden(format!("the application service cannot act as {user_id}")));
        }
        // 403 M_FORBIDDEN, not 404: bridges (mautrix) read exactly this as
        // "register the user first".
        if !self.accounts.exists(user_id.localpart()).await? {
            return Err(Error::Forbidden("the application service has not registered this user".to_owned()));
        }
        let (device_id, device_named) = match masquerade.device_id.as_deref() {
            None => (OwnedDeviceId::from(NO_DEVICE), false),
            Some(raw) => {
                let device_id = OwnedDeviceId::from(raw);
                if self.devices.get(user_id.localpart(), &device_id).await?.is_none() {
                    return Err(Error::UnknownDevice(format!("{user_id} has no device {raw}")));
                }
                (device_id, true)
            }
        };
        let appservice = Some(Acting { id: registration.id.clone(), device_named });
        Ok(Identity { user_id, device_id, appservice, operator: false })
    }

    /// `POST /register`. With an `as_token` (and `m.login.application_service`)
    /// the appservice registers one of its users; otherwise a person
    /// registers, and may not take a name an appservice claims exclusively.
    pub async fn register(
        &self,
        as_token: Option<&str>,
        appservice_login: bool,
        request: RegistrationRequest,
    ) -> Result<Registered> {
        if !appservice_login {
            if let Some(username) = &request.username {
                let localpart = self.accounts.localpart_for(username)?;
                if let Ok(user_id) = UserId::parse_with_server_name(localpart.as_str(), self.server_name())
                    && self.appservices.exclusive_owner_of_user(&user_id).is_some()
                {
                    return Err(Error::Exclusive(format!("{user_id} is reserved by an application service")));
                }
            }
            return self.accounts.register(request).await;
        }
        let token = as_token.ok_or(Error::MissingToken)?;
        let Some(registration) = self.appservices.by_token(token) else {
            return Err(Error::UnknownToken { soft_logout: false });
        };
        let username =
            request.username.clone().ok_or_else(|| Error::MissingParam("username is required".to_owned()))?;
        let localpart = self.accounts.localpart_for(&username)?;
        let user_id = UserId::parse_with_server_name(localpart.as_str(), self.server_name())
            .map_err(|e| Error::InvalidUsername(e.to_string()))?;
        if !registration.owns_user(&user_id) {
            return Err(Error::Exclusive(format!("{user_id} is not in the application service's namespace")));
        }
        if registration.device_management && !request.inhibit_login {
            return Err(Error::AppserviceLoginUnsupported(
                "this application service manages devices itself (MSC4190): register with inhibit_login".to_owned(),
            ));
        }
        self.accounts.register_for_appservice(&localpart, request).await
    }

    /// `POST /login` with `m.login.application_service`.
    pub async fn login_appservice(&self, as_token: Option<&str>, user: &str, device: NewDevice) -> Result<Session> {
        let token = as_token.ok_or(Error::MissingToken)?;
        let Some(registration) = self.appservices.by_token(token) else {
            return Err(Error::UnknownToken { soft_logout: false });
        };
        if registration.device_management {
            return Err(Error::AppserviceLoginUnsupported(
                "this application service manages devices itself (MSC4190)".to_owned(),
            ));
        }
        let user_id = if user.starts_with('@') {
            UserId::parse(user).map_err(|e| Error::InvalidParam(format!("identifier: {e}")))?
        } else {
            UserId::parse_with_server_name(user.to_lowercase().as_str(), self.server_name())
                .map_err(|e| Error::InvalidParam(format!("identifier: {e}")))?
        };
        if user_id.server_name() != self.server_name() || !registration.owns_user(&user_id) {
            return Err(Error::Exclusive(format!("{user_id} is not in the application service's namespace")));
        }
        self.accounts.login_for_appservice(user_id.localpart(), device).await
    }

    /// MSC4190: `PUT /devices/{deviceId}` by an appservice creates the
    /// device when its user has none of that id. True when it was created.
    pub async fn create_appservice_device(
        &self,
        caller: &Identity,
        device_id: &DeviceId,
        display_name: Option<String>,
    ) -> Result<bool> {
        if caller.appservice.is_none() || self.devices.get(caller.localpart(), device_id).await?.is_some() {
            return Ok(false);
        }
        self.accounts.create_device_for_appservice(caller.localpart(), device_id, display_name).await?;
        Ok(true)
    }

    /// Creates each appservice's sender account when it does not exist yet,
    /// as Synapse does: bridges expect their bot to be there.
    pub async fn register_appservice_senders(&self) -> Result<()> {
        for registration in self.appservices.registry().iter() {
            let localpart = registration.sender.localpart();
            if self.accounts.exists(localpart).await? {
                continue;
            }
            let request = RegistrationRequest { inhibit_login: true, ..Default::default() };
            match self.accounts.register_for_appservice(localpart, request).await {
                Ok(_) | Err(Error::UserInUse) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
