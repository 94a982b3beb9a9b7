//! Which events are searchable, and what of them: the Matrix half of the
//! index's documents.
//!
//! Messages (their `body`, the text of `formatted_body`, a file's name),
//! stickers, polls (question and answers), room names and topics, and
//! thread names. Encrypted events are ciphertext to the server and are
//! never indexed; nothing decrypted ever reaches the server to index.

use nexus_search::{Document, Has};
use serde_json::Value;

/// Event types that become documents.
pub const INDEXED_TYPES: &[&str] = &[
    "m.room.message",
    "m.sticker",
    "m.poll.start",
    "org.matrix.msc3381.poll.start",
    "m.room.name",
    "m.room.topic",
    "nexus.thread",
];

/// The event an edit replaces, if `content` is an edit (`m.replace`).
pub fn replaced_event(content: &Value) -> Option<ruma::OwnedEventId> {
    crate::rooms::relations::relation_of(content)
        .and_then(|(rel_type, parent)| (rel_type == "m.replace").then_some(parent))
}

/// The facts of an event a document is made from.
pub struct Source<'a> {
    pub event_id: &'a str,
    pub room_id: &'a str,
    pub kind: &'a str,
    pub sender: &'a str,
    pub ts: u64,
    pub ordering: u64,
    pub content: &'a Value,
}

/// The document for an event, with the text of its latest edit (`edit`:
/// the edit's id and its `m.new_content`); `None` when nothing in it is
/// searchable.
pub fn document(source: &Source<'_>, edit: Option<(&str, &Value)>) -> Option<Document> {
    if !INDEXED_TYPES.contains(&source.kind) || replaced_event(source.content).is_some() {
        return None;
    }
    let content = edit.map_or(source.content, |(_, new_content)| new_content);
    let mut doc = Document {
        event_id: source.event_id.to_owned(),
        room_id: source.room_id.to_owned(),
        sender: source.sender.to_owned(),
        kind: source.kind.to_owned(),
        ts: source.ts,
        ordering: source.ordering,
        edit: edit.map(|(id, _)| id.to_owned()),
        ..Document::default()
    };
    let text = |key: &str| content.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    match source.kind {
        "m.room.name" | "nexus.thread" => doc.name = text("name"),
        "m.room.topic" => doc.topic = text("topic"),
        "m.poll.start" | "org.matrix.msc3381.poll.start" => {
            doc.body = poll_text(content);
            doc.has.push(Has::Poll);
        }
        _ => {
            doc.body = message_text(content);
            doc.has = message_has(source.kind, content, &doc.body);
        }
    }
    // Mentions are of the original message: an edit's own `m.mentions`
    // names only whom the edit newly pings.
    if let Some(users) = source.content.pointer("/m.mentions/user_ids").and_then(Value::as_array) {
        doc.mentions = users.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    }
    doc.in_thread = source.content.pointer("/m.relates_to/rel_type").and_then(Value::as_str) == Some("m.thread");
    let empty = doc.body.trim().is_empty() && doc.name.trim().is_empty() && doc.topic.trim().is_empty();
    (!empty || !doc.has.is_empty()).then_some(doc)
}

/// `body`, a file name when it is not the body, and the words of
/// `formatted_body` that `body` lacks (markup stripped).
fn message_text(content: &Value) -> String {
    let get = |key: &str| content.get(key).and_then(Value::as_str).unwrap_or_default();
    let mut text = get("body").to_owned();
    let filename = get("filename");
    if !filename.is_empty() && filename != text {
        text.push('\n');
        text.push_str(filename);
    }
    if get("format") == "org.matrix.custom.html" {
        let formatted = strip_html(get("formatted_body"));
        let words = |s: &str| {
            s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect::<Vec<_>>()
        };
        if words(&formatted) != words(&text) {
            text.push('\n');
            text.push_str(&formatted);
        }
    }
    text
}

/// Text with its tags removed and the common entities decoded.
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'")
}

fn message_has(kind: &str, content: &Value, body: &str) -> Vec<Has> {
    let mut has = Vec::new();
    if kind == "m.sticker" {
        has.push(Has::Sticker);
        return has;
    }
    let lower = body.to_ascii_lowercase();
    if lower.contains("https://") || lower.contains("http://") {
        has.push(Has::Link);
    }
    let media = match content.get("msgtype").and_then(Value::as_str) {
        Some("m.image") => Some(Has::Image),
        Some("m.video") => Some(Has::Video),
        Some("m.audio") => Some(Has::Sound),
        Some("m.file") => None,
        _ => {
            if content.get("url").is_none() && content.get("file").is_none() {
                return with_embeds(has, content);
            }
            None
        }
    };
    // Every attachment is a file, as Discord counts them.
    has.push(Has::File);
    has.extend(media);
    with_embeds(has, content)
}

/// Rich embeds, as the bot API stores them.
fn with_embeds(mut has: Vec<Has>, content: &Value) -> Vec<Has> {
    if content.pointer("/nexus.discord/embeds").and_then(Value::as_array).is_some_and(|e| !e.is_empty()) {
        has.push(Has::Embed);
    }
    has
}

