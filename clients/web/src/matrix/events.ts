// From matrix-js-sdk's events to the plain values the timeline logic reads,
// and the sends the chat makes (each a standard Matrix event).
import { type MatrixClient, type MatrixEvent, type Room, EventStatus } from "matrix-js-sdk";
import { type RawEvent, pollStartContent } from "../logic/timeline";
import { plainHtml, toFormattedBody } from "../logic/markdown";
import { type Mention, applyMentions } from "../logic/mentions";
import { type Emoticon, emoticonHtml } from "./emoji";

export function raw(event: MatrixEvent): RawEvent {
  return {
    event_id: event.getId() ?? event.getTxnId() ?? "",
    type: event.getType(),
    sender: event.getSender() ?? "",
    ts: event.getTs(),
    content: event.isRedacted() ? {} : event.getOriginalContent(),
    unsigned: event.getUnsigned(),
    redacted: event.isRedacted(),
    status: event.status,
    state_key: event.getStateKey(),
  };
}

/** The live timeline, then the local echoes still waiting to be sent (the offline queue). */
export function roomEvents(room: Room): MatrixEvent[] {
  return [...room.getLiveTimeline().getEvents(), ...room.getPendingEvents()];
}

/** A text message: markdown to `formatted_body`, mentions to pills and `m.mentions`, replies and threads as relations. */
export function messageContent(
  text: string,
  opts: { mentions?: Mention[]; replyTo?: string; thread?: { root: string; latest: string }; emoticons?: Emoticon[] } = {},
) {
  let formatted = toFormattedBody(text);
  const used = (opts.emoticons ?? []).filter((e) => text.includes(`:${e.shortcode}:`));
  if (used.length) {
    formatted = formatted ?? plainHtml(text);
    for (const e of used) formatted = formatted.split(`:${e.shortcode}:`).join(emoticonHtml(e));
  }
  const mentioned = applyMentions(text, formatted, opts.mentions ?? []);
  formatted = mentioned.formatted;
  const content: Record<string, any> = { msgtype: "m.text", body: text, "m.mentions": mentioned.mentions };
  if (mentioned.roleMention) content["nexus.role_mention"] = true;
  if (formatted) {
    content.format = "org.matrix.custom.html";
    content.formatted_body = formatted;
  }
  if (opts.thread) {
    content["m.relates_to"] = {
      rel_type: "m.thread",
      event_id: opts.thread.root,
      is_falling_back: !opts.replyTo,
      "m.in_reply_to": { event_id: opts.replyTo ?? opts.thread.latest },
    };
  } else if (opts.replyTo) {
    content["m.relates_to"] = { "m.in_reply_to": { event_id: opts.replyTo } };
  }
  return content;
}

export function editContent(targetId: string, text: string) {
  const replacement = messageContent(text);
  delete replacement["m.mentions"];
  return { ...replacement, body: `* ${text}`, "m.new_content": replacement, "m.relates_to": { rel_type: "m.replace", event_id: targetId } };
}

export async function sendMessage(client: MatrixClient, roomId: string, content: Record<string, any>): Promise<void> {
  await client.sendEvent(roomId, "m.room.message" as never, content as never);
}

/** Toggles a reaction; a custom emoji's key is its mxc URI, with its shortcode beside (MSC4027). */
export async function react(client: MatrixClient, roomId: string, eventId: string, key: string, mine: string | null, shortcode?: string): Promise<void> {
  if (mine) {
    await client.redactEvent(roomId, mine);
    return;
  }
  const content: Record<string, unknown> = { "m.relates_to": { rel_type: "m.annotation", event_id: eventId, key } };
  if (shortcode) content["com.beeper.reaction.shortcode"] = `:${shortcode}:`;
  await client.sendEvent(roomId, "m.reaction" as never, content as never);
}

export async function startPoll(client: MatrixClient, roomId: string, question: string, answers: string[]): Promise<void> {
  await client.sendEvent(roomId, "m.poll.start" as never, pollStartContent(question, answers) as never);
}

export async function vote(client: MatrixClient, roomId: string, pollId: string, answerId: string): Promise<void> {
  await client.sendEvent(roomId, "m.poll.response" as never, {
    "m.relates_to": { rel_type: "m.reference", event_id: pollId },
    "m.selections": [answerId],
  } as never);
}

/** Sends again what failed while offline; the scheduler retries the rest itself. */
export function resendFailed(client: MatrixClient): void {
  for (const room of client.getRooms()) {
    for (const event of room.getPendingEvents()) {
      if (event.status === EventStatus.NOT_SENT) client.resendEvent(event, room).catch(() => undefined);
    }
  }
}
