// The host over a real MessageChannel, the plugin's end driven by hand:
// what it answers, what it refuses, and what it never answers.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Capability } from "../src/plugins/capabilities";
import { MAX_ACTIONS, PluginHost, type PluginBridge } from "../src/plugins/host";
import type { Manifest } from "../src/plugins/manifest";

const CHANNEL = { roomId: "!general:hs", name: "general", serverId: "!orchard:hs" };
const MESSAGES = [
  { eventId: "$1", sender: "@bob:hs", displayName: "Bob", body: "Tomatoes ripen slowly", ts: 1 },
  { eventId: "$2", sender: "@alice:hs", displayName: "Alice", body: "In the shade", ts: 2 },
];

type Setup = { capabilities?: Capability[]; granted?: Capability[]; claim?: (name: string) => boolean; now?: () => number };

const open: MessagePort[] = [];
afterEach(() => {
  for (const port of open.splice(0)) port.close();
});

function setUp({ capabilities = ["channel.read", "messages.read", "messages.send", "message-actions", "slash-commands", "panel"], granted, claim, now }: Setup = {}) {
  const manifest: Manifest = { id: "test", name: "Test", version: "1", description: "", capabilities };
  const sent: { roomId: string; text: string }[] = [];
  const bridge: PluginBridge = {
    channel: () => CHANNEL,
    messages: (_roomId, limit) => MESSAGES.slice(-limit),
    send: async (roomId, text) => {
      sent.push({ roomId, text });
      return `$sent${sent.length}`;
    },
  };
  const channel = new MessageChannel();
  open.push(channel.port1, channel.port2);
  const received: any[] = [];
  const waiters: (() => void)[] = [];
  channel.port2.onmessage = (event: MessageEvent) => {
    received.push(event.data);
    waiters.splice(0).forEach((w) => w());
  };
  const onChange = vi.fn();
  const host = new PluginHost({ manifest, granted: granted ?? capabilities, bridge, port: channel.port1, claimCommand: claim ?? (() => true), onChange, now });
  host.start();
  let nextId = 1;
  /** Sends a request and resolves with the host's response to it. */
  const ask = async (method: string, params?: unknown) => {
    const id = nextId++;
    channel.port2.postMessage({ v: 1, kind: "request", id, method, params });
    return waitFor((m) => m.kind === "response" && m.id === id);
  };
  const waitFor = async (match: (m: any) => boolean, ms = 500) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = received.find(match);
      if (found) return found;
      if (Date.now() > deadline) return undefined;
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  };
  return { host, sent, received, ask, waitFor, port: channel.port2, onChange };
}

