import { describe, expect, it } from "vitest";
import {
  type EventForm,
  buildScheduledEvent,
  eventTiming,
  forumThreadContent,
  formatEventTime,
  fromLocalInput,
  interestedLabel,
  messageSummary,
  newEventKey,
  pinRow,
  pinRows,
  pinnedIds,
  relativeTime,
  repliesLabel,
  rsvpContent,
  sortEvents,
  suggestedStart,
  threadRow,
  withUnlisted,
  toLocalInput,
  withPin,
  withRsvp,
} from "../src/logic/community";
import type { KnownThread } from "../src/logic/community";
import type { ScheduledEventEntry, ThreadEntry } from "../src/matrix/nexus";

const HOUR = 3600_000;
const local = (y: number, mo: number, d: number, h = 0, mi = 0) => new Date(y, mo - 1, d, h, mi).getTime();

describe("datetime-local values", () => {
  it("round-trips a time in the browser's zone", () => {
    const ms = local(2030, 3, 8, 14, 30);
    expect(toLocalInput(ms)).toBe("2030-03-08T14:30");
    expect(fromLocalInput("2030-03-08T14:30")).toBe(ms);
    expect(fromLocalInput("2030-03-08T14:30:15")).toBe(ms + 15_000);
  });

  it("refuses empty, malformed and impossible dates", () => {
    for (const bad of ["", "2030-03-08", "14:30", "2030-02-31T10:00", "2030-13-01T10:00", "tomorrow"]) {
      expect(fromLocalInput(bad)).toBeNull();
    }
  });

  it("suggests the first whole hour at least an hour away", () => {
    expect(suggestedStart(local(2030, 1, 1, 10, 5))).toBe(local(2030, 1, 1, 12));
    expect(suggestedStart(local(2030, 1, 1, 10, 0))).toBe(local(2030, 1, 1, 11));
    expect(suggestedStart(local(2030, 12, 31, 23, 30))).toBe(local(2031, 1, 1, 1));
  });
});

describe("time labels", () => {
  const utc = { locale: "en-GB", timeZone: "UTC" };
  const start = Date.UTC(2030, 2, 9, 14, 30);

  it("formats a start, a same-day range and a range over days", () => {
    expect(formatEventTime(start, undefined, utc)).toBe("Sat 9 Mar, 14:30");
    expect(formatEventTime(start, start + 2 * HOUR, utc)).toBe("Sat 9 Mar, 14:30 – 16:30");
    expect(formatEventTime(start, start + 24 * HOUR, utc)).toBe("Sat 9 Mar, 14:30 – Sun 10 Mar, 14:30");
    expect(formatEventTime(start, start - HOUR, utc)).toBe("Sat 9 Mar, 14:30");
  });

  it("says how long ago or until, in the largest whole unit", () => {
    const now = Date.UTC(2030, 0, 1);
    expect(relativeTime(now - 20_000, now)).toBe("now");
    expect(relativeTime(now - 5 * 60_000, now)).toBe("5 minutes ago");
    expect(relativeTime(now - 3 * HOUR - 1, now)).toBe("3 hours ago");
    expect(relativeTime(now + 2 * 24 * HOUR, now)).toBe("in 2 days");
    expect(relativeTime(now - 24 * HOUR, now)).toBe("yesterday");
  });

  it("counts replies and interest", () => {
    expect(repliesLabel(1)).toBe("1 reply");
    expect(repliesLabel(0)).toBe("0 replies");
    expect(interestedLabel(3)).toBe("3 interested");
  });
});

const form = (over: Partial<EventForm> = {}): EventForm => ({
  name: "Seed swap",
  start: "2030-03-08T10:00",
  end: "",
  description: "",
  where: "channel",
  channel: "!voice:example.org",
  location: "",
  ...over,
});
const NOW = local(2030, 1, 1);

