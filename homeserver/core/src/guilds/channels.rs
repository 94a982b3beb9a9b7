//! Editing a server's layout: a channel's settings, name and place, removing
//! a channel, the categories, and the order of roles. Each change is the
//! `nexus.*` state §4–§6 define plus the mirrors stock clients read
//! (`m.room.name`, `m.room.topic`, `m.space.child.order`), sent as the
//! acting user so the gate judges it (§14).

use nexus_extensions::events::channel::ChannelContent;
use nexus_extensions::events::server::{Category, ServerContent};
use nexus_extensions::events::{self, role::EVERYONE_ROLE_ID};
use ruma::{RoomId, UserId};
use serde_json::{Value, json};

use super::Guilds;
use super::context::typed;
use crate::{Error, Result};

/// A channel edit: absent fields stay as they are; `category: Some(None)`
/// makes the channel uncategorised.
#[derive(Debug, Default)]
pub struct ChannelEdit {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub position: Option<u32>,
    pub category: Option<Option<String>>,
    pub slowmode_seconds: Option<u32>,
    pub nsfw: Option<bool>,
    pub default_auto_archive_duration: Option<u32>,
}

/// §4.3: the `m.space.child.order` that lists channels as Nexus clients do.
pub(super) fn child_order(server: &ServerContent, category: Option<&str>, position: u32) -> String {
    let index = category.and_then(|id| server.categories.iter().position(|c| c.id == id)).map_or(0, |i| i + 1);
    format!("{index:03}.{position:010}")
}

impl Guilds {
    /// Edits a channel (MANAGE_CHANNELS in it, judged by §14 on
    /// `nexus.channel`), keeping the mirrors in step.
    pub async fn edit_channel(&self, actor: &UserId, room: &RoomId, edit: ChannelEdit) -> Result<()> {
        let scope = self.scope(room).await?.ok_or_else(|| Error::NotFound(format!("{room} is not a channel")))?;
        let Some(channel) = &scope.channel else {
            return Err(Error::NotFound(format!("{room} is a server, not a channel")));
        };
        let mut content =
            channel.content.clone().ok_or_else(|| Error::NotFound(format!("{room} has no nexus.channel")))?;
        if let Some(name) = &edit.name {
            super::manage::check_name("name", name)?;
        }
        if let Some(topic) = &edit.topic {
            content.topic = Some(topic.clone()).filter(|t| !t.is_empty());
        }
        if let Some(position) = edit.position {
            content.position = position;
        }
        if let Some(category) = &edit.category {
            content.category = category.clone();
        }
        if let Some(seconds) = edit.slowmode_seconds {
            content.slowmode_seconds = seconds;
        }
        if let Some(nsfw) = edit.nsfw {
            content.nsfw = nsfw;
        }
        if let Some(minutes) = edit.default_auto_archive_duration {
            content.default_auto_archive_duration = Some(minutes);
        }
        let raw = serde_json::to_value(&content).map_err(|e| Error::Internal(e.to_string()))?;
        super::gate::check_shape(events::CHANNEL, Some(""), &raw)?;
        if channel.content.as_ref() != Some(&content) {
            self.send_state(room, actor, events::CHANNEL, "", raw).await?;
        }
        if let Some(name) = edit.name {
            self.send_state(room, actor, "m.room.name", "", json!({ "name": name })).await?;
        }
        if let Some(topic) = edit.topic {
            self.send_state(room, actor, "m.room.topic", "", json!({ "topic": topic })).await?;
        }
        if edit.position.is_some() || edit.category.is_some() {
            self.reorder_child(actor, &scope.server.space, room, &scope.server.content, &content).await?;
        }
        Ok(())
    }

