//! Bot applications: what Discord's developer portal makes. An application
//! has a bot user (a Matrix user in the bridge's namespace), a bot token
//! (kept only as its SHA-256), an owner (the Nexus user who made it) and
//! the privileged intents its owner turned on.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use nexus_storage::{Store, WriteBatch};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::snowflake::{Kind, Snowflakes};
use crate::store::{APPLICATIONS, BOT_TOKENS};

/// Gateway intents (Discord's bit values).
pub mod intents {
    pub const GUILDS: u64 = 1 << 0;
    pub const GUILD_MEMBERS: u64 = 1 << 1;
    pub const GUILD_MODERATION: u64 = 1 << 2;
    pub const GUILD_PRESENCES: u64 = 1 << 8;
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    pub const GUILD_MESSAGE_REACTIONS: u64 = 1 << 10;
    pub const GUILD_MESSAGE_TYPING: u64 = 1 << 11;
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
    /// Every intent Discord defines (bits 0–25 less the unused ones).
    pub const ALL: u64 = (1 << 26) - 1;
    pub const PRIVILEGED: u64 = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT;
}

/// Application flags that say a privileged intent is on (the "limited"
/// flags Discord gives bots in fewer than 100 servers).
mod flags {
    pub const GATEWAY_PRESENCE_LIMITED: u64 = 1 << 13;
    pub const GATEWAY_GUILD_MEMBERS_LIMITED: u64 = 1 << 15;
    pub const GATEWAY_MESSAGE_CONTENT_LIMITED: u64 = 1 << 19;
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Application {
    pub id: u64,
    pub name: String,
    pub description: String,
    /// The Nexus user who made it.
    pub owner: String,
    /// Its bot user's Matrix id.
    pub bot_user_id: String,
    /// The privileged intents turned on (bits of [`intents::PRIVILEGED`]).
    pub privileged_intents: u64,
}

impl Application {
    /// Discord's application `flags` for the privileged intents granted.
    pub fn flags(&self) -> u64 {
        let mut flags = 0;
        if self.privileged_intents & intents::GUILD_PRESENCES != 0 {
            flags |= flags::GATEWAY_PRESENCE_LIMITED;
        }
        if self.privileged_intents & intents::GUILD_MEMBERS != 0 {
            flags |= flags::GATEWAY_GUILD_MEMBERS_LIMITED;
        }
        if self.privileged_intents & intents::MESSAGE_CONTENT != 0 {
            flags |= flags::GATEWAY_MESSAGE_CONTENT_LIMITED;
        }
        flags
    }
}

/// The privileged intent names the Nexus endpoint accepts.
pub fn privileged_intent(name: &str) -> Option<u64> {
    match name {
        "message_content" => Some(intents::MESSAGE_CONTENT),
        "guild_members" => Some(intents::GUILD_MEMBERS),
        "guild_presences" => Some(intents::GUILD_PRESENCES),
        _ => None,
    }
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub struct Applications {
    store: Arc<dyn Store>,
    snowflakes: Arc<Snowflakes>,
}

impl Applications {
    pub fn new(store: Arc<dyn Store>, snowflakes: Arc<Snowflakes>) -> Applications {
        Applications { store, snowflakes }
    }

    /// Makes an application; its bot token, shown this once.
    pub async fn create(
        &self,
        owner: &str,
        name: &str,
        description: &str,
        bot_localpart: impl FnOnce(u64) -> (String, String),
        privileged_intents: u64,
    ) -> anyhow::Result<(Application, String)> {
        let id = self.snowflakes.fresh(Kind::Application).await?;
        let (_, bot_user_id) = bot_localpart(id);
        let application = Application {
            id,
            name: name.to_owned(),
            description: description.to_owned(),
            owner: owner.to_owned(),
            bot_user_id,
            privileged_intents: privileged_intents & intents::PRIVILEGED,
        };
        // Discord's shape: the bot's id, a timestamp, then the secret.
        let mut secret = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut secret);
        let token = format!(
            "{}.{}.{}",
            STANDARD_NO_PAD.encode(id.to_string()),
            URL_SAFE_NO_PAD.encode(crate::snowflake::now_ms().to_be_bytes()),
            URL_SAFE_NO_PAD.encode(secret)
        );
        let mut batch = WriteBatch::new();
        batch.put(&APPLICATIONS, id.to_be_bytes().to_vec(), serde_json::to_vec(&application)?);
        batch.put(&BOT_TOKENS, token_hash(&token), id.to_be_bytes().to_vec());
        self.store.write(batch).await?;
        Ok((application, token))
    }

    pub async fn get(&self, id: u64) -> anyhow::Result<Option<Application>> {
        let Some(value) = self.store.get(&APPLICATIONS, &id.to_be_bytes()).await? else { return Ok(None) };
        Ok(Some(serde_json::from_slice(&value)?))
    }

    /// The application a bot token belongs to.
    pub async fn by_token(&self, token: &str) -> anyhow::Result<Option<Application>> {
        let Some(id) = self.store.get(&BOT_TOKENS, &token_hash(token)).await? else { return Ok(None) };
        let Ok(id) = <[u8; 8]>::try_from(id.as_slice()) else { return Ok(None) };
        self.get(u64::from_be_bytes(id)).await
    }
}
