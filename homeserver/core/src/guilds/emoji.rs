//! Custom emoji and stickers (extensions-spec §13): MSC2545 image packs as
//! state in a server's space and channels, usable in every channel of the
//! server; the user's own pack (`im.ponies.user_emotes`) and the packs they
//! enabled elsewhere (`im.ponies.emote_rooms`). Packs of rooms outside the
//! server are external: a local user uses their emoji only with
//! USE_EXTERNAL_EMOJIS, their stickers only with USE_EXTERNAL_STICKERS
//! (§16 tier 2, enforced here on send), and the listing says which they may.

use std::collections::HashSet;
use std::sync::Arc;

use nexus_extensions::Permissions;
use nexus_extensions::events::{IMAGE_PACK, IMAGE_PACK_STABLE, validate_content};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, RoomId, UserId};
use serde_json::{Map, Value, json};

use super::{Guilds, Scope};
use crate::account_data::AccountData;
use crate::rooms::{NewEvent, Rooms};
use crate::{Error, Result};

pub const USER_EMOTES: &str = "im.ponies.user_emotes";
pub const EMOTE_ROOMS: &str = "im.ponies.emote_rooms";
const PACK_TYPES: [&str; 2] = [IMAGE_PACK, IMAGE_PACK_STABLE];
/// Packs read from `im.ponies.emote_rooms`, at most (a listing stays cheap).
const MAX_ENABLED_PACKS: usize = 100;

/// Where a pack comes from, as the listing names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Channel,
    Server,
    User,
    External,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Channel => "channel",
            Source::Server => "server",
            Source::User => "user",
            Source::External => "external",
        }
    }
}

/// Whether an image is an emoticon, a sticker or both (MSC2545: the
/// image's `usage`, else the pack's, else both).
fn usages(image: &Value, pack: Option<&Value>) -> (bool, bool) {
    let list = |v: Option<&Value>| -> Option<Vec<String>> {
        let list: Vec<String> =
            v?.get("usage")?.as_array()?.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect();
        (!list.is_empty()).then_some(list)
    };
    match list(Some(image)).or_else(|| list(pack)) {
        Some(usage) => (usage.iter().any(|u| u == "emoticon"), usage.iter().any(|u| u == "sticker")),
        None => (true, true),
    }
}

/// The images of a pack content, as listed.
fn pack_images(
    content: &Value,
    pack_ref: Value,
    source: Source,
    out: &mut (Vec<Value>, Vec<Value>),
    allowed: (bool, bool),
) {
    let Some(images) = content.get("images").and_then(Value::as_object) else { return };
    let pack = content.get("pack");
    for (shortcode, image) in images {
        let Some(url) = image.get("url").and_then(Value::as_str).filter(|u| u.starts_with("mxc://")) else {
            continue;
        };
        let (emoticon, sticker) = usages(image, pack);
        let mut entry = Map::new();
        entry.insert("shortcode".to_owned(), json!(shortcode));
        entry.insert("url".to_owned(), json!(url));
        for field in ["body", "info"] {
            if let Some(value) = image.get(field) {
                entry.insert(field.to_owned(), value.clone());
            }
        }
        entry.insert("pack".to_owned(), pack_ref.clone());
        entry.insert("source".to_owned(), json!(source.name()));
        if emoticon && allowed.0 {
            out.0.push(Value::Object(entry.clone()));
        }
        if sticker && allowed.1 {
            out.1.push(Value::Object(entry));
        }
    }
}

fn mxc_of_packs(packs: &[(String, Value)], into: &mut HashSet<String>) {
    for (_, content) in packs {
        if let Some(images) = content.get("images").and_then(Value::as_object) {
            into.extend(images.values().filter_map(|i| i.get("url").and_then(Value::as_str)).map(str::to_owned));
        }
    }
}

