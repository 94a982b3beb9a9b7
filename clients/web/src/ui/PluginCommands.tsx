// Plugins' slash commands in the main composer: the hints shown while a
// command is typed, and routing `/name args` to the plugin that has `name`
// instead of sending it.
import { matchingCommands, parseSlashCommand } from "../plugins/slashCommand";
import { pluginRegistry } from "../plugins/registry";
import { usePluginRegistry } from "./PluginRuntime";

/** Hands the composer's text to a plugin when it is one of their commands; false when it is a message to send. */
export function runPluginCommand(text: string): boolean {
  const command = parseSlashCommand(text);
  return !!command && pluginRegistry.runCommand(command.name, command.args);
}

export function PluginCommandHints({ text, onPick }: { text: string; onPick: (name: string) => void }) {
  const registry = usePluginRegistry();
  const hints = matchingCommands(text, registry.commands());
  if (hints.length === 0) return null;
  return (
    <ul className="autocomplete" aria-label="Plugin commands">
      {hints.map((command) => (
        <li key={command.name}>
          <button type="button" onMouseDown={(e) => e.preventDefault()} onClick={() => onPick(command.name)}>
            /{command.name} <span className="muted">{command.description || `from ${command.pluginName}`}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}
