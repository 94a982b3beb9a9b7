//! Content repository ("media") helpers: a byte-oriented client for the
//! upload/download/thumbnail endpoints, `mxc://` URIs, `Content-Disposition`
//! parsing, deterministic streamed test data with a streaming digest, and a
//! resident-memory sampler for the server process.
//!
//! Unlike [`crate::Api::send`], [`MediaClient::send`] accepts 5xx answers:
//! the spec's `504 M_NOT_YET_UPLOADED` is a 5xx a scenario expects.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::Stream;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::client::{Session, enc};
use crate::homeserver::Homeserver;

/// `/_matrix/client/v1/media`: the authenticated download endpoints (v1.11).
pub const MEDIA_V1: &str = "/_matrix/client/v1/media";
/// `/_matrix/media/v3`: upload, and the deprecated unauthenticated downloads.
pub const MEDIA_V3: &str = "/_matrix/media/v3";

/// An `mxc://<server-name>/<media-id>` URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mxc {
    pub server_name: String,
    pub media_id: String,
}

impl Mxc {
    /// Parses an `mxc://` URI, asserting the shape the spec gives it (a
    /// server name and a media id of `A-Za-z0-9_-` only).
    #[track_caller]
    pub fn parse(uri: &str) -> Mxc {
        let rest = uri.strip_prefix("mxc://").unwrap_or_else(|| panic!("not an mxc:// URI: {uri:?}"));
        let (server_name, media_id) =
            rest.split_once('/').unwrap_or_else(|| panic!("an mxc URI without a media id: {uri:?}"));
        assert!(!server_name.is_empty(), "an mxc URI without a server name: {uri:?}");
        assert!(
            !media_id.is_empty() && media_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "a media id must consist of A-Za-z0-9, _ and - only: {uri:?}"
        );
        Mxc { server_name: server_name.to_owned(), media_id: media_id.to_owned() }
    }

    /// `{serverName}/{mediaId}`, percent-encoded, for request paths.
    pub fn path(&self) -> String {
        format!("{}/{}", enc(&self.server_name), enc(&self.media_id))
    }
}

impl fmt::Display for Mxc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mxc://{}/{}", self.server_name, self.media_id)
    }
}

/// An answer from a media endpoint: status, headers and the raw body (plus
/// the body as JSON when it is JSON, e.g. for errors).
#[derive(Clone)]
pub struct MediaReply {
    pub request: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub json: Value,
}

impl fmt::Debug for MediaReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = if self.json.is_null() {
            format!("<{} bytes of {}>", self.body.len(), self.header("content-type").unwrap_or("?"))
        } else {
            self.json.to_string()
        };
        write!(f, "{} -> {} {}", self.request, self.status, shown)
    }
}

impl MediaReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn errcode(&self) -> Option<&str> {
        self.json.get("errcode").and_then(Value::as_str)
    }

    /// Asserts a 200 and returns the body bytes.
    #[track_caller]
    pub fn expect_bytes(&self) -> &[u8] {
        assert_eq!(self.status, 200, "unexpected status: {self:?}");
        &self.body
    }

    /// Asserts a 200 with a JSON object body and returns it.
    #[track_caller]
    pub fn expect_ok(&self) -> &Value {
        assert_eq!(self.status, 200, "unexpected status: {self:?}");
        assert!(self.json.is_object(), "a 200 without a JSON object body: {self:?}");
        &self.json
    }

    /// Asserts a standard error response with this status and errcode.
    #[track_caller]
    pub fn expect_error(&self, status: u16, errcode: &str) {
        assert_eq!(self.status, status, "unexpected status: {self:?}");
        assert!(self.json.get("error").is_some_and(Value::is_string), "no string error: {self:?}");
        assert_eq!(self.errcode(), Some(errcode), "unexpected errcode: {self:?}");
    }

    /// Asserts a standard error response with this status (any errcode).
    #[track_caller]
    pub fn expect_error_status(&self, status: u16) {
        assert_eq!(self.status, status, "unexpected status: {self:?}");
        assert!(self.json.get("errcode").is_some_and(Value::is_string), "no string errcode: {self:?}");
        assert!(self.json.get("error").is_some_and(Value::is_string), "no string error: {self:?}");
    }

    /// The `content_uri` of a 200 upload answer.
    #[track_caller]
    pub fn content_uri(&self) -> Mxc {
        let uri = self.expect_ok()["content_uri"]
            .as_str()
            .unwrap_or_else(|| panic!("no string content_uri: {self:?}"))
            .to_owned();
        Mxc::parse(&uri)
    }

    /// The parsed `Content-Disposition` header (asserting it is present).
    #[track_caller]
    pub fn disposition(&self) -> Disposition {
        let raw = self.header("content-disposition").unwrap_or_else(|| panic!("no Content-Disposition: {self:?}"));
        Disposition::parse(raw).unwrap_or_else(|| panic!("unparseable Content-Disposition {raw:?}: {self:?}"))
    }

    /// The `Content-Type` essence (no parameters), lower-cased.
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
    }
}

