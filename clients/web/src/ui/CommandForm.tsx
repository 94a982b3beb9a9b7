// A slash command being filled in: the composer becomes one typed field per
// option (numbers with their bounds, a toggle for yes/no, members, channels
// and roles picked from this room and its server, a select for choices),
// sub-commands chosen first; checked as typed (logic/slashCommands.ts) and
// sent as the command line the bridge reads. Escape goes back to the
// message box with the line so far as plain text.
import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import {
  type CommandForm as FormState,
  type CommandOption,
  type SlashCommand,
  OptionType,
  choicesAfter,
  choose,
  commandLine,
  discordChannelType,
  emptyForm,
  fieldsOf,
  isSendable,
  validate,
} from "../logic/slashCommands";
import { joinedChannels, parentServer } from "../matrix/rooms";
import { sendCommandLine } from "../matrix/roomCommands";
import { describeError } from "../matrix/session";
import { Avatar } from "./Avatar";
import type { ChatContext } from "./ChatView";

type Props = {
  ctx: ChatContext;
  command: SlashCommand;
  /** Leaves the form: `text` is what the message box gets back. */
  onExit: (text: string) => void;
};

export function CommandForm({ ctx, command, onExit }: Props) {
  const { client, room } = ctx;
  const [form, setForm] = useState<FormState>(() => emptyForm(command));
  // Empty required fields are flagged once sending was tried; wrong values at once.
  const [tried, setTried] = useState(false);
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const formRef = useRef<HTMLFormElement>(null);
  const baseId = useId();
  const problems = validate(command, form);
  const levels = choiceLevels(command, form.path);
  const fields = fieldsOf(command, form.path);
  const bot = room.getMember(command.bot_user_id);
  const botName = bot?.name ?? command.bot_user_id;

  useEffect(() => {
    formRef.current?.querySelector<HTMLElement>("select, input, button[type=submit]")?.focus();
  }, [form.path.join(" ")]);

  const setValue = (name: string, value: string) => setForm({ ...form, values: { ...form.values, [name]: value } });

  const send = async (e: FormEvent) => {
    e.preventDefault();
    if (sending) return;
    if (!isSendable(problems)) {
      setTried(true);
      formRef.current?.querySelector<HTMLElement>("[aria-invalid='true']")?.focus();
      return;
    }
    setSending(true);
    try {
      await sendCommandLine(client, room.roomId, commandLine(command, form));
      onExit("");
    } catch (err) {
      // Offline, the line waits in the queue like any message; refusals are said here.
      if ((err as { httpStatus?: number }).httpStatus) setError(describeError(err));
      else onExit("");
    } finally {
      setSending(false);
    }
  };

  return (
    <form
      ref={formRef}
      className="composer command-form"
      aria-label={`Command /${command.name}`}
      onSubmit={send}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          onExit(commandLine(command, form));
        }
        // Enter sends from every field, as it does from the text ones.
        const target = e.target as HTMLElement;
        if (e.key === "Enter" && (target.tagName === "SELECT" || (target as HTMLInputElement).type === "checkbox")) {
          e.preventDefault();
          formRef.current?.requestSubmit();
        }
      }}
    >
      <div className="command-head">
        <Avatar id={command.bot_user_id} name={botName} size={20} client={client} mxc={bot?.getMxcAvatarUrl()} />
        <strong className="slash-name">/{command.name}</strong>
        <span className="muted">
          {command.description} · {botName}
        </span>
        <button type="button" className="command-close" aria-label="Back to plain text" title="Back to plain text (Escape)" onClick={() => onExit(commandLine(command, form))}>
          ×
        </button>
      </div>
      <div className="command-fields">
        {levels.map((choices, level) => (
          <label key={`level-${level}`} className="command-field">
            <span className="command-field-name">
              {choices.every((o) => o.type === OptionType.SUB_COMMAND_GROUP) ? "group" : "sub-command"}
              <span className="required" aria-hidden="true">*</span>
            </span>
            <select
              aria-required="true"
              aria-invalid={tried && !form.path[level]}
              value={form.path[level] ?? ""}
              onChange={(e) => setForm(choose(command, form, level, e.target.value))}
            >
              <option value="">Choose…</option>
              {choices.map((o) => (
                <option key={o.name} value={o.name}>
                  {o.name} — {o.description}
                </option>
              ))}
            </select>
          </label>
        ))}
        {fields.map((option) => {
          const value = form.values[option.name] ?? "";
          const problem = problems.fields[option.name];
          const shown = problem && (tried || value !== "") ? problem : null;
          const id = `${baseId}-${form.path.join("-")}-${option.name}`;
          return (
            <div key={id} className={shown ? "command-field invalid" : "command-field"}>
              <OptionInput ctx={ctx} option={option} value={value} onChange={(v) => setValue(option.name, v)} id={id} invalid={!!shown} />
              <span id={`${id}-description`} className="command-field-description">
                {option.description}
              </span>
              {shown && (
                <span id={`${id}-error`} className="field-error">
                  {shown}
                </span>
              )}
            </div>
          );
        })}
      </div>
      <div className="command-actions">
        <span className="muted">Enter to send · Escape for plain text</span>
        <button type="submit" className="primary" disabled={sending}>
          Send /{command.name}
        </button>
      </div>
      {tried && problems.choice && <p className="error">{problems.choice}</p>}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

