// Discord's permission flags as Nexus uses them (extensions-spec §7.1):
// bitfields travel as decimal strings because they pass 2^53.

export const PERMISSION_BITS: Record<string, number> = {
  CREATE_INSTANT_INVITE: 0,
  KICK_MEMBERS: 1,
  BAN_MEMBERS: 2,
  ADMINISTRATOR: 3,
  MANAGE_CHANNELS: 4,
  MANAGE_GUILD: 5,
  ADD_REACTIONS: 6,
  VIEW_AUDIT_LOG: 7,
  PRIORITY_SPEAKER: 8,
  STREAM: 9,
  VIEW_CHANNEL: 10,
  SEND_MESSAGES: 11,
  SEND_TTS_MESSAGES: 12,
  MANAGE_MESSAGES: 13,
  EMBED_LINKS: 14,
  ATTACH_FILES: 15,
  READ_MESSAGE_HISTORY: 16,
  MENTION_EVERYONE: 17,
  USE_EXTERNAL_EMOJIS: 18,
  VIEW_GUILD_INSIGHTS: 19,
  CONNECT: 20,
  SPEAK: 21,
  MUTE_MEMBERS: 22,
  DEAFEN_MEMBERS: 23,
  MOVE_MEMBERS: 24,
  USE_VAD: 25,
  CHANGE_NICKNAME: 26,
  MANAGE_NICKNAMES: 27,
  MANAGE_ROLES: 28,
  MANAGE_WEBHOOKS: 29,
  MANAGE_GUILD_EXPRESSIONS: 30,
  USE_APPLICATION_COMMANDS: 31,
  REQUEST_TO_SPEAK: 32,
  MANAGE_EVENTS: 33,
  MANAGE_THREADS: 34,
  CREATE_PUBLIC_THREADS: 35,
  CREATE_PRIVATE_THREADS: 36,
  USE_EXTERNAL_STICKERS: 37,
  SEND_MESSAGES_IN_THREADS: 38,
  USE_EMBEDDED_ACTIVITIES: 39,
  MODERATE_MEMBERS: 40,
  VIEW_CREATOR_MONETIZATION_ANALYTICS: 41,
  USE_SOUNDBOARD: 42,
  CREATE_GUILD_EXPRESSIONS: 43,
  CREATE_EVENTS: 44,
  USE_EXTERNAL_SOUNDS: 45,
  SEND_VOICE_MESSAGES: 46,
  SET_VOICE_CHANNEL_STATUS: 48,
  SEND_POLLS: 49,
  USE_EXTERNAL_APPS: 50,
  PIN_MESSAGES: 51,
  BYPASS_SLOWMODE: 52,
};

export type Permission = keyof typeof PERMISSION_BITS;

/** Flags that exist server-wide only: a channel overwrite may not name them (§7.1). */
export const SERVER_ONLY = new Set<string>([
  "KICK_MEMBERS", "BAN_MEMBERS", "ADMINISTRATOR", "MANAGE_GUILD", "VIEW_AUDIT_LOG",
  "VIEW_GUILD_INSIGHTS", "CHANGE_NICKNAME", "MANAGE_NICKNAMES", "MANAGE_GUILD_EXPRESSIONS",
  "MODERATE_MEMBERS", "VIEW_CREATOR_MONETIZATION_ANALYTICS", "CREATE_GUILD_EXPRESSIONS",
]);

