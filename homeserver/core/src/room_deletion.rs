//! Deleting a room (Synapse's admin API `DELETE /v1|v2/rooms/{roomId}`):
//! optionally block it, make every local member leave and forget it (those
//! who were joined move to a new room with a message, when asked, and the
//! room's local aliases follow them), then purge it from this server.
//!
//! A deletion is a durable job: its request, status and progress are
//! stored before it starts and after each user it moves, so a restart
//! resumes it (every step is safe to repeat). At most one runs per room.

use std::sync::Arc;

use nexus_storage::WriteBatch;
use nexus_storage::catalog::{ROOM_DELETIONS, ROOM_DELETIONS_BY_ROOM};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange};
use ruma::events::room::member::MembershipState;
use ruma::{CanonicalJsonValue, OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::rooms::{CreateRoom, NewEvent, Preset};
use crate::tokens::Identity;
use crate::values::{ALPHANUMERIC, corrupt, decode, encode, now_ms, random_string};
use crate::{Error, Result, Services};

/// What an admin asked for (Synapse's defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomDeletionRequest {
    /// Joined members move to a new room this user creates.
    pub new_room_user_id: Option<OwnedUserId>,
    pub room_name: Option<String>,
    pub message: Option<String>,
    pub block: bool,
    pub purge: bool,
    /// Purge even if local users could not be made to leave.
    pub force_purge: bool,
}

impl Default for RoomDeletionRequest {
    fn default() -> Self {
        RoomDeletionRequest {
            new_room_user_id: None,
            room_name: None,
            message: None,
            block: false,
            purge: true,
            force_purge: false,
        }
    }
}

const DEFAULT_ROOM_NAME: &str = "Content Violation Notification";
const DEFAULT_MESSAGE: &str =
    "Sharing illegal content on this server is not permitted and rooms in violation will be blocked.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeletionStatus {
    Scheduled,
    Active,
    Complete,
    Failed,
}

/// What the deletion did so far (Synapse's `shutdown_room`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShutdownResult {
    pub kicked_users: Vec<OwnedUserId>,
    pub failed_to_kick_users: Vec<OwnedUserId>,
    pub local_aliases: Vec<OwnedRoomAliasId>,
    pub new_room_id: Option<OwnedRoomId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomDeletion {
    pub delete_id: String,
    pub room_id: OwnedRoomId,
    pub requested_by: OwnedUserId,
    pub request: RoomDeletionRequest,
    pub status: DeletionStatus,
    pub result: ShutdownResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub updated_ts: u64,
}

fn by_room_key(room_id: &RoomId, delete_id: &str) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(delete_id).build()
}

fn deletion_lock(room_id: &RoomId) -> Vec<u8> {
    format!("room_deletion:{room_id}").into_bytes()
}

impl Services {
    /// Records a deletion and starts it in the background; its id.
    pub async fn start_room_deletion(
        self: &Arc<Self>,
        caller: &Identity,
        room_id: &RoomId,
        request: RoomDeletionRequest,
    ) -> Result<String> {
        let deletion = self.schedule_room_deletion(caller, room_id, request).await?;
        let delete_id = deletion.delete_id.clone();
        let services = self.clone();
        tokio::spawn(async move { services.run_room_deletion(deletion).await });
        Ok(delete_id)
    }

    /// Deletes a room before answering (Synapse's v1); what it did.
    pub async fn delete_room_now(
        &self,
        caller: &Identity,
        room_id: &RoomId,
        request: RoomDeletionRequest,
    ) -> Result<ShutdownResult> {
        let deletion = self.schedule_room_deletion(caller, room_id, request).await?;
        let done = self.run_room_deletion(deletion).await;
        match done.status {
            DeletionStatus::Complete => Ok(done.result),
            _ => Err(Error::BadRequest(done.error.unwrap_or_else(|| "the deletion failed".to_owned()))),
        }
    }

