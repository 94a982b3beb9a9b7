// Whether a message raises a desktop notification, and what it says. The
// homeserver's push rules decide what notifies (notification levels are
// written there, extensions-spec §22); this adds what only the page knows:
// the message must be new (not from the first sync or scrolled-back
// history), readable (an encrypted message that would not decrypt says
// nothing), someone else's, and out of sight (the tab hidden, or another
// channel open).

/** What matrix-js-sdk's push processor says for the event (`notify` action, `highlight` tweak). */
export type PushVerdict = { notify: boolean; highlight: boolean };

export type Candidate = {
  sender: string;
  roomId: string;
  /** Arrived by a live sync after the first (not the initial sync, not backfill). */
  live: boolean;
  /** `failed`: encrypted and could not be decrypted. */
  encryption: "none" | "decrypted" | "failed";
  /** `null` when the push rules could not be evaluated. */
  push: PushVerdict | null;
  /** Milliseconds since the sender's server received it. */
  ageMs: number;
  /** An edit (`m.replace`): Discord does not ping for edits, nor do we. */
  isEdit: boolean;
};

export type Situation = {
  me: string;
  /** The channel or DM on screen, if any. */
  openRoomId?: string;
  pageVisible: boolean;
  permission: NotificationPermission | "unsupported";
  /** The user's switch for this device (user settings). */
  enabled: boolean;
};

export type Decision = { notify: true; mention: boolean } | { notify: false; reason: string };

/** Older than this when it arrives (a long-offline catch-up), a message is history, not news. */
export const STALE_AFTER_MS = 5 * 60_000;

export function shouldNotify(candidate: Candidate, situation: Situation): Decision {
  const no = (reason: string): Decision => ({ notify: false, reason });
  if (situation.permission !== "granted") return no("the browser does not allow notifications");
  if (!situation.enabled) return no("desktop notifications are switched off");
  if (candidate.sender === situation.me) return no("your own message");
  if (!candidate.live) return no("not a new message");
  if (candidate.encryption === "failed") return no("could not be decrypted");
  if (candidate.isEdit) return no("an edit");
  if (candidate.ageMs > STALE_AFTER_MS) return no("too old");
  if (!candidate.push?.notify) return no("your notification settings say no");
  if (situation.pageVisible && situation.openRoomId === candidate.roomId) return no("already on screen");
  return { notify: true, mention: candidate.push.highlight };
}

/** The longest body shown; the rest is in the channel. */
const BODY_LIMIT = 200;

export type NotificationText = { title: string; body: string };

/**
 * Title: the sender and where (`Alice (#general, Orchard)`; just `Alice`
 * in a DM). Body: the message as plain text, or what was sent.
 */
export function notificationText(
  event: { type: string; content: Record<string, unknown> },
  where: { senderName: string; channelName?: string; serverName?: string },
): NotificationText | null {
  const body = messageText(event.type, event.content, where.senderName);
  if (body === null) return null;
  const place = where.channelName ? ` (#${where.channelName}${where.serverName ? `, ${where.serverName}` : ""})` : "";
  return { title: `${where.senderName}${place}`, body: clip(body) };
}

function messageText(type: string, content: Record<string, unknown>, senderName: string): string | null {
  const text = (value: unknown) => (typeof value === "string" ? value : "");
  if (type === "m.sticker") return "sent a sticker";
  if (type === "m.poll.start" || type === "org.matrix.msc3381.poll.start") {
    const poll = (content["m.poll"] ?? content["org.matrix.msc3381.poll.start"]) as Record<string, unknown> | undefined;
    const question = poll?.question as Record<string, unknown> | undefined;
    const asked = text(question?.body) || text(question?.["m.text"]) || text(question?.["org.matrix.msc1767.text"]);
    return asked ? `started a poll: ${asked}` : "started a poll";
  }
  if (type !== "m.room.message") return null;
  const body = withoutReplyFallback(text(content.body));
  switch (content.msgtype) {
    case "m.image":
      return "sent an image";
    case "m.video":
      return "sent a video";
    case "m.audio":
      return "sent a voice message or sound";
    case "m.file":
      return body ? `sent a file: ${body}` : "sent a file";
    case "m.emote":
      return `* ${senderName} ${body}`;
    default:
      return body || null;
  }
}

/** Replies from older clients quote their parent as `> ` lines and a blank line first. */
export function withoutReplyFallback(body: string): string {
  const lines = body.split("\n");
  if (!lines[0]?.startsWith("> ")) return body;
  let i = 0;
  while (i < lines.length && lines[i].startsWith(">")) i++;
  if (lines[i] === "") i++;
  return lines.slice(i).join("\n");
}

function clip(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > BODY_LIMIT ? `${flat.slice(0, BODY_LIMIT - 1)}…` : flat;
}
