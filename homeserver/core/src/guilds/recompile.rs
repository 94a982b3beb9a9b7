//! Keeping each room's `m.room.power_levels` equal to the compilation of the
//! server's state (extensions-spec §9.7).
//!
//! An event that changes an input (owner, roles, member roles, overwrites,
//! membership, the space's children) writes a job in the same batch as
//! itself, so no acknowledged change is forgotten across a crash; a worker
//! drains the jobs. A timeout writes its end into `guild_timeouts`, and the
//! upkeep tick turns ended timeouts into jobs. Compiling is a pure function
//! of state, and a power-levels event is sent only when it differs from the
//! current one, so running a job twice is harmless.

use std::collections::BTreeMap;

use nexus_extensions::events::member::MemberContent;
use nexus_extensions::events::{self, parse_state};
use nexus_extensions::ids::user_id_from_member_state_key;
use nexus_extensions::{CompileOptions, Creators, compile};
use nexus_storage::catalog::{GUILD_RECOMPILE_JOBS, GUILD_TIMEOUTS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, WriteBatch};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Guilds;
use super::context::Scope;
use crate::rooms::NewEvent;
use crate::rooms::pdu::Pdu;
use crate::values::{decode, encode, now_ms};
use crate::{Error, Result};

/// Jobs taken per round, so one round's work is bounded.
const JOBS_PER_ROUND: usize = 64;
/// How many local members are tried as the sender before giving up.
const SENDER_ATTEMPTS: usize = 4;

#[derive(Debug, Serialize, Deserialize)]
pub struct RecompileJob {
    /// The space's roles, members or owner changed: every channel too.
    whole_server: bool,
    /// A `nexus.*` change: who may see which channel may have changed, so
    /// private channels invite those who now may (§9.4).
    #[serde(default)]
    visibility: bool,
    /// Who made the change: sends the result if the auth rules let them.
    sender: OwnedUserId,
    /// Members who left, were kicked or were banned (their `nexus.member`
    /// entries are cleared when the room is the space, §6.4).
    #[serde(default)]
    departed: Vec<OwnedUserId>,
}

impl RecompileJob {
    fn merge(&mut self, other: RecompileJob) {
        self.whole_server |= other.whole_server;
        self.visibility |= other.visibility;
        self.sender = other.sender;
        self.departed.extend(other.departed);
    }
}

/// What an event means for the power levels, decided from the event alone.
fn job_for(pdu: &Pdu) -> Option<RecompileJob> {
    let state_key = pdu.state_key.as_ref()?;
    let kind = pdu.kind.to_string();
    let whole_server = match kind.as_str() {
        events::SERVER | events::ROLE | events::MEMBER => true,
        events::CHANNEL_OVERWRITES
        | "m.room.member"
        | "m.room.power_levels"
        | "m.space.child"
        | "m.space.parent"
        | "m.room.join_rules" => false,
        _ => return None,
    };
    let membership = (kind == "m.room.member")
        .then(|| pdu.content_json().get("membership").and_then(Value::as_str).map(str::to_owned))
        .flatten();
    let departed = match (membership.as_deref(), UserId::parse(state_key.as_str())) {
        (Some("leave" | "ban"), Ok(user)) => vec![user],
        _ => Vec::new(),
    };
    Some(RecompileJob { whole_server, visibility: kind.starts_with("nexus."), sender: pdu.sender.clone(), departed })
}

fn job_key(room_id: &RoomId, event_id: &ruma::EventId) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(event_id.as_str()).build()
}

fn timeout_key(ends_at_ms: u64, space: &RoomId, user: &str) -> Vec<u8> {
    KeyBuilder::new().u64(ends_at_ms).str(space.as_str()).str(user).build()
}

impl Guilds {
    /// Adds the jobs and timeout ends an event implies to its batch.
    pub(super) fn record_inputs(&self, batch: &mut WriteBatch, room_id: &RoomId, pdu: &Pdu) {
        let Some(job) = job_for(pdu) else { return };
        batch.put(&GUILD_RECOMPILE_JOBS, job_key(room_id, &pdu.event_id), encode(&job));
        if pdu.kind.to_string() == events::MEMBER
            && let Some(user) = pdu.state_key.as_deref().and_then(user_id_from_member_state_key)
            && let Ok(Some(member)) = parse_state::<MemberContent>(&pdu.content_json())
            && let Some(until) = member.communication_disabled_until
            && until > now_ms()
        {
            batch.put(&GUILD_TIMEOUTS, timeout_key(until, room_id, user), Vec::new());
        }
    }

