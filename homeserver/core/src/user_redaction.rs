//! Redacting everything a local user sent (Synapse's admin API
//! `POST /v1/user/{userId}/redact`, polled with `redact_status`): in the
//! rooms named, or every room the user is or was in, their events newest
//! first — up to `limit` per room — are redacted in the user's own name
//! (anyone may redact their own events, so no power level stands in the
//! way). A durable job: recorded before it starts and as it goes,
//! restarted after a restart (events already redacted are skipped).

use std::collections::BTreeMap;
use std::sync::Arc;

use nexus_storage::catalog::USER_REDACTIONS;
use nexus_storage::{Direction, KeyRange};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rooms::NewEvent;
use crate::tokens::Identity;
use crate::values::{ALPHANUMERIC, decode, encode, now_ms, random_string};
use crate::{Error, Result, Services};

/// Timeline entries read per page while looking for the user's events.
const PAGE: usize = 500;
/// Synapse's default `limit` per room.
pub const DEFAULT_LIMIT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedactionStatus {
    Scheduled,
    Active,
    Complete,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRedaction {
    pub redact_id: String,
    pub user_id: OwnedUserId,
    /// Empty: every room the user is or was in.
    pub rooms: Vec<OwnedRoomId>,
    pub reason: Option<String>,
    pub limit: usize,
    pub status: RedactionStatus,
    /// Events that could not be redacted, with why.
    pub failed_redactions: BTreeMap<String, String>,
    pub redacted: usize,
    pub requested_by: OwnedUserId,
    pub updated_ts: u64,
}

impl Services {
    /// Starts redacting a local user's events; the job's id.
    pub async fn start_user_redaction(
        self: &Arc<Self>,
        caller: &Identity,
        user: &UserId,
        rooms: Vec<OwnedRoomId>,
        reason: Option<String>,
        limit: Option<usize>,
    ) -> Result<String> {
        let remote = "Only local users can have their events redacted";
        self.require_local_account(caller, user, remote, "User not found").await?;
        let job = UserRedaction {
            redact_id: random_string(ALPHANUMERIC, 16),
            user_id: user.to_owned(),
            rooms,
            reason,
            limit: limit.unwrap_or(DEFAULT_LIMIT).max(1),
            status: RedactionStatus::Scheduled,
            failed_redactions: BTreeMap::new(),
            redacted: 0,
            requested_by: caller.user_id.clone(),
            updated_ts: now_ms(),
        };
        self.save_redaction(&job).await?;
        tracing::info!(%user, by = %caller.user_id, redact_id = %job.redact_id, "redacting a user's events");
        let redact_id = job.redact_id.clone();
        let services = self.clone();
        tokio::spawn(async move { services.run_user_redaction(job).await });
        Ok(redact_id)
    }

    /// One redaction job.
    pub async fn user_redaction(&self, caller: &Identity, redact_id: &str) -> Result<UserRedaction> {
        self.accounts.require_admin(caller).await?;
        let bytes = self.store.get(&USER_REDACTIONS, redact_id.as_bytes()).await?;
        let bytes = bytes.ok_or_else(|| Error::NotFound(format!("redact id '{redact_id}' not found")))?;
        decode(&USER_REDACTIONS, &bytes)
    }

    async fn save_redaction(&self, job: &UserRedaction) -> Result<()> {
        Ok(self.store.put(&USER_REDACTIONS, job.redact_id.as_bytes(), &encode(job)).await?)
    }

    /// Restarts the jobs a restart interrupted.
    pub(crate) async fn resume_user_redactions(self: &Arc<Self>) -> Result<()> {
        let rows = self.store.scan(&USER_REDACTIONS, KeyRange::all(), Direction::Forward, usize::MAX).await?;
        for (_, value) in rows {
            let job: UserRedaction = decode(&USER_REDACTIONS, &value)?;
            if matches!(job.status, RedactionStatus::Scheduled | RedactionStatus::Active) {
                let services = self.clone();
                tokio::spawn(async move { services.run_user_redaction(job).await });
            }
        }
        Ok(())
    }

    async fn run_user_redaction(&self, mut job: UserRedaction) {
        job.status = RedactionStatus::Active;
        let outcome = match self.save_redaction(&job).await {
            Ok(()) => self.redact_user_events(&mut job).await,
            Err(e) => Err(e),
        };
        job.status = match outcome {
            Ok(()) => RedactionStatus::Complete,
            Err(e) => {
                tracing::warn!(redact_id = %job.redact_id, error = %e, "redacting a user's events failed");
                RedactionStatus::Failed
            }
        };
        job.updated_ts = now_ms();
        if let Err(e) = self.save_redaction(&job).await {
            tracing::warn!(redact_id = %job.redact_id, error = %e, "could not record a redaction job's end");
        }
    }

    async fn redact_user_events(&self, job: &mut UserRedaction) -> Result<()> {
        let rooms = match job.rooms.is_empty() {
            false => job.rooms.clone(),
            true => {
                let mut all = Vec::new();
                for membership in [MembershipState::Join, MembershipState::Leave, MembershipState::Ban] {
                    all.extend(self.rooms.membership.rooms_of(&job.user_id, &membership).await?);
                }
                all
            }
        };
        for room in rooms {
            let Some(redactor) = self.redactor(&room, &job.user_id).await? else {
                job.failed_redactions.insert(room.to_string(), "no local member may redact there".to_owned());
                continue;
            };
            for event_id in self.events_of(&room, &job.user_id, job.limit).await? {
                let redaction = NewEvent::redaction(event_id.clone(), job.reason.as_deref());
                match self.rooms.send(&room, &redactor, redaction).await {
                    Ok(_) => job.redacted += 1,
                    Err(e) => {
                        job.failed_redactions.insert(event_id.to_string(), e.to_string());
                    }
                }
            }
            job.updated_ts = now_ms();
            self.save_redaction(job).await?;
        }
        Ok(())
    }

    /// Who redacts in a room: the user while they are joined (anyone may
    /// redact their own events), else the most powerful local member who
    /// may redact others' events there.
    async fn redactor(&self, room: &RoomId, user: &UserId) -> Result<Option<OwnedUserId>> {
        if self.rooms.membership.is_joined(room, user).await? {
            return Ok(Some(user.to_owned()));
        }
        if self.rooms.version(room).await?.is_none() {
            return Ok(None);
        }
        let power = self.rooms.power_levels(room).await?;
        let needed = power.action("redact");
        let members = self.rooms.membership.members(room).await?;
        Ok(members
            .into_iter()
            .filter(|(m, state)| *state == MembershipState::Join && m.server_name() == self.server_name())
            .map(|(m, _)| m)
            .filter(|m| power.user(m) >= needed)
            .max_by_key(|m| power.user(m)))
    }

    /// The user's unredacted messages in a room (not state: redacting a
    /// room's power levels or rules would strip them), newest first, at
    /// most `limit`.
    async fn events_of(&self, room: &RoomId, user: &UserId, limit: usize) -> Result<Vec<ruma::OwnedEventId>> {
        let mut found = Vec::new();
        let mut from = None;
        loop {
            let page = self.rooms.timeline.page(room, from, Direction::Backward, PAGE).await?;
            let Some((oldest, _)) = page.last() else { return Ok(found) };
            let next = *oldest;
            for (_, event_id) in &page {
                let Some(stored) = self.rooms.timeline.get(event_id).await? else { continue };
                if stored.redacted_by.is_some() {
                    continue;
                }
                let event = Value::from(ruma::CanonicalJsonValue::Object(stored.object()?));
                let message = event.get("state_key").is_none() && event["type"] != "m.room.redaction";
                if message && event["sender"] == user.as_str() {
                    found.push(event_id.clone());
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            if page.len() < PAGE || next == 0 {
                return Ok(found);
            }
            from = Some(next);
        }
    }
}
