//! This process's PostgreSQL advisory locks, all held by one session of
//! their own.
//!
//! A session-level advisory lock belongs to the connection that took it.
//! Taking each lock on a pooled connection kept that connection out of the
//! pool for as long as the lock was held, while its holder needed another
//! one to do its work: with as many busy rooms as pool connections every
//! holder waited for a connection no one would return (found by the
//! scale-out benchmark: 64 senders in 16 rooms, a pool of 16). Here one
//! task owns one connection outside the pool and takes every lock on it,
//! so holding locks costs no pooled connection and nested locks cannot
//! starve each other.
//!
//! The session cannot block on a lock another process holds (it would
//! block every other lock), so it *tries* (`pg_try_advisory_lock`) and the
//! caller retries with backoff until its deadline. Contention inside this
//! process never gets here: `LocalLocks` serialises it first, which also
//! means the session never takes a key twice for two local holders (its
//! locks are re-entrant, so the unlock/lock order below stays correct even
//! when both meet in one batch).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Row};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::{Error, Result};

/// Longest pause between two tries of a lock another process holds; short,
/// because room locks are held for one event's persistence.
const MAX_BACKOFF: Duration = Duration::from_millis(8);

/// Most commands one round trip carries.
const BATCH: usize = 256;

enum Command {
    TryLock { key: i64, reply: oneshot::Sender<Result<bool>> },
    Unlock { key: i64 },
}

/// The handle to this process's lock session.
pub(super) struct AdvisoryLocks {
    commands: mpsc::UnboundedSender<Command>,
}

/// Held while the advisory lock is; dropping it queues the unlock.
pub(super) struct AdvisoryGuard {
    key: i64,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for AdvisoryGuard {
    fn drop(&mut self) {
        // Sent before the local lock is released (see `PostgresStore::lock`),
        // so the next local holder's try is queued behind this unlock.
        let _ = self.commands.send(Command::Unlock { key: self.key });
    }
}

impl AdvisoryLocks {
    pub(super) fn start(connect: PgConnectOptions) -> Self {
        let (commands, queue) = mpsc::unbounded_channel();
        tokio::spawn(session(connect, queue));
        AdvisoryLocks { commands }
    }

    /// Takes `key`, trying again while another process holds it, until
    /// `deadline` ([`Error::Busy`] then).
    pub(super) async fn lock(&self, key: i64, deadline: Instant) -> Result<AdvisoryGuard> {
        let mut backoff = Duration::from_millis(1);
        loop {
            let (reply, answer) = oneshot::channel();
            self.commands.send(Command::TryLock { key, reply }).map_err(|_| ended())?;
            if answer.await.map_err(|_| ended())?? {
                return Ok(AdvisoryGuard { key, commands: self.commands.clone() });
            }
            if Instant::now() + backoff >= deadline {
                return Err(Error::Busy("another process held the lock too long".into()));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

fn ended() -> Error {
    Error::Task("the advisory lock session ended".into())
}

/// Owns the lock connection: runs the queued commands in order, a batch per
/// round trip, reconnecting after a failure.
async fn session(connect: PgConnectOptions, mut queue: mpsc::UnboundedReceiver<Command>) {
    let mut conn: Option<PgConnection> = None;
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let mut unlocks = Vec::new();
        let mut tries = Vec::new();
        for command in batch {
            match command {
                Command::Unlock { key } => unlocks.push(key),
                Command::TryLock { key, reply } => tries.push((key, reply)),
            }
        }
        if let Err(e) = run(&connect, &mut conn, &unlocks, tries).await
            && conn.take().is_some()
        {
            // Closing the session released every lock it held, also those
            // guards still believe they hold: say so loudly.
            tracing::error!(error = %e, "lost the PostgreSQL session holding this process's locks");
        }
    }
}

async fn run(
    connect: &PgConnectOptions,
    conn: &mut Option<PgConnection>,
    unlocks: &[i64],
    tries: Vec<(i64, oneshot::Sender<Result<bool>>)>,
) -> std::result::Result<(), sqlx::Error> {
    let session = match conn {
        Some(session) => session,
        None => match connect.connect().await {
            Ok(session) => conn.insert(session),
            Err(e) => {
                let failure = format!("could not open the advisory lock session: {e}");
                for (_, reply) in tries {
                    let _ = reply.send(Err(Error::Task(failure.clone())));
                }
                return Err(e);
            }
        },
    };
    // Unlocks first: a try queued after an unlock of the same key (the next
    // local holder) must find it released by this process.
    if !unlocks.is_empty() {
        sqlx::query("SELECT pg_advisory_unlock(k) FROM unnest($1::int8[]) AS k")
            .bind(unlocks)
            .execute(&mut *session)
            .await?;
    }
    if tries.is_empty() {
        return Ok(());
    }
    let keys: Vec<i64> = tries.iter().map(|(key, _)| *key).collect();
    let taken =
        sqlx::query("SELECT pg_try_advisory_lock(k) FROM unnest($1::int8[]) WITH ORDINALITY AS t(k, i) ORDER BY i")
            .bind(&keys)
            .fetch_all(&mut *session)
            .await;
    let taken = match taken {
        Ok(rows) => rows,
        Err(e) => {
            for (_, reply) in tries {
                let _ = reply.send(Err(Error::Task("the advisory lock session failed".into())));
            }
            return Err(e);
        }
    };
    let mut abandoned = Vec::new();
    for ((key, reply), row) in tries.into_iter().zip(taken) {
        let got: bool = row.try_get(0).unwrap_or(false);
        // A caller that gave up (its request ended) must not leave the lock
        // held by nobody.
        if reply.send(Ok(got)).is_err() && got {
            abandoned.push(key);
        }
    }
    if !abandoned.is_empty() {
        sqlx::query("SELECT pg_advisory_unlock(k) FROM unnest($1::int8[]) AS k")
            .bind(&abandoned)
            .execute(&mut *session)
            .await?;
    }
    Ok(())
}
