// The search box's side of the homeserver's query language (extensions-spec
// §24.1): filters picked from suggestions become `key:value` words (quoted
// when the value has spaces), a typed query is taken back apart into chips
// for display, and a result's text is split at the words the server says
// matched. Pure, so it is unit-tested without a homeserver. Highlights are
// segments for React text nodes — never HTML, so a message cannot inject any.
import type { SavedSearch, ServedEvent } from "../matrix/nexus";

export const FILTER_KEYS = ["from", "mentions", "has", "in", "before", "after", "during", "pinned", "is"] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export const HAS_KINDS = ["link", "embed", "file", "image", "video", "sound", "poll", "sticker"] as const;

export type Chip = { key: FilterKey; value: string };
export type ParsedQuery = { chips: Chip[]; text: string };

function isFilterKey(key: string): key is FilterKey {
  return (FILTER_KEYS as readonly string[]).includes(key);
}

/**
 * A filter's value as the language reads it: quoted when it has spaces.
 * The language has no escapes, so quotes inside a value are dropped.
 */
export function quoteValue(value: string): string {
  const clean = value.replace(/"/g, "").replace(/\s+/g, " ").trim();
  return clean.includes(" ") ? `"${clean}"` : clean;
}

export function chipText(chip: Chip): string {
  return `${chip.key}:${quoteValue(chip.value)}`;
}

/** Filters first, as Discord writes them, then the words. */
export function buildQuery({ chips, text }: ParsedQuery): string {
  return [...chips.map(chipText), text.trim()].filter(Boolean).join(" ");
}

type Piece = { raw: string; text: string; quoted: boolean };

/**
 * Splits a query as the server does (`pieces` in nexus-search's query.rs):
 * on whitespace, keeping `"quoted text"` and `key:"quoted value"` whole; a
 * leading `-` negates. `raw` is the piece as typed, to put words back as
 * they were.
 */
function pieces(input: string): Piece[] {
  const out: Piece[] = [];
  const n = input.length;
  let i = 0;
  for (;;) {
    while (i < n && /\s/.test(input[i])) i++;
    if (i >= n) return out;
    const start = i;
    if (input[i] === "-") i++;
    if (input[i] === '"') {
      const close = input.indexOf('"', i + 1);
      const text = input.slice(i + 1, close === -1 ? n : close).trim();
      i = close === -1 ? n : close + 1;
      if (text) out.push({ raw: input.slice(start, i), text, quoted: true });
      continue;
    }
    const from = i;
    let inQuotes = false;
    while (i < n && (inQuotes || !/\s/.test(input[i]))) {
      if (input[i] === '"') inQuotes = !inQuotes;
      i++;
    }
    if (i > from) out.push({ raw: input.slice(start, i), text: input.slice(from, i), quoted: false });
  }
}

/** A query taken apart: its filters (as the server will apply them) and the rest, as typed. */
export function parseQuery(query: string): ParsedQuery {
  const chips: Chip[] = [];
  const rest: string[] = [];
  for (const piece of pieces(query)) {
    const colon = piece.text.indexOf(":");
    const key = piece.text.slice(0, colon).toLowerCase();
    // The server ignores a `-` before a filter, so the chip does too.
    if (!piece.quoted && colon > 0 && isFilterKey(key)) {
      chips.push({ key, value: piece.text.slice(colon + 1).replace(/^"+|"+$/g, "") });
    } else {
      rest.push(piece.raw);
    }
  }
  return { chips, text: rest.join(" ") };
}

export function withoutChip(query: string, index: number): string {
  const parsed = parseQuery(query);
  return buildQuery({ chips: parsed.chips.filter((_, i) => i !== index), text: parsed.text });
}

/**
 * Whether the query ends in a filter still being typed (`has:li`, `from:`):
 * search-as-you-type waits for a space or Enter rather than have the server
 * refuse half a filter (400) on every keystroke.
 */
export function endsInOpenFilter(query: string): boolean {
  if (/\s$/.test(query)) return false;
  const last = pieces(query).at(-1);
  if (!last || last.quoted) return false;
  const colon = last.text.indexOf(":");
  return colon > 0 && isFilterKey(last.text.slice(0, colon).toLowerCase());
}

// ---------------------------------------------------------------------------
// Suggestions while typing

export type SuggestionSources = { members: { userId: string; name: string }[]; channels: { roomId: string; name: string }[] };
export type Suggestion =
  | { kind: "key"; key: FilterKey; insert: string; hint: string }
  | { kind: "value"; key: FilterKey; value: string; label: string; detail?: string };

const KEY_SUGGESTIONS: Extract<Suggestion, { kind: "key" }>[] = [
  { kind: "key", key: "from", insert: "from:", hint: "user" },
  { kind: "key", key: "mentions", insert: "mentions:", hint: "user" },
  { kind: "key", key: "has", insert: "has:", hint: HAS_KINDS.join(", ") },
  { kind: "key", key: "in", insert: "in:", hint: "channel" },
  { kind: "key", key: "before", insert: "before:", hint: "date (YYYY-MM-DD)" },
  { kind: "key", key: "after", insert: "after:", hint: "date (YYYY-MM-DD)" },
  { kind: "key", key: "during", insert: "during:", hint: "date (YYYY-MM-DD)" },
  { kind: "key", key: "pinned", insert: "pinned:", hint: "true or false" },
  { kind: "key", key: "is", insert: "is:thread", hint: "messages in threads" },
];

/** The filter value being typed at the end: `in:gen`, or `in:"general ch` before its closing quote. */
const OPEN_VALUE = /(^|\s)(-?)([A-Za-z]+):("[^"]*|[^\s"]*)$/;

/**
 * What the box offers: the filters themselves when a new word starts (the
 * box is empty or ends in a space), and values for the filter being typed —
 * members for `from:`/`mentions:`, the kinds for `has:`, channels for `in:`.
 */
export function filterSuggestions(input: string, sources: SuggestionSources, limit = 8): Suggestion[] {
  if (input.trim() === "" || /\s$/.test(input)) {
    return KEY_SUGGESTIONS.filter((s) => s.key !== "in" || sources.channels.length > 0);
  }
  const open = OPEN_VALUE.exec(input);
  const key = open?.[3].toLowerCase() ?? "";
  if (!open || !isFilterKey(key)) return [];
  const partial = open[4].replace(/^"/, "").toLowerCase();
  const starts = (s: string) => s.toLowerCase().startsWith(partial);
  const values = (list: readonly string[]): Suggestion[] => list.filter(starts).map((value) => ({ kind: "value", key, value, label: value }));
  switch (key) {
    case "from":
    case "mentions":
      return sources.members
        .filter((m) => starts(m.name) || starts(m.userId) || starts(m.userId.slice(1)))
        .slice(0, limit)
        .map((m) => ({ kind: "value", key, value: m.userId, label: m.name, detail: m.userId }));
    case "has":
      return values(HAS_KINDS);
    case "in":
      return sources.channels
        .filter((c) => starts(c.name) || starts(`#${c.name}`))
        .slice(0, limit)
        .map((c) => ({ kind: "value", key, value: c.name, label: `#${c.name}` }));
    case "pinned":
      return values(["true", "false"]);
    case "is":
      return values(["thread"]);
    default:
      return [];
  }
}

/** The input with a suggestion applied: a filter started, or the value being typed completed (and a space after it). */
export function applySuggestion(input: string, suggestion: Suggestion): string {
  if (suggestion.kind === "key") {
    const base = input.trim() === "" ? "" : input;
    return `${base}${suggestion.insert}${suggestion.key === "is" ? " " : ""}`;
  }
  const open = OPEN_VALUE.exec(input);
  if (!open) return `${input}${input && !/\s$/.test(input) ? " " : ""}${chipText(suggestion)} `;
  return `${input.slice(0, open.index)}${open[1]}${open[2]}${open[3]}:${quoteValue(suggestion.value)} `;
}

// ---------------------------------------------------------------------------
// Results

export type Segment = { text: string; hit: boolean };

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function highlighter(highlights: string[]): RegExp | null {
  const words = [...new Set(highlights.map((w) => w.trim()).filter(Boolean))].sort((a, b) => b.length - a.length);
  if (words.length === 0) return null;
  // Whole words only (`cat` is not lit in `category`), in any case; longer words first so `tomatoes` wins over `tomato`.
  return new RegExp(`(?<![\\p{L}\\p{N}_])(?:${words.map(escapeRegExp).join("|")})(?![\\p{L}\\p{N}_])`, "giu");
}

/** The text cut at the matched words, for `<mark>`s between plain text nodes. */
export function highlightSegments(text: string, highlights: string[]): Segment[] {
  const pattern = highlighter(highlights);
  if (!text) return [];
  if (!pattern) return [{ text, hit: false }];
  const out: Segment[] = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const at = match.index ?? 0;
    if (at > last) out.push({ text: text.slice(last, at), hit: false });
    out.push({ text: match[0], hit: true });
    last = at + match[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), hit: false });
  return out;
}

/** At most `max` characters of a long text, starting a little before its first matched word so the match shows. */
export function excerpt(text: string, highlights: string[], max = 300): string {
  if (text.length <= max) return text;
  const first = highlighter(highlights)?.exec(text)?.index ?? 0;
  let start = Math.max(0, first - 40);
  if (start > 0) {
    const space = text.lastIndexOf(" ", start);
    start = space > first - 80 ? space + 1 : start;
  }
  const end = Math.min(text.length, start + max);
  return `${start > 0 ? "…" : ""}${text.slice(start, end).trim()}${end < text.length ? "…" : ""}`;
}

/**
 * What a result shows: the latest edit's text (the server bundles it, and
 * found the message by it), a poll's question and answers, or the body —
 * without the quote of the message a reply answers.
 */
export function resultText(event: ServedEvent): string {
  const content = event.content ?? {};
  const edit = event.unsigned?.["m.relations"]?.["m.replace"]?.content?.["m.new_content"];
  const poll = content["m.poll"] ?? content["org.matrix.msc3381.poll.start"];
  let text = "";
  if (typeof edit?.body === "string") text = edit.body;
  else if (typeof content.body === "string") text = content.body;
  else if (Array.isArray(content["m.text"]) && typeof content["m.text"][0]?.body === "string") text = content["m.text"][0].body;
  else if (poll) text = pollText(poll.question);
  if (content["m.relates_to"]?.["m.in_reply_to"]) text = text.replace(/^(?:> .*\n)+\n?/, "");
  return text.trim();
}

function pollText(question: any): string {
  if (typeof question === "string") return question;
  if (Array.isArray(question?.["m.text"])) return question["m.text"][0]?.body ?? "";
  return typeof question?.body === "string" ? question.body : "";
}

/** The message to show for a result: a thread's reply is shown at its root, which the channel's timeline holds. */
export function jumpTarget(event: ServedEvent): string | null {
  const relation = event.content?.["m.relates_to"];
  if (relation?.rel_type === "m.thread" && typeof relation.event_id === "string") return relation.event_id;
  return event.event_id ?? null;
}

export function resultCountLabel(count: number): string {
  return count === 0 ? "No results" : count === 1 ? "1 result" : `${count.toLocaleString("en")} results`;
}

/** Why some of the scope's messages are absent: the server cannot read encrypted rooms (§24). */
export function unsearchableNote(rooms: number): string {
  return rooms === 1
    ? "1 encrypted channel was not searched — its messages are end-to-end encrypted."
    : `${rooms} encrypted channels were not searched — their messages are end-to-end encrypted.`;
}

/** Saved searches from `nexus.saved_searches` account data; entries another client wrote in another shape are skipped, as the server does. */
export function savedSearchList(content: unknown): SavedSearch[] {
  const list = (content as { searches?: unknown } | null | undefined)?.searches;
  if (!Array.isArray(list)) return [];
  const optional = (v: unknown) => v === undefined || v === null || typeof v === "string";
  return list.filter(
    (s): s is SavedSearch =>
      !!s &&
      typeof s.name === "string" &&
      s.name !== "" &&
      typeof s.query === "string" &&
      optional(s.server_id) &&
      optional(s.room_id) &&
      (s.order_by === undefined || s.order_by === null || s.order_by === "relevance" || s.order_by === "recent"),
  );
}