    async fn schedule_room_deletion(
        &self,
        caller: &Identity,
        room_id: &RoomId,
        request: RoomDeletionRequest,
    ) -> Result<RoomDeletion> {
        self.accounts.require_admin(caller).await?;
        if let Some(user) = &request.new_room_user_id {
            if user.server_name() != self.server_name() {
                return Err(Error::BadRequest(format!("User must be our own: {user}")));
            }
            if self.accounts.account(caller, user).await?.is_none_or(|a| a.deactivated) {
                return Err(Error::BadRequest(format!("{user} is not an active account of this server")));
            }
        }
        let _guard = self.store.lock(&deletion_lock(room_id)).await?;
        for existing in self.room_deletions_of(caller, room_id).await? {
            if matches!(existing.status, DeletionStatus::Scheduled | DeletionStatus::Active) {
                return Err(Error::BadRequest(format!("Purge already in progress for {room_id}")));
            }
        }
        let deletion = RoomDeletion {
            delete_id: random_string(ALPHANUMERIC, 16),
            room_id: room_id.to_owned(),
            requested_by: caller.user_id.clone(),
            request,
            status: DeletionStatus::Scheduled,
            result: ShutdownResult::default(),
            error: None,
            updated_ts: now_ms(),
        };
        let mut batch = WriteBatch::new();
        batch.put(&ROOM_DELETIONS, deletion.delete_id.as_bytes().to_vec(), encode(&deletion));
        batch.put(&ROOM_DELETIONS_BY_ROOM, by_room_key(room_id, &deletion.delete_id), Vec::new());
        self.store.write(batch).await?;
        tracing::info!(%room_id, delete_id = %deletion.delete_id, by = %caller.user_id, "room deletion scheduled");
        Ok(deletion)
    }

    /// One deletion, by id.
    pub async fn room_deletion(&self, caller: &Identity, delete_id: &str) -> Result<Option<RoomDeletion>> {
        self.accounts.require_admin(caller).await?;
        let bytes = self.store.get(&ROOM_DELETIONS, delete_id.as_bytes()).await?;
        bytes.map(|b| decode(&ROOM_DELETIONS, &b)).transpose()
    }

    /// A room's deletions, oldest first.
    pub async fn room_deletions_of(&self, caller: &Identity, room_id: &RoomId) -> Result<Vec<RoomDeletion>> {
        self.accounts.require_admin(caller).await?;
        let prefix = KeyBuilder::new().str(room_id.as_str()).build();
        let keys = self.store.scan_prefix(&ROOM_DELETIONS_BY_ROOM, &prefix, Direction::Forward, usize::MAX).await?;
        let mut deletions = Vec::with_capacity(keys.len());
        for (key, _) in keys {
            let delete_id =
                KeyReader::new(&key[prefix.len()..]).str().map_err(|e| corrupt(&ROOM_DELETIONS_BY_ROOM, e))?;
            if let Some(bytes) = self.store.get(&ROOM_DELETIONS, delete_id.as_bytes()).await? {
                deletions.push(decode::<RoomDeletion>(&ROOM_DELETIONS, &bytes)?);
            }
        }
        deletions.sort_by_key(|d| d.updated_ts);
        Ok(deletions)
    }

    /// Resumes the deletions a restart interrupted.
    pub(crate) async fn resume_room_deletions(self: &Arc<Self>) -> Result<()> {
        let rows = self.store.scan(&ROOM_DELETIONS, KeyRange::all(), Direction::Forward, usize::MAX).await?;
        for (_, value) in rows {
            let deletion: RoomDeletion = decode(&ROOM_DELETIONS, &value)?;
            if matches!(deletion.status, DeletionStatus::Scheduled | DeletionStatus::Active) {
                tracing::info!(room_id = %deletion.room_id, delete_id = %deletion.delete_id, "resuming a room deletion");
                let services = self.clone();
                tokio::spawn(async move { services.run_room_deletion(deletion).await });
            }
        }
        Ok(())
    }

    async fn save_deletion(&self, deletion: &mut RoomDeletion) -> Result<()> {
        deletion.updated_ts = now_ms();
        Ok(self.store.put(&ROOM_DELETIONS, deletion.delete_id.as_bytes(), &encode(deletion)).await?)
    }

    /// Runs a deletion to its end; the final record.
    async fn run_room_deletion(&self, mut deletion: RoomDeletion) -> RoomDeletion {
        deletion.status = DeletionStatus::Active;
        let outcome = match self.save_deletion(&mut deletion).await {
            Ok(()) => self.shut_down_and_purge(&mut deletion).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => deletion.status = DeletionStatus::Complete,
            Err(e) => {
                tracing::warn!(room_id = %deletion.room_id, error = %e, "room deletion failed");
                deletion.status = DeletionStatus::Failed;
                deletion.error = Some(e.to_string());
            }
        }
        if let Err(e) = self.save_deletion(&mut deletion).await {
            tracing::warn!(room_id = %deletion.room_id, error = %e, "could not record a room deletion's end");
        }
        deletion
    }

