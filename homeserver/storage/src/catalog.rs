//! The catalog: every map and counter Nexus stores, in one place.
//!
//! Reading this file is reading the data model. Each map names its key layout
//! (parts in [`crate::codec`] order) and its value (a serde type in
//! `nexus-core`, JSON-encoded). A map belongs to exactly one core service;
//! no other service reads or writes it.

/// Declares the maps: each becomes a `pub const`, and all of them the
/// catalog's list, so a map cannot exist without being opened.
macro_rules! maps {
    ($($const_name:ident { name: $name:literal, key: $key:literal, value: $value:literal, owner: $owner:literal })*) => {
        $(pub const $const_name: MapDef = MapDef { name: $name, key: $key, value: $value, owner: $owner };)*
        const ALL_MAPS: &[&MapDef] = &[$(&$const_name),*];
    };
}

/// A named ordered map: a RocksDB column family, or a PostgreSQL table.
#[derive(Debug, PartialEq, Eq)]
pub struct MapDef {
    /// Stable on-disk name: `[a-z0-9_]+`, never renamed once released.
    pub name: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    /// The core service that owns the map.
    pub owner: &'static str,
}

/// A named monotonic counter.
#[derive(Debug, PartialEq, Eq)]
pub struct CounterDef {
    pub name: &'static str,
    pub owner: &'static str,
}

/// What a backend creates when it opens.
#[derive(Debug, Clone, Copy)]
pub struct Catalog {
    /// Names the catalog in a shared database's schema table.
    pub name: &'static str,
    /// Raised when a map is added or a stored encoding changes in a way
    /// an older binary would misread: a binary refuses a database whose
    /// version is newer than its own (several processes of different
    /// releases on one PostgreSQL).
    pub version: u32,
    pub maps: &'static [&'static MapDef],
    pub counters: &'static [&'static CounterDef],
}

