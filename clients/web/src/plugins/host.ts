// The host's side of one running plugin: it answers the plugin's requests
// over the plugin's port — each one checked (protocol.ts), allowed only by
// a granted capability (capabilities.ts) and within the plugin's rate
// limits (rateLimit.ts) — and tells the plugin what the user did with what
// it added (a message action picked, a slash command typed, a panel button
// pressed). What the plugin gets is plain data about messages and the
// channel; the Matrix client and the access token stay on this side, and
// messages the plugin sends are sent here, on the user's behalf.
import { type Capability, type Method, allows } from "./capabilities";
import type { Manifest } from "./manifest";
import { type Channel, type ErrorCode, type HostEvent, type HostMessage, type Panel, type Request, type VisibleMessage, checkPluginMessage } from "./protocol";
import { PluginRateLimits } from "./rateLimit";

/** What the host does for plugins, over the user's Matrix client (src/matrix/pluginBridge.ts). */
export interface PluginBridge {
  /** The channel the user has open, if any. */
  channel(): Channel | null;
  /** The last `limit` messages of a room the user can read, oldest first, as plain text. */
  messages(roomId: string, limit: number): VisibleMessage[];
  /** Sends a text message as the user; resolves with its event id. */
  send(roomId: string, text: string): Promise<string>;
}

export type HostOptions = {
  manifest: Manifest;
  granted: readonly Capability[];
  bridge: PluginBridge;
  port: MessagePort;
  /** Whether this plugin may take the slash command `name` (no other plugin has it). */
  claimCommand: (name: string) => boolean;
  /** Called whenever what the plugin adds to the page (actions, commands, panel, problems) changes. */
  onChange: () => void;
  now?: () => number;
};

export const MAX_ACTIONS = 10;
export const MAX_COMMANDS = 10;
const MAX_PROBLEMS = 5;

class Refusal extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class PluginHost {
  readonly id: string;
  readonly name: string;
  actions: { id: string; label: string }[] = [];
  commands: { name: string; description: string }[] = [];
  panel: Panel | null = null;
  panelOpen = false;
  /** The latest things that went wrong, newest last, for the plugin's settings. */
  problems: string[] = [];
  private readonly granted: ReadonlySet<Capability>;
  private readonly limits: PluginRateLimits;
  private readonly now: () => number;
  private disposed = false;

  constructor(private readonly options: HostOptions) {
    this.id = options.manifest.id;
    this.name = options.manifest.name;
    this.granted = new Set(options.granted.filter((c) => options.manifest.capabilities.includes(c)));
    this.now = options.now ?? Date.now;
    this.limits = new PluginRateLimits(this.now());
    options.port.onmessage = (event) => void this.receive(event.data);
    options.port.onmessageerror = () => this.problem("sent a message that could not be read");
  }

  /** Tells the plugin who it is and what it may do; its requests are answered from now on. */
  start(): void {
    this.post({ v: 1, kind: "init", plugin: { id: this.id, name: this.name }, capabilities: [...this.granted] });
  }

  dispose(): void {
    this.disposed = true;
    this.options.port.onmessage = null;
    this.options.port.close();
  }

  /** The user picked one of this plugin's actions on a message. */
  messageAction(actionId: string, message: VisibleMessage): void {
    if (this.actions.some((a) => a.id === actionId)) this.event({ event: "messageAction", data: { actionId, message } });
  }

  /** The user typed one of this plugin's slash commands. */
  command(name: string, args: string): void {
    if (this.commands.some((c) => c.name === name)) this.event({ event: "command", data: { name, args } });
  }

  panelAction(id: string): void {
    if (this.panelOpen && this.panel?.body.some((node) => node.type === "button" && node.id === id)) {
      this.event({ event: "panelAction", data: { id } });
    }
  }

  closePanel(): void {
    this.panelOpen = false;
    this.options.onChange();
  }