/// A `Content-Disposition` value (RFC 6266): the type and the file name,
/// from `filename*` (RFC 8187, `UTF-8''` percent-encoded) when present,
/// otherwise from `filename` (quoted or a token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disposition {
    /// `inline` or `attachment`, lower-cased.
    pub kind: String,
    pub filename: Option<String>,
}

impl Disposition {
    pub fn parse(raw: &str) -> Option<Disposition> {
        let mut parts = split_params(raw).into_iter();
        let kind = parts.next()?.trim().to_ascii_lowercase();
        if kind.is_empty() || kind.contains('=') {
            return None;
        }
        let (mut plain, mut extended) = (None, None);
        for part in parts {
            let (name, value) = part.split_once('=')?;
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "filename" => plain = Some(unquote(value)?),
                "filename*" => extended = Some(decode_ext_value(value)?),
                _ => {}
            }
        }
        Some(Disposition { kind, filename: extended.or(plain) })
    }
}

/// Splits on `;` outside quoted strings.
fn split_params(raw: &str) -> Vec<String> {
    let (mut parts, mut current, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in raw.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                current.push(c);
                escaped = true;
            }
            '"' => {
                current.push(c);
                quoted = !quoted;
            }
            ';' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        parts.push(current);
    }
    parts
}

fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else { return Some(value.to_owned()) };
    let inner = inner.strip_suffix('"')?;
    let (mut out, mut chars) = (String::new(), inner.chars());
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

/// RFC 8187 `ext-value`: `charset'[language]'pct-encoded`; UTF-8 only.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut pieces = value.splitn(3, '\'');
    let charset = pieces.next()?;
    let _language = pieces.next()?;
    let encoded = pieces.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let bytes = encoded.as_bytes();
    let (mut out, mut i) = (Vec::with_capacity(bytes.len()), 0);
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A client for the media endpoints, with or without an access token.
#[derive(Clone)]
pub struct MediaClient {
    http: reqwest::Client,
    base_url: String,
    token: Option<String>,
}

impl MediaClient {
    /// A client acting as `session` (bearer token in the header, never in
    /// the query string, as the spec asks of clients).
    pub fn new(session: &Session) -> MediaClient {
        MediaClient::with_token(session.api.base_url(), Some(session.access_token.clone()))
    }

    /// A client without an access token.
    pub fn anonymous(hs: &Homeserver) -> MediaClient {
        MediaClient::with_token(&hs.base_url(), None)
    }

    pub fn with_token(base_url: &str, token: Option<String>) -> MediaClient {
        // Generous: the large-upload scenario streams tens of megabytes
        // through a debug build.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(600)).build().expect("build an HTTP client");
        MediaClient { http, base_url: base_url.trim_end_matches('/').to_owned(), token }
    }