/// The `mxc://` URIs a message shows as custom emoji: `<img
/// data-mx-emoticon src="…">` in `formatted_body`.
fn inline_emoticons(content: &Value) -> Vec<String> {
    let Some(html) = content.get("formatted_body").and_then(Value::as_str) else { return Vec::new() };
    let mut found = Vec::new();
    for tag in html.split("<img").skip(1) {
        let tag = tag.split('>').next().unwrap_or_default();
        if !tag.contains("data-mx-emoticon") {
            continue;
        }
        for quote in ['"', '\''] {
            if let Some(start) = tag.find(&format!("src={quote}")) {
                let rest = &tag[start + 5..];
                if let Some(end) = rest.find(quote) {
                    found.push(rest[..end].to_owned());
                }
            }
        }
    }
    found
}

impl Guilds {
    async fn packs_in(&self, room: &RoomId) -> Result<Vec<(String, Value)>> {
        let mut packs = Vec::new();
        for kind in PACK_TYPES {
            packs.extend(self.rooms.state_json_of_type(room, kind).await?);
        }
        Ok(packs)
    }

    /// §13 and §16 for a local user's event in a server's room: packs they
    /// write follow MSC2545 and the 250-image cap; emoji and stickers from
    /// outside the server need USE_EXTERNAL_EMOJIS / USE_EXTERNAL_STICKERS.
    pub(super) async fn check_expressions(
        &self,
        scope: &Scope,
        event: &NewEvent,
        content: &Value,
        perms: Permissions,
    ) -> Result<()> {
        if PACK_TYPES.contains(&event.kind.as_str()) {
            if content.as_object().is_some_and(|o| o.is_empty()) {
                return Ok(());
            }
            return validate_content(&event.kind, content).map_err(|e| Error::BadJson(format!("{}: {e}", event.kind)));
        }
        if event.state_key.is_some() {
            return Ok(());
        }
        let mut emoticons = inline_emoticons(content);
        if event.kind == "m.reaction"
            && let Some(key) = content.get("m.relates_to").and_then(|r| r.get("key")).and_then(Value::as_str)
            && key.starts_with("mxc://")
        {
            emoticons.push(key.to_owned());
        }
        let sticker = (event.kind == "m.sticker").then(|| content.get("url").and_then(Value::as_str)).flatten();
        let need_emoji = !emoticons.is_empty() && !perms.contains(Permissions::USE_EXTERNAL_EMOJIS);
        let need_sticker = sticker.is_some() && !perms.contains(Permissions::USE_EXTERNAL_STICKERS);
        if !need_emoji && !need_sticker {
            return Ok(());
        }
        let mut own: HashSet<String> = HashSet::new();
        mxc_of_packs(&self.packs_in(&scope.server.space).await?, &mut own);
        if let Some(channel) = &scope.channel {
            mxc_of_packs(&self.packs_in(&channel.room).await?, &mut own);
        }
        if need_emoji && let Some(external) = emoticons.iter().find(|url| !own.contains(*url)) {
            return Err(Error::Forbidden(format!(
                "{external} is not an emoji of this server: using other servers' emoji needs USE_EXTERNAL_EMOJIS"
            )));
        }
        if need_sticker && let Some(url) = sticker.filter(|url| !own.contains(*url)) {
            return Err(Error::Forbidden(format!(
                "{url} is not a sticker of this server: using other servers' stickers needs USE_EXTERNAL_STICKERS"
            )));
        }
        Ok(())
    }
}

/// The Nexus emoji listing: what a user may use in a channel, in one call.
pub struct Emoji {
    guilds: Arc<Guilds>,
    rooms: Arc<Rooms>,
    account_data: Arc<AccountData>,
}

impl Emoji {
    pub fn new(guilds: Arc<Guilds>, rooms: Arc<Rooms>, account_data: Arc<AccountData>) -> Self {
        Emoji { guilds, rooms, account_data }
    }

