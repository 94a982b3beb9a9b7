// The plugins' items in a message's toolbar: one button opening a menu of
// every action running plugins registered. Picking one hands the plugin
// that message (its sender, name, text and time) and nothing else.
import type { Room } from "matrix-js-sdk";
import { useState } from "react";
import type { Item } from "../logic/timeline";
import { visibleMessage } from "../matrix/plugins";
import { usePluginRegistry } from "./PluginRuntime";

type Message = Extract<Item, { kind: "message" }>;

export function PluginActionsButton({ room, item }: { room: Room; item: Message }) {
  const registry = usePluginRegistry();
  const [open, setOpen] = useState(false);
  const actions = registry.actions();
  if (actions.length === 0 || item.encrypted) return null;
  return (
    <>
      <button aria-label="Plugin actions" title="Plugin actions" aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen(!open)}>
        🧩
      </button>
      {open && (
        <ul className="menu plugin-actions" role="menu" aria-label="Plugin actions" onKeyDown={(e) => e.key === "Escape" && setOpen(false)}>
          {actions.map((action) => (
            <li role="none" key={`${action.pluginId}/${action.id}`}>
              <button
                role="menuitem"
                title={`From the plugin ${action.pluginName}`}
                onClick={() => {
                  setOpen(false);
                  registry.runAction(action.pluginId, action.id, visibleMessage(room, item));
                }}
              >
                {action.label}
              </button>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
