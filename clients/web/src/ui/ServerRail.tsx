// The servers rail: direct messages, each server with its unread dot and
// mention badge, and buttons to create or join one.
import { type FormEvent, useState } from "react";
import { servers } from "../matrix/rooms";
import { describeError } from "../matrix/session";
import { Avatar } from "./Avatar";
import { Modal } from "./Modal";
import type { Props } from "./Shell";

type RailProps = Props & {
  current?: string;
  onHome: () => void;
  onServer: (id: string) => void;
  onJoin: () => void;
};

export function ServerRail({ client, api, current, onHome, onServer, onJoin }: RailProps) {
  const [creating, setCreating] = useState(false);
  return (
    <nav className="rail" aria-label="Servers">
      <button className={current === "home" ? "rail-item active" : "rail-item"} aria-label="Direct messages" title="Direct messages" onClick={onHome}>
        <span className="home-icon" aria-hidden="true">
          ✦
        </span>
      </button>
      <hr />
      <ul role="list">
        {servers(client).map((server) => (
          <li key={server.roomId}>
            <button
              className={current === server.roomId ? "rail-item active" : "rail-item"}
              aria-label={`${server.name}${server.mentions ? `, ${server.mentions} mentions` : server.unread ? ", unread" : ""}`}
              aria-current={current === server.roomId ? "page" : undefined}
              title={server.name}
              onClick={() => onServer(server.roomId)}
            >
              <Avatar id={server.roomId} name={server.name} size={48} client={client} mxc={serverIcon(client, server.roomId)} />
              {server.unread > 0 && current !== server.roomId && <span className="unread-dot" aria-hidden="true" />}
              {server.mentions > 0 && (
                <span className="badge" aria-hidden="true">
                  {server.mentions}
                </span>
              )}
            </button>
          </li>
        ))}
      </ul>
      <button className="rail-item add" aria-label="Create a server" title="Create a server" onClick={() => setCreating(true)}>
        +
      </button>
      <button className="rail-item add" aria-label="Join a server" title="Join a server" onClick={onJoin}>
        ⇥
      </button>
      {creating && (
        <CreateServer
          onClose={() => setCreating(false)}
          create={async (name) => {
            const { server_id } = await api.createServer(name);
            setCreating(false);
            onServer(server_id);
          }}
        />
      )}
    </nav>
  );
}

function CreateServer({ onClose, create }: { onClose: () => void; create: (name: string) => Promise<void> }) {
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      await create(name.trim());
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };
  return (
    <Modal title="Create a server" onClose={onClose}>
      <form onSubmit={submit}>
        <p className="muted">Your server is where you and your friends hang out.</p>
        <label>
          Server name
          <input name="server-name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button className="primary" type="submit" disabled={busy || !name.trim()}>
          Create
        </button>
      </form>
    </Modal>
  );
}

/** A server's icon: `nexus.server`'s, which wins over `m.room.avatar` when they differ (§4.2). */
function serverIcon(client: Props["client"], spaceId: string): string | null {
  const space = client.getRoom(spaceId);
  const icon = space?.currentState.getStateEvents("nexus.server", "")?.getContent()?.icon;
  return typeof icon === "string" ? icon : space?.getMxcAvatarUrl() ?? null;
}
