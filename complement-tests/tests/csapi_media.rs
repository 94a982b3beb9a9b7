//! Content repository — mirrors Complement's `apidoc_content` (TestContent),
//! `media_async_uploads` (TestAsyncUpload), `media_misc` (TestMediaConfig),
//! `media_filename` / `media_nofilename` (TestMediaFilenames,
//! TestMediaWithoutFileName) and `media_thumbnail` (TestLocalPngThumbnail).
//! Spec: client-server API "Content repository" (`POST /_matrix/media/v3/upload`,
//! `POST /_matrix/media/v1/create`, `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`,
//! `GET /_matrix/client/v1/media/{config,download,thumbnail}`, the deprecated
//! `/_matrix/media/v3/*` downloads and their freeze, "Thumbnails",
//! "Security considerations", "Serving inline content").

use std::time::{Duration, Instant};

use image::{DynamicImage, ImageFormat, RgbImage, RgbaImage};
use nexus_complement::media_client::{
    MediaClient, MediaReply, Mxc, RssSampler, files_under, pattern_bytes, pattern_digest, pattern_stream, rss_kib,
};
use nexus_complement::{Backend, Homeserver, Session, both_backends};

const PASSWORD: &str = "sUp3r-secret";
/// The default `m.upload.size` of the server under test (100 MiB).
const DEFAULT_MAX_UPLOAD: u64 = 104_857_600;

async fn alice(hs: &Homeserver) -> (Session, MediaClient) {
    let session = hs.api().register("alice", PASSWORD).await;
    let media = MediaClient::new(&session);
    (session, media)
}

/// A real PNG: an RGBA gradient of this size.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8, 255])
    });
    encode(DynamicImage::ImageRgba8(image), ImageFormat::Png)
}

/// A real (baseline) JPEG: an RGB gradient of this size.
fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    encode(DynamicImage::ImageRgb8(image), ImageFormat::Jpeg)
}

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut out), format).expect("encode a test image");
    out
}

/// Asserts a 200 thumbnail in `format` with the spec's headers (an image
/// `Content-Type`, `Content-Disposition: inline`) and returns its size.
#[track_caller]
fn thumbnail_dimensions(reply: &MediaReply, format: ImageFormat) -> (u32, u32) {
    let bytes = reply.expect_bytes();
    let expected_type = format.to_mime_type();
    assert_eq!(reply.content_type().as_deref(), Some(expected_type), "thumbnail Content-Type: {reply:?}");
    // "Content-Disposition ... MUST be `inline`".
    assert_eq!(reply.disposition().kind, "inline", "{reply:?}");
    assert_eq!(image::guess_format(bytes).ok(), Some(format), "the thumbnail bytes are not {format:?}: {reply:?}");
    let image = image::load_from_memory(bytes).unwrap_or_else(|e| panic!("undecodable thumbnail ({e}): {reply:?}"));
    (image.width(), image.height())
}

/// The size "scale" should give: the largest that fits inside the box and
/// keeps the source's aspect ratio, never larger than the source.
fn fit_inside(source: (u32, u32), requested: (u32, u32)) -> (f64, f64) {
    let factor =
        (f64::from(requested.0) / f64::from(source.0)).min(f64::from(requested.1) / f64::from(source.1)).min(1.0);
    (f64::from(source.0) * factor, f64::from(source.1) * factor)
}

#[track_caller]
fn assert_scaled(got: (u32, u32), source: (u32, u32), requested: (u32, u32), what: &str) {
    let (w, h) = fit_inside(source, requested);
    assert!(
        (f64::from(got.0) - w).abs() <= 1.0 && (f64::from(got.1) - h).abs() <= 1.0,
        "{what}: scale {requested:?} of a {source:?} image gave {got:?}, expected about {w:.0}x{h:.0} \
         (fits inside, keeps the aspect ratio, never upscales)"
    );
}

