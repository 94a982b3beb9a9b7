// One message: author in their role colour, time, body (sanitised HTML),
// reply preview, attachment, poll, reactions, thread summary, and the hover
// toolbar (react, reply, thread, edit, delete, plugins' actions).
import { type FormEvent, memo, useMemo, useRef, useState } from "react";
import { type Item } from "../logic/timeline";
import { renderMessage } from "../logic/markdown";
import { editContent, react, vote } from "../matrix/events";
import { EmojiKey, downloadMedia, useEmoticonImages, useMediaUrl } from "./media";
import { Avatar } from "./Avatar";
import { EphemeralNote, InteractionHeader } from "./CommandAnswer";
import type { ChatContext } from "./ChatView";
import { composerReply } from "./Composer";
import { PinButton } from "./PinsPanel";
import { PluginActionsButton } from "./PluginActions";
import { useAsync } from "./hooks";
import { channelEmoji } from "../matrix/emoji";
import { messageShield } from "../matrix/crypto";

type Message = Extract<Item, { kind: "message" }>;

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

type MessageProps = {
  ctx: ChatContext;
  item: Message;
  grouped: boolean;
  replyTo: Item | null;
  editing: boolean;
  /** Which message is being edited (null: none); a stable setter, rows keep the first one they get. */
  setEditing: (id: string | null) => void;
  jumpTo: (eventId: string) => void;
  inThread?: boolean;
};

/**
 * Rows re-render only when what they show changed: the timeline rebuilds
 * its items on every event, and a long channel has hundreds of rows.
 */
export const MessageItem = memo(MessageRow, (a, b) =>
  a.ctx.perms.bits === b.ctx.perms.bits &&
  a.ctx.room === b.ctx.room &&
  a.grouped === b.grouped &&
  a.editing === b.editing &&
  a.inThread === b.inThread &&
  JSON.stringify(a.item) === JSON.stringify(b.item) &&
  JSON.stringify(a.replyTo) === JSON.stringify(b.replyTo),
);

