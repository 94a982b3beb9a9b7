// The message box: markdown with a live preview, mentions with
// autocomplete, replies, attachments (button, drag and drop, paste) up to
// the server's limit, polls, typing notices, plugins' slash commands, and a
// clear reason when the member may not post.
import { type ClipboardEvent, type DragEvent, type FormEvent, useEffect, useRef, useState, useSyncExternalStore } from "react";
import { composerBlock } from "../logic/permissions";
import { previewMarkdown } from "../logic/markdown";
import { type Mention, type MentionSources, mentionCandidates, mentionText } from "../logic/mentions";
import { messageContent, sendMessage, startPoll } from "../matrix/events";
import { joinedChannels, parentServer } from "../matrix/rooms";
import { channelEmoji } from "../matrix/emoji";
import { describeError } from "../matrix/session";
import type { ChatContext } from "./ChatView";
import { Modal } from "./Modal";
import { PluginCommandHints, runPluginCommand } from "./PluginCommands";
import { CommandForm } from "./CommandForm";
import { useCommandPicker } from "./CommandPicker";

// Which message each room's composer replies to; set from a message's toolbar.
const replies = new Map<string, string>();
const listeners = new Set<() => void>();
let version = 0;

export function composerReply(roomId: string, eventId: string | null): void {
  if (eventId) replies.set(roomId, eventId);
  else replies.delete(roomId);
  version += 1;
  listeners.forEach((l) => l());
}

function useReplyTarget(roomId: string): string | null {
  useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => version,
  );
  return replies.get(roomId) ?? null;
}

