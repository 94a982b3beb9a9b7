// The running plugins of this page: started and stopped to match the
// user's installed list, and what they add to the page (message actions,
// slash commands, panels) for the components that show it. One per page;
// components subscribe to it (`subscribe`/`version`, for
// useSyncExternalStore).
import { PluginHost, type PluginBridge } from "./host";
import type { LoadedPlugin } from "./installed";
import type { Panel, VisibleMessage } from "./protocol";
import { type Sandbox, startSandbox } from "./sandbox";

type Running = { key: string; host: PluginHost; sandbox: Sandbox };

export type PluginAction = { pluginId: string; pluginName: string; id: string; label: string };
export type PluginCommand = { pluginId: string; pluginName: string; name: string; description: string };
export type PluginPanel = { pluginId: string; pluginName: string; panel: Panel };

export class PluginRegistry {
  private readonly running = new Map<string, Running>();
  private readonly listeners = new Set<() => void>();
  private bridge: PluginBridge | null = null;
  private container: HTMLElement | null = null;
  private revision = 0;
  private lastChannel = "";

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  version = (): number => this.revision;

  /** Plugins may run from now on, served by `bridge`. */
  attach(bridge: PluginBridge): void {
    this.detach();
    this.bridge = bridge;
    this.container = document.createElement("div");
    this.container.className = "plugin-sandboxes";
    this.container.hidden = true;
    document.body.append(this.container);
  }

  /** Stops every plugin (signing out, or the page going away). */
  detach(): void {
    for (const id of [...this.running.keys()]) this.stop(id);
    this.container?.remove();
    this.container = null;
    this.bridge = null;
    this.lastChannel = "";
    this.changed();
  }

  /** Runs exactly the enabled, well-formed plugins of `plugins`; one whose source or grants changed is restarted. */
  sync(plugins: readonly LoadedPlugin[]): void {
    if (!this.bridge || !this.container) return;
    const wanted = new Map(plugins.filter((p) => p.enabled && p.manifest).map((p) => [p.id, p]));
    for (const [id, running] of this.running) {
      const plugin = wanted.get(id);
      if (!plugin || keyOf(plugin) !== running.key) this.stop(id);
    }
    for (const plugin of wanted.values()) if (!this.running.has(plugin.id)) this.start(plugin);
    this.changed();
  }

  /** Tells plugins that may know it that the user opened another channel. */
  channelChanged(): void {
    const channel = this.bridge?.channel() ?? null;
    const key = JSON.stringify(channel);
    if (key === this.lastChannel) return;
    this.lastChannel = key;
    for (const { host } of this.running.values()) host.channelChanged(channel);
  }

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  problems(id: string): string[] {
    return this.running.get(id)?.host.problems ?? [];
  }

  actions(): PluginAction[] {
    return this.hosts().flatMap((h) => h.actions.map((a) => ({ pluginId: h.id, pluginName: h.name, ...a })));
  }

  commands(): PluginCommand[] {
    return this.hosts().flatMap((h) => h.commands.map((c) => ({ pluginId: h.id, pluginName: h.name, ...c })));
  }

  panels(): PluginPanel[] {
    return this.hosts().flatMap((h) => (h.panelOpen && h.panel ? [{ pluginId: h.id, pluginName: h.name, panel: h.panel }] : []));
  }

  runAction(pluginId: string, actionId: string, message: VisibleMessage): void {
    this.running.get(pluginId)?.host.messageAction(actionId, message);
  }

  /** Hands `/name args` to the plugin that registered `name`; false when none did. */
  runCommand(name: string, args: string): boolean {
    const host = this.hosts().find((h) => h.commands.some((c) => c.name === name));
    host?.command(name, args);
    return !!host;
  }

  panelAction(pluginId: string, id: string): void {
    this.running.get(pluginId)?.host.panelAction(id);
  }

  closePanel(pluginId: string): void {
    this.running.get(pluginId)?.host.closePanel();
  }

  private hosts(): PluginHost[] {
    return [...this.running.values()].map((r) => r.host);
  }

  private start(plugin: LoadedPlugin): void {
    const manifest = plugin.manifest!;
    let host: PluginHost | null = null;
    const sandbox = startSandbox(plugin.source, this.container!, `Plugin sandbox: ${manifest.name}`, (text) => host?.problem(`error: ${text}`));
    host = new PluginHost({
      manifest,
      granted: plugin.granted,
      bridge: this.bridge!,
      port: sandbox.port,
      claimCommand: (name) => !this.hosts().some((h) => h.id !== manifest.id && h.commands.some((c) => c.name === name)),
      onChange: () => this.changed(),
    });
    this.running.set(plugin.id, { key: keyOf(plugin), host, sandbox });
    host.start();
  }

  private stop(id: string): void {
    const running = this.running.get(id);
    if (!running) return;
    this.running.delete(id);
    running.host.dispose();
    running.sandbox.dispose();
  }

  private changed(): void {
    this.revision += 1;
    for (const listener of this.listeners) listener();
  }
}

function keyOf(plugin: LoadedPlugin): string {
  return JSON.stringify([plugin.source, plugin.granted]);
}

export const pluginRegistry = new PluginRegistry();