describe("creating a scheduled event", () => {
  it("writes §12.1's content for a voice channel event, end optional", () => {
    const built = buildScheduledEvent(form({ name: "  Seed swap ", description: " Bring seeds " }), "@carol:example.org", NOW);
    expect(built).toEqual({
      ok: true,
      value: {
        name: "Seed swap",
        creator: "@carol:example.org",
        start: local(2030, 3, 8, 10),
        status: "scheduled",
        channel: "!voice:example.org",
        description: "Bring seeds",
      },
    });
  });

  it("needs an end after the start for a location, and never both places", () => {
    const noEnd = buildScheduledEvent(form({ where: "location", location: "Community hall" }), "@c:x", NOW);
    expect(noEnd).toMatchObject({ ok: false, field: "end" });
    const built = buildScheduledEvent(form({ where: "location", location: "Community hall", end: "2030-03-08T13:00", channel: "!voice:x" }), "@c:x", NOW);
    expect(built.ok && built.value).toEqual({
      name: "Seed swap",
      creator: "@c:x",
      start: local(2030, 3, 8, 10),
      end: local(2030, 3, 8, 13),
      location: "Community hall",
      status: "scheduled",
    });
    expect(buildScheduledEvent(form({ end: "2030-03-08T09:00" }), "@c:x", NOW)).toMatchObject({ ok: false, field: "end" });
  });

  it("refuses what the schema or Discord would", () => {
    expect(buildScheduledEvent(form({ name: " " }), "@c:x", NOW)).toMatchObject({ ok: false, field: "name" });
    expect(buildScheduledEvent(form({ name: "x".repeat(101) }), "@c:x", NOW)).toMatchObject({ ok: false, field: "name" });
    expect(buildScheduledEvent(form({ start: "" }), "@c:x", NOW)).toMatchObject({ ok: false, field: "start" });
    expect(buildScheduledEvent(form({ start: "2029-12-31T10:00" }), "@c:x", NOW)).toMatchObject({ ok: false, field: "start" });
    expect(buildScheduledEvent(form({ description: "x".repeat(1001) }), "@c:x", NOW)).toMatchObject({ ok: false, field: "description" });
    expect(buildScheduledEvent(form({ channel: "" }), "@c:x", NOW)).toMatchObject({ ok: false, field: "channel" });
    expect(buildScheduledEvent(form({ where: "location", end: "2030-03-08T11:00" }), "@c:x", NOW)).toMatchObject({ ok: false, field: "location" });
  });

  it("picks a fresh state key an RSVP can name", () => {
    const key = newEventKey("Spring Seed Swap — 2030!", () => 0.5);
    expect(key).toMatch(/^spring-seed-swap-2030-[0-9a-z]{8}$/);
    expect(newEventKey("🌱🌱", () => 0)).toBe("event-00000000");
    const long = newEventKey("a".repeat(200) + " b");
    expect(long).toMatch(/^[A-Za-z0-9._~-]{1,64}$/);
    expect(newEventKey("x", () => 0.1)).not.toBe(newEventKey("x", () => 0.2));
  });
});

const entry = (id: string, over: Partial<ScheduledEventEntry["event"]> = {}, interested = 0, you = false): ScheduledEventEntry => ({
  id,
  event: { name: id, creator: "@c:x", start: NOW + HOUR, status: "scheduled", channel: "!v:x", ...over },
  interested,
  you_interested: you,
});

describe("RSVPs", () => {
  it("writes exactly §12.2's two fields", () => {
    expect(rsvpContent("community-call", true)).toEqual({ scheduled_event: "community-call", interested: true });
    expect(rsvpContent("community-call", false)).toEqual({ scheduled_event: "community-call", interested: false });
  });

  it("counts the caller's RSVP once until the homeserver's answer", () => {
    const e = entry("call", {}, 2, false);
    expect(withRsvp(e, true)).toMatchObject({ interested: 3, you_interested: true });
    expect(withRsvp(withRsvp(e, true), true)).toMatchObject({ interested: 3 });
    expect(withRsvp(entry("call", {}, 1, true), false)).toMatchObject({ interested: 0, you_interested: false });
    expect(withRsvp(e, false)).toBe(e);
  });

  it("lists active events first, then the soonest", () => {
    const sorted = sortEvents([entry("later", { start: NOW + 3 * HOUR }), entry("live", { start: NOW + 5 * HOUR, status: "active" }), entry("soon")]);
    expect(sorted.map((e) => e.id)).toEqual(["live", "soon", "later"]);
  });

  it("says when an event starts", () => {
    expect(eventTiming(entry("a", { status: "active" }), NOW)).toBe("Happening now");
    expect(eventTiming(entry("b", { start: NOW + 2 * HOUR }), NOW)).toBe("Starts in 2 hours");
    expect(eventTiming(entry("c", { start: NOW - 1000 }), NOW)).toBe("Starting soon");
  });
});

