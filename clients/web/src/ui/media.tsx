// Media is authenticated (the spec's /_matrix/client/v1/media; Nexus
// freezes the legacy unauthenticated paths), and an <img src> cannot carry
// a token: media is fetched with the token in a header and shown from a
// blob URL, which never leaves the page.
import { type MatrixClient } from "matrix-js-sdk";
import { useEffect, useState } from "react";
import type React from "react";

async function fetchMedia(client: MatrixClient, mxc: string, width?: number, height?: number): Promise<Blob> {
  const url = client.mxcUrlToHttp(mxc, width, height, width ? "scale" : undefined, false, true, true);
  if (!url) throw new Error("not a media URI");
  const response = await fetch(url, { headers: { Authorization: `Bearer ${client.getAccessToken()}` } });
  // A server may have no thumbnail for an image (too small, or a type it
  // does not scale): the original then.
  if (!response.ok && width) return fetchMedia(client, mxc);
  if (!response.ok) throw new Error(`media unavailable (${response.status})`);
  return response.blob();
}

/**
 * Blob URLs of small images (avatars, emoji) shown many times: fetched once
 * per page, the oldest dropped past a bound so memory stays flat.
 */
const SMALL_CACHE_LIMIT = 500;
const smallImages = new Map<string, Promise<string>>();

function cachedSmallImage(client: MatrixClient, mxc: string, size: number): Promise<string> {
  const key = `${mxc}@${size}`;
  let url = smallImages.get(key);
  if (!url) {
    url = fetchMedia(client, mxc, size, size).then((blob) => URL.createObjectURL(blob));
    url.catch(() => smallImages.delete(key));
    smallImages.set(key, url);
    if (smallImages.size > SMALL_CACHE_LIMIT) {
      const [oldest, dropped] = smallImages.entries().next().value!;
      smallImages.delete(oldest);
      dropped.then((u) => URL.revokeObjectURL(u), () => undefined);
    }
  }
  return url;
}

/** A cached blob URL of a small square image (avatar, emoji), or null while loading. */
export function useSmallImage(client: MatrixClient, mxc: string | undefined | null, size: number): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!mxc) return setUrl(null);
    let live = true;
    cachedSmallImage(client, mxc, size).then((u) => live && setUrl(u), () => live && setUrl(null));
    return () => {
      live = false;
    };
  }, [client, mxc, size]);
  return url;
}

/** A blob URL for `mxc` (a thumbnail when a size is given), or null while loading or on failure. */
export function useMediaUrl(client: MatrixClient, mxc: string | undefined, width?: number, height?: number): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!mxc) return;
    let live = true;
    let objectUrl: string | null = null;
    fetchMedia(client, mxc, width, height)
      .then((blob) => {
        objectUrl = URL.createObjectURL(blob);
        if (live) setUrl(objectUrl);
      })
      .catch(() => live && setUrl(null));
    return () => {
      live = false;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [client, mxc, width, height]);
  return url;
}

/** Saves a file attachment under its name. */
export async function downloadMedia(client: MatrixClient, mxc: string, name: string): Promise<void> {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await fetchMedia(client, mxc));
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/** Loads the custom emoji (`img[data-mxc]`) inside an element of rendered message HTML. */
export function useEmoticonImages(client: MatrixClient, container: React.RefObject<HTMLElement | null>, html: string): void {
  useEffect(() => {
    let live = true;
    for (const img of container.current?.querySelectorAll<HTMLImageElement>("img[data-mxc]") ?? []) {
      cachedSmallImage(client, img.dataset.mxc!, 64).then(
        (url) => live && (img.src = url),
        () => undefined,
      );
    }
    return () => {
      live = false;
    };
  }, [client, container, html]);
}

/** A custom emoji (an mxc URI) as an image; anything else as text. */
export function EmojiKey({ client, emojiKey, label }: { client: MatrixClient; emojiKey: string; label?: string }) {
  const isImage = emojiKey.startsWith("mxc://");
  const src = useSmallImage(client, isImage ? emojiKey : undefined, 64);
  if (!isImage) return <>{emojiKey}</>;
  return src ? <img className="emoticon" src={src} alt={label ?? "custom emoji"} /> : <span className="emoticon" aria-label={label} />;
}
