//! Channel webhooks: each is a user of the bridge's namespace,
//! `@{prefix}webhook_{id}`, joined to its channel, that posts what is
//! executed with the webhook's token under the webhook's name (or the
//! `username` a request gives: its display name in that room). Tokens are
//! kept only as their SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_storage::{Direction, KeyRange, WriteBatch};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Bridge;
use crate::matrix::As;
use crate::snowflake::Kind;
use crate::store::WEBHOOKS;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Webhook {
    pub id: u64,
    pub name: String,
    /// The channel's room, and the guild it is in.
    pub room_id: String,
    pub guild_id: Option<u64>,
    /// The application whose bot made it.
    pub application_id: u64,
    pub creator: String,
    /// Its poster's Matrix user.
    pub user_id: String,
    pub token_hash: Vec<u8>,
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Webhook {
    pub fn token_matches(&self, token: &str) -> bool {
        self.token_hash == token_hash(token)
    }
}

impl Bridge {
    /// The Matrix user of a webhook.
    pub fn webhook_user_id(&self, id: u64) -> (String, String) {
        let localpart = format!("{}webhook_{id}", self.config.user_prefix);
        let user_id = format!("@{localpart}:{}", self.config.server_name);
        (localpart, user_id)
    }

    /// The webhook a Matrix user posts for, if it is one.
    pub fn webhook_of_user(&self, user_id: &str) -> Option<u64> {
        let localpart = user_id.strip_prefix(&format!("@{}webhook_", self.config.user_prefix))?;
        localpart.split(':').next()?.parse().ok()
    }

    /// Makes a webhook in a channel: its user joins the room (invited by
    /// the bot). The token is returned this once.
    pub async fn create_webhook(
        &self,
        bot: &str,
        application_id: u64,
        room_id: &str,
        guild_id: Option<u64>,
        name: &str,
    ) -> anyhow::Result<(Webhook, String)> {
        let id = self.snowflakes.fresh(Kind::Webhook).await?;
        let (localpart, user_id) = self.webhook_user_id(id);
        self.homeserver.register(&localpart).await?;
        self.homeserver.set_displayname(&user_id, name).await?;
        self.homeserver.invite(As::Bot(bot), room_id, &user_id).await?;
        self.homeserver.join(As::Bot(&user_id), room_id).await?;
        let mut secret = [0u8; 48];
        rand::thread_rng().fill_bytes(&mut secret);
        let token = URL_SAFE_NO_PAD.encode(secret);
        let webhook = Webhook {
            id,
            name: name.to_owned(),
            room_id: room_id.to_owned(),
            guild_id,
            application_id,
            creator: bot.to_owned(),
            user_id,
            token_hash: token_hash(&token),
        };
        self.save_webhook(&webhook).await?;
        Ok((webhook, token))
    }

    pub async fn save_webhook(&self, webhook: &Webhook) -> anyhow::Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(&WEBHOOKS, webhook.id.to_be_bytes().to_vec(), serde_json::to_vec(webhook)?);
        Ok(self.store.write(batch).await?)
    }

    pub async fn webhook(&self, id: u64) -> anyhow::Result<Option<Webhook>> {
        let Some(value) = self.store.get(&WEBHOOKS, &id.to_be_bytes()).await? else { return Ok(None) };
        Ok(Some(serde_json::from_slice(&value)?))
    }

    /// Every webhook, for listing by channel or guild (a handful per
    /// server; listing is a moderator's action, not a hot path).
    pub async fn webhooks(&self) -> anyhow::Result<Vec<Webhook>> {
        let rows = self.store.scan(&WEBHOOKS, KeyRange::all(), Direction::Forward, 100_000).await?;
        rows.into_iter().map(|(_, v)| Ok(serde_json::from_slice(&v)?)).collect()
    }

    /// Deletes a webhook: its user leaves the channel.
    pub async fn delete_webhook(&self, webhook: &Webhook) -> anyhow::Result<()> {
        let path = format!("/_matrix/client/v3/rooms/{}/leave", crate::matrix::enc(&webhook.room_id));
        let _ = self.homeserver.call(As::Bot(&webhook.user_id), reqwest::Method::POST, &path, Some(&json!({}))).await;
        Ok(self.store.delete(&WEBHOOKS, &webhook.id.to_be_bytes()).await?)
    }

    /// A webhook in Discord's shape (`token` only when given).
    pub async fn webhook_json(&self, webhook: &Webhook, token: Option<&str>) -> anyhow::Result<Value> {
        let channel = self.snowflakes.of(Kind::Room, &webhook.room_id).await?;
        let creator = self.author(&webhook.creator).await?;
        let mut json = json!({
            "id": webhook.id.to_string(),
            "type": 1,
            "channel_id": channel.to_string(),
            "guild_id": webhook.guild_id.map(|g| g.to_string()),
            "name": webhook.name,
            "avatar": null,
            "user": creator,
            "application_id": null,
        });
        if let Some(token) = token {
            json["token"] = json!(token);
        }
        Ok(json)
    }

    /// The author of a webhook's message: the webhook, named as it posted
    /// (`username` when the request gave one).
    pub(crate) async fn webhook_author(&self, id: u64, username: Option<&str>) -> anyhow::Result<Value> {
        let name = match username {
            Some(name) => name.to_owned(),
            None => self.webhook(id).await?.map_or_else(|| "webhook".to_owned(), |w| w.name),
        };
        Ok(json!({
            "id": id.to_string(), "username": name, "discriminator": "0000", "global_name": null,
            "avatar": null, "bot": true, "system": false, "public_flags": 0, "flags": 0,
        }))
    }
}
