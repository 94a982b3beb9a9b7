// Showing a message from outside the timeline (a search result, maybe in
// another channel, maybe old): the request waits here until the Timeline of
// that room takes it, fetching older history until the message is loaded.
// One Timeline is mounted at a time, so one request is pending at a time.
import { type MatrixClient, type Room } from "matrix-js-sdk";
import { useEffect, useRef, useSyncExternalStore } from "react";
import type { Item } from "../logic/timeline";

type Request = { roomId: string; eventId: string; settle: (found: boolean) => void };

/** How far back a jump looks: pages of older history (of PAGE events) fetched at most. */
const MAX_PAGES = 20;
const PAGE = 100;

let pending: Request | null = null;
const listeners = new Set<() => void>();

/** Asks the timeline of `roomId` to show `eventId`; false when it cannot (too far back, or not a message it draws). */
export function requestJump(roomId: string, eventId: string): Promise<boolean> {
  pending?.settle(false);
  return new Promise((settle) => {
    pending = { roomId, eventId, settle };
    listeners.forEach((listener) => listener());
  });
}

function finish(request: Request, found: boolean): void {
  if (pending === request) pending = null;
  request.settle(found);
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * The Timeline's side: once the message is among its items, `show` moves
 * the window there (the items change as older pages arrive).
 */
export function useJumpRequests(client: MatrixClient, room: Room, items: Item[], show: (eventId: string) => void): void {
  const request = useSyncExternalStore(subscribe, () => pending);
  const seeking = useRef<Request | null>(null);
  useEffect(() => {
    if (!request || request.roomId !== room.roomId) return;
    if (items.some((item) => item.id === request.eventId)) {
      show(request.eventId);
      finish(request, true);
      return;
    }
    if (seeking.current === request) return;
    seeking.current = request;
    seek(client, room, request).then((loaded) => {
      // Loaded: the items follow on the next render and the effect above
      // shows it; if they never do, it is not a message the timeline draws.
      if (!loaded) finish(request, false);
      else setTimeout(() => pending === request && finish(request, false), 3000);
    }, () => finish(request, false));
  }, [request, room.roomId, items]);
}

/** Pages back through the room's live timeline until it holds the event; whether it does. */
async function seek(client: MatrixClient, room: Room, request: Request): Promise<boolean> {
  const has = () => room.getLiveTimeline().getEvents().some((event) => event.getId() === request.eventId);
  for (let page = 0; page < MAX_PAGES && pending === request; page++) {
    if (has()) return true;
    if (!(await client.paginateEventTimeline(room.getLiveTimeline(), { backwards: true, limit: PAGE }))) break;
  }
  return has();
}
