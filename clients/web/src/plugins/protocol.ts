// The messages between a plugin and the host, version 1. They travel over
// the MessagePort the host hands the plugin at start; nothing else connects
// them. Everything a plugin sends is checked here before the host acts on
// it: the version, the kind, each field's type and size, the message's
// whole size. What fails is dropped (the host logs why) and never answered,
// and what passes is rebuilt from the checked fields only, so nothing the
// plugin sent along (extra fields, transferred ports or buffers) reaches the
// host's code.
import { type Capability, type Method, isMethod } from "./capabilities";

export const PROTOCOL_VERSION = 1;

export const LIMITS = {
  /** The largest message a plugin may send, in characters of JSON. */
  messageChars: 64 * 1024,
  actionId: 40,
  actionLabel: 40,
  commandName: 32,
  commandDescription: 100,
  /** A message the plugin sends; the client's composer allows as much. */
  text: 4000,
  listMessages: 100,
  panelTitle: 60,
  panelNodes: 40,
  panelText: 1000,
  panelListItems: 20,
  logText: 500,
} as const;

// ---- What a plugin sends -------------------------------------------------

/** A panel: a title and a short column of nodes the host draws itself (no HTML). */
export type Panel = { title: string; body: PanelNode[] };
export type PanelNode =
  | { type: "heading"; text: string }
  | { type: "text"; text: string }
  | { type: "list"; items: string[] }
  | { type: "button"; id: string; label: string };

export type Request =
  | { method: "getCurrentChannel" }
  | { method: "listMessages"; limit: number }
  | { method: "registerMessageAction"; id: string; label: string }
  | { method: "registerSlashCommand"; name: string; description: string }
  | { method: "sendMessage"; text: string; roomId?: string }
  | { method: "showPanel"; panel: Panel }
  | { method: "hidePanel" };

export type PluginMessage =
  | { kind: "request"; id: number; request: Request }
  | { kind: "log"; level: "info" | "warn" | "error"; text: string };

// ---- What the host sends -------------------------------------------------

export type Channel = { roomId: string; name: string; serverId?: string };
export type VisibleMessage = { eventId: string; sender: string; displayName: string; body: string; ts: number };

export type HostEvent =
  | { event: "messageAction"; data: { actionId: string; message: VisibleMessage } }
  | { event: "command"; data: { name: string; args: string } }
  | { event: "panelAction"; data: { id: string } }
  | { event: "channelChanged"; data: { channel: Channel | null } };

export type ErrorCode = "forbidden" | "rate_limited" | "invalid" | "unavailable" | "refused";

export type HostMessage =
  | { v: 1; kind: "init"; plugin: { id: string; name: string }; capabilities: Capability[] }
  | { v: 1; kind: "response"; id: number; ok: true; result: unknown }
  | { v: 1; kind: "response"; id: number; ok: false; error: { code: ErrorCode; message: string } }
  | ({ v: 1; kind: "event" } & HostEvent);

// ---- Checking ------------------------------------------------------------

export type Checked = { ok: true; message: PluginMessage } | { ok: false; reason: string };

export const COMMAND_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const ID = /^[A-Za-z0-9_.-]{1,40}$/;

class Invalid extends Error {}

/** Checks one message from a plugin (the `data` of its MessageEvent). */
export function checkPluginMessage(data: unknown): Checked {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch {
    return { ok: false, reason: "not plain data" };
  }
  if (json === undefined) return { ok: false, reason: "not plain data" };
  if (json.length > LIMITS.messageChars) return { ok: false, reason: `larger than ${LIMITS.messageChars} characters of JSON` };
  try {
    return { ok: true, message: readMessage(data) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, reason: e.message };
    throw e;
  }
}

