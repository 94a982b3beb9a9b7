// Server settings: overview, roles and their permissions (Discord's flag
// names), members (roles, timeout, kick, ban), invites and the audit log.
// Every change goes through the homeserver's Nexus API, which checks it.
import { type FormEvent, useState } from "react";
import { PERMISSION_GROUPS, Permissions, permissionLabel, roleColour } from "../logic/permissions";
import { type Overview, type Role } from "../matrix/nexus";
import { SERVER_PACK, addServerEmoji } from "../matrix/emoji";
import { describeError } from "../matrix/session";
import { EmojiKey } from "./media";
import { useAsync } from "./hooks";
import { Modal } from "./Modal";
import type { Props } from "./Shell";

const TABS = ["Overview", "Roles", "Emoji", "Members", "Invites", "Audit log"] as const;

type SettingsProps = Props & { overview: Overview; onClose: () => void; onChanged: () => void };

export function ServerSettings(props: SettingsProps) {
  const [tab, setTab] = useState<(typeof TABS)[number]>("Roles");
  return (
    <Modal title={`${props.overview.name ?? "Server"} settings`} onClose={props.onClose} wide>
      <div className="settings">
        <div role="tablist" aria-orientation="vertical" className="tabs">
          {TABS.map((t) => (
            <button key={t} role="tab" aria-selected={tab === t} onClick={() => setTab(t)}>
              {t}
            </button>
          ))}
        </div>
        <section role="tabpanel" aria-label={tab} className="tab-panel">
          {tab === "Overview" && <ServerOverview {...props} />}
          {tab === "Roles" && <Roles {...props} />}
          {tab === "Emoji" && <EmojiTab {...props} />}
          {tab === "Members" && <Members {...props} />}
          {tab === "Invites" && <Invites {...props} />}
          {tab === "Audit log" && <AuditLog {...props} />}
        </section>
      </div>
    </Modal>
  );
}

function ServerOverview({ client, overview }: SettingsProps) {
  const [name, setName] = useState(overview.name ?? "");
  const [status, setStatus] = useState<string | null>(null);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await client.setRoomName(overview.server_id, name.trim());
      setStatus("Saved.");
    } catch (err) {
      setStatus(describeError(err));
    }
  };
  return (
    <form onSubmit={save}>
      <label>
        Server name
        <input name="server-name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
      </label>
      <button type="submit">Save</button>
      <label>
        Server icon
        <input
          type="file"
          accept="image/png,image/jpeg,image/gif,image/webp"
          onChange={async (e) => {
            const file = e.target.files?.[0];
            if (!file) return;
            try {
              await setServerIcon(client, overview.server_id, file);
              setStatus("Icon saved.");
            } catch (err) {
              setStatus(describeError(err));
            }
          }}
        />
      </label>
      {status && <p role="status">{status}</p>}
    </form>
  );
}

/** The icon lives in `nexus.server` and, for stock clients, in `m.room.avatar` (§4.2 mirrors them). */
async function setServerIcon(client: Props["client"], spaceId: string, file: File): Promise<void> {
  const { content_uri } = await client.uploadContent(file, { name: file.name, type: file.type });
  const current = client.getRoom(spaceId)?.currentState.getStateEvents("nexus.server", "")?.getContent() ?? {};
  await client.sendStateEvent(spaceId, "nexus.server" as never, { ...current, icon: content_uri } as never, "");
  await client.sendStateEvent(spaceId, "m.room.avatar" as never, { url: content_uri } as never, "");
}

