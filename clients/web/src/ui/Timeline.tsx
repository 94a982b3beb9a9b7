// The message list: newest at the bottom, older pages loaded when the reader
// scrolls to the top, held at the bottom while new messages arrive, and the
// read marker moved to what was seen.
import { EventTimeline } from "matrix-js-sdk";
import type React from "react";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { buildTimeline, startsGroup } from "../logic/timeline";
import { raw, roomEvents } from "../matrix/events";
import type { ChatContext } from "./ChatView";
import { MessageItem } from "./MessageItem";

/** How many items are added to the DOM at a time. */
const WINDOW = 80;

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
  // Only the newest `shown` items are in the DOM; scrolling up shows more
  // of what is already loaded before asking the server for older pages, so
  // a long history costs nothing until it is read.
  const [shown, setShown] = useState(WINDOW);
  // Where the reader had read to when they opened the channel: the "new"
  // line goes after it, and stays put while they read.
  const [readUpTo, setReadUpTo] = useState(() => room.getEventReadUpTo(me));

  useEffect(() => {
    atBottom.current = true;
    setComplete(false);
    setShown(WINDOW);
    setReadUpTo(room.getEventReadUpTo(me));
  }, [room.roomId]);

  // New items keep the view at the bottom if it was there.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  });

  // The read marker follows what was on screen at the bottom.
  useEffect(() => {
    const latest = [...room.getLiveTimeline().getEvents()].reverse().find((e) => e.getId() && !e.isState());
    if (!latest || !atBottom.current || document.hidden) return;
    if (room.getEventReadUpTo(me) === latest.getId()) return;
    client.setRoomReadMarkers(room.roomId, latest.getId()!, latest).catch(() => undefined);
  }, [lastId, room.roomId]);

  const loadOlder = async () => {
    const el = scroller.current!;
    const before = el.scrollHeight;
    if (items.length > shown) {
      setShown(shown + WINDOW);
      requestAnimationFrame(() => (el.scrollTop += el.scrollHeight - before));
      return;
    }
    if (loadingOlder || complete) return;
    setLoadingOlder(true);
    setShown(shown + WINDOW);
    try {
      const more = await client.paginateEventTimeline(room.getLiveTimeline(), { backwards: true, limit: 40 });
      if (!more || !room.getLiveTimeline().getPaginationToken(EventTimeline.BACKWARDS)) setComplete(true);
    } finally {
      setLoadingOlder(false);
      // Keep the reader's place: what they looked at stays under their eyes.
      requestAnimationFrame(() => (el.scrollTop += el.scrollHeight - before));
    }
  };

  const onScroll = () => {
    const el = scroller.current!;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 200) loadOlder();
  };

  const jumpTo = (eventId: string) => {
    const target = document.getElementById(`msg-${eventId}`);
    if (!target) return;
    target.scrollIntoView({ block: "center" });
    target.classList.add("flash");
    setTimeout(() => target.classList.remove("flash"), 1500);
  };

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

  const byId = new Map(items.map((item) => [item.id, item]));
  const visible = items.length > shown ? items.slice(items.length - shown) : items;
  return (
    <div className="timeline" ref={scroller} onScroll={onScroll} role="log" aria-live="polite" aria-label="Messages" tabIndex={0} onKeyDown={moveFocus}>
      {complete && items.length <= shown ? <p className="timeline-start muted">This is the beginning of {room.name}.</p> : loadingOlder && <p className="muted">Loading…</p>}
      <ol role="list">
        {visible.map((item, i) => [
          item.id === readUpTo && i < visible.length - 1 && visible.slice(i + 1).some((next) => next.sender !== me) && (
            <li key="unread-line" className="unread-line" role="separator" aria-label="New messages">
              <span>New</span>
            </li>
          ),
          item.kind === "membership" ? (
            <li key={item.id} className="system-line">
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
              setEditing={(on) => setEditing(on ? item.id : null)}
              jumpTo={jumpTo}
            />
          ),
        ])}
      </ol>
    </div>
  );
}
