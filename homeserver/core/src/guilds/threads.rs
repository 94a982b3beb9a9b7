//! Threads (extensions-spec §10): `nexus.thread` judged (§14), posts into
//! locked threads refused, archival derived and kept tidy on time, private
//! threads left out of listings for those outside them, and the listings.
//!
//! Archival is derived (§10.3): a thread is archived when its
//! `nexus.thread` says so and no post came after that state, or when it has
//! been idle for `auto_archive_duration`. The server keeps the state in step
//! with the derivation so that stock clients and other servers see it: a
//! timer per thread (`super::timers`) publishes `archived: true` when the
//! idle period ends, and `archived: false` once a post (local or from
//! another server) revived it. Both are sent with
//! [`crate::rooms::Rooms::send_automatic`], so nobody's read position or
//! unread counts move.

use nexus_extensions::compute;
use nexus_extensions::events::channel::ChannelType;
use nexus_extensions::events::thread::ThreadContent;
use nexus_extensions::events::{self, parse_state};
use nexus_extensions::update_rules;
use nexus_extensions::{Permissions, RuleViolation};
use nexus_storage::WriteBatch;
use ruma::events::room::member::MembershipState;
use ruma::{DeviceId, EventId, OwnedEventId, OwnedUserId, RoomId, UserId};
use serde_json::{Value, json};

use super::Guilds;
use super::context::{Channel, Scope, typed};
use super::timers::{TimerKind, schedule, soon};
use crate::rooms::NewEvent;
use crate::rooms::pdu::Pdu;
use crate::values::now_ms;
use crate::{Error, Result};

/// A thread as Nexus sees it now.
#[derive(Debug, Clone)]
pub(super) struct ThreadView {
    pub root: OwnedEventId,
    /// Who posted the root: the thread's creator (§14).
    pub creator: Option<OwnedUserId>,
    /// The effective `nexus.thread`, when there is one.
    pub content: Option<ThreadContent>,
    /// Who sent that `nexus.thread`.
    pub state_sender: Option<OwnedUserId>,
    /// Replies, and who wrote them.
    pub count: u64,
    pub participants: Vec<OwnedUserId>,
    /// Newest post (or the root, or the `nexus.thread` change) in ms.
    pub last_activity_ms: u64,
    /// Sender of the newest reply.
    pub latest_sender: Option<OwnedUserId>,
    /// A reply came after the `nexus.thread` now in force.
    pub posted_since_state: bool,
    /// Archived by §10.3 at the time it was read.
    pub archived: bool,
}

impl ThreadView {
    /// Part of the thread (§10.5): its creator, those who posted in it,
    /// and whoever named it.
    fn includes(&self, user: &UserId) -> bool {
        self.creator.as_deref() == Some(user)
            || self.state_sender.as_deref() == Some(user)
            || self.participants.iter().any(|p| p == user)
    }

    fn is_private(&self) -> bool {
        self.content.as_ref().is_some_and(|c| c.private)
    }

    /// The listing entry a Nexus client draws.
    fn to_json(&self, room: &RoomId) -> Value {
        let mut entry = json!({
            "room_id": room,
            "root_id": self.root,
            "archived": self.archived,
            "count": self.count,
            "last_activity_ts": self.last_activity_ms,
        });
        if let Some(creator) = &self.creator {
            entry["creator"] = json!(creator);
        }
        if let Some(content) = &self.content {
            entry["thread"] = serde_json::to_value(content).unwrap_or(Value::Null);
        }
        entry
    }
}

fn refused(violation: RuleViolation) -> Error {
    Error::Forbidden(format!("Nexus update rules: {violation}"))
}

/// The thread root a post replies into, if it is a thread post.
pub(super) fn thread_root(content: &Value) -> Option<OwnedEventId> {
    let relation = content.get("m.relates_to")?;
    if relation.get("rel_type").and_then(Value::as_str) != Some("m.thread") {
        return None;
    }
    EventId::parse(relation.get("event_id")?.as_str()?).ok()
}

/// Sender and `origin_server_ts` of a stored event.
fn sender_and_ts(stored: &crate::rooms::timeline::StoredEvent) -> Result<(Option<OwnedUserId>, u64)> {
    let object = Value::from(ruma::CanonicalJsonValue::Object(stored.object()?));
    let sender = object.get("sender").and_then(Value::as_str).and_then(|s| UserId::parse(s).ok());
    Ok((sender, object.get("origin_server_ts").and_then(Value::as_u64).unwrap_or(0)))
}