function Roles({ api, overview, onChanged }: SettingsProps) {
  const roles = Object.entries(overview.roles).sort(([, a], [, b]) => b.position - a.position);
  const [selected, setSelected] = useState<string>(roles[0]?.[0] ?? "everyone");
  const [draft, setDraft] = useState<Role | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const current = draft ?? overview.roles[selected];
  const perms = Permissions.parse(current?.permissions);

  const pick = (id: string) => {
    setSelected(id);
    setDraft(null);
    setStatus(null);
  };
  const save = async () => {
    if (!draft) return;
    try {
      await api.putRole(overview.server_id, selected, draft);
      setStatus("Saved.");
      setDraft(null);
      onChanged();
    } catch (err) {
      setStatus(describeError(err));
    }
  };
  const create = async () => {
    const top = Math.max(0, ...roles.map(([, r]) => r.position));
    try {
      const { role_id } = await api.createRole(overview.server_id, { name: "new role", position: top + 1, permissions: "0" });
      onChanged();
      setSelected(role_id);
      setDraft(null);
    } catch (err) {
      setStatus(describeError(err));
    }
  };

  return (
    <div className="roles">
      <div className="role-list">
        <button onClick={create}>Create role</button>
        <ul role="listbox" aria-label="Roles">
          {roles.map(([id, role]) => (
            <li key={id} role="option" aria-selected={id === selected}>
              <button onClick={() => pick(id)}>
                <span className="role-dot" style={{ background: roleColour(role.colours) ?? "var(--text-muted)" }} aria-hidden="true" />
                {id === "everyone" ? "@everyone" : role.name}
              </button>
            </li>
          ))}
        </ul>
      </div>
      {current && (
        <div className="role-editor">
          {selected !== "everyone" && (
            <>
              <label>
                Role name
                <input name="role-name" value={current.name} maxLength={100} onChange={(e) => setDraft({ ...current, name: e.target.value })} />
              </label>
              <label>
                Colour
                <input
                  type="color"
                  name="role-colour"
                  value={roleColour(current.colours) ?? "#99aab5"}
                  onChange={(e) => setDraft({ ...current, colours: { primary: parseInt(e.target.value.slice(1), 16) } })}
                />
              </label>
              <label className="switch">
                <input type="checkbox" checked={!!current.hoist} onChange={(e) => setDraft({ ...current, hoist: e.target.checked })} /> Show members
                separately
              </label>
            </>
          )}
          {PERMISSION_GROUPS.map((group) => (
            <fieldset key={group.title}>
              <legend>{group.title} permissions</legend>
              {group.flags.map((flag) => (
                <label key={flag} className="switch">
                  <input
                    type="checkbox"
                    name={flag}
                    checked={(perms.bits & Permissions.of(flag).bits) !== 0n}
                    onChange={(e) => setDraft({ ...current, permissions: perms.with(flag, e.target.checked).toString() })}
                  />{" "}
                  {permissionLabel(flag)}
                </label>
              ))}
            </fieldset>
          ))}
          <div className="save-bar">
            <button className="primary" disabled={!draft} onClick={save}>
              Save changes
            </button>
            {status && <span role="status">{status}</span>}
          </div>
        </div>
      )}
    </div>
  );
}

function Members({ client, api, overview, onChanged }: SettingsProps) {
  const space = client.getRoom(overview.server_id);
  const [status, setStatus] = useState<string | null>(null);
  const roles = Object.entries(overview.roles).filter(([id]) => id !== "everyone");
  const run = async (action: () => Promise<unknown>, done: string) => {
    try {
      await action();
      setStatus(done);
      onChanged();
    } catch (err) {
      setStatus(describeError(err));
    }
  };
  return (
    <>
      {status && <p role="status">{status}</p>}
      <ul role="list" className="member-admin">
        {(space?.getJoinedMembers() ?? []).map((member) => {
          const held = (space?.currentState.getStateEvents("nexus.member", member.userId)?.getContent()?.roles ?? []) as string[];
          return (
            <li key={member.userId} data-user={member.userId}>
              <strong>{member.name}</strong> <span className="muted">{member.userId}</span>
              <div className="member-roles">
                {roles.map(([id, role]) => (
                  <label key={id} className="chip">
                    <input
                      type="checkbox"
                      aria-label={`${role.name} role for ${member.name}`}
                      checked={held.includes(id)}
                      onChange={(e) => run(() => api.assignRole(overview.server_id, member.userId, id, e.target.checked), "Roles updated.")}
                    />{" "}
                    {role.name}
                  </label>
                ))}
              </div>
              {member.userId !== overview.server.owner && member.userId !== client.getUserId() && (
                <div className="row">
                  <button onClick={() => run(() => api.timeout(overview.server_id, member.userId, Date.now() + 10 * 60 * 1000), "Timed out for 10 minutes.")}>
                    Time out 10 min
                  </button>
                  <button onClick={() => run(() => api.kick(overview.server_id, member.userId), "Kicked.")}>Kick</button>
                  <button className="danger" onClick={() => run(() => api.ban(overview.server_id, member.userId), "Banned.")}>
                    Ban
                  </button>
                </div>
              )}
            </li>
          );
        })}
      </ul>
    </>
  );
}

