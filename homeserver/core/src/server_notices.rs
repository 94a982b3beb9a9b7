//! Server notices (spec: "Server Notices"; Synapse's admin API
//! `send_server_notice`): messages from the server itself to one user, in a
//! room only for them that the server's own account (`@server-notices`)
//! makes on the first notice, invites them to and tags `m.server_notice`
//! for them. A user who left it is invited back.

use nexus_storage::catalog::SERVER_NOTICE_ROOMS;
use ruma::events::room::member::MembershipState;
use ruma::{CanonicalJsonValue, OwnedEventId, OwnedRoomId, UserId};
use serde_json::{Map, Value, json};

use crate::rooms::{CreateRoom, NewEvent, Preset};
use crate::tokens::Identity;
use crate::{Error, Result, Services};

/// The server's own account.
const SYSTEM_LOCALPART: &str = "server-notices";

fn object(value: Value) -> Result<ruma::CanonicalJsonObject> {
    match CanonicalJsonValue::try_from(value) {
        Ok(CanonicalJsonValue::Object(o)) => Ok(o),
        _ => Err(Error::BadJson("content must be a JSON object".to_owned())),
    }
}

impl Services {
    /// Sends a notice to a local user; the event's id.
    pub async fn send_server_notice(&self, caller: &Identity, user: &UserId, content: Value) -> Result<OwnedEventId> {
        self.accounts.require_admin(caller).await?;
        if self.accounts.account(caller, user).await?.is_none() {
            return Err(Error::NotFound("User not found".to_owned()));
        }
        if !content.get("body").is_some_and(Value::is_string) || !content.get("msgtype").is_some_and(Value::is_string) {
            return Err(Error::BadJson("content needs a msgtype and a body".to_owned()));
        }
        let system = self.accounts.system_user(SYSTEM_LOCALPART).await?;
        let room = self.notice_room(&system, user).await?;
        let event = NewEvent {
            kind: "m.room.message".to_owned(),
            state_key: None,
            content: object(content)?,
            redacts: None,
            transaction: None,
            origin_server_ts: None,
        };
        self.rooms.send(&room, &system, event).await
    }

    /// The user's notices room, made (or the user invited back) as needed.
    async fn notice_room(&self, system: &UserId, user: &UserId) -> Result<OwnedRoomId> {
        let key = user.as_str().as_bytes();
        if let Some(room) = self.store.get(&SERVER_NOTICE_ROOMS, key).await? {
            let room = OwnedRoomId::try_from(String::from_utf8_lossy(&room).into_owned())
                .map_err(|e| nexus_storage::Error::corrupt(SERVER_NOTICE_ROOMS.name, e))?;
            match self.rooms.membership.of(&room, user).await? {
                Some(MembershipState::Join | MembershipState::Invite) => {}
                _ => {
                    self.rooms.invite(&room, system, user, None, false).await?;
                }
            }
            return Ok(room);
        }
        // Only the server (the room's creator) speaks there.
        let power = json!({"events_default": 100, "users_default": 0});
        let request = CreateRoom {
            preset: Some(Preset::PrivateChat),
            invite: vec![user.to_owned()],
            name: Some("Server Notices".to_owned()),
            power_level_content_override: Some(object(power)?),
            ..Default::default()
        };
        let room = self.rooms.create_room(system, request).await?;
        let mut tags = Map::new();
        tags.insert("tags".to_owned(), json!({"m.server_notice": {"order": 0.5}}));
        self.account_data.set_unchecked(user, Some(&room), "m.tag", tags).await?;
        self.store.put(&SERVER_NOTICE_ROOMS, key, room.as_str().as_bytes()).await?;
        Ok(room)
    }
}
