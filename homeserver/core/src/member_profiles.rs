//! Member events that follow the global profile (spec: client-server API,
//! "Events on change of profile information"): when a user changes their
//! display name or avatar, each room they are joined to gets a new
//! `m.room.member` event carrying it, so every client and server shows it.
//!
//! The change is written together with a durable *job* (one per user);
//! the job walks the user's joined rooms in room-id order and records how
//! far it got after each room, so a restart resumes it. The request spends
//! at most `profiles.member_update_inline_ms` on it (a typical user's rooms are all done
//! before the response); whatever remains continues in the background.
//!
//! **Room-specific names are kept.** A member event whose display name (or
//! avatar) is not one of the user's earlier global values was set for that
//! room on purpose (`/myroomnick`), and a global change leaves it alone.
//! Only the fields that follow the global profile move with it. Nexus
//! server nicknames live in `nexus.member` state and are never touched.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nexus_storage::catalog::MEMBER_PROFILE_JOBS;
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::moderation::Moderation;
use crate::profiles::{Profile, Profiles};
use crate::rooms::{NewEvent, Rooms};
use crate::values::{corrupt, decode, encode};
use crate::{Error, Result};

/// The profile fields a member event carries.
const MEMBER_FIELDS: [&str; 2] = ["displayname", "avatar_url"];

/// How many earlier global values a job remembers per field (a user who
/// renames repeatedly while a job runs keeps rooms not yet reached in step).
const REMEMBERED_VALUES: usize = 16;

/// One field's change: the value to spread, and the earlier global values
/// that mark a room's member event as following the global profile.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct FieldChange {
    to: Option<String>,
    from: Vec<Option<String>>,
}

/// A user's pending update of their rooms' member events.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    /// Bumped by every profile change, so a walk notices it was superseded.
    generation: u64,
    displayname: FieldChange,
    avatar_url: FieldChange,
    /// The last room done, in room-id order.
    done_through: Option<OwnedRoomId>,
}

impl Job {
    fn change(&self, field: &str) -> &FieldChange {
        if field == "displayname" { &self.displayname } else { &self.avatar_url }
    }

    fn change_mut(&mut self, field: &str) -> &mut FieldChange {
        if field == "displayname" { &mut self.displayname } else { &mut self.avatar_url }
    }

    /// The member content after the change, or `None` when the room's
    /// event already says what it should.
    fn apply(&self, current: &CanonicalJsonObject) -> Option<CanonicalJsonObject> {
        let mut content = current.clone();
        let mut changed = false;
        for field in MEMBER_FIELDS {
            let change = self.change(field);
            let now = match current.get(field) {
                Some(CanonicalJsonValue::String(value)) => Some(value.clone()),
                _ => None,
            };
            if now == change.to || !change.from.contains(&now) {
                continue;
            }
            match &change.to {
                Some(value) => content.insert(field.to_owned(), value.clone().into()),
                None => content.remove(field),
            };
            changed = true;
        }
        // The reason and the restricted-join voucher belonged to the join
        // itself, not to this profile change.
        content.remove("reason");
        content.remove("join_authorised_via_users_server");
        changed.then_some(content)
    }
}

fn text(profile: &Profile, field: &str) -> Option<String> {
    profile.get(field).and_then(Value::as_str).map(str::to_owned)
}

pub struct MemberProfiles {
    store: Arc<dyn Store>,
    profiles: Arc<Profiles>,
    rooms: Arc<Rooms>,
    moderation: Arc<Moderation>,
    /// How long a request spends on its rooms before it answers.
    inline_budget: Duration,
    /// Users whose job a task is walking now (at most one walk per user).
    walking: Mutex<HashSet<OwnedUserId>>,
}

impl MemberProfiles {
    pub fn new(
        store: Arc<dyn Store>,
        profiles: Arc<Profiles>,
        rooms: Arc<Rooms>,
        moderation: Arc<Moderation>,
        inline_budget: Duration,
    ) -> Self {
        MemberProfiles { store, profiles, rooms, moderation, inline_budget, walking: Mutex::new(HashSet::new()) }
    }