    /// A request to `path` (absolute, starting with `/_matrix`), carrying
    /// the access token if this client has one.
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base_url));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request and reads the whole answer. Panics on transport
    /// errors only; any status (5xx included) is returned.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> MediaReply {
        let request = request.build().expect("build the request");
        let what = match request.url().query() {
            Some(q) => format!("{} {}?{q}", request.method(), request.url().path()),
            None => format!("{} {}", request.method(), request.url().path()),
        };
        let response =
            self.http.execute(request).await.unwrap_or_else(|e| panic!("{what}: no answer from the server: {e:?}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_else(|e| panic!("{what}: could not read the body: {e:?}")).to_vec();
        let is_json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        let json = if is_json { serde_json::from_slice(&body).unwrap_or(Value::Null) } else { Value::Null };
        MediaReply { request: what, status, headers, body, json }
    }

    fn upload_query(filename: Option<&str>) -> String {
        filename.map(|name| format!("?filename={}", enc(name))).unwrap_or_default()
    }

    fn with_type(request: reqwest::RequestBuilder, content_type: Option<&str>) -> reqwest::RequestBuilder {
        match content_type {
            Some(kind) => request.header("content-type", kind),
            None => request,
        }
    }

    /// `POST /_matrix/media/v3/upload[?filename=]` with these bytes.
    pub async fn upload(&self, bytes: Vec<u8>, content_type: Option<&str>, filename: Option<&str>) -> MediaReply {
        let path = format!("{MEDIA_V3}/upload{}", Self::upload_query(filename));
        let request = Self::with_type(self.raw(Method::POST, &path), content_type).body(bytes);
        self.send(request).await
    }

    /// Uploads and asserts success; returns the `mxc://` URI.
    pub async fn upload_ok(&self, bytes: Vec<u8>, content_type: &str, filename: Option<&str>) -> Mxc {
        self.upload(bytes, Some(content_type), filename).await.content_uri()
    }

    /// `POST /_matrix/media/v3/upload` with a streamed body: chunked
    /// transfer encoding, no `Content-Length`.
    pub async fn upload_stream<S>(&self, stream: S, content_type: &str, filename: Option<&str>) -> MediaReply
    where
        S: Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static,
    {
        let path = format!("{MEDIA_V3}/upload{}", Self::upload_query(filename));
        let request =
            self.raw(Method::POST, &path).header("content-type", content_type).body(reqwest::Body::wrap_stream(stream));
        self.send(request).await
    }

    /// `POST /_matrix/media/v1/create`.
    pub async fn create(&self) -> MediaReply {
        self.send(self.raw(Method::POST, "/_matrix/media/v1/create")).await
    }

    /// `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}[?filename=]`.
    pub async fn upload_to(
        &self,
        mxc: &Mxc,
        bytes: Vec<u8>,
        content_type: Option<&str>,
        filename: Option<&str>,
    ) -> MediaReply {
        let path = format!("{MEDIA_V3}/upload/{}{}", mxc.path(), Self::upload_query(filename));
        let request = Self::with_type(self.raw(Method::PUT, &path), content_type).body(bytes);
        self.send(request).await
    }

    /// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}`.
    pub async fn download(&self, mxc: &Mxc) -> MediaReply {
        self.get(&format!("{MEDIA_V1}/download/{}", mxc.path())).await
    }

    /// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}`.
    pub async fn download_named(&self, mxc: &Mxc, file_name: &str) -> MediaReply {
        self.get(&format!("{MEDIA_V1}/download/{}/{}", mxc.path(), enc(file_name))).await
    }

    /// `GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}?width&height&method`.
    pub async fn thumbnail(&self, mxc: &Mxc, width: u32, height: u32, method: &str) -> MediaReply {
        self.get(&format!("{MEDIA_V1}/thumbnail/{}?width={width}&height={height}&method={method}", mxc.path())).await
    }

    /// `GET /_matrix/media/v3/download/{serverName}/{mediaId}` (deprecated).
    pub async fn legacy_download(&self, mxc: &Mxc) -> MediaReply {
        self.get(&format!("{MEDIA_V3}/download/{}", mxc.path())).await
    }

    /// `GET /_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}` (deprecated).
    pub async fn legacy_download_named(&self, mxc: &Mxc, file_name: &str) -> MediaReply {
        self.get(&format!("{MEDIA_V3}/download/{}/{}", mxc.path(), enc(file_name))).await
    }

    /// `GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}?...` (deprecated).
    pub async fn legacy_thumbnail(&self, mxc: &Mxc, width: u32, height: u32, method: &str) -> MediaReply {
        self.get(&format!("{MEDIA_V3}/thumbnail/{}?width={width}&height={height}&method={method}", mxc.path())).await
    }

    /// `GET path` (absolute).
    pub async fn get(&self, path: &str) -> MediaReply {
        self.send(self.raw(Method::GET, path)).await
    }

    /// Downloads `mxc` streaming, without keeping the body: returns the
    /// status, the headers, the byte count and the [`Fnv64`] digest.
    pub async fn download_digest(&self, mxc: &Mxc) -> (u16, HeaderMap, u64, u64) {
        let path = format!("{MEDIA_V1}/download/{}", mxc.path());
        let mut response = self
            .raw(Method::GET, &path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: no answer from the server: {e:?}"));
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let (mut digest, mut len) = (Fnv64::new(), 0u64);
        while let Some(chunk) =
            response.chunk().await.unwrap_or_else(|e| panic!("GET {path}: the body broke off after {len} bytes: {e:?}"))
        {
            digest.update(&chunk);
            len += chunk.len() as u64;
        }
        (status, headers, len, digest.finish())
    }
}

/// FNV-1a, 64 bits: a streaming digest whose value does not depend on how
/// the bytes are split into chunks (enough to detect any corruption in a
/// round trip; not a cryptographic hash).
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv64 {
    pub fn new() -> Fnv64 {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        let mut hash = self.0;
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = hash;
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

/// Deterministic pseudo-random bytes: the 8 bytes at word `i` are
/// SplitMix64 of `seed + i`, so any range can be generated on its own and
/// nothing has to be held in memory.
pub fn pattern_bytes(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut position = offset;
    while out.len() < len {
        let word = splitmix64(seed.wrapping_add(position / 8)).to_le_bytes();
        let start = (position % 8) as usize;
        let take = (8 - start).min(len - out.len());
        out.extend_from_slice(&word[start..start + take]);
        position += take as u64;
    }
    out
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The [`Fnv64`] digest of `pattern_bytes(seed, 0, total)`, computed in
/// chunks.
pub fn pattern_digest(seed: u64, total: u64, chunk: usize) -> u64 {
    let mut digest = Fnv64::new();
    let mut offset = 0;
    while offset < total {
        let len = chunk.min((total - offset) as usize);
        digest.update(&pattern_bytes(seed, offset, len));
        offset += len as u64;
    }
    digest.finish()
}

/// `pattern_bytes(seed, 0, total)` as a stream of `chunk`-sized pieces,
/// generated lazily as the HTTP client asks for them.
pub fn pattern_stream(seed: u64, total: u64, chunk: usize) -> impl Stream<Item = std::io::Result<Vec<u8>>> + Send {
    futures_util::stream::unfold(0u64, move |offset| async move {
        if offset >= total {
            return None;
        }
        let len = chunk.min((total - offset) as usize);
        Some((Ok(pattern_bytes(seed, offset, len)), offset + len as u64))
    })
}

/// The resident set size of process `pid` in KiB (`VmRSS` in
/// `/proc/<pid>/status`), if it can be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Samples a process's resident memory on a background thread until
/// stopped, keeping the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak_kib: Arc<AtomicU64>,
    samples: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    /// Starts sampling `pid` every `interval`.
    pub fn start(pid: u32, interval: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kib = Arc::new(AtomicU64::new(rss_kib(pid).unwrap_or(0)));
        let samples = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak_kib, samples) = (stop.clone(), peak_kib.clone(), samples.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid) {
                        peak_kib.fetch_max(kib, Ordering::Relaxed);
                        samples.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(interval);
                }
            })
        };
        RssSampler { stop, peak_kib, samples, thread: Some(thread) }
    }

    /// The peak so far, in KiB.
    pub fn peak_kib(&self) -> u64 {
        self.peak_kib.load(Ordering::Relaxed)
    }

    /// Stops sampling; returns the peak in KiB and the number of samples.
    pub fn finish(mut self) -> (u64, u64) {
        self.halt();
        (self.peak_kib(), self.samples.load(Ordering::Relaxed))
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Every regular file under `dir`, recursively (empty if it does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(path),
                Ok(kind) if kind.is_file() => found.push(path),
                _ => {}
            }
        }
    }
    found.sort();
    found
}
