// The message list: newest at the bottom, older pages loaded when the reader
// scrolls to the top, held at the bottom while new messages arrive, and the
// read marker moved to what was seen.
//
// Only a window of the loaded history is in the DOM, bounded at both ends:
// scrolling up slides it up (rows leave at the bottom), scrolling back down
// slides it down, "Jump to present" returns to the live end. The reader's
// place is kept by anchoring on the row at the top of the view.
import { EventTimeline } from "matrix-js-sdk";
import type React from "react";
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { type Item, buildTimeline, startsGroup } from "../logic/timeline";
import { raw, roomEvents } from "../matrix/events";
import type { ChatContext } from "./ChatView";
import { useJumpRequests } from "./jump";
import { MessageItem } from "./MessageItem";
import { ThinkingLine, thinkingBots } from "./CommandAnswer";
import { useRoomCommands } from "./CommandPicker";

/** How many rows the window moves by. */
const STEP = 60;
/** The most rows in the DOM at once. */
const MAX_ROWS = 200;
/** Messages asked of the server per page of history. */
const PAGE = 60;

/** The window: the rows ending at `endId` (null: the live end), at most `count` of them. */
type Window = { endId: string | null; count: number };

/** Scrolls to a message and flashes it (it must be in the window). */
function flash(eventId: string): boolean {
  const target = document.getElementById(`msg-${eventId}`);
  if (!target) return false;
  target.scrollIntoView({ block: "center" });
  target.classList.add("flash");
  setTimeout(() => target.classList.remove("flash"), 1500);
  return true;
}

