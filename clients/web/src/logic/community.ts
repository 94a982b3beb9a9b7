// Scheduled events (extensions-spec §12), thread listings (§10, §22) and
// pins as the community panels draw and write them. Pure, so the rules the
// spec sets (content shapes, limits, RSVP counting) are unit-tested without
// a homeserver.
import type { AutoArchiveDuration, PinEntry, ScheduledEventContent, ScheduledEventEntry, ThreadContent, ThreadEntry } from "../matrix/nexus";

const NAME_MAX = 100;
const DESCRIPTION_MAX = 1000;
const LOCATION_MAX = 100;
const AUTO_ARCHIVE: AutoArchiveDuration[] = [60, 1440, 4320, 10080];

// ---------------------------------------------------------------------------
// Times

/** A `datetime-local` input value ("2026-03-08T14:30") for a time, in the browser's zone. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}`;
}

/** The time a `datetime-local` value names, in the browser's zone; null when empty or malformed. */
export function fromLocalInput(value: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => Number(part ?? 0));
  const date = new Date(year, month - 1, day, hour, minute, second);
  // The Date constructor rolls 31 February over into March: refuse instead.
  if (date.getMonth() !== month - 1 || date.getDate() !== day) return null;
  return date.getTime();
}

/** Where the form's start begins: the first whole hour at least an hour from now, local time. */
export function suggestedStart(now: number): number {
  const d = new Date(now + 3600_000);
  if (d.getMinutes() || d.getSeconds() || d.getMilliseconds()) d.setHours(d.getHours() + 1, 0, 0, 0);
  return d.getTime();
}

export type TimeFormat = { locale?: string; timeZone?: string };

/** "Sat, 7 Mar, 14:30 – 16:00", or with both dates when the event spans days. */
export function formatEventTime(start: number, end: number | undefined, format: TimeFormat = {}): string {
  const options: Intl.DateTimeFormatOptions = { timeZone: format.timeZone };
  const full = new Intl.DateTimeFormat(format.locale, { ...options, weekday: "short", day: "numeric", month: "short", hour: "numeric", minute: "2-digit" });
  if (end === undefined || end <= start) return full.format(start);
  const day = new Intl.DateTimeFormat(format.locale, { ...options, year: "numeric", month: "numeric", day: "numeric" });
  const sameDay = day.format(start) === day.format(end);
  const clock = new Intl.DateTimeFormat(format.locale, { ...options, hour: "numeric", minute: "2-digit" });
  return `${full.format(start)} – ${sameDay ? clock.format(end) : full.format(end)}`;
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 24 * 3600_000],
  ["month", 30 * 24 * 3600_000],
  ["week", 7 * 24 * 3600_000],
  ["day", 24 * 3600_000],
  ["hour", 3600_000],
  ["minute", 60_000],
];

/** "5 minutes ago", "in 2 hours", "now": the largest whole unit. */
export function relativeTime(ts: number, now: number, locale = "en"): string {
  const delta = ts - now;
  const words = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  for (const [unit, size] of UNITS) {
    if (Math.abs(delta) >= size) return words.format(Math.trunc(delta / size), unit);
  }
  return words.format(0, "second");
}

/** Discord's labels for "when" in the event list. */
export function eventTiming(entry: ScheduledEventEntry, now: number, locale = "en"): string {
  if (entry.event.status === "active") return "Happening now";
  return entry.event.start > now ? `Starts ${relativeTime(entry.event.start, now, locale)}` : "Starting soon";
}

export function interestedLabel(count: number): string {
  return `${count} interested`;
}

export function repliesLabel(count: number): string {
  return `${count} ${count === 1 ? "reply" : "replies"}`;
}

// ---------------------------------------------------------------------------
// Scheduled events

/**
 * A fresh opaque ID for the state key (§12.1): readable from the name, made
 * unique by a random tail so a new event never overwrites another, within
 * the `[A-Za-z0-9._~-]{1,64}` an RSVP may name.
 */
export function newEventKey(name: string, random: () => number = Math.random): string {
  const slug = name
    .normalize("NFKD")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
  const tail = Math.floor(random() * 36 ** 8).toString(36).padStart(8, "0");
  return `${slug || "event"}-${tail}`;
}

