// A server's sidebar: its name and menu, then its channels by category as
// the homeserver lists them for this member (§22 overview), with unread
// and mention counts, drag-and-drop reordering and channel creation.
import type React from "react";
import { type DragEvent, type FormEvent, useCallback, useEffect, useRef, useState } from "react";
import { type ChannelEntry, type Overview, orderChannels } from "../matrix/nexus";
import { parentServer, unread } from "../matrix/rooms";
import { describeError } from "../matrix/session";
import { Permissions } from "../logic/permissions";
import { useAsync, useStateChanges } from "./hooks";
import { Modal } from "./Modal";
import { ScheduledEventsDialog } from "./ScheduledEvents";
import { ServerSettings } from "./ServerSettings";
import { ChannelSettings } from "./ChannelSettings";
import { NotificationSettings } from "./NotificationSettings";
import { roomPushState } from "../logic/roomPushState";
import { serverDefaultLevel } from "../logic/notificationLevels";
import type { Props } from "./Shell";
import { VoiceChannelMembers } from "./Voice";
import { isVoiceChannel } from "../logic/voice";

type SidebarProps = Props & { serverId: string; roomId?: string; onChannel: (roomId: string) => void; onLeft: () => void };

const CHANNEL_ICON: Record<string, string> = { text: "#", voice: "🔊", announcement: "📣", forum: "💬", stage: "🎙" };

