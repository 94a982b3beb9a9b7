// The in-worker API (the prelude) and the example plugin, run together
// against the real host over a MessageChannel — everything but the
// sandbox, which the browser scenario (e2e/plugins.mjs) covers.
import { afterEach, describe, expect, it } from "vitest";
import { PluginHost, type PluginBridge } from "../src/plugins/host";
import { parseManifest } from "../src/plugins/manifest";
import { pluginPrelude, workerScript } from "../src/plugins/prelude";
import quoteSource from "../plugins/quote.js?raw";

const CHANNEL = { roomId: "!general:hs", name: "general" };
const open: MessagePort[] = [];
afterEach(() => {
  for (const port of open.splice(0)) port.close();
});

const until = async (check: () => boolean, ms = 1000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/** A fake worker scope with the prelude installed, connected to a host; then `source` run in it. */
function run(source: string) {
  const parsed = parseManifest(source);
  if (!parsed.ok) throw new Error(parsed.error);
  const sent: string[] = [];
  const bridge: PluginBridge = {
    channel: () => CHANNEL,
    messages: () => [],
    send: async (_roomId, text) => {
      sent.push(text);
      return `$${sent.length}`;
    },
  };
  const channel = new MessageChannel();
  open.push(channel.port1, channel.port2);
  const host = new PluginHost({ manifest: parsed.manifest, granted: parsed.manifest.capabilities, bridge, port: channel.port1, claimCommand: () => true, onChange: () => undefined });
  const scope = new EventTarget() as EventTarget & { nexus?: unknown; importScripts?: unknown; Worker?: unknown };
  scope.importScripts = () => "loaded";
  scope.Worker = class {};
  pluginPrelude(scope as never);
  // The plugin's code sees the prelude's `nexus` as a global.
  new Function("nexus", source)(scope.nexus);
  host.start();
  // What the sandbox runtime does: hands the worker its port.
  scope.dispatchEvent(Object.assign(new Event("message"), { ports: [channel.port2] }));
  return { host, sent, scope };
}

describe("the plugin prelude", () => {
  it("gives plugins a frozen `nexus` and takes away script loading and nested workers", () => {
    const { scope } = run(`/*! nexus-plugin {"id":"noop","name":"Noop","capabilities":[]} */`);
    expect(Object.isFrozen(scope.nexus)).toBe(true);
    expect(Object.keys(scope.nexus as object)).toEqual(expect.arrayContaining(["sendMessage", "registerMessageAction", "registerSlashCommand", "showPanel"]));
    expect("importScripts" in scope).toBe(false);
    expect("Worker" in scope).toBe(false);
  });

  it("queues calls made before the port arrives, and reports refusals as errors with their code", async () => {
    const { host } = run(`/*! nexus-plugin {"id":"eager","name":"Eager","capabilities":["panel"]} */
      nexus.sendMessage("too early and not allowed").catch((e) => nexus.showPanel({ title: "Refused", body: [{ type: "text", text: e.code + ": " + e.message }] }));`);
    await until(() => host.panel !== null);
    expect(host.panel).toMatchObject({ title: "Refused", body: [{ type: "text", text: expect.stringMatching(/^forbidden: /) }] });
  });

  it("reports a handler's failure to the host", async () => {
    const { host } = run(`/*! nexus-plugin {"id":"broken","name":"Broken","capabilities":["slash-commands"]} */
      nexus.registerSlashCommand({ name: "boom" }, () => { throw new TypeError("it broke"); });`);
    await until(() => host.commands.length === 1);
    const warn = console.warn;
    console.warn = () => undefined;
    host.command("boom", "");
    await until(() => host.problems.length > 0);
    console.warn = warn;
    expect(host.problems).toEqual(["TypeError: it broke"]);
  });

  it("puts the plugin after the prelude in the worker's script, and says on which line", () => {
    const { script, firstLine } = workerScript("line one\nline two");
    expect(script.split("\n")[firstLine - 1]).toBe("line one");
    expect(script.startsWith("(")).toBe(true);
  });
});

describe("the example plugin (plugins/quote.js)", () => {
  it("quotes a message into the channel with who said it", async () => {
    const { host, sent } = run(quoteSource);
    await until(() => host.actions.length === 1);
    expect(host.actions).toEqual([{ id: "quote", label: "Quote" }]);
    host.messageAction("quote", { eventId: "$1", sender: "@bob:hs", displayName: "Bob", body: "Tomatoes ripen\nslowly", ts: 1 });
    await until(() => sent.length === 1);
    expect(sent[0]).toBe("> Tomatoes ripen\n> slowly\n\n— Bob");
    await until(() => host.panelOpen);
    expect(host.panel?.body[0]).toEqual({ type: "text", text: "Quoted 1 message since the plugin started." });
  });

  it("rolls dice with /roll NdM, and adds them up right", async () => {
    const { host, sent } = run(quoteSource);
    await until(() => host.commands.length === 1);
    host.command("roll", "3d6");
    await until(() => sent.length === 1);
    const [, a, b, c, total] = /^🎲 3d6: (\d) \+ (\d) \+ (\d) = \*\*(\d+)\*\*$/.exec(sent[0]) ?? [];
    expect(Number(a) + Number(b) + Number(c)).toBe(Number(total));
    for (const face of [a, b, c]) expect(Number(face)).toBeGreaterThanOrEqual(1);
    host.command("roll", "d20");
    await until(() => sent.length === 2);
    expect(sent[1]).toMatch(/^🎲 1d20: \*\*([1-9]|1\d|20)\*\*$/);
  });

  it("says what dice it can roll instead of sending nonsense, and rolls from its panel's button", async () => {
    const { host, sent } = run(quoteSource);
    await until(() => host.commands.length === 1);
    host.command("roll", "99d6");
    await until(() => host.panelOpen);
    expect(sent).toEqual([]);
    expect(JSON.stringify(host.panel)).toContain("is not dice");
    host.panelAction("roll-d20");
    await until(() => sent.length === 1);
    expect(sent[0]).toMatch(/^🎲 1d20: /);
  });
});
