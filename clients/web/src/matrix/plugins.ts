// Plugins' side of the protocol with the homeserver: the installed list in
// account data, and the bridge through which the plugin host reads the
// open channel and sends messages for plugins, with the user's client.
// Plugins get plain values from here, never the client or its token.
import { type MatrixClient, type Room } from "matrix-js-sdk";
import { type Item, buildTimeline } from "../logic/timeline";
import type { PluginBridge } from "../plugins/host";
import { type InstalledPlugin, PLUGINS_EVENT_TYPE, readInstalled, writeInstalled } from "../plugins/installed";
import type { Channel, VisibleMessage } from "../plugins/protocol";
import { messageContent, raw, roomEvents } from "./events";
import { describeError } from "./session";

export function installedPlugins(client: MatrixClient): InstalledPlugin[] {
  return readInstalled(client.getAccountData(PLUGINS_EVENT_TYPE as never)?.getContent());
}

export async function saveInstalledPlugins(client: MatrixClient, plugins: readonly InstalledPlugin[]): Promise<void> {
  await client.setAccountData(PLUGINS_EVENT_TYPE as never, writeInstalled(plugins) as never);
}

type Message = Extract<Item, { kind: "message" }>;

/** A message as a plugin sees it: who sent it, when, and its text. */
export function visibleMessage(room: Room, item: Message): VisibleMessage {
  return { eventId: item.id, sender: item.sender, displayName: room.getMember(item.sender)?.name ?? item.sender, body: item.body, ts: item.ts };
}

/** The bridge over `client`; `where` says which channel (and server) the user has open. */
export function matrixPluginBridge(client: MatrixClient, where: () => { roomId?: string; serverId?: string }): PluginBridge {
  const joined = (roomId: string | undefined) => {
    const room = roomId ? client.getRoom(roomId) : null;
    return room?.getMyMembership() === "join" ? room : null;
  };
  return {
    channel(): Channel | null {
      const { roomId, serverId } = where();
      const room = joined(roomId);
      if (!room) return null;
      return serverId ? { roomId: room.roomId, name: room.name, serverId } : { roomId: room.roomId, name: room.name };
    },
    messages(roomId, limit) {
      const room = joined(roomId);
      if (!room) return [];
      // What the user's timeline shows: sent (not queued), readable (decrypted, not deleted), latest edits applied.
      return buildTimeline(roomEvents(room).map(raw), client.getUserId()!)
        .filter((item): item is Message => item.kind === "message" && !item.redacted && !item.encrypted && !item.pending && !item.poll)
        .slice(-limit)
        .map((item) => visibleMessage(room, item));
    },
    async send(roomId, text) {
      try {
        const { event_id } = await client.sendEvent(roomId, "m.room.message" as never, messageContent(text) as never);
        return event_id;
      } catch (e) {
        // The homeserver's reason, in words; nothing of the request itself.
        throw new Error(describeError(e));
      }
    },
  };
}