/** Groups for the permissions editor, in Discord's order. */
export const PERMISSION_GROUPS: { title: string; flags: string[] }[] = [
  {
    title: "General",
    flags: ["VIEW_CHANNEL", "MANAGE_CHANNELS", "MANAGE_ROLES", "MANAGE_GUILD_EXPRESSIONS", "CREATE_GUILD_EXPRESSIONS",
      "VIEW_AUDIT_LOG", "MANAGE_WEBHOOKS", "MANAGE_GUILD"],
  },
  {
    title: "Membership",
    flags: ["CREATE_INSTANT_INVITE", "CHANGE_NICKNAME", "MANAGE_NICKNAMES", "KICK_MEMBERS", "BAN_MEMBERS",
      "MODERATE_MEMBERS"],
  },
  {
    title: "Text",
    flags: ["SEND_MESSAGES", "SEND_MESSAGES_IN_THREADS", "CREATE_PUBLIC_THREADS", "CREATE_PRIVATE_THREADS",
      "EMBED_LINKS", "ATTACH_FILES", "ADD_REACTIONS", "USE_EXTERNAL_EMOJIS", "USE_EXTERNAL_STICKERS",
      "MENTION_EVERYONE", "MANAGE_MESSAGES", "PIN_MESSAGES", "MANAGE_THREADS", "READ_MESSAGE_HISTORY",
      "SEND_TTS_MESSAGES", "SEND_VOICE_MESSAGES", "SEND_POLLS", "BYPASS_SLOWMODE", "USE_APPLICATION_COMMANDS",
      "USE_EXTERNAL_APPS"],
  },
  {
    title: "Voice",
    flags: ["CONNECT", "SPEAK", "STREAM", "USE_VAD", "PRIORITY_SPEAKER", "MUTE_MEMBERS", "DEAFEN_MEMBERS",
      "MOVE_MEMBERS", "USE_SOUNDBOARD", "USE_EXTERNAL_SOUNDS", "SET_VOICE_CHANNEL_STATUS", "REQUEST_TO_SPEAK",
      "USE_EMBEDDED_ACTIVITIES"],
  },
  { title: "Events", flags: ["CREATE_EVENTS", "MANAGE_EVENTS"] },
  { title: "Advanced", flags: ["ADMINISTRATOR", "VIEW_GUILD_INSIGHTS", "VIEW_CREATOR_MONETIZATION_ANALYTICS"] },
];

/** A permission bitfield; parses the spec's decimal strings (invalid input is no permission). */
export class Permissions {
  readonly bits: bigint;

  constructor(bits: bigint) {
    this.bits = bits;
  }

  static parse(field: string | undefined | null): Permissions {
    if (typeof field !== "string" || !/^[0-9]{1,20}$/.test(field)) return new Permissions(0n);
    return new Permissions(BigInt(field));
  }

  static of(...names: string[]): Permissions {
    return new Permissions(names.reduce((bits, name) => bits | flag(name), 0n));
  }

  has(name: string): boolean {
    const bit = flag(name);
    // ADMINISTRATOR implies everything, as Discord and §7.2 say.
    return (this.bits & bit) === bit || (this.bits & flag("ADMINISTRATOR")) !== 0n;
  }

  with(name: string, on: boolean): Permissions {
    return new Permissions(on ? this.bits | flag(name) : this.bits & ~flag(name));
  }

  names(): string[] {
    return Object.keys(PERMISSION_BITS).filter((name) => (this.bits & flag(name)) !== 0n);
  }

  toString(): string {
    return this.bits.toString();
  }
}

function flag(name: string): bigint {
  const bit = PERMISSION_BITS[name];
  if (bit === undefined) throw new Error(`unknown permission ${name}`);
  return 1n << BigInt(bit);
}

/** "SEND_MESSAGES" → "Send Messages", as Discord's settings show flags. */
export function permissionLabel(name: string): string {
  return name
    .toLowerCase()
    .split("_")
    .map((word) => (word === "vad" ? "Voice Activity" : word === "tts" ? "TTS" : word[0].toUpperCase() + word.slice(1)))
    .join(" ")
    .replace("Guild", "Server");
}

/** What the composer shows when a member may not post, or null when they may. */
export function composerBlock(perms: Permissions, inThread: boolean, timedOutUntil?: number, now = Date.now()): string | null {
  if (timedOutUntil && timedOutUntil > now) return "You are timed out in this server.";
  const needed = inThread ? "SEND_MESSAGES_IN_THREADS" : "SEND_MESSAGES";
  if (!perms.has(needed)) return "You do not have permission to send messages in this channel.";
  return null;
}

/** Discord's 0xRRGGBB role colour as CSS, or null for "no colour" (0). */
export function roleColour(colours: { primary?: number } | undefined): string | null {
  const primary = colours?.primary;
  if (!primary || primary < 0 || primary > 0xffffff) return null;
  return `#${primary.toString(16).padStart(6, "0")}`;
}