describe("thread rows", () => {
  const thread = (over: Partial<ThreadEntry> = {}): ThreadEntry => ({
    room_id: "!help:x",
    root_id: "$root",
    archived: false,
    count: 2,
    last_activity_ts: NOW - 10 * 60_000,
    ...over,
  });

  it("names a thread by its nexus.thread, else by its root's text", () => {
    const named = threadRow(thread({ thread: { name: "Aphids on my roses", auto_archive_duration: 4320 } }), "ignored", NOW);
    expect(named).toMatchObject({ rootId: "$root", title: "Aphids on my roses", named: true, replies: "2 replies", lastActivity: "10 minutes ago" });
    expect(threadRow(thread({ count: 1 }), "What do we plant?", NOW)).toMatchObject({ title: "What do we plant?", named: false, replies: "1 reply" });
    expect(threadRow(thread(), null, NOW).title).toBe("Untitled thread");
    expect(threadRow(thread({ thread: { name: "Rules", auto_archive_duration: 60, locked: true } }), null, NOW).locked).toBe(true);
  });

  it("summarises a root without its reply fallback", () => {
    expect(messageSummary({ body: "> <@a:x> earlier\n\nmy answer\nsecond line" })).toBe("my answer second line");
    expect(messageSummary({ body: "x".repeat(200) }, 10)).toBe(`${"x".repeat(9)}…`);
    expect(messageSummary({})).toBeNull();
    expect(messageSummary(undefined)).toBeNull();
  });

  it("adds named threads without replies, which the homeserver does not list, to the right tab", () => {
    const post = (rootId: string, over: Partial<KnownThread> = {}): KnownThread => ({
      rootId,
      rootSender: "@erin:x",
      rootTs: NOW - 2 * HOUR,
      content: { name: rootId, auto_archive_duration: 60 },
      stateSender: "@erin:x",
      stateTs: NOW - 30 * 60_000,
      replies: 0,
      ...over,
    });
    const known = [
      post("$fresh"),
      post("$idle", { stateTs: NOW - 2 * HOUR }),
      post("$shelved", { content: { name: "shelved", auto_archive_duration: 10080, archived: true } }),
      post("$answered", { replies: 2 }),
      post("$secret", { content: { name: "secret", auto_archive_duration: 60, private: true } }),
      post("$mine", { rootSender: "@me:x", content: { name: "mine", auto_archive_duration: 60, private: true } }),
    ];
    const listed = [thread({ root_id: "$listed", last_activity_ts: NOW - 10 * 60_000 })];
    const active = withUnlisted(listed, known, { roomId: "!help:x", archived: false, me: "@me:x", now: NOW, complete: true });
    expect(active.map((t) => t.root_id)).toEqual(["$listed", "$fresh", "$mine"]);
    expect(active[1]).toEqual({ room_id: "!help:x", root_id: "$fresh", creator: "@erin:x", archived: false, count: 0, last_activity_ts: NOW - 30 * 60_000, thread: { name: "$fresh", auto_archive_duration: 60 } });
    const archived = withUnlisted([], known, { roomId: "!help:x", archived: true, me: "@me:x", now: NOW, complete: true });
    expect(archived.map((t) => t.root_id).sort()).toEqual(["$idle", "$shelved"]);
    // A page follows: nothing older than this page's oldest is slipped in.
    const paged = withUnlisted([thread({ root_id: "$listed", last_activity_ts: NOW - 5 * 60_000 })], known, { roomId: "!help:x", archived: false, me: "@me:x", now: NOW, complete: false });
    expect(paged.map((t) => t.root_id)).toEqual(["$listed"]);
    expect(withUnlisted(listed, [post("$listed")], { roomId: "!help:x", archived: false, me: "@me:x", now: NOW, complete: true })).toBe(listed);
  });

  it("titles a forum post as §10.2 says, with a valid idle time", () => {
    expect(forumThreadContent("  Aphids  ", 1440)).toEqual({ name: "Aphids", auto_archive_duration: 1440 });
    expect(forumThreadContent("Aphids", 15)).toEqual({ name: "Aphids", auto_archive_duration: 4320 });
    expect(forumThreadContent("t".repeat(150)).name).toHaveLength(100);
  });
});

describe("pins", () => {
  it("reads m.room.pinned_events defensively", () => {
    expect(pinnedIds({ pinned: ["$a", 3, "$b", "nope"] })).toEqual(["$a", "$b"]);
    expect(pinnedIds({ pinned: "$a" })).toEqual([]);
    expect(pinnedIds(undefined)).toEqual([]);
  });

  it("adds at the end, removes anywhere, and changes nothing twice", () => {
    const pinned = ["$a", "$b"];
    expect(withPin(pinned, "$c", true)).toEqual(["$a", "$b", "$c"]);
    expect(withPin(pinned, "$a", false)).toEqual(["$b"]);
    expect(withPin(pinned, "$a", true)).toBe(pinned);
    expect(withPin(pinned, "$z", false)).toBe(pinned);
  });

  it("shows the latest pin first, and what the reader may not read as such", () => {
    const rows = pinRows([
      { event_id: "$old", event: { sender: "@a:x", origin_server_ts: 1, content: { msgtype: "m.text", body: "first" } } },
      { event_id: "$hidden" },
      { event_id: "$gone", event: { sender: "@b:x", type: "m.room.message", content: {}, unsigned: { redacted_because: {} } } },
    ]);
    expect(rows.map((r) => r.eventId)).toEqual(["$gone", "$hidden", "$old"]);
    expect(rows[0]).toMatchObject({ body: "Message deleted.", available: false, sender: "@b:x" });
    expect(rows[1]).toMatchObject({ sender: null, available: false });
    expect(pinRow({ event_id: "$old", event: { sender: "@a:x", origin_server_ts: 1, content: { body: "first" } } })).toEqual({
      eventId: "$old",
      sender: "@a:x",
      body: "first",
      ts: 1,
      available: true,
    });
  });
});
