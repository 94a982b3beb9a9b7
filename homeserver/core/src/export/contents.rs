//! What a personal data export holds, written file by file: every read
//! goes through the service that owns the data, as the user (history
//! visibility applies to the rooms' events exactly as on `/messages`).

use ruma::events::room::member::MembershipState;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::archive::ArchiveWriter;
use super::{ExportRecord, MessageScope};
use crate::rooms::{MessagesQuery, RoomEventFilter};
use crate::tokens::Identity;
use crate::{Result, Services};

/// Events asked for per `/messages` page while walking a room.
const PAGE: usize = 200;
/// Bytes of media read per chunk.
const MEDIA_CHUNK: usize = 256 * 1024;

const README: &str = "# Your data from a Nexus homeserver

This archive holds everything the server keeps about your account:

- `account.json`: your account (when it was made, its flags), your profile,
  your devices (sessions) and your pushers.
- `account_data.json`: your account data, global and per room (push rules,
  direct chats, tags, ignored users, client settings).
- `rooms/index.json`: every room you are or were in, with your membership.
- `rooms/<room>/messages.jsonl`: that room's events you may see (or only
  yours, if you asked for that), oldest first, one JSON event per line,
  as a client receives them. Encrypted messages stay encrypted: their keys
  are on your devices and in your key backup.
- `media/index.json` and `media/<id>-<name>`: the files you uploaded.
- `key_backup.json`: your server-side key backup, as stored: encrypted
  with your recovery key, which the server never had.
";

fn pretty(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("JSON values serialise")
}

/// A file name from an id or a user's file name: no separators, no
/// surprises on any file system.
fn safe_name(raw: &str) -> String {
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect()
}

impl Services {
    pub(super) async fn write_contents(&self, archive: &ArchiveWriter, record: &mut ExportRecord) -> Result<()> {
        let me = Identity {
            user_id: record.user_id.clone(),
            device_id: record.device_id.clone(),
            appservice: None,
            operator: false,
        };
        archive.file("README.md", README.as_bytes().to_vec()).await?;
        self.export_account(archive, &me).await?;
        self.export_rooms(archive, &me, record).await?;
        self.export_media(archive, &me).await?;
        self.export_key_backup(archive, &me).await
    }

    async fn export_account(&self, archive: &ArchiveWriter, me: &Identity) -> Result<()> {
        let account = self.accounts.own_account(me).await?;
        let profile = self.profiles.get(&me.user_id).await.unwrap_or_default();
        let devices: Vec<Value> = self
            .devices
            .list(me.user_id.localpart())
            .await?
            .into_iter()
            .map(|d| {
                json!({
                    "device_id": d.device_id,
                    "display_name": d.display_name,
                    "last_seen_ip": d.last_seen_ip,
                    "last_seen_ts": d.last_seen_ts,
                })
            })
            .collect();
        let pushers: Vec<Value> =
            self.pushers.list(&me.user_id).await?.iter().map(|p| serde_json::to_value(p).unwrap_or_default()).collect();
        let account = json!({
            "user_id": me.user_id,
            "created_ts": account.as_ref().map(|a| a.created_ts),
            "admin": account.as_ref().is_some_and(|a| a.admin),
            "user_type": account.as_ref().and_then(|a| a.user_type.clone()),
            "locked": account.as_ref().is_some_and(|a| a.locked),
            "suspended": account.as_ref().is_some_and(|a| a.suspended),
            "profile": profile,
            "devices": devices,
            "pushers": pushers,
        });
        archive.file("account.json", pretty(&account)).await?;
        let data = self.account_data.grouped(&me.user_id).await?;
        archive.file("account_data.json", pretty(&data)).await
    }

