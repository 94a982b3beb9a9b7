//! Discord-style invite codes: a short code, optionally expiring and
//! limited in uses, that lets anyone who has it join a server. Matrix has
//! no such thing; a code stands for an invite its creator would send, so
//! redeeming one invites the user as the code's creator (when the space is
//! not public) and joins them to the space and its channels everyone sees.

use nexus_extensions::Permissions;
use nexus_extensions::compute;
use nexus_storage::catalog::{GUILD_INVITE_CODES, GUILD_INVITE_CODES_BY_SERVER};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, WriteBatch};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Guilds;
use super::context::Scope;
use crate::values::{decode, encode, now_ms, random_string};
use crate::{Error, Result};

/// Codes are 10 characters without look-alikes (~55 bits): short enough to
/// type, long enough that guessing one is hopeless under rate limits.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
const CODE_LEN: usize = 10;
/// Discord's limits: at most 7 days unless unlimited, at most 100 uses.
const MAX_AGE_SECS: u64 = 7 * 24 * 3600;
const MAX_USES: u32 = 100;
/// Codes listed per server at most (one page).
const LIST_LIMIT: usize = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteCode {
    pub code: String,
    pub space: OwnedRoomId,
    pub inviter: OwnedUserId,
    pub created_ms: u64,
    /// `None`: never expires.
    pub expires_ms: Option<u64>,
    /// `None`: unlimited.
    pub max_uses: Option<u32>,
    pub uses: u32,
}

impl InviteCode {
    fn usable(&self, now: u64) -> bool {
        self.expires_ms.is_none_or(|t| t > now) && self.max_uses.is_none_or(|m| self.uses < m)
    }
}

/// What joining by a code did.
#[derive(Debug)]
pub struct Joined {
    pub space: OwnedRoomId,
    pub channels: Vec<OwnedRoomId>,
}

fn by_server_key(space: &RoomId, code: &str) -> Vec<u8> {
    KeyBuilder::new().str(space.as_str()).str(code).build()
}

fn code_lock(code: &str) -> Vec<u8> {
    format!("guild_invite_code:{code}").into_bytes()
}

impl Guilds {
    /// A new code for `space`, by a joined member with CREATE_INSTANT_INVITE.
    /// `max_age_secs` 0 or absent: 24 hours (Discord's default is 7 days;
    /// shorter is safer); `Some(0)` in `max_uses` or absent: unlimited.
    pub async fn create_invite_code(
        &self,
        inviter: &UserId,
        space: &RoomId,
        max_age_secs: Option<u64>,
        max_uses: Option<u32>,
    ) -> Result<InviteCode> {
        let server = self.require_server(space).await?;
        if !self.rooms.membership.is_joined(space, inviter).await? {
            return Err(Error::Forbidden("only members of the server can create invite codes".to_owned()));
        }
        let perms = compute::base_permissions(&server.guild, inviter.as_str(), now_ms());
        if !perms.contains(Permissions::CREATE_INSTANT_INVITE) {
            return Err(Error::Forbidden("creating an invite code needs CREATE_INSTANT_INVITE".to_owned()));
        }
        if max_age_secs.is_some_and(|a| a > MAX_AGE_SECS) {
            return Err(Error::BadJson(format!("max_age: at most {MAX_AGE_SECS} seconds (0 = never expires)")));
        }
        if max_uses.is_some_and(|u| u > MAX_USES) {
            return Err(Error::BadJson(format!("max_uses: at most {MAX_USES} (0 = unlimited)")));
        }
        let now = now_ms();
        let record = InviteCode {
            code: random_string(CODE_ALPHABET, CODE_LEN),
            space: space.to_owned(),
            inviter: inviter.to_owned(),
            created_ms: now,
            expires_ms: match max_age_secs {
                Some(0) => None,
                Some(secs) => Some(now + secs * 1000),
                None => Some(now + 24 * 3600 * 1000),
            },
            max_uses: max_uses.filter(|u| *u > 0),
            uses: 0,
        };
        let mut batch = WriteBatch::new();
        batch.put(&GUILD_INVITE_CODES, record.code.as_bytes().to_vec(), encode(&record));
        batch.put(&GUILD_INVITE_CODES_BY_SERVER, by_server_key(space, &record.code), Vec::new());
        self.store.write(batch).await?;
        Ok(record)
    }

    /// A code that can still be used, or 404 (expired, used up, revoked
    /// and unknown codes look the same).
    pub async fn invite_code(&self, code: &str) -> Result<InviteCode> {
        let unknown = || Error::NotFound("unknown or expired invite code".to_owned());
        if code.is_empty() || code.len() > 64 {
            return Err(unknown());
        }
        let Some(bytes) = self.store.get(&GUILD_INVITE_CODES, code.as_bytes()).await? else { return Err(unknown()) };
        let record: InviteCode = decode(&GUILD_INVITE_CODES, &bytes)?;
        if record.usable(now_ms()) { Ok(record) } else { Err(unknown()) }
    }

