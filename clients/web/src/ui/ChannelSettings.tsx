// A channel's settings, as Discord's "Edit channel": its overview (name,
// topic, slowmode, category, deletion) through the Nexus API (§22), its
// permission overwrites (§8) written as room state, and the one-way switch
// to end-to-end encryption. The homeserver judges every change (§14); its
// refusals are shown as they come.
import { EventType, type MatrixClient, MatrixError } from "matrix-js-sdk";
import { type FormEvent, type KeyboardEvent, useId, useRef, useState } from "react";
import {
  EVERYONE,
  type FlagState,
  MAX_OVERWRITES,
  OVERWRITES_EVENT,
  OVERWRITE_GROUPS,
  type OverwriteTarget,
  type Overwrites,
  addTarget,
  flagState,
  hasOverwrite,
  memberTargets,
  overwriteCount,
  parseOverwrites,
  removeTarget,
  sameOverwrites,
  serializeOverwrites,
  setFlag,
} from "../logic/overwrites";
import { Permissions, permissionLabel } from "../logic/permissions";
import { type ChannelContent, type ChannelEntry, type Overview } from "../matrix/nexus";
import { describeError } from "../matrix/session";
import { useAsync, useStateChanges } from "./hooks";
import { Modal } from "./Modal";
import type { Props } from "./Shell";

const TABS = ["Overview", "Permissions", "Encryption"] as const;
type Tab = (typeof TABS)[number];

type ChannelSettingsProps = Props & {
  overview: Overview;
  channel: ChannelEntry;
  onClose: () => void;
  /** After a change the sidebar shows (name, category): it reloads the overview. */
  onChanged: () => void;
  onDeleted: (roomId: string) => void;
};

function channelLabel(client: MatrixClient, channel: ChannelEntry): string {
  return channel.name ?? client.getRoom(channel.room_id)?.name ?? "channel";
}

export function ChannelSettings(props: ChannelSettingsProps) {
  const [tab, setTab] = useState<Tab>("Overview");
  const ids = useId();
  const tabRefs = useRef<(HTMLButtonElement | null)[]>([]);
  // Re-read the room's state (overwrites, encryption) as soon as it changes.
  useStateChanges(props.client, (id) => id === props.channel.room_id);

  // Arrow keys move between tabs, as the ARIA tabs pattern expects.
  const onTabKey = (e: KeyboardEvent, index: number) => {
    const step = e.key === "ArrowDown" || e.key === "ArrowRight" ? 1 : e.key === "ArrowUp" || e.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    e.preventDefault();
    const next = (index + step + TABS.length) % TABS.length;
    setTab(TABS[next]);
    tabRefs.current[next]?.focus();
  };

  return (
    <Modal title={`#${channelLabel(props.client, props.channel)} settings`} onClose={props.onClose} wide>
      <div className="settings channel-settings">
        <div role="tablist" aria-orientation="vertical" aria-label="Channel settings" className="tabs">
          {TABS.map((t, i) => (
            <button
              key={t}
              ref={(el) => {
                tabRefs.current[i] = el;
              }}
              id={`${ids}-tab-${i}`}
              role="tab"
              aria-selected={tab === t}
              aria-controls={`${ids}-panel`}
              tabIndex={tab === t ? 0 : -1}
              onClick={() => setTab(t)}
              onKeyDown={(e) => onTabKey(e, i)}
            >
              {t}
            </button>
          ))}
        </div>
        <section role="tabpanel" id={`${ids}-panel`} aria-labelledby={`${ids}-tab-${TABS.indexOf(tab)}`} className="tab-panel">
          {tab === "Overview" && <ChannelOverview key={props.channel.room_id} {...props} />}
          {tab === "Permissions" && <ChannelPermissions key={props.channel.room_id} {...props} />}
          {tab === "Encryption" && <ChannelEncryption key={props.channel.room_id} {...props} />}
        </section>
      </div>
    </Modal>
  );
}

/** Discord's slowmode choices, in seconds (0 is off). */
const SLOWMODE_CHOICES = [0, 5, 10, 30, 60, 300, 600, 3600];