export type EventForm = {
  name: string;
  start: string;
  end: string;
  description: string;
  where: "channel" | "location";
  channel: string;
  location: string;
};

export type Built<T> = { ok: true; value: T } | { ok: false; field: keyof EventForm; error: string };

/**
 * The `nexus.scheduled_event` content a form describes, checked against the
 * schema's limits: exactly one of `location` and `channel`, `end` required
 * with `location` and after `start`. Discord only schedules the future.
 */
export function buildScheduledEvent(form: EventForm, creator: string, now: number): Built<ScheduledEventContent> {
  const name = form.name.trim();
  if (!name) return { ok: false, field: "name", error: "Give the event a name." };
  if (name.length > NAME_MAX) return { ok: false, field: "name", error: `The name is at most ${NAME_MAX} characters.` };
  const start = fromLocalInput(form.start);
  if (start === null) return { ok: false, field: "start", error: "Pick a start date and time." };
  if (start <= now) return { ok: false, field: "start", error: "The start must be in the future." };
  const end = form.end.trim() ? fromLocalInput(form.end) : undefined;
  if (end === null) return { ok: false, field: "end", error: "The end is not a valid date and time." };
  if (end !== undefined && end <= start) return { ok: false, field: "end", error: "The end must be after the start." };
  const description = form.description.trim();
  if (description.length > DESCRIPTION_MAX) return { ok: false, field: "description", error: `The description is at most ${DESCRIPTION_MAX} characters.` };

  const content: ScheduledEventContent = { name, creator, start, status: "scheduled" };
  if (end !== undefined) content.end = end;
  if (description) content.description = description;
  if (form.where === "channel") {
    if (!form.channel.startsWith("!")) return { ok: false, field: "channel", error: "Pick a voice channel." };
    content.channel = form.channel;
  } else {
    const location = form.location.trim();
    if (!location) return { ok: false, field: "location", error: "Say where it happens." };
    if (location.length > LOCATION_MAX) return { ok: false, field: "location", error: `The location is at most ${LOCATION_MAX} characters.` };
    if (end === undefined) return { ok: false, field: "end", error: "An event somewhere else needs an end time." };
    content.location = location;
  }
  return { ok: true, value: content };
}

/** `nexus.scheduled_event.rsvp` content (§12.2): exactly these two fields. */
export function rsvpContent(eventKey: string, interested: boolean): { scheduled_event: string; interested: boolean } {
  return { scheduled_event: eventKey, interested };
}

/** The entry as it will read once the caller's RSVP counts, shown until the homeserver's count arrives. */
export function withRsvp(entry: ScheduledEventEntry, interested: boolean): ScheduledEventEntry {
  if (entry.you_interested === interested) return entry;
  return { ...entry, you_interested: interested, interested: Math.max(0, entry.interested + (interested ? 1 : -1)) };
}

