//! Matrix → Discord: guilds, channels, roles, users and messages in the
//! shapes discord.py and discord.js read (Discord API v10), built from
//! Matrix state and events. Ids are snowflakes, serialised as strings.

use serde_json::{Value, json};

use crate::snowflake::{Kind, Snowflakes};

/// The state event of `kind` and `key` in a room's state list.
pub fn state<'a>(events: &'a [Value], kind: &str, key: &str) -> Option<&'a Value> {
    events.iter().find(|e| e["type"] == kind && e["state_key"] == key).map(|e| &e["content"])
}

fn state_str<'a>(events: &'a [Value], kind: &str, field: &str) -> Option<&'a str> {
    state(events, kind, "").and_then(|c| c[field].as_str())
}

/// Whether a room's state is a Nexus server (a space with `nexus.server`)
/// or any space: either is a guild to a bot.
pub fn is_guild(events: &[Value]) -> bool {
    state(events, "m.room.create", "").is_some_and(|c| c["type"] == "m.space")
}

/// The space a channel's state names as its parent, if any.
pub fn parent_space(events: &[Value]) -> Option<String> {
    events
        .iter()
        .find(|e| e["type"] == "m.space.parent" && e["content"].as_object().is_some_and(|c| !c.is_empty()))
        .and_then(|e| e["state_key"].as_str().map(str::to_owned))
}

/// The children a space's state lists, in `m.space.child` order.
pub fn children(events: &[Value]) -> Vec<String> {
    let mut children: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["type"] == "m.space.child" && e["content"]["via"].as_array().is_some_and(|v| !v.is_empty()))
        .filter_map(|e| Some((e["content"]["order"].as_str().unwrap_or("\u{7f}"), e["state_key"].as_str()?)))
        .collect();
    children.sort();
    children.into_iter().map(|(_, id)| id.to_owned()).collect()
}

/// Discord's channel type of a Nexus channel (`nexus.channel.type`).
pub fn channel_type(events: &[Value]) -> u64 {
    match state(events, "nexus.channel", "").and_then(|c| c["type"].as_str()) {
        Some("voice") => 2,
        Some("announcement") => 5,
        Some("stage") => 13,
        Some("forum") => 15,
        _ => 0,
    }
}

/// A Discord user for a Matrix user: a person's username is their
/// localpart (unique on their server) and their display name the global
/// name; a bot's username is its application's name, as on Discord.
pub fn user(snowflake: u64, user_id: &str, displayname: Option<&str>, bot: bool) -> Value {
    let localpart = user_id.trim_start_matches('@').split(':').next().unwrap_or(user_id);
    let username = if bot { displayname.unwrap_or(localpart) } else { localpart };
    json!({
        "id": snowflake.to_string(),
        "username": username,
        "discriminator": "0",
        "global_name": displayname.unwrap_or(localpart),
        "avatar": null,
        "bot": bot,
        "system": false,
        "public_flags": 0,
        "flags": 0,
    })
}

/// RFC 3339 with milliseconds, as Discord writes timestamps.
pub fn timestamp(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}000+00:00", rem / 3600, rem % 3600 / 60, rem % 60, ms % 1000)
}

/// Unix milliseconds of an ISO 8601 / RFC 3339 time as discord.py
/// (`+00:00`) and discord.js (`Z`) write them; fractions and offsets kept.
pub fn parse_timestamp(text: &str) -> Option<u64> {
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (date.next()??, date.next()??, date.next()??);
    let (clock, offset_secs) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) if matches!(&time[i..], "Z" | "z") => (&time[..i], 0),
        Some(i) => {
            let sign = if time.as_bytes()[i] == b'-' { -1 } else { 1 };
            let (h, mi) = time[i + 1..].split_once(':')?;
            (&time[..i], sign * (h.parse::<i64>().ok()? * 3600 + mi.parse::<i64>().ok()? * 60))
        }
        None => (time, 0),
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    let mut hms = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let millis: i64 = format!("{:0<3}", &fraction[..fraction.len().min(3)]).parse().ok()?;
    let seconds = days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    u64::try_from(seconds * 1000 + millis).ok()
}