/// `Content-Security-Policy` with `sandbox` and `Cross-Origin-Resource-Policy:
/// cross-origin` ("When serving content, the server SHOULD provide ...").
#[track_caller]
fn assert_serving_headers(reply: &MediaReply) {
    let csp =
        reply.header("content-security-policy").unwrap_or_else(|| panic!("no Content-Security-Policy: {reply:?}"));
    assert!(csp.split(';').any(|d| d.trim() == "sandbox"), "the CSP must sandbox the content: {csp:?}");
    assert!(csp.contains("default-src 'none'"), "the CSP should deny by default: {csp:?}");
    assert_eq!(reply.header("cross-origin-resource-policy"), Some("cross-origin"), "{reply:?}");
}

fn content_files(hs: &Homeserver) -> Vec<(std::path::PathBuf, u64)> {
    files_under(&hs.data_path().join("media").join("content"))
        .into_iter()
        .map(|path| {
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            (path, len)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Upload, download, config
// ---------------------------------------------------------------------------

/// TestContent: `POST /upload` gives an `mxc://` URI of this server, and the
/// authenticated download serves the same bytes and type.
async fn content_upload_and_download_roundtrip(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let body = b"Hello, content repository!\n".to_vec();

    let mxc = media.upload_ok(body.clone(), "text/plain", Some("hello.txt")).await;

    assert_eq!(mxc.server_name, hs.server_name(), "local uploads carry this server's name: {mxc}");
    let reply = media.download(&mxc).await;
    assert_eq!(reply.expect_bytes(), &body[..], "{reply:?}");
    // "exactly the same as the original upload, or reasonably close"
    // (a charset may be added to text/*).
    assert_eq!(reply.content_type().as_deref(), Some("text/plain"), "{reply:?}");
    assert_serving_headers(&reply);
    let again = media.upload_ok(b"second".to_vec(), "text/plain", None).await;
    assert_ne!(again, mxc, "two uploads must not share an mxc URI");
}
both_backends!(content_upload_and_download_roundtrip);

/// TestMediaConfig: `m.upload.size` on both config endpoints; the v1 one
/// requires authentication.
async fn media_config(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;

    for path in ["/_matrix/client/v1/media/config", "/_matrix/media/v3/config"] {
        let reply = media.get(path).await;
        let size = reply.expect_ok()["m.upload.size"].as_u64();
        assert_eq!(size, Some(DEFAULT_MAX_UPLOAD), "m.upload.size must be an integer byte count: {reply:?}");
    }
    MediaClient::anonymous(&hs).get("/_matrix/client/v1/media/config").await.expect_error(401, "M_MISSING_TOKEN");
}
both_backends!(media_config);

/// TestAsyncUpload (MSC2246, spec 1.7): create an id, 504 until uploaded,
/// upload once (by the creator only), then download.
async fn async_upload(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let bob = MediaClient::new(&hs.api().register("bob", PASSWORD).await);

    let reply = media.create().await;
    let mxc = reply.content_uri();
    assert_eq!(mxc.server_name, hs.server_name(), "{reply:?}");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    if let Some(expires) = reply.json.get("unused_expires_at") {
        let expires = expires.as_u64().unwrap_or_else(|| panic!("unused_expires_at must be an integer: {reply:?}"));
        assert!(expires > now_ms, "unused_expires_at must be in the future: {reply:?}");
    }

    // "Not yet uploaded": the content repository MAY answer before timeout_ms.
    let path = format!("/_matrix/client/v1/media/download/{}?timeout_ms=1000", mxc.path());
    media.get(&path).await.expect_error(504, "M_NOT_YET_UPLOADED");
    let path = format!("/_matrix/client/v1/media/thumbnail/{}?width=32&height=32&timeout_ms=1000", mxc.path());
    media.get(&path).await.expect_error(504, "M_NOT_YET_UPLOADED");

    // Only the user who created the id may upload to it.
    bob.upload_to(&mxc, b"bob's".to_vec(), Some("text/plain"), None).await.expect_error(403, "M_FORBIDDEN");

    let body = png(40, 30);
    let reply = media.upload_to(&mxc, body.clone(), Some("image/png"), Some("async.png")).await;
    reply.expect_ok();

    let download = media.download(&mxc).await;
    assert_eq!(download.expect_bytes(), &body[..], "{download:?}");
    assert_eq!(download.content_type().as_deref(), Some("image/png"), "{download:?}");
    assert_eq!(download.disposition().filename.as_deref(), Some("async.png"), "{download:?}");

    // "Cannot upload to a media ID that has already been uploaded to".
    media
        .upload_to(&mxc, b"again".to_vec(), Some("text/plain"), None)
        .await
        .expect_error(409, "M_CANNOT_OVERWRITE_MEDIA");
    assert_eq!(media.download(&mxc).await.expect_bytes(), &body[..], "a refused overwrite changed the content");

    // An id that was never created: 404 M_NOT_FOUND.
    let never = Mxc { server_name: hs.server_name(), media_id: "NeverCreated123".to_owned() };
    media.upload_to(&never, b"x".to_vec(), Some("text/plain"), None).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(async_upload);

/// Unknown media: 404 `M_NOT_FOUND` on download and thumbnail.
async fn unknown_media_is_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let missing = Mxc { server_name: hs.server_name(), media_id: "DoesNotExist42".to_owned() };

    media.download(&missing).await.expect_error(404, "M_NOT_FOUND");
    media.download_named(&missing, "x.txt").await.expect_error(404, "M_NOT_FOUND");
    media.thumbnail(&missing, 32, 32, "crop").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(unknown_media_is_not_found);

// ---------------------------------------------------------------------------
// Content-Disposition
// ---------------------------------------------------------------------------

/// TestMediaFilenames / TestMediaWithoutFileName: "If the upload was made
/// with a filename, this header MUST contain the same filename. Otherwise,
/// filename is excluded"; the `/{fileName}` variant "MUST contain the file
/// name requested in the path".
async fn media_filenames(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;

    // ASCII.
    let ascii = media.upload_ok(b"ascii".to_vec(), "text/plain", Some("ascii.txt")).await;
    let reply = media.download(&ascii).await;
    assert_eq!(reply.disposition().filename.as_deref(), Some("ascii.txt"), "{reply:?}");
    let reply = media.download_named(&ascii, "another name.txt").await;
    assert_eq!(reply.expect_bytes(), b"ascii");
    assert_eq!(reply.disposition().filename.as_deref(), Some("another name.txt"), "{reply:?}");

    // Unicode, and characters that need quoting or encoding.
    let name = "☃ snö \"man\"; x.txt";
    let unicode = media.upload_ok(b"unicode".to_vec(), "text/plain", Some(name)).await;
    let reply = media.download(&unicode).await;
    assert_eq!(reply.disposition().filename.as_deref(), Some(name), "{reply:?}");
    let reply = media.download_named(&unicode, "日本語.txt").await;
    assert_eq!(reply.disposition().filename.as_deref(), Some("日本語.txt"), "{reply:?}");

    // Without a filename.
    let nameless = media.upload_ok(b"nameless".to_vec(), "text/plain", None).await;
    let reply = media.download(&nameless).await;
    assert_eq!(reply.expect_bytes(), b"nameless");
    assert_eq!(reply.disposition().filename, None, "no filename was uploaded: {reply:?}");
}
both_backends!(media_filenames);

/// "Serving inline content": safe types inline, anything else (HTML) as an
/// attachment; the security headers on every served body.
async fn media_inline_and_attachment(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;

    let image = media.upload_ok(png(8, 8), "image/png", Some("dot.png")).await;
    let reply = media.download(&image).await;
    assert_eq!(reply.disposition().kind, "inline", "image/png is on the inline list: {reply:?}");
    assert_serving_headers(&reply);

    let html = b"<html><script>alert(1)</script></html>".to_vec();
    let page = media.upload_ok(html.clone(), "text/html", Some("page.html")).await;
    let reply = media.download(&page).await;
    assert_eq!(reply.expect_bytes(), &html[..]);
    assert_eq!(reply.disposition().kind, "attachment", "text/html must not be served inline: {reply:?}");
    assert_eq!(reply.disposition().filename.as_deref(), Some("page.html"), "{reply:?}");
    assert_serving_headers(&reply);
    // The disposition follows the type, whatever name the client asks for.
    let reply = media.download_named(&page, "harmless.png").await;
    assert_eq!(reply.disposition().kind, "attachment", "{reply:?}");

    let thumbnail = media.thumbnail(&image, 4, 4, "crop").await;
    thumbnail_dimensions(&thumbnail, ImageFormat::Png);
    assert_serving_headers(&thumbnail);
}
both_backends!(media_inline_and_attachment);

// ---------------------------------------------------------------------------
// Authentication and the deprecated endpoints
// ---------------------------------------------------------------------------

/// The `/_matrix/client/v1/media/*` endpoints and uploads require an access
/// token (`security: accessTokenBearer`).
async fn unauthenticated_media_requests_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let mxc = media.upload_ok(png(16, 16), "image/png", Some("a.png")).await;
    let anonymous = MediaClient::anonymous(&hs);
    let bogus = MediaClient::with_token(&hs.base_url(), Some("not-a-real-token".to_owned()));

    for (client, errcode) in [(&anonymous, "M_MISSING_TOKEN"), (&bogus, "M_UNKNOWN_TOKEN")] {
        client.download(&mxc).await.expect_error(401, errcode);
        client.download_named(&mxc, "a.png").await.expect_error(401, errcode);
        client.thumbnail(&mxc, 8, 8, "scale").await.expect_error(401, errcode);
        client.get("/_matrix/client/v1/media/config").await.expect_error(401, errcode);
        client.upload(b"x".to_vec(), Some("text/plain"), None).await.expect_error(401, errcode);
        client.create().await.expect_error(401, errcode);
        client.upload_to(&mxc, b"x".to_vec(), Some("text/plain"), None).await.expect_error(401, errcode);
    }
    // And the content is still there for its owner.
    media.download(&mxc).await.expect_bytes();
}
both_backends!(unauthenticated_media_requests_rejected);

/// "servers SHOULD freeze the deprecated, unauthenticated, endpoints": media
/// uploaded now is only served through `/_matrix/client/v1/media`; the old
/// endpoints "MAY return 404 M_NOT_FOUND for media which exists".
async fn legacy_media_endpoints_frozen(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let mxc = media.upload_ok(png(64, 64), "image/png", Some("new.png")).await;

    for client in [&media, &MediaClient::anonymous(&hs)] {
        client.legacy_download(&mxc).await.expect_error(404, "M_NOT_FOUND");
        client.legacy_download_named(&mxc, "new.png").await.expect_error(404, "M_NOT_FOUND");
        client.legacy_thumbnail(&mxc, 32, 32, "crop").await.expect_error(404, "M_NOT_FOUND");
    }
    media.download(&mxc).await.expect_bytes();
}
both_backends!(legacy_media_endpoints_frozen);

/// With the freeze turned off the deprecated endpoints serve media without
/// authentication, with the same headers as the new ones.
async fn legacy_media_endpoints_serve_when_unfrozen(backend: Backend) {
    let hs = Homeserver::builder(backend).env("NEXUS__MEDIA__FREEZE_LEGACY_ENDPOINTS", "false").start().await;
    let (_alice, media) = alice(&hs).await;
    let body = png(64, 48);
    let mxc = media.upload_ok(body.clone(), "image/png", Some("old.png")).await;
    let anonymous = MediaClient::anonymous(&hs);

    let reply = anonymous.legacy_download(&mxc).await;
    assert_eq!(reply.expect_bytes(), &body[..], "{reply:?}");
    assert_eq!(reply.content_type().as_deref(), Some("image/png"));
    assert_eq!(reply.disposition().filename.as_deref(), Some("old.png"), "{reply:?}");
    assert_serving_headers(&reply);
    let reply = anonymous.legacy_download_named(&mxc, "renamed.png").await;
    assert_eq!(reply.disposition().filename.as_deref(), Some("renamed.png"), "{reply:?}");
    let reply = anonymous.legacy_thumbnail(&mxc, 32, 32, "crop").await;
    assert_eq!(thumbnail_dimensions(&reply, ImageFormat::Png), (32, 32));
}
both_backends!(legacy_media_endpoints_serve_when_unfrozen);

// ---------------------------------------------------------------------------
// Thumbnails
// ---------------------------------------------------------------------------

/// TestLocalPngThumbnail: crop gives the requested size, scale fits inside
/// keeping the aspect ratio, and a PNG source gives a PNG thumbnail.
async fn local_png_thumbnail(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let source = (640, 480);
    let mxc = media.upload_ok(png(source.0, source.1), "image/png", Some("photo.png")).await;

    for (w, h) in [(32, 32), (96, 96), (120, 40)] {
        let reply = media.thumbnail(&mxc, w, h, "crop").await;
        assert_eq!(thumbnail_dimensions(&reply, ImageFormat::Png), (w, h), "crop {w}x{h}: {reply:?}");
    }
    for requested in [(320, 240), (320, 320), (100, 300), (400, 100)] {
        let reply = media.thumbnail(&mxc, requested.0, requested.1, "scale").await;
        let got = thumbnail_dimensions(&reply, ImageFormat::Png);
        assert_scaled(got, source, requested, "png");
    }
}
both_backends!(local_png_thumbnail);

/// A JPEG source gives JPEG thumbnails of the right sizes.
async fn local_jpeg_thumbnail(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let source = (800, 600);
    let mxc = media.upload_ok(jpeg(source.0, source.1), "image/jpeg", Some("photo.jpg")).await;

    let reply = media.thumbnail(&mxc, 96, 96, "crop").await;
    assert_eq!(thumbnail_dimensions(&reply, ImageFormat::Jpeg), (96, 96), "{reply:?}");
    for requested in [(320, 240), (640, 480), (300, 300)] {
        let reply = media.thumbnail(&mxc, requested.0, requested.1, "scale").await;
        let got = thumbnail_dimensions(&reply, ImageFormat::Jpeg);
        assert_scaled(got, source, requested, "jpeg");
    }
    // Repeating a request (served from whatever cache) gives the same size.
    let reply = media.thumbnail(&mxc, 96, 96, "crop").await;
    assert_eq!(thumbnail_dimensions(&reply, ImageFormat::Jpeg), (96, 96), "{reply:?}");
}
both_backends!(local_jpeg_thumbnail);

/// "Servers MUST NOT upscale thumbnails under any circumstance" and "When
/// the content is smaller than the requested dimensions, servers should
/// return the original content rather than thumbnail it."
async fn thumbnail_never_upscales(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let source = (64, 48);
    let mxc = media.upload_ok(png(source.0, source.1), "image/png", Some("small.png")).await;

    for (w, h, method) in [(320, 240, "scale"), (800, 600, "scale"), (96, 96, "crop"), (640, 480, "crop")] {
        let reply = media.thumbnail(&mxc, w, h, method).await;
        let bytes = reply.expect_bytes();
        let image = image::load_from_memory(bytes).unwrap_or_else(|e| panic!("undecodable thumbnail ({e}): {reply:?}"));
        let got = (image.width(), image.height());
        assert!(
            got.0 <= source.0 && got.1 <= source.1,
            "{method} {w}x{h} of a {}x{} image returned {}x{}: upscaled (spec: Thumbnails, \
             'Servers MUST NOT upscale thumbnails under any circumstance')",
            source.0,
            source.1,
            got.0,
            got.1
        );
    }
}
both_backends!(thumbnail_never_upscales);

/// A thumbnail of something that is not an image: the 200 response's
/// `Content-Type` is one of the image types and its disposition "MUST be
/// inline"; otherwise the answer is 400 ("the server cannot thumbnail the
/// content"). Serving an uploaded HTML page from the thumbnail endpoint is
/// neither.
async fn thumbnail_of_non_image(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let mxc = media.upload_ok(b"<html><body>not an image</body></html>".to_vec(), "text/html", None).await;

    let reply = media.thumbnail(&mxc, 32, 32, "crop").await;
    if reply.status == 400 {
        reply.expect_error_status(400);
    } else {
        const THUMBNAIL_TYPES: &[&str] = &["image/jpeg", "image/png", "image/apng", "image/gif", "image/webp"];
        assert_eq!(reply.status, 200, "{reply:?}");
        let kind = reply.content_type().unwrap_or_default();
        assert!(
            THUMBNAIL_TYPES.contains(&kind.as_str()),
            "a thumbnail's Content-Type must be an image type, got {kind:?} (spec: GET \
             /_matrix/client/v1/media/thumbnail, 200 headers; 400 when the server cannot thumbnail): {reply:?}"
        );
        assert_eq!(reply.disposition().kind, "inline", "{reply:?}");
    }
}
both_backends!(thumbnail_of_non_image);

/// "400: The request does not make sense to the server ... the client
/// requested non-integer dimensions or asked for negatively-sized images."
async fn thumbnail_rejects_bad_parameters(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let mxc = media.upload_ok(png(64, 64), "image/png", None).await;
    let base = format!("/_matrix/client/v1/media/thumbnail/{}", mxc.path());

    for query in
        ["width=-5&height=32", "width=abc&height=32", "width=32", "height=32", "width=32&height=32&method=stretch"]
    {
        media.get(&format!("{base}?{query}")).await.expect_error_status(400);
    }
    // `method` is optional.
    let reply = media.get(&format!("{base}?width=32&height=32")).await;
    let got = thumbnail_dimensions(&reply, ImageFormat::Png);
    assert!(got.0 <= 64 && got.1 <= 64, "{reply:?}");
}
both_backends!(thumbnail_rejects_bad_parameters);

// ---------------------------------------------------------------------------
// Limits and storage
// ---------------------------------------------------------------------------

/// "Homeservers should not store files that are too large ... returning a
/// HTTP 413 error with the M_TOO_LARGE code" — whether the size is announced
/// by `Content-Length` or only found while a chunked body streams in.
async fn oversized_upload_rejected(backend: Backend) {
    let hs = Homeserver::builder(backend).env("NEXUS__MEDIA__MAX_UPLOAD_BYTES", "1000").start().await;
    let (_alice, media) = alice(&hs).await;

    for path in ["/_matrix/client/v1/media/config", "/_matrix/media/v3/config"] {
        let reply = media.get(path).await;
        assert_eq!(reply.expect_ok()["m.upload.size"].as_u64(), Some(1000), "{reply:?}");
    }

    // At the limit: accepted, both ways.
    let at_limit = pattern_bytes(1, 0, 1000);
    let mxc = media.upload_ok(at_limit.clone(), "application/octet-stream", None).await;
    assert_eq!(media.download(&mxc).await.expect_bytes(), &at_limit[..]);
    let reply = media.upload_stream(pattern_stream(2, 1000, 100), "application/octet-stream", None).await;
    assert_eq!(media.download(&reply.content_uri()).await.expect_bytes(), &pattern_bytes(2, 0, 1000)[..]);

    // Content-Length announces too much.
    let reply = media.upload(pattern_bytes(3, 0, 1001), Some("application/octet-stream"), None).await;
    reply.expect_error(413, "M_TOO_LARGE");
    let reply = media.upload(pattern_bytes(4, 0, 20_000), Some("application/octet-stream"), None).await;
    reply.expect_error(413, "M_TOO_LARGE");
    // Chunked, no Content-Length: found out while streaming.
    let reply = media.upload_stream(pattern_stream(5, 5000, 256), "application/octet-stream", None).await;
    reply.expect_error(413, "M_TOO_LARGE");
    // The same limit on PUT to a created id.
    let created = media.create().await.content_uri();
    let reply = media.upload_to(&created, pattern_bytes(6, 0, 2000), Some("application/octet-stream"), None).await;
    reply.expect_error(413, "M_TOO_LARGE");
    let reply = media
        .send(
            media
                .raw(reqwest::Method::PUT, &format!("/_matrix/media/v3/upload/{}", created.path()))
                .header("content-type", "application/octet-stream")
                .body(reqwest::Body::wrap_stream(pattern_stream(7, 3000, 300))),
        )
        .await;
    reply.expect_error(413, "M_TOO_LARGE");

    // Nothing of the refused bodies was kept.
    let stored = files_under(&hs.data_path().join("media"));
    for path in &stored {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        assert!(len <= 1000, "a refused upload left {} ({len} bytes) behind", path.display());
    }
    assert_eq!(content_files(&hs).len(), 2, "only the two accepted uploads are stored: {stored:?}");
}
both_backends!(oversized_upload_rejected);

/// Identical content uploaded twice (even with different names and types,
/// and through `/create` + `PUT`) is stored once, yet each upload keeps its
/// own metadata.
async fn identical_content_stored_once(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let bytes = pattern_bytes(42, 0, 10_000);

    let first = media.upload_ok(bytes.clone(), "application/octet-stream", Some("first.bin")).await;
    let second = media.upload_ok(bytes.clone(), "text/plain", Some("second.txt")).await;
    let created = media.create().await.content_uri();
    media.upload_to(&created, bytes.clone(), Some("application/pdf"), Some("third.pdf")).await.expect_ok();

    for (mxc, kind, name) in [
        (&first, "application/octet-stream", "first.bin"),
        (&second, "text/plain", "second.txt"),
        (&created, "application/pdf", "third.pdf"),
    ] {
        let reply = media.download(mxc).await;
        assert_eq!(reply.expect_bytes(), &bytes[..], "{reply:?}");
        assert_eq!(reply.content_type().as_deref(), Some(kind), "{reply:?}");
        assert_eq!(reply.disposition().filename.as_deref(), Some(name), "{reply:?}");
    }
    let files = content_files(&hs);
    assert_eq!(files.len(), 1, "identical content must be stored once: {files:?}");
    assert_eq!(files[0].1, bytes.len() as u64, "{files:?}");

    media.upload_ok(pattern_bytes(43, 0, 10_000), "application/octet-stream", None).await;
    assert_eq!(content_files(&hs).len(), 2, "different content is stored separately");
}
both_backends!(identical_content_stored_once);

/// A 50 MiB upload and download, streamed both ways (the test never holds
/// the file), byte-for-byte equal by digest, while the server's resident
/// memory stays far below the file size.
async fn large_upload_round_trip_in_bounded_memory(backend: Backend) {
    const SIZE: u64 = 50 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    const SEED: u64 = 0x6e65_7875_73;
    /// Allowed growth of the server's RSS over its idle figure: below the
    /// file size, so a server that buffers the whole body fails.
    const MAX_GROWTH_KIB: u64 = 48 * 1024;

    let hs = Homeserver::start(backend).await;
    let (_alice, media) = alice(&hs).await;
    let expected = pattern_digest(SEED, SIZE, CHUNK);
    let pid = hs.pid().expect("the server runs");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_kib = rss_kib(pid).expect("read VmRSS from /proc/<pid>/status");
    let sampler = RssSampler::start(pid, Duration::from_millis(5));

    let started = Instant::now();
    let reply =
        media.upload_stream(pattern_stream(SEED, SIZE, CHUNK), "application/octet-stream", Some("big.bin")).await;
    let mxc = reply.content_uri();
    let upload_time = started.elapsed();
    let upload_peak_kib = sampler.peak_kib();

    let started = Instant::now();
    let (status, headers, len, digest) = media.download_digest(&mxc).await;
    let download_time = started.elapsed();
    let (peak_kib, samples) = sampler.finish();

    println!(
        "large media ({backend:?}): server VmRSS idle {:.1} MiB, peak {:.1} MiB (+{:.1} MiB; upload peak {:.1} MiB) \
         over {samples} samples; upload {upload_time:.2?}, download {download_time:.2?}",
        idle_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
        peak_kib.saturating_sub(idle_kib) as f64 / 1024.0,
        upload_peak_kib as f64 / 1024.0,
    );
    assert_eq!(status, 200, "download of {mxc}: {headers:?}");
    assert_eq!(len, SIZE, "the download has the wrong length");
    assert_eq!(digest, expected, "the download differs from the upload (FNV-1a 64 digest)");
    if let Some(announced) = headers.get("content-length").and_then(|v| v.to_str().ok()) {
        assert_eq!(announced, SIZE.to_string(), "Content-Length of the download");
    }
    let files = content_files(&hs);
    assert!(files.iter().any(|(_, len)| *len == SIZE), "the content is on disk in full: {files:?}");
    assert!(
        peak_kib.saturating_sub(idle_kib) < MAX_GROWTH_KIB,
        "the server's RSS grew by {} KiB (idle {idle_kib} KiB, peak {peak_kib} KiB) for a {SIZE}-byte \
         round trip: media must be streamed, not buffered",
        peak_kib.saturating_sub(idle_kib)
    );
}
both_backends!(large_upload_round_trip_in_bounded_memory);
