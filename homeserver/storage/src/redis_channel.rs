//! One Redis pub/sub channel shared by every process of a cluster: the bus's
//! wake-ups cross processes on it. A message carries no data a reader
//! trusts (the woken read the store), so a message lost while a
//! connection is down costs latency: after a reconnect the subscriber
//! reports [`Heard::Reconnected`] and every waiter re-checks.

use std::time::Duration;

use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;

use crate::{Error, Result};

/// What the subscriber hears.
#[derive(Debug)]
pub enum Heard {
    Message(Vec<u8>),
    /// The subscription was re-established; messages may have been missed.
    Reconnected,
}

pub struct RedisChannel {
    client: redis::Client,
    channel: String,
    publisher: MultiplexedConnection,
}

fn redis_error(e: redis::RedisError) -> Error {
    Error::Redis(e.to_string())
}

impl RedisChannel {
    pub async fn connect(url: &str, channel: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let publisher = client.get_multiplexed_async_connection().await.map_err(redis_error)?;
        Ok(RedisChannel { client, channel: channel.to_owned(), publisher })
    }

    pub async fn publish(&self, payload: &[u8]) -> Result<()> {
        // The multiplexed connection reconnects by itself on the next call.
        let mut connection = self.publisher.clone();
        connection.publish::<_, _, ()>(&self.channel, payload).await.map_err(redis_error)
    }

    /// Everything published on the channel from now on, by any process
    /// (this one included), until the receiver is dropped. Reconnects
    /// with a growing pause when the connection drops.
    pub fn subscribe(&self) -> mpsc::Receiver<Heard> {
        let (sender, receiver) = mpsc::channel(1024);
        let client = self.client.clone();
        let channel = self.channel.clone();
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(100);
            let mut first = true;
            while !sender.is_closed() {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if let Err(e) = pubsub.subscribe(&channel).await {
                            tracing::warn!(error = %e, "could not subscribe to the cluster's Redis channel");
                        } else {
                            pause = Duration::from_millis(100);
                            if !first && sender.send(Heard::Reconnected).await.is_err() {
                                return;
                            }
                            first = false;
                            let mut messages = pubsub.on_message();
                            while let Some(message) = messages.next().await {
                                if sender.send(Heard::Message(message.get_payload_bytes().to_vec())).await.is_err() {
                                    return;
                                }
                            }
                            tracing::warn!("the cluster's Redis subscription ended; reconnecting");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot reach Redis; retrying"),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        });
        receiver
    }
}
