//! Attachments: files a bot sends are uploaded to the homeserver's media
//! repository as the bot; files in Matrix messages reach bots as Discord
//! attachments whose URLs look like Discord's CDN —
//! `{public_url}/attachments/{channel}/{attachment}/{filename}?ex=&is=&hm=`
//! — signed (HMAC-SHA256 over the ids and the expiry, keyed from the
//! `hs_token`) and valid for a day, as Discord's are. The bridge serves
//! them from the media repository; an unsigned or expired URL is refused,
//! so a file of a private room is never public.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Bridge;
use crate::matrix::enc;
use crate::snowflake::{self, Kind, now_ms};

/// How long a signed URL works, in seconds (Discord's is a day).
const URL_LIFETIME_SECS: u64 = 24 * 3600;

/// The Matrix `msgtype` for a file of `content_type`.
pub fn msgtype(content_type: &str) -> &'static str {
    match content_type.split('/').next() {
        Some("image") => "m.image",
        Some("video") => "m.video",
        Some("audio") => "m.audio",
        _ => "m.file",
    }
}

/// Whether a Matrix message carries a file.
pub fn is_media(content: &Value) -> bool {
    matches!(content["msgtype"].as_str(), Some("m.image" | "m.video" | "m.audio" | "m.file"))
        && content["url"].as_str().is_some_and(|u| u.starts_with("mxc://"))
}

impl Bridge {
    fn url_mac(&self, channel: u64, attachment: u64, expires: u64) -> Hmac<Sha256> {
        let key = Sha256::digest(format!("nexus-bridge attachments\0{}", self.config.hs_token).as_bytes());
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(format!("{channel}/{attachment}/{expires}").as_bytes());
        mac
    }

    /// A signed URL for an attachment, valid for a day.
    fn signed_url(&self, channel: u64, attachment: u64, filename: &str) -> String {
        let issued = now_ms() / 1000;
        let expires = issued + URL_LIFETIME_SECS;
        let signature = hex::encode(self.url_mac(channel, attachment, expires).finalize().into_bytes());
        format!(
            "{}/attachments/{channel}/{attachment}/{}?ex={expires:x}&is={issued:x}&hm={signature}",
            self.config.public_url.trim_end_matches('/'),
            enc(filename)
        )
    }

    /// One Discord attachment for a file (an `mxc://` URI).
    async fn attachment(&self, channel: u64, file: &Value) -> anyhow::Result<Option<Value>> {
        let Some(mxc) = file["mxc"].as_str() else { return Ok(None) };
        let id = self.snowflakes.of(Kind::Attachment, mxc).await?;
        let filename = file["filename"].as_str().unwrap_or("file");
        let url = self.signed_url(channel, id, filename);
        let mut attachment = json!({
            "id": id.to_string(),
            "filename": filename,
            "size": file["size"].as_u64().unwrap_or(0),
            "url": url,
            "proxy_url": url,
            "content_type": file["content_type"],
        });
        for field in ["width", "height", "description"] {
            if !file[field].is_null() {
                attachment[field] = file[field].clone();
            }
        }
        Ok(Some(attachment))
    }

    /// What `shapes::message` cannot tell alone: attachments, and for a
    /// webhook's message its `webhook_id` and the name it posted under.
    pub(crate) async fn finish_message(&self, message: &mut Value, event: &Value) -> anyhow::Result<()> {
        let sender = event["sender"].as_str().unwrap_or_default();
        if let Some(webhook) = self.webhook_of_user(sender) {
            message["webhook_id"] = json!(webhook.to_string());
            let username = event["content"]["nexus.discord"]["username"].as_str();
            message["author"] = self.webhook_author(webhook, username).await?;
        }
        self.fill_attachments(message, &event["content"]).await
    }

    /// Fills a message's `attachments` (and, for a person's file with a
    /// caption, its `content`) from the Matrix content it came from.
    async fn fill_attachments(&self, message: &mut Value, content: &Value) -> anyhow::Result<()> {
        let channel = message["channel_id"].as_str().and_then(snowflake::parse).unwrap_or(0);
        let files: Vec<Value> = match content["nexus.discord"]["attachments"].as_array() {
            // A bot's message: every file it sent, listed on the first part.
            Some(files) => files.clone(),
            None if is_media(content) => {
                let filename = content["filename"].as_str().or(content["body"].as_str()).unwrap_or("file");
                // A caption is a body beside a distinct file name (Matrix 1.10).
                if content["filename"].as_str().is_none_or(|f| Some(f) == content["body"].as_str())
                    && message["content"] == content["body"]
                {
                    message["content"] = json!("");
                }
                vec![json!({
                    "mxc": content["url"],
                    "filename": filename,
                    "size": content["info"]["size"],
                    "content_type": content["info"]["mimetype"],
                    "width": content["info"]["w"],
                    "height": content["info"]["h"],
                })]
            }
            None => return Ok(()),
        };
        let mut attachments = Vec::with_capacity(files.len());
        for file in &files {
            attachments.extend(self.attachment(channel, file).await?);
        }
        message["attachments"] = Value::Array(attachments);
        Ok(())
    }
}

#[derive(Deserialize)]
pub struct Signature {
    #[serde(default)]
    ex: String,
    #[serde(default)]
    hm: String,
}

/// `GET /attachments/{channel}/{attachment}/{filename}`: the file, if the
/// URL's signature holds and it has not expired.
pub async fn serve(
    State(bridge): State<Arc<Bridge>>,
    Path((channel, attachment, _filename)): Path<(String, String, String)>,
    Query(signature): Query<Signature>,
) -> Response {
    let refused = || (StatusCode::NOT_FOUND, "This content is no longer available.").into_response();
    let (Some(channel), Some(attachment), Ok(expires)) =
        (snowflake::parse(&channel), snowflake::parse(&attachment), u64::from_str_radix(&signature.ex, 16))
    else {
        return refused();
    };
    let Ok(given) = hex::decode(&signature.hm) else { return refused() };
    if expires < now_ms() / 1000 || bridge.url_mac(channel, attachment, expires).verify_slice(&given).is_err() {
        return refused();
    }
    let mxc = match bridge.snowflakes.matrix_id(Kind::Attachment, attachment).await {
        Ok(Some(mxc)) => mxc,
        Ok(None) => return refused(),
        Err(e) => {
            tracing::warn!(error = %e, "attachments: reading the snowflake map failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    match bridge.homeserver.download(&mxc).await {
        Ok((content_type, bytes)) => {
            let content_type = HeaderValue::from_str(&content_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
            ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Err(_) => refused(),
    }
}
