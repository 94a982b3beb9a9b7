//! Media in an S3-compatible object store (issue 7: "any S3-compatible
//! store as an option through the object_store crate"). The store is moto's
//! S3 server from PyPI on loopback; scripts/test.sh installs it into
//! `~/.cache/nexus-bench/moto-venv` (or set `NEXUS_MOTO_SERVER`).
//!
//! Proven: an upload lands in the bucket under its SHA-256; it downloads
//! back byte for byte; with the server's local media directory wiped, the
//! content (and its thumbnails) come back from the bucket.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nexus_complement::homeserver::free_port;
use nexus_complement::media_client::MediaClient;
use nexus_complement::{Backend, Homeserver, HomeserverBuilder};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "s3-Passw0rd!";
const BUCKET: &str = "nexus-media";

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NEXUS_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".cache/nexus-bench/moto-venv/bin/moto_server");
    path.is_file().then_some(path)
}

async fn start_moto() -> Option<Moto> {
    let Some(binary) = moto_binary() else {
        assert!(
            std::env::var_os("NEXUS_TEST_REQUIRE_S3").is_none(),
            "moto_server is missing (scripts/test.sh installs it)"
        );
        eprintln!("*** SKIP: no moto_server (pip install 'moto[server]' into ~/.cache/nexus-bench/moto-venv)");
        return None;
    };
    let port = free_port();
    let child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http.put(format!("{url}/{BUCKET}")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "moto_server did not come up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Some(Moto { child, url })
}

/// A server whose media backend is the moto bucket.
fn on_s3(moto: &Moto) -> HomeserverBuilder {
    Homeserver::builder(Backend::RocksDb)
        .env("NEXUS__MEDIA__BACKEND", "s3")
        .env("NEXUS__MEDIA__S3_BUCKET", BUCKET)
        .env("NEXUS__MEDIA__S3_ENDPOINT", moto.url.clone())
        .env("NEXUS__MEDIA__S3_ALLOW_HTTP", "true")
        .env("NEXUS__MEDIA__S3_ACCESS_KEY_ID", "testing")
        .env("NEXUS__MEDIA__S3_SECRET_ACCESS_KEY", "testing")
}

async fn bucket_keys(moto: &Moto) -> String {
    reqwest::get(format!("{}/{BUCKET}?list-type=2", moto.url)).await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_stored_in_an_s3_bucket_and_served_back_from_it() {
    let Some(moto) = start_moto().await else { return };
    let mut hs = on_s3(&moto).start().await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let media = MediaClient::new(&alice);

    // Bigger than one multipart part (8 MiB), so the upload is in parts.
    let body: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let sha256 = hex(&Sha256::digest(&body));
    let mxc = media.upload_ok(body.clone(), "application/octet-stream", Some("big.bin")).await;
    let keys = bucket_keys(&moto).await;
    assert!(keys.contains(&format!("content/{sha256}")), "the bucket lacks content/{sha256}: {keys}");

    let reply = media.download(&mxc).await;
    assert!(reply.expect_bytes() == &body[..], "the download differs from the upload");

    // A PNG too, for a thumbnail after the local copy is gone.
    let png = {
        let image = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 9]));
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
        bytes.into_inner()
    };
    let png_mxc = media.upload_ok(png.clone(), "image/png", Some("small.png")).await;

    // Wipe the local media directory: everything must come back from S3.
    hs.stop();
    std::fs::remove_dir_all(hs.data_path().join("media")).expect("remove the local media directory");
    hs.restart().await;
    let media = MediaClient::new(&alice);
    let reply = media.download(&mxc).await;
    assert!(reply.expect_bytes() == &body[..], "after the local copy was wiped, the content came back different");
    let reply = media.download(&png_mxc).await;
    assert_eq!(reply.expect_bytes(), &png[..]);
    let reply = media.thumbnail(&png_mxc, 32, 24, "scale").await;
    let thumbnail = image::load_from_memory(reply.expect_bytes()).expect("a thumbnail image");
    assert_eq!((thumbnail.width(), thumbnail.height()), (32, 24), "{reply:?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// With S3 the local copies are a bounded cache: past
/// `media.s3_local_cache_bytes` the least recently used are deleted (a
/// copy used within the last seconds is spared), and a deleted one comes
/// back from the bucket when asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_copy_of_s3_media_is_a_bounded_cache() {
    let Some(moto) = start_moto().await else { return };
    let hs = on_s3(&moto).env("NEXUS__MEDIA__S3_LOCAL_CACHE_BYTES", "60000").start().await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let media = MediaClient::new(&alice);
    let local = |body: &[u8]| {
        let sha256 = hex(&Sha256::digest(body));
        hs.data_path().join("media/content").join(&sha256[..2]).join(sha256)
    };

    let first: Vec<u8> = (0..50_000u32).map(|i| (i % 249) as u8).collect();
    let second: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    let first_mxc = media.upload_ok(first.clone(), "application/octet-stream", None).await;
    assert!(local(&first).is_file(), "the upload's local copy");
    // Past the in-use grace, a second upload overflows the budget.
    tokio::time::sleep(Duration::from_secs(6)).await;
    media.upload_ok(second.clone(), "application/octet-stream", None).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while local(&first).is_file() {
        assert!(Instant::now() < deadline, "the older local copy was not trimmed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(local(&second).is_file(), "the newest copy is kept");

    let reply = media.download(&first_mxc).await;
    assert!(reply.expect_bytes() == &first[..], "the trimmed content came back different");
    assert!(local(&first).is_file(), "the content is cached locally again");
}