function readMessage(data: unknown): PluginMessage {
  const m = object(data, "message");
  if (m.v !== PROTOCOL_VERSION) throw new Invalid(`unsupported protocol version ${JSON.stringify(m.v)}`);
  if (m.kind === "log") {
    const level = m.level;
    if (level !== "info" && level !== "warn" && level !== "error") throw new Invalid("log level must be info, warn or error");
    return { kind: "log", level, text: string(m.text, "log text", LIMITS.logText, { truncate: true }) };
  }
  if (m.kind !== "request") throw new Invalid(`unknown kind ${JSON.stringify(m.kind)}`);
  if (typeof m.id !== "number" || !Number.isSafeInteger(m.id) || m.id < 0) throw new Invalid("request id must be a whole number");
  if (!isMethod(m.method)) throw new Invalid(`unknown method ${JSON.stringify(m.method)}`);
  const params = m.params === undefined ? {} : object(m.params, "params");
  return { kind: "request", id: m.id, request: readRequest(m.method, params) };
}

function readRequest(method: Method, p: Record<string, unknown>): Request {
  switch (method) {
    case "getCurrentChannel":
    case "hidePanel":
      return { method };
    case "listMessages": {
      const limit = p.limit === undefined ? 50 : p.limit;
      if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > LIMITS.listMessages) {
        throw new Invalid(`limit must be a whole number from 1 to ${LIMITS.listMessages}`);
      }
      return { method, limit };
    }
    case "registerMessageAction":
      return { method, id: identifier(p.id, "action id"), label: string(p.label, "action label", LIMITS.actionLabel) };
    case "registerSlashCommand": {
      if (typeof p.name !== "string" || !COMMAND_NAME.test(p.name)) throw new Invalid("command name must be lowercase letters, digits or dashes, starting with a letter");
      const description = p.description === undefined ? "" : string(p.description, "command description", LIMITS.commandDescription, { blank: true });
      return { method, name: p.name, description };
    }
    case "sendMessage": {
      const text = string(p.text, "text", LIMITS.text);
      if (p.roomId === undefined) return { method, text };
      return { method, text, roomId: string(p.roomId, "roomId", 255) };
    }
    case "showPanel":
      return { method, panel: readPanel(object(p.panel, "panel")) };
  }
}

function readPanel(p: Record<string, unknown>): Panel {
  const title = string(p.title, "panel title", LIMITS.panelTitle);
  if (!Array.isArray(p.body)) throw new Invalid("panel body must be a list of nodes");
  if (p.body.length > LIMITS.panelNodes) throw new Invalid(`a panel holds at most ${LIMITS.panelNodes} nodes`);
  const body = p.body.map((raw, i): PanelNode => {
    const node = object(raw, `panel node ${i}`);
    switch (node.type) {
      case "heading":
      case "text":
        return { type: node.type, text: string(node.text, `panel node ${i} text`, LIMITS.panelText, { blank: true }) };
      case "list": {
        if (!Array.isArray(node.items) || node.items.length > LIMITS.panelListItems) {
          throw new Invalid(`panel node ${i} items must be a list of at most ${LIMITS.panelListItems}`);
        }
        return { type: "list", items: node.items.map((item, j) => string(item, `panel node ${i} item ${j}`, LIMITS.panelText, { blank: true })) };
      }
      case "button":
        return { type: "button", id: identifier(node.id, `panel node ${i} id`), label: string(node.label, `panel node ${i} label`, LIMITS.actionLabel) };
      default:
        throw new Invalid(`panel node ${i} has unknown type ${JSON.stringify(node.type)}`);
    }
  });
  return { title, body };
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new Invalid(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function string(value: unknown, what: string, max: number, opts: { blank?: boolean; truncate?: boolean } = {}): string {
  if (typeof value !== "string") throw new Invalid(`${what} must be text`);
  if (!opts.blank && !value.trim()) throw new Invalid(`${what} must not be blank`);
  if (value.length > max) {
    if (opts.truncate) return value.slice(0, max);
    throw new Invalid(`${what} is longer than ${max} characters`);
  }
  return value;
}

function identifier(value: unknown, what: string): string {
  if (typeof value !== "string" || !ID.test(value)) throw new Invalid(`${what} must be 1–40 letters, digits, dots, dashes or underscores`);
  return value;
}
