// The user's installed plugins, kept in their account data (type
// `nexus.web.plugins`) so they follow the user to every session of this
// client:
//
//   { "plugins": [ { "id": "quote", "source": "/*! nexus-plugin …",
//                    "enabled": true, "granted": ["messages.send", …],
//                    "installed_ts": 1700000000000 } ] }
//
// `granted` is what the user was shown and accepted at install; the host
// enforces it (and never more than the source's manifest declares).
import { type Capability, isCapability } from "./capabilities";
import { type Manifest, parseManifest } from "./manifest";

export const PLUGINS_EVENT_TYPE = "nexus.web.plugins";

export type InstalledPlugin = { id: string; source: string; enabled: boolean; granted: Capability[]; installedTs: number };

/** An installed plugin as it can run: its manifest, or why it cannot. */
export type LoadedPlugin = InstalledPlugin & ({ manifest: Manifest; error: null } | { manifest: null; error: string });

/** The list in an account data event's content; entries that are not well formed are left out. */
export function readInstalled(content: unknown): InstalledPlugin[] {
  const list = (content as { plugins?: unknown } | null | undefined)?.plugins;
  if (!Array.isArray(list)) return [];
  const seen = new Set<string>();
  const plugins: InstalledPlugin[] = [];
  for (const entry of list) {
    if (!entry || typeof entry !== "object") continue;
    const { id, source, enabled, granted, installed_ts } = entry as Record<string, unknown>;
    if (typeof id !== "string" || typeof source !== "string" || seen.has(id)) continue;
    seen.add(id);
    plugins.push({
      id,
      source,
      enabled: enabled === true,
      granted: Array.isArray(granted) ? granted.filter(isCapability) : [],
      installedTs: typeof installed_ts === "number" ? installed_ts : 0,
    });
  }
  return plugins;
}

export function writeInstalled(plugins: readonly InstalledPlugin[]): { plugins: Record<string, unknown>[] } {
  return {
    plugins: plugins.map((p) => ({ id: p.id, source: p.source, enabled: p.enabled, granted: p.granted, installed_ts: p.installedTs })),
  };
}

/** Reads each plugin's manifest from its source; what it may do is what was granted and is still declared. */
export function loadInstalled(plugins: readonly InstalledPlugin[]): LoadedPlugin[] {
  return plugins.map((plugin) => {
    const parsed = parseManifest(plugin.source);
    if (!parsed.ok) return { ...plugin, manifest: null, error: parsed.error };
    if (parsed.manifest.id !== plugin.id) return { ...plugin, manifest: null, error: `Its source now says it is "${parsed.manifest.id}".` };
    const granted = plugin.granted.filter((c) => parsed.manifest.capabilities.includes(c));
    return { ...plugin, granted, manifest: parsed.manifest, error: null };
  });
}

export type Installing = { ok: true; plugins: InstalledPlugin[]; manifest: Manifest } | { ok: false; error: string };

/**
 * Adds the plugin whose source is given, enabled and granted what its
 * manifest asks (the user has just been shown that); a plugin with the
 * same id is replaced.
 */
export function install(plugins: readonly InstalledPlugin[], source: string, now: number): Installing {
  const parsed = parseManifest(source);
  if (!parsed.ok) return parsed;
  const { manifest } = parsed;
  const entry: InstalledPlugin = { id: manifest.id, source, enabled: true, granted: [...manifest.capabilities], installedTs: now };
  const at = plugins.findIndex((p) => p.id === manifest.id);
  const next = at === -1 ? [...plugins, entry] : plugins.map((p, i) => (i === at ? entry : p));
  return { ok: true, plugins: next, manifest };
}

export function setEnabled(plugins: readonly InstalledPlugin[], id: string, enabled: boolean): InstalledPlugin[] {
  return plugins.map((p) => (p.id === id ? { ...p, enabled } : p));
}

export function uninstall(plugins: readonly InstalledPlugin[], id: string): InstalledPlugin[] {
  return plugins.filter((p) => p.id !== id);
}