/** The sub-command selects shown: one per level chosen so far, and the next one to choose. */
function choiceLevels(command: SlashCommand, path: string[]): CommandOption[][] {
  const levels: CommandOption[][] = [];
  for (let depth = 0; depth <= path.length; depth++) {
    const choices = choicesAfter(command, path.slice(0, depth));
    if (!choices) break;
    levels.push(choices);
  }
  return levels;
}

type InputProps = { ctx: ChatContext; option: CommandOption; value: string; onChange: (value: string) => void; id: string; invalid: boolean };

/**
 * The input one option's type calls for, labelled by the option's name;
 * its description and problem (by `id`, beside it) describe it.
 */
function OptionInput({ ctx, option, value, onChange, id, invalid }: InputProps) {
  const common = {
    id,
    "aria-required": !!option.required,
    "aria-invalid": invalid,
    "aria-describedby": invalid ? `${id}-description ${id}-error` : `${id}-description`,
  };
  const name = (
    <>
      {option.name}
      {option.required && (
        <span className="required" aria-hidden="true">
          *
        </span>
      )}
    </>
  );
  if (option.type === OptionType.BOOLEAN) {
    return (
      <label className="switch command-toggle">
        <input type="checkbox" role="switch" checked={value === "true"} onChange={(e) => onChange(String(e.target.checked))} {...common} />
        {name}
        {value === "" && <span className="muted"> (not set)</span>}
      </label>
    );
  }
  if (option.type === OptionType.ATTACHMENT) {
    return (
      <p className="command-field-name">
        {name} <span className="muted">Files cannot be sent with a command from here.</span>
      </p>
    );
  }
  const picks = option.choices?.length ? option.choices.map((c) => ({ value: String(c.value), text: c.name })) : pickable(ctx, option);
  const label = (
    <label className="command-field-name" htmlFor={id}>
      {name}
    </label>
  );
  if (picks) {
    return (
      <>
        {label}
        <select value={value} onChange={(e) => onChange(e.target.value)} {...common}>
          <option value="">{option.required ? "Choose…" : "—"}</option>
          {picks.map((p) => (
            <option key={p.value} value={p.value}>
              {p.text}
            </option>
          ))}
          {value && !picks.some((p) => p.value === value) && <option value={value}>{value}</option>}
        </select>
      </>
    );
  }
  const numeric = option.type === OptionType.INTEGER || option.type === OptionType.NUMBER;
  return (
    <>
      {label}
      {numeric ? (
        <input
          type="number"
          inputMode={option.type === OptionType.INTEGER ? "numeric" : "decimal"}
          step={option.type === OptionType.INTEGER ? 1 : "any"}
          min={option.min_value}
          max={option.max_value}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          {...common}
        />
      ) : (
        <input type="text" value={value} onChange={(e) => onChange(e.target.value)} {...common} />
      )}
    </>
  );
}

/**
 * What a member, channel or role option can be picked from: the room's
 * members, the server's channels (of the types the option accepts), the
 * server's roles (sent by name, as the bridge looks them up). Outside a
 * server there are no channels or roles to list: the field is typed.
 */
function pickable(ctx: ChatContext, option: CommandOption): { value: string; text: string }[] | null {
  const { client, room } = ctx;
  const space = parentServer(client, room);
  const members = () =>
    room
      .getJoinedMembers()
      .map((m) => ({ value: m.userId, text: `${m.name} (${m.userId})` }))
      .sort((a, b) => a.text.localeCompare(b.text));
  const roles = () => {
    if (!space) return [];
    const named = space.currentState
      .getStateEvents("nexus.role")
      .filter((e) => e.getStateKey() !== "everyone" && typeof e.getContent().name === "string")
      .map((e) => e.getContent().name as string)
      .sort((a, b) => a.localeCompare(b))
      .map((name) => ({ value: name, text: `@${name.replace(/^@/, "")}` }));
    return [...named, { value: "everyone", text: "@everyone" }];
  };
  switch (option.type) {
    case OptionType.USER:
      return members();
    case OptionType.CHANNEL: {
      if (!space) return null;
      const accepted = option.channel_types;
      return joinedChannels(client, space)
        .filter((c) => !accepted?.length || accepted.includes(discordChannelType(c.currentState.getStateEvents("nexus.channel", "")?.getContent()?.type)))
        .map((c) => ({ value: c.roomId, text: `#${c.name}` }));
    }
    case OptionType.ROLE:
      return space ? roles() : null;
    case OptionType.MENTIONABLE:
      return [...members(), ...roles()];
    default:
      return null;
  }
}