export function ServerSidebar({ client, api, serverId, roomId, onChannel, onLeft }: SidebarProps) {
  const changes = useStateChanges(client, (id) => {
    if (id === serverId) return true;
    const room = client.getRoom(id);
    return !!room && parentServer(client, room)?.roomId === serverId;
  });
  const { value: overview, error, reload } = useAsync(() => api.overview(serverId), [serverId, changes]);
  const [menu, setMenu] = useState(false);
  const [dialog, setDialog] = useState<"invite" | "settings" | "channel" | "events" | "notifications" | null>(null);
  const [dragging, setDragging] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  // Stable, because Modal refocuses its first field whenever onClose changes.
  const closeEditing = useCallback(() => setEditing(null), []);

  // The menu behaves as menus do: focus on its first item, arrows move,
  // Escape closes it and returns to the button.
  const menuRef = useRef<HTMLUListElement>(null);
  const menuButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (menu) menuRef.current?.querySelector<HTMLElement>("[role=menuitem]")?.focus();
  }, [menu]);
  const menuKeys = (e: React.KeyboardEvent) => {
    const items = [...(menuRef.current?.querySelectorAll<HTMLElement>("[role=menuitem]") ?? [])];
    const at = items.indexOf(document.activeElement as HTMLElement);
    if (e.key === "Escape") {
      setMenu(false);
      menuButton.current?.focus();
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : items.length - 1;
      items[(at + step) % items.length]?.focus();
    }
  };

  if (!overview) {
    return <nav className="channels">{error ? <p className="error">{describeError(error)}</p> : <p className="muted">Loading…</p>}</nav>;
  }
  const perms = Permissions.parse(overview.you.permissions);
  const isOwner = overview.server.owner === client.getUserId();
  const canManageChannels = isOwner || perms.has("MANAGE_CHANNELS");

  const open = async (channel: ChannelEntry) => {
    if (!channel.joined && client.getRoom(channel.room_id)?.getMyMembership() !== "join") {
      await client.joinRoom(channel.room_id);
    }
    onChannel(channel.room_id);
  };

  const editingChannel = overview.channels.find((c) => c.room_id === editing);
  const channelDeleted = (deleted: string) => {
    setEditing(null);
    // The room outlives the channel (§22): move on rather than keep showing it as if it were still here.
    if (deleted === roomId) {
      const next = overview.channels.find((c) => c.room_id !== deleted && c.joined);
      if (next) onChannel(next.room_id);
    }
    reload();
  };

  const drop = async (target: ChannelEntry, e: DragEvent) => {
    e.preventDefault();
    const moved = overview.channels.find((c) => c.room_id === dragging);
    setDragging(null);
    if (!moved || moved.room_id === target.room_id) return;
    await api.editChannel(moved.room_id, { category: target.channel.category ?? null, position: (target.channel.position ?? 0) });
    // The target moves one down so the dropped channel takes its place.
    await api.editChannel(target.room_id, { position: (target.channel.position ?? 0) + 1 });
    reload();
  };

  return (
    <nav className="channels" aria-label={`${overview.name ?? "Server"} channels`}>
      <header className="server-header">
        <button ref={menuButton} className="server-name" aria-label={`${overview.name ?? "Server"} menu`} aria-expanded={menu} aria-haspopup="menu" onClick={() => setMenu(!menu)}>
          {overview.name ?? "Server"} <span aria-hidden="true">▾</span>
        </button>
        {menu && (
          <ul className="menu" role="menu" ref={menuRef} onClick={() => setMenu(false)} onKeyDown={menuKeys}>
            {perms.has("CREATE_INSTANT_INVITE") && (
              <li role="none">
                <button role="menuitem" onClick={() => setDialog("invite")}>Invite people</button>
              </li>
            )}
            <li role="none">
              <button role="menuitem" onClick={() => setDialog("events")}>Events</button>
            </li>
            <li role="none">
              <button role="menuitem" onClick={() => setDialog("settings")}>Server settings</button>
            </li>
            <li role="none">
              <button role="menuitem" onClick={() => setDialog("notifications")}>Notification settings</button>
            </li>
            {canManageChannels && (
              <li role="none">
                <button role="menuitem" onClick={() => setDialog("channel")}>Create channel</button>
              </li>
            )}
            {!isOwner && (
              <li role="none">
                <button
                  role="menuitem"
                  className="danger"
                  onClick={async () => {
                    await client.leave(serverId);
                    onLeft();
                  }}
                >
                  Leave server
                </button>
              </li>
            )}
          </ul>
        )}
      </header>
      <div className="channel-groups">
        {orderChannels(overview.channels, overview.server.categories).map(({ category, channels }) => (
          <section key={category?.id ?? "none"} aria-label={category?.name ?? "Channels"}>
            {category && <h3 className="category">{category.name}</h3>}
            <ul role="list">
              {channels.map((channel) => {
                const room = client.getRoom(channel.room_id);
                const counts = room ? unread(room) : { unread: 0, mentions: 0 };
                const type = channel.channel.type ?? "text";
                const name = channel.name ?? room?.name ?? "channel";
                // Muted (a mute, or "nothing") as the push rules say: dimmed, with a bell struck through.
                const muted = roomPushState(client.pushRules, channel.room_id) === "muted";
                return (
                  <li
                    key={channel.room_id}
                    className="channel-row"
                    draggable={canManageChannels}
                    onDragStart={() => setDragging(channel.room_id)}
                    onDragOver={(e) => dragging && e.preventDefault()}
                    onDrop={(e) => drop(channel, e)}
                  >
                    <button
                      className={`channel${roomId === channel.room_id ? " active" : ""}${counts.unread ? " unread" : ""}${muted ? " muted-channel" : ""}`}
                      aria-current={roomId === channel.room_id ? "page" : undefined}
                      onClick={() => open(channel)}
                    >
                      <span className="channel-icon" aria-label={`${type} channel`}>{CHANNEL_ICON[type] ?? "#"}</span>
                      <span className="channel-name">{name}</span>
                      {muted && <span className="muted-icon" role="img" aria-label="Muted" title="Muted">🔕</span>}
                      {counts.mentions > 0 && <span className="badge">{counts.mentions}</span>}
                    </button>
                    {isVoiceChannel(type) && <VoiceChannelMembers client={client} room={room} />}
                    {canManageChannels && (
                      <button className="channel-gear" aria-label={`Edit channel ${name}`} title="Edit channel" onClick={() => setEditing(channel.room_id)}>
                        <span aria-hidden="true">⚙</span>
                      </button>
                    )}
                  </li>
                );
              })}
            </ul>
          </section>
        ))}
      </div>
      {dialog === "invite" && <InviteDialog {...{ client, api }} serverId={serverId} onClose={() => setDialog(null)} />}
      {dialog === "channel" && <CreateChannel {...{ client, api }} overview={overview} onClose={() => setDialog(null)} onCreated={onChannel} />}
      {editingChannel && (
        <ChannelSettings
          {...{ client, api }}
          overview={overview}
          channel={editingChannel}
          onClose={closeEditing}
          onChanged={reload}
          onDeleted={channelDeleted}
        />
      )}
      {dialog === "events" && <ScheduledEventsDialog {...{ client, api }} serverId={serverId} perms={perms} onClose={() => setDialog(null)} />}
      {dialog === "notifications" && (
        <NotificationSettings
          client={client}
          target={{ kind: "server", serverId, name: overview.name ?? "Server", defaultLevel: serverDefaultLevel(overview.server as { default_notifications?: unknown }) }}
          onClose={() => setDialog(null)}
        />
      )}
      {dialog === "settings" && <ServerSettings {...{ client, api }} overview={overview} onClose={() => setDialog(null)} onChanged={reload} />}
    </nav>
  );
}

