//! What a server admin does with rooms beyond listing them (Synapse's
//! admin API): read any room's history whatever its visibility, fetch any
//! event, see its forward extremities, put a user into a room, and make a
//! user a room admin through a local member who has the power. Every
//! method checks the caller is an admin first.

use ruma::events::room::member::MembershipState;
use ruma::{CanonicalJsonValue, EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::{Value, json};

use crate::rooms::{Context, Direction, Messages, MessagesQuery, NewEvent, RoomEventFilter};
use crate::tokens::Identity;
use crate::{Error, Result, Services};

/// One forward extremity of a room.
#[derive(Debug, Clone)]
pub struct Extremity {
    pub event_id: OwnedEventId,
    pub depth: u64,
    pub state_group: u64,
    pub origin_server_ts: u64,
}

impl Services {
    /// `GET /_synapse/admin/v1/rooms/{roomId}/messages`.
    pub async fn admin_room_messages(
        &self,
        caller: &Identity,
        room: &RoomId,
        query: MessagesQuery,
    ) -> Result<Messages> {
        self.accounts.require_admin(caller).await?;
        self.rooms.messages_for_admin(&caller.user_id, &caller.device_id, room, query).await
    }

    /// `GET /_synapse/admin/v1/rooms/{roomId}/context/{eventId}`.
    pub async fn admin_room_context(
        &self,
        caller: &Identity,
        room: &RoomId,
        event_id: &EventId,
        limit: usize,
        filter: &RoomEventFilter,
    ) -> Result<Context> {
        self.accounts.require_admin(caller).await?;
        self.rooms.context_for_admin(&caller.user_id, &caller.device_id, room, event_id, limit, filter).await
    }

    /// `GET /_synapse/admin/v1/rooms/{roomId}/timestamp_to_event`.
    pub async fn admin_event_at_time(
        &self,
        caller: &Identity,
        room: &RoomId,
        ts: u64,
        direction: Direction,
    ) -> Result<(OwnedEventId, u64)> {
        self.accounts.require_admin(caller).await?;
        self.rooms.event_at_time_for_admin(&caller.user_id, room, ts, direction).await
    }

    /// `GET /_synapse/admin/v1/fetch_event/{eventId}`: the event as stored
    /// (federation format, redacted if it was).
    pub async fn admin_fetch_event(&self, caller: &Identity, event_id: &EventId) -> Result<Value> {
        self.accounts.require_admin(caller).await?;
        let stored = self.rooms.timeline.get(event_id).await?;
        let stored = stored.ok_or_else(|| Error::NotFound("Event not found".to_owned()))?;
        let mut event = Value::from(CanonicalJsonValue::Object(stored.object()?));
        event["event_id"] = json!(event_id);
        Ok(event)
    }

    /// `GET /_synapse/admin/v1/rooms/{roomId}/forward_extremities`.
    pub async fn admin_forward_extremities(&self, caller: &Identity, room: &RoomId) -> Result<Vec<Extremity>> {
        self.accounts.require_admin(caller).await?;
        let mut found = Vec::new();
        for event_id in self.rooms.forward_extremities(room).await? {
            let Some(stored) = self.rooms.timeline.get(&event_id).await? else { continue };
            let object = stored.object()?;
            let number = |field: &str| match object.get(field) {
                Some(CanonicalJsonValue::Integer(n)) => u64::try_from(i64::from(*n)).unwrap_or_default(),
                _ => 0,
            };
            found.push(Extremity {
                depth: number("depth"),
                origin_server_ts: number("origin_server_ts"),
                state_group: stored.state_snapshot,
                event_id,
            });
        }
        Ok(found)
    }

    /// `POST /_synapse/admin/v1/join/{roomIdOrAlias}`: a local user joins a
    /// room; where the room is not public, the admin invites them first
    /// (which works only if the admin may invite there).
    pub async fn admin_join(&self, caller: &Identity, room: &RoomId, user: &UserId) -> Result<OwnedRoomId> {
        self.accounts.require_admin(caller).await?;
        let outcome = self.join_as_admin(caller, room, user).await;
        self.unless_purged(room, outcome).await
    }

    async fn join_as_admin(&self, caller: &Identity, room: &RoomId, user: &UserId) -> Result<OwnedRoomId> {
        if user.server_name() != self.server_name() {
            return Err(Error::BadRequest("This endpoint can only be used with local users".to_owned()));
        }
        if self.accounts.account(caller, user).await?.is_none_or(|a| a.deactivated) {
            return Err(Error::NotFound("User not found".to_owned()));
        }
        let join_rule = self.rooms.state_json(room, "m.room.join_rules", "").await?;
        let public = join_rule.as_ref().and_then(|c| c.get("join_rule")?.as_str().map(|r| r == "public"));
        if join_rule.is_some() && public != Some(true) {
            let membership = self.rooms.membership_of(room, user).await?;
            if !matches!(membership, Some(MembershipState::Invite | MembershipState::Join)) {
                self.rooms.invite(room, &caller.user_id, user, None, false).await?;
            }
        }
        self.rooms.join(room, user, None, &[]).await?;
        Ok(room.to_owned())
    }

    /// `POST /_synapse/admin/v1/rooms/{roomIdOrAlias}/make_room_admin`: the
    /// local joined member with the most power gives `user` the same
    /// power, and invites them if they could not otherwise join.
    pub async fn make_room_admin(&self, caller: &Identity, room: &RoomId, user: &UserId) -> Result<()> {
        self.accounts.require_admin(caller).await?;
        let outcome = self.grant_room_admin(room, user).await;
        self.unless_purged(room, outcome).await
    }

    /// A room purged while an admin acted on it: reads that began before
    /// its record went may find its state half gone, and the true answer
    /// is that the server is not in the room.
    async fn unless_purged<T>(&self, room: &RoomId, outcome: Result<T>) -> Result<T> {
        match outcome {
            Err(Error::Internal(_)) if self.rooms.version(room).await?.is_none() => {
                Err(Error::BadRequest("Server not in room".to_owned()))
            }
            outcome => outcome,
        }
    }

    async fn grant_room_admin(&self, room: &RoomId, user: &UserId) -> Result<()> {
        if self.rooms.version(room).await?.is_none() {
            return Err(Error::BadRequest("Server not in room".to_owned()));
        }
        let power = self.rooms.power_levels(room).await?;
        let members = self.rooms.membership.members(room).await?;
        let mut local_joined: Vec<OwnedUserId> = members
            .iter()
            .filter(|(m, state)| *state == MembershipState::Join && m.server_name() == self.server_name())
            .map(|(m, _)| m.clone())
            .collect();
        local_joined.sort_by_key(|m| std::cmp::Reverse(power.user(m)));
        let Some(granter) = local_joined.first().cloned() else {
            return Err(Error::BadRequest("No local admin user in room".to_owned()));
        };
        // Room version 12's creators have infinite power, which is not a
        // number a power levels event can hold; they grant the top level.
        let level = match power.user(&granter) {
            i64::MAX => 100,
            level => level,
        };
        let mut content = self.rooms.state_json(room, "m.room.power_levels", "").await?.unwrap_or_else(|| json!({}));
        if !content["users"].is_object() {
            content["users"] = json!({});
        }
        content["users"][user.as_str()] = json!(level);
        let content = match CanonicalJsonValue::try_from(content) {
            Ok(CanonicalJsonValue::Object(o)) => o,
            _ => return Err(Error::Internal("power levels are a JSON object".to_owned())),
        };
        if let Err(e) = self.rooms.send(room, &granter, NewEvent::state("m.room.power_levels", "", content)).await {
            tracing::info!(%room, %granter, error = %e, "make_room_admin could not change power levels");
            return Err(Error::BadRequest("No local admin user in room with power to update power levels.".to_owned()));
        }
        let join_rule = self.rooms.state_json(room, "m.room.join_rules", "").await?;
        let public = join_rule.as_ref().and_then(|c| c.get("join_rule")?.as_str().map(|r| r == "public")) == Some(true);
        let membership = self.rooms.membership_of(room, user).await?;
        if !public && !matches!(membership, Some(MembershipState::Join | MembershipState::Invite)) {
            self.rooms.invite(room, &granter, user, None, false).await?;
        }
        Ok(())
    }
}
