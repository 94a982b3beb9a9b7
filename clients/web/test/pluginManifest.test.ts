import { describe, expect, it } from "vitest";
import { METHOD_CAPABILITY, allows, describeCapabilities } from "../src/plugins/capabilities";
import { install, loadInstalled, readInstalled, setEnabled, uninstall, writeInstalled } from "../src/plugins/installed";
import { MAX_SOURCE_BYTES, parseManifest } from "../src/plugins/manifest";
import quoteSource from "../plugins/quote.js?raw";

const source = (manifest: Record<string, unknown>, body = "nexus.log('hi');") => `/*! nexus-plugin\n${JSON.stringify(manifest)}\n*/\n${body}`;
const base = { id: "echo", name: "Echo", version: "1.0", description: "Says things again.", capabilities: ["messages.send"] };

describe("plugin manifests", () => {
  it("reads the manifest at the top of the source", () => {
    expect(parseManifest(source(base))).toEqual({ ok: true, manifest: { ...base } });
    expect(parseManifest(`\n  /* nexus-plugin ${JSON.stringify({ ...base, version: undefined, description: undefined, capabilities: [] })} */`)).toEqual({
      ok: true,
      manifest: { id: "echo", name: "Echo", version: "", description: "", capabilities: [] },
    });
  });

  it("refuses a source without one, a manifest that is not JSON, bad ids, unknown capabilities, and sources too large", () => {
    expect(parseManifest("nexus.log(1)")).toMatchObject({ ok: false });
    expect(parseManifest("/*! nexus-plugin { id: 'x' } */")).toMatchObject({ ok: false, error: expect.stringContaining("not JSON") });
    expect(parseManifest(`// x\n${source(base)}`)).toMatchObject({ ok: false });
    for (const id of ["E", "-echo", "echo-", "ech o", "x".repeat(41)]) expect(parseManifest(source({ ...base, id })).ok, id).toBe(false);
    expect(parseManifest(source({ ...base, capabilities: ["messages.send", "token.read"] }))).toEqual({ ok: false, error: 'Unknown capabilities: "token.read".' });
    expect(parseManifest(source({ ...base, capabilities: "all" })).ok).toBe(false);
    expect(parseManifest(source(base, "x".repeat(MAX_SOURCE_BYTES)))).toMatchObject({ ok: false, error: expect.stringContaining("at most") });
  });

  it("the example plugin declares what it uses", () => {
    const parsed = parseManifest(quoteSource);
    expect(parsed).toMatchObject({ ok: true, manifest: { id: "quote", capabilities: ["message-actions", "slash-commands", "messages.send", "panel"] } });
  });
});

describe("plugin capabilities", () => {
  it("describes them in the order users read them, whatever the manifest's order", () => {
    expect(describeCapabilities(["panel", "messages.send"])).toEqual(["send messages as you in the channel you have open", "show a panel beside the chat"]);
  });

  it("maps each method to the capability that allows it", () => {
    const granted = new Set(["messages.read"] as const);
    expect(allows(granted, "listMessages")).toBe(true);
    expect(allows(granted, "sendMessage")).toBe(false);
    expect(Object.keys(METHOD_CAPABILITY).sort()).toEqual(["getCurrentChannel", "hidePanel", "listMessages", "registerMessageAction", "registerSlashCommand", "sendMessage", "showPanel"]);
  });
});

describe("installed plugins in account data", () => {
  it("installs with what the manifest asks granted, replaces by id, enables, disables and removes", () => {
    const first = install([], source(base), 1000);
    expect(first).toMatchObject({ ok: true, plugins: [{ id: "echo", enabled: true, granted: ["messages.send"], installedTs: 1000 }] });
    if (!first.ok) return;
    const replaced = install(first.plugins, source({ ...base, version: "2.0" }), 2000);
    expect(replaced.ok && replaced.plugins.map((p) => p.installedTs)).toEqual([2000]);
    const disabled = setEnabled(first.plugins, "echo", false);
    expect(disabled[0].enabled).toBe(false);
    expect(uninstall(disabled, "echo")).toEqual([]);
    expect(install([], "not a plugin", 1)).toMatchObject({ ok: false });
  });

  it("round-trips through the event content and leaves out malformed entries", () => {
    const installed = install([], source(base), 1000);
    if (!installed.ok) throw new Error("install failed");
    const content = writeInstalled(installed.plugins);
    expect(content).toEqual({ plugins: [{ id: "echo", source: source(base), enabled: true, granted: ["messages.send"], installed_ts: 1000 }] });
    expect(readInstalled(JSON.parse(JSON.stringify(content)))).toEqual(installed.plugins);
    expect(readInstalled({ plugins: [null, { id: 3 }, { id: "a", source: "s", granted: ["panel", "root"] }, { id: "a", source: "dup" }] })).toEqual([
      { id: "a", source: "s", enabled: false, granted: ["panel"], installedTs: 0 },
    ]);
    expect(readInstalled(undefined)).toEqual([]);
  });

  it("grants at most what the source still declares, and refuses a source whose id changed", () => {
    const stored = { id: "echo", source: source(base), enabled: true, granted: ["messages.send", "panel"] as const, installedTs: 1 };
    expect(loadInstalled([{ ...stored, granted: [...stored.granted] }])[0]).toMatchObject({ granted: ["messages.send"], error: null });
    const renamed = loadInstalled([{ ...stored, granted: [], source: source({ ...base, id: "other" }) }])[0];
    expect(renamed).toMatchObject({ manifest: null, error: expect.stringContaining("other") });
  });
});
