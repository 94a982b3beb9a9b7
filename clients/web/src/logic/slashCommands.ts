// Bots' slash commands in the composer: which registered commands match
// what is typed, the form a command's options make (sub-command choices,
// then one typed field per option), its validation, and the command line it
// is sent as. The line is the text the Discord-compatible bridge reads back
// (appservice-bridge/src/interactions/options.rs): the sub-command names
// first, then every option as `name:value`, a value with spaces in double
// quotes. That syntax has no escape for a double quote, so a value holding
// one is refused here rather than sent and misread.

/** Discord's option types, as the bridge stores them. */
export const OptionType = {
  SUB_COMMAND: 1,
  SUB_COMMAND_GROUP: 2,
  STRING: 3,
  INTEGER: 4,
  BOOLEAN: 5,
  USER: 6,
  CHANNEL: 7,
  ROLE: 8,
  MENTIONABLE: 9,
  NUMBER: 10,
  ATTACHMENT: 11,
} as const;

export type Choice = { name: string; value: string | number };

export type CommandOption = {
  type: number;
  name: string;
  description: string;
  required?: boolean;
  choices?: Choice[];
  min_value?: number;
  max_value?: number;
  min_length?: number;
  max_length?: number;
  /** Discord's channel types a channel option accepts. */
  channel_types?: number[];
  /** A sub-command's or group's own options. */
  options?: CommandOption[];
};

/** One command as `GET /_nexus/bridge/v1/rooms/{roomId}/commands` lists it. */
export type SlashCommand = {
  bot_user_id: string;
  application_id: string;
  name: string;
  description: string;
  options: CommandOption[];
};

/** What the command form holds: the sub-commands chosen, and each field's text by option name. */
export type CommandForm = { path: string[]; values: Record<string, string> };

/** Why the form cannot be sent: the sub-command still to choose, and each field's problem. */
export type Problems = { choice: string | null; fields: Record<string, string> };

/** Discord's integers are those a double holds exactly. */
const MAX_INTEGER = 2 ** 53;

/**
 * The command name being typed, while the composer holds only `/` and a
 * name (`"/ro"` → `"ro"`); null otherwise (`//` is not a command for the
 * bridge either).
 */
export function typedCommandName(text: string): string | null {
  const typed = /^\/([^\s/]*)$/.exec(text);
  return typed ? typed[1].toLowerCase() : null;
}

/** The commands whose names start with `query`, then those that contain it, each group by name. */
export function matchingCommands(commands: SlashCommand[], query: string): SlashCommand[] {
  const wanted = query.toLowerCase();
  const byName = (a: SlashCommand, b: SlashCommand) => a.name.localeCompare(b.name) || a.bot_user_id.localeCompare(b.bot_user_id);
  const starting = commands.filter((c) => c.name.startsWith(wanted)).sort(byName);
  const containing = commands.filter((c) => !c.name.startsWith(wanted) && c.name.includes(wanted)).sort(byName);
  return [...starting, ...containing];
}

function isNested(option: CommandOption): boolean {
  return option.type === OptionType.SUB_COMMAND || option.type === OptionType.SUB_COMMAND_GROUP;
}

/** The options one level down `path`: the command's own, or the chosen sub-command's. */
export function optionsAt(command: SlashCommand, path: string[]): CommandOption[] {
  let options = command.options ?? [];
  for (const name of path) {
    const chosen = options.find((o) => isNested(o) && o.name === name);
    if (!chosen) return [];
    options = chosen.options ?? [];
  }
  return options;
}

/** The sub-commands (or groups) to choose among after `path`, or null when `path` reaches the options. */
export function choicesAfter(command: SlashCommand, path: string[]): CommandOption[] | null {
  const options = optionsAt(command, path);
  return options.some(isNested) ? options : null;
}

/** The typed fields of the form: the options of the command or of its chosen sub-command. */
export function fieldsOf(command: SlashCommand, path: string[]): CommandOption[] {
  return choicesAfter(command, path) ? [] : optionsAt(command, path);
}

/**
 * A fresh form at `path`: every field empty but a required boolean, which
 * is a toggle and so always says something (off: false).
 */
export function emptyForm(command: SlashCommand, path: string[] = []): CommandForm {
  const values: Record<string, string> = {};
  for (const option of fieldsOf(command, path)) {
    values[option.name] = option.type === OptionType.BOOLEAN && option.required ? "false" : "";
  }
  return { path, values };
}

/** The form with the sub-command at `level` chosen (levels below it forgotten). */
export function choose(command: SlashCommand, form: CommandForm, level: number, name: string): CommandForm {
  const path = [...form.path.slice(0, level), ...(name ? [name] : [])];
  return emptyForm(command, path);
}

