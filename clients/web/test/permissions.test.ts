import { describe, expect, it } from "vitest";
import { PERMISSION_BITS, PERMISSION_GROUPS, Permissions, composerBlock, permissionLabel, roleColour } from "../src/logic/permissions";

describe("permission bitfields", () => {
  it("parses the spec's decimal strings beyond 2^53", () => {
    const perms = Permissions.parse("6756524877815810");
    expect(perms.has("KICK_MEMBERS")).toBe(true);
    expect(perms.has("PIN_MESSAGES")).toBe(true);
    expect(perms.has("ADMINISTRATOR")).toBe(false);
    expect(Permissions.parse(perms.toString()).bits).toBe(perms.bits);
  });

  it("treats malformed fields as no permission", () => {
    for (const bad of ["", "-1", "1e3", "0x10", "12a", undefined, null]) {
      expect(Permissions.parse(bad as string).bits).toBe(0n);
    }
  });

  it("lets ADMINISTRATOR imply every flag", () => {
    const admin = Permissions.of("ADMINISTRATOR");
    expect(admin.has("SEND_MESSAGES")).toBe(true);
    expect(admin.has("BYPASS_SLOWMODE")).toBe(true);
  });

  it("sets and clears single flags", () => {
    const p = Permissions.of("VIEW_CHANNEL", "SEND_MESSAGES").with("SEND_MESSAGES", false).with("SEND_POLLS", true);
    expect(p.names()).toEqual(["VIEW_CHANNEL", "SEND_POLLS"]);
    expect(p.toString()).toBe(((1n << 10n) | (1n << 49n)).toString());
  });

  it("lists every named flag in exactly one editor group", () => {
    const grouped = PERMISSION_GROUPS.flatMap((g) => g.flags).sort();
    expect(grouped).toEqual(Object.keys(PERMISSION_BITS).sort());
  });

  it("labels flags as Discord does", () => {
    expect(permissionLabel("MANAGE_GUILD")).toBe("Manage Server");
    expect(permissionLabel("SEND_TTS_MESSAGES")).toBe("Send TTS Messages");
  });
});

describe("the composer's block", () => {
  it("disables posting without SEND_MESSAGES, and in threads without SEND_MESSAGES_IN_THREADS", () => {
    const talker = Permissions.of("SEND_MESSAGES");
    expect(composerBlock(talker, false)).toBeNull();
    expect(composerBlock(talker, true)).toMatch(/permission/);
    expect(composerBlock(Permissions.of("VIEW_CHANNEL"), false)).toMatch(/permission/);
  });

  it("disables posting during a timeout, and not after it", () => {
    const talker = Permissions.of("SEND_MESSAGES");
    expect(composerBlock(talker, false, 2_000, 1_000)).toMatch(/timed out/);
    expect(composerBlock(talker, false, 500, 1_000)).toBeNull();
  });
});

describe("role colours", () => {
  it("renders 0xRRGGBB and treats 0 as no colour", () => {
    expect(roleColour({ primary: 3447003 })).toBe("#3498db");
    expect(roleColour({ primary: 0 })).toBeNull();
    expect(roleColour(undefined)).toBeNull();
    expect(roleColour({ primary: 0x1000000 })).toBeNull();
  });
});
