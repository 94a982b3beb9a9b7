//! Thumbnails: decoded, cropped or scaled, encoded, and cached on disk by
//! content hash and size. Image work runs on the blocking pool.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Fill the box exactly, cropping the overflow.
    Crop,
    /// Fit inside the box, keeping the aspect ratio.
    Scale,
}

impl Method {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "crop" => Some(Method::Crop),
            "scale" => Some(Method::Scale),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Method::Crop => "crop",
            Method::Scale => "scale",
        }
    }
}

/// Decodes, resizes and encodes (PNG keeps transparency; JPEG for photos).
fn render(source: &Path, width: u32, height: u32, method: Method) -> Option<(Vec<u8>, &'static str)> {
    let reader = ImageReader::open(source).ok()?.with_guessed_format().ok()?;
    let format = reader.format()?;
    let mut limits = image::Limits::default();
    // Decompression bombs: refuse absurd dimensions before decoding.
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(256 * 1024 * 1024);
    let mut reader = reader;
    reader.limits(limits);
    let image: DynamicImage = reader.decode().ok()?;
    // Thumbnails are never larger than their source (spec: "MUST NOT
    // upscale").
    let thumbnail = fit(image, width, height, method);
    let (out_format, content_type) = match format {
        ImageFormat::Jpeg => (ImageFormat::Jpeg, "image/jpeg"),
        _ => (ImageFormat::Png, "image/png"),
    };
    let thumbnail =
        if out_format == ImageFormat::Jpeg { DynamicImage::ImageRgb8(thumbnail.to_rgb8()) } else { thumbnail };
    let mut bytes = Vec::new();
    thumbnail.write_to(&mut std::io::Cursor::new(&mut bytes), out_format).ok()?;
    Some((bytes, content_type))
}

/// Frames an animated thumbnail keeps at most; longer animations are cut.
const MAX_FRAMES: usize = 300;

/// Resizes one image as `method` says, never upscaling.
fn fit(image: DynamicImage, width: u32, height: u32, method: Method) -> DynamicImage {
    if image.width() <= width && image.height() <= height {
        return image;
    }
    match method {
        Method::Crop => {
            image.resize_to_fill(width.min(image.width()), height.min(image.height()), FilterType::Triangle)
        }
        Method::Scale => image.resize(width, height, FilterType::Triangle),
    }
}

/// An animated GIF thumbnail of an animated GIF (spec: `animated=true`,
/// "if possible"); `None` when the source is not an animated GIF.
fn render_animated(source: &Path, width: u32, height: u32, method: Method) -> Option<(Vec<u8>, &'static str)> {
    use image::AnimationDecoder;
    use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};

    let reader = ImageReader::open(source).ok()?.with_guessed_format().ok()?;
    if reader.format()? != ImageFormat::Gif {
        return None;
    }
    let file = std::io::BufReader::new(std::fs::File::open(source).ok()?);
    let mut decoder = GifDecoder::new(file).ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(4096);
    limits.max_image_height = Some(4096);
    limits.max_alloc = Some(256 * 1024 * 1024);
    image::ImageDecoder::set_limits(&mut decoder, limits).ok()?;
    let mut frames = Vec::new();
    for frame in decoder.into_frames().take(MAX_FRAMES) {
        let frame = frame.ok()?;
        let delay = frame.delay();
        let resized = fit(DynamicImage::ImageRgba8(frame.into_buffer()), width, height, method).to_rgba8();
        frames.push(image::Frame::from_parts(resized, 0, 0, delay));
    }
    if frames.len() < 2 {
        return None;
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder.set_repeat(Repeat::Infinite).ok()?;
        encoder.encode_frames(frames).ok()?;
    }
    Some((bytes, "image/gif"))
}

fn cache_path(dir: &Path, sha256: &str, width: u32, height: u32, method: Method, content_type: &str) -> PathBuf {
    let extension = match content_type {
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        _ => "png",
    };
    dir.join(format!("{sha256}-{width}x{height}-{}.{extension}", method.name()))
}

/// A cached or freshly made thumbnail: `(path, size, content type)`, or
/// `None` when the source is not an image this server can read.
pub async fn make(
    dir: &Path,
    source: &Path,
    sha256: &str,
    width: u32,
    height: u32,
    method: Method,
    animated: bool,
) -> Result<Option<(PathBuf, u64, String)>> {
    if animated {
        let cached = cache_path(dir, sha256, width, height, method, "image/gif");
        if let Ok(meta) = tokio::fs::metadata(&cached).await {
            return Ok(Some((cached, meta.len(), "image/gif".to_owned())));
        }
        if let Some(made) = render_and_store(dir, source, sha256, (width, height, method), render_animated).await? {
            return Ok(Some(made));
        }
    }
    for content_type in ["image/png", "image/jpeg"] {
        let cached = cache_path(dir, sha256, width, height, method, content_type);
        if let Ok(meta) = tokio::fs::metadata(&cached).await {
            return Ok(Some((cached, meta.len(), content_type.to_owned())));
        }
    }
    render_and_store(dir, source, sha256, (width, height, method), render).await
}

type Renderer = fn(&Path, u32, u32, Method) -> Option<(Vec<u8>, &'static str)>;

/// Renders on the blocking pool and caches the result.
async fn render_and_store(
    dir: &Path,
    source: &Path,
    sha256: &str,
    (width, height, method): (u32, u32, Method),
    renderer: Renderer,
) -> Result<Option<(PathBuf, u64, String)>> {
    let (source, dir, sha256) = (source.to_owned(), dir.to_owned(), sha256.to_owned());
    tokio::task::spawn_blocking(move || {
        let Some((bytes, content_type)) = renderer(&source, width, height, method) else { return Ok(None) };
        std::fs::create_dir_all(&dir).map_err(|e| Error::Internal(format!("thumbnails: {e}")))?;
        let path = cache_path(&dir, &sha256, width, height, method, content_type);
        // Written aside and renamed into place: a concurrent request for
        // the same size must never see a half-written file.
        let partial =
            path.with_extension(format!("partial-{}", crate::values::random_string(crate::values::ALPHANUMERIC, 8)));
        std::fs::write(&partial, &bytes).map_err(|e| Error::Internal(format!("thumbnails: {e}")))?;
        std::fs::rename(&partial, &path).map_err(|e| Error::Internal(format!("thumbnails: {e}")))?;
        Ok(Some((path, bytes.len() as u64, content_type.to_owned())))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// Makes the configured sizes in the background after an upload.
pub fn pregenerate(dir: PathBuf, source: PathBuf, sha256: String, sizes: Vec<(u32, u32, String)>) {
    tokio::spawn(async move {
        for (width, height, method) in sizes {
            let Some(method) = Method::parse(&method) else { continue };
            if let Err(e) = make(&dir, &source, &sha256, width, height, method, false).await {
                tracing::debug!(error = %e, "could not pregenerate a thumbnail");
                return;
            }
        }
    });
}
