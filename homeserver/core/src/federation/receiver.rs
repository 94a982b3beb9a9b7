//! Incoming transactions (`PUT /send/{txnId}`): each PDU checked and placed
//! in its room (a per-PDU result, as the spec asks), then the EDUs.

use std::collections::BTreeMap;
use std::time::Duration;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, ServerName, UserId};
use serde_json::{Value, json};

use super::Federation;
use crate::rooms::Outcome;
use crate::rooms::versions;
use crate::{Error, Result};

/// The spec's limits on one transaction.
const MAX_PDUS: usize = 50;
const MAX_EDUS: usize = 100;

impl Federation {
    pub async fn receive_transaction(&self, origin: &ServerName, body: &Value) -> Result<Value> {
        let pdus = body.get("pdus").and_then(Value::as_array).cloned().unwrap_or_default();
        let edus = body.get("edus").and_then(Value::as_array).cloned().unwrap_or_default();
        if pdus.len() > MAX_PDUS || edus.len() > MAX_EDUS {
            return Err(Error::BadJson(format!("a transaction carries at most {MAX_PDUS} PDUs and {MAX_EDUS} EDUs")));
        }
        if body.get("origin").and_then(Value::as_str).is_some_and(|o| o != origin.as_str()) {
            return Err(Error::BadJson("the transaction's origin is not the signing server".to_owned()));
        }
        metrics::counter!(crate::metric_names::FEDERATION_RECEIVED_PDUS).increment(pdus.len() as u64);
        metrics::counter!(crate::metric_names::FEDERATION_RECEIVED_EDUS).increment(edus.len() as u64);
        let mut results: BTreeMap<String, Value> = BTreeMap::new();
        for pdu in &pdus {
            let (id, outcome) = self.receive_one_pdu(origin, pdu).await;
            match outcome {
                Ok(_) => results.insert(id, json!({})),
                Err(e) => {
                    tracing::info!(%origin, event_id = %id, error = %e, "rejected a PDU");
                    results.insert(id, json!({ "error": e.to_string() }))
                }
            };
        }
        for edu in &edus {
            if let Err(e) = self.receive_edu(origin, edu).await {
                tracing::info!(%origin, error = %e, "ignored an EDU");
            }
        }
        Ok(json!({ "pdus": results }))
    }

    /// Returns the event's id (as best known) and what became of it.
    async fn receive_one_pdu(&self, origin: &ServerName, pdu: &Value) -> (String, Result<Outcome>) {
        let fallback_id = pdu.get("event_id").and_then(Value::as_str).unwrap_or("<unknown>").to_owned();
        let Some(room_id) = pdu.get("room_id").and_then(Value::as_str).and_then(|r| OwnedRoomId::try_from(r).ok())
        else {
            return (fallback_id, Err(Error::BadJson("the PDU has no valid room_id".to_owned())));
        };
        let version = match self.rooms.version(&room_id).await {
            Ok(Some(version)) => version,
            Ok(None) => return (fallback_id, Err(Error::NotFound(format!("this server is not in {room_id}")))),
            Err(e) => return (fallback_id, Err(e)),
        };
        let rules = match versions::rules(&version) {
            Ok(rules) => rules,
            Err(e) => return (fallback_id, Err(e)),
        };
        let raw = match serde_json::value::to_raw_value(pdu) {
            Ok(raw) => raw,
            Err(e) => return (fallback_id, Err(Error::BadJson(e.to_string()))),
        };
        let fallback_id = crate::rooms::event_id_of(&rules, &raw).map_or(fallback_id, |id| id.to_string());
        let checked = match self.rooms.check_remote_pdu(&rules, &raw).await {
            Ok(checked) => checked,
            Err(e) => return (fallback_id, Err(e)),
        };
        let id = checked.event_id.to_string();
        (id, self.rooms.receive_pdu(origin, checked, false).await)
    }

