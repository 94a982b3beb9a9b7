//! Accounts as a server admin sees and changes them (the Synapse-compatible
//! admin API): who is an admin, every account's flags, creating and
//! changing accounts, resetting passwords and deactivating. Every operation
//! takes the caller and checks that they are an admin here, not in the
//! handler.

use nexus_storage::catalog::USERS;
use nexus_storage::codec::KeyReader;
use nexus_storage::{Direction, KeyRange, WriteBatch};
use ruma::{OwnedDeviceId, OwnedUserId, UserId};

use super::{Accounts, Registered, RegistrationRequest, password, user_key, user_lock};
use crate::moderation::{Restriction, Restrictions};
use crate::tokens::Identity;
use crate::values::{decode, encode};
use crate::{Error, Result};

/// One account's flags, as the admin API lists them.
#[derive(Debug, Clone)]
pub struct AccountSummary {
    pub user_id: OwnedUserId,
    pub admin: bool,
    pub deactivated: bool,
    pub erased: bool,
    pub user_type: Option<String>,
    /// Unix milliseconds.
    pub created_ts: u64,
    pub has_password: bool,
    pub locked: bool,
    pub suspended: bool,
    pub shadow_banned: bool,
}

/// What an admin changes on an existing account (absent: unchanged).
#[derive(Debug, Default)]
pub struct AccountChanges {
    pub password: Option<String>,
    /// With `password`: end every session but the caller's own.
    pub logout_devices: bool,
    pub admin: Option<bool>,
    pub deactivated: Option<bool>,
    pub user_type: Option<Option<String>>,
}

impl Accounts {
    /// Whether a local user is a server admin.
    pub async fn is_admin(&self, user_id: &UserId) -> Result<bool> {
        if user_id.server_name() != self.server_name {
            return Ok(false);
        }
        Ok(self.load_user(user_id.localpart()).await?.is_some_and(|u| u.admin && !u.deactivated))
    }

    /// Refuses a caller who is not a server admin (Synapse's words).
    pub async fn require_admin(&self, caller: &Identity) -> Result<()> {
        if caller.operator || self.is_admin(&caller.user_id).await? {
            return Ok(());
        }
        Err(Error::Forbidden("You are not a server admin".to_owned()))
    }