fn canonical(content: &Value) -> Result<ruma::CanonicalJsonObject> {
    match ruma::CanonicalJsonValue::try_from(content.clone()) {
        Ok(ruma::CanonicalJsonValue::Object(object)) => Ok(object),
        _ => Err(Error::Internal("state content is not a JSON object".to_owned())),
    }
}

impl Guilds {
    /// One minute of `auto_archive_duration` (`guilds.auto_archive_minute_ms`).
    fn idle_ms(&self, content: &ThreadContent) -> u64 {
        u64::from(content.auto_archive_duration).saturating_mul(self.settings.auto_archive_minute_ms)
    }

    /// The thread rooted at `root` in `room`, or `None` when `root` is no
    /// event of the room.
    pub(super) async fn thread_view(&self, room: &RoomId, root: &EventId, now: u64) -> Result<Option<ThreadView>> {
        let Some(stored_root) = self.rooms.timeline.get(root).await? else { return Ok(None) };
        if stored_root.room_id != room {
            return Ok(None);
        }
        let (creator, root_ts) = sender_and_ts(&stored_root)?;
        let summary = self.rooms.relations.thread(room, root).await?;
        let mut last_activity_ms: u64 = root_ts;
        let mut latest_sender = None;
        if let Some(summary) = &summary
            && let Some(latest) = self.rooms.timeline.get(&summary.latest).await?
        {
            let (sender, ts) = sender_and_ts(&latest)?;
            last_activity_ms = last_activity_ms.max(ts);
            latest_sender = sender;
        }
        let state_event = self.effective_event(room, events::THREAD, root.as_str()).await?;
        let mut content = None;
        let mut state_sender = None;
        let mut state_ordering = 0;
        if let Some(state_event) = state_event
            && let Some(stored) = self.rooms.timeline.get(&state_event).await?
        {
            let raw = stored.object()?.remove("content").map(Value::from);
            content = typed::<ThreadContent>(raw.as_ref());
            let (sender, ts) = sender_and_ts(&stored)?;
            state_sender = sender;
            state_ordering = stored.stream_ordering;
            last_activity_ms = last_activity_ms.max(ts);
        }
        let posted_since_state = summary.as_ref().is_some_and(|s| s.latest_ordering > state_ordering);
        let mut view = ThreadView {
            root: root.to_owned(),
            creator,
            content,
            state_sender,
            count: summary.as_ref().map_or(0, |s| s.count),
            participants: summary.map(|s| s.participants).unwrap_or_default(),
            last_activity_ms,
            latest_sender,
            posted_since_state,
            archived: false,
        };
        view.archived = view.content.as_ref().is_some_and(|c| {
            let by_hand = c.archived && !view.posted_since_state;
            by_hand || now.saturating_sub(view.last_activity_ms) >= self.idle_ms(c)
        });
        Ok(Some(view))
    }

    /// §14 for `nexus.thread` in a channel: the state key names an event of
    /// the channel; creating needs CREATE_PUBLIC_THREADS (private:
    /// CREATE_PRIVATE_THREADS) as the root's sender, or MANAGE_THREADS;
    /// locking and locked threads need MANAGE_THREADS; other changes the
    /// creator or MANAGE_THREADS; forum tags must exist.
    pub(super) async fn check_thread_state(
        &self,
        scope: &Scope,
        channel: &Channel,
        sender: &UserId,
        root: &str,
        content: &Value,
        now: u64,
    ) -> Result<()> {
        let guild = &scope.server.guild;
        let root = EventId::parse(root).map_err(|e| Error::BadJson(format!("nexus.thread: state key: {e}")))?;
        let Some(view) = self.thread_view(&channel.room, &root, now).await? else {
            return Err(Error::BadJson(format!(
                "nexus.thread: state key: {root} is not an event of this channel (a thread is named by its root)"
            )));
        };
        let new = parse_state::<ThreadContent>(content).map_err(|e| Error::BadJson(format!("nexus.thread: {e}")))?;
        let perms = compute::thread_permissions(guild, sender.as_str(), &channel.overwrites, now);
        let is_creator = view.creator.as_deref() == Some(sender);
        let forum = channel.content.as_ref().filter(|c| c.kind == ChannelType::Forum);
        let Some(new) = new else {
            // Deleting (`{}`): a change like any other.
            let Some(old) = &view.content else { return Ok(()) };
            let manages = perms.contains(Permissions::MANAGE_THREADS);
            if old.locked && !manages {
                return Err(refused(RuleViolation::ThreadLocked));
            }
            if !manages && !is_creator {
                return Err(refused(RuleViolation::NotCreator(Permissions::MANAGE_THREADS)));
            }
            return Ok(());
        };
        if let Some(channel_content) = &channel.content {
            new.validate_tags_against(channel_content).map_err(|e| Error::BadJson(format!("nexus.thread: {e}")))?;
        } else if !new.applied_tags.is_empty() {
            return Err(Error::BadJson("nexus.thread: `applied_tags`: only on posts in forum channels".to_owned()));
        }
        update_rules::check_thread_update(perms, is_creator, forum, view.content.as_ref(), &new).map_err(refused)
    }

