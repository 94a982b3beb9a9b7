//! Message bodies as bots send them: JSON, or `multipart/form-data` with a
//! `payload_json` part and `files[n]` parts (how discord.py and discord.js
//! send files). Files are uploaded to the media repository as the bot.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use bytes::Bytes;

use super::outgoing::{MessageBody, Uploaded};
use super::{DiscordError, DiscordJson};
use crate::Bridge;
use crate::matrix::As;

/// Files per message (Discord's limit).
const MAX_FILES: usize = 10;
/// The most a message's files may weigh together; the homeserver's upload
/// limit applies to each as well.
pub const MAX_BODY: usize = 100 * 1024 * 1024 + 64 * 1024;

pub struct File {
    /// The `n` of `files[n]`.
    index: usize,
    filename: String,
    content_type: String,
    bytes: Bytes,
}

/// A message body and its files.
pub struct MessageForm {
    pub body: MessageBody,
    pub files: Vec<File>,
}

fn too_large() -> DiscordError {
    DiscordError::new(StatusCode::PAYLOAD_TOO_LARGE, 40005, "Request entity too large")
}

fn bad_form(problem: &str) -> DiscordError {
    DiscordError::invalid_form("body", problem)
}

impl<S: Send + Sync> FromRequest<S> for MessageForm {
    type Rejection = DiscordError;

    async fn from_request(request: Request, state: &S) -> Result<Self, DiscordError> {
        let multipart = request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if !multipart {
            let DiscordJson(body) = DiscordJson::<MessageBody>::from_request(request, state).await?;
            return Ok(MessageForm { body, files: Vec::new() });
        }
        let mut form =
            Multipart::from_request(request, state).await.map_err(|_| bad_form("Invalid multipart body."))?;
        let mut body: Option<MessageBody> = None;
        let mut files = Vec::new();
        loop {
            let field = match form.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                Err(_) => return Err(bad_form("Invalid multipart body.")),
            };
            let name = field.name().unwrap_or_default().to_owned();
            if name == "payload_json" {
                let text = field.text().await.map_err(|_| bad_form("Invalid multipart body."))?;
                let value: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
                    DiscordError::new(StatusCode::BAD_REQUEST, 50109, "The request body contains invalid JSON.")
                })?;
                body = Some(
                    serde_json::from_value(value)
                        .map_err(|e| DiscordError::invalid_form("payload_json", &e.to_string()))?,
                );
            } else if let Some(index) = file_index(&name) {
                if files.len() == MAX_FILES {
                    return Err(DiscordError::invalid_form("files", "Must be 10 or fewer in length."));
                }
                let filename = field.file_name().unwrap_or("file").to_owned();
                let content_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
                let bytes = match field.bytes().await {
                    Ok(bytes) => bytes,
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                    Err(_) => return Err(bad_form("Invalid multipart body.")),
                };
                files.push(File { index, filename, content_type, bytes });
            }
            // Other parts (`content`, `nonce` outside payload_json) are old
            // forms no current library sends.
        }
        Ok(MessageForm { body: body.unwrap_or_default(), files })
    }
}

/// `files[3]` → 3; `file` (the old single-file name) → 0.
fn file_index(name: &str) -> Option<usize> {
    if name == "file" {
        return Some(0);
    }
    name.strip_prefix("files[")?.strip_suffix(']')?.parse().ok()
}

impl Bridge {
    /// Uploads a message's files as the bot, naming and describing each as
    /// the body's `attachments` say.
    pub(super) async fn upload_files(
        &self,
        bot: &str,
        form: MessageForm,
    ) -> Result<(MessageBody, Vec<Uploaded>), DiscordError> {
        let mut uploaded = Vec::with_capacity(form.files.len());
        for file in form.files {
            let described = form
                .body
                .attachments
                .iter()
                .flatten()
                .find(|a| crate::snowflake::from_json(&a["id"]) == Some(file.index as u64));
            let filename = described
                .and_then(|a| a["filename"].as_str())
                .filter(|f| !f.is_empty())
                .unwrap_or(&file.filename)
                .to_owned();
            let description = described.and_then(|a| a["description"].as_str()).map(str::to_owned);
            let size = file.bytes.len();
            let mxc = self.homeserver.upload(As::Bot(bot), &filename, &file.content_type, file.bytes.to_vec()).await?;
            uploaded.push(Uploaded { mxc, filename, content_type: file.content_type, size, description });
        }
        Ok((form.body, uploaded))
    }
}

#[cfg(test)]
mod tests {
    use super::file_index;

    #[test]
    fn file_parts_are_numbered() {
        assert_eq!(file_index("files[0]"), Some(0));
        assert_eq!(file_index("files[7]"), Some(7));
        assert_eq!(file_index("file"), Some(0));
        assert_eq!(file_index("payload_json"), None);
        assert_eq!(file_index("files[x]"), None);
    }
}
