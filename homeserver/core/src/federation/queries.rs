//! Queries about other servers' users and aliases, for this server's
//! clients (`/query/profile`, `/query/directory`).

use ruma::{OwnedRoomId, OwnedServerName, RoomAliasId, ServerName, UserId};
use serde_json::{Value, json};

use super::Federation;
use crate::rooms::directory::{DirectoryRequest, DirectoryScope};
use crate::{Error, Result};

fn encode(value: &str) -> String {
    crate::rooms::encode_path(value)
}

impl Federation {
    /// A page of a server's public room directory: this server's, or
    /// another's asked over federation.
    pub async fn public_rooms(&self, server: Option<&ServerName>, request: &DirectoryRequest<'_>) -> Result<Value> {
        match server {
            Some(server) if server != self.server_name => {
                let mut body = json!({});
                if let Some(limit) = request.limit {
                    body["limit"] = json!(limit);
                }
                if let Some(since) = request.since {
                    body["since"] = json!(since);
                }
                if let Some(search) = request.search {
                    body["filter"] = json!({ "generic_search_term": search });
                }
                match request.scope {
                    DirectoryScope::Main => {}
                    DirectoryScope::AllNetworks => body["include_all_networks"] = json!(true),
                    DirectoryScope::Network(id) => body["third_party_instance_id"] = json!(id),
                }
                Ok(self.client.post(server, "/_matrix/federation/v1/publicRooms", &body).await.map_err(Error::from)?)
            }
            _ => self.local_public_rooms(request).await,
        }
    }

    /// This server's directory page, as clients and other servers see it.
    pub async fn local_public_rooms(&self, request: &DirectoryRequest<'_>) -> Result<Value> {
        let page = self.rooms.public_rooms(request).await?;
        let mut body = json!({ "chunk": page.chunk, "total_room_count_estimate": page.total });
        if let Some(next) = page.next_batch {
            body["next_batch"] = json!(next);
        }
        if let Some(prev) = page.prev_batch {
            body["prev_batch"] = json!(prev);
        }
        Ok(body)
    }

    /// A user's profile, asked of their server when it is another.
    pub async fn profile(&self, user: &UserId, field: Option<&str>) -> Result<serde_json::Map<String, Value>> {
        if user.server_name() == self.server_name {
            let mut profile = self.profiles.get(user).await?;
            if let Some(field) = field {
                profile.retain(|k, _| k == field);
                if profile.is_empty() {
                    return Err(Error::NotFound(format!("the profile has no {field}")));
                }
            }
            return Ok(profile);
        }
        let mut path = format!("/_matrix/federation/v1/query/profile?user_id={}", encode(user.as_str()));
        if let Some(field) = field {
            path.push_str(&format!("&field={}", encode(field)));
        }
        let answer = self.client.get(user.server_name(), &path).await.map_err(Error::from)?;
        match answer {
            Value::Object(profile) => {
                if let Some(field) = field
                    && !profile.contains_key(field)
                {
                    return Err(Error::NotFound(format!("the profile has no {field}")));
                }
                Ok(profile)
            }
            _ => Err(Error::Remote("the profile is not an object".to_owned())),
        }
    }

    /// The room an alias names, and servers to join it through.
    pub async fn resolve_alias(&self, alias: &RoomAliasId) -> Result<(OwnedRoomId, Vec<OwnedServerName>)> {
        if alias.server_name() == self.server_name {
            let room_id = self.rooms.resolve_alias(alias).await?;
            let mut servers = self.rooms.joined_servers(&room_id).await?;
            servers.retain(|s| *s != self.server_name);
            servers.insert(0, self.server_name.clone());
            return Ok((room_id, servers));
        }
        let path = format!("/_matrix/federation/v1/query/directory?room_alias={}", encode(alias.as_str()));
        let answer = self.client.get(alias.server_name(), &path).await.map_err(Error::from)?;
        let room_id = answer
            .get("room_id")
            .and_then(Value::as_str)
            .and_then(|r| OwnedRoomId::try_from(r).ok())
            .ok_or_else(|| Error::Remote("the directory answer has no room id".to_owned()))?;
        let servers = answer
            .get("servers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().and_then(|s| OwnedServerName::try_from(s).ok()))
            .collect();
        Ok((room_id, servers))
    }
}
