//! Media across servers (spec: server-server API, "Content Repository"):
//! other servers' media fetched through `/_matrix/federation/v1/media/
//! download` (a `multipart/mixed` answer: metadata, then the content or a
//! redirect) and cached here like an upload; this server's media served to
//! others in the same form.

use bytes::Bytes;
use ruma::{ServerName, UserId};

use super::{Content, Media, Record};
use crate::rooms::encode_path;
use crate::values::{decode, now_ms};
use crate::{Error, Result};
use nexus_storage::catalog::MEDIA;

/// The boundary of the multipart answers this server writes.
pub const BOUNDARY: &str = "nexus-media-boundary-7f3a9c";

/// A remote media item's key in the media map: `server/media_id` (local
/// ids never contain a `/`).
fn remote_key(server: &ServerName, media_id: &str) -> String {
    format!("{server}/{media_id}")
}

impl Media {
    /// Another server's media: cached, or fetched from it now.
    pub(super) async fn remote_content(&self, server: &ServerName, media_id: &str) -> Result<Content> {
        if media_id.is_empty() || media_id.contains('/') {
            return Err(Error::NotFound("no such media".to_owned()));
        }
        let key = remote_key(server, media_id);
        if let Some(bytes) = self.store.get(&MEDIA, key.as_bytes()).await?
            && let Record { sha256: Some(sha256), size, content_type, filename, quarantined_by, .. } =
                decode(&MEDIA, &bytes)?
        {
            if quarantined_by.is_some() {
                return Err(Error::NotFound("no such media".to_owned()));
            }
            let path = self.content_path(&sha256);
            self.contents.fetch(&sha256, &path).await?;
            return Ok(Content {
                path,
                size,
                content_type: content_type.unwrap_or_else(|| "application/octet-stream".to_owned()),
                filename,
            });
        }
        let client = self.federation.as_ref().ok_or_else(|| Error::NotFound("federation is off".to_owned()))?;
        let path = format!("/_matrix/federation/v1/media/download/{}", encode_path(media_id));
        let response = client.get_raw(server, &path).await.map_err(Error::from)?;
        let boundary = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(boundary_of)
            .ok_or_else(|| Error::Remote(format!("{server} did not answer with multipart media")))?;
        if response.content_length().is_some_and(|len| len > self.settings.max_upload_bytes + 64 * 1024) {
            return Err(Error::TooLarge("the remote media is larger than this server accepts".to_owned()));
        }
        // Bounded by the upload limit; the parts are split in memory.
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| Error::Remote(format!("reading media: {e}")))? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > self.settings.max_upload_bytes + 64 * 1024 {
                return Err(Error::TooLarge("the remote media is larger than this server accepts".to_owned()));
            }
        }
        let parts = split_multipart(&body, &boundary)
            .ok_or_else(|| Error::Remote(format!("{server} sent malformed multipart media")))?;
        let (headers, content) = parts.get(1).ok_or_else(|| Error::Remote("the media part is missing".to_owned()))?;
        if header(headers, "location").is_some() {
            // Redirects to a CDN are allowed by the spec; following them is
            // not built yet.
            return Err(Error::Remote(format!("{server} redirected the media elsewhere")));
        }
        let content_type = header(headers, "content-type");
        let filename = header(headers, "content-disposition").and_then(|d| filename_of(&d));
        let chunk: std::result::Result<Bytes, std::convert::Infallible> = Ok(Bytes::copy_from_slice(content));
        let (sha256, size) = self.receive(futures::stream::iter([chunk])).await?;
        let uploader = UserId::parse(format!("@_media:{server}")).map_err(|e| Error::Internal(e.to_string()))?;
        let record = Record {
            sha256: Some(sha256.clone()),
            content_type: content_type.clone(),
            filename: filename.clone(),
            size,
            uploader,
            created_ts: now_ms(),
            quarantined_by: None,
            safe_from_quarantine: false,
        };
        self.store.write(self.record_batch(&key, &record)).await?;
        Ok(Content {
            path: self.content_path(&sha256),
            size,
            content_type: content_type.unwrap_or_else(|| "application/octet-stream".to_owned()),
            filename,
        })
    }
}

fn boundary_of(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.trim().split_once('=')?;
        name.eq_ignore_ascii_case("boundary").then(|| value.trim_matches('"').to_owned())
    })
}

/// A part's headers (lower-cased names) and content.
type Part<'a> = (Vec<(String, String)>, &'a [u8]);

/// The parts of a multipart body.
fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut positions = Vec::new();
    let mut at = 0;
    while let Some(found) = find(&body[at..], delimiter) {
        positions.push(at + found);
        at += found + delimiter.len();
    }
    let mut parts = Vec::new();
    for pair in positions.windows(2) {
        let mut part = &body[pair[0] + delimiter.len()..pair[1]];
        part = part.strip_prefix(b"\r\n").unwrap_or(part);
        part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let split = find(part, b"\r\n\r\n");
        let (head, content) = match split {
            Some(i) => (&part[..i], &part[i + 4..]),
            None => (&[][..], part.strip_prefix(b"\r\n").unwrap_or(part)),
        };
        let headers = std::str::from_utf8(head)
            .ok()?
            .lines()
            .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())))
            .collect();
        parts.push((headers, content));
    }
    (!parts.is_empty()).then_some(parts)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

fn filename_of(disposition: &str) -> Option<String> {
    disposition.split(';').find_map(|p| {
        let (name, value) = p.trim().split_once('=')?;
        (name.eq_ignore_ascii_case("filename")).then(|| value.trim_matches('"').to_owned())
    })
}

/// The head and tail around a file's bytes in this server's multipart
/// answer.
pub fn multipart_frame(content_type: &str, filename: Option<&str>) -> (String, String) {
    let disposition = match filename {
        Some(name) => format!("Content-Disposition: attachment; filename=\"{}\"\r\n", name.replace('"', "")),
        None => String::new(),
    };
    let head = format!(
        "--{BOUNDARY}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n--{BOUNDARY}\r\nContent-Type: {content_type}\r\n{disposition}\r\n"
    );
    (head, format!("\r\n--{BOUNDARY}--\r\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_multipart_answers_parse_back() {
        let (head, tail) = multipart_frame("image/png", Some("cat.png"));
        let body = [head.as_bytes(), b"\x89PNG\r\n\r\nbytes", tail.as_bytes()].concat();
        let parts = split_multipart(&body, BOUNDARY).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].1, b"{}");
        assert_eq!(parts[1].1, b"\x89PNG\r\n\r\nbytes");
        assert_eq!(header(&parts[1].0, "content-type").as_deref(), Some("image/png"));
        assert_eq!(filename_of(&header(&parts[1].0, "content-disposition").unwrap()).as_deref(), Some("cat.png"));
        assert_eq!(boundary_of("multipart/mixed; boundary=\"abc\"").as_deref(), Some("abc"));
    }
}