function Invites({ api, overview }: SettingsProps) {
  const { value, error } = useAsync(() => api.invites(overview.server_id), [overview.server_id]);
  if (error) return <p className="error">{describeError(error)}</p>;
  return (
    <ul role="list" className="invites">
      {(value?.invites ?? []).map((invite) => (
        <li key={invite.code}>
          <code>{invite.code}</code> by {invite.inviter} · {invite.uses ?? 0}
          {invite.max_uses ? `/${invite.max_uses}` : ""} uses
          {invite.expires_ts ? ` · expires ${new Date(invite.expires_ts).toLocaleString()}` : " · never expires"}
        </li>
      ))}
    </ul>
  );
}

function AuditLog({ api, overview }: SettingsProps) {
  const { value, error } = useAsync(() => api.auditLog(overview.server_id), [overview.server_id]);
  if (error) return <p className="error">{describeError(error)}</p>;
  return (
    <ol role="list" className="audit-log">
      {(value?.entries ?? []).map((entry) => (
        <li key={entry.id}>
          <time>{new Date(entry.created_ts).toLocaleString()}</time> <strong>{entry.user_id}</strong> {entry.action.replace(/_/g, " ")}
          {entry.target_id ? ` → ${entry.target_id}` : ""}
          {entry.reason ? ` (${entry.reason})` : ""}
        </li>
      ))}
    </ol>
  );
}

function EmojiTab({ client, overview }: SettingsProps) {
  const space = client.getRoom(overview.server_id);
  const images = (space?.currentState.getStateEvents("im.ponies.room_emotes", SERVER_PACK)?.getContent()?.images ?? {}) as Record<string, { url: string }>;
  const [shortcode, setShortcode] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const upload = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    try {
      await addServerEmoji(client, overview.server_id, shortcode.trim(), file);
      setStatus(`:${shortcode.trim()}: added.`);
      setShortcode("");
      setFile(null);
    } catch (err) {
      setStatus(describeError(err));
    }
  };
  return (
    <>
      <p className="muted">Custom emoji anyone in the server can use in messages and reactions, as :shortcode:.</p>
      <ul role="list" className="emoji-list">
        {Object.entries(images).map(([code, image]) => (
          <li key={code}>
            <EmojiKey client={client} emojiKey={image.url} label={`:${code}:`} /> :{code}:
          </li>
        ))}
      </ul>
      <form onSubmit={upload}>
        <label>
          Image
          <input type="file" name="emoji-file" accept="image/png,image/gif,image/webp,image/jpeg" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </label>
        <label>
          Shortcode
          <input name="emoji-shortcode" required pattern="[^:/\\s]{1,100}" value={shortcode} onChange={(e) => setShortcode(e.target.value)} />
        </label>
        <button className="primary" type="submit" disabled={!file || !shortcode.trim()}>
          Upload emoji
        </button>
      </form>
      {status && <p role="status">{status}</p>}
    </>
  );
}
