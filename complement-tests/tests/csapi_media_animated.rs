//! Animated thumbnails (spec: client-server API, "Thumbnails", the
//! `animated` parameter): an animated GIF asked for with `animated=true`
//! gets an animated GIF thumbnail of the requested size with every frame;
//! with `animated=false` (or absent) a still image, as the spec requires
//! ("MUST NOT return an animated thumbnail"); a still source stays still.

use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::{AnimationDecoder, Delay, Frame, RgbaImage};
use nexus_complement::media_client::MediaClient;
use nexus_complement::{Backend, Homeserver};

const PASSWORD: &str = "animated-Passw0rd!";

/// A 3-frame 120×90 GIF: red, green, blue.
fn animated_gif() -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder.set_repeat(Repeat::Infinite).unwrap();
        let frames = [[255, 0, 0], [0, 255, 0], [0, 0, 255]].map(|[r, g, b]| {
            let image = RgbaImage::from_pixel(120, 90, image::Rgba([r, g, b, 255]));
            Frame::from_parts(image, 0, 0, Delay::from_numer_denom_ms(100, 1))
        });
        encoder.encode_frames(frames).unwrap();
    }
    bytes
}

fn gif_frames(bytes: &[u8]) -> Vec<RgbaImage> {
    let decoder = GifDecoder::new(std::io::Cursor::new(bytes)).expect("a GIF");
    decoder.into_frames().collect_frames().expect("GIF frames").into_iter().map(Frame::into_buffer).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn animated_gifs_get_animated_thumbnails_only_when_asked() {
    let hs = Homeserver::start(Backend::RocksDb).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let media = MediaClient::new(&alice);
    let mxc = media.upload_ok(animated_gif(), "image/gif", Some("rgb.gif")).await;

    let path =
        format!("/_matrix/client/v1/media/thumbnail/{}?width=60&height=45&method=scale&animated=true", mxc.path());
    let reply = media.get(&path).await;
    assert_eq!(reply.content_type().as_deref(), Some("image/gif"), "{reply:?}");
    let frames = gif_frames(reply.expect_bytes());
    assert_eq!(frames.len(), 3, "every frame is kept");
    for (frame, expected) in frames.iter().zip([[255u8, 0, 0], [0, 255, 0], [0, 0, 255]]) {
        assert_eq!(frame.dimensions(), (60, 45), "each frame is scaled");
        let pixel = frame.get_pixel(30, 22).0;
        for channel in 0..3 {
            assert!(pixel[channel].abs_diff(expected[channel]) < 16, "frame colour {pixel:?} vs {expected:?}");
        }
    }

    for animated in ["false", ""] {
        let query = if animated.is_empty() { String::new() } else { format!("&animated={animated}") };
        let path = format!("/_matrix/client/v1/media/thumbnail/{}?width=60&height=45&method=scale{query}", mxc.path());
        let reply = media.get(&path).await;
        assert_eq!(reply.content_type().as_deref(), Some("image/png"), "a still thumbnail: {reply:?}");
        let still = image::load_from_memory(reply.expect_bytes()).expect("a PNG");
        assert_eq!((still.width(), still.height()), (60, 45), "{reply:?}");
    }
}
