// Turns a room's raw events into what the chat draws: messages with their
// latest edit, reactions, thread summaries, reply targets and poll tallies
// folded in. Pure, so it is unit-tested without a homeserver.

export type RawEvent = {
  event_id: string;
  type: string;
  sender: string;
  ts: number;
  content: Record<string, any>;
  unsigned?: Record<string, any>;
  redacted?: boolean;
  /** Local echo not yet acknowledged by the server: "sending", "not_sent"… */
  status?: string | null;
  state_key?: string;
};

export type Reaction = { key: string; count: number; senders: string[]; mine: string | null; shortcode?: string };
export type PollAnswer = { id: string; text: string; votes: number | null };
export type Poll = { question: string; answers: PollAnswer[]; voters: number; closed: boolean; disclosed: boolean; mine: string[]; maxSelections: number };

export type Item =
  | {
      kind: "message";
      id: string;
      sender: string;
      ts: number;
      body: string;
      formatted: string | null;
      msgtype: string;
      url?: string;
      info?: Record<string, any>;
      edited: boolean;
      redacted: boolean;
      pending: string | null;
      replyTo: string | null;
      reactions: Reaction[];
      thread: { count: number; latestTs: number } | null;
      poll: Poll | null;
      encrypted: boolean;
      /** A bot's answer to a slash command (the bridge's `nexus.interaction`): the command and who used it. */
      interaction: { name: string; userId: string } | null;
    }
  | { kind: "membership"; id: string; sender: string; ts: number; target: string; membership: string; name: string };

const POLL_START = ["m.poll.start", "org.matrix.msc3381.poll.start"];
const POLL_RESPONSE = ["m.poll.response", "org.matrix.msc3381.poll.response"];
const POLL_END = ["m.poll.end", "org.matrix.msc3381.poll.end"];

function relation(event: RawEvent): { rel_type?: string; event_id?: string; key?: string } {
  return event.content?.["m.relates_to"] ?? {};
}

/** Builds the items of the main timeline (`threadRoot` null) or of one thread. */
export function buildTimeline(events: RawEvent[], me: string, threadRoot: string | null = null): Item[] {
  const edits = new Map<string, RawEvent>();
  const reactions = new Map<string, Map<string, Reaction>>();
  const threads = new Map<string, { count: number; latestTs: number }>();
  const tallies = new Map<string, Record<string, any>>();
  const votes = new Map<string, Map<string, { ts: number; selections: string[] }>>();
  const ended = new Set<string>();
  const senders = new Map(events.map((e) => [e.event_id, e.sender]));

  for (const event of events) {
    const rel = relation(event);
    const tally = event.unsigned?.["nexus.poll.tally"];
    if (tally) {
      const pollId = POLL_START.includes(event.type) ? event.event_id : rel.event_id;
      if (pollId) tallies.set(pollId, tally);
    }
    if (event.redacted || !rel.event_id) continue;
    if (rel.rel_type === "m.replace" && senders.get(rel.event_id) === event.sender) {
      const previous = edits.get(rel.event_id);
      if (!previous || previous.ts <= event.ts) edits.set(rel.event_id, event);
    } else if (event.type === "m.reaction" && rel.rel_type === "m.annotation" && rel.key) {
      const byKey = reactions.get(rel.event_id) ?? new Map<string, Reaction>();
      const reaction: Reaction = byKey.get(rel.key) ?? { key: rel.key, count: 0, senders: [], mine: null };
      const shortcode = event.content["com.beeper.reaction.shortcode"];
      if (typeof shortcode === "string" && !reaction.shortcode) reaction.shortcode = shortcode;
      if (!reaction.senders.includes(event.sender)) {
        reaction.count += 1;
        reaction.senders.push(event.sender);
        if (event.sender === me) reaction.mine = event.event_id;
      }
      byKey.set(rel.key, reaction);
      reactions.set(rel.event_id, byKey);
    } else if (rel.rel_type === "m.thread") {
      const summary = threads.get(rel.event_id) ?? { count: 0, latestTs: 0 };
      summary.count += 1;
      summary.latestTs = Math.max(summary.latestTs, event.ts);
      threads.set(rel.event_id, summary);
    }
    if (POLL_RESPONSE.includes(event.type) && rel.rel_type === "m.reference") {
      const byVoter = votes.get(rel.event_id) ?? new Map();
      const selections = event.content["m.selections"] ?? event.content["org.matrix.msc3381.poll.response"]?.answers ?? [];
      const previous = byVoter.get(event.sender);
      if (!previous || previous.ts <= event.ts) byVoter.set(event.sender, { ts: event.ts, selections });
      votes.set(rel.event_id, byVoter);
    }
    if (POLL_END.includes(event.type)) ended.add(rel.event_id);
  }

  const items: Item[] = [];
  for (const event of events) {
    const rel = relation(event);
    const inThread = rel.rel_type === "m.thread" ? rel.event_id! : null;
    if (threadRoot === null ? inThread !== null : inThread !== threadRoot && event.event_id !== threadRoot) continue;
    if (event.type === "m.room.member") {
      if (threadRoot !== null) continue;
      const membership = event.content.membership;
      if (membership !== "join" && membership !== "leave" && membership !== "ban") continue;
      const name = event.content.displayname ?? event.state_key ?? event.sender;
      items.push({ kind: "membership", id: event.event_id, sender: event.sender, ts: event.ts, target: event.state_key ?? event.sender, membership, name });
      continue;
    }
    const isPoll = POLL_START.includes(event.type);
    const encrypted = event.type === "m.room.encrypted";
    if (event.type !== "m.room.message" && event.type !== "m.sticker" && !isPoll && !encrypted) continue;
    if (rel.rel_type === "m.replace") continue;
    // Verification requests are handled by the verification dialog, not read as messages.
    if (event.content.msgtype === "m.key.verification.request") continue;
    const edit = edits.get(event.event_id);
    const content = edit ? { ...event.content, ...edit.content["m.new_content"] } : event.content;
    items.push({
      kind: "message",
      id: event.event_id,
      sender: event.sender,
      ts: event.ts,
      body: encrypted ? "" : isPoll ? pollQuestion(event.content) : String(content.body ?? ""),
      formatted: content.format === "org.matrix.custom.html" && typeof content.formatted_body === "string" ? content.formatted_body : null,
      msgtype: encrypted ? "m.bad.encrypted" : event.type === "m.sticker" ? "m.sticker" : String(content.msgtype ?? (isPoll ? "m.poll" : "m.text")),
      url: typeof content.url === "string" ? content.url : undefined,
      info: content.info,
      edited: !!edit,
      redacted: !!event.redacted,
      pending: event.status ?? null,
      replyTo: event.content["m.relates_to"]?.["m.in_reply_to"]?.event_id ?? null,
      reactions: [...(reactions.get(event.event_id)?.values() ?? [])],
      thread: threadRoot === null ? threads.get(event.event_id) ?? null : null,
      poll: isPoll && !event.redacted ? poll(event, tallies.get(event.event_id), votes.get(event.event_id), ended.has(event.event_id), me) : null,
      encrypted,
      interaction: interactionOf(event.content),
    });
  }
  return items;
}

