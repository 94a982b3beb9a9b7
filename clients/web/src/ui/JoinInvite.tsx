// Joining a server by invite code or link: preview, then join.
import { useState } from "react";
import type { NexusApi } from "../matrix/nexus";
import { describeError } from "../matrix/session";
import { useAsync } from "./hooks";
import { Modal } from "./Modal";

/** Accepts a bare code or any link ending in `/invite/<code>`. */
export function inviteCode(input: string): string {
  const trimmed = input.trim();
  const match = /invite\/([A-Za-z0-9]+)\/?$/.exec(trimmed);
  return match ? match[1] : trimmed;
}

export function JoinInvite({ api, code: given, onClose, onJoined }: { api: NexusApi; code?: string; onClose: () => void; onJoined: (serverId: string) => void }) {
  const [input, setInput] = useState(given ?? "");
  const code = inviteCode(input);
  const { value: preview, error } = useAsync(async () => (code.length >= 6 ? api.invite(code) : null), [code]);
  const [joinError, setJoinError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const join = async () => {
    setBusy(true);
    try {
      const { server_id } = await api.joinInvite(code);
      onJoined(server_id);
    } catch (err) {
      setJoinError(describeError(err));
      setBusy(false);
    }
  };
  return (
    <Modal title="Join a server" onClose={onClose}>
      <label>
        Invite link or code
        <input name="invite" value={input} onChange={(e) => setInput(e.target.value)} placeholder="https://…/#/invite/hTKzmak2Xq" />
      </label>
      {preview && (
        <div className="invite-preview">
          <strong>{preview.server.name ?? "A server"}</strong>
          <span className="muted"> · {preview.server.num_joined_members} members</span>
          {preview.server.topic && <p>{preview.server.topic}</p>}
        </div>
      )}
      {!preview && error && code.length >= 6 ? <p className="error">This invite is invalid or has expired.</p> : null}
      {joinError && <p className="error" role="alert">{joinError}</p>}
      <button className="primary" disabled={!preview || busy} onClick={join}>
        Join server
      </button>
    </Modal>
  );
}
