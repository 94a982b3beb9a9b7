// The signed-in app: starts the Matrix client, then lays out the servers
// rail, the sidebar of the chosen server (or direct messages), the chat and
// the panels and dialogs over them. The route lives in the URL's hash.
import { type SyncStateData, type MatrixClient, ClientEvent, HttpApiEvent, PendingEventOrdering, SyncState } from "matrix-js-sdk";
import { useEffect, useMemo, useState } from "react";
import { resendFailed } from "../matrix/events";
import { NexusApi } from "../matrix/nexus";
import { startCrypto } from "../matrix/crypto";
import { type Session, clientFor, describeError } from "../matrix/session";
import { ChatView } from "./ChatView";
import { DirectList } from "./DirectList";
import { useClientUpdates, useHashRoute } from "./hooks";
import { JoinInvite } from "./JoinInvite";
import { PluginRuntime } from "./PluginRuntime";
import { ServerRail } from "./ServerRail";
import { ServerSidebar } from "./ServerSidebar";
import { UserPanel, UserSettings } from "./UserSettings";
import { VerificationRequests } from "./Verification";
import { VoiceCall } from "../matrix/voice";
import { VoiceBar, VoiceContext } from "./Voice";
import { DesktopNotifications, NotificationOffer } from "./DesktopNotifications";

export type Dialog = { kind: "settings" } | { kind: "join"; code?: string } | null;

export function Shell({ session, newAccountPassword, onSignOut }: { session: Session; newAccountPassword?: string; onSignOut: () => void }) {
  const client = useMemo(() => clientFor(session), [session]);
  const api = useMemo(() => new NexusApi(client), [client]);
  const voice = useMemo(() => new VoiceCall(client, api), [client, api]);
  const [ready, setReady] = useState(false);
  const [offline, setOffline] = useState(false);
  const [cryptoError, setCryptoError] = useState<string | null>(null);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [route, go] = useHashRoute();
  useClientUpdates(client);

  useEffect(() => {
    // The session was ended elsewhere (signed out from another device, the
    // account deleted, the token revoked): back to the welcome screen, with
    // this device's stores gone.
    const loggedOut = () => {
      client.stopClient();
      client.clearStores().catch(() => undefined);
      onSignOut();
    };
    const onSync = (state: SyncState, previous: SyncState | null, data?: SyncStateData) => {
      if (state === SyncState.Error && (data?.error as { errcode?: string } | undefined)?.errcode === "M_UNKNOWN_TOKEN") return loggedOut();
      if (state === SyncState.Prepared || state === SyncState.Syncing) setReady(true);
      setOffline(state === SyncState.Error || state === SyncState.Reconnecting);
      // Back online: what failed to send goes out now (the offline queue).
      if (state === SyncState.Syncing && previous !== SyncState.Syncing) resendFailed(client);
    };
    client.on(ClientEvent.Sync, onSync);
    client.on(HttpApiEvent.SessionLoggedOut, loggedOut);
    const online = () => resendFailed(client);
    window.addEventListener("online", online);
    let stopped = false;
    startCrypto(client, newAccountPassword)
      .catch((e) => setCryptoError(describeError(e)))
      .then(() => {
        if (stopped) return;
        // Unsent messages sit apart from the timeline (Detached), so the
        // offline queue is visible and can be sent again on reconnect.
        client.startClient({ initialSyncLimit: 30, lazyLoadMembers: true, pendingEventOrdering: PendingEventOrdering.Detached });
      });
    return () => {
      stopped = true;
      window.removeEventListener("online", online);
      client.off(HttpApiEvent.SessionLoggedOut, loggedOut);
      client.off(ClientEvent.Sync, onSync);
      client.stopClient();
      void voice.leave();
    };
  }, [client]);

  useEffect(() => {
    if (route[0] === "invite" && route[1]) setDialog({ kind: "join", code: route[1] });
  }, [route]);

  if (!ready) {
    return (
      <main className="loading" aria-busy="true">
        <p>Connecting to your homeserver…</p>
      </main>
    );
  }

  const [section, first, second] = route;
  const serverId = section === "server" ? first : undefined;
  const roomId = section === "server" ? second : section === "dm" ? first : undefined;

  return (
    <VoiceContext.Provider value={voice}>
    <div className="shell">
      {offline && (
        <div className="offline-banner" role="status">
          Offline — messages you send wait here and go out when the connection is back.
        </div>
      )}
      {cryptoError && (
        <div className="offline-banner" role="alert">
          Encryption is unavailable in this browser: {cryptoError}
        </div>
      )}
      <VerificationRequests client={client} />
      <DesktopNotifications client={client} roomId={roomId} go={go} />
      <PluginRuntime client={client} roomId={roomId} serverId={serverId} />
      <ServerRail
        client={client}
        api={api}
        current={serverId ?? (section === "dm" || !section ? "home" : undefined)}
        onHome={() => go(["dm"])}
        onServer={(id) => go(["server", id])}
        onJoin={() => setDialog({ kind: "join" })}
      />
      <aside className="sidebar">
        {serverId ? (
          <ServerSidebar client={client} api={api} serverId={serverId} roomId={roomId} onChannel={(id) => go(["server", serverId, id])} onLeft={() => go(["dm"])} />
        ) : (
          <DirectList client={client} roomId={roomId} onRoom={(id) => go(["dm", id])} />
        )}
        <VoiceBar client={client} />
        <NotificationOffer />
        <UserPanel client={client} onOpenSettings={() => setDialog({ kind: "settings" })} />
      </aside>
      <ChatView client={client} api={api} roomId={roomId} serverId={serverId} />
      {dialog?.kind === "settings" && <UserSettings client={client} api={api} onClose={() => setDialog(null)} onSignOut={onSignOut} />}
      {dialog?.kind === "join" && (
        <JoinInvite
          api={api}
          code={dialog.code}
          onClose={() => {
            setDialog(null);
            if (route[0] === "invite") go(["dm"]);
          }}
          onJoined={(id) => {
            setDialog(null);
            go(["server", id]);
          }}
        />
      )}
    </div>
    </VoiceContext.Provider>
  );
}

export type Props = { client: MatrixClient; api: NexusApi };
