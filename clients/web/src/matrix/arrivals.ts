// Events as they arrive from the homeserver, described for the desktop
// notification decision (logic/desktopNotifications.ts): whether they are
// news, whether they could be read, and what the user's push rules (which
// the homeserver rewrites from notification levels, extensions-spec §22)
// say about them — matrix-js-sdk's push processor evaluates the rules.
import { type MatrixClient, type MatrixEvent, type Room, type IRoomTimelineData, MatrixEventEvent, RoomEvent } from "matrix-js-sdk";
import type { Candidate } from "../logic/desktopNotifications";

export type Arrival = { candidate: Candidate; event: MatrixEvent; room: Room };

/**
 * Calls `onArrival` for each event that reaches a room's live timeline from
 * now on; start it once the first sync is done (its events are history).
 * An encrypted event is described once its decryption has settled, with the
 * decrypted content. Returns the function that stops watching.
 */
export function watchArrivals(client: MatrixClient, onArrival: (arrival: Arrival) => void): () => void {
  let stopped = false;
  const describe = (event: MatrixEvent, room: Room, live: boolean) => {
    if (stopped) return;
    const actions = client.getPushActionsForEvent(event, true);
    const candidate: Candidate = {
      sender: event.getSender() ?? "",
      roomId: room.roomId,
      live,
      encryption: !event.isEncrypted() ? "none" : event.isDecryptionFailure() ? "failed" : "decrypted",
      push: actions ? { notify: actions.notify, highlight: !!actions.tweaks?.highlight } : null,
      ageMs: event.getLocalAge(),
      isEdit: event.isRelation("m.replace"),
    };
    onArrival({ candidate, event, room });
  };
  const onTimeline = (event: MatrixEvent, room: Room | undefined, toStartOfTimeline: boolean | undefined, removed: boolean, data: IRoomTimelineData) => {
    if (!room || removed) return;
    // Only the room's own timeline, not a filtered view of it.
    if (data.timeline.getTimelineSet() !== room.getUnfilteredTimelineSet()) return;
    const live = !toStartOfTimeline && !!data.liveEvent && !beforeMyJoin(client, room, event);
    const settled = !event.isEncrypted() || (!!event.getClearContent() && !event.isBeingDecrypted() && !event.isDecryptionFailure());
    if (settled) describe(event, room, live);
    // Decrypting, or not yet able to: decide once it is decrypted (or fails
    // for good), from the decrypted content and the rules evaluated on it.
    else event.once(MatrixEventEvent.Decrypted, () => describe(event, room, live));
  };
  client.on(RoomEvent.Timeline, onTimeline);
  return () => {
    stopped = true;
    client.off(RoomEvent.Timeline, onTimeline);
  };
}

/**
 * A room just joined arrives with some of its history in the "live"
 * timeline; those messages were sent before the user was there.
 */
function beforeMyJoin(client: MatrixClient, room: Room, event: MatrixEvent): boolean {
  const joined = room.currentState.getMember(client.getUserId()!)?.events.member?.getTs();
  return joined !== undefined && event.getTs() < joined;
}