/// (year, month, day) → days since 1970-01-01, proleptic Gregorian.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A guild channel.
pub async fn channel(
    snowflakes: &Snowflakes,
    guild_id: u64,
    room_id: &str,
    events: &[Value],
    position: usize,
) -> anyhow::Result<Value> {
    let id = snowflakes.of(Kind::Room, room_id).await?;
    let nexus = state(events, "nexus.channel", "");
    let name = state_str(events, "m.room.name", "name").unwrap_or("channel");
    let kind = channel_type(events);
    let mut channel = json!({
        "id": id.to_string(),
        "type": kind,
        "guild_id": guild_id.to_string(),
        "name": name,
        "position": nexus.and_then(|c| c["position"].as_u64()).unwrap_or(position as u64),
        "parent_id": null,
        "topic": state_str(events, "m.room.topic", "topic"),
        "nsfw": nexus.and_then(|c| c["nsfw"].as_bool()).unwrap_or(false),
        "rate_limit_per_user": nexus.and_then(|c| c["slowmode_seconds"].as_u64()).unwrap_or(0),
        "permission_overwrites": [],
        "last_message_id": null,
        "flags": 0,
    });
    // Voice and stage channels: what discord.py and discord.js require.
    if kind == 2 || kind == 13 {
        channel["bitrate"] = json!(nexus.and_then(|c| c["bitrate"].as_u64()).unwrap_or(64_000));
        channel["user_limit"] = json!(nexus.and_then(|c| c["user_limit"].as_u64()).unwrap_or(0));
        channel["rtc_region"] = Value::Null;
        let full = nexus.and_then(|c| c["video_quality"].as_str()) == Some("full");
        channel["video_quality_mode"] = json!(if full { 2 } else { 1 });
    }
    if kind == 15 {
        channel["available_tags"] = json!([]);
        channel["default_reaction_emoji"] = Value::Null;
        channel["default_sort_order"] = Value::Null;
        channel["default_forum_layout"] = json!(0);
    }
    Ok(channel)
}

/// One role from its `nexus.role` content.
pub fn role(id: u64, key: &str, content: &serde_json::Map<String, Value>) -> Value {
    json!({
        "id": id.to_string(),
        "name": content.get("name").and_then(Value::as_str).unwrap_or(key),
        "color": content.get("colours").and_then(|c| c["primary"].as_u64()).unwrap_or(0),
        // Discord's gradient colours are Nexus's `colours`.
        "colors": {
            "primary_color": content.get("colours").and_then(|c| c["primary"].as_u64()).unwrap_or(0),
            "secondary_color": content.get("colours").and_then(|c| c["secondary"].as_u64()),
            "tertiary_color": content.get("colours").and_then(|c| c["tertiary"].as_u64()),
        },
        "hoist": content.get("hoist").and_then(Value::as_bool).unwrap_or(false),
        "position": content.get("position").and_then(Value::as_u64).unwrap_or(0),
        "permissions": content.get("permissions").and_then(Value::as_str).unwrap_or("0"),
        "managed": false,
        "mentionable": content.get("mentionable").and_then(Value::as_bool).unwrap_or(false),
        "flags": 0,
    })
}

/// The roles of a server: @everyone (whose id is the guild's, as on
/// Discord) and each `nexus.role`.
pub async fn roles(
    snowflakes: &Snowflakes,
    space_id: &str,
    guild_id: u64,
    events: &[Value],
) -> anyhow::Result<Vec<Value>> {
    let mut roles = Vec::new();
    for event in events.iter().filter(|e| e["type"] == "nexus.role") {
        let (Some(key), Some(content)) = (event["state_key"].as_str(), event["content"].as_object()) else { continue };
        if content.is_empty() {
            continue;
        }
        let id =
            if key == "everyone" { guild_id } else { snowflakes.of(Kind::Role, &format!("{space_id}|{key}")).await? };
        roles.push(role(id, key, content));
    }
    let everyone = guild_id.to_string();
    if !roles.iter().any(|r| r["id"].as_str() == Some(everyone.as_str())) {
        roles.push(json!({
            "id": guild_id.to_string(), "name": "@everyone", "color": 0, "hoist": false, "position": 0,
            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
            "permissions": "0", "managed": false, "mentionable": false, "flags": 0,
        }));
    }
    Ok(roles)
}

