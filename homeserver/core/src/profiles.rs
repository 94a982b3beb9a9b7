//! User profiles: `displayname`, `avatar_url` and, since Matrix 1.16, any
//! other field a client sets, stored as one JSON object per user.

use std::sync::Arc;

use nexus_storage::catalog::PROFILES;
use nexus_storage::codec::KeyBuilder;
use nexus_storage::{Store, WriteBatch};
use ruma::{OwnedServerName, UserId};
use serde_json::{Map, Value};

use crate::values::{decode, encode};
use crate::{Error, Result};

/// The spec caps a whole profile at 64 KiB and a key name at 255 bytes.
const MAX_PROFILE_BYTES: usize = 65_536;
const MAX_KEY_BYTES: usize = 255;

pub type Profile = Map<String, Value>;

pub struct Profiles {
    store: Arc<dyn Store>,
    server_name: OwnedServerName,
}

fn key(localpart: &str) -> Vec<u8> {
    KeyBuilder::new().str(localpart).build()
}

impl Profiles {
    pub fn new(store: Arc<dyn Store>, server_name: OwnedServerName) -> Self {
        Profiles { store, server_name }
    }

    /// Every local avatar URL (media an admin's bulk deletion keeps).
    pub async fn avatar_urls(&self) -> Result<std::collections::HashSet<String>> {
        let rows = self
            .store
            .scan(&PROFILES, nexus_storage::KeyRange::all(), nexus_storage::Direction::Forward, usize::MAX)
            .await?;
        let mut urls = std::collections::HashSet::new();
        for (_, value) in rows {
            let profile: Profile = decode(&PROFILES, &value)?;
            if let Some(Value::String(url)) = profile.get("avatar_url") {
                urls.insert(url.clone());
            }
        }
        Ok(urls)
    }

    fn local_part<'a>(&self, user_id: &'a UserId) -> Result<&'a str> {
        if user_id.server_name() != self.server_name {
            // Remote profiles arrive with federation.
            return Err(Error::NotFound("profile lookup over federation is not available".to_owned()));
        }
        Ok(user_id.localpart())
    }

    async fn load(&self, localpart: &str) -> Result<Option<Profile>> {
        let bytes = self.store.get(&PROFILES, &key(localpart)).await?;
        bytes.map(|b| decode(&PROFILES, &b)).transpose()
    }

    pub async fn get(&self, user_id: &UserId) -> Result<Profile> {
        let localpart = self.local_part(user_id)?;
        self.load(localpart).await?.ok_or_else(|| Error::NotFound("no profile for this user".to_owned()))
    }

    pub async fn get_field(&self, user_id: &UserId, field: &str) -> Result<Value> {
        let mut profile = self.get(user_id).await?;
        profile.remove(field).ok_or_else(|| Error::NotFound(format!("the profile has no {field}")))
    }

    /// Sets (`Some`) or removes (`None`) one field of the caller's profile.
    pub async fn set_field(&self, caller: &UserId, target: &UserId, field: &str, value: Option<Value>) -> Result<()> {
        self.set_field_with(caller, target, field, value, |_, _, _| Ok(())).await
    }

    /// As [`Self::set_field`]; `also` adds what follows from the change
    /// (given the profile before and after) to the same atomic batch.
    pub async fn set_field_with(
        &self,
        caller: &UserId,
        target: &UserId,
        field: &str,
        value: Option<Value>,
        also: impl FnOnce(&Profile, &Profile, &mut WriteBatch) -> Result<()>,
    ) -> Result<()> {
        if caller != target {
            return Err(Error::Forbidden("you may only change your own profile".to_owned()));
        }
        if field.is_empty() || field.len() > MAX_KEY_BYTES {
            return Err(Error::InvalidParam(format!("profile keys are 1 to {MAX_KEY_BYTES} bytes")));
        }
        if let Some(value) = &value
            && matches!(field, "displayname" | "avatar_url")
            && !value.is_string()
            && !value.is_null()
        {
            return Err(Error::BadJson(format!("{field} must be a string")));
        }
        let localpart = self.local_part(target)?;
        let _guard = self.store.lock(format!("profile:{localpart}").as_bytes()).await?;
        let before = self.load(localpart).await?.unwrap_or_default();
        let mut profile = before.clone();
        match value {
            Some(Value::Null) | None => profile.remove(field),
            Some(value) => profile.insert(field.to_owned(), value),
        };
        let bytes = encode(&profile);
        if bytes.len() > MAX_PROFILE_BYTES {
            return Err(Error::TooLarge(format!("a profile is at most {MAX_PROFILE_BYTES} bytes")));
        }
        let mut batch = WriteBatch::new();
        batch.put(&PROFILES, key(localpart), bytes);
        also(&before, &profile, &mut batch)?;
        Ok(self.store.write(batch).await?)
    }

    /// Adds a new user's profile to `batch`.
    pub fn create(&self, batch: &mut WriteBatch, localpart: &str, displayname: &str) {
        let mut profile = Profile::new();
        profile.insert("displayname".to_owned(), Value::String(displayname.to_owned()));
        batch.put(&PROFILES, key(localpart), encode(&profile));
    }

    /// Adds the clearing of a profile to `batch`: a deactivated user keeps
    /// an empty profile, so lookups still find the user exists.
    pub fn clear(&self, batch: &mut WriteBatch, localpart: &str) {
        batch.put(&PROFILES, key(localpart), encode(&Profile::new()));
    }
}
