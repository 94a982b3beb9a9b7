//! Typing in a cluster: every process keeps its own copy of who is typing
//! ([`crate::typing::Typing`]) and announces each change on the Redis
//! channel `nexus:typing`; the others apply it and wake the room's members
//! there. Typing is ephemeral: a lost announcement costs that one change,
//! which expires within seconds anyway.

use std::sync::Arc;
use std::time::Duration;

use nexus_storage::redis_channel::{Heard, RedisChannel};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};

use crate::Result;

const CHANNEL: &str = "nexus:typing";

/// One change, as announced.
#[derive(Serialize, Deserialize)]
pub struct TypingChange {
    from: String,
    pub room_id: OwnedRoomId,
    pub user_id: OwnedUserId,
    /// `None`: stopped typing.
    pub timeout_ms: Option<u64>,
}

impl TypingChange {
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }
}

pub struct TypingRelay {
    channel: RedisChannel,
    instance: String,
}

impl TypingRelay {
    pub async fn connect(redis_url: &str, instance: &str) -> Result<Arc<Self>> {
        let channel = RedisChannel::connect(redis_url, CHANNEL).await?;
        Ok(Arc::new(TypingRelay { channel, instance: instance.to_owned() }))
    }

    /// Announces a change made here (in the background: the caller's
    /// request does not wait for Redis).
    pub fn announce(self: &Arc<Self>, room_id: &RoomId, user_id: &UserId, typing: Option<Duration>) {
        let change = TypingChange {
            from: self.instance.clone(),
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
            timeout_ms: typing.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        };
        let payload = serde_json::to_vec(&change).expect("typing changes serialise");
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.channel.publish(&payload).await {
                tracing::warn!(error = %e, "could not announce a typing change to the cluster");
            }
        });
    }

    /// The changes the other processes announce, from now on.
    pub fn listen(&self) -> tokio::sync::mpsc::Receiver<TypingChange> {
        let mut heard = self.channel.subscribe();
        let (sender, receiver) = tokio::sync::mpsc::channel(1024);
        let instance = self.instance.clone();
        tokio::spawn(async move {
            while let Some(item) = heard.recv().await {
                let Heard::Message(payload) = item else { continue };
                match serde_json::from_slice::<TypingChange>(&payload) {
                    Ok(change) if change.from != instance => {
                        if sender.send(change).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "ignored a malformed typing announcement"),
                }
            }
        });
        receiver
    }
}