    /// §10.4: a post into a thread with `nexus.thread` needs
    /// SEND_MESSAGES_IN_THREADS, and MANAGE_THREADS when it is locked. Posting
    /// into an archived thread is allowed (it unarchives it, §10.3).
    pub(super) async fn check_thread_post(
        &self,
        scope: &Scope,
        channel: &Channel,
        sender: &UserId,
        root: &EventId,
        now: u64,
    ) -> Result<()> {
        // Most threads are plain Matrix threads: one point read decides.
        if self.effective_event(&channel.room, events::THREAD, root.as_str()).await?.is_none() {
            return Ok(());
        }
        let Some(view) = self.thread_view(&channel.room, root, now).await? else { return Ok(()) };
        let Some(content) = &view.content else { return Ok(()) };
        let perms = compute::thread_permissions(&scope.server.guild, sender.as_str(), &channel.overwrites, now);
        content.admit_post(perms, view.archived, now).map(drop).map_err(refused)
    }

    /// Adds a look at the thread to the batch of a thread post or a
    /// `nexus.thread` change (from the event alone: the timer reads the rest).
    pub(super) fn record_thread_activity(&self, batch: &mut WriteBatch, room: &RoomId, pdu: &Pdu) {
        let kind = pdu.kind.to_string();
        if kind == events::THREAD
            && let Some(root) = pdu.state_key.as_deref()
        {
            schedule(batch, soon(now_ms()), TimerKind::Thread, room, root);
        } else if pdu.state_key.is_none()
            && let Some(root) = thread_root(&pdu.content_json())
        {
            schedule(batch, soon(now_ms()), TimerKind::Thread, room, root.as_str());
        }
    }

    /// A thread's timer: publish what §10.3 derives when the state says
    /// otherwise. Returns when to look again.
    pub(super) async fn thread_timer(&self, room: &RoomId, root: &str, now: u64) -> Result<Option<u64>> {
        let Ok(root) = EventId::parse(root) else { return Ok(None) };
        // Replies in rooms outside any server and plain Matrix threads: one
        // point read, and the timer is dropped.
        if self.effective_event(room, events::THREAD, root.as_str()).await?.is_none() {
            return Ok(None);
        }
        let Some(view) = self.thread_view(room, &root, now).await? else { return Ok(None) };
        let Some(content) = view.content.clone() else { return Ok(None) };
        let Some(scope) = self.scope(room).await? else { return Ok(None) };
        let Some(channel) = scope.channel.clone() else { return Ok(None) };
        if content.archived && view.posted_since_state {
            // Revived by a post. Into a locked thread only a poster with
            // MANAGE_THREADS revives it (another server's user may have
            // posted anyway: Matrix cannot stop them).
            let poster_manages = view.latest_sender.as_ref().is_some_and(|p| {
                compute::thread_permissions(&scope.server.guild, p.as_str(), &channel.overwrites, now)
                    .contains(Permissions::MANAGE_THREADS)
            });
            if !content.locked || poster_manages {
                let revived = ThreadContent { archived: false, archive_timestamp: Some(now), ..content.clone() };
                let first = view.latest_sender.clone().or(view.creator.clone());
                self.publish_thread(&scope, &root, &revived, first.as_deref()).await?;
            }
            return Ok(Some(now + self.idle_ms(&content)));
        }
        if content.archived {
            return Ok(None);
        }
        let due = view.last_activity_ms.saturating_add(self.idle_ms(&content));
        if now < due {
            return Ok(Some(due));
        }
        let archived = ThreadContent { archived: true, archive_timestamp: Some(now), ..content };
        self.publish_thread(&scope, &root, &archived, view.creator.as_deref()).await?;
        Ok(None)
    }

