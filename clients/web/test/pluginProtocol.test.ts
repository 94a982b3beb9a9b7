import { describe, expect, it } from "vitest";
import { LIMITS, checkPluginMessage } from "../src/plugins/protocol";

const request = (method: string, params?: unknown, extra: Record<string, unknown> = {}) => ({ v: 1, kind: "request", id: 7, method, params, ...extra });

describe("plugin protocol: checking what a plugin sends", () => {
  it("accepts each method's well-formed request and rebuilds it from the checked fields only", () => {
    expect(checkPluginMessage(request("getCurrentChannel"))).toEqual({ ok: true, message: { kind: "request", id: 7, request: { method: "getCurrentChannel" } } });
    expect(checkPluginMessage(request("listMessages", { limit: 20 }))).toMatchObject({ ok: true, message: { request: { method: "listMessages", limit: 20 } } });
    expect(checkPluginMessage(request("listMessages", {}))).toMatchObject({ ok: true, message: { request: { limit: 50 } } });
    const send = checkPluginMessage(request("sendMessage", { text: "hi", roomId: "!r:hs", token: "stolen?" }, { sneaky: true }));
    expect(send).toEqual({ ok: true, message: { kind: "request", id: 7, request: { method: "sendMessage", text: "hi", roomId: "!r:hs" } } });
    expect(checkPluginMessage(request("registerMessageAction", { id: "quote", label: "Quote" }))).toMatchObject({ ok: true });
    expect(checkPluginMessage(request("registerSlashCommand", { name: "roll", description: "Roll dice" }))).toMatchObject({ ok: true });
    expect(checkPluginMessage({ v: 1, kind: "log", level: "error", text: "x".repeat(900) })).toMatchObject({
      ok: true,
      message: { kind: "log", level: "error", text: "x".repeat(LIMITS.logText) },
    });
  });

  it("refuses other versions, kinds and methods, and anything not an object", () => {
    for (const bad of [null, 3, "hello", [], { ...request("getCurrentChannel"), v: 2 }, { ...request("getCurrentChannel"), kind: "response" }, request("getAccessToken"), request("constructor"), request("toString")]) {
      expect(checkPluginMessage(bad).ok, JSON.stringify(bad)).toBe(false);
    }
    expect(checkPluginMessage(request("getCurrentChannel", undefined, { id: -1 })).ok).toBe(false);
    expect(checkPluginMessage(request("getCurrentChannel", undefined, { id: 1.5 })).ok).toBe(false);
    expect(checkPluginMessage(request("getCurrentChannel", undefined, { id: "1" })).ok).toBe(false);
  });

  it("refuses data that is not plain (a BigInt, a function) and messages over the size limit", () => {
    expect(checkPluginMessage({ ...request("sendMessage", { text: 1n }) })).toEqual({ ok: false, reason: "not plain data" });
    expect(checkPluginMessage(() => 1)).toEqual({ ok: false, reason: "not plain data" });
    const huge = checkPluginMessage(request("sendMessage", { text: "a".repeat(LIMITS.messageChars) }));
    expect(huge).toMatchObject({ ok: false, reason: expect.stringContaining("larger than") });
  });

  it("checks every field's type and size", () => {
    expect(checkPluginMessage(request("sendMessage", { text: "   " })).ok).toBe(false);
    expect(checkPluginMessage(request("sendMessage", { text: "a".repeat(LIMITS.text + 1) })).ok).toBe(false);
    expect(checkPluginMessage(request("sendMessage", { text: "ok", roomId: 5 })).ok).toBe(false);
    expect(checkPluginMessage(request("listMessages", { limit: 0 })).ok).toBe(false);
    expect(checkPluginMessage(request("listMessages", { limit: LIMITS.listMessages + 1 })).ok).toBe(false);
    expect(checkPluginMessage(request("registerMessageAction", { id: "has space", label: "Quote" })).ok).toBe(false);
    expect(checkPluginMessage(request("registerMessageAction", { id: "q", label: "x".repeat(41) })).ok).toBe(false);
    expect(checkPluginMessage(request("registerSlashCommand", { name: "Roll" })).ok).toBe(false);
    expect(checkPluginMessage(request("registerSlashCommand", { name: "1roll" })).ok).toBe(false);
    expect(checkPluginMessage(request("registerSlashCommand", { name: "roll dice" })).ok).toBe(false);
  });

  it("accepts a declarative panel and refuses HTML-ish or oversized ones", () => {
    const panel = {
      title: "Quote",
      body: [
        { type: "heading", text: "Rolls" },
        { type: "text", text: "<b>not bold</b>" },
        { type: "list", items: ["2d6 → 7"] },
        { type: "button", id: "roll-d20", label: "Roll 1d20", onclick: "alert(1)" },
      ],
    };
    const checked = checkPluginMessage(request("showPanel", { panel }));
    expect(checked.ok).toBe(true);
    // The button comes back without the field the protocol does not know.
    expect(checked.ok && checked.message.kind === "request" && checked.message.request).toEqual({
      method: "showPanel",
      panel: { ...panel, body: [panel.body[0], panel.body[1], panel.body[2], { type: "button", id: "roll-d20", label: "Roll 1d20" }] },
    });
    expect(checkPluginMessage(request("showPanel", { panel: { title: "x", body: [{ type: "html", html: "<img src=x>" }] } })).ok).toBe(false);
    expect(checkPluginMessage(request("showPanel", { panel: { title: "x", body: Array(LIMITS.panelNodes + 1).fill({ type: "text", text: "" }) } })).ok).toBe(false);
    expect(checkPluginMessage(request("showPanel", { panel: { title: "x", body: [{ type: "list", items: Array(21).fill("i") }] } })).ok).toBe(false);
    expect(checkPluginMessage(request("showPanel", { panel: { title: "", body: [] } })).ok).toBe(false);
  });
});
