import { describe, expect, it } from "vitest";
import { type MentionSources, applyMentions, mentionCandidates } from "../src/logic/mentions";

const sources: MentionSources = {
  members: [
    { userId: "@alice:x", name: "Alice" },
    { userId: "@bob:x", name: "Bob" },
  ],
  roles: [
    { id: "gardeners", name: "Gardeners", mentionable: true, members: ["@alice:x", "@carol:x"] },
    { id: "mods", name: "Mods", mentionable: false, members: ["@dave:x"] },
  ],
  channels: [{ roomId: "!seeds:x", name: "seeds" }],
  mayMentionEveryone: false,
};

describe("mention autocomplete", () => {
  it("offers members by name or ID and mentionable roles", () => {
    expect(mentionCandidates("@", "a", sources).map((m) => m.id)).toEqual(["@alice:x"]);
    expect(mentionCandidates("@", "g", sources).map((m) => m.id)).toEqual(["gardeners"]);
    expect(mentionCandidates("@", "m", sources)).toEqual([]);
  });

  it("offers @everyone and unmentionable roles only with MENTION_EVERYONE", () => {
    const mighty = { ...sources, mayMentionEveryone: true };
    expect(mentionCandidates("@", "ev", sources)).toEqual([]);
    expect(mentionCandidates("@", "ev", mighty).map((m) => m.kind)).toEqual(["everyone"]);
    expect(mentionCandidates("@", "m", mighty).map((m) => m.id)).toEqual(["mods"]);
  });

  it("offers channels after #", () => {
    expect(mentionCandidates("#", "se", sources)).toEqual([{ kind: "channel", id: "!seeds:x", name: "seeds" }]);
  });
});

describe("mentions in the sent content", () => {
  it("pills users and channels and lists users in m.mentions", () => {
    const out = applyMentions("hi @Bob see #seeds", null, [
      { kind: "user", id: "@bob:x", name: "Bob" },
      { kind: "channel", id: "!seeds:x", name: "seeds" },
    ]);
    expect(out.mentions).toEqual({ user_ids: ["@bob:x"] });
    expect(out.formatted).toContain('<a href="https://matrix.to/#/%40bob%3Ax">@Bob</a>');
    expect(out.formatted).toContain('<a href="https://matrix.to/#/!seeds%3Ax">#seeds</a>');
    expect(out.roleMention).toBe(false);
  });

  it("turns a role mention into its members, marked as a role mention", () => {
    const out = applyMentions("@Gardeners water day", null, [{ kind: "role", id: "gardeners", name: "Gardeners", members: ["@alice:x", "@carol:x"] }]);
    expect(out.mentions.user_ids).toEqual(["@alice:x", "@carol:x"]);
    expect(out.roleMention).toBe(true);
  });

  it("makes @everyone a room mention", () => {
    expect(applyMentions("@everyone look", null, [{ kind: "everyone", id: "everyone", name: "everyone" }]).mentions).toEqual({ user_ids: [], room: true });
  });

  it("ignores a chosen mention that was deleted from the text", () => {
    expect(applyMentions("never mind", null, [{ kind: "user", id: "@bob:x", name: "Bob" }]).mentions).toEqual({ user_ids: [] });
  });
});
