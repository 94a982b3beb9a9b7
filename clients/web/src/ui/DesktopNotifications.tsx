// Desktop notifications: each new message the user's push rules say to
// notify about (so their notification levels, extensions-spec §22) raises a
// browser notification when it is out of sight; a click on it opens the
// channel. Also the one-time offer to turn them on, and the switch in user
// settings. The decision itself is logic/desktopNotifications.ts.
import type { MatrixClient, MatrixEvent, Room } from "matrix-js-sdk";
import { useEffect, useRef, useState } from "react";
import { notificationText, shouldNotify } from "../logic/desktopNotifications";
import { watchArrivals } from "../matrix/arrivals";
import { parentServer } from "../matrix/rooms";
import { answerPrompt, askPermission, desktopEnabled, notificationPermission, setDesktopEnabled, useDesktopPermission } from "./desktopPermission";

export function DesktopNotifications({ client, roomId, go }: { client: MatrixClient; roomId?: string; go: (route: string[]) => void }) {
  // The watcher lives as long as the client; it reads what is open now.
  const openRoom = useRef(roomId);
  openRoom.current = roomId;
  const navigate = useRef(go);
  navigate.current = go;

  useEffect(
    () =>
      watchArrivals(client, ({ candidate, event, room }) => {
        const decision = shouldNotify(candidate, {
          me: client.getUserId()!,
          openRoomId: openRoom.current,
          pageVisible: document.visibilityState === "visible",
          permission: notificationPermission(),
          enabled: desktopEnabled(),
        });
        if (!decision.notify) return;
        const space = parentServer(client, room);
        show(client, event, room, space, decision.mention, () => navigate.current(space ? ["server", space.roomId, room.roomId] : ["dm", room.roomId]));
      }),
    [client],
  );

  return null;
}

function show(client: MatrixClient, event: MatrixEvent, room: Room, space: Room | null, mention: boolean, open: () => void): void {
  const sender = event.getSender()!;
  const text = notificationText(
    { type: event.getType(), content: event.getContent() },
    { senderName: room.getMember(sender)?.name ?? client.getUser(sender)?.displayName ?? sender, channelName: space ? room.name : undefined, serverName: space?.name },
  );
  if (!text) return;
  let notification: Notification;
  try {
    notification = new Notification(text.title, { body: text.body, tag: event.getId(), data: { roomId: room.roomId, eventId: event.getId(), mention } });
  } catch {
    // Some browsers (Chrome on Android) allow notifications only from a
    // service worker; there is none, so nothing is shown there.
    return;
  }
  notification.onclick = () => {
    window.focus();
    open();
    notification.close();
  };
}

/**
 * The one-time offer, above the user panel (in the layout's flow, so it
 * covers nothing): the permission is asked from the user's click, never on
 * load.
 */
export function NotificationOffer() {
  const { permission, prompted } = useDesktopPermission();
  if (permission !== "default" || prompted) return null;
  return (
    <div className="notification-offer" role="region" aria-label="Desktop notifications">
      <p>Get desktop notifications for messages and mentions?</p>
      <div className="row">
        <button className="primary" onClick={() => askPermission()}>
          Enable
        </button>
        <button onClick={answerPrompt}>Not now</button>
      </div>
    </div>
  );
}

/** User settings → Notifications: the browser's permission and this device's switch. */
export function DesktopNotificationSettings() {
  const { permission, enabled } = useDesktopPermission();
  const [asked, setAsked] = useState<string | null>(null);
  return (
    <>
      <h3>Desktop notifications</h3>
      <p className="muted">
        Which messages notify you is set per server and per channel (the server menu, or the bell in a channel's header); the same settings hold
        on your other devices and Matrix apps.
      </p>
      {permission === "unsupported" && <p>This browser cannot show notifications.</p>}
      {permission === "denied" && <p>Notifications are blocked for this site in your browser's settings. Allow them there, then come back.</p>}
      {permission === "default" && (
        <button
          className="primary"
          onClick={async () => {
            const answer = await askPermission();
            setAsked(answer === "granted" ? "Desktop notifications are on." : "The browser did not allow notifications.");
          }}
        >
          Enable desktop notifications
        </button>
      )}
      {permission === "granted" && (
        <label className="switch">
          <input type="checkbox" checked={enabled} onChange={(e) => setDesktopEnabled(e.target.checked)} /> Show desktop notifications on this device
        </label>
      )}
      {asked && <p role="status">{asked}</p>}
    </>
  );
}
