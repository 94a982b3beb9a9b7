//! [`Cluster`] on PostgreSQL: a row per writing process in
//! `nexus_writers` (its floor, whether it is busy, its lease) and a row per
//! cluster-wide job in `nexus_jobs`. The argument for why the reads and
//! writes below are ordered as they are is in docs/scale-out.md.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::{Executor, Postgres, Transaction};

use super::postgres::{PostgresStore, sequence};
use crate::cluster::Cluster;
use crate::{CounterDef, Error, Result};

/// Records the catalog's version, refusing a database a newer binary
/// already wrote (run under the schema lock).
pub(super) async fn check_version(conn: &mut PoolConnection<Postgres>, catalog: crate::catalog::Catalog) -> Result<()> {
    conn.execute("CREATE TABLE IF NOT EXISTS nexus_schema (catalog TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        .await?;
    let stored: Option<i32> = sqlx::query_scalar("SELECT version FROM nexus_schema WHERE catalog = $1")
        .bind(catalog.name)
        .fetch_optional(&mut **conn)
        .await?;
    let ours = i32::try_from(catalog.version).unwrap_or(i32::MAX);
    if let Some(stored) = stored
        && stored > ours
    {
        return Err(Error::Config(format!(
            "the database's {} schema is version {stored}, newer than this binary's {ours}: upgrade this binary",
            catalog.name
        )));
    }
    sqlx::query(
        "INSERT INTO nexus_schema (catalog, version) VALUES ($1, $2)
         ON CONFLICT (catalog) DO UPDATE SET version = EXCLUDED.version",
    )
    .bind(catalog.name)
    .bind(ours)
    .execute(&mut **conn)
    .await?;
    Ok(())
}

pub(super) async fn create_tables(conn: &mut PoolConnection<Postgres>) -> Result<()> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS nexus_writers (
            instance TEXT PRIMARY KEY,
            busy BOOLEAN NOT NULL,
            floor BIGINT NOT NULL,
            lease_until TIMESTAMPTZ NOT NULL)",
    )
    .await?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS nexus_jobs (
            job TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            lease_until TIMESTAMPTZ NOT NULL)",
    )
    .await?;
    Ok(())
}

/// The first statement of every write transaction of a clustered process.
/// The key-share lock on its row makes a reaper's `DELETE` wait for the
/// transaction to end; once the row is gone the write fails.
pub(super) async fn fence(tx: &mut Transaction<'_, Postgres>, instance: &str) -> Result<()> {
    let found = sqlx::query("SELECT 1 FROM nexus_writers WHERE instance = $1 FOR KEY SHARE")
        .bind(instance)
        .fetch_optional(&mut **tx)
        .await?;
    found.map(|_| ()).ok_or(Error::Fenced)
}

fn millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

impl PostgresStore {
    fn options(&self) -> &crate::ClusterOptions {
        self.cluster.as_ref().expect("cluster methods are reached through Store::cluster(), set only with options")
    }

    /// Adds this process's row, idle, at open.
    pub(super) async fn register_writer(&self) -> Result<()> {
        let Some(options) = &self.cluster else { return Ok(()) };
        sqlx::query(
            "INSERT INTO nexus_writers (instance, busy, floor, lease_until)
             VALUES ($1, false, 0, now() + $2 * interval '1 millisecond')",
        )
        .bind(&options.instance)
        .bind(millis(options.lease))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn last_value(&self, counter: &'static CounterDef) -> Result<u64> {
        // `last_value` moves as soon as any session's nextval returns (a
        // sequence is not transactional); before the first it is the start
        // value, not yet handed out.
        let sql =
            format!("SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {}", sequence(counter));
        let value: i64 = sqlx::query_scalar(&sql).fetch_one(&self.pool).await?;
        Ok(value.max(0) as u64)
    }
}

#[async_trait]
impl Cluster for PostgresStore {
    fn instance(&self) -> &str {
        &self.options().instance
    }

    fn lease(&self) -> Duration {
        self.options().lease
    }

    async fn go_busy(&self, counter: &'static CounterDef) -> Result<()> {
        let options = self.options();
        let sql = format!(
            "UPDATE nexus_writers SET busy = true, lease_until = now() + $2 * interval '1 millisecond',
                floor = (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {})
             WHERE instance = $1",
            sequence(counter)
        );
        let done = sqlx::query(&sql).bind(&options.instance).bind(millis(options.lease)).execute(&self.pool).await?;
        if done.rows_affected() == 0 { Err(Error::Fenced) } else { Ok(()) }
    }

    async fn publish_floor(&self, floor: Option<u64>) -> Result<()> {
        let options = self.options();
        let done = sqlx::query(
            "UPDATE nexus_writers SET busy = $2, floor = GREATEST(floor, $3),
                lease_until = now() + $4 * interval '1 millisecond'
             WHERE instance = $1",
        )
        .bind(&options.instance)
        .bind(floor.is_some())
        .bind(floor.map_or(0, |f| i64::try_from(f).unwrap_or(i64::MAX)))
        .bind(millis(options.lease))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 { Err(Error::Fenced) } else { Ok(()) }
    }

    async fn floor(&self, counter: &'static CounterDef) -> Result<u64> {
        // Two statements, in this order: a writer that took a value `<=`
        // the last value had marked itself busy before it took it, and that
        // mark committed before the second statement's snapshot.
        let last = self.last_value(counter).await?;
        let busiest: Option<i64> =
            sqlx::query_scalar("SELECT min(floor) FROM nexus_writers WHERE busy").fetch_one(&self.pool).await?;
        Ok(busiest.map_or(last, |f| last.min(f.max(0) as u64)))
    }

    async fn reap(&self) -> Result<u64> {
        let done = sqlx::query("DELETE FROM nexus_writers WHERE lease_until < now()").execute(&self.pool).await?;
        let reaped = done.rows_affected();
        if reaped > 0 {
            tracing::warn!(reaped, "removed cluster writers whose lease lapsed");
        }
        Ok(reaped)
    }

    async fn hold_job(&self, job: &str) -> Result<bool> {
        let options = self.options();
        let holder: Option<String> = sqlx::query_scalar(
            "INSERT INTO nexus_jobs (job, holder, lease_until) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
             ON CONFLICT (job) DO UPDATE SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until
             WHERE nexus_jobs.holder = EXCLUDED.holder OR nexus_jobs.lease_until < now()
             RETURNING holder",
        )
        .bind(job)
        .bind(&options.instance)
        .bind(millis(options.lease))
        .fetch_optional(&self.pool)
        .await?;
        Ok(holder.is_some())
    }
}
