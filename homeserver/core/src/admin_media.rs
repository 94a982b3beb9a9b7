//! Media as a server admin manages it (Synapse's media admin API): the
//! admin check and the account and room lookups around `media::admin`.

use std::collections::HashSet;

use ruma::{OwnedUserId, RoomId, ServerName, UserId};

use crate::media::Record;
use crate::media::admin::UploaderStats;
use crate::tokens::Identity;
use crate::{Error, Result, Services};

impl Services {
    /// A local account's uploads (404 "Unknown user" if there is none).
    pub async fn admin_user_media(&self, caller: &Identity, user: &UserId) -> Result<Vec<(String, Record)>> {
        self.require_local_account(caller, user, "Can only look up local users", "Unknown user").await?;
        self.media.uploads_of(user).await
    }

    /// One item, local or cached.
    pub async fn admin_media_info(&self, caller: &Identity, server: &ServerName, id: &str) -> Result<Record> {
        self.accounts.require_admin(caller).await?;
        self.media.info(server, id).await?.ok_or_else(|| Error::NotFound("Unknown media".to_owned()))
    }

    /// Deletes local media by id: the ids deleted.
    pub async fn admin_delete_media(
        &self,
        caller: &Identity,
        server: &ServerName,
        ids: &[String],
    ) -> Result<Vec<String>> {
        self.accounts.require_admin(caller).await?;
        if server != self.server_name() {
            return Err(Error::BadRequest("Can only delete local media".to_owned()));
        }
        let mut deleted = Vec::new();
        for id in ids {
            if self.media.delete(server, id).await? {
                deleted.push(id.clone());
            }
        }
        tracing::info!(count = deleted.len(), by = %caller.user_id, "media deleted by an admin");
        Ok(deleted)
    }

    /// Quarantines or releases one item (nothing happens to an unknown one).
    pub async fn admin_quarantine(&self, caller: &Identity, server: &ServerName, id: &str, on: bool) -> Result<()> {
        self.accounts.require_admin(caller).await?;
        let by = on.then_some(caller.user_id.as_ref());
        self.media.set_quarantine(server, id, by).await.map(drop)
    }

    /// Protects a local item from quarantine, or lifts that.
    pub async fn admin_protect(&self, caller: &Identity, id: &str, on: bool) -> Result<()> {
        self.accounts.require_admin(caller).await?;
        self.media.set_protected(id, on).await.map(drop)
    }

    /// Quarantines a user's unprotected uploads; how many.
    pub async fn admin_quarantine_user_media(&self, caller: &Identity, user: &UserId) -> Result<usize> {
        self.accounts.require_admin(caller).await?;
        let mxcs: Vec<String> =
            self.media.uploads_of(user).await?.into_iter().map(|(id, _)| self.media.local_mxc(&id)).collect();
        self.media.quarantine_all(&mxcs, &caller.user_id).await
    }

    /// The media a room's unencrypted messages use: `(local, remote)`.
    pub async fn admin_room_media(&self, caller: &Identity, room: &RoomId) -> Result<(Vec<String>, Vec<String>)> {
        self.accounts.require_admin(caller).await?;
        let local_prefix = format!("mxc://{}/", self.server_name());
        Ok(self.rooms.media_in_room(room).await?.into_iter().partition(|mxc| mxc.starts_with(&local_prefix)))
    }

    /// Quarantines a room's media; how many.
    pub async fn admin_quarantine_room_media(&self, caller: &Identity, room: &RoomId) -> Result<usize> {
        let (local, remote) = self.admin_room_media(caller, room).await?;
        let all: Vec<String> = local.into_iter().chain(remote).collect();
        self.media.quarantine_all(&all, &caller.user_id).await
    }

    /// Deletes local media created before `before_ts` and larger than
    /// `size_gt` (avatars kept when asked); the ids deleted.
    pub async fn admin_delete_old_media(
        &self,
        caller: &Identity,
        before_ts: u64,
        size_gt: u64,
        keep_profiles: bool,
    ) -> Result<Vec<String>> {
        self.accounts.require_admin(caller).await?;
        let keep = if keep_profiles { self.profiles.avatar_urls().await? } else { HashSet::new() };
        self.media.delete_older(before_ts, size_gt, &keep).await
    }

    /// Deletes other servers' media cached before `before_ts`; how many.
    pub async fn admin_purge_media_cache(&self, caller: &Identity, before_ts: u64) -> Result<usize> {
        self.accounts.require_admin(caller).await?;
        self.media.purge_remote_cache(before_ts).await
    }

    /// Uploads per local user, with their display names.
    pub async fn admin_media_statistics(
        &self,
        caller: &Identity,
        from_ts: u64,
        until_ts: Option<u64>,
    ) -> Result<Vec<(OwnedUserId, Option<String>, UploaderStats)>> {
        self.accounts.require_admin(caller).await?;
        let mut rows = Vec::new();
        for (user, stats) in self.media.statistics(from_ts, until_ts).await? {
            let profile = self.profiles.get(&user).await.unwrap_or_default();
            let name = profile.get("displayname").and_then(|v| v.as_str()).map(str::to_owned);
            rows.push((user, name, stats));
        }
        Ok(rows)
    }
}