function slowmodeLabel(seconds: number): string {
  if (seconds <= 0) return "Off";
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

function ChannelOverview({ client, api, overview, channel, onChanged, onDeleted }: ChannelSettingsProps) {
  const saved: ChannelContent = channel.channel;
  const savedName = channelLabel(client, channel);
  const [name, setName] = useState(savedName);
  const [topic, setTopic] = useState(saved.topic ?? "");
  const [slowmode, setSlowmode] = useState(saved.slowmode_seconds ?? 0);
  const [category, setCategory] = useState(saved.category ?? "");
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const hintId = useId();
  const categories = overview.server.categories ?? [];
  // A value set elsewhere (a bot, another client) stays selectable.
  const slowmodeChoices = SLOWMODE_CHOICES.includes(slowmode) ? SLOWMODE_CHOICES : [...SLOWMODE_CHOICES, slowmode].sort((a, b) => a - b);

  // Only what changed is sent: absent fields stay as they are (§22).
  const changes: { name?: string; topic?: string; slowmode_seconds?: number; category?: string | null } = {};
  if (name.trim() !== savedName) changes.name = name.trim();
  if (topic !== (saved.topic ?? "")) changes.topic = topic;
  if (slowmode !== (saved.slowmode_seconds ?? 0)) changes.slowmode_seconds = slowmode;
  if (category !== (saved.category ?? "")) changes.category = category || null;
  const dirty = Object.keys(changes).length > 0;

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setStatus(null);
    try {
      await api.editChannel(channel.room_id, changes);
      setStatus("Saved.");
      onChanged();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <form onSubmit={save}>
        <label>
          Channel name
          <input name="channel-name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Channel topic
          <textarea
            name="channel-topic"
            rows={3}
            maxLength={saved.type === "forum" ? 4096 : 1024}
            value={topic}
            placeholder="Let everyone know how to use this channel"
            onChange={(e) => setTopic(e.target.value)}
          />
        </label>
        <label>
          Slowmode
          <select name="slowmode" value={slowmode} aria-describedby={hintId} onChange={(e) => setSlowmode(Number(e.target.value))}>
            {slowmodeChoices.map((s) => (
              <option key={s} value={s}>
                {slowmodeLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <p id={hintId} className="muted hint">
          Members must wait this long between messages, unless they can bypass slowmode.
        </p>
        <label>
          Category
          <select name="category" value={category} onChange={(e) => setCategory(e.target.value)}>
            <option value="">No category</option>
            {categories.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
            {category && !categories.some((c) => c.id === category) && <option value={category}>Unknown category</option>}
          </select>
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="save-bar">
          <button className="primary" type="submit" disabled={!dirty || busy || !name.trim()}>
            Save changes
          </button>
          {status && !dirty && <span role="status">{status}</span>}
        </div>
      </form>
      <DeleteChannel api={api} channel={channel} label={savedName} onDeleted={onDeleted} />
    </>
  );
}

function DeleteChannel({ api, channel, label, onDeleted }: Pick<ChannelSettingsProps, "api" | "channel" | "onDeleted"> & { label: string }) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const remove = async () => {
    setError(null);
    try {
      await api.deleteChannel(channel.room_id);
      onDeleted(channel.room_id);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <section className="danger-zone" aria-label="Delete channel">
      {confirming ? (
        <div role="group" aria-label="Confirm deletion" className="confirm">
          <p>
            Delete <strong>#{label}</strong>? It leaves the server for everyone. Matrix rooms cannot be destroyed, so its members keep the room and
            its history, outside the server.
          </p>
          <div className="row">
            <button className="danger" onClick={remove}>
              Yes, delete channel
            </button>
            <button onClick={() => setConfirming(false)}>Cancel</button>
          </div>
        </div>
      ) : (
        <button className="danger" onClick={() => setConfirming(true)}>
          Delete channel
        </button>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

/**
 * The channel's current overwrites: from the synced room when joined,
 * otherwise fetched (a manager may edit a channel they never opened).
 */
function useCurrentOverwrites(client: MatrixClient, roomId: string): { current: Overwrites | undefined; error: unknown; refetch: () => void } {
  const room = client.getRoom(roomId);
  const joined = room?.getMyMembership() === "join";
  const fetched = useAsync(async () => {
    if (joined) return null;
    try {
      return parseOverwrites(await client.getStateEvent(roomId, OVERWRITES_EVENT, ""));
    } catch (err) {
      // No event yet is no overwrites.
      if (err instanceof MatrixError && err.errcode === "M_NOT_FOUND") return parseOverwrites({});
      throw err;
    }
  }, [roomId, joined]);
  if (room && joined) {
    return { current: parseOverwrites(room.currentState.getStateEvents(OVERWRITES_EVENT, "")?.getContent()), error: undefined, refetch: () => {} };
  }
  return { current: fetched.value ?? undefined, error: fetched.error, refetch: fetched.reload };
}

function targetKey(target: OverwriteTarget): string {
  return `${target.kind}:${target.id}`;
}

function ChannelPermissions({ client, api, overview, channel }: ChannelSettingsProps) {
  const { current, error: loadError, refetch } = useCurrentOverwrites(client, channel.room_id);
  const { value: mine } = useAsync(() => api.permissions(channel.room_id), [channel.room_id]);
  const [draft, setDraft] = useState<Overwrites | null>(null);
  const [selected, setSelected] = useState<OverwriteTarget>({ kind: "role", id: EVERYONE });
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (!current) {
    return loadError ? (
      <p className="error" role="alert">
        {describeError(loadError)}
      </p>
    ) : (
      <p className="muted">Loading…</p>
    );
  }
  const shown = draft ?? current;
  const dirty = !!draft && !sameOverwrites(draft, current);
  // §14: only bits the editor holds in the channel may be switched; the owner and administrators hold all.
  const held = mine ? Permissions.parse(mine.permissions) : null;
  const canEdit = (flag: string) => !held || held.has(flag);
  const space = client.getRoom(overview.server_id);
  const memberName = (userId: string) => space?.getMember(userId)?.name ?? userId;
  const roles = Object.entries(overview.roles).sort(([a, ra], [b, rb]) => (a === EVERYONE ? 1 : b === EVERYONE ? -1 : rb.position - ra.position));
  const members = memberTargets(shown);
  const addable = (space?.getJoinedMembers() ?? []).filter((m) => !hasOverwrite(shown, { kind: "member", id: m.userId }));
  const targetName = (t: OverwriteTarget) => (t.kind === "member" ? memberName(t.id) : t.id === EVERYONE ? "@everyone" : (overview.roles[t.id]?.name ?? t.id));

  const edit = (next: Overwrites) => {
    setDraft(next);
    setStatus(null);
    setError(null);
  };
  const pick = (target: OverwriteTarget) => setSelected(target);
  const addMember = (userId: string) => {
    if (!userId) return;
    const target: OverwriteTarget = { kind: "member", id: userId };
    edit(addTarget(shown, target));
    setSelected(target);
  };
  const clearSelected = () => {
    edit(removeTarget(shown, selected));
    if (selected.kind === "member") setSelected({ kind: "role", id: EVERYONE });
  };
  const save = async () => {
    if (!draft) return;
    if (overwriteCount(draft) > MAX_OVERWRITES) {
      setError(`A channel holds at most ${MAX_OVERWRITES} overwrites.`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      // The whole content is the event: every other role's and member's overwrite goes with it.
      await client.sendStateEvent(channel.room_id, OVERWRITES_EVENT as never, serializeOverwrites(draft) as never, "");
      setStatus("Saved.");
      refetch();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="roles overwrites">
      <div className="role-list">
        <h3 className="category">Roles</h3>
        <ul role="listbox" aria-label="Roles and members">
          {roles.map(([id, role]) => {
            const target: OverwriteTarget = { kind: "role", id };
            return (
              <li key={id} role="option" aria-selected={targetKey(selected) === targetKey(target)}>
                <button onClick={() => pick(target)}>
                  {id === EVERYONE ? "@everyone" : role.name}
                  {hasOverwrite(shown, target) && (
                    <span className="overwrite-mark" role="img" aria-label="has overwrites" title="Has overwrites in this channel">
                      ●
                    </span>
                  )}
                </button>
              </li>
            );
          })}
          {members.map((userId) => {
            const target: OverwriteTarget = { kind: "member", id: userId };
            return (
              <li key={userId} role="option" aria-selected={targetKey(selected) === targetKey(target)}>
                <button onClick={() => pick(target)} title={userId}>
                  👤 {memberName(userId)}
                </button>
              </li>
            );
          })}
        </ul>
        {addable.length > 0 && (
          <label>
            Add a member
            <select value="" onChange={(e) => addMember(e.target.value)}>
              <option value="">Choose…</option>
              {addable.map((m) => (
                <option key={m.userId} value={m.userId}>
                  {m.name} ({m.userId})
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      <div className="role-editor">
        <div className="overwrite-head">
          <h3>{targetName(selected)}</h3>
          {hasOverwrite(shown, selected) && (
            <button onClick={clearSelected}>{selected.kind === "member" ? "Remove member" : "Clear overwrites"}</button>
          )}
        </div>
        <p className="muted hint">
          ✕ denies, / inherits from the server's roles, ✓ allows — in this channel only. Member overwrites beat role overwrites, which beat
          @everyone's.
        </p>
        {held && !held.has("MANAGE_ROLES") && <p className="muted">You need Manage Roles in this channel to change its permissions.</p>}
        {OVERWRITE_GROUPS.map((group) => (
          <fieldset key={group.title}>
            <legend>{group.title} permissions</legend>
            {group.flags.map((flag) => (
              <div key={flag} className="overwrite-row">
                <span className="overwrite-flag">{permissionLabel(flag)}</span>
                <TriState
                  label={permissionLabel(flag)}
                  value={flagState(shown, selected, flag)}
                  disabled={!canEdit(flag)}
                  onChange={(state) => edit(setFlag(shown, selected, flag, state))}
                />
              </div>
            ))}
          </fieldset>
        ))}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="save-bar">
          <button className="primary" disabled={!dirty || busy} onClick={save}>
            Save changes
          </button>
          {dirty && <button onClick={() => setDraft(null)}>Reset</button>}
          {status && !dirty && <span role="status">{status}</span>}
        </div>
      </div>
    </div>
  );
}

const STATES: { value: FlagState; symbol: string; title: string }[] = [
  { value: "deny", symbol: "✕", title: "Deny" },
  { value: "inherit", symbol: "/", title: "Inherit" },
  { value: "allow", symbol: "✓", title: "Allow" },
];

/** Deny / inherit / allow as one radio group: native radios give arrow-key movement. */
function TriState({ label, value, disabled, onChange }: { label: string; value: FlagState; disabled: boolean; onChange: (state: FlagState) => void }) {
  const name = useId();
  return (
    <div role="radiogroup" aria-label={label} className="tri-state" title={disabled ? "You do not hold this permission here" : undefined}>
      {STATES.map((s) => (
        <label key={s.value} className={`tri ${s.value}`} title={s.title}>
          <input type="radio" name={name} value={s.value} aria-label={s.title} checked={value === s.value} disabled={disabled} onChange={() => onChange(s.value)} />
          <span aria-hidden="true">{s.symbol}</span>
        </label>
      ))}
    </div>
  );
}

function ChannelEncryption({ client, channel }: ChannelSettingsProps) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const room = client.getRoom(channel.room_id);
  const algorithm = room?.currentState.getStateEvents(EventType.RoomEncryption, "")?.getContent()?.algorithm;

  if (algorithm) {
    return (
      <div className="encryption">
        <p role="status" className="encrypted-badge">
          🔒 Encrypted
        </p>
        <p className="muted">Messages in this channel are end-to-end encrypted ({algorithm}). Encryption cannot be turned off.</p>
      </div>
    );
  }

  const encrypt = async () => {
    setBusy(true);
    setError(null);
    try {
      await client.sendStateEvent(channel.room_id, EventType.RoomEncryption, { algorithm: "m.megolm.v1.aes-sha2" }, "");
      setConfirming(false);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="encryption">
      <p>End-to-end encryption lets only the members' devices read this channel's messages.</p>
      <ul className="muted">
        <li>It cannot be undone: once on, encryption stays on for this channel.</li>
        <li>Encrypted channels are not searchable on the server, and URL previews and server-side tools cannot read them.</li>
        <li>Members who join later may not be able to read messages sent before they joined.</li>
      </ul>
      {confirming ? (
        <div role="group" aria-label="Confirm encryption" className="confirm">
          <p>Turn on encryption for this channel for good?</p>
          <div className="row">
            <button className="primary" disabled={busy} onClick={encrypt}>
              Yes, encrypt
            </button>
            <button onClick={() => setConfirming(false)}>Cancel</button>
          </div>
        </div>
      ) : (
        <button className="primary" onClick={() => setConfirming(true)} disabled={!room}>
          Encrypt this channel
        </button>
      )}
      {!room && <p className="muted">Open the channel first: only its members can turn encryption on.</p>}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
