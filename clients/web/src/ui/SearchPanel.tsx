// Discord's search: a box in the channel header that suggests filters as
// they are typed (`from:` members, `has:` kinds, `in:` channels), searching
// the current server (or only this channel) as you type and fully on Enter;
// results beside the chat like the pins, newest or most relevant, paged,
// with the words that matched lit; saved searches to run again. The server
// does the searching and reads the query (extensions-spec §24), so a bad
// filter's explanation is its own.
import { type MatrixClient, type Room } from "matrix-js-sdk";
import type React from "react";
import { type FormEvent, useEffect, useRef, useState } from "react";
import {
  type Chip,
  type Suggestion,
  type SuggestionSources,
  applySuggestion,
  endsInOpenFilter,
  excerpt,
  filterSuggestions,
  highlightSegments,
  jumpTarget,
  parseQuery,
  resultCountLabel,
  resultText,
  savedSearchList,
  unsearchableNote,
  withoutChip,
} from "../logic/searchQuery";
import { type NexusApi, type SavedSearch, type SearchOrder, type SearchRequest, type SearchResponse, type SearchResult, type SearchScope } from "../matrix/nexus";
import { joinedChannels, parentServer } from "../matrix/rooms";
import { describeError } from "../matrix/session";
import { Avatar } from "./Avatar";
import { useHashRoute } from "./hooks";
import { requestJump } from "./jump";

/** Search-as-you-type waits this long after the last keystroke. */
const DEBOUNCE_MS = 250;
const PAGE_SIZE = 25;
const SAVED_TYPE = "nexus.saved_searches";

type Scope = "server" | "channel";
/** What the panel shows: the request behind it (to page on) and the pages so far. */
type Shown = { request: SearchRequest; pages: SearchResponse[]; saved?: string };

export type SearchState = ReturnType<typeof useSearch>;

/**
 * The search's state, kept by the chat view so that it outlives switching
 * channels (a result in another channel opens it beside the results).
 * `onShow` is called when a search runs, to bring the results panel up.
 */
export function useSearch(api: NexusApi, where: { serverId?: string; roomId?: string }, onShow: () => void) {
  const [text, setText] = useState("");
  const [scope, setScope] = useState<Scope>("server");
  const [order, setOrder] = useState<SearchOrder>("recent");
  const [shown, setShown] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const inFlight = useRef<AbortController | null>(null);
  // Answers to requests the user has typed past are dropped.
  const round = useRef(0);

  // The dropped request's own ending will not clear `busy`, so this does.
  const cancel = () => {
    clearTimeout(timer.current);
    inFlight.current?.abort();
    round.current += 1;
    setBusy(false);
  };
  useEffect(() => cancel, []);

  const scopeFields = (s: Scope): SearchScope =>
    where.serverId && s === "server" ? { server_id: where.serverId } : where.roomId ? { room_id: where.roomId } : {};

  const run = async (request: SearchRequest, saved?: string, more?: Shown) => {
    cancel();
    const mine = round.current;
    const controller = new AbortController();
    inFlight.current = controller;
    setBusy(true);
    onShow();
    try {
      const page = await api.search(request, controller.signal);
      if (mine !== round.current) return;
      setShown(more ? { ...more, pages: [...more.pages, page] } : { request, pages: [page], saved });
      setError(null);
    } catch (err) {
      if (mine !== round.current) return;
      setError(describeError(err));
      if (!more) setShown(null);
    } finally {
      if (mine === round.current) setBusy(false);
    }
  };

  const query = (q: string, prefix: boolean, s = scope, o = order): SearchRequest => ({ query: q.trim(), ...scopeFields(s), order_by: o, limit: PAGE_SIZE, prefix });

  return {
    text,
    scope,
    order,
    shown,
    busy,
    error,
    /** Whether "this channel only" means anything: in a DM the search is of the DM already. */
    canNarrow: !!where.serverId,
    /** Typing: a prefix search once the typing pauses, unless a filter is half written. */
    type(value: string) {
      setText(value);
      cancel();
      if (!value.trim()) {
        setShown(null);
        setError(null);
        return;
      }
      if (endsInOpenFilter(value)) return;
      timer.current = setTimeout(() => run(query(value, true)), DEBOUNCE_MS);
    },
    /** Enter: the full search (the last word a whole word); an empty box opens the panel for the saved searches. */
    submit(value = text) {
      setText(value);
      if (!value.trim()) {
        cancel();
        setShown(null);
        onShow();
        return;
      }
      run(query(value, false));
    },
    setScope(next: Scope) {
      setScope(next);
      if (text.trim()) run(query(text, false, next));
    },
    setOrder(next: SearchOrder) {
      setOrder(next);
      if (text.trim()) run(query(text, false, scope, next));
    },
    /** Runs a saved search by name, so the server applies its query and scope as saved. */
    runSaved(search: SavedSearch) {
      setText(search.query);
      if (search.order_by) setOrder(search.order_by);
      run({ saved: search.name, limit: PAGE_SIZE }, search.name);
    },
    loadMore() {
      const next = shown?.pages.at(-1)?.next_batch;
      if (shown && next) run({ ...shown.request, next_batch: next }, shown.saved, shown);
    },
    /** Saves what is in the box, with the scope and order it runs with now. */
    save(name: string): Promise<SavedSearch> {
      return api.saveSearch(name, { query: text.trim(), ...scopeFields(scope), order_by: order });
    },
    remove(name: string): Promise<object> {
      return api.deleteSavedSearch(name);
    },
  };
}

