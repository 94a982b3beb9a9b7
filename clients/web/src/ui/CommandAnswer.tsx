// A bot's answer to a slash command, shown where Discord shows it. The
// bridge posts an answer as the bot's message in reply to the command line,
// marked `nexus.interaction` {name, user_id}: it gets the header "Alice used
// /roll" (leading to the command line) instead of a plain reply preview. An
// EPHEMERAL answer goes to the bot's direct room with the person instead,
// with no reply (a Matrix room has no per-reader messages): there it says
// "Only you can see this". A deferred answer is the bot typing in the
// channel: the command line waiting for it gets "… is thinking".
import type { MatrixClient, Room } from "matrix-js-sdk";
import { type Item } from "../logic/timeline";
import { type SlashCommand, awaitedInvocations } from "../logic/slashCommands";
import { typingSince } from "../matrix/typingSince";
import { Avatar } from "./Avatar";
import type { ChatContext } from "./ChatView";

type Message = Extract<Item, { kind: "message" }>;

/** "Alice used /roll" above an answer; a button to the command line when it is in this room. */
export function InteractionHeader({ ctx, item, jumpTo }: { ctx: ChatContext; item: Message; jumpTo: (eventId: string) => void }) {
  const interaction = item.interaction!;
  const user = ctx.room.getMember(interaction.userId);
  const name = user?.name ?? interaction.userId;
  const header = (
    <>
      <Avatar id={interaction.userId} name={name} size={16} client={ctx.client} mxc={user?.getMxcAvatarUrl()} />
      <strong>{name}</strong> used <span className="slash-name">/{interaction.name}</span>
    </>
  );
  return item.replyTo ? (
    <button className="reply-preview interaction-header" onClick={() => jumpTo(item.replyTo!)}>
      {header}
    </button>
  ) : (
    <p className="reply-preview interaction-header">{header}</p>
  );
}

/** Below an answer that came privately. */
export function EphemeralNote({ item }: { item: Message }) {
  if (!item.interaction || item.replyTo) return null;
  return (
    <p className="ephemeral-note">
      <span aria-hidden="true">👁</span> Only you can see this
    </p>
  );
}

/**
 * The command lines a deferred answer is awaited for, by event ID: each
 * bot's newest unanswered invocation (logic/slashCommands.ts), when the bot
 * started typing after it.
 */
export function thinkingBots(client: MatrixClient, room: Room, items: Item[], commands: SlashCommand[]): Map<string, string> {
  if (!commands.length) return new Map();
  const messages = items.flatMap((i) => (i.kind === "message" && !i.redacted ? [i] : []));
  const thinking = new Map<string, string>();
  for (const [bot, invocation] of awaitedInvocations(messages, commands, Date.now())) {
    const since = typingSince(client, room.getMember(bot));
    const sent = room.findEventById(invocation)?.localTimestamp;
    if (since !== null && sent !== undefined && since >= sent) thinking.set(invocation, bot);
  }
  return thinking;
}

/** "Dicebot is thinking…" under the command line it is answering. */
export function ThinkingLine({ ctx, bot }: { ctx: ChatContext; bot: string }) {
  const member = ctx.room.getMember(bot);
  const name = member?.name ?? bot;
  return (
    <li className="thinking-line">
      <Avatar id={bot} name={name} size={16} client={ctx.client} mxc={member?.getMxcAvatarUrl()} />
      <span role="status">
        <strong>{name}</strong> is thinking<span className="thinking-dots" aria-hidden="true">…</span>
      </span>
    </li>
  );
}