/** The homeserver's list, soonest first (§22), active events ahead of scheduled ones. */
export function sortEvents(entries: ScheduledEventEntry[]): ScheduledEventEntry[] {
  const rank = (e: ScheduledEventEntry) => (e.event.status === "active" ? 0 : 1);
  return [...entries].sort((a, b) => rank(a) - rank(b) || a.event.start - b.event.start || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

// ---------------------------------------------------------------------------
// Threads

/** A one-line summary of a message, for a thread or pin that shows its root. */
export function messageSummary(content: Record<string, any> | undefined, max = 140): string | null {
  const body = typeof content?.body === "string" ? content.body : null;
  if (!body) return null;
  // A reply's fallback quote ("> <@a:x> …") is not what the author wrote.
  const lines = body.split("\n").filter((line) => !line.startsWith("> ") && line.trim() !== "");
  const text = (lines.join(" ") || body).replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export type ThreadRow = { rootId: string; title: string; named: boolean; replies: string; lastActivity: string; lastActivityTs: number; locked: boolean };

/** A listing row: the thread's name when it has one (§10.2), else its root's text. */
export function threadRow(thread: ThreadEntry, rootSummary: string | null, now: number, locale = "en"): ThreadRow {
  const name = thread.thread?.name?.trim();
  return {
    rootId: thread.root_id,
    title: name || rootSummary || "Untitled thread",
    named: !!name,
    replies: repliesLabel(thread.count),
    lastActivity: relativeTime(thread.last_activity_ts, now, locale),
    lastActivityTs: thread.last_activity_ts,
    locked: !!thread.thread?.locked,
  };
}

/** A `nexus.thread` in the room state the client holds, with what it knows of the root. */
export type KnownThread = { rootId: string; rootSender: string; rootTs: number; content: ThreadContent; stateSender: string; stateTs: number; replies: number };

/**
 * Named threads without replies, which the homeserver's listing leaves out
 * (it walks thread relations, and a new forum post has none yet), derived
 * as §10.3 and §10.5 say: archived by hand or idle since the root or the
 * naming, private ones only for whoever posted or named them. With a next
 * page still to come, only those newer than the page's oldest are added,
 * so the order stays the homeserver's.
 */
export function withUnlisted(listed: ThreadEntry[], known: KnownThread[], opts: { roomId: string; archived: boolean; me: string; now: number; complete: boolean }): ThreadEntry[] {
  const ids = new Set(listed.map((t) => t.root_id));
  const oldest = listed.length ? Math.min(...listed.map((t) => t.last_activity_ts)) : -Infinity;
  const extra: ThreadEntry[] = [];
  for (const k of known) {
    if (ids.has(k.rootId) || k.replies > 0 || !k.content.name) continue;
    if (k.content.private && k.rootSender !== opts.me && k.stateSender !== opts.me) continue;
    const last = Math.max(k.rootTs, k.stateTs);
    const idle = opts.now - last >= (AUTO_ARCHIVE.includes(k.content.auto_archive_duration) ? k.content.auto_archive_duration : 4320) * 60_000;
    if ((!!k.content.archived || idle) !== opts.archived) continue;
    if (!opts.complete && last < oldest) continue;
    extra.push({ room_id: opts.roomId, root_id: k.rootId, creator: k.rootSender, archived: opts.archived, count: 0, last_activity_ts: last, thread: k.content });
  }
  if (!extra.length) return listed;
  return [...listed, ...extra].sort((a, b) => b.last_activity_ts - a.last_activity_ts);
}

/** A forum post's `nexus.thread` (§5.1, §10.2): its title, archived after the channel's proposed idle time. */
export function forumThreadContent(title: string, channelDefault?: number): ThreadContent {
  const duration = AUTO_ARCHIVE.includes(channelDefault as AutoArchiveDuration) ? (channelDefault as AutoArchiveDuration) : 4320;
  return { name: title.trim().slice(0, NAME_MAX), auto_archive_duration: duration };
}

// ---------------------------------------------------------------------------
// Pins

/** The event IDs of `m.room.pinned_events` content; anything malformed is left out. */
export function pinnedIds(content: Record<string, any> | undefined): string[] {
  const pinned = content?.pinned;
  if (!Array.isArray(pinned)) return [];
  return pinned.filter((id): id is string => typeof id === "string" && id.startsWith("$"));
}

/** The pinned list with `eventId` added at the end or removed; the same array when nothing changes. */
export function withPin(pinned: string[], eventId: string, pin: boolean): string[] {
  const has = pinned.includes(eventId);
  if (pin === has) return pinned;
  return pin ? [...pinned, eventId] : pinned.filter((id) => id !== eventId);
}

export type PinRow = { eventId: string; sender: string | null; body: string; ts: number | null; available: boolean };

/** A pin as the panel lists it; the homeserver leaves out the events the reader may not read. */
export function pinRow(pin: PinEntry): PinRow {
  const event = pin.event;
  if (!event) return { eventId: pin.event_id, sender: null, body: "You cannot see this message.", ts: null, available: false };
  const redacted = !!event.unsigned?.redacted_because || !event.content || Object.keys(event.content).length === 0;
  const body = redacted ? "Message deleted." : messageSummary(event.content, 300) ?? `(${event.type ?? "event"})`;
  return { eventId: pin.event_id, sender: event.sender ?? null, body, ts: event.origin_server_ts ?? null, available: !redacted };
}

/** Discord lists the latest pin first; `m.room.pinned_events` keeps them oldest first. */
export function pinRows(pins: PinEntry[]): PinRow[] {
  return pins.map(pinRow).reverse();
}
