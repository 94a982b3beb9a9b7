// Plugins' panels beside the chat. A plugin has no DOM (it runs in a
// worker): it sends a small declarative panel — headings, text, lists,
// buttons — and this draws it as React text, so nothing a plugin sends is
// ever HTML, and the panel looks like the rest of the client in every
// theme. A button tells its plugin it was pressed; that is all it does.
import type { ReactNode } from "react";
import type { PluginPanel } from "../plugins/registry";
import { usePluginRegistry } from "./PluginRuntime";

/** The open plugin panels, or `fallback` when there are none. */
export function PluginPanels({ fallback }: { fallback: ReactNode }) {
  const registry = usePluginRegistry();
  const panels = registry.panels();
  if (panels.length === 0) return <>{fallback}</>;
  return (
    <div className="plugin-panels">
      {panels.map((panel) => (
        <PanelView key={panel.pluginId} panel={panel} onClose={() => registry.closePanel(panel.pluginId)} onButton={(id) => registry.panelAction(panel.pluginId, id)} />
      ))}
    </div>
  );
}

function PanelView({ panel: { pluginName, panel }, onClose, onButton }: { panel: PluginPanel; onClose: () => void; onButton: (id: string) => void }) {
  return (
    <aside className="plugin-panel" aria-label={`Plugin panel: ${panel.title}`}>
      <header>
        <h2>
          <span aria-hidden="true">🧩</span> {panel.title}
        </h2>
        <button className="close" aria-label={`Close ${panel.title}`} onClick={onClose}>
          ×
        </button>
      </header>
      <div className="plugin-panel-body">
        {panel.body.map((node, i) => {
          switch (node.type) {
            case "heading":
              return <h3 key={i}>{node.text}</h3>;
            case "text":
              return <p key={i}>{node.text}</p>;
            case "list":
              return (
                <ul key={i}>
                  {node.items.map((item, j) => (
                    <li key={j}>{item}</li>
                  ))}
                </ul>
              );
            case "button":
              return (
                <button key={i} onClick={() => onButton(node.id)}>
                  {node.label}
                </button>
              );
          }
        })}
      </div>
      <p className="muted plugin-panel-from">From the plugin {pluginName}</p>
    </aside>
  );
}