    /// `GET /_nexus/client/v1/channels/{roomId}/emoji`: the channel's packs,
    /// its server's, the user's own, and the packs they enabled in other
    /// rooms they are in — those outside the server only as far as
    /// USE_EXTERNAL_EMOJIS / USE_EXTERNAL_STICKERS allow. Works in any room
    /// (outside a server every enabled pack is usable).
    pub async fn usable(&self, user: &UserId, room: &RoomId) -> Result<Value> {
        if self.rooms.membership_of(room, user).await? != Some(MembershipState::Join) {
            return Err(Error::Forbidden("you are not in this room".to_owned()));
        }
        let permitted = self.guilds.permissions(user, room).await?;
        let (space, external_allowed) = match &permitted {
            Some((scope, perms)) => (
                Some(scope.server.space.clone()),
                (perms.contains(Permissions::USE_EXTERNAL_EMOJIS), perms.contains(Permissions::USE_EXTERNAL_STICKERS)),
            ),
            None => (None, (true, true)),
        };
        let mut out = (Vec::new(), Vec::new());
        let mut seen: HashSet<(OwnedRoomId, String)> = HashSet::new();
        let pack_ref = |room: &RoomId, key: &str, content: &Value| {
            json!({
                "room_id": room,
                "state_key": key,
                "display_name": content.get("pack").and_then(|p| p.get("display_name")),
            })
        };
        for (key, content) in self.guilds.packs_in(room).await? {
            let source = if space.as_deref() == Some(room) { Source::Server } else { Source::Channel };
            pack_images(&content, pack_ref(room, &key, &content), source, &mut out, (true, true));
            seen.insert((room.to_owned(), key));
        }
        if let Some(space) = &space
            && space != room
        {
            for (key, content) in self.guilds.packs_in(space).await? {
                pack_images(&content, pack_ref(space, &key, &content), Source::Server, &mut out, (true, true));
                seen.insert((space.clone(), key));
            }
        }
        if let Some(own) = self.account_data.get(user, None, USER_EMOTES).await? {
            let content = Value::Object(own);
            // Not a pack of this server: in its rooms, governed like other
            // servers' packs (and refused on send alike).
            pack_images(&content, json!({ "user": user }), Source::User, &mut out, external_allowed);
        }
        let enabled = self.account_data.get(user, None, EMOTE_ROOMS).await?;
        let rooms = enabled.as_ref().and_then(|e| e.get("rooms")).and_then(Value::as_object);
        let mut read = 0;
        for (other, keys) in rooms.into_iter().flatten() {
            let Ok(other) = RoomId::parse(other.as_str()) else { continue };
            let Some(keys) = keys.as_object() else { continue };
            if self.rooms.membership_of(&other, user).await? != Some(MembershipState::Join) {
                continue;
            }
            let ours = space.as_deref() == Some(&*other) || *other == *room;
            for key in keys.keys() {
                if read >= MAX_ENABLED_PACKS || seen.contains(&(other.clone(), key.clone())) {
                    continue;
                }
                read += 1;
                for kind in PACK_TYPES {
                    let Some(content) = self.rooms.state_json(&other, kind, key).await? else { continue };
                    let (source, allowed) =
                        if ours { (Source::Server, (true, true)) } else { (Source::External, external_allowed) };
                    pack_images(&content, pack_ref(&other, key, &content), source, &mut out, allowed);
                }
                seen.insert((other.clone(), key.clone()));
            }
        }
        Ok(json!({
            "emoticons": out.0,
            "stickers": out.1,
            "use_external_emojis": external_allowed.0,
            "use_external_stickers": external_allowed.1,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_emoticons_are_found_in_formatted_bodies() {
        let content = json!({"formatted_body":
            "hi <img data-mx-emoticon src=\"mxc://a/b\" alt=\":x:\" height=\"32\"> and <img src=\"mxc://c/d\">"});
        assert_eq!(inline_emoticons(&content), ["mxc://a/b"]);
    }

    #[test]
    fn usage_comes_from_the_image_then_the_pack_then_both() {
        let pack = json!({"usage": ["sticker"]});
        assert_eq!(usages(&json!({"usage": ["emoticon"]}), Some(&pack)), (true, false));
        assert_eq!(usages(&json!({}), Some(&pack)), (false, true));
        assert_eq!(usages(&json!({}), None), (true, true));
    }
}