    /// A server's codes, for members with MANAGE_GUILD.
    pub async fn list_invite_codes(&self, actor: &UserId, space: &RoomId) -> Result<Vec<InviteCode>> {
        self.require_manage_guild(actor, space).await?;
        let prefix = KeyBuilder::new().str(space.as_str()).build();
        let keys =
            self.store.scan_prefix(&GUILD_INVITE_CODES_BY_SERVER, &prefix, Direction::Forward, LIST_LIMIT).await?;
        let mut out = Vec::new();
        for (key, _) in keys {
            let code = KeyReader::new(&key[prefix.len()..])
                .str()
                .map_err(|e| nexus_storage::Error::corrupt(GUILD_INVITE_CODES_BY_SERVER.name, e))?;
            if let Some(bytes) = self.store.get(&GUILD_INVITE_CODES, code.as_bytes()).await? {
                out.push(decode(&GUILD_INVITE_CODES, &bytes)?);
            }
        }
        Ok(out)
    }

    /// Revokes a code: its creator, or a member with MANAGE_GUILD.
    pub async fn revoke_invite_code(&self, actor: &UserId, code: &str) -> Result<()> {
        let Some(bytes) = self.store.get(&GUILD_INVITE_CODES, code.as_bytes()).await? else {
            return Err(Error::NotFound("unknown invite code".to_owned()));
        };
        let record: InviteCode = decode(&GUILD_INVITE_CODES, &bytes)?;
        if record.inviter != actor {
            self.require_manage_guild(actor, &record.space).await?;
        }
        let mut batch = WriteBatch::new();
        batch.delete(&GUILD_INVITE_CODES, code.as_bytes().to_vec());
        batch.delete(&GUILD_INVITE_CODES_BY_SERVER, by_server_key(&record.space, code));
        self.store.write(batch).await?;
        Ok(())
    }

    /// Joins `user` to the code's server and to its channels that @everyone
    /// can see; counts the use.
    pub async fn join_by_invite_code(&self, user: &UserId, code: &str) -> Result<Joined> {
        let _guard = self.store.lock(&code_lock(code)).await?;
        let mut record = self.invite_code(code).await?;
        let space = record.space.clone();
        let membership = self.rooms.membership.of(&space, user).await?;
        if membership == Some(MembershipState::Ban) {
            return Err(Error::Forbidden("you are banned from this server".to_owned()));
        }
        if membership != Some(MembershipState::Join) {
            let join_rule = self.rooms.state_json(&space, "m.room.join_rules", "").await?;
            let public = join_rule.as_ref().and_then(|j| j.get("join_rule")).and_then(Value::as_str) == Some("public");
            if !public && membership != Some(MembershipState::Invite) {
                self.rooms.invite(&space, &record.inviter, user, None, false).await.map_err(|e| match e {
                    Error::Forbidden(_) => {
                        Error::Forbidden("this invite code's creator can no longer invite".to_owned())
                    }
                    other => other,
                })?;
            }
            self.rooms.join(&space, user, None, &[]).await?;
            record.uses += 1;
            self.store
                .write({
                    let mut batch = WriteBatch::new();
                    batch.put(&GUILD_INVITE_CODES, code.as_bytes().to_vec(), encode(&record));
                    batch
                })
                .await?;
        }
        let server = self.require_server(&space).await?;
        let mut channels = Vec::new();
        for room in self.channels(&space).await? {
            let channel = self.channel(&room).await?;
            let scope = Scope { server: server.clone(), channel: Some(channel) };
            let sees =
                scope.room().permissions(&server.guild, user.as_str(), now_ms()).contains(Permissions::VIEW_CHANNEL);
            if !sees || self.rooms.membership.is_joined(&room, user).await? {
                continue;
            }
            match self.rooms.join(&room, user, None, &[]).await {
                Ok(_) => channels.push(room),
                Err(e) => tracing::info!(%room, error = %e, "could not join a channel after an invite code"),
            }
        }
        Ok(Joined { space, channels })
    }

    async fn require_manage_guild(&self, actor: &UserId, space: &RoomId) -> Result<()> {
        let server = self.require_server(space).await?;
        let perms = compute::base_permissions(&server.guild, actor.as_str(), now_ms());
        if perms.contains(Permissions::MANAGE_GUILD) {
            Ok(())
        } else {
            Err(Error::Forbidden("managing invite codes needs MANAGE_GUILD".to_owned()))
        }
    }
}
