//! What bots send: a message body (content, embeds, flags, a reply) checked
//! as Discord checks it and turned into Matrix content. Embeds travel in
//! the namespaced key `nexus.discord` with the text they carry appended to
//! `body` as the fallback other clients show; the bridge reads the original
//! content and embeds back from that key.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::DiscordError;

/// The most characters Discord takes in one message.
const MAX_CONTENT: usize = 2_000;
const MAX_EMBEDS: usize = 10;
/// Characters over all of a message's embeds.
const MAX_EMBED_TEXT: usize = 6_000;
/// Discord's EPHEMERAL message flag.
pub const EPHEMERAL: u64 = 1 << 6;
/// Discord's SUPPRESS_EMBEDS flag, the other one a bot may set.
const SUPPRESS_EMBEDS: u64 = 1 << 2;

/// A message a bot sends (create, edit, interaction responses, followups).
#[derive(Deserialize, Default)]
pub struct MessageBody {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub embeds: Option<Vec<Value>>,
    #[serde(default)]
    pub flags: Option<u64>,
    #[serde(default)]
    pub nonce: Option<Value>,
    #[serde(default)]
    pub message_reference: Option<MessageReference>,
    /// With files: `{id, filename?, description?}`, `id` being the `n` of
    /// the `files[n]` part.
    #[serde(default)]
    pub attachments: Option<Vec<Value>>,
    /// Webhooks only: the name to post under.
    #[serde(default)]
    pub username: Option<String>,
}

/// A file a bot sent, once uploaded to the media repository.
pub struct Uploaded {
    pub mxc: String,
    pub filename: String,
    pub content_type: String,
    pub size: usize,
    pub description: Option<String>,
}

#[derive(Deserialize)]
pub struct MessageReference {
    /// A snowflake, as a string or a number.
    #[serde(default)]
    pub message_id: Value,
}

impl MessageBody {
    pub fn ephemeral(&self) -> bool {
        self.flags.unwrap_or(0) & EPHEMERAL != 0
    }

    /// Matrix content for this message; `in_reply_to` is a Matrix event.
    /// `allow_flags` are the flags this kind of message may carry.
    pub fn matrix_content(&self, in_reply_to: Option<&str>, allow_flags: u64) -> Result<Value, DiscordError> {
        self.matrix_content_with(in_reply_to, allow_flags, &[])
    }

    /// The same with files: the first file's event carries the text as its
    /// caption and lists every file under `nexus.discord.attachments`.
    pub fn matrix_content_with(
        &self,
        in_reply_to: Option<&str>,
        allow_flags: u64,
        files: &[Uploaded],
    ) -> Result<Value, DiscordError> {
        let text = self.content.clone().unwrap_or_default();
        if text.chars().count() > MAX_CONTENT {
            return Err(DiscordError::invalid_form("content", "Must be 2000 or fewer in length."));
        }
        if self.flags.unwrap_or(0) & !(allow_flags | SUPPRESS_EMBEDS) != 0 {
            return Err(DiscordError::invalid_form("flags", "Invalid flags"));
        }
        let embeds = checked_embeds(self.embeds.as_deref().unwrap_or_default())?;
        if text.is_empty() && embeds.is_empty() && files.is_empty() {
            return Err(DiscordError::new(StatusCode::BAD_REQUEST, 50006, "Cannot send an empty message"));
        }
        let mut body = text.clone();
        for embed in &embeds {
            let fallback = embed_text(embed);
            if !fallback.is_empty() {
                if !body.is_empty() {
                    body.push_str("\n\n");
                }
                body.push_str(&fallback);
            }
        }
        let mut content = json!({"msgtype": "m.text", "body": body});
        if !embeds.is_empty() {
            content["nexus.discord"] = json!({"content": text, "embeds": embeds});
        }
        if let Some(first) = files.first() {
            content["msgtype"] = json!(crate::attachments::msgtype(&first.content_type));
            if content["body"] == "" {
                content["body"] = json!(first.filename);
            }
            content["filename"] = json!(first.filename);
            content["url"] = json!(first.mxc);
            content["info"] = json!({"mimetype": first.content_type, "size": first.size});
            let listed: Vec<Value> = files
                .iter()
                .map(|f| {
                    json!({"mxc": f.mxc, "filename": f.filename, "content_type": f.content_type, "size": f.size,
                           "description": f.description})
                })
                .collect();
            content["nexus.discord"] = json!({"content": text, "embeds": embeds, "attachments": listed});
        }
        if let Some(event_id) = in_reply_to {
            content["m.relates_to"] = json!({"m.in_reply_to": {"event_id": event_id}});
        }
        Ok(content)
    }
}

