// The plugin API as plugins see it: the global `nexus`, set up in the
// plugin's worker before the plugin's own code runs (the two are one
// script). It turns calls into protocol requests over the port the host
// handed over, and the host's events into calls of the plugin's handlers.
//
// It is sent as source (`pluginPrelude.toString()`), so it must stay one
// self-contained function: no imports, no names from this module.

/** The parts of a worker's global scope the prelude touches. */
export type PreludeScope = {
  addEventListener(type: "message", listener: (event: { ports: readonly MessagePort[] }) => void): void;
  removeEventListener(type: "message", listener: (event: { ports: readonly MessagePort[] }) => void): void;
};

export function pluginPrelude(scope: PreludeScope): void {
  type Handler = (...args: any[]) => unknown;
  let port: MessagePort | null = null;
  const queue: unknown[] = [];
  const pending = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();
  const actions = new Map<string, Handler>();
  const commands = new Map<string, Handler>();
  const panelHandlers: Handler[] = [];
  const channelHandlers: Handler[] = [];
  let nextId = 1;
  let started: (info: { id: string; name: string; capabilities: string[] }) => void = () => undefined;
  const ready = new Promise<{ id: string; name: string; capabilities: string[] }>((resolve) => (started = resolve));

  const post = (message: unknown) => (port ? port.postMessage(message) : queue.push(message));
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<any>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      post({ v: 1, kind: "request", id, method, params });
    });
  const report = (error: unknown) => {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    post({ v: 1, kind: "log", level: "error", text: text.slice(0, 500) });
  };
  // A handler's failure is reported to the host (shown in the user's
  // plugin settings) rather than lost.
  const run = (handler: Handler | undefined, ...args: unknown[]) => {
    if (!handler) return;
    Promise.resolve()
      .then(() => handler(...args))
      .catch(report);
  };

  const receive = (data: any) => {
    if (!data || data.v !== 1) return;
    if (data.kind === "init") {
      started({ id: data.plugin.id, name: data.plugin.name, capabilities: data.capabilities });
    } else if (data.kind === "response") {
      const waiting = pending.get(data.id);
      if (!waiting) return;
      pending.delete(data.id);
      if (data.ok) waiting.resolve(data.result);
      else waiting.reject(Object.assign(new Error(data.error.message), { code: data.error.code }));
    } else if (data.kind === "event") {
      const d = data.data;
      if (data.event === "messageAction") run(actions.get(d.actionId), d.message);
      else if (data.event === "command") run(commands.get(d.name), d.args);
      else if (data.event === "panelAction") panelHandlers.forEach((h) => run(h, d.id));
      else if (data.event === "channelChanged") channelHandlers.forEach((h) => run(h, d.channel));
    }
  };

  // The sandbox's runtime sends one message: the port to the host.
  const connect = (event: { ports: readonly MessagePort[] }) => {
    if (port || !event.ports[0]) return;
    port = event.ports[0];
    scope.removeEventListener("message", connect);
    port.onmessage = (e) => receive(e.data);
    for (const message of queue.splice(0)) port.postMessage(message);
  };
  scope.addEventListener("message", connect);

  const nexus = Object.freeze({
    /** Resolves once the host has started the plugin: `{ id, name, capabilities }`. */
    ready: () => ready,
    getCurrentChannel: () => call("getCurrentChannel"),
    listMessages: (limit = 50) => call("listMessages", { limit }),
    sendMessage: (text: string, options: { roomId?: string } = {}) =>
      call("sendMessage", options.roomId === undefined ? { text } : { text, roomId: options.roomId }),
    registerMessageAction: (action: { id: string; label: string }, handler: Handler) => {
      actions.set(action.id, handler);
      return call("registerMessageAction", { id: action.id, label: action.label });
    },
    registerSlashCommand: (command: { name: string; description?: string }, handler: Handler) => {
      commands.set(command.name, handler);
      return call("registerSlashCommand", { name: command.name, description: command.description ?? "" });
    },
    showPanel: (panel: unknown) => call("showPanel", { panel }),
    hidePanel: () => call("hidePanel"),
    onPanelAction: (handler: Handler) => void panelHandlers.push(handler),
    onChannelChanged: (handler: Handler) => void channelHandlers.push(handler),
    log: (text: unknown) => post({ v: 1, kind: "log", level: "info", text: String(text).slice(0, 500) }),
  });
  Object.defineProperty(scope, "nexus", { value: nexus, enumerable: true });

  // Defence in depth beside the sandbox's CSP: no loading further scripts
  // (importScripts may still reach the homeserver's own files) and no
  // nested worker with a fresh global that still has them.
  for (let holder: any = scope; holder; holder = Object.getPrototypeOf(holder)) {
    for (const name of ["importScripts", "Worker", "SharedWorker"]) {
      if (Object.prototype.hasOwnProperty.call(holder, name)) {
        try {
          delete holder[name];
        } catch {
          // A property that cannot go stays; the CSP still holds.
        }
      }
    }
  }
}

/**
 * The script the plugin's worker runs: the prelude, then the plugin.
 * `firstLine` is the plugin's first line in it, to report errors against
 * the plugin's own lines.
 */
export function workerScript(pluginSource: string): { script: string; firstLine: number } {
  const prelude = `(${pluginPrelude.toString()})(self);\n`;
  return { script: `${prelude}${pluginSource}\n`, firstLine: prelude.split("\n").length };
}
