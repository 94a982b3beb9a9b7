// Notification levels per server and per channel (extensions-spec §22,
// "Notification levels"): the member's own setting for each layer, what
// the homeserver says is in force, and which layer that comes from — the
// channel's own setting beats the server setting field by field, which
// beats the server's default; a server mute covers only the channels that
// chose no level of their own. The homeserver decides (`effective`); this
// file only names where each part of the answer comes from.

export type Level = "all_messages" | "only_mentions" | "nothing";

/** One layer's own setting; `null` (or absent) inherits. */
export type NotificationSetting = {
  level?: Level | null;
  muted_until?: number | null;
  suppress_everyone?: boolean | null;
  suppress_roles?: boolean | null;
};

export type EffectiveNotifications = { level: Level; muted: boolean; suppress_everyone: boolean; suppress_roles: boolean };

/** What `GET/PUT …/notifications` answer: the caller's own setting and what is in force. */
export type NotificationAnswer = NotificationSetting & { effective: EffectiveNotifications };

export const LEVEL_LABELS: Record<Level, string> = {
  all_messages: "All messages",
  only_mentions: "Only @mentions",
  nothing: "Nothing",
};

/**
 * "Until I turn it back on": the API has no open-ended mute, so the client
 * writes the latest time the homeserver takes (2^53 − 1 ms, in the year
 * 287396) and reads anything that far away as "forever".
 */
export const MUTED_FOREVER = Number.MAX_SAFE_INTEGER;
const FOREVER_THRESHOLD = MUTED_FOREVER / 2;

export const MUTE_DURATIONS: { label: string; ms: number | null }[] = [
  { label: "For 15 minutes", ms: 15 * 60_000 },
  { label: "For 1 hour", ms: 60 * 60_000 },
  { label: "For 8 hours", ms: 8 * 60 * 60_000 },
  { label: "For 24 hours", ms: 24 * 60 * 60_000 },
  { label: "Until I turn it back on", ms: null },
];

/** When a mute chosen now for `durationMs` (`null`: until turned back on) ends. */
export function muteEnd(durationMs: number | null, now: number): number {
  return durationMs === null ? MUTED_FOREVER : now + durationMs;
}

export function isMuted(setting: NotificationSetting | null | undefined, now: number): boolean {
  return typeof setting?.muted_until === "number" && setting.muted_until > now;
}

/** "until you turn it back on", "until 14:05", or "until Tue 14:05" when not today. */
export function mutedUntilText(until: number, now: number, locale?: string): string {
  if (until >= FOREVER_THRESHOLD) return "until you turn it back on";
  const end = new Date(until);
  const time = end.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
  if (end.toDateString() === new Date(now).toDateString()) return `until ${time}`;
  return `until ${end.toLocaleDateString(locale, { weekday: "short", day: "numeric", month: "short" })} ${time}`;
}

/** The full setting to PUT (the API replaces the layer's setting): every field, `null` for inherit. */
export function settingBody(setting: NotificationSetting): Required<NotificationSetting> {
  return {
    level: setting.level ?? null,
    muted_until: setting.muted_until ?? null,
    suppress_everyone: setting.suppress_everyone ?? null,
    suppress_roles: setting.suppress_roles ?? null,
  };
}

export type Layer = "channel" | "server" | "default";

export type Explained = {
  level: { value: Level; from: Layer };
  /** `until` is the end of the mute in force, from the layer that set it. */
  muted: { value: false } | { value: true; from: "channel" | "server"; until: number };
  suppressEveryone: { value: boolean; from: Layer };
  suppressRoles: { value: boolean; from: Layer };
};

/**
 * Which layer each part of `effective` comes from. `channel` is `null` for
 * the server's own dialog (the answer then describes channels that chose
 * nothing of their own).
 */
export function explain(effective: EffectiveNotifications, server: NotificationSetting, channel: NotificationSetting | null, now: number): Explained {
  const layerOf = <K extends keyof NotificationSetting>(field: K): Layer =>
    channel?.[field] != null ? "channel" : server[field] != null ? "server" : "default";
  let muted: Explained["muted"] = { value: false };
  if (effective.muted) {
    if (channel && isMuted(channel, now)) muted = { value: true, from: "channel", until: channel.muted_until! };
    else muted = { value: true, from: "server", until: server.muted_until ?? now };
  }
  return {
    level: { value: effective.level, from: layerOf("level") },
    muted,
    suppressEveryone: { value: effective.suppress_everyone, from: layerOf("suppress_everyone") },
    suppressRoles: { value: effective.suppress_roles, from: layerOf("suppress_roles") },
  };
}

export const LAYER_TEXT: Record<Layer, string> = {
  channel: "set on this channel",
  server: "from your server setting",
  default: "the server's default",
};

/** One line saying what is in force and why, as the dialogs show it. */
export function effectiveSummary(explained: Explained, now: number): string {
  if (explained.muted.value) {
    const by = explained.muted.from === "channel" ? "this channel's mute" : "your server mute";
    return `Muted ${mutedUntilText(explained.muted.until, now)} (${by}). Otherwise: ${LEVEL_LABELS[explained.level.value]}, ${LAYER_TEXT[explained.level.from]}.`;
  }
  return `${LEVEL_LABELS[explained.level.value]} — ${LAYER_TEXT[explained.level.from]}.`;
}

/** The level a server's members get when they chose none (`nexus.server`'s `default_notifications`, §4.2). */
export function serverDefaultLevel(serverContent: { default_notifications?: unknown } | null | undefined): Level {
  return serverContent?.default_notifications === "only_mentions" ? "only_mentions" : "all_messages";
}
