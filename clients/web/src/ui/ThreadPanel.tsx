// A thread beside the chat, Discord-style: the root message, its replies,
// and a composer that posts into the thread (`m.thread` relations).
import { useMemo } from "react";
import { buildTimeline } from "../logic/timeline";
import { raw, roomEvents } from "../matrix/events";
import type { ChatContext } from "./ChatView";
import { Composer } from "./Composer";
import { MessageItem } from "./MessageItem";

export function ThreadPanel({ ctx, rootId, onClose }: { ctx: ChatContext; rootId: string; onClose: () => void }) {
  const events = roomEvents(ctx.room);
  const key = events.map((e) => `${e.getId()}${e.status ?? ""}${e.isRedacted() ? "r" : ""}${e.getType()}`).join();
  const items = useMemo(() => buildTimeline(events.map(raw), ctx.client.getUserId()!, rootId), [key, rootId]);
  const latest = items[items.length - 1]?.id ?? rootId;
  return (
    <aside className="thread-panel" aria-label="Thread">
      <header>
        <h2>🧵 Thread</h2>
        <button className="close" aria-label="Close thread" onClick={onClose}>
          ×
        </button>
      </header>
      <ol role="list" className="thread-messages">
        {items.map((item) =>
          item.kind === "message" ? (
            <MessageItem key={item.id} ctx={ctx} item={item} grouped={false} replyTo={null} editing={false} setEditing={() => undefined} jumpTo={() => undefined} inThread />
          ) : null,
        )}
      </ol>
      <Composer ctx={ctx} thread={{ root: rootId, latest }} />
    </aside>
  );
}