/// Embeds, checked for Discord's limits; only the fields Discord defines
/// are kept.
fn checked_embeds(embeds: &[Value]) -> Result<Vec<Value>, DiscordError> {
    if embeds.len() > MAX_EMBEDS {
        return Err(DiscordError::invalid_form("embeds", "Must be 10 or fewer in length."));
    }
    let mut total = 0;
    let mut checked = Vec::with_capacity(embeds.len());
    for (i, embed) in embeds.iter().enumerate() {
        let Some(object) = embed.as_object() else {
            return Err(DiscordError::invalid_form(&format!("embeds.{i}"), "Must be an object."));
        };
        let mut kept = serde_json::Map::new();
        for (field, limit) in [("title", 256), ("description", 4096), ("url", 2048), ("timestamp", 64)] {
            if let Some(value) = object.get(field).filter(|v| !v.is_null()) {
                let text = value
                    .as_str()
                    .filter(|t| t.chars().count() <= limit)
                    .ok_or_else(|| DiscordError::invalid_form(&format!("embeds.{i}.{field}"), "Invalid string."))?;
                if field != "url" && field != "timestamp" {
                    total += text.chars().count();
                }
                kept.insert(field.to_owned(), value.clone());
            }
        }
        if let Some(colour) = object.get("color").filter(|v| !v.is_null()) {
            colour
                .as_u64()
                .filter(|c| *c <= 0xFF_FFFF)
                .ok_or_else(|| DiscordError::invalid_form(&format!("embeds.{i}.color"), "Invalid colour."))?;
            kept.insert("color".to_owned(), colour.clone());
        }
        if let Some(fields) = object.get("fields").and_then(Value::as_array) {
            if fields.len() > 25 {
                return Err(DiscordError::invalid_form(
                    &format!("embeds.{i}.fields"),
                    "Must be 25 or fewer in length.",
                ));
            }
            for (j, field) in fields.iter().enumerate() {
                let (Some(name), Some(value)) = (field["name"].as_str(), field["value"].as_str()) else {
                    return Err(DiscordError::invalid_form(
                        &format!("embeds.{i}.fields.{j}"),
                        "A field has a name and a value.",
                    ));
                };
                total += name.chars().count() + value.chars().count();
            }
            kept.insert("fields".to_owned(), Value::Array(fields.clone()));
        }
        for nested in ["footer", "author", "image", "thumbnail", "provider"] {
            if let Some(value) = object.get(nested).filter(|v| v.is_object()) {
                total += value["text"].as_str().or(value["name"].as_str()).map_or(0, |t| t.chars().count());
                kept.insert(nested.to_owned(), value.clone());
            }
        }
        kept.insert("type".to_owned(), json!("rich"));
        checked.push(Value::Object(kept));
    }
    if total > MAX_EMBED_TEXT {
        return Err(DiscordError::invalid_form("embeds", "Embed size exceeds maximum size of 6000"));
    }
    Ok(checked)
}

/// The plain text of an embed, for clients that know nothing of embeds.
fn embed_text(embed: &Value) -> String {
    let mut lines = Vec::new();
    if let Some(author) = embed["author"]["name"].as_str() {
        lines.push(author.to_owned());
    }
    if let Some(title) = embed["title"].as_str() {
        lines.push(format!("**{title}**"));
    }
    if let Some(description) = embed["description"].as_str() {
        lines.push(description.to_owned());
    }
    for field in embed["fields"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{}: {}",
            field["name"].as_str().unwrap_or_default(),
            field["value"].as_str().unwrap_or_default()
        ));
    }
    if let Some(footer) = embed["footer"]["text"].as_str() {
        lines.push(footer.to_owned());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_get_a_text_fallback_and_keep_their_shape() {
        let body = MessageBody {
            content: Some("hi".into()),
            embeds: Some(vec![
                json!({"title": "T", "description": "D", "fields": [{"name": "a", "value": "b"}], "bogus": 1}),
            ]),
            ..Default::default()
        };
        let content = body.matrix_content(None, 0).unwrap();
        assert_eq!(content["body"], "hi\n\n**T**\nD\na: b");
        assert_eq!(content["nexus.discord"]["content"], "hi");
        assert_eq!(content["nexus.discord"]["embeds"][0]["title"], "T");
        assert!(content["nexus.discord"]["embeds"][0].get("bogus").is_none());
    }

    #[test]
    fn empty_oversized_and_wrongly_flagged_messages_are_refused() {
        assert!(MessageBody::default().matrix_content(None, 0).is_err());
        let long = MessageBody { content: Some("x".repeat(2001)), ..Default::default() };
        assert!(long.matrix_content(None, 0).is_err());
        let ephemeral = MessageBody { content: Some("x".into()), flags: Some(EPHEMERAL), ..Default::default() };
        assert!(ephemeral.matrix_content(None, 0).is_err());
        assert!(ephemeral.matrix_content(None, EPHEMERAL).is_ok());
        let huge = MessageBody { embeds: Some(vec![json!({"description": "x".repeat(4097)})]), ..Default::default() };
        assert!(huge.matrix_content(None, 0).is_err());
    }
}
