// The slash commands people can use in a room — those the bots in it have
// registered — as the homeserver's Discord-compatible bridge lists them
// (`GET /_nexus/bridge/v1/rooms/{roomId}/commands`), and sending one.
//
// Kept per room and asked again when the room's members change (which bots
// are in it is the bridge's to say: a bot's user ID follows a prefix the
// operator configures) and when the composer's command list opens (a bot
// registers its commands after it joins, so a list fetched at the join may
// be empty).
import { type MatrixClient, type MatrixEvent, Method, RoomStateEvent } from "matrix-js-sdk";
import type { SlashCommand } from "../logic/slashCommands";

const PREFIX = "/_nexus/bridge/v1";
/** Members change in bursts (a bot joins every channel at once). */
const MEMBER_CHANGE_DELAY_MS = 400;

type Entry = {
  commands: SlashCommand[];
  loading: Promise<void> | null;
  /** Asked for while an answer was on its way, which may predate what changed. */
  again: boolean;
  timer?: ReturnType<typeof setTimeout>;
};

/** The commands of each room one client has looked at, and who is waiting for changes. */
class RoomCommands {
  private readonly rooms = new Map<string, Entry>();
  private readonly listeners = new Set<() => void>();
  private readonly empty: SlashCommand[] = [];

  constructor(private readonly client: MatrixClient) {
    client.on(RoomStateEvent.Events, (event: MatrixEvent) => {
      const roomId = event.getRoomId();
      if (event.getType() !== "m.room.member" || !roomId || !this.rooms.has(roomId)) return;
      const now = event.getContent().membership;
      const before = event.getPrevContent().membership;
      if ((now === "join") === (before === "join")) return;
      const entry = this.rooms.get(roomId)!;
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => this.refresh(roomId), MEMBER_CHANGE_DELAY_MS);
    });
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** The room's commands as last fetched (none before the first answer); the first look fetches them. */
  get(roomId: string): SlashCommand[] {
    const entry = this.rooms.get(roomId);
    if (!entry) {
      this.refresh(roomId);
      return this.empty;
    }
    return entry.commands;
  }

  /** Asks the bridge again (once more after the answer on its way, if one is). */
  refresh(roomId: string): void {
    const entry = this.rooms.get(roomId) ?? { commands: this.empty, loading: null, again: false };
    this.rooms.set(roomId, entry);
    if (entry.loading) {
      entry.again = true;
      return;
    }
    const path = `/rooms/${encodeURIComponent(roomId)}/commands`;
    entry.loading = this.client.http
      .authedRequest<{ commands?: SlashCommand[] }>(Method.Get, path, undefined, undefined, { prefix: PREFIX })
      .then(
        (answer) => {
          entry.commands = Array.isArray(answer.commands) ? answer.commands.map((c) => ({ ...c, options: c.options ?? [] })) : [];
        },
        // No bridge on this homeserver, or not in the room: no commands.
        // Other failures (the network) keep what was known.
        (error: { httpStatus?: number }) => {
          if (error.httpStatus && error.httpStatus >= 400 && error.httpStatus < 500) entry.commands = this.empty;
        },
      )
      .finally(() => {
        entry.loading = null;
        this.listeners.forEach((l) => l());
        if (entry.again) {
          entry.again = false;
          this.refresh(roomId);
        }
      });
  }
}

const perClient = new WeakMap<MatrixClient, RoomCommands>();

export function roomCommands(client: MatrixClient): RoomCommands {
  let commands = perClient.get(client);
  if (!commands) {
    commands = new RoomCommands(client);
    perClient.set(client, commands);
  }
  return commands;
}

/**
 * Sends a command line as a plain message, which the bridge turns into the
 * bot's interaction. `m.mentions` is empty: a user ID given as an option
 * names that person for the bot, it does not ping them.
 */
export async function sendCommandLine(client: MatrixClient, roomId: string, line: string): Promise<void> {
  await client.sendEvent(roomId, "m.room.message" as never, { msgtype: "m.text", body: line, "m.mentions": {} } as never);
}