// ---------------------------------------------------------------------------
// The box

type Option = Suggestion | { kind: "saved"; search: SavedSearch };

function savedSearches(client: MatrixClient): SavedSearch[] {
  return savedSearchList(client.getAccountData(SAVED_TYPE as never)?.getContent());
}

/** Who `from:` and `mentions:` offer (the server's members and the channel's) and the channels `in:` offers. */
function suggestionSources(client: MatrixClient, room: Room, space: Room | null): SuggestionSources {
  const members = new Map<string, string>();
  for (const member of [...(space?.getJoinedMembers() ?? []), ...room.getJoinedMembers()]) members.set(member.userId, member.name);
  return {
    members: [...members].map(([userId, name]) => ({ userId, name })).sort((a, b) => a.name.localeCompare(b.name)),
    channels: space ? joinedChannels(client, space).map((channel) => ({ roomId: channel.roomId, name: channel.name })) : [],
  };
}

type BoxProps = { client: MatrixClient; room: Room; space: Room | null; search: SearchState; onEscape: () => void };

export function SearchBox({ client, room, space, search, onEscape }: BoxProps) {
  const input = useRef<HTMLInputElement>(null);
  const [focused, setFocused] = useState(false);
  const [dismissed, setDismissed] = useState(false);
  // -1: nothing picked yet. Filter names are only picked with the arrows,
  // so Enter after a word and a space still searches.
  const [index, setIndex] = useState(-1);

  const options: Option[] = !focused || dismissed
    ? []
    : [
        ...(search.text.trim() === "" ? savedSearches(client).slice(0, 5).map((s): Option => ({ kind: "saved", search: s })) : []),
        ...filterSuggestions(search.text, suggestionSources(client, room, space)),
      ];
  const picked = index >= 0 ? index : options[0]?.kind === "value" ? 0 : -1;

  // Ctrl/Cmd+F finds in the chat rather than the page, while the chat has focus.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey || e.key.toLowerCase() !== "f") return;
      const active = document.activeElement;
      if (active && active !== document.body && !active.closest(".chat, .search-panel")) return;
      e.preventDefault();
      input.current?.focus();
      input.current?.select();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const change = (value: string) => {
    setDismissed(false);
    setIndex(-1);
    search.type(value);
  };

  const choose = (option: Option) => {
    setIndex(-1);
    if (option.kind === "saved") {
      setDismissed(true);
      search.runSaved(option.search);
      return;
    }
    const next = applySuggestion(search.text, option);
    // A value picked whole (`has:link`) is a finished filter: search with it,
    // and put the list away so it does not cover the results.
    if (option.kind === "value") {
      setDismissed(true);
      search.submit(next);
    } else {
      search.type(next);
    }
    input.current?.focus();
  };

  const onKeyDown = (e: React.KeyboardEvent<HTMLInputElement>) => {
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && options.length) {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : options.length - 1;
      setIndex(((picked === -1 ? (e.key === "ArrowDown" ? -1 : 0) : picked) + step) % options.length);
    } else if ((e.key === "Enter" || e.key === "Tab") && picked >= 0 && options[picked]) {
      e.preventDefault();
      choose(options[picked]);
    } else if (e.key === "Enter") {
      e.preventDefault();
      setDismissed(true);
      search.submit();
    } else if (e.key === "Escape") {
      e.preventDefault();
      if (options.length) setDismissed(true);
      else onEscape();
    }
  };

  const optionId = (i: number) => `search-option-${i}`;
  return (
    <div className="search-box">
      <input
        ref={input}
        type="search"
        role="searchbox"
        aria-label="Search"
        aria-controls="search-suggestions"
        aria-autocomplete="list"
        aria-activedescendant={picked >= 0 && options[picked] ? optionId(picked) : undefined}
        placeholder={space ? `Search ${space.name}` : "Search"}
        value={search.text}
        onChange={(e) => change(e.target.value)}
        onKeyDown={onKeyDown}
        onFocus={() => {
          setFocused(true);
          setDismissed(false);
        }}
        onBlur={() => setFocused(false)}
      />
      {options.length > 0 && (
        <ul id="search-suggestions" className="autocomplete search-suggestions" role="listbox" aria-label="Search suggestions">
          {options.map((option, i) => (
            <li key={optionKey(option)} id={optionId(i)} role="option" aria-selected={i === picked}>
              {/* The box keeps focus (mousedown is stopped); arrows and Enter pick from the keyboard. */}
              <button type="button" tabIndex={-1} onMouseDown={(e) => e.preventDefault()} onClick={() => choose(option)}>
                <OptionLabel option={option} />
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function optionKey(option: Option): string {
  return option.kind === "saved" ? `saved:${option.search.name}` : option.kind === "key" ? `key:${option.key}` : `${option.key}:${option.value}`;
}

function OptionLabel({ option }: { option: Option }) {
  if (option.kind === "saved") {
    return (
      <>
        <span aria-hidden="true">🔖</span> {option.search.name} <span className="muted">{option.search.query}</span>
      </>
    );
  }
  if (option.kind === "key") {
    return (
      <>
        <strong>{option.insert}</strong> <span className="muted">{option.hint}</span>
      </>
    );
  }
  return (
    <>
      {option.label} {option.detail && <span className="muted">{option.detail}</span>}
    </>
  );
}

// ---------------------------------------------------------------------------
// The results panel

type PanelProps = { client: MatrixClient; room: Room; search: SearchState; onClose: () => void };

export function SearchPanel({ client, room, search, onClose }: PanelProps) {
  const [, go] = useHashRoute();
  const [jumpError, setJumpError] = useState<string | null>(null);
  const { shown } = search;
  const first = shown?.pages[0];
  const results = shown?.pages.flatMap((page) => page.results) ?? [];
  const highlights = [...new Set(shown?.pages.flatMap((page) => page.highlights) ?? [])];
  const unsearchable = first?.unsearchable_rooms.length ?? 0;
  const chips = parseQuery(search.text).chips;

  /** Opens the result's channel (the panel stays) and has its timeline show the message. */
  const jump = async (result: SearchResult) => {
    setJumpError(null);
    const target = client.getRoom(result.room_id);
    const eventId = jumpTarget(result.event);
    if (!target || !eventId) return setJumpError("That channel is not open to you any more.");
    if (target.roomId !== room.roomId) {
      const space = parentServer(client, target);
      go(space ? ["server", space.roomId, target.roomId] : ["dm", target.roomId]);
    }
    if (!(await requestJump(target.roomId, eventId))) setJumpError("That message is too far back in the channel to show.");
  };

  return (
    <aside
      className="search-panel"
      aria-label="Search results"
      onKeyDown={(e) => {
        if (e.key === "Escape" && !(e.target as HTMLElement).closest("form")) onClose();
      }}
    >
      <header>
        <h2>
          <span aria-hidden="true">🔍</span> Search
        </h2>
        <button className="close" aria-label="Close search" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="search-controls">
        {search.canNarrow && (
          <label className="switch">
            <input type="checkbox" checked={search.scope === "channel"} onChange={(e) => search.setScope(e.target.checked ? "channel" : "server")} />
            This channel only
          </label>
        )}
        <div className="search-order" role="group" aria-label="Sort results">
          <button aria-pressed={search.order === "recent"} onClick={() => search.setOrder("recent")}>
            Newest
          </button>
          <button aria-pressed={search.order === "relevance"} onClick={() => search.setOrder("relevance")}>
            Most relevant
          </button>
        </div>
      </div>
      {chips.length > 0 && <Chips client={client} room={room} chips={chips} search={search} />}
      {search.error && <p className="error" role="alert">{search.error}</p>}
      {jumpError && <p className="error" role="alert">{jumpError}</p>}
      <p className="search-count" role="status">
        {first ? resultCountLabel(first.count) : search.busy ? "Searching…" : ""}
        {first && shown?.saved ? ` · saved search “${shown.saved}”` : ""}
      </p>
      {unsearchable > 0 && <p className="muted search-note">{unsearchableNote(unsearchable)}</p>}
      {/* data-search names what the list answers (the e2e scenario waits on it: old results stay up while a new search runs). */}
      <ul
        className="search-results"
        role="list"
        aria-label="Results"
        aria-busy={search.busy}
        data-search={shown ? (shown.saved ? `saved:${shown.saved}` : shown.request.query ?? "") : undefined}
      >
        {results.map((result) => (
          <ResultItem key={`${result.room_id}/${result.event.event_id}`} client={client} result={result} highlights={highlights} onJump={jump} />
        ))}
      </ul>
      {shown?.pages.at(-1)?.next_batch && (
        <button className="link load-more" disabled={search.busy} onClick={search.loadMore}>
          Load more
        </button>
      )}
      <SaveSearch search={search} />
      <SavedSearches client={client} search={search} />
    </aside>
  );
}

function ResultItem({ client, result, highlights, onJump }: {
  client: MatrixClient;
  result: SearchResult;
  highlights: string[];
  onJump: (result: SearchResult) => void;
}) {
  const { event } = result;
  const room = client.getRoom(result.room_id);
  const sender = event.sender ?? "";
  const name = room?.getMember(sender)?.name ?? sender;
  const ts = event.origin_server_ts;
  const segments = highlightSegments(excerpt(resultText(event), highlights), highlights);
  return (
    // The whole card jumps for the mouse; its Jump button is the keyboard's way (the click reaches the card).
    <li className="search-result" data-event-id={event.event_id} onClick={() => onJump(result)}>
      <div className="pinned-meta">
        {sender && <Avatar id={sender} name={name} size={24} />}
        <span className="author">{name}</span>
        <span className="search-channel">{room ? `#${room.name}` : "a room you left"}</span>
        {ts !== undefined && <time dateTime={new Date(ts).toISOString()}>{new Date(ts).toLocaleString()}</time>}
      </div>
      <p className="pinned-body">
        {segments.length === 0 ? <span className="muted">({event.type ?? "event"})</span> : segments.map((s, i) => (s.hit ? <mark key={i}>{s.text}</mark> : s.text))}
      </p>
      <div className="pinned-actions">
        <button className="link">Jump</button>
      </div>
    </li>
  );
}

/** The filters the query holds, as the server reads them; removing one searches again without it. */
function Chips({ client, room, chips, search }: { client: MatrixClient; room: Room; chips: Chip[]; search: SearchState }) {
  const label = (chip: Chip) => {
    if ((chip.key === "from" || chip.key === "mentions") && chip.value.startsWith("@")) {
      return room.getMember(chip.value)?.name ?? client.getUser(chip.value)?.displayName ?? chip.value;
    }
    return chip.value;
  };
  return (
    <ul className="search-chips" role="list" aria-label="Filters">
      {chips.map((chip, i) => (
        <li key={`${i}:${chip.key}:${chip.value}`} className="search-chip">
          <span>
            {chip.key}: <strong>{label(chip)}</strong>
          </span>
          <button className="link" aria-label={`Remove filter ${chip.key}:${chip.value}`} onClick={() => search.submit(withoutChip(search.text, i))}>
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}

function SaveSearch({ search }: { search: SearchState }) {
  const [naming, setNaming] = useState(false);
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!search.text.trim()) return null;
  if (!naming) {
    return (
      <button className="save-search-open" onClick={() => setNaming(true)}>
        Save search
      </button>
    );
  }
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return;
    setBusy(true);
    setError(null);
    try {
      await search.save(name.trim());
      setNaming(false);
      setName("");
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="save-search"
      aria-label="Save search"
      onSubmit={submit}
      onKeyDown={(e) => {
        if (e.key === "Escape") setNaming(false);
      }}
    >
      <label>
        Name
        <input autoFocus required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      {error && <p className="error" role="alert">{error}</p>}
      <div className="row">
        <button type="button" onClick={() => setNaming(false)}>
          Cancel
        </button>
        <button className="primary" type="submit" disabled={busy || !name.trim()}>
          Save
        </button>
      </div>
    </form>
  );
}

/** The saved searches, live from account data (another session's saves arrive through sync). */
function SavedSearches({ client, search }: { client: MatrixClient; search: SearchState }) {
  const [error, setError] = useState<string | null>(null);
  const saved = savedSearches(client);
  return (
    <section className="saved-searches" aria-label="Saved searches">
      <h3 className="category">Saved searches</h3>
      {error && <p className="error" role="alert">{error}</p>}
      {saved.length === 0 ? (
        <p className="muted">Searches you save show here, to run again.</p>
      ) : (
        <ul role="list">
          {saved.map((s) => (
            <li key={s.name} className="saved-search">
              <button className="link" title={s.query} onClick={() => search.runSaved(s)}>
                {s.name}
              </button>
              <span className="muted">{s.query}</span>
              <button
                className="link danger"
                aria-label={`Delete saved search ${s.name}`}
                onClick={() => search.remove(s.name).then(() => setError(null), (err) => setError(describeError(err)))}
              >
                Delete
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
