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

/// Numbers under keys with a time to live, shared by every process of a
/// cluster: ephemeral state (when a user was last active) that must not
/// depend on which process a client's requests reach.
#[derive(Clone)]
pub struct RedisKeys {
    connection: MultiplexedConnection,
}

impl RedisKeys {
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        Ok(RedisKeys { connection: client.get_multiplexed_async_connection().await.map_err(redis_error)? })
    }

    /// Sets `key` to `value` for `ttl`.
    pub async fn set_for(&self, key: &str, value: u64, ttl: Duration) -> Result<()> {
        let mut connection = self.connection.clone();
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(millis)
            .query_async::<()>(&mut connection)
            .await
            .map_err(redis_error)
    }

    /// The value under `key`, unless it expired or was never set.
    pub async fn get(&self, key: &str) -> Result<Option<u64>> {
        let mut connection = self.connection.clone();
        connection.get::<_, Option<u64>>(key).await.map_err(redis_error)
    }
}

/// A token bucket kept in Redis (one hash per key: tokens and when they
/// were counted), taken from atomically by a script: several processes
/// share one allowance. Answers `None` when a token was taken, else how
/// many milliseconds until one is back.
const TOKEN_BUCKET: &str = r"
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = redis.call('HMGET', KEYS[1], 't', 'u')
local tokens, counted = tonumber(held[1]) or burst, tonumber(held[2]) or now
if now > counted then tokens = math.min(burst, tokens + (now - counted) / 1000 * rate) end
local taken = tokens >= 1
if taken then tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'u', tostring(math.max(now, counted)))
local refill = rate > 0 and math.ceil((burst - tokens) / rate * 1000) or 3600000
redis.call('PEXPIRE', KEYS[1], refill + 1000)
if taken then return -1 end
return rate > 0 and math.ceil((1 - tokens) / rate * 1000) or 3600000
";

impl RedisKeys {
    /// Takes one token from the bucket `key` (refilling `per_second`, up to
    /// `burst`) as of `now_ms`; `None` if taken, else the wait in ms.
    pub async fn take_token(&self, key: &str, per_second: f64, burst: f64, now_ms: u64) -> Result<Option<u64>> {
        let mut connection = self.connection.clone();
        let wait: i64 = redis::cmd("EVAL")
            .arg(TOKEN_BUCKET)
            .arg(1)
            .arg(key)
            .arg(per_second)
            .arg(burst)
            .arg(now_ms)
            .query_async(&mut connection)
            .await
            .map_err(redis_error)?;
        Ok(u64::try_from(wait).ok())
    }
}
