// The composer's list of bots' slash commands: typing `/` at the start
// offers the room's commands, narrowed as the name is typed; ↑/↓ move,
// Tab or Enter picks one (the composer then becomes its form), Escape puts
// the list away. The message box stays the channel's textbox and points at
// the list the way a combobox does (aria-autocomplete, aria-controls,
// aria-activedescendant).
import type React from "react";
import { useEffect, useId, useState, useSyncExternalStore } from "react";
import { type SlashCommand, matchingCommands, typedCommandName } from "../logic/slashCommands";
import { roomCommands } from "../matrix/roomCommands";
import { Avatar } from "./Avatar";
import type { ChatContext } from "./ChatView";
import "./slashCommands.css";

const NONE: SlashCommand[] = [];

export type CommandPicker = {
  /** The command whose form replaces the message box, if one was picked. */
  chosen: SlashCommand | null;
  /** Back to the message box. */
  clear: () => void;
  /** The list, when open. */
  list: React.ReactNode;
  /** Attributes for the message box. */
  inputProps: React.TextareaHTMLAttributes<HTMLTextAreaElement>;
  /** Handles a key of the message box; true when it was the list's. */
  onKeyDown: (e: React.KeyboardEvent) => boolean;
};

/** The room's commands, fetched on first look and kept fresh (matrix/roomCommands.ts). */
export function useRoomCommands(ctx: ChatContext, enabled = true): SlashCommand[] {
  const store = roomCommands(ctx.client);
  return useSyncExternalStore(store.subscribe, () => (enabled ? store.get(ctx.room.roomId) : NONE));
}

export function useCommandPicker(ctx: ChatContext, text: string, enabled: boolean): CommandPicker {
  const { client, room } = ctx;
  const commands = useRoomCommands(ctx, enabled);
  const [index, setIndex] = useState(0);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const [chosen, setChosen] = useState<SlashCommand | null>(null);
  const listId = useId();
  const query = enabled ? typedCommandName(text) : null;
  const open = query !== null && dismissed !== text;
  const offered = open ? matchingCommands(commands, query) : NONE;
  const active = Math.min(index, Math.max(0, offered.length - 1));

  // A bot may have registered commands since the list was fetched.
  useEffect(() => {
    if (open) roomCommands(client).refresh(room.roomId);
  }, [open, room.roomId]);
  useEffect(() => setIndex(0), [query]);
  useEffect(() => setChosen(null), [room.roomId]);

  const optionId = (i: number) => `${listId}-option-${i}`;
  const pick = (command: SlashCommand) => {
    setChosen(command);
    setDismissed(null);
  };

  const list =
    offered.length > 0 ? (
      <ul className="autocomplete slash-commands" role="listbox" id={listId} aria-label="Commands">
        {offered.map((command, i) => {
          const bot = room.getMember(command.bot_user_id);
          const botName = bot?.name ?? command.bot_user_id;
          return (
            <li
              key={`${command.bot_user_id} ${command.name}`}
              id={optionId(i)}
              role="option"
              aria-selected={i === active}
              onMouseDown={(e) => e.preventDefault()}
              onMouseEnter={() => setIndex(i)}
              onClick={() => pick(command)}
            >
              <Avatar id={command.bot_user_id} name={botName} size={24} client={client} mxc={bot?.getMxcAvatarUrl()} />
              <span className="slash-name">/{command.name}</span>
              <span className="slash-description">{command.description}</span>
              <span className="slash-bot muted">{botName}</span>
            </li>
          );
        })}
      </ul>
    ) : null;

  const inputProps: React.TextareaHTMLAttributes<HTMLTextAreaElement> = list
    ? { "aria-autocomplete": "list", "aria-controls": listId, "aria-activedescendant": optionId(active) }
    : {};

  const onKeyDown = (e: React.KeyboardEvent): boolean => {
    if (!offered.length) return false;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : offered.length - 1;
      setIndex((active + step) % offered.length);
      return true;
    }
    if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") {
      e.preventDefault();
      pick(offered[active]);
      return true;
    }
    if (e.key === "Escape") {
      e.preventDefault();
      setDismissed(text);
      return true;
    }
    return false;
  };

  return { chosen, clear: () => setChosen(null), list, inputProps, onKeyDown };
}
