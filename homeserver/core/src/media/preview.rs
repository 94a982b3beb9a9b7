//! URL previews (`/_matrix/client/v1/media/preview_url`): off unless the
//! operator turns them on (fetching a URL tells its owner that someone
//! here looked at it). When on, every address a URL resolves to — also
//! after each redirect — is checked against a blocklist (private and
//! loopback ranges by default, so previews cannot probe the server's own
//! network), the connection goes to the checked address, and the page is
//! read up to a size and time limit. The answer carries the page's
//! OpenGraph fields; an image (the page's `og:image`, or the URL itself) is
//! stored as media and named by its `mxc://` URI.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::Media;
use crate::outbound::AddressPolicy;
use crate::{Error, Result};

const MAX_REDIRECTS: usize = 5;

impl Media {
    /// The preview of `url`.
    pub async fn preview(&self, url: &str) -> Result<Value> {
        if !self.settings.url_previews {
            return Err(Error::Unrecognized("URL previews are disabled on this server".to_owned()));
        }
        let deadline = Instant::now() + Duration::from_secs(self.settings.url_preview_timeout_secs.max(1));
        let (content_type, body) = self.fetch(url, deadline).await?;
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence.starts_with("image/") {
            return self.image_preview(&essence, body).await;
        }
        if essence != "text/html" && essence != "application/xhtml+xml" {
            return Ok(json!({}));
        }
        let html = String::from_utf8_lossy(&body);
        let mut preview = opengraph(&html);
        if let Some(image) = preview.remove("og:image").and_then(|v| v.as_str().map(str::to_owned)) {
            let absolute = resolve_url(url, &image);
            if let Some(absolute) = absolute
                && let Ok((image_type, bytes)) = self.fetch(&absolute, deadline).await
                && image_type.starts_with("image/")
                && let Ok(Value::Object(image)) = self.image_preview(&image_type, bytes).await
            {
                preview.extend(image);
            }
        }
        Ok(Value::Object(preview))
    }

    async fn image_preview(&self, content_type: &str, body: Bytes) -> Result<Value> {
        let size = body.len();
        let dimensions = image::ImageReader::new(std::io::Cursor::new(&body))
            .with_guessed_format()
            .ok()
            .and_then(|r| r.into_dimensions().ok());
        let chunk: std::result::Result<Bytes, std::convert::Infallible> = Ok(body);
        let (sha256, stored) = self.receive(futures::stream::iter([chunk])).await?;
        let media_id = crate::values::random_string(crate::values::ALPHANUMERIC, 24);
        let uploader = ruma::UserId::parse(format!("@_preview:{}", self.server_name))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let record = super::Record {
            sha256: Some(sha256),
            content_type: Some(content_type.to_owned()),
            filename: None,
            size: stored,
            uploader,
            created_ts: crate::values::now_ms(),
            quarantined_by: None,
            safe_from_quarantine: false,
        };
        self.store.write(self.record_batch(&media_id, &record)).await?;
        let mut preview = json!({
            "og:image": self.mxc(&media_id),
            "og:image:type": content_type,
            "matrix:image:size": size,
        });
        if let Some((width, height)) = dimensions {
            preview["og:image:width"] = json!(width);
            preview["og:image:height"] = json!(height);
        }
        Ok(preview)
    }

