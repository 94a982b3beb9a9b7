// A channel's threads, Discord's threads browser and forum view: the
// homeserver lists them by latest activity with archival already derived
// (§10.3, §22 `GET /channels/{roomId}/threads`), so the Active and Archived
// tabs are two queries. Threads are named by their `nexus.thread` (§10.2);
// a plain Matrix thread shows its root's text instead. In a forum channel a
// new post is a root message plus the `nexus.thread` that titles it (§5.1);
// until it has a reply the homeserver does not list it, so named threads
// without replies are added from the room state the client holds.
import { type MatrixClient, type MatrixEvent, type Room, RoomEvent } from "matrix-js-sdk";
import { type FormEvent, type KeyboardEvent, useEffect, useReducer, useRef, useState } from "react";
import { type KnownThread, forumThreadContent, messageSummary, threadRow, withUnlisted } from "../logic/community";
import { Permissions } from "../logic/permissions";
import { messageContent } from "../matrix/events";
import { type NexusApi, type ThreadContent, type ThreadEntry } from "../matrix/nexus";
import { describeError } from "../matrix/session";
import { useAsync } from "./hooks";

type BrowserProps = { client: MatrixClient; api: NexusApi; roomId: string; onOpen: (rootId: string) => void; onClose: () => void };
type Tab = "active" | "archived";
const TABS: { id: Tab; label: string }[] = [
  { id: "active", label: "Active" },
  { id: "archived", label: "Archived" },
];

export function ThreadsBrowser({ client, api, roomId, onOpen, onClose }: BrowserProps) {
  const [tab, setTab] = useState<Tab>("active");
  const [posting, setPosting] = useState(false);
  useEffect(() => setPosting(false), [roomId]);
  const room = client.getRoom(roomId);
  const channel = room?.currentState.getStateEvents("nexus.channel", "")?.getContent();
  const forum = channel?.type === "forum";
  const { value: permissions } = useAsync(() => api.permissions(roomId), [roomId]);
  const perms = Permissions.parse(permissions?.permissions);
  // A titled post is a root message (SEND_MESSAGES) and a `nexus.thread` its sender may create (§14).
  const canPost = forum && perms.has("SEND_MESSAGES") && perms.has("CREATE_PUBLIC_THREADS");

  return (
    <aside className="threads-browser" aria-label={forum ? "Forum posts" : "Threads"}>
      <header>
        <h2>
          <span aria-hidden="true">🧵</span> {forum ? "Posts" : "Threads"}
        </h2>
        {canPost && !posting && (
          <button className="primary" onClick={() => setPosting(true)}>
            New post
          </button>
        )}
        <button className="close" aria-label="Close threads" onClick={onClose}>
          ×
        </button>
      </header>
      {posting && (
        <NewPostForm
          client={client}
          roomId={roomId}
          defaultArchive={channel?.default_auto_archive_duration}
          onCancel={() => setPosting(false)}
          onPosted={(rootId) => {
            setPosting(false);
            onOpen(rootId);
          }}
        />
      )}
      <Tabs tab={tab} onTab={setTab} />
      <div role="tabpanel" id={`threads-${tab}`} aria-labelledby={`threads-tab-${tab}`} className="thread-list-panel">
        <ThreadList client={client} api={api} roomId={roomId} archived={tab === "archived"} forum={forum} onOpen={onOpen} />
      </div>
    </aside>
  );
}