const USER_ID = /^@[^\s:]+:\S+$/;
const ROOM = /^[#!][^\s:]*:\S+$/;
const INTEGER = /^[-+]?\d+$/;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function codePoints(text: string): number {
  return [...text].length;
}

function outOfBounds(option: CommandOption, n: number): string | null {
  const { min_value: min, max_value: max } = option;
  if (min !== undefined && max !== undefined && (n < min || n > max)) return `Must be between ${min} and ${max}.`;
  if (min !== undefined && n < min) return `Must be at least ${min}.`;
  if (max !== undefined && n > max) return `Must be at most ${max}.`;
  return null;
}

/** What is wrong with one field's text, or null. An empty optional field is fine (it is left out). */
export function fieldProblem(option: CommandOption, text: string): string | null {
  if (option.type === OptionType.ATTACHMENT) {
    return option.required ? "This command needs a file, which a command line cannot carry." : null;
  }
  if (text === "") return option.required ? "Required." : null;
  if (text.includes('"')) return "Double quotes (\") cannot be sent in a command.";
  if (/[\r\n]/.test(text)) return "Must be one line.";
  if (option.choices?.length) {
    return option.choices.some((c) => String(c.value) === text) ? null : `Choose one of: ${option.choices.map((c) => c.name).join(", ")}.`;
  }
  switch (option.type) {
    case OptionType.STRING: {
      const length = codePoints(text);
      const { min_length: min, max_length: max } = option;
      if (min !== undefined && length < min) return `At least ${min} ${min === 1 ? "character" : "characters"}.`;
      if (max !== undefined && length > max) return `At most ${max} ${max === 1 ? "character" : "characters"}.`;
      return null;
    }
    case OptionType.INTEGER: {
      const n = Number(text);
      if (!INTEGER.test(text.trim()) || !Number.isSafeInteger(n) || Math.abs(n) > MAX_INTEGER) return "Must be a whole number.";
      return outOfBounds(option, n);
    }
    case OptionType.NUMBER: {
      const n = Number(text);
      if (!NUMBER.test(text.trim()) || !Number.isFinite(n)) return "Must be a number.";
      return outOfBounds(option, n);
    }
    case OptionType.BOOLEAN:
      return text === "true" || text === "false" ? null : "Must be on or off.";
    case OptionType.USER:
      return USER_ID.test(text) ? null : "Pick a member (or type a user ID like @name:server).";
    case OptionType.CHANNEL:
      return ROOM.test(text) ? null : "Pick a channel (or type a room ID or alias).";
    case OptionType.ROLE:
      return text.trim() ? null : "Pick a role.";
    case OptionType.MENTIONABLE:
      return text.trim() ? null : "Pick a member or a role.";
    default:
      return null;
  }
}

/** Everything that stops the form from being sent; `isSendable` says whether there is nothing. */
export function validate(command: SlashCommand, form: CommandForm): Problems {
  const next = choicesAfter(command, form.path);
  const problems: Problems = { choice: next ? `Choose one of: ${next.map((o) => o.name).join(", ")}.` : null, fields: {} };
  for (const option of fieldsOf(command, form.path)) {
    const problem = fieldProblem(option, form.values[option.name] ?? "");
    if (problem) problems.fields[option.name] = problem;
  }
  return problems;
}

export function isSendable(problems: Problems): boolean {
  return problems.choice === null && Object.keys(problems.fields).length === 0;
}

/** A value as one word of the command line: quoted when it holds spaces. */
function word(text: string): string {
  return /\s/.test(text) ? `"${text}"` : text;
}

/**
 * The message text that invokes the command with the form's values (the
 * form must be valid): `/roll sides:20 label:"for the ogre"`. Every value
 * is named, so the bridge never has to guess which option a word fills.
 */
export function commandLine(command: SlashCommand, form: CommandForm): string {
  const words = [`/${command.name}`, ...form.path];
  for (const option of fieldsOf(command, form.path)) {
    const text = form.values[option.name] ?? "";
    if (text === "" || option.type === OptionType.ATTACHMENT) continue;
    const value = option.type === OptionType.INTEGER || option.type === OptionType.NUMBER ? text.trim() : text;
    words.push(`${option.name}:${word(value)}`);
  }
  return words.join(" ");
}

/** The Discord channel type of a Nexus channel (`nexus.channel` `type`), as the bridge maps it. */
export function discordChannelType(nexusType: string | undefined): number {
  switch (nexusType) {
    case "voice":
      return 2;
    case "announcement":
      return 5;
    case "stage":
      return 13;
    case "forum":
      return 15;
    default:
      return 0;
  }
}

/** A message as the "thinking" logic needs it (a timeline item's fields). */
export type SeenMessage = {
  id: string;
  sender: string;
  ts: number;
  body: string;
  replyTo: string | null;
};

/** Discord's (and the bridge's) interaction tokens last 15 minutes: no answer comes later. */
export const ANSWER_WINDOW_MS = 15 * 60 * 1000;

/**
 * For each bot, its newest invocation still without an answer (no message
 * of that bot replies to it) from the last 15 minutes: where a deferred
 * answer's "thinking…" shows. The bridge answers a command it refuses with
 * a notice in reply, which also ends the wait.
 */
export function awaitedInvocations(messages: SeenMessage[], commands: SlashCommand[], now: number): Map<string, string> {
  const botsOf = new Map<string, string[]>();
  for (const c of commands) botsOf.set(c.name, [...(botsOf.get(c.name) ?? []), c.bot_user_id]);
  const answered = new Set(messages.filter((m) => m.replyTo).map((m) => `${m.sender} ${m.replyTo}`));
  const awaited = new Map<string, string>();
  for (const message of messages) {
    if (now - message.ts > ANSWER_WINDOW_MS) continue;
    const name = /^\/([^\s/]+)/.exec(message.body)?.[1];
    for (const bot of (name && botsOf.get(name)) || []) {
      if (bot !== message.sender && !answered.has(`${bot} ${message.id}`)) awaited.set(bot, message.id);
    }
  }
  return awaited;
}