    /// GETs a URL, checking every address it (and each redirect) resolves
    /// to, within the size and time limits.
    async fn fetch(&self, url: &str, deadline: Instant) -> Result<(String, Bytes)> {
        let policy = AddressPolicy::new(&self.settings.url_preview_blocked_ip_ranges, &[]);
        let mut current = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let parsed = reqwest::Url::parse(&current).map_err(|e| Error::InvalidParam(format!("url: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(Error::InvalidParam("only http and https URLs can be previewed".to_owned()));
            }
            let host =
                parsed.host_str().ok_or_else(|| Error::InvalidParam("the URL has no host".to_owned()))?.to_owned();
            let port = parsed.port_or_known_default().unwrap_or(80);
            let lookup_host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
            let addresses: Vec<SocketAddr> =
                tokio::time::timeout_at(deadline, tokio::net::lookup_host((lookup_host.as_str(), port)))
                    .await
                    .map_err(|_| Error::BadRequest("the URL's host did not resolve in time".to_owned()))?
                    .map_err(|e| {
                        tracing::info!(%host, error = %e, "a previewed URL's host does not resolve");
                        Error::BadRequest("the URL's host does not resolve".to_owned())
                    })?
                    .collect();
            let Some(address) = addresses.first().copied() else {
                return Err(Error::BadRequest("the URL's host does not resolve".to_owned()));
            };
            if addresses.iter().any(|a| !policy.permits(a.ip())) {
                return Err(Error::Forbidden("that address may not be previewed".to_owned()));
            }
            // Connect to the address just checked, not to whatever a second
            // lookup might return.
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .resolve(&lookup_host, address)
                .user_agent(concat!("Nexus/", env!("CARGO_PKG_VERSION"), " (URL preview)"))
                .build()
                .map_err(|e| Error::Internal(format!("preview client: {e}")))?;
            let response = tokio::time::timeout_at(deadline, client.get(parsed.clone()).send())
                .await
                .map_err(|_| Error::BadRequest("the URL did not answer in time".to_owned()))?
                .map_err(|e| {
                    // Why it failed (refused, reset, TLS) stays in the log.
                    tracing::info!(url = %parsed, error = %e, "a previewed URL could not be fetched");
                    Error::BadRequest("the URL could not be fetched".to_owned())
                })?;
            if response.status().is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| Error::BadRequest("a redirect without a location".to_owned()))?;
                current =
                    parsed.join(location).map_err(|e| Error::BadRequest(format!("bad redirect: {e}")))?.to_string();
                continue;
            }
            if !response.status().is_success() {
                return Err(Error::BadRequest(format!("the URL answered {}", response.status())));
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned();
            let max = self.settings.url_preview_max_bytes;
            let mut body = Vec::new();
            let mut response = response;
            while let Some(chunk) = tokio::time::timeout_at(deadline, response.chunk())
                .await
                .map_err(|_| Error::BadRequest("the URL did not answer in time".to_owned()))?
                .map_err(|_| Error::BadRequest("the URL's answer could not be read".to_owned()))?
            {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > max {
                    return Err(Error::TooLarge(format!("previews read at most {max} bytes")));
                }
            }
            return Ok((content_type, Bytes::from(body)));
        }
        Err(Error::BadRequest("too many redirects".to_owned()))
    }
}

/// `og:*` meta tags and the title of an HTML page.
fn opengraph(html: &str) -> Map<String, Value> {
    let mut found = Map::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<meta") {
        let start = at + start;
        let Some(end) = lower[start..].find('>') else { break };
        let tag = &html[start..start + end];
        at = start + end;
        let key = attribute(tag, "property").or_else(|| attribute(tag, "name"));
        if let (Some(key), Some(content)) = (key, attribute(tag, "content"))
            && (key.starts_with("og:") || key == "description")
        {
            found.entry(key).or_insert(Value::String(content));
        }
    }
    if !found.contains_key("og:description")
        && let Some(description) = found.remove("description")
    {
        found.insert("og:description".to_owned(), description);
    }
    found.remove("description");
    if !found.contains_key("og:title")
        && let (Some(open), Some(close)) = (lower.find("<title"), lower.find("</title>"))
        && let Some(gt) = lower[open..].find('>')
        && open + gt < close
    {
        let title = decode_entities(html[open + gt + 1..close].trim());
        if !title.is_empty() {
            found.insert("og:title".to_owned(), Value::String(title));
        }
    }
    found
}

/// The value of `name="…"` (or `'…'`) in a tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower[at..].find(name) {
        let start = at + found;
        at = start + name.len();
        let preceded = start == 0 || lower.as_bytes()[start - 1].is_ascii_whitespace();
        let rest = lower[at..].trim_start();
        if !preceded || !rest.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - rest.len() + 1;
        let value = tag[value_start..].trim_start();
        let quote = value.chars().next()?;
        return if quote == '"' || quote == '\'' {
            value[1..].find(quote).map(|end| decode_entities(&value[1..1 + end]))
        } else {
            Some(decode_entities(value.split_whitespace().next().unwrap_or_default().trim_end_matches('/')))
        };
    }
    None
}

fn decode_entities(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn resolve_url(base: &str, reference: &str) -> Option<String> {
    reqwest::Url::parse(base).ok()?.join(reference).ok().map(|u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opengraph_fields_and_the_title_are_read() {
        let html = r#"<html><head><title>Fallback &amp; title</title>
            <meta property="og:title" content="The &quot;real&quot; title">
            <META content='A description' name=description>
            <meta property="og:image" content="/cat.png" /></head></html>"#;
        let found = opengraph(html);
        assert_eq!(found["og:title"], "The \"real\" title");
        assert_eq!(found["og:description"], "A description");
        assert_eq!(found["og:image"], "/cat.png");
        let untitled = opengraph("<title>Only a title</title>");
        assert_eq!(untitled["og:title"], "Only a title");
    }
}
