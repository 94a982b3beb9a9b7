import { describe, expect, it } from "vitest";
import {
  type SuggestionSources,
  applySuggestion,
  buildQuery,
  chipText,
  endsInOpenFilter,
  excerpt,
  filterSuggestions,
  highlightSegments,
  jumpTarget,
  parseQuery,
  quoteValue,
  resultCountLabel,
  resultText,
  savedSearchList,
  unsearchableNote,
  withoutChip,
} from "../src/logic/searchQuery";

const sources: SuggestionSources = {
  members: [
    { userId: "@alice:hs", name: "Alice" },
    { userId: "@bob:hs", name: "Bob Builder" },
  ],
  channels: [
    { roomId: "!g:hs", name: "general" },
    { roomId: "!s:hs", name: "seed swap" },
  ],
};

describe("building queries", () => {
  it("quotes values with spaces and drops quotes the language cannot escape", () => {
    expect(quoteValue("general")).toBe("general");
    expect(quoteValue("seed  swap ")).toBe('"seed swap"');
    expect(quoteValue('say "hi"')).toBe('"say hi"');
    expect(chipText({ key: "in", value: "seed swap" })).toBe('in:"seed swap"');
  });

  it("puts filters first, then the words", () => {
    expect(buildQuery({ chips: [{ key: "from", value: "@bob:hs" }, { key: "has", value: "link" }], text: " tomatoes " })).toBe("from:@bob:hs has:link tomatoes");
    expect(buildQuery({ chips: [], text: "" })).toBe("");
  });
});

describe("parsing queries into chips", () => {
  it("splits filters from words as the server does", () => {
    expect(parseQuery('from:@bob:hs tomato "red beans" -slugs HAS:link in:"seed swap" re:thing')).toEqual({
      chips: [
        { key: "from", value: "@bob:hs" },
        { key: "has", value: "link" },
        { key: "in", value: "seed swap" },
      ],
      text: 'tomato "red beans" -slugs re:thing',
    });
  });

  it("keeps a quoted phrase with a colon a phrase, and unknown keys words", () => {
    expect(parseQuery('"from:x y" https://example.org')).toEqual({ chips: [], text: '"from:x y" https://example.org' });
  });

  it("round-trips through buildQuery, and removes one chip", () => {
    const query = 'has:link in:"seed swap" beans';
    expect(buildQuery(parseQuery(query))).toBe(query);
    expect(withoutChip(query, 0)).toBe('in:"seed swap" beans');
    expect(withoutChip(query, 1)).toBe("has:link beans");
  });

  it("survives unterminated quotes and lone dashes", () => {
    expect(parseQuery('"open ended')).toEqual({ chips: [], text: '"open ended' });
    expect(parseQuery("- ").chips).toEqual([]);
  });

  it("knows when the last filter is still being typed", () => {
    expect(endsInOpenFilter("tomato has:li")).toBe(true);
    expect(endsInOpenFilter("from:")).toBe(true);
    expect(endsInOpenFilter('in:"seed sw')).toBe(true);
    expect(endsInOpenFilter("has:link ")).toBe(false);
    expect(endsInOpenFilter("has:link tomato")).toBe(false);
    expect(endsInOpenFilter("re:thing")).toBe(false);
    expect(endsInOpenFilter("")).toBe(false);
  });
});

describe("suggestions", () => {
  it("offers the filters when a word starts", () => {
    const keys = filterSuggestions("", sources).map((s) => (s.kind === "key" ? s.insert : ""));
    expect(keys).toContain("from:");
    expect(keys).toContain("has:");
    expect(keys).toContain("in:");
    expect(filterSuggestions("tomato ", sources).length).toBe(keys.length);
    // No channels (a DM): no in:.
    expect(filterSuggestions("", { ...sources, channels: [] }).some((s) => s.key === "in")).toBe(false);
    expect(filterSuggestions("tomato", sources)).toEqual([]);
  });

  it("offers members for from: by name or user ID, kinds for has:, channels for in:", () => {
    expect(filterSuggestions("from:b", sources).map((s) => s.kind === "value" && s.value)).toEqual(["@bob:hs"]);
    expect(filterSuggestions("x mentions:ALI", sources).map((s) => s.kind === "value" && s.value)).toEqual(["@alice:hs"]);
    expect(filterSuggestions("has:", sources)).toHaveLength(8);
    expect(filterSuggestions("has:s", sources).map((s) => s.kind === "value" && s.value)).toEqual(["sound", "sticker"]);
    expect(filterSuggestions("in:#se", sources).map((s) => s.kind === "value" && s.label)).toEqual(["#seed swap"]);
    expect(filterSuggestions('in:"seed s', sources).map((s) => s.kind === "value" && s.value)).toEqual(["seed swap"]);
    expect(filterSuggestions("pinned:", sources).map((s) => s.kind === "value" && s.value)).toEqual(["true", "false"]);
    expect(filterSuggestions("weird:x", sources)).toEqual([]);
  });

  it("applies a suggestion in place, quoting as needed", () => {
    const [bob] = filterSuggestions("beans from:bo", sources);
    expect(applySuggestion("beans from:bo", bob)).toBe("beans from:@bob:hs ");
    const [swap] = filterSuggestions('-in:"seed', sources);
    expect(applySuggestion('-in:"seed', swap)).toBe('-in:"seed swap" ');
    const has = filterSuggestions("", sources).find((s) => s.key === "has")!;
    expect(applySuggestion("", has)).toBe("has:");
    expect(applySuggestion("beans ", has)).toBe("beans has:");
    const thread = filterSuggestions("", sources).find((s) => s.key === "is")!;
    expect(applySuggestion("", thread)).toBe("is:thread ");
  });
});