describe("the plugin host", () => {
  it("starts the plugin with its id and granted capabilities", async () => {
    const { waitFor } = setUp({ granted: ["messages.send", "panel"] });
    expect(await waitFor((m) => m.kind === "init")).toEqual({ v: 1, kind: "init", plugin: { id: "test", name: "Test" }, capabilities: ["messages.send", "panel"] });
  });

  it("answers reads with plain data about the open channel", async () => {
    const { ask } = setUp();
    expect(await ask("getCurrentChannel")).toEqual({ v: 1, kind: "response", id: 1, ok: true, result: CHANNEL });
    expect((await ask("listMessages", { limit: 1 })).result).toEqual([MESSAGES[1]]);
  });

  it("sends a message on the user's behalf to the open channel only", async () => {
    const { ask, sent } = setUp();
    expect(await ask("sendMessage", { text: "> quoted" })).toMatchObject({ ok: true, result: { eventId: "$sent1" } });
    expect(sent).toEqual([{ roomId: CHANNEL.roomId, text: "> quoted" }]);
    expect(await ask("sendMessage", { text: "elsewhere", roomId: "!other:hs" })).toMatchObject({ ok: false, error: { code: "unavailable" } });
    expect(sent).toHaveLength(1);
  });

  it("refuses what was not granted, even when the manifest declares it", async () => {
    const { ask, sent, host } = setUp({ granted: ["message-actions"] });
    expect(await ask("sendMessage", { text: "hi" })).toMatchObject({ ok: false, error: { code: "forbidden" } });
    expect(await ask("listMessages", {})).toMatchObject({ ok: false, error: { code: "forbidden" } });
    expect(await ask("getCurrentChannel")).toMatchObject({ ok: false, error: { code: "forbidden" } });
    expect(await ask("showPanel", { panel: { title: "x", body: [] } })).toMatchObject({ ok: false, error: { code: "forbidden" } });
    expect(sent).toEqual([]);
    expect(host.panel).toBeNull();
    // Granting beyond the manifest grants nothing either.
    const narrow = setUp({ capabilities: ["panel"], granted: ["panel", "messages.send"] });
    expect(await narrow.ask("sendMessage", { text: "hi" })).toMatchObject({ ok: false, error: { code: "forbidden" } });
  });

  it("ignores malformed messages without answering them, and notes why", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const { port, ask, host, received } = setUp();
    port.postMessage({ v: 1, kind: "request", id: 99, method: "getAccessToken" });
    port.postMessage({ v: 2, kind: "request", id: 98, method: "getCurrentChannel" });
    port.postMessage("hello");
    await ask("getCurrentChannel");
    expect(received.filter((m) => m.kind === "response").map((m) => m.id)).toEqual([1]);
    expect(host.problems).toEqual([
      expect.stringContaining('unknown method "getAccessToken"'),
      expect.stringContaining("unsupported protocol version 2"),
      expect.stringContaining("message must be an object"),
    ]);
    expect(warn).toHaveBeenCalled();
    warn.mockRestore();
  });

  it("rate-limits messages sent as the user", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    let clock = 0;
    const { ask, sent } = setUp({ now: () => clock });
    const answers = [];
    for (let i = 0; i < 7; i++) answers.push(await ask("sendMessage", { text: `flood ${i}` }));
    expect(answers.map((a) => a.ok)).toEqual([true, true, true, true, true, false, false]);
    expect(answers[5].error.code).toBe("rate_limited");
    expect(sent).toHaveLength(5);
    clock = 3000;
    expect((await ask("sendMessage", { text: "later" })).ok).toBe(true);
    vi.restoreAllMocks();
  });

  it("hands a message action only for actions the plugin registered", async () => {
    const { ask, host, waitFor, onChange } = setUp();
    await ask("registerMessageAction", { id: "quote", label: "Quote" });
    expect(host.actions).toEqual([{ id: "quote", label: "Quote" }]);
    expect(onChange).toHaveBeenCalled();
    host.messageAction("other", MESSAGES[0]);
    host.messageAction("quote", MESSAGES[0]);
    const event = await waitFor((m) => m.kind === "event");
    expect(event).toEqual({ v: 1, kind: "event", event: "messageAction", data: { actionId: "quote", message: MESSAGES[0] } });
  });

  it("caps how many actions a plugin adds", async () => {
    const { ask, host } = setUp();
    for (let i = 0; i < MAX_ACTIONS; i++) expect((await ask("registerMessageAction", { id: `a${i}`, label: "A" })).ok).toBe(true);
    expect(await ask("registerMessageAction", { id: "one-more", label: "A" })).toMatchObject({ ok: false, error: { code: "invalid" } });
    // Registering an id again replaces it.
    expect((await ask("registerMessageAction", { id: "a0", label: "Renamed" })).ok).toBe(true);
    expect(host.actions).toHaveLength(MAX_ACTIONS);
  });

  it("routes slash commands it was given, and not ones another plugin holds", async () => {
    const { ask, host, waitFor } = setUp({ claim: (name) => name !== "taken" });
    expect((await ask("registerSlashCommand", { name: "roll", description: "Roll dice" })).ok).toBe(true);
    expect(await ask("registerSlashCommand", { name: "taken" })).toMatchObject({ ok: false, error: { code: "unavailable" } });
    host.command("taken", "x");
    host.command("roll", "2d6");
    expect(await waitFor((m) => m.kind === "event")).toMatchObject({ event: "command", data: { name: "roll", args: "2d6" } });
  });

  it("shows and hides a panel, and passes on presses of its own buttons only", async () => {
    const { ask, host, received, waitFor } = setUp();
    await ask("showPanel", { panel: { title: "Dice", body: [{ type: "button", id: "again", label: "Again" }] } });
    expect(host.panelOpen).toBe(true);
    host.panelAction("forged");
    host.panelAction("again");
    expect(await waitFor((m) => m.kind === "event")).toMatchObject({ event: "panelAction", data: { id: "again" } });
    host.closePanel();
    host.panelAction("again");
    await ask("getCurrentChannel");
    expect(received.filter((m) => m.kind === "event")).toHaveLength(1);
    await ask("showPanel", { panel: { title: "Dice", body: [] } });
    expect(host.panelOpen).toBe(true);
    await ask("hidePanel");
    expect(host.panelOpen).toBe(false);
  });

  it("tells only plugins that may read the channel when it changes", async () => {
    const reader = setUp({ capabilities: ["channel.read"] });
    const blind = setUp({ capabilities: ["panel"] });
    reader.host.channelChanged(CHANNEL);
    blind.host.channelChanged(CHANNEL);
    expect(await reader.waitFor((m) => m.kind === "event")).toMatchObject({ event: "channelChanged", data: { channel: CHANNEL } });
    await blind.ask("hidePanel");
    expect(blind.received.some((m) => m.kind === "event")).toBe(false);
  });

  it("stops answering once disposed", async () => {
    const { host, port, received } = setUp();
    host.dispose();
    port.postMessage({ v: 1, kind: "request", id: 5, method: "getCurrentChannel" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received.filter((m) => m.kind === "response")).toEqual([]);
  });
});
