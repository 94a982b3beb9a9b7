// User settings → Plugins: what is installed (each with what it can do,
// enabled or not, removable), the bundled examples, and installing from
// pasted source. What a plugin can do is read from its manifest and shown
// before it is installed; the host enforces exactly that.
import type { MatrixClient } from "matrix-js-sdk";
import { useState } from "react";
import { saveInstalledPlugins } from "../matrix/plugins";
import { describeError } from "../matrix/session";
import type { Capability } from "../plugins/capabilities";
import { describeCapabilities } from "../plugins/capabilities";
import { EXAMPLE_PLUGINS } from "../plugins/examples";
import { type InstalledPlugin, install, loadInstalled, setEnabled, uninstall } from "../plugins/installed";
import { type Manifest, parseManifest } from "../plugins/manifest";
import { useInstalledPlugins, usePluginRegistry } from "./PluginRuntime";

export function PluginsSettings({ client }: { client: MatrixClient }) {
  const synced = useInstalledPlugins(client);
  // A change shows at once; the account data comes back through sync a moment later.
  const [saving, setSaving] = useState<{ from: InstalledPlugin[]; to: InstalledPlugin[] } | null>(null);
  const installed = saving?.from === synced ? saving.to : synced;
  const registry = usePluginRegistry();
  const [source, setSource] = useState("");
  const [status, setStatus] = useState<{ error: boolean; text: string } | null>(null);
  const loaded = loadInstalled(installed);

  const save = async (next: InstalledPlugin[], done: string) => {
    setSaving({ from: synced, to: next });
    try {
      await saveInstalledPlugins(client, next);
      setStatus({ error: false, text: done });
      return true;
    } catch (e) {
      setSaving(null);
      setStatus({ error: true, text: describeError(e) });
      return false;
    }
  };
  const installSource = async (text: string) => {
    const result = install(installed, text, Date.now());
    if (!result.ok) return setStatus({ error: true, text: result.error });
    if (await save(result.plugins, `Installed ${result.manifest.name}.`)) setSource("");
  };
  const pasted = source.trim() ? parseManifest(source) : null;

  return (
    <>
      <h3>Plugins</h3>
      <p className="muted">
        Plugins add message actions, slash commands and panels. Each runs sealed off from this page — no network, no storage, no access to your
        session or its token — and can do only what it asked for when you installed it. Your installed plugins are kept in your account, so they
        follow you to other sessions.
      </p>
      {status && (
        <p className={status.error ? "error" : undefined} role={status.error ? "alert" : "status"}>
          {status.text}
        </p>
      )}
      {loaded.length === 0 ? (
        <p className="muted">No plugins installed.</p>
      ) : (
        <ul role="list" className="plugin-list" aria-label="Installed plugins">
          {loaded.map((plugin) => {
            const name = plugin.manifest?.name ?? plugin.id;
            const problems = registry.problems(plugin.id);
            return (
              <li key={plugin.id} aria-label={name} data-running={registry.isRunning(plugin.id)}>
                {plugin.manifest ? <PluginSummary manifest={plugin.manifest} capabilities={plugin.granted} /> : <strong>{plugin.id}</strong>}
                {plugin.error && <p className="error">This plugin cannot run: {plugin.error}</p>}
                {problems.length > 0 && (
                  <ul className="plugin-problems" aria-label={`Problems of ${name}`}>
                    {problems.map((problem, i) => (
                      <li key={i}>{problem}</li>
                    ))}
                  </ul>
                )}
                <div className="row">
                  <label className="switch">
                    <input
                      type="checkbox"
                      checked={plugin.enabled}
                      disabled={!plugin.manifest}
                      onChange={(e) => save(setEnabled(installed, plugin.id, e.target.checked), `${name} ${e.target.checked ? "enabled" : "disabled"}.`)}
                    />
                    Enabled
                  </label>
                  <button className="danger" aria-label={`Remove ${name}`} onClick={() => save(uninstall(installed, plugin.id), `Removed ${name}.`)}>
                    Remove
                  </button>
                </div>
              </li>
            );
          })}
        </ul>
      )}

      <h3>Examples</h3>
      <ul role="list" className="plugin-list" aria-label="Example plugins">
        {EXAMPLE_PLUGINS.map((example) => {
          const parsed = parseManifest(example);
          if (!parsed.ok) return null;
          const { manifest } = parsed;
          const current = installed.find((p) => p.id === manifest.id);
          return (
            <li key={manifest.id} aria-label={`Example ${manifest.name}`}>
              <PluginSummary manifest={manifest} capabilities={manifest.capabilities} />
              <button className="primary" disabled={current?.source === example} onClick={() => installSource(example)}>
                {current?.source === example ? "Installed" : `Install ${manifest.name}`}
              </button>
            </li>
          );
        })}
      </ul>

      <h3>Install from source</h3>
      <p className="muted">Paste a plugin's JavaScript. It starts with a manifest naming what it needs (see PLUGINS.md in the client's source).</p>
      <textarea aria-label="Plugin source" className="plugin-source" rows={8} spellCheck={false} value={source} onChange={(e) => setSource(e.target.value)} />
      {pasted && !pasted.ok && <p className="error">{pasted.error}</p>}
      {pasted?.ok && (
        <div className="plugin-review" role="region" aria-label="Plugin to install">
          <PluginSummary manifest={pasted.manifest} capabilities={pasted.manifest.capabilities} />
          {installed.some((p) => p.id === pasted.manifest.id) && <p className="muted">This replaces the installed plugin “{pasted.manifest.id}”.</p>}
          <button className="primary" onClick={() => installSource(source)}>
            Install plugin
          </button>
        </div>
      )}
    </>
  );
}

/** A plugin's name, version, description and — in the words users read at install — what it can do. */
function PluginSummary({ manifest, capabilities }: { manifest: Manifest; capabilities: readonly Capability[] }) {
  const can = describeCapabilities(capabilities);
  return (
    <div className="plugin-summary">
      <strong>{manifest.name}</strong> {manifest.version && <span className="muted">{manifest.version}</span>}
      {manifest.description && <p>{manifest.description}</p>}
      {can.length ? (
        <>
          <p className="plugin-can">This plugin can:</p>
          <ul aria-label={`What ${manifest.name} can do`}>
            {can.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
        </>
      ) : (
        <p className="plugin-can">This plugin asks for nothing: it can only run.</p>
      )}
    </div>
  );
}