  /** The user opened another channel (told only to plugins that may know which). */
  channelChanged(channel: Channel | null): void {
    if (this.granted.has("channel.read")) this.event({ event: "channelChanged", data: { channel } });
  }

  /** Notes something that went wrong with the plugin: in the console, and in its settings. */
  problem(text: string): void {
    console.warn(`[plugin ${this.id}] ${text}`);
    const last = this.problems[this.problems.length - 1];
    if (last === text) return;
    this.problems = [...this.problems, text].slice(-MAX_PROBLEMS);
    this.options.onChange();
  }

  private async receive(data: unknown): Promise<void> {
    if (this.disposed) return;
    const checked = checkPluginMessage(data);
    if (!checked.ok) return this.problem(`ignored a malformed message: ${checked.reason}`);
    const message = checked.message;
    const kind = message.kind === "log" ? "log" : message.request.method;
    if (!this.limits.allow(kind, this.now())) {
      if (message.kind === "request") this.refuse(message.id, new Refusal("rate_limited", "Too many requests; slow down."));
      return this.problem(`was rate limited (${kind})`);
    }
    if (message.kind === "log") {
      if (message.level === "info") console.info(`[plugin ${this.id}] ${message.text}`);
      else this.problem(message.text);
      return;
    }
    try {
      const result = await this.answer(message.request);
      if (!this.disposed) this.post({ v: 1, kind: "response", id: message.id, ok: true, result: result ?? null });
    } catch (e) {
      const refusal = e instanceof Refusal ? e : new Refusal("refused", e instanceof Error ? e.message : String(e));
      this.refuse(message.id, refusal);
    }
  }

  private async answer(request: Request): Promise<unknown> {
    if (!allows(this.granted, request.method as Method)) {
      throw new Refusal("forbidden", `This plugin was not granted the capability ${request.method} needs.`);
    }
    switch (request.method) {
      case "getCurrentChannel":
        return this.options.bridge.channel();
      case "listMessages": {
        const channel = this.options.bridge.channel();
        return channel ? this.options.bridge.messages(channel.roomId, request.limit) : [];
      }
      case "sendMessage": {
        const channel = this.options.bridge.channel();
        if (!channel) throw new Refusal("unavailable", "No channel is open.");
        if (request.roomId !== undefined && request.roomId !== channel.roomId) {
          throw new Refusal("unavailable", "That channel is no longer the one open.");
        }
        return { eventId: await this.options.bridge.send(channel.roomId, request.text) };
      }
      case "registerMessageAction": {
        const others = this.actions.filter((a) => a.id !== request.id);
        if (others.length >= MAX_ACTIONS) throw new Refusal("invalid", `A plugin may add at most ${MAX_ACTIONS} message actions.`);
        this.actions = [...others, { id: request.id, label: request.label }];
        this.options.onChange();
        return null;
      }
      case "registerSlashCommand": {
        const others = this.commands.filter((c) => c.name !== request.name);
        if (others.length >= MAX_COMMANDS) throw new Refusal("invalid", `A plugin may add at most ${MAX_COMMANDS} slash commands.`);
        if (!this.options.claimCommand(request.name)) throw new Refusal("unavailable", `Another plugin already has /${request.name}.`);
        this.commands = [...others, { name: request.name, description: request.description }];
        this.options.onChange();
        return null;
      }
      case "showPanel":
        this.panel = request.panel;
        this.panelOpen = true;
        this.options.onChange();
        return null;
      case "hidePanel":
        this.panelOpen = false;
        this.options.onChange();
        return null;
    }
  }

  private refuse(id: number, refusal: Refusal): void {
    if (!this.disposed) this.post({ v: 1, kind: "response", id, ok: false, error: { code: refusal.code, message: refusal.message } });
  }

  private event(event: HostEvent): void {
    this.post({ v: 1, kind: "event", ...event } as HostMessage);
  }

  private post(message: HostMessage): void {
    if (!this.disposed) this.options.port.postMessage(message);
  }
}
