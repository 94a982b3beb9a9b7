// Pinning is standard Matrix: the room's `m.room.pinned_events` state lists
// the pinned event IDs. Nexus homeservers gate changing it in channels on
// PIN_MESSAGES (extensions-spec §22) and refuse it with 403 otherwise.
import { type MatrixClient, type MatrixEvent, type Room, MatrixError, RoomStateEvent } from "matrix-js-sdk";
import { pinnedIds, withPin } from "../logic/community";

const PINNED_EVENTS = "m.room.pinned_events";

/** The room's pinned event IDs, oldest pin first, from the state the client holds. */
export function pinnedEvents(room: Room | null | undefined): string[] {
  return pinnedIds(room?.currentState.getStateEvents(PINNED_EVENTS, "")?.getContent());
}

export function isPinned(room: Room | null | undefined, eventId: string): boolean {
  return pinnedEvents(room).includes(eventId);
}

/** Pins or unpins one event by rewriting the whole list; nothing is sent when it would not change. */
export async function pinEvent(client: MatrixClient, roomId: string, eventId: string, pinned: boolean): Promise<void> {
  const room = client.getRoom(roomId);
  const current = room ? pinnedEvents(room) : await fetchPinned(client, roomId);
  const next = withPin(current, eventId, pinned);
  if (next === current) return;
  await client.sendStateEvent(roomId, PINNED_EVENTS as never, { pinned: next } as never, "");
}

/** The pins straight from the homeserver, for a room this client has not synced. */
async function fetchPinned(client: MatrixClient, roomId: string): Promise<string[]> {
  try {
    return pinnedIds((await client.getStateEvent(roomId, PINNED_EVENTS, "")) as Record<string, unknown>);
  } catch (error) {
    // No pins yet: the state event does not exist. Anything else must not
    // be mistaken for an empty list, which would drop the others' pins.
    if (error instanceof MatrixError && error.errcode === "M_NOT_FOUND") return [];
    throw error;
  }
}

/**
 * Calls `onChange` when any room's pins change. Every message row's pin
 * button watches, so they share one client listener instead of each adding
 * their own (hundreds of rows would trip the emitter's leak warning).
 */
export function watchPins(client: MatrixClient, onChange: () => void): () => void {
  let watch = watches.get(client);
  if (!watch) {
    const listeners = new Set<() => void>();
    const onState = (event: MatrixEvent) => {
      if (event.getType() === PINNED_EVENTS) for (const listener of listeners) listener();
    };
    client.on(RoomStateEvent.Events, onState);
    watch = { listeners, stop: () => client.off(RoomStateEvent.Events, onState) };
    watches.set(client, watch);
  }
  watch.listeners.add(onChange);
  return () => {
    watch.listeners.delete(onChange);
    if (watch.listeners.size === 0) {
      watch.stop();
      watches.delete(client);
    }
  };
}

const watches = new WeakMap<MatrixClient, { listeners: Set<() => void>; stop: () => void }>();