    async fn shut_down_and_purge(&self, deletion: &mut RoomDeletion) -> Result<()> {
        let room_id = deletion.room_id.clone();
        if deletion.request.block {
            self.rooms.block(&room_id, &deletion.requested_by).await?;
        }
        if self.rooms.version(&room_id).await?.is_none() {
            // Nothing to shut down; a purge cut short by a crash finishes.
            if deletion.request.purge && self.rooms.purge_unfinished(&room_id).await? {
                self.purge_everywhere(&room_id).await?;
            }
            return Ok(());
        }
        if let Some(creator) = deletion.request.new_room_user_id.clone()
            && deletion.result.new_room_id.is_none()
        {
            let new_room = self.create_replacement_room(&creator, &deletion.request).await?;
            deletion.result.new_room_id = Some(new_room);
            self.save_deletion(deletion).await?;
        }
        let local = |user: &OwnedUserId| user.server_name() == self.server_name();
        for (user, membership) in self.rooms.membership.members(&room_id).await? {
            let present =
                matches!(membership, MembershipState::Join | MembershipState::Invite | MembershipState::Knock);
            if !local(&user) || !present {
                continue;
            }
            let moved = async {
                self.rooms.leave(&room_id, &user, None).await?;
                self.rooms.forget(&room_id, &user).await?;
                if membership == MembershipState::Join
                    && let Some(new_room) = &deletion.result.new_room_id
                {
                    self.rooms.join(new_room, &user, None, &[]).await?;
                }
                Ok::<(), Error>(())
            }
            .await;
            match moved {
                Ok(()) => deletion.result.kicked_users.push(user),
                Err(e) => {
                    tracing::warn!(%room_id, %user, error = %e, "could not remove a user from a deleted room");
                    deletion.result.failed_to_kick_users.push(user);
                }
            }
            self.save_deletion(deletion).await?;
        }
        if let (Some(new_room), Some(creator)) =
            (deletion.result.new_room_id.clone(), deletion.request.new_room_user_id.clone())
        {
            self.announce_and_move_aliases(deletion, &new_room, &creator).await?;
        }
        if deletion.request.purge {
            let still_joined = self.rooms.membership.members(&room_id).await?;
            if !deletion.request.force_purge
                && still_joined.iter().any(|(user, m)| local(user) && *m == MembershipState::Join)
            {
                return Err(Error::BadRequest("Users are still joined to this room".to_owned()));
            }
            self.purge_everywhere(&room_id).await?;
        }
        Ok(())
    }

    /// The room out of every service that keeps something about it.
    async fn purge_everywhere(&self, room_id: &RoomId) -> Result<()> {
        let local = |user: &OwnedUserId| user.server_name() == self.server_name();
        for user in self.rooms.purge(room_id).await?.iter().filter(|u| local(u)) {
            self.account_data.purge_room(user, room_id).await?;
            self.push.purge_room(user, room_id).await?;
        }
        self.search.purge_room(room_id).await?;
        self.receipts.purge_room(room_id).await
    }

    async fn create_replacement_room(
        &self,
        creator: &OwnedUserId,
        request: &RoomDeletionRequest,
    ) -> Result<OwnedRoomId> {
        let power = match CanonicalJsonValue::try_from(json!({ "users_default": -10 })) {
            Ok(CanonicalJsonValue::Object(o)) => Some(o),
            _ => None,
        };
        let room_name = request.room_name.clone().filter(|n| !n.is_empty()).unwrap_or(DEFAULT_ROOM_NAME.to_owned());
        let create = CreateRoom {
            preset: Some(Preset::PublicChat),
            name: Some(room_name),
            power_level_content_override: power,
            ..Default::default()
        };
        self.rooms.create_room(creator, create).await
    }

    /// The new room's message, and the old room's local aliases now
    /// pointing at the new room.
    async fn announce_and_move_aliases(
        &self,
        deletion: &mut RoomDeletion,
        new_room: &RoomId,
        creator: &OwnedUserId,
    ) -> Result<()> {
        let body = deletion.request.message.clone().unwrap_or(DEFAULT_MESSAGE.to_owned());
        let content = match CanonicalJsonValue::try_from(json!({ "msgtype": "m.text", "body": body })) {
            Ok(CanonicalJsonValue::Object(o)) => o,
            _ => return Err(Error::Internal("a message is a JSON object".to_owned())),
        };
        let message = NewEvent {
            kind: "m.room.message".to_owned(),
            state_key: None,
            content,
            redacts: None,
            transaction: None,
            origin_server_ts: None,
        };
        self.rooms.send(new_room, creator, message).await?;
        let aliases = self.rooms.aliases.of_room(&deletion.room_id).await?;
        for alias in aliases {
            let _guard = self.store.lock(&crate::rooms::aliases::Aliases::lock_name(&alias)).await?;
            let mut batch = WriteBatch::new();
            self.rooms.aliases.repoint(&mut batch, &alias, new_room).await?;
            self.store.write(batch).await?;
            deletion.result.local_aliases.push(alias);
        }
        self.save_deletion(deletion).await
    }
}
