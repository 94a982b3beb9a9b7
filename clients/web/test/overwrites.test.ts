import { describe, expect, it } from "vitest";
import {
  EMPTY_OVERWRITES,
  OVERWRITE_GROUPS,
  addTarget,
  flagState,
  hasOverwrite,
  memberTargets,
  overwriteCount,
  overwriteOf,
  parseOverwrites,
  removeTarget,
  sameOverwrites,
  serializeOverwrites,
  setFlag,
} from "../src/logic/overwrites";
import { SERVER_ONLY } from "../src/logic/permissions";

const everyone = { kind: "role", id: "everyone" } as const;
const muted = { kind: "role", id: "muted" } as const;
const erin = { kind: "member", id: "@erin:example.org" } as const;

describe("reading nexus.channel.overwrites", () => {
  it("reads the spec's private-channel example, with allow and deny defaulting to 0", () => {
    const o = parseOverwrites({
      roles: { everyone: { deny: "1024" }, moderator: { allow: "1024" } },
      members: { "@erin:example.org": { allow: "1024" } },
    });
    expect(overwriteOf(o, everyone)).toEqual({ allow: 0n, deny: 1024n });
    expect(flagState(o, everyone, "VIEW_CHANNEL")).toBe("deny");
    expect(flagState(o, { kind: "role", id: "moderator" }, "VIEW_CHANNEL")).toBe("allow");
    expect(flagState(o, erin, "VIEW_CHANNEL")).toBe("allow");
    expect(flagState(o, erin, "SEND_MESSAGES")).toBe("inherit");
    expect(memberTargets(o)).toEqual(["@erin:example.org"]);
  });

  it("reads bitfields beyond 2^53 exactly", () => {
    const o = parseOverwrites({ roles: { muted: { allow: "0", deny: "563259191068736" } } });
    for (const flag of ["SEND_MESSAGES", "SEND_MESSAGES_IN_THREADS", "ADD_REACTIONS", "SEND_POLLS"]) {
      expect(flagState(o, muted, flag)).toBe("deny");
    }
    expect(flagState(o, muted, "READ_MESSAGE_HISTORY")).toBe("inherit");
  });

  it("treats missing, empty and malformed content as no overwrites", () => {
    for (const bad of [undefined, null, "x", [], {}, { roles: [] }, { roles: { everyone: "2048" } }]) {
      const o = parseOverwrites(bad);
      expect(flagState(o, everyone, "SEND_MESSAGES")).toBe("inherit");
    }
    const o = parseOverwrites({ roles: { everyone: { allow: "0x10", deny: -1 } } });
    expect(overwriteOf(o, everyone)).toEqual({ allow: 0n, deny: 0n });
    expect(overwriteOf(parseOverwrites({ roles: { everyone: { deny: "99999999999999999999" } } }), everyone).deny).toBe(0n);
  });

  it("shows a bit in both allow and deny as deny", () => {
    const o = parseOverwrites({ roles: { everyone: { allow: "2048", deny: "2048" } } });
    expect(flagState(o, everyone, "SEND_MESSAGES")).toBe("deny");
  });
});