    /// The localpart of a user id of this server, or Synapse's refusal.
    pub fn local_localpart<'a>(&self, user_id: &'a UserId) -> Result<&'a str> {
        if user_id.server_name() != self.server_name {
            return Err(Error::BadRequest("Can only look up local users".to_owned()));
        }
        Ok(user_id.localpart())
    }

    fn summary(
        &self,
        localpart: &str,
        record: &super::UserRecord,
        restrictions: Restrictions,
    ) -> Result<AccountSummary> {
        Ok(AccountSummary {
            locked: restrictions.locked,
            suspended: restrictions.suspended,
            shadow_banned: restrictions.shadow_banned,
            user_id: self.user_id(localpart)?,
            admin: record.admin,
            deactivated: record.deactivated,
            erased: record.erased,
            user_type: record.user_type.clone(),
            created_ts: record.created_ts,
            has_password: record.password_hash.is_some(),
        })
    }

    /// One account, if it exists.
    pub async fn account(&self, caller: &Identity, user_id: &UserId) -> Result<Option<AccountSummary>> {
        self.require_admin(caller).await?;
        let localpart = self.local_localpart(user_id)?;
        match self.load_user(localpart).await? {
            Some(record) => Ok(Some(self.summary(localpart, &record, self.moderation.restrictions(user_id).await?)?)),
            None => Ok(None),
        }
    }

    /// The caller's own account (a personal data export).
    pub async fn own_account(&self, caller: &Identity) -> Result<Option<AccountSummary>> {
        let localpart = self.local_localpart(&caller.user_id)?;
        match self.load_user(localpart).await? {
            Some(record) => {
                let restrictions = self.moderation.restrictions(&caller.user_id).await?;
                Ok(Some(self.summary(localpart, &record, restrictions)?))
            }
            None => Ok(None),
        }
    }

    /// Every account, in localpart order (the admin list filters and pages
    /// it; the server's accounts are read in one pass).
    pub async fn all_accounts(&self, caller: &Identity) -> Result<Vec<AccountSummary>> {
        self.require_admin(caller).await?;
        let rows = self.store.scan(&USERS, KeyRange::all(), Direction::Forward, usize::MAX).await?;
        let restricted = self.moderation.all().await?;
        let mut accounts = Vec::with_capacity(rows.len());
        for (key, value) in rows {
            let localpart = KeyReader::new(&key).str().map_err(|e| nexus_storage::Error::corrupt(USERS.name, e))?;
            let record: super::UserRecord = decode(&USERS, &value)?;
            let restrictions = restricted.get(&localpart).copied().unwrap_or_default();
            accounts.push(self.summary(&localpart, &record, restrictions)?);
        }
        Ok(accounts)
    }

    /// Creates an account (no session: the admin API's `PUT` of a new user).
    pub async fn admin_create(
        &self,
        caller: &Identity,
        user_id: &UserId,
        password: Option<String>,
        admin: bool,
        user_type: Option<String>,
    ) -> Result<AccountSummary> {
        self.require_admin(caller).await?;
        let localpart = self.localpart_for(self.local_localpart(user_id)?)?;
        if let Some(password) = &password {
            password::check_policy(password)?;
        }
        let request = RegistrationRequest { inhibit_login: true, ..Default::default() };
        match self.create_account(localpart.clone(), password, request).await? {
            Registered::AccountOnly(_) | Registered::LoggedIn(_) => {}
        }
        let _guard = self.store.lock(&user_lock(&localpart)).await?;
        let mut record =
            self.load_user(&localpart).await?.ok_or_else(|| Error::Internal("lost a new account".into()))?;
        record.admin = admin;
        record.user_type = user_type;
        self.store.put(&USERS, &user_key(&localpart), &encode(&record)).await?;
        self.summary(&localpart, &record, Restrictions::default())
    }

    /// Changes an account. Demoting oneself is refused (Synapse's rule);
    /// a new password ends the user's other sessions when asked.
    pub async fn admin_modify(
        &self,
        caller: &Identity,
        user_id: &UserId,
        changes: AccountChanges,
    ) -> Result<AccountSummary> {
        self.require_admin(caller).await?;
        let localpart = self.local_localpart(user_id)?.to_owned();
        if changes.admin == Some(false) && caller.user_id == user_id {
            return Err(Error::BadRequest("You may not demote yourself.".to_owned()));
        }
        let password_hash = match &changes.password {
            Some(password) => {
                password::check_policy(password)?;
                Some(password::hash(password.clone()).await?)
            }
            None => None,
        };
        let deactivating = changes.deactivated == Some(true);
        let _guard = self.store.lock(&user_lock(&localpart)).await?;
        let mut record = self.load_user(&localpart).await?.ok_or_else(|| Error::NotFound("User not found".into()))?;
        let newly_deactivated = deactivating && !record.deactivated;
        if let Some(admin) = changes.admin {
            record.admin = admin;
        }
        if let Some(user_type) = changes.user_type {
            record.user_type = user_type;
        }
        if changes.deactivated == Some(false) {
            record.deactivated = false;
        }
        let mut batch = WriteBatch::new();
        let mut ended: Vec<OwnedDeviceId> = Vec::new();
        if let Some(hash) = password_hash {
            record.password_hash = Some(hash);
            if changes.logout_devices {
                let keep = (caller.user_id == user_id).then_some(caller.device_id.as_ref());
                ended = self.devices_except(&localpart, keep).await?;
            }
        }
        if newly_deactivated {
            record.deactivated = true;
            self.profiles.clear(&mut batch, &localpart);
            ended = self.devices_except(&localpart, None).await?;
        }
        batch.put(&USERS, user_key(&localpart), encode(&record));
        self.remove_devices(&localpart, ended, batch).await?;
        self.summary(&localpart, &record, self.moderation.restrictions(user_id).await?)
    }

    /// `POST /_synapse/admin/v1/reset_password/{userId}`.
    pub async fn admin_reset_password(
        &self,
        caller: &Identity,
        user_id: &UserId,
        new_password: String,
        logout_devices: bool,
    ) -> Result<()> {
        let changes = AccountChanges { password: Some(new_password), logout_devices, ..Default::default() };
        self.admin_modify(caller, user_id, changes).await.map(drop)
    }

    /// `POST /_synapse/admin/v1/deactivate/{userId}`: as the user's own
    /// deactivation (sessions ended, profile cleared), without their
    /// password; `erase` marks them erased.
    pub async fn admin_deactivate(&self, caller: &Identity, user_id: &UserId, erase: bool) -> Result<()> {
        self.require_admin(caller).await?;
        let localpart = self.local_localpart(user_id)?.to_owned();
        let _guard = self.store.lock(&user_lock(&localpart)).await?;
        let mut record = self.load_user(&localpart).await?.ok_or_else(|| Error::NotFound("User not found".into()))?;
        record.deactivated = true;
        record.erased |= erase;
        let mut batch = WriteBatch::new();
        batch.put(&USERS, user_key(&localpart), encode(&record));
        self.profiles.clear(&mut batch, &localpart);
        let devices = self.devices_except(&localpart, None).await?;
        self.remove_devices(&localpart, devices, batch).await?;
        tracing::info!(%user_id, by = %caller.user_id, erase, "deactivated by an admin");
        Ok(())
    }

    /// Ends some of a user's sessions (the admin API's device deletes).
    pub async fn admin_remove_devices(
        &self,
        caller: &Identity,
        user_id: &UserId,
        devices: Vec<OwnedDeviceId>,
    ) -> Result<()> {
        self.require_admin(caller).await?;
        let localpart = self.local_localpart(user_id)?.to_owned();
        if self.load_user(&localpart).await?.is_none() {
            return Err(Error::NotFound("Unknown user".to_owned()));
        }
        let _guard = self.store.lock(&user_lock(&localpart)).await?;
        self.remove_devices(&localpart, devices, WriteBatch::new()).await
    }

    /// A local account's restrictions (spec: `GET /admin/lock|suspend/{userId}`).
    pub async fn restrictions_of(&self, caller: &Identity, user_id: &UserId) -> Result<Restrictions> {
        self.require_admin(caller).await?;
        let record = self.moderated_account(user_id).await?;
        if record.admin && caller.user_id != user_id {
            return Err(Error::Forbidden("Another administrator's account is not yours to moderate".to_owned()));
        }
        self.moderation.restrictions(user_id).await
    }

    /// Locks or suspends a local account, or lifts it. An admin's account
    /// is never restricted (the spec's rule), though lifting is allowed.
    pub async fn restrict(
        &self,
        caller: &Identity,
        user_id: &UserId,
        restriction: Restriction,
        on: bool,
    ) -> Result<Restrictions> {
        self.require_admin(caller).await?;
        let _guard = self.store.lock(&user_lock(user_id.localpart())).await?;
        let record = self.moderated_account(user_id).await?;
        if on && record.admin {
            return Err(Error::Forbidden("An administrator's account cannot be locked or suspended".to_owned()));
        }
        let restrictions = self.moderation.set(user_id.localpart(), restriction, on).await?;
        tracing::info!(%user_id, by = %caller.user_id, ?restriction, on, "account moderation");
        Ok(restrictions)
    }

    /// The account moderation endpoints' target: local (400
    /// `M_INVALID_PARAM`), existing and not deactivated (404).
    async fn moderated_account(&self, user_id: &UserId) -> Result<super::UserRecord> {
        if user_id.server_name() != self.server_name {
            return Err(Error::InvalidParam("Only local users can be moderated".to_owned()));
        }
        match self.load_user(user_id.localpart()).await? {
            Some(record) if !record.deactivated => Ok(record),
            _ => Err(Error::NotFound("User not found".to_owned())),
        }
    }

    /// `POST /_synapse/admin/v1/users/{userId}/login`: an access token for
    /// another user's account. It opens a session of its own, named so in
    /// the user's device list (they see it and can end it), valid until
    /// `valid_until_ms` when given.
    pub async fn admin_login_as(
        &self,
        caller: &Identity,
        user_id: &UserId,
        valid_until_ms: Option<u64>,
    ) -> Result<String> {
        self.require_admin(caller).await?;
        if user_id.server_name() != self.server_name {
            return Err(Error::BadRequest("Only local users can be logged in as".to_owned()));
        }
        if caller.user_id == user_id {
            return Err(Error::BadRequest("Cannot use admin API to login as self".to_owned()));
        }
        let localpart = user_id.localpart();
        if self.load_user(localpart).await?.is_none_or(|u| u.deactivated) {
            return Err(Error::NotFound("User not found".to_owned()));
        }
        let device_id = crate::devices::generate_device_id();
        let _guard = self.store.lock(&user_lock(localpart)).await?;
        let mut batch = WriteBatch::new();
        let name = Some(format!("Admin login by {}", caller.user_id));
        self.devices.open_session(&mut batch, localpart, &device_id, name, None).await?;
        let token = self.tokens.issue_until(&mut batch, localpart, &device_id, valid_until_ms);
        self.store.write(batch).await?;
        tracing::info!(%user_id, by = %caller.user_id, "admin login as another user");
        Ok(token)
    }

    /// Makes a local account an admin (shared-secret registration with
    /// `admin`, the first step of every admin's life).
    pub(super) async fn set_admin(&self, localpart: &str) -> Result<()> {
        let _guard = self.store.lock(&user_lock(localpart)).await?;
        let mut record = self.load_user(localpart).await?.ok_or_else(|| Error::NotFound("User not found".into()))?;
        record.admin = true;
        self.store.put(&USERS, &user_key(localpart), &encode(&record)).await?;
        Ok(())
    }

    /// The server's own account (`user_type` `system`), made on first need;
    /// an ordinary account of that name is never taken over.
    pub async fn system_user(&self, localpart: &str) -> Result<OwnedUserId> {
        let user_id = self.user_id(localpart)?;
        if let Some(record) = self.load_user(localpart).await? {
            if record.user_type.as_deref() != Some("system") {
                return Err(Error::Internal(format!("{user_id} is a person's account, not the server's")));
            }
            return Ok(user_id);
        }
        let request = RegistrationRequest { inhibit_login: true, ..Default::default() };
        match self.create_account(localpart.to_owned(), None, request).await {
            Ok(_) | Err(Error::UserInUse) => {}
            Err(e) => return Err(e),
        }
        let _guard = self.store.lock(&user_lock(localpart)).await?;
        let mut record =
            self.load_user(localpart).await?.ok_or_else(|| Error::Internal("lost the system user".into()))?;
        record.user_type = Some("system".to_owned());
        self.store.put(&USERS, &user_key(localpart), &encode(&record)).await?;
        Ok(user_id)
    }
}
