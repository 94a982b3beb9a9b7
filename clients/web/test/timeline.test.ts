import { describe, expect, it } from "vitest";
import { type RawEvent, buildTimeline, pollStartContent, startsGroup } from "../src/logic/timeline";

let clock = 0;
const ev = (partial: Partial<RawEvent> & { event_id: string }): RawEvent => ({
  type: "m.room.message",
  sender: "@a:x",
  ts: (clock += 1000),
  content: { msgtype: "m.text", body: partial.event_id },
  ...partial,
});

describe("the timeline", () => {
  it("applies the latest edit by the original sender only", () => {
    const items = buildTimeline(
      [
        ev({ event_id: "$m", content: { msgtype: "m.text", body: "first" } }),
        ev({ event_id: "$e1", content: { body: "* second", "m.new_content": { msgtype: "m.text", body: "second" }, "m.relates_to": { rel_type: "m.replace", event_id: "$m" } } }),
        ev({ event_id: "$e2", sender: "@b:x", content: { body: "* hijack", "m.new_content": { msgtype: "m.text", body: "hijack" }, "m.relates_to": { rel_type: "m.replace", event_id: "$m" } } }),
      ],
      "@a:x",
    );
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ body: "second", edited: true });
  });

  it("counts reactions once per sender and knows mine", () => {
    const react = (id: string, sender: string, key: string) =>
      ev({ event_id: id, sender, type: "m.reaction", content: { "m.relates_to": { rel_type: "m.annotation", event_id: "$m", key } } });
    const items = buildTimeline([ev({ event_id: "$m" }), react("$r1", "@a:x", "👍"), react("$r2", "@b:x", "👍"), react("$r3", "@b:x", "👍"), react("$r4", "@b:x", "🎉")], "@a:x");
    const msg = items[0];
    if (msg.kind !== "message") throw new Error("not a message");
    expect(msg.reactions).toEqual([
      { key: "👍", count: 2, senders: ["@a:x", "@b:x"], mine: "$r1" },
      { key: "🎉", count: 1, senders: ["@b:x"], mine: null },
    ]);
  });

  it("ignores redacted reactions and shows redacted messages as deleted", () => {
    const items = buildTimeline(
      [
        ev({ event_id: "$m", redacted: true, content: {} }),
        ev({ event_id: "$r", type: "m.reaction", redacted: true, content: {} }),
      ],
      "@a:x",
    );
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ redacted: true, reactions: [] });
  });

  it("keeps thread replies out of the main timeline and summarises them on the root", () => {
    const reply = (id: string) => ev({ event_id: id, content: { msgtype: "m.text", body: id, "m.relates_to": { rel_type: "m.thread", event_id: "$root" } } });
    const events = [ev({ event_id: "$root" }), reply("$t1"), ev({ event_id: "$other" }), reply("$t2")];
    const main = buildTimeline(events, "@a:x");
    expect(main.map((i) => i.id)).toEqual(["$root", "$other"]);
    expect(main[0]).toMatchObject({ thread: { count: 2 } });
    const thread = buildTimeline(events, "@a:x", "$root");
    expect(thread.map((i) => i.id)).toEqual(["$root", "$t1", "$t2"]);
  });

  it("uses the server's poll tally when it has one", () => {
    const start = ev({ event_id: "$p", type: "m.poll.start", content: pollStartContent("Lunch?", ["Soup", "Salad"]) });
    const vote = ev({
      event_id: "$v",
      sender: "@b:x",
      type: "m.poll.response",
      content: { "m.relates_to": { rel_type: "m.reference", event_id: "$p" }, "m.selections": ["a2"] },
      unsigned: { "nexus.poll.tally": { counts: { a1: 3, a2: 5 }, voters: 8, closed_by: null } },
    });
    const [poll] = buildTimeline([start, vote], "@b:x");
    if (poll.kind !== "message") throw new Error("not a message");
    expect(poll.poll).toMatchObject({ question: "Lunch?", voters: 8, mine: ["a2"], closed: false });
    expect(poll.poll!.answers.map((a) => a.votes)).toEqual([3, 5]);
  });

  it("counts the latest vote per voter when no tally came", () => {
    const start = ev({ event_id: "$p", type: "m.poll.start", content: pollStartContent("Q", ["A", "B"]) });
    const vote = (id: string, sender: string, choice: string) =>
      ev({ event_id: id, sender, type: "m.poll.response", content: { "m.relates_to": { rel_type: "m.reference", event_id: "$p" }, "m.selections": [choice] } });
    const [poll] = buildTimeline([start, vote("$1", "@a:x", "a1"), vote("$2", "@a:x", "a2"), vote("$3", "@b:x", "a2"), vote("$4", "@c:x", "zz")], "@a:x");
    if (poll.kind !== "message") throw new Error("not a message");
    expect(poll.poll!.answers.map((a) => a.votes)).toEqual([0, 2]);
    expect(poll.poll!.voters).toBe(2);
  });

  it("groups a sender's consecutive messages", () => {
    const items = buildTimeline([ev({ event_id: "$1" }), ev({ event_id: "$2" }), ev({ event_id: "$3", sender: "@b:x" })], "@a:x");
    expect(items.map((_, i) => startsGroup(items, i))).toEqual([true, false, true]);
  });

  it("marks a bot's answer to a slash command, and keeps the mark through an edit", () => {
    const bot = "@_discord_bot_1:x";
    const answer = { name: "roll", user_id: "@a:x" };
    const items = buildTimeline(
      [
        ev({ event_id: "$cmd", content: { msgtype: "m.text", body: "/roll sides:6" } }),
        ev({ event_id: "$ans", sender: bot, content: { msgtype: "m.text", body: "4", "nexus.interaction": answer, "m.relates_to": { "m.in_reply_to": { event_id: "$cmd" } } } }),
        ev({ event_id: "$edit", sender: bot, content: { body: "* 5", "m.new_content": { msgtype: "m.text", body: "5" }, "m.relates_to": { rel_type: "m.replace", event_id: "$ans" } } }),
        ev({ event_id: "$fake", content: { msgtype: "m.text", body: "x", "nexus.interaction": { name: 3 } } }),
      ],
      "@a:x",
    );
    expect(items.map((i) => (i.kind === "message" ? i.interaction : null))).toEqual([null, { name: "roll", userId: "@a:x" }, null]);
    expect(items[1]).toMatchObject({ body: "5", replyTo: "$cmd", edited: true });
  });
});
