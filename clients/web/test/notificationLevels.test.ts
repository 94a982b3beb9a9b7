import { describe, expect, it } from "vitest";
import {
  type EffectiveNotifications,
  MUTED_FOREVER,
  effectiveSummary,
  explain,
  isMuted,
  muteEnd,
  mutedUntilText,
  serverDefaultLevel,
  settingBody,
} from "../src/logic/notificationLevels";

const NOW = Date.UTC(2026, 5, 1, 12, 0);
const effective = (over: Partial<EffectiveNotifications> = {}): EffectiveNotifications => ({
  level: "all_messages",
  muted: false,
  suppress_everyone: false,
  suppress_roles: false,
  ...over,
});

describe("mutes", () => {
  it("end after the chosen time, or never", () => {
    expect(muteEnd(60 * 60_000, NOW)).toBe(NOW + 3_600_000);
    expect(muteEnd(null, NOW)).toBe(MUTED_FOREVER);
    // The homeserver takes timestamps up to 2^53.
    expect(MUTED_FOREVER).toBeLessThanOrEqual(2 ** 53);
  });

  it("are over once their time has passed", () => {
    expect(isMuted({ muted_until: NOW + 1 }, NOW)).toBe(true);
    expect(isMuted({ muted_until: NOW }, NOW)).toBe(false);
    expect(isMuted({ muted_until: null }, NOW)).toBe(false);
    expect(isMuted(null, NOW)).toBe(false);
  });

  it("read as forever or as an end time", () => {
    expect(mutedUntilText(MUTED_FOREVER, NOW)).toBe("until you turn it back on");
    expect(mutedUntilText(NOW + 60_000, NOW, "en-GB")).toMatch(/^until \d\d:\d\d$/);
    // Another day: the day is named before the time.
    const later = mutedUntilText(NOW + 3 * 24 * 3_600_000, NOW, "en-GB");
    expect(later).toMatch(/^until .+ \d\d:\d\d$/);
    expect(later).not.toMatch(/^until \d\d:\d\d$/);
  });
});

describe("settingBody", () => {
  it("sends every field, null for inherit, since a PUT replaces the layer", () => {
    expect(settingBody({ level: "nothing" })).toEqual({ level: "nothing", muted_until: null, suppress_everyone: null, suppress_roles: null });
  });
});

describe("explain", () => {
  it("credits the channel's own level over the server's and the default", () => {
    const got = explain(effective({ level: "only_mentions" }), { level: "nothing" }, { level: "only_mentions" }, NOW);
    expect(got.level).toEqual({ value: "only_mentions", from: "channel" });
    expect(explain(effective({ level: "nothing" }), { level: "nothing" }, {}, NOW).level.from).toBe("server");
    expect(explain(effective(), {}, {}, NOW).level.from).toBe("default");
  });

  it("credits flags field by field", () => {
    const got = explain(effective({ suppress_everyone: true, suppress_roles: false }), { suppress_everyone: true, suppress_roles: true }, { suppress_roles: false }, NOW);
    expect(got.suppressEveryone).toEqual({ value: true, from: "server" });
    expect(got.suppressRoles).toEqual({ value: false, from: "channel" });
  });

  it("names the mute in force: the channel's, else the server's", () => {
    const server = { muted_until: NOW + 3_600_000 };
    expect(explain(effective({ muted: true }), server, {}, NOW).muted).toEqual({ value: true, from: "server", until: NOW + 3_600_000 });
    const own = { muted_until: NOW + 60_000 };
    expect(explain(effective({ muted: true }), server, own, NOW).muted).toEqual({ value: true, from: "channel", until: NOW + 60_000 });
    // The homeserver's answer decides whether a mute is in force (a channel
    // with its own level is not covered by the server's).
    expect(explain(effective({ muted: false }), server, { level: "all_messages" }, NOW).muted).toEqual({ value: false });
  });

  it("sums it up in one line", () => {
    expect(effectiveSummary(explain(effective({ level: "only_mentions" }), {}, { level: "only_mentions" }, NOW), NOW)).toBe(
      "Only @mentions — set on this channel.",
    );
    expect(effectiveSummary(explain(effective({ muted: true }), { muted_until: MUTED_FOREVER }, null, NOW), NOW)).toBe(
      "Muted until you turn it back on (your server mute). Otherwise: All messages, the server's default.",
    );
  });
});

describe("serverDefaultLevel", () => {
  it("reads nexus.server's default_notifications, all messages when unset", () => {
    expect(serverDefaultLevel({ default_notifications: "only_mentions" })).toBe("only_mentions");
    expect(serverDefaultLevel({})).toBe("all_messages");
    expect(serverDefaultLevel(null)).toBe("all_messages");
  });
});