    /// Sends `nexus.thread` for the thread as the first local member the
    /// update rules let: `first` (the poster or creator), then by rank.
    async fn publish_thread(
        &self,
        scope: &Scope,
        root: &EventId,
        content: &ThreadContent,
        first: Option<&UserId>,
    ) -> Result<()> {
        let room = scope.room_id();
        let value = serde_json::to_value(content).map_err(|e| Error::Internal(e.to_string()))?;
        let object = canonical(&value)?;
        let trigger = first.map_or_else(|| scope.server.guild.owner.clone(), |u| u.to_string());
        let trigger = UserId::parse(trigger).map_err(|e| Error::Internal(e.to_string()))?;
        for sender in self.local_senders(scope, &trigger).await? {
            let event = NewEvent::state(events::THREAD, root.as_str(), object.clone());
            match self.rooms.send_automatic(room, &sender, event).await {
                Ok(_) => return Ok(()),
                Err(Error::Forbidden(reason)) => {
                    tracing::debug!(%room, %root, %sender, %reason, "may not update the thread's state");
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        tracing::info!(%room, %root, "no local member may update the thread's state; another server will");
        Ok(())
    }

    /// §10.5: a private thread is listed for its members and for those
    /// with MANAGE_THREADS in the channel only.
    pub(super) async fn thread_hidden_from(&self, room: &RoomId, viewer: &UserId, root: &EventId) -> Result<bool> {
        if self.effective_event(room, events::THREAD, root.as_str()).await?.is_none() {
            return Ok(false);
        }
        let now = now_ms();
        let Some(view) = self.thread_view(room, root, now).await? else { return Ok(false) };
        if !view.is_private() || view.includes(viewer) {
            return Ok(false);
        }
        let Some(scope) = self.scope(room).await? else { return Ok(false) };
        let Some(channel) = &scope.channel else { return Ok(false) };
        let perms = compute::thread_permissions(&scope.server.guild, viewer.as_str(), &channel.overwrites, now);
        Ok(!perms.contains(Permissions::MANAGE_THREADS))
    }

    /// A channel's threads, newest activity first: the active ones, or the
    /// archived ones (`archived`), that `viewer` may see. `from` is the
    /// activity position the previous page ended at.
    pub async fn channel_threads(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room: &RoomId,
        archived: bool,
        from: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Value>, Option<u64>)> {
        let hidden = || Error::NotFound(format!("{room} is not a Nexus channel you are in"));
        let scope = self.scope(room).await?.ok_or_else(hidden)?;
        if scope.channel.is_none() || self.rooms.membership_of(room, viewer).await? != Some(MembershipState::Join) {
            return Err(hidden());
        }
        let limit = limit.clamp(1, 100);
        let now = now_ms();
        let mut out = Vec::new();
        let mut position = from;
        // Bounded work per page: at most a few pages of roots looked at.
        let mut looked = 0;
        loop {
            let roots = self.rooms.relations.threads_by_activity(room, position, limit).await?;
            let exhausted = roots.len() < limit;
            for (ordering, root) in roots {
                position = Some(ordering);
                looked += 1;
                if let Some(view) = self.listed_thread(viewer, device, room, &root, now).await?
                    && view.archived == archived
                {
                    out.push(view.to_json(room));
                    if out.len() == limit {
                        return Ok((out, position));
                    }
                }
            }
            if exhausted {
                return Ok((out, None));
            }
            if looked >= limit * 4 {
                return Ok((out, position));
            }
        }
    }

    /// The thread, if `viewer` may see it listed: not a hidden private
    /// thread, and a root their history visibility lets them read.
    async fn listed_thread(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room: &RoomId,
        root: &EventId,
        now: u64,
    ) -> Result<Option<ThreadView>> {
        if self.thread_hidden_from(room, viewer, root).await? {
            return Ok(None);
        }
        match self.rooms.event_for_client(viewer, device, room, root).await {
            Ok(_) => {}
            Err(Error::NotFound(_) | Error::Forbidden(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        self.thread_view(room, root, now).await
    }

    /// Discord's "active threads": the active threads of every channel of
    /// the server `viewer` is in, newest activity first.
    pub async fn server_active_threads(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        space: &RoomId,
    ) -> Result<Vec<Value>> {
        let hidden = || Error::NotFound(format!("{space} is not a Nexus server you are in"));
        let server = self.server(space).await?.ok_or_else(hidden)?;
        if !self.rooms.membership.is_joined(&server.space, viewer).await? {
            return Err(hidden());
        }
        let mut all = Vec::new();
        for room in self.channels(space).await? {
            if self.rooms.membership_of(&room, viewer).await? != Some(MembershipState::Join) {
                continue;
            }
            let (threads, _) = self.channel_threads(viewer, device, &room, false, None, 100).await?;
            all.extend(threads);
        }
        all.sort_by_key(|t| std::cmp::Reverse(t["last_activity_ts"].as_u64().unwrap_or(0)));
        Ok(all)
    }
}