    async fn receive_edu(&self, origin: &ServerName, edu: &Value) -> Result<()> {
        let content = edu.get("content").cloned().unwrap_or(Value::Null);
        match edu.get("edu_type").and_then(Value::as_str) {
            Some("m.typing") => self.receive_typing(origin, &content).await,
            Some("m.receipt") => self.receive_receipts(origin, &content).await,
            Some("m.device_list_update" | "m.signing_key_update") => {
                self.receive_device_list_update(origin, &content).await
            }
            Some("m.direct_to_device") => self.e2ee.to_device.deliver_remote(origin, &content).await,
            Some("m.presence") => self.presence.receive_remote(origin, &content).await,
            _ => Ok(()),
        }
    }

    /// A remote user's typing, for a room both servers are in.
    async fn receive_typing(&self, origin: &ServerName, content: &Value) -> Result<()> {
        let room_id = parse::<OwnedRoomId>(content, "room_id")?;
        let user = parse::<OwnedUserId>(content, "user_id")?;
        if user.server_name() != origin || !self.rooms.membership.is_joined(&room_id, &user).await? {
            return Err(Error::Forbidden("typing of a user who is not in the room".to_owned()));
        }
        self.rooms.check_server_acl(&room_id, origin).await?;
        let typing = content.get("typing").and_then(Value::as_bool).unwrap_or(false);
        let timeout = content.get("timeout").and_then(Value::as_u64).unwrap_or(30_000);
        if self.typing.set(&room_id, &user, typing.then(|| Duration::from_millis(timeout))) {
            self.wake_local_members(&room_id).await?;
        }
        Ok(())
    }

    /// `{room_id: {"m.read": {user_id: {event_ids, data}}}}`.
    async fn receive_receipts(&self, origin: &ServerName, content: &Value) -> Result<()> {
        let Some(rooms) = content.as_object() else { return Ok(()) };
        for (room_id, kinds) in rooms {
            let Ok(room_id) = OwnedRoomId::try_from(room_id.as_str()) else { continue };
            let Some(read) = kinds.get("m.read").and_then(Value::as_object) else { continue };
            if self.rooms.check_server_acl(&room_id, origin).await.is_err() {
                continue;
            }
            let members = self.rooms.local_members(&room_id).await?;
            for (user, receipt) in read {
                let Ok(user) = OwnedUserId::try_from(user.as_str()) else { continue };
                if user.server_name() != origin || !self.rooms.membership.is_joined(&room_id, &user).await? {
                    continue;
                }
                let thread = receipt.get("data").and_then(|d| d.get("thread_id")).and_then(Value::as_str);
                let event_ids = receipt.get("event_ids").and_then(Value::as_array).into_iter().flatten();
                for event_id in event_ids.filter_map(|e| e.as_str()).filter_map(|e| OwnedEventId::try_from(e).ok()) {
                    self.receipts.set(&room_id, &user, "m.read", thread, &event_id, &members).await?;
                }
            }
        }
        Ok(())
    }

    async fn wake_local_members(&self, room_id: &RoomId) -> Result<()> {
        let members = self.rooms.local_members(room_id).await?;
        self.changes.wake(members.iter().map(AsRef::as_ref));
        Ok(())
    }

    /// The other servers with joined members in a room.
    pub async fn remote_servers_in(&self, room_id: &RoomId) -> Result<Vec<ruma::OwnedServerName>> {
        let mut servers = self.rooms.joined_servers(room_id).await?;
        servers.retain(|s| *s != self.server_name);
        Ok(servers)
    }

    /// Tells the room's other servers that a local user types (or stopped).
    pub async fn send_typing(&self, room_id: &RoomId, user: &UserId, timeout: Option<Duration>) -> Result<()> {
        let servers = self.remote_servers_in(room_id).await?;
        if !servers.is_empty() {
            let edu = json!({
                "edu_type": "m.typing",
                "content": {
                    "room_id": room_id,
                    "user_id": user,
                    "typing": timeout.is_some(),
                    "timeout": timeout.map(|t| t.as_millis() as u64).unwrap_or(0),
                },
            });
            self.outbox.enqueue_ephemeral(&servers, edu);
        }
        Ok(())
    }
}

fn parse<T: TryFrom<String>>(content: &Value, field: &str) -> Result<T> {
    let value = content.get(field).and_then(Value::as_str).ok_or_else(|| Error::BadJson(format!("no {field}")))?;
    T::try_from(value.to_owned()).map_err(|_| Error::BadJson(format!("bad {field}")))
}