    /// Turns timeouts that have ended into jobs (called every second).
    pub(super) async fn expire_timeouts(&self) -> Result<()> {
        let end = KeyBuilder::new().u64(now_ms() + 1).build();
        let due = self.store.scan(&GUILD_TIMEOUTS, KeyRange::between(&[], &end), Direction::Forward, 256).await?;
        if due.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        for (key, _) in due {
            let mut reader = KeyReader::new(&key);
            let corrupt = |e| nexus_storage::Error::corrupt(GUILD_TIMEOUTS.name, e);
            let _ends = reader.u64().map_err(corrupt)?;
            let space = reader.str().map_err(corrupt)?;
            let user = reader.str().map_err(corrupt)?;
            if let (Ok(space), Ok(user)) = (RoomId::parse(space), UserId::parse(user)) {
                let job = RecompileJob { whole_server: true, visibility: false, sender: user, departed: Vec::new() };
                let marker = ruma::EventId::parse(format!("$timeout-{}", hex::encode(&key)))
                    .map_err(|e| Error::Internal(e.to_string()))?;
                batch.put(&GUILD_RECOMPILE_JOBS, job_key(&space, &marker), encode(&job));
            }
            batch.delete(&GUILD_TIMEOUTS, key);
        }
        self.store.write(batch).await?;
        self.jobs_waiting.notify_one();
        Ok(())
    }