export function Timeline({ ctx }: { ctx: ChatContext }) {
  const { client, room } = ctx;
  const me = client.getUserId()!;
  const events = roomEvents(room);
  const lastId = events[events.length - 1]?.getId();
  // Edits, redactions and local echoes change events in place: the key notes them.
  const key = events.map((e) => `${e.getId()}${e.status ?? ""}${e.isRedacted() ? "r" : ""}${e.getType()}`).join();
  const items = useMemo(() => buildTimeline(events.map(raw), me), [key]);
  const [editing, setEditing] = useState<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [complete, setComplete] = useState(false);
  const [view, setView] = useState<Window>({ endId: null, count: STEP });
  // The row the reader is looking at, kept in place across window moves.
  const anchor = useRef<{ id: string; offset: number } | null>(null);
  const pendingJump = useRef<string | null>(null);
  // Where the reader had read to when they opened the channel: the "new"
  // line goes after it, and stays put while they read.
  const [readUpTo, setReadUpTo] = useState(() => room.getEventReadUpTo(me));

  useEffect(() => {
    atBottom.current = true;
    anchor.current = null;
    setComplete(false);
    setView({ endId: null, count: STEP });
    setReadUpTo(room.getEventReadUpTo(me));
  }, [room.roomId]);

  const endIndex = view.endId === null ? items.length : items.findIndex((i) => i.id === view.endId) + 1 || items.length;
  const startIndex = Math.max(0, endIndex - view.count);
  const visible = items.slice(startIndex, endIndex);
  const live = view.endId === null;

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (pendingJump.current && flash(pendingJump.current)) {
      pendingJump.current = null;
      atBottom.current = false;
      return;
    }
    const held = anchor.current && document.getElementById(anchor.current.id);
    if (held) {
      el.scrollTop = held.offsetTop - anchor.current!.offset;
      anchor.current = null;
    } else if (live && atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  });

  // The read marker follows what was on screen at the bottom.
  useEffect(() => {
    const latest = [...room.getLiveTimeline().getEvents()].reverse().find((e) => e.getId() && !e.isState());
    if (!latest || !live || !atBottom.current || document.hidden) return;
    if (room.getEventReadUpTo(me) === latest.getId()) return;
    client.setRoomReadMarkers(room.roomId, latest.getId()!, latest).catch(() => undefined);
  }, [lastId, room.roomId, live]);

  /** Remembers the first row in view, to put it back where it was after the next render. */
  const holdPlace = () => {
    const el = scroller.current!;
    for (const row of el.querySelectorAll<HTMLElement>("li[id^='msg-']")) {
      if (row.offsetTop + row.offsetHeight > el.scrollTop) {
        anchor.current = { id: row.id, offset: row.offsetTop - el.scrollTop };
        return;
      }
    }
  };

  /** Slides the window up by a step: from memory, or from the server when memory is used up. */
  const showOlder = async () => {
    if (startIndex > 0) {
      holdPlace();
      const count = Math.min(view.count + STEP, MAX_ROWS);
      // Past the bound, rows leave at the bottom.
      const end = Math.max(count, endIndex - Math.max(0, view.count + STEP - MAX_ROWS));
      setView({ endId: end >= items.length ? null : items[end - 1].id, count });
      return;
    }
    if (loadingOlder || complete) return;
    setLoadingOlder(true);
    try {
      const more = await client.paginateEventTimeline(room.getLiveTimeline(), { backwards: true, limit: PAGE });
      if (!more || !room.getLiveTimeline().getPaginationToken(EventTimeline.BACKWARDS)) setComplete(true);
    } finally {
      setLoadingOlder(false);
    }
  };

  /** Slides the window down by a step, back to the live end at last. */
  const showNewer = () => {
    if (live) return;
    holdPlace();
    const end = endIndex + STEP;
    setView({ endId: end >= items.length ? null : items[end - 1].id, count: view.count });
  };

  const onScroll = () => {
    const el = scroller.current!;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 300) showOlder();
    else if (!live && el.scrollHeight - el.scrollTop - el.clientHeight < 300) showNewer();
  };

  // History fetched from the server shows up at the top of the window.
  const loadedBefore = useRef(items.length);
  useEffect(() => {
    if (items.length > loadedBefore.current && startIndex === 0 && scroller.current && scroller.current.scrollTop < 300) showOlder();
    loadedBefore.current = items.length;
  }, [items.length]);

  const jumpToPresent = () => {
    atBottom.current = true;
    anchor.current = null;
    setView({ endId: null, count: STEP });
  };

  /**
   * A reply's target: scrolled to, the window moved there first if it is
   * loaded but not shown. Stable (rows keep the first callback they get),
   * so it reads the items through a ref rather than holding one render's.
   */
  const itemsRef = useRef(items);
  itemsRef.current = items;
  const jumpTo = useCallback((eventId: string, moveWindow = false) => {
    if (!moveWindow && flash(eventId)) return;
    const all = itemsRef.current;
    const at = all.findIndex((i) => i.id === eventId);
    if (at === -1) return;
    pendingJump.current = eventId;
    const end = Math.min(all.length, at + STEP / 2);
    setView({ endId: end >= all.length ? null : all[end - 1].id, count: STEP });
  }, []);
  // Jumps from elsewhere (search results) always move the window: they may
  // come with a channel switch, whose reset of the window must not win.
  useJumpRequests(client, room, items, (eventId) => jumpTo(eventId, true));

  // Arrow keys move between messages (Tab then reaches the focused
  // message's actions), as in Discord; Escape goes back to the list.
  const moveFocus = (e: React.KeyboardEvent) => {
    const rows = [...(scroller.current?.querySelectorAll<HTMLElement>("li.message") ?? [])];
    if (!rows.length) return;
    const at = rows.indexOf(document.activeElement as HTMLElement);
    const next =
      e.key === "ArrowUp" ? (at === -1 ? rows.length - 1 : Math.max(0, at - 1))
      : e.key === "ArrowDown" ? (at === -1 ? rows.length - 1 : Math.min(rows.length - 1, at + 1))
      : e.key === "Home" ? 0
      : e.key === "End" ? rows.length - 1
      : null;
    if (e.key === "Escape") scroller.current?.focus();
    if (next === null || (e.target as HTMLElement).closest("textarea, input")) return;
    e.preventDefault();
    rows[next].focus();
  };

  const byId = useMemo(() => new Map(items.map((item) => [item.id, item])), [items]);
  const newLineAfter = unreadLineAfter(visible, readUpTo, me);
  // A bot typing after a deferred command: "… is thinking" under the command line.
  const commands = useRoomCommands(ctx);
  const thinking = thinkingBots(client, room, items, commands);
  return (
    <div className="timeline-wrap">
      <div className="timeline" ref={scroller} onScroll={onScroll} role="log" aria-live="polite" aria-label="Messages" tabIndex={0} onKeyDown={moveFocus}>
        {complete && startIndex === 0 ? (
          <p className="timeline-start muted">This is the beginning of {room.name}.</p>
        ) : (
          loadingOlder && <p className="muted">Loading…</p>
        )}
        <ol role="list">
          {visible.flatMap((item, i) => {
            const row =
              item.kind === "membership" ? (
                <li key={item.id} id={`msg-${item.id}`} className="system-line">
                  <span aria-hidden="true">→</span> {item.name} {item.membership === "join" ? "joined" : item.membership === "ban" ? "was banned" : "left"}.
                </li>
              ) : (
                <MessageItem
                  key={item.id}
                  ctx={ctx}
                  item={item}
                  grouped={!startsGroup(visible, i)}
                  replyTo={item.replyTo ? byId.get(item.replyTo) ?? null : null}
                  editing={editing === item.id}
                  setEditing={setEditing}
                  jumpTo={jumpTo}
                />
              );
            const thinkingBot = thinking.get(item.id);
            const rows = thinkingBot ? [row, <ThinkingLine key={`thinking-${item.id}`} ctx={ctx} bot={thinkingBot} />] : [row];
            return item.id === newLineAfter
              ? [
                  ...rows,
                  <li key="unread-line" className="unread-line" role="separator" aria-label="New messages">
                    <span>New</span>
                  </li>,
                ]
              : rows;
          })}
        </ol>
      </div>
      {!live && (
        <button className="jump-present" onClick={jumpToPresent}>
          Jump to present
        </button>
      )}
    </div>
  );
}

/** The item the "new" line follows: the one read up to, when someone else wrote after it. */
function unreadLineAfter(visible: Item[], readUpTo: string | null, me: string): string | null {
  const at = visible.findIndex((item) => item.id === readUpTo);
  if (at === -1 || at === visible.length - 1) return null;
  return visible.slice(at + 1).some((next) => next.sender !== me) ? readUpTo : null;
}
