//! A user's devices: the sessions they logged in with. Removing a device
//! revokes its tokens in the same batch.

use std::sync::Arc;

use nexus_storage::catalog::DEVICES;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store, WriteBatch};
use ruma::{DeviceId, OwnedDeviceId};
use serde::{Deserialize, Serialize};

use crate::tokens::Tokens;
use crate::values::{UPPERCASE, decode, encode, now_ms, random_string};
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    #[serde(skip)]
    pub device_id: Option<OwnedDeviceId>,
    pub display_name: Option<String>,
    pub created_ts: u64,
    pub last_seen_ts: Option<u64>,
    pub last_seen_ip: Option<String>,
}

/// The most display name bytes we keep; longer names are refused.
const MAX_DISPLAY_NAME_BYTES: usize = 256;

pub struct Devices {
    store: Arc<dyn Store>,
    tokens: Arc<Tokens>,
}

fn key(localpart: &str, device_id: &str) -> Vec<u8> {
    KeyBuilder::new().str(localpart).str(device_id).build()
}

pub fn generate_device_id() -> OwnedDeviceId {
    random_string(UPPERCASE, 10).into()
}

impl Devices {
    pub fn new(store: Arc<dyn Store>, tokens: Arc<Tokens>) -> Self {
        Devices { store, tokens }
    }

    /// `GET /admin/whois/{userId}`: a user's devices and where they were
    /// last seen. The spec lets a server restrict it to the user themself
    /// and server admins (`caller_is_admin`, as the accounts service says).
    pub async fn whois(
        &self,
        caller: &ruma::UserId,
        target: &ruma::UserId,
        caller_is_admin: bool,
    ) -> Result<serde_json::Value> {
        if caller != target && !caller_is_admin {
            return Err(Error::Forbidden("only server admins may look up other users".to_owned()));
        }
        let mut devices = serde_json::Map::new();
        for device in self.list(target.localpart()).await? {
            let Some(device_id) = device.device_id else { continue };
            let mut connection = serde_json::Map::new();
            if let Some(ip) = device.last_seen_ip {
                connection.insert("ip".to_owned(), ip.into());
            }
            if let Some(ts) = device.last_seen_ts {
                connection.insert("last_seen".to_owned(), ts.into());
            }
            let connections = if connection.is_empty() { vec![] } else { vec![serde_json::Value::Object(connection)] };
            devices.insert(device_id.to_string(), serde_json::json!({ "sessions": [{ "connections": connections }] }));
        }
        Ok(serde_json::json!({ "user_id": target, "devices": devices }))
    }

    pub async fn list(&self, localpart: &str) -> Result<Vec<Device>> {
        let prefix = KeyBuilder::new().str(localpart).build();
        let entries = self.store.scan_prefix(&DEVICES, &prefix, Direction::Forward, usize::MAX).await?;
        entries
            .into_iter()
            .map(|(k, v)| {
                let device_id = KeyReader::new(&k[prefix.len()..])
                    .str()
                    .map_err(|e| nexus_storage::Error::corrupt(DEVICES.name, e))?;
                let mut device: Device = decode(&DEVICES, &v)?;
                device.device_id = Some(device_id.into());
                Ok(device)
            })
            .collect()
    }

    pub async fn get(&self, localpart: &str, device_id: &DeviceId) -> Result<Option<Device>> {
        let Some(bytes) = self.store.get(&DEVICES, &key(localpart, device_id.as_str())).await? else {
            return Ok(None);
        };
        let mut device: Device = decode(&DEVICES, &bytes)?;
        device.device_id = Some(device_id.to_owned());
        Ok(Some(device))
    }

    fn check_display_name(display_name: Option<&str>) -> Result<()> {
        match display_name {
            Some(name) if name.len() > MAX_DISPLAY_NAME_BYTES => {
                Err(Error::InvalidParam(format!("device display names are at most {MAX_DISPLAY_NAME_BYTES} bytes")))
            }
            _ => Ok(()),
        }
    }

    /// Sets a device's display name; `None` leaves it unchanged, as the
    /// spec says of an absent `display_name`.
    pub async fn rename(&self, localpart: &str, device_id: &DeviceId, display_name: Option<String>) -> Result<()> {
        Self::check_display_name(display_name.as_deref())?;
        let Some(mut device) = self.get(localpart, device_id).await? else {
            return Err(Error::NotFound("no such device".to_owned()));
        };
        let Some(display_name) = display_name else { return Ok(()) };
        device.display_name = Some(display_name);
        Ok(self.store.put(&DEVICES, &key(localpart, device_id.as_str()), &encode(&device)).await?)
    }

    /// Adds a new device (or a fresh login on an existing one) to `batch`,
    /// revoking whatever tokens the device had. The caller holds the user's
    /// lock.
    pub async fn open_session(
        &self,
        batch: &mut WriteBatch,
        localpart: &str,
        device_id: &DeviceId,
        display_name: Option<String>,
        ip: Option<String>,
    ) -> Result<()> {
        Self::check_display_name(display_name.as_deref())?;
        let now = now_ms();
        let device = match self.get(localpart, device_id).await? {
            Some(mut existing) => {
                self.tokens.revoke_device(batch, localpart, device_id.as_str()).await?;
                // The spec: initial_device_display_name is ignored for a
                // known device.
                existing.last_seen_ts = Some(now);
                existing.last_seen_ip = ip;
                existing
            }
            None => {
                Device { device_id: None, display_name, created_ts: now, last_seen_ts: Some(now), last_seen_ip: ip }
            }
        };
        batch.put(&DEVICES, key(localpart, device_id.as_str()), encode(&device));
        Ok(())
    }

    /// Adds the removal of a device and its tokens to `batch`.
    pub async fn remove(&self, batch: &mut WriteBatch, localpart: &str, device_id: &DeviceId) -> Result<()> {
        batch.delete(&DEVICES, key(localpart, device_id.as_str()));
        self.tokens.revoke_device(batch, localpart, device_id.as_str()).await
    }
}
