// Custom emoji (extensions-spec §13): MSC2545 image packs in the server's
// space, listed per channel by the homeserver (which applies
// USE_EXTERNAL_EMOJIS), used inline as `<img data-mx-emoticon>` and as
// reactions keyed by their mxc URI (MSC4027).
import { type MatrixClient, Method } from "matrix-js-sdk";

export type Emoticon = { shortcode: string; url: string; body?: string };

const PACK_TYPE = "im.ponies.room_emotes";
/** The pack the web client adds a server's emoji to. */
export const SERVER_PACK = "server-emoji";

export async function channelEmoji(client: MatrixClient, roomId: string): Promise<Emoticon[]> {
  const answer = await client.http.authedRequest<{ emoticons?: Emoticon[] }>(
    Method.Get,
    `/channels/${encodeURIComponent(roomId)}/emoji`,
    undefined,
    undefined,
    { prefix: "/_nexus/client/v1" },
  );
  return answer.emoticons ?? [];
}

/** Uploads an image and adds it to the server's pack under `shortcode`. */
export async function addServerEmoji(client: MatrixClient, spaceId: string, shortcode: string, file: File): Promise<void> {
  if (!/^[^:/\s]{1,100}$/.test(shortcode)) throw new Error("A shortcode has no spaces, colons or slashes.");
  const { content_uri } = await client.uploadContent(file, { name: file.name, type: file.type });
  const space = client.getRoom(spaceId);
  const current = space?.currentState.getStateEvents(PACK_TYPE, SERVER_PACK)?.getContent() ?? {};
  const images = { ...(current.images ?? {}), [shortcode]: { url: content_uri, body: shortcode, usage: ["emoticon"] } };
  const pack = current.pack ?? { display_name: "Server emoji", usage: ["emoticon"] };
  await client.sendStateEvent(spaceId, PACK_TYPE as never, { images, pack } as never, SERVER_PACK);
}

/** `:shortcode:` in a message → the inline image MSC2545 describes, for formatted_body. */
export function emoticonHtml(emoticon: Emoticon): string {
  const alt = `:${emoticon.shortcode}:`;
  return `<img data-mx-emoticon src="${emoticon.url}" alt="${alt}" title="${alt}" height="32">`;
}