    /// Drains the recompilation jobs until there are none, then waits.
    pub async fn run_recompiler(self: std::sync::Arc<Self>) {
        loop {
            match self.recompile_round().await {
                // In a cluster, another process may queue jobs without
                // reaching this one's wake-up: look again every second.
                Ok(0) if self.store.cluster().is_some() => {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.jobs_waiting.notified()).await;
                }
                Ok(0) => self.jobs_waiting.notified().await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "power-level recompilation failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// One round: up to [`JOBS_PER_ROUND`] jobs, each room compiled once.
    /// Returns how many jobs were done.
    pub async fn recompile_round(&self) -> Result<usize> {
        let jobs = self.store.scan(&GUILD_RECOMPILE_JOBS, KeyRange::all(), Direction::Forward, JOBS_PER_ROUND).await?;
        let mut rooms: BTreeMap<OwnedRoomId, RecompileJob> = BTreeMap::new();
        for (key, value) in &jobs {
            let room =
                KeyReader::new(key).str().map_err(|e| nexus_storage::Error::corrupt(GUILD_RECOMPILE_JOBS.name, e))?;
            let Ok(room) = RoomId::parse(room) else { continue };
            let job: RecompileJob = decode(&GUILD_RECOMPILE_JOBS, value)?;
            match rooms.get_mut(&room) {
                Some(entry) => entry.merge(job),
                None => {
                    rooms.insert(room, job);
                }
            }
        }
        // The power levels this round sends are compiled already: their own
        // jobs go with the round's, rather than compiling every room again.
        let mut sent = Vec::new();
        for (room, job) in &rooms {
            self.recompile(room, job, &mut sent).await?;
        }
        let mut batch = WriteBatch::new();
        for (key, _) in &jobs {
            batch.delete(&GUILD_RECOMPILE_JOBS, key.clone());
        }
        for (room, event_id) in &sent {
            batch.delete(&GUILD_RECOMPILE_JOBS, job_key(room, event_id));
        }
        self.store.write(batch).await?;
        Ok(jobs.len())
    }

    /// Recompiles `room` (and, for a server-wide change to a space, all its
    /// channels), then keeps membership in step with VIEW_CHANNEL.
    async fn recompile(
        &self,
        room: &RoomId,
        job: &RecompileJob,
        sent: &mut Vec<(OwnedRoomId, OwnedEventId)>,
    ) -> Result<()> {
        let Some(scope) = self.scope_uncached(room).await? else { return Ok(()) };
        let trigger = &job.sender;
        sent.extend(self.update_power_levels(&scope, trigger).await?);
        if scope.channel.is_some() {
            return self.enforce_visibility(&scope, trigger, job.visibility).await;
        }
        self.take_out_of_channels(&scope, trigger, &job.departed).await?;
        self.clear_departed(&scope, trigger, &job.departed).await?;
        if job.whole_server {
            for channel in self.channels(room).await? {
                let channel = self.channel(&channel).await?;
                let scope = Scope { server: scope.server.clone(), channel: Some(channel) };
                sent.extend(self.update_power_levels(&scope, trigger).await?);
                self.enforce_visibility(&scope, trigger, job.visibility).await?;
            }
        }
        Ok(())
    }

    /// The power levels §9.2 gives the room now.
    pub async fn compiled_power_levels(&self, scope: &Scope) -> Result<nexus_extensions::Compiled> {
        let room = scope.room_id();
        let members = self.rooms.membership.members(room).await?;
        let subjects = members
            .iter()
            .filter(|(_, m)| matches!(m, MembershipState::Join | MembershipState::Invite | MembershipState::Knock));
        let creators = self.rooms.creators(room).await?;
        let creators = if creators.privileged {
            Creators::v12(creators.users.iter().map(|u| u.as_str()))
        } else {
            Creators::none()
        };
        let options = CompileOptions { creators, now_ms: now_ms() };
        Ok(compile(&scope.server.guild, scope.room(), subjects.map(|(u, _)| u.as_str()), &options))
    }

    /// Sends the compiled power levels when they differ from the room's,
    /// as the user whose change triggered it if they are local and may,
    /// otherwise as the highest-ranked local member who may (§9.7).
    async fn update_power_levels(
        &self,
        scope: &Scope,
        trigger: &UserId,
    ) -> Result<Option<(OwnedRoomId, OwnedEventId)>> {
        let room = scope.room_id();
        let compiled = self.compiled_power_levels(scope).await?;
        let wanted = serde_json::to_value(&compiled.content).map_err(|e| Error::Internal(e.to_string()))?;
        if self.rooms.state_json(room, "m.room.power_levels", "").await?.as_ref() == Some(&wanted) {
            return Ok(None);
        }
        let Ok(ruma::CanonicalJsonValue::Object(content)) = ruma::CanonicalJsonValue::try_from(wanted) else {
            return Err(Error::Internal("compiled power levels are not a JSON object".to_owned()));
        };
        for sender in self.local_senders(scope, trigger).await? {
            match self.rooms.send(room, &sender, NewEvent::state("m.room.power_levels", "", content.clone())).await {
                Ok(event_id) => return Ok(Some((room.to_owned(), event_id))),
                Err(Error::Forbidden(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        tracing::info!(%room, "no local member may send the recompiled power levels; another server will");
        Ok(None)
    }

    /// Local joined members who might send the power levels, best first.
    pub(super) async fn local_senders(&self, scope: &Scope, trigger: &UserId) -> Result<Vec<OwnedUserId>> {
        let guild = &scope.server.guild;
        let mut joined: Vec<OwnedUserId> = self
            .rooms
            .membership
            .members(scope.room_id())
            .await?
            .into_iter()
            .filter(|(u, m)| *m == MembershipState::Join && u.server_name() == self.rooms.server_name())
            .map(|(u, _)| u)
            .collect();
        joined.sort_by_key(|u| std::cmp::Reverse(guild.rank(u.as_str())));
        let mut out: Vec<OwnedUserId> = Vec::new();
        if joined.iter().any(|u| u == trigger) {
            out.push(trigger.to_owned());
        }
        out.extend(joined.into_iter().filter(|u| u != trigger));
        out.truncate(SENDER_ATTEMPTS);
        Ok(out)
    }

    /// Whether a job is pending for the room (tests and benchmarks wait on it).
    pub async fn recompilation_pending(&self) -> Result<bool> {
        Ok(!self.store.scan(&GUILD_RECOMPILE_JOBS, KeyRange::all(), Direction::Forward, 1).await?.is_empty())
    }
}