maps! {
    USERS {
        name: "users",
        key: "localpart: str",
        value: "accounts::UserRecord (password hash, created, deactivated)",
        owner: "accounts"
    }
    PROFILES {
        name: "profiles",
        key: "localpart: str",
        value: "profiles::Profile (displayname, avatar_url)",
        owner: "profiles"
    }
    LOGIN_TOKENS {
        name: "login_tokens",
        key: "SHA-256 of the token: hex",
        value: "login_tokens::LoginTokenRecord (localpart, expiry); deleted when redeemed",
        owner: "login_tokens"
    }
    GUILD_RECOMPILE_JOBS {
        name: "guild_recompile_jobs",
        key: "room_id: raw",
        value: "guilds::RecompileJob (this room only, or the space and all its channels); written with the event that changed a power-level input, deleted when done",
        owner: "guilds"
    }
    GUILD_OVERRIDES {
        name: "guild_overrides",
        key: "(room_id: str, event type: str, state_key: str)",
        value: "Option<event id>: the effective nexus.* state event of that key when the current one broke the update rules (§14), None when nothing before it was valid",
        owner: "guilds"
    }
    GUILD_TIMEOUTS {
        name: "guild_timeouts",
        key: "(ends_at_ms: u64, space room_id: str, user_id: str)",
        value: "empty; a timeout whose end triggers a recompilation of the space and its channels",
        owner: "guilds"
    }
    NOTIFICATION_SETTINGS {
        name: "notification_settings",
        key: "user_id: str, room_id: str (a server's space or a channel); user \"\" + space: the server default last expressed",
        value: "guilds::notification_levels::Setting (level, muted_until, suppress_everyone, suppress_roles; absent fields inherit)",
        owner: "guilds::notification_levels"
    }
    NOTIFICATION_MUTE_ENDS {
        name: "notification_mute_ends",
        key: "(ends_at_ms: u64, user_id: str, room_id: str)",
        value: "empty; a timed mute whose end re-expresses the user's push rules for that room",
        owner: "guilds::notification_levels"
    }
    NOTIFICATION_JOBS {
        name: "notification_jobs",
        key: "room_id: str, user_id: str (empty: every local member of the server)",
        value: "empty; written with a local join or a nexus.server change, deleted once the push rules are re-expressed",
        owner: "guilds::notification_levels"
    }
    GUILD_INVITE_CODES {
        name: "guild_invite_codes",
        key: "code: raw",
        value: "guilds::InviteCode (server, inviter, created, expiry, use limit and count)",
        owner: "guilds"
    }
    GUILD_INVITE_CODES_BY_SERVER {
        name: "guild_invite_codes_by_server",
        key: "(space room_id: str, code: str)",
        value: "empty; the server's codes, for listing",
        owner: "guilds"
    }
    GUILD_TIMERS {
        name: "guild_timers",
        key: "(due_ms: u64, kind: str (\"thread\" | \"event\"), room_id: str, key: str (thread root event id | scheduled event id))",
        value: "empty; when due, the thread's archival (§10.3) or the scheduled event's status (§12.1) is looked at again and the entry rescheduled or dropped",
        owner: "guilds"
    }
    GUILD_RSVPS {
        name: "guild_rsvps",
        key: "(space room_id: str, scheduled event id: str, user_id: str, origin_server_ts: u64, event_id: str)",
        value: "bool: interested; a member's last entry (latest by timestamp, then event id) decides (§12.2)",
        owner: "guilds"
    }
    MEMBER_PROFILE_JOBS {
        name: "member_profile_jobs",
        key: "user_id: raw",
        value: "member_profiles::Job (the display name / avatar change to spread, earlier global values, the last room done)",
        owner: "member_profiles"
    }
    DEVICES {
        name: "devices",
        key: "localpart: str, device_id: str",
        value: "devices::Device (display name, last seen, its token ids)",
        owner: "devices"
    }
    ACCESS_TOKENS {
        name: "access_tokens",
        key: "token id: raw (24 hex chars)",
        value: "tokens::AccessTokenRecord (secret hash, user, device, expiry)",
        owner: "tokens"
    }
    REFRESH_TOKENS {
        name: "refresh_tokens",
        key: "token id: raw (24 hex chars)",
        value: "tokens::RefreshTokenRecord (secret hash, user, device)",
        owner: "tokens"
    }
    DEVICE_TOKENS {
        name: "device_tokens",
        key: "localpart: str, device_id: str, kind: u64 (0 access, 1 refresh), token id: str",
        value: "empty (an index: the tokens to revoke with a device)",
        owner: "tokens"
    }
    UIA_SESSIONS {
        name: "uia_sessions",
        key: "session id: str",
        value: "uia::Session (completed stages, expiry, bound user)",
        owner: "uia"
    }
    SERVER_SIGNING_KEYS {
        name: "server_signing_keys",
        key: "key id: str (ed25519:...)",
        value: "server_keys::StoredKey (PKCS#8 document, created)",
        owner: "server_keys"
    }
    ROOMS {
        name: "rooms",
        key: "room_id: str",
        value: "rooms::RoomRecord (version, creator, created)",
        owner: "rooms"
    }
    ROOM_HEADS {
        name: "room_heads",
        key: "room_id: str",
        value: "rooms::RoomHead (forward extremities, depth, current state snapshot)",
        owner: "rooms"
    }
    EVENTS {
        name: "events",
        key: "event_id: str",
        value: "timeline::StoredEvent (the PDU's canonical JSON, redacted once redacted; room, stream ordering, state snapshot after it)",
        owner: "timeline"
    }
    ROOM_TIMELINE {
        name: "room_timeline",
        key: "room_id: str, stream ordering: u64",
        value: "event_id (the room's events in the order this server received them)",
        owner: "timeline"
    }
    ROOM_BUMPS {
        name: "room_bumps",
        key: "room_id: str",
        value: "u64 (stream ordering of the room's newest event of a type that moves it up a sliding sync list: message-like events and the create event)",
        owner: "timeline"
    }
    EVENT_TRANSACTIONS {
        name: "event_transactions",
        key: "user localpart: str, device_id: str, transaction id: str",
        value: "event_id (makes PUT /send idempotent per device)",
        owner: "timeline"
    }
    ROOM_STATE {
        name: "room_state",
        key: "room_id: str, event type: str, state key: str",
        value: "event_id (the room's current state)",
        owner: "state"
    }
    STATE_SNAPSHOTS {
        name: "state_snapshots",
        key: "room_id: str, snapshot: u64",
        value: "state::Snapshot (parent snapshot and the changes against it; a full copy every 64)",
        owner: "state"
    }
    ROOM_MEMBERS {
        name: "room_members",
        key: "room_id: str, user_id: str",
        value: "membership (join, invite, leave, ban, knock)",
        owner: "membership"
    }
    USER_ROOMS {
        name: "user_rooms",
        key: "user_id: str, room_id: str",
        value: "membership::UserRoom (membership, forgotten)",
        owner: "membership"
    }
    ROOM_ALIASES {
        name: "room_aliases",
        key: "alias: str",
        value: "aliases::AliasRecord (room id, who created it)",
        owner: "aliases"
    }
    ALIASES_BY_ROOM {
        name: "aliases_by_room",
        key: "room_id: str, alias: str",
        value: "empty (an index: a room's local aliases)",
        owner: "aliases"
    }
    RELATIONS {
        name: "relations",
        key: "room_id: str, parent event_id: str, rel_type: str, stream ordering: u64",
        value: "relations::Child (event id, event type, sender)",
        owner: "relations"
    }
    USER_DIRECTORY {
        name: "user_directory",
        key: "user_id: raw",
        value: "user_directory::DirectoryEntry (display name, avatar, the words indexed)",
        owner: "user_directory"
    }
    USER_DIRECTORY_WORDS {
        name: "user_directory_words",
        key: "word (lowercase): str, user_id: str",
        value: "empty (an index: who is found by which word)",
        owner: "user_directory"
    }
    ANNOTATIONS {
        name: "annotations",
        key: "room_id: str, parent event_id: str, event type: str, annotation key: str, sender: str",
        value: "event id: str (the sender's one live annotation with that key)",
        owner: "relations"
    }
    POLLS {
        name: "polls",
        key: "room_id: str, poll start event_id: str",
        value: "rooms::polls::Poll (answers, max_selections, disclosed, running counts and voters, the closing end)",
        owner: "rooms::polls"
    }
    POLL_VOTES {
        name: "poll_votes",
        key: "room_id: str, poll event_id: str, voter: str, origin_server_ts: u64, response event_id: str",
        value: "rooms::polls::Vote (the selections as sent); a voter's last key by the deadline is their vote",
        owner: "rooms::polls"
    }
    POLL_ENDS {
        name: "poll_ends",
        key: "room_id: str, poll event_id: str, origin_server_ts: u64, end event_id: str",
        value: "rooms::polls::End (sender, whether they could redact others' events when they sent it)",
        owner: "rooms::polls"
    }
    THREADS {
        name: "threads",
        key: "room_id: str, root event_id: str",
        value: "relations::Thread (reply count, latest reply, participants, its activity position)",
        owner: "relations"
    }
    THREAD_ACTIVITY {
        name: "thread_activity",
        key: "room_id: str, latest reply stream ordering: u64",
        value: "root event_id (threads ordered by their latest activity, for /threads)",
        owner: "relations"
    }
    ROOM_EVENT_TIMES {
        name: "room_event_times",
        key: "room_id: str, origin_server_ts: u64, stream ordering: u64",
        value: "event_id (for /timestamp_to_event)",
        owner: "timeline"
    }
    REGISTRATION_TOKENS {
        name: "registration_tokens",
        key: "token: str",
        value: "accounts::registration_tokens::RegistrationToken (uses allowed, completed, expiry)",
        owner: "accounts::registration_tokens"
    }
    SERVER_NOTICE_ROOMS {
        name: "server_notice_rooms",
        key: "user_id: str",
        value: "room_id: str (the user's server notices room)",
        owner: "server_notices"
    }
    ACCOUNT_MODERATION {
        name: "account_moderation",
        key: "localpart: str",
        value: "moderation::Restrictions (locked, suspended; absent: neither)",
        owner: "moderation"
    }
    EXPORTS {
        name: "exports",
        key: "user_id: str, export_id: str",
        value: "export::ExportRecord (status, options, progress, archive size and expiry)",
        owner: "export"
    }
    FEDERATION_DESTINATIONS {
        name: "federation_destinations",
        key: "server name: str",
        value: "federation::destinations::Destination (backoff, last failure, last acknowledged ordering)",
        owner: "federation::destinations"
    }
    GUILD_AUDIT_LOG {
        name: "guild_audit_log",
        key: "room_id: str, origin_server_ts: u64, event_id: str",
        value: "empty (the event is the entry)",
        owner: "guilds::audit_log"
    }
    RATELIMIT_OVERRIDES {
        name: "ratelimit_overrides",
        key: "user_id: str",
        value: "message_limits::Override (messages per second, burst; 0 and 0: unlimited)",
        owner: "message_limits"
    }
    USER_REDACTIONS {
        name: "user_redactions",
        key: "redact_id: str",
        value: "user_redaction::UserRedaction (the user, rooms, status, failures)",
        owner: "user_redaction"
    }
    ROOM_DELETIONS {
        name: "room_deletions",
        key: "delete_id: str",
        value: "room_deletion::RoomDeletion (room, request, status, progress and result)",
        owner: "room_deletion"
    }
    ROOM_DELETIONS_BY_ROOM {
        name: "room_deletions_by_room",
        key: "room_id: str, delete_id: str",
        value: "empty",
        owner: "room_deletion"
    }
    ROOM_BLOCKS {
        name: "room_blocks",
        key: "room_id: str",
        value: "the admin who blocked it: str (local users may not join, knock or be invited)",
        owner: "rooms::overview"
    }
    PUBLIC_ROOMS {
        name: "public_rooms",
        key: "room_id: str",
        value: "empty (rooms published in the room directory)",
        owner: "directory"
    }
    APPSERVICE_ROOM_LIST {
        name: "appservice_room_list",
        key: "appservice id: str, network id: str, room_id: str",
        value: "empty (rooms an appservice published in its network's directory)",
        owner: "directory"
    }
    EVENT_REPORTS {
        name: "event_reports",
        key: "report id: u64 (stream ordering at report time)",
        value: "reports::Report (room, event, reporter, reason, score, time)",
        owner: "reports"
    }
    USER_CHANGES {
        name: "user_changes",
        key: "user_id: str, stream ordering: u64",
        value: "changes::Change (which room, or account data, changed for this user)",
        owner: "changes"
    }
    ROOM_CHANGES {
        name: "room_changes",
        key: "room_id: str, stream ordering: u64",
        value: "changes::Change (an event or receipts in a large room): written once for the room instead of once per local member",
        owner: "changes"
    }
    LARGE_ROOMS {
        name: "large_rooms",
        key: "room_id: raw",
        value: "u64: the stream ordering from which the room's changes go to ROOM_CHANGES (set once its local members reach changes::LARGE_ROOM)",
        owner: "changes"
    }
    USER_LARGE_ROOMS {
        name: "user_large_rooms",
        key: "user_id: str, room_id: str",
        value: "(): the large rooms a local user is joined to, whose ROOM_CHANGES their syncs read",
        owner: "changes"
    }
    RECEIPTS {
        name: "receipts",
        key: "room_id: str, receipt type: str, user_id: str, thread id: str (empty: unthreaded)",
        value: "receipts::Receipt (event id, ts, stream ordering)",
        owner: "receipts"
    }
    ACCOUNT_DATA {
        name: "account_data",
        key: "user_id: str, room_id: str (empty: global), type: str",
        value: "account_data::Entry (content, stream ordering)",
        owner: "account_data"
    }
    FILTERS {
        name: "filters",
        key: "user_id: str, filter id: u64",
        value: "the filter's JSON, as the client uploaded it",
        owner: "filters"
    }
    NOTIFICATIONS {
        name: "notifications",
        key: "user_id: str, stream ordering: u64",
        value: "push::Notification (room, event, actions, highlight, thread, time)",
        owner: "push"
    }
    ROOM_NOTIFICATIONS {
        name: "room_notifications",
        key: "user_id: str, room_id: str, stream ordering: u64",
        value: "push::Counted (highlight, thread) — what unread counts count",
        owner: "push"
    }
    READ_POSITIONS {
        name: "read_positions",
        key: "user_id: str, room_id: str, thread: str (empty: unthreaded, main, or a thread root)",
        value: "stream ordering read up to (notifications at or before it are read)",
        owner: "push"
    }
    PUSHERS {
        name: "pushers",
        key: "user_id: str, app_id: str, pushkey: str",
        value: "pushers::Pusher (kind, gateway URL, format, display names, language)",
        owner: "pushers"
    }
    PRESENCE {
        name: "presence",
        key: "user_id: str",
        value: "presence::Status (presence, status message, last active, stream ordering)",
        owner: "presence"
    }
    DEVICE_KEYS {
        name: "device_keys",
        key: "user_id: str, device_id: str",
        value: "the device's signed keys JSON, with signatures others added",
        owner: "e2ee::keys"
    }
    ONE_TIME_KEYS {
        name: "one_time_keys",
        key: "user_id: str, device_id: str, algorithm: str, key id: str",
        value: "the one-time key JSON (claimed keys are deleted)",
        owner: "e2ee::keys"
    }
    FALLBACK_KEYS {
        name: "fallback_keys",
        key: "user_id: str, device_id: str, algorithm: str",
        value: "keys::FallbackKey (key id, key JSON, used)",
        owner: "e2ee::keys"
    }
    CROSS_SIGNING_KEYS {
        name: "cross_signing_keys",
        key: "user_id: str, usage: str (master, self_signing, user_signing)",
        value: "the cross-signing key JSON, with signatures others added",
        owner: "e2ee::cross_signing"
    }
    TO_DEVICE {
        name: "to_device",
        key: "user_id: str, device_id: str, stream ordering: u64",
        value: "to_device::Message (sender, type, content)",
        owner: "e2ee::to_device"
    }
    TO_DEVICE_TXNS {
        name: "to_device_txns",
        key: "user_id: str, device_id: str, event type: str, transaction id: str",
        value: "empty (makes PUT /sendToDevice idempotent)",
        owner: "e2ee::to_device"
    }
    SLIDING_SYNC_CONNECTIONS {
        name: "sliding_sync_connections",
        key: "user_id: str, device_id: str, conn_id: str, generation: u64 (random, per start of the connection), pos: u64",
        value: "sliding_sync::Connection (what the response that handed out this pos left the client with: each room's timeline limit, required state, lazy members and counts; the stream and typing positions; when it was made)",
        owner: "sliding_sync"
    }
    BACKUP_VERSIONS {
        name: "backup_versions",
        key: "user_id: str, version: u64",
        value: "backup::Version (algorithm, auth_data, etag, deleted)",
        owner: "e2ee::backup"
    }
    BACKUP_KEYS {
        name: "backup_keys",
        key: "user_id: str, version: u64, room_id: str, session id: str",
        value: "the KeyBackupData JSON",
        owner: "e2ee::backup"
    }
    MEDIA_BY_UPLOADER {
        name: "media_by_uploader",
        key: "user_id: str, media_id: str (local media)",
        value: "empty",
        owner: "media"
    }
    MEDIA_BY_HASH {
        name: "media_by_hash",
        key: "sha256: str, media key: str (as in media); the key \"\" alone marks both indexes backfilled",
        value: "empty",
        owner: "media"
    }
    MEDIA {
        name: "media",
        key: "media id: str (local media), or server/media id (other servers' media, cached)",
        value: "media::Record (content hash, type, file name, size, uploader, created; pending until uploaded)",
        owner: "media"
    }
    ONE_TIME_KEY_ORDER {
        name: "one_time_key_order",
        key: "user_id: str, device_id: str, algorithm: str, upload sequence: u64",
        value: "key id (one-time keys are claimed in upload order)",
        owner: "e2ee::keys"
    }
    REMOTE_SERVER_KEYS {
        name: "remote_server_keys",
        key: "server name: str",
        value: "federation::keys::ServerKeyRecord (the server's signed key response and its keys with validity)",
        owner: "federation::keys"
    }
    FEDERATION_OUTBOX {
        name: "federation_outbox",
        key: "destination: str, sequence: u64 (a stream ordering)",
        value: "federation::outbox::Item (a PDU or an EDU waiting to be sent)",
        owner: "federation::outbox"
    }
    OPENID_TOKENS {
        name: "openid_tokens",
        key: "SHA-256 of the token: str (unpadded base64)",
        value: "openid::Record (user, expiry)",
        owner: "openid"
    }
    DELAYED_EVENTS {
        name: "delayed_events",
        key: "delay_id: raw",
        value: "delayed_events::DelayedEvent (owner, room, type, state key, content, delay, due time; scheduled, or finalised with its outcome)",
        owner: "delayed_events"
    }
    DELAYED_EVENTS_BY_USER {
        name: "delayed_events_by_user",
        key: "(user_id: str, delay_id: str)",
        value: "empty; a user's delayed events, for listing",
        owner: "delayed_events"
    }
    VOICE_MODERATION {
        name: "voice_moderation",
        key: "(room_id: str, user_id: str)",
        value: "matrix_rtc::voice::Moderation (server mute and deafen set by a moderator)",
        owner: "matrix_rtc"
    }
    APPSERVICE_QUEUE {
        name: "appservice_queue",
        key: "appservice id: str, sequence: u64 (counter appservice_sequence)",
        value: "appservice::queue::Item (an event, ephemeral event or to-device message waiting for the appservice); written in the batch that made it",
        owner: "appservice"
    }
    APPSERVICE_TRANSACTIONS {
        name: "appservice_transactions",
        key: "appservice id: str",
        value: "appservice::queue::Transaction (the one transaction in flight: its id and body, resent unchanged until the appservice acknowledges it)",
        owner: "appservice"
    }
    REMOTE_INVITES {
        name: "remote_invites",
        key: "user_id: str, room_id: str",
        value: "rooms::remote::RemoteInvite (an invite to a room this server does not have: the event, stripped state, room version)",
        owner: "rooms"
    }
    PARTIAL_STATE_ROOMS {
        name: "partial_state_rooms",
        key: "room_id: raw",
        value: "rooms::partial_state::PartialJoin (the join event, its state-before snapshot, the servers to fetch the full state from); written with a join whose resident omitted members, deleted in the batch that completes the state",
        owner: "rooms"
    }
    SEARCH_FEED {
        name: "search_feed",
        key: "stream ordering: u64 (of the event, or reserved for a purge)",
        value: "search::feed::FeedItem (an event the search index must look at again, or a purged room); written in the batch that persists the event, deleted once the index has committed it",
        owner: "search"
    }
}

/// Orders every event this server persists; sync positions are built on it.
pub const STREAM_ORDERING: CounterDef = CounterDef { name: "stream_ordering", owner: "timeline" };

/// Orders what waits for application services, across all of them.
pub const APPSERVICE_SEQUENCE: CounterDef = CounterDef { name: "appservice_sequence", owner: "appservice" };

pub const NEXUS: Catalog =
    Catalog { name: "nexus", version: 3, maps: ALL_MAPS, counters: &[&STREAM_ORDERING, &APPSERVICE_SEQUENCE] };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_names_are_unique_and_portable() {
        let mut names: Vec<_> =
            NEXUS.maps.iter().map(|m| m.name).chain(NEXUS.counters.iter().map(|c| c.name)).collect();
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total);
    }
}