function interactionOf(content: Record<string, any>): { name: string; userId: string } | null {
  const interaction = content["nexus.interaction"];
  return typeof interaction?.name === "string" && typeof interaction?.user_id === "string" ? { name: interaction.name, userId: interaction.user_id } : null;
}

function pollContent(content: Record<string, any>): Record<string, any> {
  return content["m.poll"] ?? content["org.matrix.msc3381.poll.start"] ?? {};
}

function text(value: any): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value?.["m.text"])) return value["m.text"][0]?.body ?? "";
  if (typeof value?.["org.matrix.msc1767.text"] === "string") return value["org.matrix.msc1767.text"];
  if (Array.isArray(value)) return value[0]?.body ?? "";
  return value?.body ?? "";
}

function pollQuestion(content: Record<string, any>): string {
  return text(pollContent(content).question);
}

/**
 * The server's tally (`nexus.poll.tally`) when it sent one; otherwise the
 * votes this client has seen, latest per voter (what a stock client shows).
 */
function poll(
  event: RawEvent,
  tally: Record<string, any> | undefined,
  seen: Map<string, { ts: number; selections: string[] }> | undefined,
  endedHere: boolean,
  me: string,
): Poll {
  const start = pollContent(event.content);
  const kind = String(start.kind ?? "");
  const disclosed = !kind.endsWith("undisclosed");
  const maxSelections = Math.max(1, Number(start.max_selections ?? 1));
  const answers = (start.answers ?? []).map((a: any) => ({ id: String(a["m.id"] ?? a.id), text: text(a) }));
  const closed = endedHere || !!tally?.closed_by;
  let counts: Record<string, number> | undefined = tally?.counts;
  let voters = Number(tally?.voters ?? 0);
  if (!tally) {
    counts = {};
    voters = 0;
    for (const { selections } of seen?.values() ?? []) {
      const valid = selections.filter((s) => answers.some((a: PollAnswer) => a.id === s)).slice(0, maxSelections);
      if (valid.length) voters += 1;
      for (const s of valid) counts[s] = (counts[s] ?? 0) + 1;
    }
  }
  const showCounts = disclosed || closed;
  return {
    question: text(start.question),
    answers: answers.map((a: { id: string; text: string }) => ({ ...a, votes: showCounts && counts ? counts[a.id] ?? 0 : null })),
    voters,
    closed,
    disclosed,
    mine: seen?.get(me)?.selections ?? [],
    maxSelections,
  };
}

/** The content of a new poll (stable MSC3381 `m.poll.start`, with a text fallback). */
export function pollStartContent(question: string, answers: string[]): Record<string, any> {
  const fallback = [question, ...answers.map((a, i) => `${i + 1}. ${a}`)].join("\n");
  return {
    "m.poll": {
      kind: "m.disclosed",
      max_selections: 1,
      question: { "m.text": [{ body: question }] },
      answers: answers.map((a, i) => ({ "m.id": `a${i + 1}`, "m.text": [{ body: a }] })),
    },
    "m.text": [{ body: fallback }],
  };
}

/** Discord groups a sender's messages sent within a few minutes of each other. */
export function startsGroup(items: Item[], index: number): boolean {
  const item = items[index];
  const previous = items[index - 1];
  if (!previous || item.kind !== "message" || previous.kind !== "message") return true;
  return previous.sender !== item.sender || item.ts - previous.ts > 7 * 60 * 1000 || item.replyTo !== null;
}
