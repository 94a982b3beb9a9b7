//! VIEW_CHANNEL is realised by membership (extensions-spec §9.4), and a
//! member's entry outlives nobody's membership (§6.4). After each
//! recompilation this homeserver, where it may:
//!
//! * makes its own users leave a channel they can no longer see (leaving
//!   needs no power), and kicks other servers' users through a local member
//!   who may kick;
//! * after a `nexus.*` change, invites the space's members who can now see a
//!   private channel (invite join rule) and are not in it;
//! * takes whoever left, was kicked from or was banned from the space out of
//!   its channels, and clears their `nexus.member` entry.
//!
//! History already visible to a member stays so: leaving a room does not
//! take away what they could read (as the spec says of a channel that
//! becomes private).

use nexus_extensions::Permissions;
use nexus_extensions::events;
use nexus_extensions::ids::member_state_key;
use ruma::events::room::member::MembershipState;
use ruma::{OwnedUserId, UserId};
use serde_json::{Value, json};

use super::Guilds;
use super::context::Scope;
use crate::values::now_ms;
use crate::{Error, Result};

const LOST_VIEW: &str = "can no longer see this channel (VIEW_CHANNEL)";
const LEFT_SERVER: &str = "is no longer a member of the server";

impl Guilds {
    pub(super) async fn enforce_visibility(&self, scope: &Scope, trigger: &UserId, invite_new: bool) -> Result<()> {
        let room = scope.room_id();
        let guild = &scope.server.guild;
        let now = now_ms();
        let sees = |user: &str| scope.room().permissions(guild, user, now).contains(Permissions::VIEW_CHANNEL);
        let members = self.rooms.membership.members(room).await?;
        for (user, membership) in &members {
            if *membership != MembershipState::Join || sees(user.as_str()) {
                continue;
            }
            if user.server_name() == self.rooms.server_name() {
                if let Err(e) = self.rooms.leave(room, user, Some(LOST_VIEW)).await {
                    tracing::warn!(%room, %user, error = %e, "could not take a member out of a channel they cannot see");
                }
            } else {
                self.as_some_local_member(scope, trigger, |sender| async move {
                    self.rooms.kick(room, &sender, user, Some(LOST_VIEW)).await.map(drop)
                })
                .await;
            }
        }
        if !invite_new || !self.is_invite_only(scope).await? {
            return Ok(());
        }
        let present: Vec<&OwnedUserId> =
            members.iter().filter(|(_, m)| *m != MembershipState::Leave).map(|(u, _)| u).collect();
        for (user, membership) in self.rooms.membership.members(&scope.server.space).await? {
            if membership != MembershipState::Join || present.contains(&&user) || !sees(user.as_str()) {
                continue;
            }
            self.as_some_local_member(scope, trigger, |sender| {
                let user = user.clone();
                async move { self.rooms.invite(room, &sender, &user, None, false).await.map(drop) }
            })
            .await;
        }
        Ok(())
    }

    /// §9.4: a Nexus homeserver serves its own users a channel's history
    /// only from the point they may read it: a joined member with
    /// VIEW_CHANNEL but not READ_MESSAGE_HISTORY reads from their current
    /// join on. Losing VIEW_CHANNEL takes them out of the room, and what they
    /// could read stays readable — the spec takes nobody's past access away.
    pub(super) async fn history_floor_of(
        &self,
        room: &ruma::RoomId,
        viewer: &UserId,
        joined_at: u64,
    ) -> Result<Option<u64>> {
        let Some(scope) = self.scope(room).await? else { return Ok(None) };
        if scope.channel.is_none() {
            return Ok(None);
        }
        let perms = scope.room().permissions(&scope.server.guild, viewer.as_str(), now_ms());
        let reads_history = perms.contains(Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY);
        Ok((perms.contains(Permissions::VIEW_CHANNEL) && !reads_history).then_some(joined_at))
    }

    async fn is_invite_only(&self, scope: &Scope) -> Result<bool> {
        let rules = self.rooms.state_json(scope.room_id(), "m.room.join_rules", "").await?;
        Ok(rules.and_then(|r| r.get("join_rule").and_then(Value::as_str).map(str::to_owned)).as_deref()
            == Some("invite"))
    }

    /// Whoever left the space leaves its channels too (Discord's "leave
    /// server"): local users leave, others are kicked by a local member who
    /// may.
    pub(super) async fn take_out_of_channels(
        &self,
        scope: &Scope,
        trigger: &UserId,
        departed: &[OwnedUserId],
    ) -> Result<()> {
        let space = &scope.server.space;
        let mut gone = Vec::new();
        for user in departed {
            if !self.rooms.membership.is_joined(space, user).await? {
                gone.push(user);
            }
        }
        if gone.is_empty() {
            return Ok(());
        }
        for room in self.channels(space).await? {
            let channel = Scope { server: scope.server.clone(), channel: Some(self.channel(&room).await?) };
            for user in &gone {
                if !self.rooms.membership.is_joined(&room, user).await? {
                    continue;
                }
                if user.server_name() == self.rooms.server_name() {
                    if let Err(e) = self.rooms.leave(&room, user, Some(LEFT_SERVER)).await {
                        tracing::warn!(%room, %user, error = %e, "could not take a departed member out of a channel");
                    }
                } else {
                    let room = &room;
                    self.as_some_local_member(&channel, trigger, |sender| async move {
                        self.rooms.kick(room, &sender, user, Some(LEFT_SERVER)).await.map(drop)
                    })
                    .await;
                }
            }
        }
        Ok(())
    }

    /// §6.4: the entries of members who left the space become `{}`.
    pub(super) async fn clear_departed(&self, scope: &Scope, trigger: &UserId, departed: &[OwnedUserId]) -> Result<()> {
        let space = &scope.server.space;
        for user in departed {
            if scope.server.guild.member(user.as_str()).is_none()
                || self.rooms.membership.is_joined(space, user).await?
            {
                continue;
            }
            let key = member_state_key(user.as_str());
            self.as_some_local_member(scope, trigger, |sender| {
                let key = key.clone();
                async move { self.send_state(space, &sender, events::MEMBER, &key, json!({})).await }
            })
            .await;
        }
        Ok(())
    }

    /// Runs `action` as the first local member it succeeds for (the
    /// trigger, then by rank); refusals move on, other errors are logged.
    async fn as_some_local_member<F, Fut>(&self, scope: &Scope, trigger: &UserId, action: F)
    where
        F: Fn(OwnedUserId) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let senders = match self.local_senders(scope, trigger).await {
            Ok(senders) => senders,
            Err(e) => return tracing::warn!(error = %e, "could not list local members"),
        };
        for sender in senders {
            match action(sender).await {
                Ok(()) => return,
                Err(Error::Forbidden(_)) => continue,
                Err(e) => return tracing::warn!(room = %scope.room_id(), error = %e, "a membership follow-up failed"),
            }
        }
    }
}
