// The chat of one channel or DM: header, timeline, composer, and the thread
// and member panels beside it. What the member may do comes from the
// homeserver (effective permissions, §22), never guessed here.
import { type Room } from "matrix-js-sdk";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api";
import { useEffect, useState } from "react";
import { Permissions } from "../logic/permissions";
import { isUserVerified } from "../matrix/crypto";
import { dmPartner, parentServer } from "../matrix/rooms";
import { VerifyUserButton } from "./Verification";
import { Composer } from "./Composer";
import { useAsync, useStateChanges } from "./hooks";
import { MemberList } from "./MemberList";
import { PinsPanel } from "./PinsPanel";
import { PluginPanels } from "./PluginPanel";
import { SearchBox, SearchPanel, useSearch } from "./SearchPanel";
import { ThreadsBrowser } from "./ThreadsBrowser";
import { NotificationSettings } from "./NotificationSettings";
import { roomPushState } from "../logic/roomPushState";
import type { Props } from "./Shell";
import { ThreadPanel } from "./ThreadPanel";
import { Timeline } from "./Timeline";
import { VoiceStage } from "./Voice";
import { isVoiceChannel } from "../logic/voice";

export type ChatContext = Props & {
  room: Room;
  perms: Permissions;
  timedOutUntil?: number;
  openThread: (rootId: string) => void;
};

