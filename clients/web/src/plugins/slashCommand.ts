// Slash commands in the composer: `/roll 2d6` goes to the plugin that
// registered `roll` instead of being sent; a slash command no plugin
// registered is sent as the text it is.
import { COMMAND_NAME } from "./protocol";

export type SlashCommand = { name: string; args: string };

/** The command a composer text invokes, or null when it is a message. */
export function parseSlashCommand(text: string): SlashCommand | null {
  const match = /^\/([^\s/]+)(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!match || !COMMAND_NAME.test(match[1])) return null;
  return { name: match[1], args: (match[2] ?? "").trim() };
}

/** The commands whose names start with what is typed after `/`, for the composer's hints. */
export function matchingCommands<T extends { name: string }>(text: string, commands: readonly T[]): T[] {
  const typed = /^\/([a-z0-9-]*)$/.exec(text);
  if (!typed) return [];
  return commands.filter((c) => c.name.startsWith(typed[1])).sort((a, b) => a.name.localeCompare(b.name));
}