    /// Rewrites a channel's `m.space.child` with its current order.
    async fn reorder_child(
        &self,
        actor: &UserId,
        space: &RoomId,
        room: &RoomId,
        server: &ServerContent,
        channel: &ChannelContent,
    ) -> Result<()> {
        let Some(mut child) = self.rooms.state_json(space, "m.space.child", room.as_str()).await? else {
            return Ok(());
        };
        let order = child_order(server, channel.category.as_deref(), channel.position);
        if child.get("order").and_then(Value::as_str) == Some(order.as_str()) {
            return Ok(());
        }
        child["order"] = json!(order);
        self.send_state(space, actor, "m.space.child", room.as_str(), child).await
    }

    /// Removes a channel from its server (MANAGE_CHANNELS): the space no
    /// longer lists it and it no longer names the space. Matrix rooms cannot
    /// be destroyed; its members stay in it, outside the server.
    pub async fn remove_channel(&self, actor: &UserId, room: &RoomId) -> Result<()> {
        let scope = self.scope(room).await?.ok_or_else(|| Error::NotFound(format!("{room} is not a channel")))?;
        if scope.channel.is_none() {
            return Err(Error::NotFound(format!("{room} is a server, not a channel")));
        }
        let held = scope.room().permissions(&scope.server.guild, actor.as_str(), crate::values::now_ms());
        if !held.contains(nexus_extensions::Permissions::MANAGE_CHANNELS) {
            return Err(Error::Forbidden("removing a channel needs MANAGE_CHANNELS".to_owned()));
        }
        let space = &scope.server.space;
        self.send_state(space, actor, "m.space.child", room.as_str(), json!({})).await?;
        // The unlinked room's own parent link goes too, where the actor may.
        if let Err(e) = self.send_state(room, actor, "m.space.parent", space.as_str(), json!({})).await {
            tracing::info!(%room, error = %e, "the removed channel keeps its m.space.parent");
        }
        Ok(())
    }

    /// Replaces the server's categories (§14: MANAGE_GUILD on
    /// `nexus.server`), then re-orders the channels whose place changed.
    pub async fn set_categories(&self, actor: &UserId, space: &RoomId, categories: Vec<Category>) -> Result<()> {
        let server = self.require_server(space).await?;
        let mut content = server.content.clone();
        content.categories = categories;
        let raw = serde_json::to_value(&content).map_err(|e| Error::Internal(e.to_string()))?;
        super::gate::check_shape(events::SERVER, Some(""), &raw)?;
        self.send_state(space, actor, events::SERVER, "", raw).await?;
        for room in self.channels(space).await? {
            let channel = typed::<ChannelContent>(self.effective(&room, events::CHANNEL, "").await?.as_ref());
            if let Some(channel) = channel {
                self.reorder_child(actor, space, &room, &content, &channel).await?;
            }
        }
        Ok(())
    }

    /// Moves roles to new positions, each change judged by §14 in turn
    /// (highest target first, so a sender never passes a role through their
    /// own rank). Not atomic: a refusal stops at that role and says which.
    pub async fn set_role_positions(
        &self,
        actor: &UserId,
        space: &RoomId,
        positions: Vec<(String, u32)>,
    ) -> Result<()> {
        let server = self.require_server(space).await?;
        let mut moves = Vec::new();
        for (role_id, position) in positions {
            if role_id == EVERYONE_ROLE_ID {
                return Err(Error::BadJson("positions: @everyone stays at position 0".to_owned()));
            }
            let role = server
                .guild
                .roles
                .get(&role_id)
                .ok_or_else(|| Error::BadJson(format!("positions: unknown role {role_id:?}")))?;
            if role.position != position {
                moves.push((role_id, position, role.clone()));
            }
        }
        moves.sort_by_key(|(_, position, _)| std::cmp::Reverse(*position));
        for (role_id, position, mut role) in moves {
            role.position = position;
            let raw = serde_json::to_value(&role).map_err(|e| Error::Internal(e.to_string()))?;
            self.send_state(space, actor, events::ROLE, &role_id, raw).await.map_err(|e| match e {
                Error::Forbidden(reason) => Error::Forbidden(format!("moving role {role_id:?}: {reason}")),
                other => other,
            })?;
        }
        Ok(())
    }
}