function MessageRow({ ctx, item, grouped, replyTo, editing, setEditing, jumpTo, inThread }: MessageProps) {
  const { client, room, perms } = ctx;
  const me = client.getUserId();
  const [picker, setPicker] = useState(false);
  const member = room.getMember(item.sender);
  const name = member?.name ?? item.sender;
  const mine = item.sender === me;
  const canDelete = mine || perms.has("MANAGE_MESSAGES");

  const toggle = (key: string, reactionMine: string | null, shortcode?: string) => {
    setPicker(false);
    react(client, room.roomId, item.id, key, reactionMine, shortcode).catch(() => undefined);
  };

  return (
    <li
      id={`msg-${item.id}`}
      className={`message${grouped ? " grouped" : ""}${item.pending ? " pending" : ""}`}
      data-sender={item.sender}
      tabIndex={-1}
      aria-label={`${name}: ${item.redacted ? "deleted message" : item.body.slice(0, 200)}`}
    >
      {item.interaction && <InteractionHeader ctx={ctx} item={item} jumpTo={jumpTo} />}
      {!item.interaction && replyTo && replyTo.kind === "message" && (
        <button className="reply-preview" onClick={() => jumpTo(replyTo.id)} aria-label={`Reply to ${room.getMember(replyTo.sender)?.name ?? replyTo.sender}`}>
          ↱ <strong>{room.getMember(replyTo.sender)?.name ?? replyTo.sender}</strong> {replyTo.redacted ? "deleted message" : replyTo.body.slice(0, 100)}
        </button>
      )}
      {!grouped && <Avatar id={item.sender} name={name} client={client} mxc={member?.getMxcAvatarUrl()} />}
      <div className="message-main">
        {!grouped && (
          <div className="message-meta">
            <span className="author" style={{ color: roleColourOf(ctx, item.sender) ?? undefined }}>
              {name}
            </span>
            <time dateTime={new Date(item.ts).toISOString()}>{new Date(item.ts).toLocaleString()}</time>
          </div>
        )}
        {editing ? (
          <EditBox ctx={ctx} item={item} done={() => setEditing(null)} />
        ) : (
          <Body item={item} ctx={ctx} />
        )}
        <EphemeralNote item={item} />
        {item.poll && <PollCard ctx={ctx} item={item} />}
        {item.reactions.length > 0 && (
          <ul className="reactions" role="list" aria-label="Reactions">
            {item.reactions.map((r) => (
              <li key={r.key}>
                <button
                  className={r.mine ? "reaction mine" : "reaction"}
                  aria-pressed={!!r.mine}
                  aria-label={`${r.shortcode ?? r.key} ${r.count}`}
                  title={r.senders.map((s) => room.getMember(s)?.name ?? s).join(", ")}
                  onClick={() => toggle(r.key, r.mine)}
                >
                  <EmojiKey client={client} emojiKey={r.key} label={r.shortcode} /> <span>{r.count}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
        {item.thread && !inThread && (
          <button className="thread-summary" onClick={() => ctx.openThread(item.id)}>
            🧵 {item.thread.count} {item.thread.count === 1 ? "reply" : "replies"}
          </button>
        )}
        {ctx.client.isRoomEncrypted(room.roomId) && !item.pending && !item.redacted && <Shield ctx={ctx} eventId={item.id} />}
        {item.pending && (
          <span className="pending-label" role="status">
            {item.pending === "not_sent" ? "Not sent — will retry when back online" : "Sending…"}
          </span>
        )}
      </div>
      {!item.redacted && !item.pending && (
        <div className="toolbar" role="toolbar" aria-label="Message actions">
          {perms.has("ADD_REACTIONS") && (
            <button aria-label="Add reaction" title="Add reaction" onClick={() => setPicker(!picker)}>
              😀
            </button>
          )}
          <button aria-label="Reply" title="Reply" onClick={() => composerReply(room.roomId, item.id)}>
            ↩
          </button>
          {!inThread && (perms.has("SEND_MESSAGES_IN_THREADS") || perms.has("CREATE_PUBLIC_THREADS")) && (
            <button aria-label="Open thread" title="Thread" onClick={() => ctx.openThread(item.id)}>
              🧵
            </button>
          )}
          {!inThread && perms.has("PIN_MESSAGES") && <PinButton client={client} roomId={room.roomId} eventId={item.id} />}
          {mine && item.msgtype === "m.text" && (
            <button aria-label="Edit" title="Edit" onClick={() => setEditing(item.id)}>
              ✎
            </button>
          )}
          {canDelete && (
            <button aria-label="Delete" title="Delete" className="danger" onClick={() => client.redactEvent(room.roomId, item.id).catch(() => undefined)}>
              🗑
            </button>
          )}
          <PluginActionsButton room={room} item={item} />
          {picker && <ReactionPicker ctx={ctx} item={item} pick={toggle} />}
        </div>
      )}
    </li>
  );
}

function Body({ item, ctx }: { item: Message; ctx: ChatContext }) {
  if (item.redacted) return <p className="body deleted">Message deleted.</p>;
  if (item.encrypted) return <p className="body deleted">🔒 Unable to decrypt this message yet.</p>;
  if (item.msgtype === "m.poll") return null;
  if ((item.msgtype === "m.image" || item.msgtype === "m.sticker") && item.url) return <ImageAttachment ctx={ctx} item={item} />;
  if ((item.msgtype === "m.file" || item.msgtype === "m.video" || item.msgtype === "m.audio") && item.url) {
    return (
      <button className="attachment-file" onClick={() => downloadMedia(ctx.client, item.url!, item.body).catch(() => undefined)}>
        📎 {item.body} {item.info?.size ? `(${Math.ceil(item.info.size / 1024)} KiB)` : ""}
      </button>
    );
  }
  return <TextBody ctx={ctx} item={item} />;
}

function TextBody({ ctx, item }: { ctx: ChatContext; item: Message }) {
  // Sanitising parses the HTML: once per body, not once per render.
  const html = useMemo(() => renderMessage(item.body, item.formatted), [item.body, item.formatted]);
  const ref = useRef<HTMLSpanElement>(null);
  useEmoticonImages(ctx.client, ref, html);
  // Previews come from the homeserver (when its operator enables them),
  // never from the linked site; not in encrypted rooms, where asking the
  // server would tell it the link.
  const url = /https?:\/\/[^\s<>"']+/.exec(item.body)?.[0];
  const preview = url && ctx.perms.has("EMBED_LINKS") && !ctx.client.isRoomEncrypted(ctx.room.roomId);
  return (
    <div className="body">
      <span ref={ref} dangerouslySetInnerHTML={{ __html: html }} />
      {item.edited && <span className="edited"> (edited)</span>}
      {preview && <LinkPreview ctx={ctx} url={url} ts={item.ts} />}
    </div>
  );
}

function LinkPreview({ ctx, url, ts }: { ctx: ChatContext; url: string; ts: number }) {
  const { value: og } = useAsync(() => ctx.client.getUrlPreview(url, ts).catch(() => null), [url]);
  const image = useMediaUrl(ctx.client, typeof og?.["og:image"] === "string" ? (og["og:image"] as string) : undefined, 400, 300);
  const title = og?.["og:title"];
  if (!og || typeof title !== "string") return null;
  const description = og["og:description"];
  return (
    <aside className="link-preview" aria-label={`Preview of ${url}`}>
      <a href={url} target="_blank" rel="noreferrer noopener">
        {title}
      </a>
      {typeof description === "string" && <p>{description.slice(0, 300)}</p>}
      {image && <img src={image} alt="" />}
    </aside>
  );
}

function ImageAttachment({ ctx, item }: { ctx: ChatContext; item: Message }) {
  const src = useMediaUrl(ctx.client, item.url, 800, 600);
  const width = Math.min(400, item.info?.w ?? 400);
  const height = item.info?.w && item.info?.h ? Math.round((item.info.h / item.info.w) * width) : 200;
  // The box keeps its size while the image loads, so the list does not jump.
  return src ? (
    <img className="attachment-image" src={src} alt={item.body} width={width} height={height} />
  ) : (
    <div className="attachment-image placeholder" style={{ width, height }} aria-label={`${item.body} (loading)`} />
  );
}

function EditBox({ ctx, item, done }: { ctx: ChatContext; item: Message; done: () => void }) {
  const [text, setText] = useState(item.body);
  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    if (text.trim() && text !== item.body) {
      ctx.client.sendEvent(ctx.room.roomId, "m.room.message" as never, editContent(item.id, text) as never).catch(() => undefined);
    }
    done();
  };
  return (
    <form className="edit-box" onSubmit={submit}>
      <textarea
        aria-label="Edit message"
        value={text}
        autoFocus
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey) submit(e);
          if (e.key === "Escape") done();
        }}
      />
      <p className="muted">Escape to cancel · Enter to save</p>
    </form>
  );
}

function PollCard({ ctx, item }: { ctx: ChatContext; item: Message }) {
  const poll = item.poll!;
  const total = poll.answers.reduce((n, a) => n + (a.votes ?? 0), 0);
  return (
    <fieldset className="poll" aria-label={`Poll: ${poll.question}`}>
      <legend>📊 {poll.question}</legend>
      {poll.answers.map((answer) => {
        const share = answer.votes !== null && total > 0 ? Math.round((answer.votes / total) * 100) : 0;
        const chosen = poll.mine.includes(answer.id);
        return (
          <button
            key={answer.id}
            className={chosen ? "poll-answer chosen" : "poll-answer"}
            disabled={poll.closed}
            aria-pressed={chosen}
            onClick={() => vote(ctx.client, ctx.room.roomId, item.id, answer.id).catch(() => undefined)}
          >
            <span className="poll-bar" style={{ width: `${share}%` }} aria-hidden="true" />
            <span className="poll-text">{answer.text}</span>
            {answer.votes !== null && <span className="poll-votes" data-votes={answer.votes}>{answer.votes} {answer.votes === 1 ? "vote" : "votes"}</span>}
          </button>
        );
      })}
      <p className="muted">
        {poll.voters} {poll.voters === 1 ? "voter" : "voters"}
        {poll.closed ? " · Poll ended" : ""}
      </p>
    </fieldset>
  );
}

/** The colour of a member's highest coloured role in the channel's server. */
function roleColourOf(ctx: ChatContext, userId: string): string | null {
  const space = ctx.room.currentState.getStateEvents("m.space.parent")[0];
  const spaceRoom = space ? ctx.client.getRoom(space.getStateKey()!) : null;
  if (!spaceRoom) return null;
  const roles = (spaceRoom.currentState.getStateEvents("nexus.member", userId)?.getContent()?.roles ?? []) as string[];
  let best: { position: number; colour: number } | null = null;
  for (const id of roles) {
    const role = spaceRoom.currentState.getStateEvents("nexus.role", id)?.getContent();
    const colour = role?.colours?.primary;
    if (colour && (!best || role.position > best.position)) best = { position: role.position, colour };
  }
  return best ? `#${best.colour.toString(16).padStart(6, "0")}` : null;
}

/** Quick reactions, then the channel's custom emoji (as the homeserver lists them for this member). */
function ReactionPicker({ ctx, item, pick }: { ctx: ChatContext; item: Message; pick: (key: string, mine: string | null, shortcode?: string) => void }) {
  const { value: custom } = useAsync(() => channelEmoji(ctx.client, ctx.room.roomId).catch(() => []), [ctx.room.roomId]);
  const mineOf = (key: string) => item.reactions.find((r) => r.key === key)?.mine ?? null;
  return (
    <div className="emoji-picker" role="menu" aria-label="Pick a reaction">
      {QUICK_REACTIONS.map((key) => (
        <button key={key} role="menuitem" onClick={() => pick(key, mineOf(key))}>
          {key}
        </button>
      ))}
      {(custom ?? []).map((e) => (
        <button key={e.url} role="menuitem" aria-label={`:${e.shortcode}:`} title={`:${e.shortcode}:`} onClick={() => pick(e.url, mineOf(e.url), e.shortcode)}>
          <EmojiKey client={ctx.client} emojiKey={e.url} label={`:${e.shortcode}:`} />
        </button>
      ))}
    </div>
  );
}

/**
 * An encrypted message's warning when its sender's device is not verified
 * or unknown (the crypto engine's shield); nothing when all is well.
 */
function Shield({ ctx, eventId }: { ctx: ChatContext; eventId: string }) {
  const { value: warning } = useAsync(async () => {
    const event = ctx.room.findEventById(eventId);
    return event ? messageShield(ctx.client, event) : null;
  }, [eventId]);
  if (!warning) return null;
  return (
    <span className="message-shield" role="img" aria-label={warning} title={warning}>
      ⚠️
    </span>
  );
}