/** Active / Archived, with the arrow keys moving between them as the tabs pattern expects. */
function Tabs({ tab, onTab }: { tab: Tab; onTab: (tab: Tab) => void }) {
  const refs = useRef<Record<Tab, HTMLButtonElement | null>>({ active: null, archived: null });
  const onKey = (e: KeyboardEvent) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    e.preventDefault();
    const next = TABS[(TABS.findIndex((t) => t.id === tab) + 1) % TABS.length].id;
    onTab(next);
    refs.current[next]?.focus();
  };
  return (
    <div className="thread-tabs" role="tablist" aria-label="Which threads" onKeyDown={onKey}>
      {TABS.map((t) => (
        <button
          key={t.id}
          ref={(el) => {
            refs.current[t.id] = el;
          }}
          id={`threads-tab-${t.id}`}
          role="tab"
          aria-selected={tab === t.id}
          aria-controls={`threads-${t.id}`}
          tabIndex={tab === t.id ? 0 : -1}
          onClick={() => onTab(t.id)}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

function ThreadList({ client, api, roomId, archived, forum, onOpen }: {
  client: MatrixClient;
  api: NexusApi;
  roomId: string;
  archived: boolean;
  forum: boolean;
  onOpen: (rootId: string) => void;
}) {
  // New posts and replies move threads up and out of the archive: re-list on activity.
  const activity = useTimelineTick(client, roomId);
  const { value, error } = useAsync(() => api.channelThreads(roomId, { archived }), [roomId, archived, activity]);
  const [older, setOlder] = useState<{ threads: ThreadEntry[]; next?: string } | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  useEffect(() => setOlder(null), [roomId, archived]);

  const seen = new Set<string>();
  const listed = [...(value?.threads ?? []), ...(older?.threads ?? [])].filter((t) => !seen.has(t.root_id) && seen.add(t.root_id));
  const next = older ? older.next : value?.next_batch;
  const now = Date.now();
  const known = knownThreads(client.getRoom(roomId));
  const threads = withUnlisted(listed, known, { roomId, archived, me: client.getUserId() ?? "", now, complete: !next });
  const summaryOf = useRootSummaries(client, roomId, threads.filter((t) => !t.thread?.name).map((t) => t.root_id));

  const loadMore = async () => {
    try {
      const page = await api.channelThreads(roomId, { archived, from: next });
      setOlder((o) => ({ threads: [...(o?.threads ?? []), ...page.threads], next: page.next_batch }));
    } catch (err) {
      setLoadError(err);
    }
  };

  if (error && !value) return <p className="error" role="alert">{describeError(error)}</p>;
  if (!value) return <p className="muted">Loading…</p>;
  if (threads.length === 0) {
    const what = forum ? "posts" : "threads";
    return <p className="muted empty-threads">{archived ? `No archived ${what}.` : `No active ${what}.`}</p>;
  }
  return (
    <>
      <ul className="thread-list" role="list" aria-label={archived ? "Archived threads" : "Active threads"}>
        {threads.map((thread) => {
          const row = threadRow(thread, summaryOf(thread.root_id), now);
          return (
            <li key={thread.root_id}>
              <button className="thread-row" data-root={row.rootId} onClick={() => onOpen(row.rootId)}>
                <span className={row.named ? "thread-title" : "thread-title unnamed"}>
                  {row.locked && <span aria-label="Locked">🔒 </span>}
                  {row.title}
                </span>
                <span className="thread-meta">
                  {row.replies} · <time dateTime={new Date(row.lastActivityTs).toISOString()} title={new Date(row.lastActivityTs).toLocaleString()}>{row.lastActivity}</time>
                </span>
              </button>
            </li>
          );
        })}
      </ul>
      {loadError ? <p className="error" role="alert">{describeError(loadError)}</p> : null}
      {next && (
        <button className="link load-more" onClick={loadMore}>
          Load more
        </button>
      )}
    </>
  );
}

/** The room's named threads whose root the client holds, with their replies counted from its timeline. */
function knownThreads(room: Room | null): KnownThread[] {
  if (!room) return [];
  const replies = new Map<string, number>();
  for (const event of room.getLiveTimeline().getEvents()) {
    const relation = event.getRelation();
    if (relation?.rel_type === "m.thread" && relation.event_id) replies.set(relation.event_id, (replies.get(relation.event_id) ?? 0) + 1);
  }
  return room.currentState.getStateEvents("nexus.thread").flatMap((state) => {
    const rootId = state.getStateKey() ?? "";
    const root = room.findEventById(rootId);
    const content = state.getContent();
    if (!root || typeof content.name !== "string") return [];
    return [{
      rootId,
      rootSender: root.getSender() ?? "",
      rootTs: root.getTs(),
      content: content as ThreadContent,
      stateSender: state.getSender() ?? "",
      stateTs: state.getTs(),
      replies: replies.get(rootId) ?? 0,
    }];
  });
}

/**
 * The text of thread roots, for threads without a name: from the client's
 * timeline when it holds the root, else fetched once from the homeserver.
 */
function useRootSummaries(client: MatrixClient, roomId: string, rootIds: string[]): (rootId: string) => string | null {
  const [fetched, setFetched] = useState<Record<string, string | null>>({});
  const requested = useRef(new Set<string>());
  const live = useRef(true);
  useEffect(() => {
    live.current = true;
    return () => {
      live.current = false;
    };
  }, []);
  const room = client.getRoom(roomId);
  const local = (id: string) => {
    const event = room?.findEventById(id);
    return event ? messageSummary(event.getContent()) : undefined;
  };
  const missing = rootIds.filter((id) => local(id) === undefined && !requested.current.has(id));
  useEffect(() => {
    for (const id of missing) {
      requested.current.add(id);
      client.fetchRoomEvent(roomId, id).then(
        (event) => live.current && setFetched((f) => ({ ...f, [id]: messageSummary(event.content as Record<string, unknown>) })),
        () => live.current && setFetched((f) => ({ ...f, [id]: null })),
      );
    }
  }, [missing.join()]);
  return (id) => local(id) ?? fetched[id] ?? null;
}

function NewPostForm({ client, roomId, defaultArchive, onCancel, onPosted }: {
  client: MatrixClient;
  roomId: string;
  defaultArchive?: number;
  onCancel: () => void;
  onPosted: (rootId: string) => void;
}) {
  const [title, setTitle] = useState("");
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!title.trim() || !text.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const { event_id } = await client.sendEvent(roomId, "m.room.message" as never, messageContent(text) as never);
      await client.sendStateEvent(roomId, "nexus.thread" as never, forumThreadContent(title, defaultArchive) as never, event_id);
      onPosted(event_id);
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };
  return (
    <form className="new-post" aria-label="New post" onSubmit={submit}>
      <label>
        Post title
        <input required maxLength={100} autoFocus value={title} onChange={(e) => setTitle(e.target.value)} />
      </label>
      <label>
        First message
        <textarea required rows={3} value={text} onChange={(e) => setText(e.target.value)} />
      </label>
      {error && <p className="error" role="alert">{error}</p>}
      <div className="row">
        <button type="button" onClick={onCancel}>Cancel</button>
        <button className="primary" type="submit" disabled={busy || !title.trim() || !text.trim()}>
          Post
        </button>
      </div>
    </form>
  );
}

/**
 * A counter that moves (at most every 300 ms) when a live event arrives in
 * `roomId`, of `type` when given: for listings the homeserver computes from
 * the timeline, which need asking again after it changed.
 */
export function useTimelineTick(client: MatrixClient, roomId: string, type?: string): number {
  const [tick, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onEvent = (event: MatrixEvent, room: Room | undefined, toStartOfTimeline: boolean | undefined) => {
      if (toStartOfTimeline || (room?.roomId ?? event.getRoomId()) !== roomId) return;
      if (type && event.getType() !== type) return;
      clearTimeout(timer);
      timer = setTimeout(bump, 300);
    };
    client.on(RoomEvent.Timeline, onEvent);
    return () => {
      clearTimeout(timer);
      client.off(RoomEvent.Timeline, onEvent);
    };
  }, [client, roomId, type]);
  return tick;
}