function InviteDialog({ api, serverId, onClose }: Props & { serverId: string; onClose: () => void }) {
  const { value: invite, error } = useAsync(() => api.createInvite(serverId, 7 * 24 * 3600), [serverId]);
  const link = invite ? `${window.location.origin}${window.location.pathname}#/invite/${invite.code}` : "";
  const [copied, setCopied] = useState(false);
  return (
    <Modal title="Invite friends" onClose={onClose}>
      {error ? <p className="error">{describeError(error)}</p> : null}
      {invite && (
        <>
          <p className="muted">Send this link to a friend. It expires in 7 days.</p>
          <div className="copy-row">
            <input readOnly aria-label="Invite link" value={link} data-code={invite.code} onFocus={(e) => e.target.select()} />
            <button
              className="primary"
              onClick={async () => {
                try {
                  await navigator.clipboard.writeText(link);
                } catch {
                  // Clipboard refused (no permission): the field is selectable.
                }
                setCopied(true);
              }}
            >
              {copied ? "Copied" : "Copy"}
            </button>
          </div>
          <p className="muted">
            Code: <code className="invite-code">{invite.code}</code>
          </p>
        </>
      )}
    </Modal>
  );
}

function CreateChannel({ api, overview, onClose, onCreated }: Props & { overview: Overview; onClose: () => void; onCreated: (id: string) => void }) {
  const [name, setName] = useState("");
  const [type, setType] = useState("text");
  const [category, setCategory] = useState<string>(overview.server.categories?.[0]?.id ?? "");
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const { room_id } = await api.createChannel(overview.server_id, { name: name.trim(), type, category: category || undefined });
      onClose();
      onCreated(room_id);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <Modal title="Create channel" onClose={onClose}>
      <form onSubmit={submit}>
        <fieldset>
          <legend>Channel type</legend>
          {["text", "voice", "announcement", "forum"].map((t) => (
            <label key={t} className="radio">
              <input type="radio" name="type" value={t} checked={type === t} onChange={() => setType(t)} /> {CHANNEL_ICON[t]} {t[0].toUpperCase() + t.slice(1)}
            </label>
          ))}
        </fieldset>
        <label>
          Channel name
          <input name="channel-name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Category
          <select value={category} onChange={(e) => setCategory(e.target.value)}>
            <option value="">No category</option>
            {(overview.server.categories ?? []).map((c) => (
              <option key={c.id} value={c.id}>{c.name}</option>
            ))}
          </select>
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button className="primary" type="submit" disabled={!name.trim()}>
          Create channel
        </button>
      </form>
    </Modal>
  );
}