/// A poll's question and answers (stable and MSC3381 shapes).
fn poll_text(content: &Value) -> String {
    let poll = content.get("m.poll").or_else(|| content.get("org.matrix.msc3381.poll.start"));
    let Some(poll) = poll else {
        return content.get("m.text").and_then(Value::as_str).unwrap_or_default().to_owned();
    };
    let text_of = |v: &Value| -> String {
        if let Some(body) = v.get("body").and_then(Value::as_str) {
            return body.to_owned();
        }
        if let Some(s) = v.get("org.matrix.msc1767.text").and_then(Value::as_str) {
            return s.to_owned();
        }
        v.get("m.text")
            .and_then(Value::as_array)
            .and_then(|texts| texts.first())
            .and_then(|t| t.get("body"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut parts = vec![poll.get("question").map(text_of).unwrap_or_default()];
    if let Some(answers) = poll.get("answers").and_then(Value::as_array) {
        parts.extend(answers.iter().map(text_of));
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source<'a>(kind: &'a str, content: &'a Value) -> Source<'a> {
        Source { event_id: "$e", room_id: "!r", kind, sender: "@a:hs", ts: 1, ordering: 2, content }
    }

    #[test]
    fn messages_with_files_and_links() {
        let content = json!({"msgtype": "m.image", "body": "cat.png", "url": "mxc://hs/x"});
        let doc = document(&source("m.room.message", &content), None).unwrap();
        assert_eq!(doc.body, "cat.png");
        assert_eq!(doc.has, vec![Has::File, Has::Image]);
        let content =
            json!({"msgtype": "m.text", "body": "see https://example.org", "m.mentions": {"user_ids": ["@b:hs"]}});
        let doc = document(&source("m.room.message", &content), None).unwrap();
        assert_eq!(doc.has, vec![Has::Link]);
        assert_eq!(doc.mentions, vec!["@b:hs"]);
        let content = json!({"msgtype": "m.file", "body": "the report", "filename": "q3.pdf", "url": "mxc://hs/y"});
        assert_eq!(document(&source("m.room.message", &content), None).unwrap().body, "the report\nq3.pdf");
    }

    #[test]
    fn formatted_text_only_adds_what_body_lacks() {
        let content = json!({"body": "**bold** move", "format": "org.matrix.custom.html", "formatted_body": "<strong>bold</strong> move"});
        assert_eq!(document(&source("m.room.message", &content), None).unwrap().body, "**bold** move");
        let content = json!({"body": "a link", "format": "org.matrix.custom.html", "formatted_body": "a <a href='x'>link</a> &amp; more"});
        assert!(document(&source("m.room.message", &content), None).unwrap().body.ends_with("a  link  & more"));
    }

    #[test]
    fn edits_replace_text_but_are_not_documents() {
        let edit = json!({"body": "* new", "m.new_content": {"body": "new words"}, "m.relates_to": {"rel_type": "m.replace", "event_id": "$o"}});
        assert!(document(&source("m.room.message", &edit), None).is_none());
        assert_eq!(replaced_event(&edit).as_deref().map(|e| e.as_str()), Some("$o"));
        let original = json!({"body": "old words"});
        let new_content = json!({"body": "new words"});
        let doc = document(&source("m.room.message", &original), Some(("$edit", &new_content))).unwrap();
        assert_eq!(doc.body, "new words");
        assert_eq!(doc.edit.as_deref(), Some("$edit"));
    }

    #[test]
    fn polls_names_topics_threads_and_embeds() {
        let poll = json!({"m.poll": {"question": {"m.text": [{"body": "Lunch?"}]}, "answers": [{"m.id": "a", "m.text": [{"body": "Pizza"}]}]}});
        let doc = document(&source("m.poll.start", &poll), None).unwrap();
        assert_eq!(doc.body, "Lunch?\nPizza");
        assert_eq!(doc.has, vec![Has::Poll]);
        let name = json!({"name": "General"});
        assert_eq!(document(&source("m.room.name", &name), None).unwrap().name, "General");
        let topic = json!({"topic": "Chat here"});
        assert_eq!(document(&source("m.room.topic", &topic), None).unwrap().topic, "Chat here");
        let thread = json!({"body": "reply", "m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}});
        assert!(document(&source("m.room.message", &thread), None).unwrap().in_thread);
        let embed = json!({"body": "x", "nexus.discord": {"embeds": [{"title": "T"}]}});
        assert_eq!(document(&source("m.room.message", &embed), None).unwrap().has, vec![Has::Embed]);
    }

    #[test]
    fn nothing_searchable_is_no_document() {
        assert!(document(&source("m.room.encrypted", &json!({"ciphertext": "x"})), None).is_none());
        assert!(document(&source("m.reaction", &json!({})), None).is_none());
        assert!(document(&source("m.room.name", &json!({})), None).is_none());
        assert!(document(&source("m.room.message", &json!({"body": 5})), None).is_none());
    }
}