export function ChatView({ client, api, roomId, serverId }: Props & { roomId?: string; serverId?: string }) {
  const room = roomId ? client.getRoom(roomId) : null;
  const [thread, setThread] = useState<string | null>(null);
  const [members, setMembers] = useState(true);
  const [panel, setPanel] = useState<"threads" | "pins" | "search" | null>(null);
  const [notifications, setNotifications] = useState(false);
  useEffect(() => {
    setThread(null);
    // Search results stay: opening one may be what switched the channel.
    setPanel((open) => (open === "search" ? open : null));
  }, [roomId]);
  const openPanel = (next: "threads" | "pins") => {
    setThread(null);
    setPanel(panel === next ? null : next);
  };

  const space = room ? parentServer(client, room) : null;
  const search = useSearch(api, { serverId: space?.roomId, roomId: room?.roomId }, () => {
    setThread(null);
    setPanel("search");
  });
  const closeSearch = () => setPanel((open) => (open === "search" ? null : open));
  const changes = useStateChanges(client, (id) => id === roomId || id === space?.roomId);
  const { value: permissions } = useAsync(
    async () => (room && space ? api.permissions(room.roomId) : null),
    [roomId, space?.roomId, changes],
  );

  if (!room) {
    return (
      <main className="chat empty">
        <p className="muted">{serverId ? "Pick a channel." : "Pick a conversation, or start one."}</p>
      </main>
    );
  }

  // Outside a Nexus server (DMs), the room's power levels decide.
  const perms = permissions
    ? Permissions.parse(permissions.permissions)
    : space
      ? new Permissions(0n)
      : room.maySendMessage()
        ? Permissions.of("SEND_MESSAGES", "SEND_MESSAGES_IN_THREADS", "ADD_REACTIONS", "ATTACH_FILES", "READ_MESSAGE_HISTORY", "SEND_POLLS")
        : new Permissions(0n);
  const timedOutUntil = space?.currentState.getStateEvents("nexus.member", client.getUserId()!)?.getContent()?.timeout_until;
  const ctx: ChatContext = { client, api, room, perms, timedOutUntil, openThread: setThread };
  const topic = room.currentState.getStateEvents("m.room.topic", "")?.getContent()?.topic;
  const encrypted = client.isRoomEncrypted(room.roomId);
  const partner = space ? null : dmPartner(client, room);

  return (
    <>
      <main className="chat" aria-label={`Chat in ${room.name}`}>
        <header className="chat-header">
          <h2>
            <span aria-hidden="true">{space ? "#" : "@"}</span> {room.name}
          </h2>
          {encrypted && <span className="shield" title="End-to-end encrypted">🔒 Encrypted</span>}
          {encrypted && partner && <PartnerTrust client={client} userId={partner} roomId={room.roomId} />}
          {topic && <p className="topic">{topic}</p>}
          <div className="header-actions">
            {space && (
              <>
                <button aria-label="Threads" title="Threads" aria-pressed={panel === "threads"} onClick={() => openPanel("threads")}>
                  🧵
                </button>
                <button aria-label="Pinned messages" title="Pinned messages" aria-pressed={panel === "pins"} onClick={() => openPanel("pins")}>
                  📌
                </button>
                <button aria-label="Notification settings" title="Notification settings" onClick={() => setNotifications(true)}>
                  {roomPushState(client.pushRules, room.roomId) === "muted" ? "🔕" : "🔔"}
                </button>
              </>
            )}
            <button aria-label="Member list" aria-pressed={members} onClick={() => setMembers(!members)} title="Member list">
              👥
            </button>
          </div>
          <SearchBox client={client} room={room} space={space} search={search} onEscape={closeSearch} />
        </header>
        {space && isVoiceChannel(room.currentState.getStateEvents("nexus.channel", "")?.getContent()?.type) && (
          <VoiceStage client={client} api={api} room={room} perms={perms} />
        )}
        <Timeline ctx={ctx} />
        <Composer ctx={ctx} />
        <TypingLine room={room} me={client.getUserId()!} />
      </main>
      {notifications && space && (
        <NotificationSettings client={client} target={{ kind: "channel", serverId: space.roomId, roomId: room.roomId, name: room.name }} onClose={() => setNotifications(false)} />
      )}
      {thread ? (
        <ThreadPanel ctx={ctx} rootId={thread} onClose={() => setThread(null)} />
      ) : panel === "threads" ? (
        <ThreadsBrowser
          client={client}
          api={api}
          roomId={room.roomId}
          onOpen={(rootId) => {
            setPanel(null);
            setThread(rootId);
          }}
          onClose={() => setPanel(null)}
        />
      ) : panel === "search" ? (
        <SearchPanel client={client} room={room} search={search} onClose={closeSearch} />
      ) : panel === "pins" ? (
        <PinsPanel
          client={client}
          api={api}
          roomId={room.roomId}
          perms={perms}
          onClose={() => setPanel(null)}
          onJump={(eventId) => document.getElementById(`msg-${eventId}`)?.scrollIntoView({ block: "center" })}
        />
      ) : (
        <PluginPanels fallback={members && <MemberList client={client} api={api} room={room} space={space} />} />
      )}
    </>
  );
}

function TypingLine({ room, me }: { room: Room; me: string }) {
  const typing = room.getMembers().filter((m) => m.typing && m.userId !== me);
  return (
    <p className="typing" aria-live="polite">
      {typing.length === 0 ? "\u00a0" : typing.length === 1 ? `${typing[0].name} is typing…` : `${typing.length} people are typing…`}
    </p>
  );
}

/** Whether the DM partner is verified; a button to verify them when not. */
function PartnerTrust({ client, userId, roomId }: { client: ChatContext["client"]; userId: string; roomId: string }) {
  const [verified, setVerified] = useState<boolean | null>(null);
  useEffect(() => {
    let live = true;
    const check = () => isUserVerified(client, userId).then((v) => live && setVerified(v));
    check();
    client.on(CryptoEvent.UserTrustStatusChanged, check);
    return () => {
      live = false;
      client.off(CryptoEvent.UserTrustStatusChanged, check);
    };
  }, [client, userId]);
  return (
    <span className={verified ? "shield verified" : "shield unverified"} aria-label={verified ? "Verified" : "Not verified"}>
      {verified ? "✅ Verified" : "⚠️ Not verified"} <VerifyUserButton client={client} userId={userId} roomId={roomId} verified={!!verified} />
    </span>
  );
}
