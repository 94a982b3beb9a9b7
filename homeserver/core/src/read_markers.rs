//! Read receipts and the fully-read marker (spec: "Receipts", "Read
//! markers"): checks that the event is one the user can see in that room,
//! then records it where it belongs.

use std::sync::Arc;

use ruma::events::room::member::MembershipState;
use ruma::{DeviceId, EventId, OwnedUserId, RoomId, UserId};
use serde_json::{Map, json};

use crate::account_data::AccountData;
use crate::appservice::Appservices;
use crate::federation::outbox::Outbox;
use crate::push::Push;
use crate::receipts::{READ, READ_PRIVATE, Receipts};
use crate::rooms::Rooms;
use crate::{Error, Result};

pub const FULLY_READ: &str = "m.fully_read";

pub struct ReadMarkers {
    rooms: Arc<Rooms>,
    receipts: Arc<Receipts>,
    account_data: Arc<AccountData>,
    push: Arc<Push>,
    outbox: Arc<Outbox>,
    appservices: Arc<Appservices>,
}

impl ReadMarkers {
    pub fn new(
        rooms: Arc<Rooms>,
        receipts: Arc<Receipts>,
        account_data: Arc<AccountData>,
        push: Arc<Push>,
        outbox: Arc<Outbox>,
        appservices: Arc<Appservices>,
    ) -> Self {
        ReadMarkers { rooms, receipts, account_data, push, outbox, appservices }
    }

    /// Records a receipt of `kind` (`m.read`, `m.read.private`,
    /// `m.fully_read`) for `event_id`.
    pub async fn mark(
        &self,
        user: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        kind: &str,
        event_id: &EventId,
        thread_id: Option<&str>,
    ) -> Result<()> {
        if thread_id == Some("") {
            return Err(Error::InvalidParam("thread_id must not be empty".to_owned()));
        }
        if !self.rooms.membership.is_joined(room_id, user).await? {
            return Err(Error::Forbidden("you are not in this room".to_owned()));
        }
        // The event must exist in the room and be visible to the user.
        self.rooms.event_for_client(user, device, room_id, event_id).await?;
        match kind {
            FULLY_READ => {
                if thread_id.is_some() {
                    return Err(Error::BadJson("m.fully_read cannot be threaded".to_owned()));
                }
                let mut content = Map::new();
                content.insert("event_id".to_owned(), json!(event_id));
                self.account_data.set_unchecked(user, Some(room_id), FULLY_READ, content).await
            }
            READ | READ_PRIVATE => {
                // Everyone joined, on any server (a private receipt: only its owner).
                let audience: Vec<OwnedUserId> = if kind == READ {
                    let members = self.rooms.membership.members(room_id).await?;
                    members.into_iter().filter(|(_, m)| *m == MembershipState::Join).map(|(u, _)| u).collect()
                } else {
                    vec![user.to_owned()]
                };
                let own = self.rooms.server_name();
                let local: Vec<OwnedUserId> = audience.iter().filter(|u| u.server_name() == own).cloned().collect();
                self.receipts.set(room_id, user, kind, thread_id, &event_id.to_owned(), &local).await?;
                if kind == READ {
                    // Public receipts reach the room's other servers.
                    let own = self.rooms.server_name().to_owned();
                    let mut servers: Vec<_> = audience.iter().map(|u| u.server_name().to_owned()).collect();
                    servers.sort();
                    servers.dedup();
                    servers.retain(|s| *s != own);
                    let mut data = json!({ "ts": crate::values::now_ms() });
                    if let Some(thread) = thread_id {
                        data["thread_id"] = json!(thread);
                    }
                    let edu = json!({
                        "edu_type": "m.receipt",
                        "content": { room_id.as_str(): { READ: { user.as_str(): { "event_ids": [event_id], "data": data } } } },
                    });
                    self.outbox.send_durable(&servers, edu).await?;
                    self.receipt_to_appservices(room_id, user, event_id, thread_id, &local).await?;
                }
                // Unread counts start after the receipt.
                let Some(stored) = self.rooms.timeline.get(event_id).await? else { return Ok(()) };
                self.push.read_up_to(user, room_id, thread_id, stored.stream_ordering).await
            }
            other => Err(Error::InvalidParam(format!("unknown receipt type {other:?}"))),
        }
    }

    /// A public receipt, for the appservices in the room (MSC2409).
    async fn receipt_to_appservices(
        &self,
        room_id: &RoomId,
        user: &UserId,
        event_id: &EventId,
        thread_id: Option<&str>,
        members: &[OwnedUserId],
    ) -> Result<()> {
        let mut receipt = json!({ "ts": crate::values::now_ms() });
        if let Some(thread) = thread_id {
            receipt["thread_id"] = json!(thread);
        }
        let edu = json!({
            "type": "m.receipt",
            "room_id": room_id,
            "content": { event_id.as_str(): { READ: { user.as_str(): receipt } } },
        });
        self.appservices.room_ephemeral(room_id, members, &[], edu).await
    }
}
