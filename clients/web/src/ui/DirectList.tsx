// Direct messages: the list, and starting one with anyone by their Matrix ID.
// New DMs are end-to-end encrypted by default when this client has crypto.
import { type FormEvent, useState } from "react";
import { directRooms, dmPartner, markDirect, unread } from "../matrix/rooms";
import { describeError } from "../matrix/session";
import { Avatar } from "./Avatar";
import { Modal } from "./Modal";
import type { Props } from "./Shell";

export function DirectList({ client, roomId, onRoom }: Omit<Props, "api"> & { roomId?: string; onRoom: (id: string) => void }) {
  const [starting, setStarting] = useState(false);
  const rooms = directRooms(client);
  return (
    <nav className="channels" aria-label="Direct messages">
      <header className="server-header">
        <h2 className="server-name">Direct messages</h2>
        <button className="icon" aria-label="Start a conversation" title="Start a conversation" onClick={() => setStarting(true)}>
          +
        </button>
      </header>
      <ul role="list" className="channel-groups">
        {rooms.map((room) => {
          const partner = dmPartner(client, room);
          const invited = room.getMyMembership() === "invite";
          const counts = unread(room);
          // An invite's room has only the stripped state the invite carries,
          // often no name and no heroes (a bot's direct room, say): say who
          // invited, rather than "Empty room".
          const inviter = invited ? room.getMember(client.getUserId()!)?.events.member?.getSender() : undefined;
          const name = inviter && !room.currentState.getStateEvents("m.room.name", "")
            ? room.getMember(inviter)?.name ?? client.getUser(inviter)?.displayName ?? inviter
            : room.name;
          return (
            <li key={room.roomId}>
              <button
                className={`channel${roomId === room.roomId ? " active" : ""}${counts.unread ? " unread" : ""}`}
                aria-current={roomId === room.roomId ? "page" : undefined}
                onClick={async () => {
                  if (invited) {
                    await client.joinRoom(room.roomId);
                    if (inviter) await markDirect(client, inviter, room.roomId);
                  }
                  onRoom(room.roomId);
                }}
              >
                <Avatar id={partner ?? inviter ?? room.roomId} name={name} size={32} />
                <span className="channel-name">{name}</span>
                {invited && <span className="badge">new</span>}
                {counts.mentions > 0 && <span className="badge">{counts.mentions}</span>}
              </button>
            </li>
          );
        })}
      </ul>
      {starting && (
        <StartDm
          onClose={() => setStarting(false)}
          start={async (userId) => {
            const { room_id } = await client.createRoom({
              is_direct: true,
              invite: [userId],
              preset: "trusted_private_chat" as never,
              initial_state: client.getCrypto() ? [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] : [],
            });
            await markDirect(client, userId, room_id);
            setStarting(false);
            onRoom(room_id);
          }}
        />
      )}
    </nav>
  );
}

function StartDm({ onClose, start }: { onClose: () => void; start: (userId: string) => Promise<void> }) {
  const [userId, setUserId] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await start(userId.trim());
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <Modal title="Start a conversation" onClose={onClose}>
      <form onSubmit={submit}>
        <label>
          Matrix ID
          <input name="user-id" placeholder="@friend:example.org" required pattern="@[^:]+:.+" value={userId} onChange={(e) => setUserId(e.target.value)} />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button className="primary" type="submit">
          Start
        </button>
      </form>
    </Modal>
  );
}