describe("highlighting", () => {
  it("marks whole words in any case", () => {
    expect(highlightSegments("Tomatoes and tomato soup", ["tomatoes", "tomato"])).toEqual([
      { text: "Tomatoes", hit: true },
      { text: " and ", hit: false },
      { text: "tomato", hit: true },
      { text: " soup", hit: false },
    ]);
  });

  it("leaves parts of longer words alone", () => {
    expect(highlightSegments("category cat concat", ["cat"])).toEqual([
      { text: "category ", hit: false },
      { text: "cat", hit: true },
      { text: " concat", hit: false },
    ]);
  });

  it("matches next to punctuation and beyond ASCII, and escapes the words", () => {
    expect(highlightSegments("Café, s'il vous plaît!", ["café", "plaît"]).filter((s) => s.hit).map((s) => s.text)).toEqual(["Café", "plaît"]);
    expect(highlightSegments("c++ (and c)", ["c++"]).filter((s) => s.hit).map((s) => s.text)).toEqual(["c++"]);
    expect(highlightSegments("naïve naïveté", ["naïve"]).filter((s) => s.hit)).toHaveLength(1);
  });

  it("keeps markup as text (React renders it as such)", () => {
    expect(highlightSegments("<b>bold</b>", ["bold"])).toEqual([
      { text: "<b>", hit: false },
      { text: "bold", hit: true },
      { text: "</b>", hit: false },
    ]);
  });

  it("gives the text whole without highlights, and nothing for no text", () => {
    expect(highlightSegments("plain", [])).toEqual([{ text: "plain", hit: false }]);
    expect(highlightSegments("plain", ["  "])).toEqual([{ text: "plain", hit: false }]);
    expect(highlightSegments("", ["x"])).toEqual([]);
  });

  it("cuts a long text around its first match", () => {
    const long = `${"filler ".repeat(100)}the pear trees ${"more ".repeat(100)}`;
    const cut = excerpt(long, ["pear"], 120);
    expect(cut.startsWith("…")).toBe(true);
    expect(cut.endsWith("…")).toBe(true);
    expect(cut).toContain("pear trees");
    expect(cut.length).toBeLessThanOrEqual(122);
    expect(excerpt("short", ["x"], 120)).toBe("short");
  });
});

describe("results", () => {
  it("shows the latest edit, a poll's question, a reply without its quote", () => {
    expect(resultText({ content: { body: "old" }, unsigned: { "m.relations": { "m.replace": { content: { "m.new_content": { body: "new" } } } } } })).toBe("new");
    expect(resultText({ type: "m.poll.start", content: { "m.poll": { question: { "m.text": [{ body: "Beans?" }] } } } })).toBe("Beans?");
    expect(resultText({ content: { body: "> <@a:hs> hi\n> there\n\nhello back", "m.relates_to": { "m.in_reply_to": { event_id: "$x" } } } })).toBe("hello back");
    expect(resultText({ content: { body: "> a quote I wrote" } })).toBe("> a quote I wrote");
    expect(resultText({})).toBe("");
  });

  it("jumps to a thread's root for a reply in it", () => {
    expect(jumpTarget({ event_id: "$r", content: { "m.relates_to": { rel_type: "m.thread", event_id: "$root" } } })).toBe("$root");
    expect(jumpTarget({ event_id: "$m", content: { "m.relates_to": { "m.in_reply_to": { event_id: "$x" } } } })).toBe("$m");
  });

  it("labels counts and unsearchable rooms", () => {
    expect(resultCountLabel(0)).toBe("No results");
    expect(resultCountLabel(1)).toBe("1 result");
    expect(resultCountLabel(1234)).toBe("1,234 results");
    expect(unsearchableNote(1)).toBe("1 encrypted channel was not searched — its messages are end-to-end encrypted.");
    expect(unsearchableNote(3)).toBe("3 encrypted channels were not searched — their messages are end-to-end encrypted.");
  });

  it("reads saved searches from account data, skipping what it cannot read", () => {
    expect(
      savedSearchList({
        searches: [
          { name: "Links", query: "has:link", server_id: "!s:hs", order_by: "recent" },
          { name: "", query: "x" },
          { name: "Bad order", query: "x", order_by: "oldest" },
          { name: "No query" },
          null,
        ],
      }),
    ).toEqual([{ name: "Links", query: "has:link", server_id: "!s:hs", order_by: "recent" }]);
    expect(savedSearchList(undefined)).toEqual([]);
    expect(savedSearchList({ searches: "nope" })).toEqual([]);
  });
});