describe("editing overwrites", () => {
  it("cycles one flag through allow, deny and inherit without touching the rest", () => {
    let o = parseOverwrites({ roles: { everyone: { deny: "1024" } } });
    o = setFlag(o, everyone, "SEND_MESSAGES", "allow");
    expect(overwriteOf(o, everyone)).toEqual({ allow: 2048n, deny: 1024n });
    o = setFlag(o, everyone, "SEND_MESSAGES", "deny");
    expect(overwriteOf(o, everyone)).toEqual({ allow: 0n, deny: 3072n });
    o = setFlag(o, everyone, "SEND_MESSAGES", "inherit");
    expect(overwriteOf(o, everyone)).toEqual({ allow: 0n, deny: 1024n });
  });

  it("does not change the value it was given", () => {
    const before = parseOverwrites({ roles: { everyone: { deny: "1024" } } });
    setFlag(before, everyone, "VIEW_CHANNEL", "allow");
    removeTarget(before, everyone);
    expect(flagState(before, everyone, "VIEW_CHANNEL")).toBe("deny");
  });

  it("refuses server-wide flags, which §7.1 keeps out of overwrites", () => {
    expect(() => setFlag(EMPTY_OVERWRITES, everyone, "KICK_MEMBERS", "allow")).toThrow(/server-wide/);
  });

  it("adds and removes roles and members", () => {
    let o = addTarget(EMPTY_OVERWRITES, erin);
    expect(hasOverwrite(o, erin)).toBe(true);
    expect(flagState(o, erin, "SEND_MESSAGES")).toBe("inherit");
    o = setFlag(o, erin, "ATTACH_FILES", "deny");
    expect(addTarget(o, erin)).toBe(o);
    o = removeTarget(o, erin);
    expect(hasOverwrite(o, erin)).toBe(false);
    expect(memberTargets(o)).toEqual([]);
  });
});

describe("writing overwrites", () => {
  it("writes canonical decimal strings under roles and members", () => {
    let o = setFlag(EMPTY_OVERWRITES, everyone, "SEND_MESSAGES", "deny");
    o = setFlag(o, erin, "PIN_MESSAGES", "allow");
    expect(serializeOverwrites(o)).toEqual({
      roles: { everyone: { allow: "0", deny: "2048" } },
      members: { "@erin:example.org": { allow: (1n << 51n).toString(), deny: "0" } },
    });
  });

  it("leaves out overwrites that change nothing", () => {
    const o = addTarget(setFlag(setFlag(EMPTY_OVERWRITES, muted, "SEND_MESSAGES", "deny"), muted, "SEND_MESSAGES", "inherit"), erin);
    expect(serializeOverwrites(o)).toEqual({ roles: {}, members: {} });
    expect(overwriteCount(o)).toBe(0);
  });

  it("never writes shared or server-wide bits read from a bad event", () => {
    const kick = (1n << 1n).toString();
    const o = parseOverwrites({ roles: { everyone: { allow: (2048n | 2n).toString(), deny: "2048" }, muted: { deny: kick } } });
    expect(serializeOverwrites(o)).toEqual({ roles: { everyone: { allow: "0", deny: "2048" } }, members: {} });
  });

  it("keeps namespaced extension keys and drops unknown plain ones", () => {
    const o = parseOverwrites({ "org.example.note": { by: "bot" }, junk: 1, roles: {} });
    expect(serializeOverwrites(o)).toEqual({ "org.example.note": { by: "bot" }, roles: {}, members: {} });
  });

  it("round-trips the spec's example", () => {
    const content = { roles: { muted: { allow: "0", deny: "563259191068736" } }, members: {} };
    expect(serializeOverwrites(parseOverwrites(content))).toEqual(content);
  });

  it("compares drafts by what they would write", () => {
    const a = parseOverwrites({ roles: { everyone: { deny: "2048" } } });
    const b = addTarget(parseOverwrites({ roles: { everyone: { allow: "0", deny: "2048" } } }), muted);
    expect(sameOverwrites(a, b)).toBe(true);
    expect(sameOverwrites(a, setFlag(b, muted, "SEND_MESSAGES", "deny"))).toBe(false);
  });
});

describe("the overwrite editor's flags", () => {
  it("offers every channel flag and no server-wide one", () => {
    const offered = OVERWRITE_GROUPS.flatMap((g) => g.flags);
    expect(offered).toContain("VIEW_CHANNEL");
    expect(offered).toContain("SEND_MESSAGES");
    for (const flag of SERVER_ONLY) expect(offered).not.toContain(flag);
    expect(OVERWRITE_GROUPS.every((g) => g.flags.length > 0)).toBe(true);
  });
});
