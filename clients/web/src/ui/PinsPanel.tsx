// A channel's pinned messages beside the chat: the homeserver serves
// `m.room.pinned_events` with each event the reader may read (§22), so
// pins of messages older than the loaded timeline show too. Unpinning, and
// the toolbar's pin button, need PIN_MESSAGES (§7.1).
import { type MatrixClient } from "matrix-js-sdk";
import { useCallback, useState, useSyncExternalStore } from "react";
import { type PinRow, pinRows } from "../logic/community";
import { Permissions } from "../logic/permissions";
import { type NexusApi } from "../matrix/nexus";
import { isPinned, pinEvent, watchPins } from "../matrix/pins";
import { describeError } from "../matrix/session";
import { Avatar } from "./Avatar";
import { useAsync, useStateChanges } from "./hooks";

type PinsProps = {
  client: MatrixClient;
  api: NexusApi;
  roomId: string;
  perms: Permissions;
  onClose: () => void;
  onJump: (eventId: string) => void;
};

export function PinsPanel({ client, api, roomId, perms, onClose, onJump }: PinsProps) {
  const changes = useStateChanges(client, (id) => id === roomId);
  const { value, error, reload } = useAsync(() => api.pins(roomId), [roomId, changes]);
  const [unpinError, setUnpinError] = useState<string | null>(null);
  const rows = value ? pinRows(value.pins) : [];
  const canUnpin = perms.has("PIN_MESSAGES");

  const unpin = async (eventId: string) => {
    setUnpinError(null);
    try {
      await pinEvent(client, roomId, eventId, false);
      reload();
    } catch (err) {
      setUnpinError(describeError(err));
    }
  };

  return (
    <aside className="pins-panel" aria-label="Pinned messages">
      <header>
        <h2>
          <span aria-hidden="true">📌</span> Pinned messages
        </h2>
        <button className="close" aria-label="Close pinned messages" onClick={onClose}>
          ×
        </button>
      </header>
      {error && !value ? <p className="error" role="alert">{describeError(error)}</p> : null}
      {unpinError && <p className="error" role="alert">{unpinError}</p>}
      {!value && !error && <p className="muted">Loading…</p>}
      {value && rows.length === 0 && <p className="muted empty-pins">This channel has no pinned messages yet.</p>}
      <ul className="pin-list" role="list">
        {rows.map((row) => (
          <PinnedMessage key={row.eventId} client={client} roomId={roomId} row={row} canUnpin={canUnpin} onJump={onJump} onUnpin={unpin} />
        ))}
      </ul>
    </aside>
  );
}

function PinnedMessage({ client, roomId, row, canUnpin, onJump, onUnpin }: {
  client: MatrixClient;
  roomId: string;
  row: PinRow;
  canUnpin: boolean;
  onJump: (eventId: string) => void;
  onUnpin: (eventId: string) => void;
}) {
  const name = row.sender ? client.getRoom(roomId)?.getMember(row.sender)?.name ?? row.sender : "Unknown";
  return (
    <li className="pinned-message" data-event-id={row.eventId} aria-label={`Pinned message from ${name}`}>
      <div className="pinned-meta">
        {row.sender && <Avatar id={row.sender} name={name} size={24} />}
        <span className="author">{name}</span>
        {row.ts !== null && <time dateTime={new Date(row.ts).toISOString()}>{new Date(row.ts).toLocaleString()}</time>}
      </div>
      <p className={row.available ? "pinned-body" : "pinned-body deleted"}>{row.body}</p>
      <div className="pinned-actions">
        {row.available && (
          <button className="link" onClick={() => onJump(row.eventId)}>
            Jump
          </button>
        )}
        {canUnpin && (
          <button className="link danger" aria-label="Unpin" onClick={() => onUnpin(row.eventId)}>
            Unpin
          </button>
        )}
      </div>
    </li>
  );
}

/**
 * The hover toolbar's pin toggle; shown by the caller to members with
 * PIN_MESSAGES. It follows the pins itself, since message rows re-render
 * only when their message changes.
 */
export function PinButton({ client, roomId, eventId }: { client: MatrixClient; roomId: string; eventId: string }) {
  const subscribe = useCallback((onChange: () => void) => watchPins(client, onChange), [client]);
  const pinned = useSyncExternalStore(subscribe, () => isPinned(client.getRoom(roomId), eventId));
  const label = pinned ? "Unpin" : "Pin";
  return (
    <button aria-label={label} title={label} onClick={() => pinEvent(client, roomId, eventId, !pinned).catch(() => undefined)}>
      📌
    </button>
  );
}
