import { describe, expect, it } from "vitest";
import { type Candidate, type Situation, STALE_AFTER_MS, notificationText, shouldNotify, withoutReplyFallback } from "../src/logic/desktopNotifications";

const message: Candidate = {
  sender: "@alice:x",
  roomId: "!seeds:x",
  live: true,
  encryption: "none",
  push: { notify: true, highlight: false },
  ageMs: 1_000,
  isEdit: false,
};
const away: Situation = { me: "@bob:x", openRoomId: "!tools:x", pageVisible: true, permission: "granted", enabled: true };

describe("shouldNotify", () => {
  it("notifies for a new message the push rules notify for, in a channel not on screen", () => {
    expect(shouldNotify(message, away)).toEqual({ notify: true, mention: false });
  });

  it("says a highlight is a mention", () => {
    expect(shouldNotify({ ...message, push: { notify: true, highlight: true } }, away)).toEqual({ notify: true, mention: true });
  });

  it("follows the push rules: no notify action, no notification", () => {
    expect(shouldNotify({ ...message, push: { notify: false, highlight: false } }, away).notify).toBe(false);
    expect(shouldNotify({ ...message, push: null }, away).notify).toBe(false);
  });

  it("never notifies for your own messages", () => {
    expect(shouldNotify({ ...message, sender: "@bob:x" }, away)).toEqual({ notify: false, reason: "your own message" });
  });

  it("never notifies for the first sync or backfill", () => {
    expect(shouldNotify({ ...message, live: false }, away)).toEqual({ notify: false, reason: "not a new message" });
  });

  it("never notifies for a message that could not be decrypted, but does for one that was", () => {
    expect(shouldNotify({ ...message, encryption: "failed" }, away)).toEqual({ notify: false, reason: "could not be decrypted" });
    expect(shouldNotify({ ...message, encryption: "decrypted" }, away).notify).toBe(true);
  });

  it("is quiet about the channel on screen, unless the tab is hidden", () => {
    const here = { ...away, openRoomId: message.roomId };
    expect(shouldNotify(message, here)).toEqual({ notify: false, reason: "already on screen" });
    expect(shouldNotify(message, { ...here, pageVisible: false })).toEqual({ notify: true, mention: false });
  });

  it("needs the browser's permission and the switch on", () => {
    expect(shouldNotify(message, { ...away, permission: "default" }).notify).toBe(false);
    expect(shouldNotify(message, { ...away, permission: "denied" }).notify).toBe(false);
    expect(shouldNotify(message, { ...away, permission: "unsupported" }).notify).toBe(false);
    expect(shouldNotify(message, { ...away, enabled: false }).notify).toBe(false);
  });

  it("skips edits and stale catch-up", () => {
    expect(shouldNotify({ ...message, isEdit: true }, away).notify).toBe(false);
    expect(shouldNotify({ ...message, ageMs: STALE_AFTER_MS + 1 }, away).notify).toBe(false);
  });
});

describe("notificationText", () => {
  const where = { senderName: "Alice", channelName: "seeds", serverName: "Orchard" };

  it("names the sender, channel and server; the body is the plain text", () => {
    expect(notificationText({ type: "m.room.message", content: { msgtype: "m.text", body: "Hi **Bob**" } }, where)).toEqual({
      title: "Alice (#seeds, Orchard)",
      body: "Hi **Bob**",
    });
  });

  it("in a DM, just the sender", () => {
    expect(notificationText({ type: "m.room.message", content: { msgtype: "m.text", body: "psst" } }, { senderName: "Alice" })?.title).toBe("Alice");
  });

  it("says what was sent when it is not text", () => {
    const text = (content: Record<string, unknown>, type = "m.room.message") => notificationText({ type, content }, where)?.body;
    expect(text({ msgtype: "m.image", body: "cat.png" })).toBe("sent an image");
    expect(text({ msgtype: "m.file", body: "plan.pdf" })).toBe("sent a file: plan.pdf");
    expect(text({ msgtype: "m.emote", body: "waves" })).toBe("* Alice waves");
    expect(text({}, "m.sticker")).toBe("sent a sticker");
    expect(text({ "m.poll": { question: { "m.text": [{ body: "x" }], body: "Lunch?" } } }, "m.poll.start")).toBe("started a poll: Lunch?");
  });

  it("has nothing to say for other events or empty messages", () => {
    expect(notificationText({ type: "m.reaction", content: {} }, where)).toBeNull();
    expect(notificationText({ type: "m.room.message", content: { msgtype: "m.text", body: "" } }, where)).toBeNull();
  });

  it("clips long bodies and folds whitespace", () => {
    const body = notificationText({ type: "m.room.message", content: { msgtype: "m.text", body: `a\n\n${"b".repeat(300)}` } }, where)!.body;
    expect(body.length).toBe(200);
    expect(body.startsWith("a b")).toBe(true);
    expect(body.endsWith("…")).toBe(true);
  });
});

describe("withoutReplyFallback", () => {
  it("drops the quoted parent of a reply", () => {
    expect(withoutReplyFallback("> <@alice:x> seeds?\n> more\n\nYes, plenty")).toBe("Yes, plenty");
  });
  it("leaves other text alone", () => {
    expect(withoutReplyFallback("Yes\n> not a fallback")).toBe("Yes\n> not a fallback");
  });
});
