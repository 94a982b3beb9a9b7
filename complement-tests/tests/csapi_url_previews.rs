//! URL previews (spec: client-server API, `GET /_matrix/client/v1/media/preview_url`;
//! issue 7: "off by default (privacy); when on, with an IP-range blocklist
//! and size/time limits"). A tiny web server on loopback serves a page with
//! OpenGraph tags, a PNG, a redirect and an oversized page.

use std::net::SocketAddr;

use image::{ImageFormat, RgbImage};
use nexus_complement::media_client::{MediaClient, Mxc};
use nexus_complement::{Backend, Homeserver, enc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PASSWORD: &str = "preview-Passw0rd!";

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 7]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, ImageFormat::Png).expect("encode a PNG");
    bytes.into_inner()
}

/// Serves `/page` (HTML with OpenGraph tags and an `og:image`), `/cat.png`,
/// `/moved` (a redirect to `/page`) and `/huge` (2 MiB of HTML).
async fn web_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the web server");
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let n = stream.read(&mut request).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]).to_string();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, content_type, body, extra): (&str, &str, Vec<u8>, String) = match path.as_str() {
                    "/page" => (
                        "200 OK",
                        "text/html; charset=utf-8",
                        br#"<!doctype html><html><head><title>Ignored title</title>
                        <meta property="og:title" content="Nexus &amp; friends">
                        <meta property="og:description" content="A page about previews">
                        <meta property="og:image" content="/cat.png"></head><body>hi</body></html>"#
                            .to_vec(),
                        String::new(),
                    ),
                    "/cat.png" => ("200 OK", "image/png", png(40, 30), String::new()),
                    "/moved" => ("302 Found", "text/plain", b"moved".to_vec(), "Location: /page\r\n".to_owned()),
                    "/huge" => ("200 OK", "text/html", vec![b'a'; 2 * 1024 * 1024], String::new()),
                    _ => ("404 Not Found", "text/plain", b"no".to_vec(), String::new()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    address
}

fn preview_path(url: &str) -> String {
    format!("/_matrix/client/v1/media/preview_url?url={}", enc(url))
}

/// Off by default: nothing is fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_previews_are_off_by_default() {
    let hs = Homeserver::start(Backend::RocksDb).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let site = web_server().await;
    let reply = alice.get(&preview_path(&format!("http://{site}/page"))).await;
    reply.expect_error(404, "M_UNRECOGNIZED");
}

/// On, with the default blocklist: loopback (like any private range) is
/// refused, so previews cannot reach the server's own network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_blocklist_refuses_loopback() {
    let hs = Homeserver::builder(Backend::RocksDb).env("NEXUS__MEDIA__URL_PREVIEWS", "true").start().await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let site = web_server().await;
    for url in [format!("http://{site}/page"), format!("http://localhost:{}/page", site.port())] {
        alice.get(&preview_path(&url)).await.expect_error(403, "M_FORBIDDEN");
    }
    // Not a web URL at all.
    alice.get(&preview_path("file:///etc/passwd")).await.expect_error(400, "M_INVALID_PARAM");
    // Unauthenticated requests are refused before anything is fetched.
    hs.api().get(&preview_path(&format!("http://{site}/page"))).await.expect_error(401, "M_MISSING_TOKEN");
}

/// On, with loopback allowed (as a test setup must): the page's OpenGraph
/// fields, its image stored as media with its size and dimensions, a
/// redirect followed, and a page over the size limit refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_previewed_with_its_image() {
    let hs = Homeserver::builder(Backend::RocksDb)
        .env("NEXUS__MEDIA__URL_PREVIEWS", "true")
        .env("NEXUS__MEDIA__URL_PREVIEW_BLOCKED_IP_RANGES", "[\"10.0.0.0/8\"]")
        .env("NEXUS__MEDIA__URL_PREVIEW_MAX_BYTES", "1048576")
        .start()
        .await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let site = web_server().await;

    for path in ["/page", "/moved"] {
        let reply = alice.get(&preview_path(&format!("http://{site}{path}"))).await;
        let preview = reply.expect_ok().clone();
        assert_eq!(preview["og:title"], "Nexus & friends", "{reply:?}");
        assert_eq!(preview["og:description"], "A page about previews", "{reply:?}");
        assert_eq!(preview["og:image:type"], "image/png", "{reply:?}");
        assert_eq!(preview["og:image:width"], 40, "{reply:?}");
        assert_eq!(preview["og:image:height"], 30, "{reply:?}");
        assert_eq!(preview["matrix:image:size"].as_u64(), Some(png(40, 30).len() as u64), "{reply:?}");
        let mxc = Mxc::parse(preview["og:image"].as_str().expect("og:image is an mxc URI"));
        let image = MediaClient::new(&alice).download(&mxc).await;
        assert_eq!(image.expect_bytes(), &png(40, 30)[..], "the stored image: {image:?}");
    }

    alice.get(&preview_path(&format!("http://{site}/huge"))).await.expect_error(413, "M_TOO_LARGE");
}
