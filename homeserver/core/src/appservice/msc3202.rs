//! MSC3202 for appservices that manage their users' encryption: each
//! transaction carries the one-time key counts and unused fallback key
//! types of the devices of the appservice's users it concerns (its sender,
//! the senders and targets of its events, the recipients of its to-device
//! messages), so a bridge knows when to upload more keys without syncing.
//! Stable and `org.matrix.msc3202.` names, as for the other extensions.

use std::collections::BTreeSet;

use ruma::{OwnedUserId, UserId};
use serde_json::{Map, Value, json};

use super::Appservices;
use super::registration::Registration;
use crate::Result;

impl Appservices {
    pub(super) async fn add_key_counts(&self, registration: &Registration, body: &mut Value) -> Result<()> {
        let (Some(devices), Some(e2ee)) = (self.devices.get(), self.e2ee.get()) else { return Ok(()) };
        let mut users: BTreeSet<OwnedUserId> = BTreeSet::from([registration.sender.clone()]);
        let mentioned = body["events"].as_array().into_iter().flatten().flat_map(|e| [&e["sender"], &e["state_key"]]);
        let recipients = body["to_device"].as_array().into_iter().flatten().map(|m| &m["to_user_id"]);
        for candidate in mentioned.chain(recipients).filter_map(Value::as_str) {
            if let Ok(user) = UserId::parse(candidate)
                && user.server_name() == self.server_name
                && registration.owns_user(&user)
            {
                users.insert(user);
            }
        }
        let (mut counts, mut fallbacks) = (Map::new(), Map::new());
        for user in users {
            let (mut user_counts, mut user_fallbacks) = (Map::new(), Map::new());
            for device in devices.list(user.localpart()).await?.into_iter().filter_map(|d| d.device_id) {
                user_counts
                    .insert(device.to_string(), Value::Object(e2ee.keys.one_time_key_counts(&user, &device).await?));
                user_fallbacks
                    .insert(device.to_string(), json!(e2ee.keys.unused_fallback_types(&user, &device).await?));
            }
            if !user_counts.is_empty() {
                counts.insert(user.to_string(), Value::Object(user_counts));
                fallbacks.insert(user.to_string(), Value::Object(user_fallbacks));
            }
        }
        if !counts.is_empty() {
            let (counts, fallbacks) = (Value::Object(counts), Value::Object(fallbacks));
            body["device_one_time_keys_count"] = counts.clone();
            body["org.matrix.msc3202.device_one_time_keys_count"] = counts;
            body["device_unused_fallback_key_types"] = fallbacks.clone();
            body["org.matrix.msc3202.device_unused_fallback_key_types"] = fallbacks;
        }
        Ok(())
    }
}