const MARKDOWN_HINT = /[*_`~#>\[\]|]/;

export function Composer({ ctx, thread }: { ctx: ChatContext; thread?: { root: string; latest: string } }) {
  const { client, room, perms } = ctx;
  const key = thread ? `${room.roomId}/${thread.root}` : room.roomId;
  const [text, setText] = useState("");
  const [mentions, setMentions] = useState<Mention[]>([]);
  const [suggest, setSuggest] = useState<{ trigger: "@" | "#"; query: string; index: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [polling, setPolling] = useState(false);
  const [dragOver, setDragOver] = useState(false);
  const replyTo = useReplyTarget(key);
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const typing = useRef(0);
  const block = composerBlock(perms, !!thread, ctx.timedOutUntil);
  // Bots' slash commands, in the channel's own composer (not a thread's).
  const commands = useCommandPicker(ctx, text, !thread && !block);

  useEffect(() => setText(""), [key]);
  useEffect(() => {
    if (replyTo) input.current?.focus();
  }, [replyTo]);

  const candidates = suggest ? mentionCandidates(suggest.trigger, suggest.query, mentionSources(ctx)) : [];

  const onChange = (value: string) => {
    setText(value);
    const caret = input.current?.selectionStart ?? value.length;
    const word = /(^|\s)([@#])([^\s@#]*)$/.exec(value.slice(0, caret));
    setSuggest(word ? { trigger: word[2] as "@" | "#", query: word[3], index: 0 } : null);
    const now = Date.now();
    if (value && now - typing.current > 4000) {
      typing.current = now;
      client.sendTyping(room.roomId, true, 6000).catch(() => undefined);
    }
  };

  const complete = (mention: Mention) => {
    const caret = input.current?.selectionStart ?? text.length;
    const before = text.slice(0, caret).replace(/[@#][^\s@#]*$/, `${mentionText(mention)} `);
    setText(before + text.slice(caret));
    setMentions((m) => [...m.filter((x) => x.id !== mention.id), mention]);
    setSuggest(null);
    input.current?.focus();
  };

  const send = async (e?: FormEvent) => {
    e?.preventDefault();
    const body = text.trim();
    if (!body || block) return;
    // A plugin's slash command goes to the plugin, not to the channel.
    if (!thread && runPluginCommand(body)) return setText("");
    setText("");
    setMentions([]);
    composerReply(key, null);
    typing.current = 0;
    client.sendTyping(room.roomId, false, 0).catch(() => undefined);
    try {
      // Custom emoji are looked up when used, so one added a moment ago works.
      const emoticons = /:[^:\s/]+:/.test(body) ? await channelEmoji(client, room.roomId).catch(() => []) : [];
      await sendMessage(client, room.roomId, messageContent(body, { mentions, replyTo: replyTo ?? undefined, thread, emoticons }));
      setError(null);
    } catch (err) {
      // Network failures stay queued (shown in the timeline); refusals are said here.
      if ((err as { httpStatus?: number }).httpStatus) setError(describeError(err));
    }
  };

  const upload = async (files: FileList | File[]) => {
    for (const file of Array.from(files)) {
      try {
        const limit = (await client.getMediaConfig().catch(() => ({}) as Record<string, number>))["m.upload.size"] as number | undefined;
        if (limit && file.size > limit) {
          setError(`${file.name} is larger than this server's limit of ${Math.floor(limit / 1048576)} MB.`);
          continue;
        }
        const { content_uri } = await client.uploadContent(file, { name: file.name, type: file.type });
        const msgtype = file.type.startsWith("image/") ? "m.image" : file.type.startsWith("video/") ? "m.video" : file.type.startsWith("audio/") ? "m.audio" : "m.file";
        const info: Record<string, unknown> = { mimetype: file.type, size: file.size, ...(msgtype === "m.image" ? await imageSize(file) : {}) };
        await sendMessage(client, room.roomId, { msgtype, body: file.name, url: content_uri, info });
      } catch (err) {
        setError(describeError(err));
      }
    }
  };

  if (block) {
    return (
      <div className="composer blocked" role="note" aria-label="Composer disabled">
        {block}
      </div>
    );
  }

  if (commands.chosen) {
    return (
      <CommandForm
        key={`${commands.chosen.bot_user_id} ${commands.chosen.name}`}
        ctx={ctx}
        command={commands.chosen}
        onExit={(line) => {
          commands.clear();
          setText(line);
          setTimeout(() => input.current?.focus());
        }}
      />
    );
  }

  const replyEvent = replyTo ? room.findEventById(replyTo) : null;
  return (
    <form
      className={dragOver ? "composer drag-over" : "composer"}
      onSubmit={send}
      onDragOver={(e: DragEvent) => {
        if (perms.has("ATTACH_FILES")) {
          e.preventDefault();
          setDragOver(true);
        }
      }}
      onDragLeave={() => setDragOver(false)}
      onDrop={(e: DragEvent) => {
        e.preventDefault();
        setDragOver(false);
        if (perms.has("ATTACH_FILES")) upload(e.dataTransfer.files);
      }}
    >
      {replyTo && (
        <div className="reply-banner">
          Replying to <strong>{replyEvent ? room.getMember(replyEvent.getSender()!)?.name ?? replyEvent.getSender() : "a message"}</strong>
          <button type="button" aria-label="Cancel reply" onClick={() => composerReply(key, null)}>
            ×
          </button>
        </div>
      )}
      {text && MARKDOWN_HINT.test(text) && (
        <div className="preview" aria-label="Preview">
          <span className="muted">Preview</span>
          <div className="body" dangerouslySetInnerHTML={{ __html: previewMarkdown(text) }} />
        </div>
      )}
      {!thread && <PluginCommandHints text={text} onPick={(name) => setText(`/${name} `)} />}
      {commands.list}
      {suggest && candidates.length > 0 && (
        <ul className="autocomplete" role="listbox" aria-label="Mention someone">
          {candidates.map((m, i) => (
            <li key={`${m.kind}:${m.id}`} role="option" aria-selected={i === suggest.index}>
              <button type="button" onMouseDown={(e) => e.preventDefault()} onClick={() => complete(m)}>
                {mentionText(m)}{" "}
                <span className="muted">{m.kind === "user" ? m.id : m.kind === "role" ? `role · ${m.members.length} members` : m.kind === "everyone" ? "everyone in this channel" : "channel"}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="composer-row">
        {perms.has("ATTACH_FILES") && (
          <>
            {/* A real button takes focus and shows it; the file input stays out of the tab order. */}
            <button type="button" className="attach" aria-label="Attach a file" title="Attach a file" onClick={() => fileInput.current?.click()}>
              +
            </button>
            <input
              ref={fileInput}
              type="file"
              className="file-input"
              tabIndex={-1}
              aria-hidden="true"
              multiple
              onChange={(e) => {
                if (e.target.files) upload(e.target.files);
                e.target.value = "";
              }}
            />
          </>
        )}
        <textarea
          ref={input}
          rows={1}
          aria-label={thread ? "Reply in thread" : `Message ${room.name}`}
          placeholder={thread ? "Reply in thread" : `Message ${room.name}`}
          value={text}
          {...commands.inputProps}
          onChange={(e) => onChange(e.target.value)}
          onPaste={(e: ClipboardEvent) => {
            if (e.clipboardData.files.length && perms.has("ATTACH_FILES")) {
              e.preventDefault();
              upload(e.clipboardData.files);
            }
          }}
          onKeyDown={(e) => {
            if (commands.onKeyDown(e)) return;
            if (suggest && candidates.length) {
              if (e.key === "ArrowDown" || e.key === "ArrowUp") {
                e.preventDefault();
                const step = e.key === "ArrowDown" ? 1 : candidates.length - 1;
                setSuggest({ ...suggest, index: (suggest.index + step) % candidates.length });
                return;
              }
              if (e.key === "Enter" || e.key === "Tab") {
                e.preventDefault();
                complete(candidates[suggest.index]);
                return;
              }
            }
            if (e.key === "Enter" && !e.shiftKey) send(e);
            if (e.key === "Escape") composerReply(key, null);
          }}
        />
        {!thread && perms.has("SEND_POLLS") && (
          <button type="button" className="icon" aria-label="Create a poll" title="Create a poll" onClick={() => setPolling(true)}>
            📊
          </button>
        )}
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      {polling && <PollDialog ctx={ctx} onClose={() => setPolling(false)} />}
    </form>
  );
}

function PollDialog({ ctx, onClose }: { ctx: ChatContext; onClose: () => void }) {
  const [question, setQuestion] = useState("");
  const [answers, setAnswers] = useState(["", ""]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    e.stopPropagation();
    await startPoll(ctx.client, ctx.room.roomId, question.trim(), answers.map((a) => a.trim()).filter(Boolean));
    onClose();
  };
  return (
    <Modal title="Create a poll" onClose={onClose}>
      <form onSubmit={submit}>
        <label>
          Question
          <input name="poll-question" required maxLength={300} value={question} onChange={(e) => setQuestion(e.target.value)} />
        </label>
        {answers.map((answer, i) => (
          <label key={i}>
            Answer {i + 1}
            <input
              name={`poll-answer-${i + 1}`}
              value={answer}
              maxLength={55}
              onChange={(e) => setAnswers(answers.map((a, j) => (j === i ? e.target.value : a)))}
            />
          </label>
        ))}
        {answers.length < 10 && (
          <button type="button" onClick={() => setAnswers([...answers, ""])}>
            Add an answer
          </button>
        )}
        <button className="primary" type="submit" disabled={!question.trim() || answers.filter((a) => a.trim()).length < 2}>
          Post poll
        </button>
      </form>
    </Modal>
  );
}

/** An image's width and height, so receivers can reserve its space before it loads. */
async function imageSize(file: File): Promise<{ w?: number; h?: number }> {
  try {
    const bitmap = await createImageBitmap(file);
    const size = { w: bitmap.width, h: bitmap.height };
    bitmap.close();
    return size;
  } catch {
    return {};
  }
}

/** Who and what can be mentioned from this channel: its members, its server's roles and channels. */
function mentionSources(ctx: ChatContext): MentionSources {
  const { client, room, perms } = ctx;
  const space = parentServer(client, room);
  const holders = new Map<string, string[]>();
  for (const event of space?.currentState.getStateEvents("nexus.member") ?? []) {
    for (const role of (event.getContent().roles ?? []) as string[]) {
      holders.set(role, [...(holders.get(role) ?? []), event.getStateKey()!]);
    }
  }
  const roles = (space?.currentState.getStateEvents("nexus.role") ?? [])
    .filter((e) => e.getStateKey() !== "everyone" && e.getContent().name)
    .map((e) => ({ id: e.getStateKey()!, name: e.getContent().name as string, mentionable: !!e.getContent().mentionable, members: holders.get(e.getStateKey()!) ?? [] }));
  return {
    members: room.getJoinedMembers().map((m) => ({ userId: m.userId, name: m.name })),
    roles,
    channels: space ? joinedChannels(client, space).map((c) => ({ roomId: c.roomId, name: c.name })) : [],
    mayMentionEveryone: perms.has("MENTION_EVERYONE"),
  };
}
