import { describe, expect, it } from "vitest";
import { PluginRateLimits, TokenBucket } from "../src/plugins/rateLimit";
import { matchingCommands, parseSlashCommand } from "../src/plugins/slashCommand";

describe("token buckets", () => {
  it("allow a burst, then refill at their rate", () => {
    const bucket = new TokenBucket(3, 1, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
    expect(bucket.take(500)).toBe(false);
    expect(bucket.take(1000)).toBe(true);
    expect(bucket.take(1000)).toBe(false);
    // Never more than the capacity, however long it waited.
    expect([0, 1, 2, 3].map(() => bucket.take(60_000))).toEqual([true, true, true, false]);
  });

  it("ignore a clock that goes backwards", () => {
    const bucket = new TokenBucket(1, 1, 10_000);
    expect(bucket.take(10_000)).toBe(true);
    expect(bucket.take(0)).toBe(false);
    expect(bucket.take(10_500)).toBe(false);
    expect(bucket.take(11_000)).toBe(true);
  });
});

describe("a plugin's rate limits", () => {
  it("let a plugin send five messages at once, then one every three seconds", () => {
    const limits = new PluginRateLimits(0);
    const burst = Array.from({ length: 8 }, () => limits.allow("sendMessage", 0));
    expect(burst).toEqual([true, true, true, true, true, false, false, false]);
    expect(limits.allow("sendMessage", 2000)).toBe(false);
    expect(limits.allow("sendMessage", 3000)).toBe(true);
  });

  it("cap every request together, reads included", () => {
    const limits = new PluginRateLimits(0);
    const allowed = Array.from({ length: 100 }, () => limits.allow("listMessages", 0)).filter(Boolean).length;
    expect(allowed).toBe(40);
    expect(limits.allow("getCurrentChannel", 0)).toBe(false);
    expect(limits.allow("getCurrentChannel", 100)).toBe(true);
  });
});

describe("slash commands", () => {
  it("parse a command and its arguments", () => {
    expect(parseSlashCommand("/roll 2d6")).toEqual({ name: "roll", args: "2d6" });
    expect(parseSlashCommand("  /roll   2d6 and more  ")).toEqual({ name: "roll", args: "2d6 and more" });
    expect(parseSlashCommand("/shrug")).toEqual({ name: "shrug", args: "" });
    expect(parseSlashCommand("/note first line\nsecond")).toEqual({ name: "note", args: "first line\nsecond" });
  });

  it("leave messages that are not commands alone", () => {
    for (const text of ["roll 2d6", "/", "/ roll", "//roll", "/Roll", "/usr/bin/env", "a /roll", "/röll"]) expect(parseSlashCommand(text), text).toBeNull();
  });

  it("hint the commands that start with what is typed", () => {
    const commands = [{ name: "roll" }, { name: "remind" }, { name: "quote" }];
    expect(matchingCommands("/r", commands).map((c) => c.name)).toEqual(["remind", "roll"]);
    expect(matchingCommands("/", commands)).toHaveLength(3);
    expect(matchingCommands("/roll 2d6", commands)).toEqual([]);
    expect(matchingCommands("hello", commands)).toEqual([]);
  });
});
