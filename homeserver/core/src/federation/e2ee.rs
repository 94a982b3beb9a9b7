//! End-to-end encryption across servers: key queries and one-time key
//! claims for other servers' users go to their servers (nothing is cached,
//! so a device change there is seen at once); other servers' queries are
//! answered from this server's keys; device list updates and to-device
//! messages arrive as EDUs.

use std::collections::BTreeMap;

use ruma::{OwnedServerName, ServerName, UserId};
use serde_json::{Map, Value, json};

use super::Federation;
use crate::{Error, Result};

/// Splits a `{user_id: …}` request into this server's part and the other
/// servers' parts.
fn split_by_server(
    own: &ServerName,
    requested: &Map<String, Value>,
) -> (Map<String, Value>, BTreeMap<OwnedServerName, Map<String, Value>>) {
    let mut local = Map::new();
    let mut remote: BTreeMap<OwnedServerName, Map<String, Value>> = BTreeMap::new();
    for (user, value) in requested {
        let Ok(user_id) = UserId::parse(user) else { continue };
        if user_id.server_name() == own {
            local.insert(user.clone(), value.clone());
        } else {
            remote.entry(user_id.server_name().to_owned()).or_default().insert(user.clone(), value.clone());
        }
    }
    (local, remote)
}

fn merge(into: &mut Value, from: &Value, fields: &[&str]) {
    for field in fields {
        if let (Some(target), Some(source)) =
            (into.get_mut(*field).and_then(Value::as_object_mut), from.get(*field).and_then(Value::as_object))
        {
            for (k, v) in source {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

impl Federation {
    /// `POST /keys/query` for any users.
    pub async fn query_keys(&self, viewer: &UserId, requested: &Map<String, Value>) -> Result<Value> {
        let (local, remote) = split_by_server(&self.server_name, requested);
        let mut answer = self.e2ee.keys.query(viewer, &local).await?;
        for (server, users) in remote {
            let body = json!({ "device_keys": users });
            match self.client.post(&server, "/_matrix/federation/v1/user/keys/query", &body).await {
                Ok(response) => merge(&mut answer, &response, &["device_keys", "master_keys", "self_signing_keys"]),
                Err(e) => {
                    tracing::info!(%server, error = %e, "remote key query failed");
                    answer["failures"][server.as_str()] = json!({ "errcode": "M_UNKNOWN", "error": e.to_string() });
                }
            }
        }
        Ok(answer)
    }

    /// `POST /keys/claim` for any users.
    pub async fn claim_keys(&self, requested: &Map<String, Value>) -> Result<(Value, Value)> {
        let (local, remote) = split_by_server(&self.server_name, requested);
        let (mut claimed, mut failures) = self.e2ee.keys.claim(&local).await?;
        for (server, users) in remote {
            let body = json!({ "one_time_keys": users });
            match self.client.post(&server, "/_matrix/federation/v1/user/keys/claim", &body).await {
                Ok(response) => {
                    let mut wrapper = json!({ "one_time_keys": claimed });
                    merge(&mut wrapper, &response, &["one_time_keys"]);
                    claimed = wrapper["one_time_keys"].take();
                }
                Err(e) => {
                    failures[server.as_str()] = json!({ "errcode": "M_UNKNOWN", "error": e.to_string() });
                }
            }
        }
        Ok((claimed, failures))
    }

    /// `POST /user/keys/query` from another server: this server's users only.
    pub async fn answer_key_query(&self, origin: &ServerName, requested: &Map<String, Value>) -> Result<Value> {
        let (local, _) = split_by_server(&self.server_name, requested);
        let viewer = UserId::parse(format!("@_server:{origin}")).map_err(|e| Error::Internal(e.to_string()))?;
        let mut answer = self.e2ee.keys.query(&viewer, &local).await?;
        if let Some(object) = answer.as_object_mut() {
            // User-signing keys are for their owner's eyes only.
            object.remove("user_signing_keys");
            object.remove("failures");
        }
        Ok(answer)
    }

    /// `POST /user/keys/claim` from another server.
    pub async fn answer_key_claim(&self, requested: &Map<String, Value>) -> Result<Value> {
        let (local, _) = split_by_server(&self.server_name, requested);
        let (claimed, _) = self.e2ee.keys.claim(&local).await?;
        Ok(json!({ "one_time_keys": claimed }))
    }

    /// `GET /user/devices/{userId}`.
    pub async fn answer_devices(&self, origin: &ServerName, user: &UserId) -> Result<Value> {
        if user.server_name() != self.server_name {
            return Err(Error::NotFound(format!("{user} is not a user of this server")));
        }
        let requested = Map::from_iter([(user.to_string(), json!([]))]);
        let keys = self.answer_key_query(origin, &requested).await?;
        let devices: Vec<Value> = keys["device_keys"][user.as_str()]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(device_id, keys)| {
                let mut entry = json!({ "device_id": device_id, "keys": keys });
                if let Some(name) = keys.get("unsigned").and_then(|u| u.get("device_display_name")) {
                    entry["device_display_name"] = name.clone();
                }
                entry
            })
            .collect();
        let mut answer = json!({ "user_id": user, "stream_id": crate::values::now_ms(), "devices": devices });
        if let Some(master) = keys["master_keys"].get(user.as_str()) {
            answer["master_key"] = master.clone();
        }
        if let Some(self_signing) = keys["self_signing_keys"].get(user.as_str()) {
            answer["self_signing_key"] = self_signing.clone();
        }
        Ok(answer)
    }

    /// `m.device_list_update` and `m.signing_key_update`.
    pub(super) async fn receive_device_list_update(&self, origin: &ServerName, content: &Value) -> Result<()> {
        let user = content
            .get("user_id")
            .and_then(Value::as_str)
            .and_then(|u| UserId::parse(u).ok())
            .ok_or_else(|| Error::BadJson("no user_id".to_owned()))?;
        if user.server_name() != origin {
            return Err(Error::Forbidden("a device list update for another server's user".to_owned()));
        }
        self.e2ee.keys.remote_device_list_changed(&user).await
    }
}