    async fn job(&self, user: &UserId) -> Result<Option<Job>> {
        let bytes = self.store.get(&MEMBER_PROFILE_JOBS, user.as_str().as_bytes()).await?;
        bytes.map(|b| decode(&MEMBER_PROFILE_JOBS, &b)).transpose()
    }

    fn job_lock(user: &UserId) -> Vec<u8> {
        format!("member_profiles:{user}").into_bytes()
    }

    /// `PUT /profile/{userId}/{field}` (and `DELETE`): changes the field and,
    /// for a display name or avatar, starts updating the user's rooms.
    pub async fn set_field(
        self: &Arc<Self>,
        caller: &UserId,
        target: &UserId,
        field: &str,
        value: Option<Value>,
    ) -> Result<()> {
        self.moderation.refuse_if_suspended(caller, "change your profile").await?;
        if !MEMBER_FIELDS.contains(&field) {
            return self.profiles.set_field(caller, target, field, value).await;
        }
        {
            let _guard = self.store.lock(&Self::job_lock(target)).await?;
            let pending = self.job(target).await?;
            self.profiles
                .set_field_with(caller, target, field, value, |before, after, batch| {
                    let job = next_job(pending, before, after);
                    batch.put(&MEMBER_PROFILE_JOBS, target.as_str().as_bytes().to_vec(), encode(&job));
                    Ok(())
                })
                .await?;
        }
        if !self.walk(target, Some(Instant::now() + self.inline_budget)).await? {
            self.continue_in_background(target.to_owned());
        }
        Ok(())
    }

    fn continue_in_background(self: &Arc<Self>, user: OwnedUserId) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.walk(&user, None).await {
                tracing::warn!(%user, error = %e, "updating member events after a profile change failed; retried at restart");
            }
        });
    }

    /// Resumes every pending job (after a restart).
    pub async fn resume_all(self: &Arc<Self>) -> Result<()> {
        let entries = self.store.scan(&MEMBER_PROFILE_JOBS, KeyRange::all(), Direction::Forward, usize::MAX).await?;
        for (key, _) in entries {
            let user = std::str::from_utf8(&key).map_err(|e| corrupt(&MEMBER_PROFILE_JOBS, e))?;
            let user = OwnedUserId::try_from(user).map_err(|e| corrupt(&MEMBER_PROFILE_JOBS, e))?;
            self.continue_in_background(user);
        }
        Ok(())
    }

    /// Walks the user's job until it is done (`true`) or `deadline` passes
    /// (`false`). Another walk of the same user's job already under way
    /// will finish it, so this one returns `true` at once.
    async fn walk(&self, user: &UserId, deadline: Option<Instant>) -> Result<bool> {
        if !self.walking.lock().expect("walking poisoned").insert(user.to_owned()) {
            return Ok(true);
        }
        let result = self.walk_rooms(user, deadline).await;
        self.walking.lock().expect("walking poisoned").remove(user);
        result
    }

    async fn walk_rooms(&self, user: &UserId, deadline: Option<Instant>) -> Result<bool> {
        'job: loop {
            let Some(job) = self.job(user).await? else { return Ok(true) };
            let rooms = self.rooms.joined_rooms(user).await?;
            let start = job.done_through.as_ref().map_or(0, |done| rooms.partition_point(|r| r <= done));
            for room_id in &rooms[start..] {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(false);
                }
                if let Err(e) = self.update_room(room_id, user, &job).await {
                    // One room refusing (e.g. a remote room we cannot reach
                    // now) must not hold up the others.
                    tracing::warn!(%user, %room_id, error = %e, "could not update a member event's profile");
                }
                if !self.advance(user, job.generation, room_id).await? {
                    continue 'job;
                }
            }
            let _guard = self.store.lock(&Self::job_lock(user)).await?;
            match self.job(user).await? {
                Some(now) if now.generation == job.generation => {
                    self.store.delete(&MEMBER_PROFILE_JOBS, user.as_str().as_bytes()).await?;
                    return Ok(true);
                }
                _ => continue 'job,
            }
        }
    }

    async fn update_room(&self, room_id: &RoomId, user: &UserId, job: &Job) -> Result<()> {
        let Some(current) = self.rooms.joined_member_content(room_id, user).await? else { return Ok(()) };
        if let Some(content) = job.apply(&current) {
            self.rooms.send(room_id, user, NewEvent::state("m.room.member", user.as_str(), content)).await?;
        }
        Ok(())
    }

    /// Records that `room_id` is done; `false` when a newer change replaced
    /// the job meanwhile (the walk starts over with it).
    async fn advance(&self, user: &UserId, generation: u64, room_id: &RoomId) -> Result<bool> {
        let _guard = self.store.lock(&Self::job_lock(user)).await?;
        let Some(mut job) = self.job(user).await? else { return Ok(false) };
        if job.generation != generation {
            return Ok(false);
        }
        job.done_through = Some(room_id.to_owned());
        let mut batch = WriteBatch::new();
        batch.put(&MEMBER_PROFILE_JOBS, user.as_str().as_bytes().to_vec(), encode(&job));
        self.store.write(batch).await.map_err(Error::from)?;
        Ok(true)
    }
}