    async fn export_rooms(&self, archive: &ArchiveWriter, me: &Identity, record: &mut ExportRecord) -> Result<()> {
        let mut rooms = Vec::new();
        for membership in [
            MembershipState::Join,
            MembershipState::Invite,
            MembershipState::Knock,
            MembershipState::Leave,
            MembershipState::Ban,
        ] {
            for room in self.rooms.membership.rooms_of(&me.user_id, &membership).await? {
                rooms.push((room, membership.clone()));
            }
        }
        record.rooms_total = rooms.len();
        self.save_export(record).await?;
        let mut index = Vec::with_capacity(rooms.len());
        for (room, membership) in rooms {
            let name = self.rooms.state_json(&room, "m.room.name", "").await.ok().flatten();
            let name = name.and_then(|c| c.get("name").and_then(Value::as_str).map(str::to_owned));
            let folder = format!("rooms/{}", safe_name(room.as_str()));
            let events = self.export_room_events(archive, me, &room, &folder, record.messages).await?;
            index.push(json!({
                "room_id": room,
                "name": name,
                "membership": membership.as_str(),
                "events": events,
                "folder": folder,
            }));
            record.rooms_done += 1;
            self.save_export(record).await?;
        }
        archive.file("rooms/index.json", pretty(&Value::Array(index))).await
    }

    /// Writes a room's events the user may see (oldest first) as JSON
    /// lines, a page at a time; how many. A room whose history the user
    /// may not read at all (an invite) has an empty file.
    async fn export_room_events(
        &self,
        archive: &ArchiveWriter,
        me: &Identity,
        room: &ruma::RoomId,
        folder: &str,
        scope: MessageScope,
    ) -> Result<usize> {
        archive.start(format!("{folder}/messages.jsonl")).await?;
        let filter = RoomEventFilter {
            senders: (scope == MessageScope::Own).then(|| vec![me.user_id.to_string()]),
            ..Default::default()
        };
        let mut from = None;
        let mut count = 0;
        loop {
            let query =
                MessagesQuery { from: from.clone(), to: None, backward: false, limit: PAGE, filter: filter.clone() };
            let page = match self.rooms.messages(&me.user_id, &me.device_id, room, query).await {
                Ok(page) => page,
                // Not readable (an invite, a room this server left): nothing to add.
                Err(crate::Error::Forbidden(_)) => return Ok(count),
                Err(e) => return Err(e),
            };
            let mut lines = Vec::new();
            for event in &page.chunk {
                serde_json::to_writer(&mut lines, event).expect("JSON values serialise");
                lines.push(b'\n');
            }
            count += page.chunk.len();
            if !lines.is_empty() {
                archive.write(lines).await?;
            }
            match page.end {
                Some(end) if Some(&end) != from.as_ref() => from = Some(end),
                _ => return Ok(count),
            }
        }
    }

    async fn export_media(&self, archive: &ArchiveWriter, me: &Identity) -> Result<()> {
        let mut index = Vec::new();
        for (media_id, record) in self.media.uploads_of(&me.user_id).await? {
            if record.sha256.is_none() {
                continue;
            }
            let content = match self.media.content(self.server_name(), &media_id).await {
                Ok(content) => content,
                // Quarantined media is not served, to its uploader either.
                Err(crate::Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let file =
                format!("media/{}-{}", safe_name(&media_id), safe_name(record.filename.as_deref().unwrap_or("file")));
            archive.start_stored(file.clone()).await?;
            let mut reader = tokio::fs::File::open(&content.path)
                .await
                .map_err(|e| crate::Error::Internal(format!("reading media for an export: {e}")))?;
            loop {
                let mut chunk = vec![0u8; MEDIA_CHUNK];
                let read = reader
                    .read(&mut chunk)
                    .await
                    .map_err(|e| crate::Error::Internal(format!("reading media for an export: {e}")))?;
                if read == 0 {
                    break;
                }
                chunk.truncate(read);
                archive.write(chunk).await?;
            }
            index.push(json!({
                "mxc": self.media.local_mxc(&media_id),
                "file": file,
                "content_type": record.content_type,
                "upload_name": record.filename,
                "size": record.size,
                "created_ts": record.created_ts,
            }));
        }
        archive.file("media/index.json", pretty(&Value::Array(index))).await
    }

    async fn export_key_backup(&self, archive: &ArchiveWriter, me: &Identity) -> Result<()> {
        let backup = match self.e2ee.backup.describe_version(&me.user_id, None).await {
            Ok(version) => {
                let number = version["version"].as_str().unwrap_or_default().to_owned();
                let keys = self.e2ee.backup.get_keys(&me.user_id, &number, None, None).await?;
                json!({ "version": version, "keys": keys })
            }
            Err(crate::Error::NotFound(_)) => json!({ "version": null, "keys": null }),
            Err(e) => return Err(e),
        };
        archive.file("key_backup.json", pretty(&backup)).await
    }
}