/// A message for a Matrix `m.room.message` event. `content` is left empty
/// when the receiver may not read it (no MESSAGE_CONTENT intent).
pub async fn message(
    snowflakes: &Snowflakes,
    event: &Value,
    guild_id: Option<u64>,
    author: Value,
    with_content: bool,
) -> anyhow::Result<Value> {
    let event_id = event["event_id"].as_str().unwrap_or_default();
    let room_id = event["room_id"].as_str().unwrap_or_default();
    let ts = event["origin_server_ts"].as_u64().unwrap_or_else(crate::snowflake::now_ms);
    let id = snowflakes.of_event(event_id, ts).await?;
    // A thread reply is a message of the thread's channel.
    let channel_id = match crate::threads::thread_root(&event["content"]) {
        Some(root) => snowflakes.of(Kind::Thread, &crate::threads::thread_key(room_id, root)).await?,
        None => snowflakes.of(Kind::Room, room_id).await?,
    };
    // The latest edit, which the homeserver aggregates into `unsigned`.
    let edit = &event["unsigned"]["m.relations"]["m.replace"];
    let (current, edited) = match &edit["content"]["m.new_content"] {
        Value::Object(_) => (&edit["content"]["m.new_content"], edit["origin_server_ts"].as_u64().map(timestamp)),
        _ => (&event["content"], None),
    };
    // A bot's message with embeds keeps its own content beside the
    // fallback text in `body`.
    let discord = &current["nexus.discord"];
    let body = match discord["content"].as_str() {
        Some(content) => content,
        None => strip_reply_fallback(current["body"].as_str().unwrap_or_default()),
    };
    let embeds = if with_content { discord["embeds"].as_array().cloned().unwrap_or_default() } else { Vec::new() };
    let mut message = json!({
        "id": id.to_string(),
        "channel_id": channel_id.to_string(),
        "author": author,
        "content": if with_content { body } else { "" },
        "timestamp": timestamp(ts),
        "edited_timestamp": edited,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": embeds,
        "pinned": false,
        "type": 0,
        "flags": 0,
    });
    if let Some(guild_id) = guild_id {
        message["guild_id"] = json!(guild_id.to_string());
    }
    if let Some(replied) = event["content"]["m.relates_to"]["m.in_reply_to"]["event_id"].as_str() {
        let replied = snowflakes.of(Kind::Event, replied).await?;
        message["type"] = json!(19);
        let mut reference = json!({"message_id": replied.to_string(), "channel_id": channel_id.to_string()});
        if let Some(guild_id) = guild_id {
            reference["guild_id"] = json!(guild_id.to_string());
        }
        message["message_reference"] = reference;
    }
    Ok(message)
}

/// Drops the `> <@user> …` quote older clients put before a reply's text.
fn strip_reply_fallback(body: &str) -> &str {
    if !body.starts_with("> <") {
        return body;
    }
    match body.find("\n\n") {
        Some(end) => &body[end + 2..],
        None => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(timestamp(1_764_936_000_123), "2025-12-05T12:00:00.123000+00:00");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00.000000+00:00");
    }

    #[test]
    fn timestamps_parse_back() {
        for ms in [0, 1_764_936_000_123, 951_782_400_000] {
            assert_eq!(parse_timestamp(&timestamp(ms)), Some(ms));
        }
        assert_eq!(parse_timestamp("2025-12-05T12:00:00.123Z"), Some(1_764_936_000_123));
        assert_eq!(parse_timestamp("2025-12-05T13:00:00+01:00"), Some(1_764_936_000_000));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2025-13-05T12:00:00Z"), None);
    }

    #[test]
    fn reply_fallbacks_are_dropped() {
        assert_eq!(strip_reply_fallback("> <@a:b> hi\n\npong"), "pong");
        assert_eq!(strip_reply_fallback("plain"), "plain");
    }
}