/// The job after a change from `before` to `after`, given the one pending.
/// A pending job's earlier values are kept: rooms it has not reached yet
/// still carry them.
fn next_job(pending: Option<Job>, before: &Profile, after: &Profile) -> Job {
    let generation = pending.as_ref().map_or(0, |j| j.generation + 1);
    let mut job = pending.unwrap_or(Job {
        generation,
        displayname: FieldChange::default(),
        avatar_url: FieldChange::default(),
        done_through: None,
    });
    job.generation = generation;
    job.done_through = None;
    for field in MEMBER_FIELDS {
        let change = job.change_mut(field);
        let old = text(before, field);
        if !change.from.contains(&old) {
            change.from.push(old);
        }
        if change.from.len() > REMEMBERED_VALUES {
            change.from.remove(0);
        }
        change.to = text(after, field);
    }
    job
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn profile(value: Value) -> Profile {
        value.as_object().cloned().unwrap()
    }

    fn content(value: Value) -> CanonicalJsonObject {
        match CanonicalJsonValue::try_from(value).unwrap() {
            CanonicalJsonValue::Object(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn rooms_following_the_global_name_move_and_room_nicknames_stay() {
        let job = next_job(None, &profile(json!({"displayname": "Al"})), &profile(json!({"displayname": "Alice"})));
        let following = content(json!({"membership": "join", "displayname": "Al", "reason": "hi"}));
        let updated = job.apply(&following).expect("a room showing the old global name is updated");
        assert_eq!(updated.get("displayname"), Some(&CanonicalJsonValue::String("Alice".into())));
        assert!(!updated.contains_key("reason"));
        let nicknamed = content(json!({"membership": "join", "displayname": "Captain"}));
        assert!(job.apply(&nicknamed).is_none(), "a room-specific name is kept");
        let done = content(json!({"membership": "join", "displayname": "Alice"}));
        assert!(job.apply(&done).is_none());
    }

    #[test]
    fn a_second_change_before_the_first_finished_still_reaches_rooms_with_the_first_name() {
        let first = next_job(None, &profile(json!({"displayname": "A"})), &profile(json!({"displayname": "B"})));
        let second =
            next_job(Some(first), &profile(json!({"displayname": "B"})), &profile(json!({"displayname": "C"})));
        assert_eq!(second.generation, 1);
        for old in ["A", "B"] {
            let room = content(json!({"membership": "join", "displayname": old}));
            let updated = second.apply(&room).unwrap();
            assert_eq!(updated.get("displayname"), Some(&CanonicalJsonValue::String("C".into())));
        }
    }

    #[test]
    fn a_cleared_avatar_is_removed_and_an_absent_one_is_set() {
        let job = next_job(None, &profile(json!({"avatar_url": "mxc://x/old"})), &profile(json!({})));
        let room = content(json!({"membership": "join", "avatar_url": "mxc://x/old"}));
        assert!(!job.apply(&room).unwrap().contains_key("avatar_url"));
        let set = next_job(None, &profile(json!({})), &profile(json!({"avatar_url": "mxc://x/new"})));
        let bare = content(json!({"membership": "join"}));
        assert!(set.apply(&bare).unwrap().contains_key("avatar_url"));
    }
}
