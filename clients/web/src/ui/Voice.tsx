// Voice in the UI: the call lives in Shell (VoiceContext) so it survives
// moving between channels. A voice channel shows its stage (tiles with
// video, screen shares and who speaks; join; moderators' mute); the sidebar
// lists who is connected under each voice channel and, while in a call,
// holds the controls (mute, deafen, camera, screen, leave).
import { type MatrixClient, type Room } from "matrix-js-sdk";
import { MatrixRTCSessionEvent } from "matrix-js-sdk/lib/matrixrtc";
import { type Track } from "livekit-client";
import { createContext, useContext, useEffect, useRef, useState, useSyncExternalStore } from "react";
import { AUDIO_STATUS_LABEL, audioStatus, peopleInCall } from "../logic/voice";
import type { Permissions } from "../logic/permissions";
import { type VoiceCall, type VoiceParticipant, type VoiceState, saveVoicePreferences, voicePreferences } from "../matrix/voice";
import type { NexusApi } from "../matrix/nexus";
import { Avatar } from "./Avatar";
import "./voice.css";

export const VoiceContext = createContext<VoiceCall | null>(null);

/** The call as it stands (re-rendering on every change), or null. */
export function useVoice(): { call: VoiceCall | null; state: VoiceState | null } {
  const call = useContext(VoiceContext);
  const state = useSyncExternalStore(
    (listener) => call?.subscribe(listener) ?? (() => undefined),
    () => call?.current() ?? null,
  );
  return { call, state };
}

/** The users in `room`'s call by their MatrixRTC memberships, kept current. */
export function useCallMembers(client: MatrixClient, room: Room | null): string[] {
  const [people, setPeople] = useState<string[]>([]);
  useEffect(() => {
    if (!room) return setPeople([]);
    const session = client.matrixRTC.getRoomSession(room);
    const read = () => setPeople(peopleInCall(session.memberships.filter((m) => !m.isExpired()).map((m) => ({ userId: m.sender ?? "", deviceId: m.deviceId }))));
    read();
    session.on(MatrixRTCSessionEvent.MembershipsChanged, read);
    return () => {
      session.off(MatrixRTCSessionEvent.MembershipsChanged, read);
    };
  }, [client, room]);
  return people;
}

function displayName(client: MatrixClient, room: Room | null, userId: string): string {
  return room?.getMember(userId)?.name ?? client.getUser(userId)?.displayName ?? userId;
}

/** Under a voice channel in the sidebar: who is in its call. */
export function VoiceChannelMembers({ client, room }: { client: MatrixClient; room: Room | null }) {
  const people = useCallMembers(client, room);
  const { state } = useVoice();
  if (!people.length) return null;
  const live = state?.roomId === room?.roomId ? state : null;
  return (
    <ul className="voice-members" aria-label={`Connected to ${room?.name ?? "voice"}`}>
      {people.map((userId) => {
        const participant = live?.participants.find((p) => p.userId === userId);
        const status = participant ? audioStatus({ ...participant, deafened: participant.local && live?.deafened }) : "open";
        return (
          <li key={userId} className={`voice-member${participant?.speaking ? " speaking" : ""}`} data-status={status}>
            <Avatar client={client} id={userId} name={displayName(client, room, userId)} size={20} />
            <span className="voice-member-name">{displayName(client, room, userId)}</span>
            {status !== "open" && (
              <span className="voice-status" title={AUDIO_STATUS_LABEL[status]} aria-label={AUDIO_STATUS_LABEL[status]}>
                {status === "deafened" ? "🎧" : status === "server-muted" ? "🔇" : "🎙̸"}
              </span>
            )}
          </li>
        );
      })}
    </ul>
  );
}

/** A track shown in a <video>, attached while mounted. */
function TrackVideo({ track, label }: { track: Track; label: string }) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    track.attach(element);
    return () => {
      track.detach(element);
    };
  }, [track]);
  return <video ref={ref} className="voice-video" aria-label={label} autoPlay playsInline muted />;
}

function Tile({ client, room, participant, deafened, canMute, canDisconnect, onServerMute, onDisconnect }: {
  client: MatrixClient;
  room: Room;
  participant: VoiceParticipant;
  deafened: boolean;
  canMute: boolean;
  canDisconnect: boolean;
  onServerMute: (userId: string, mute: boolean) => void;
  onDisconnect: (userId: string) => void;
}) {
  const name = displayName(client, room, participant.userId);
  const status = audioStatus({ ...participant, deafened: participant.local && deafened });
  return (
    <li
      className={`voice-tile${participant.speaking ? " speaking" : ""}`}
      aria-label={`${name}${participant.local ? " (you)" : ""}`}
      data-speaking={participant.speaking}
      data-status={status}
    >
      {participant.screen ? (
        <TrackVideo track={participant.screen} label={`${name}'s screen`} />
      ) : participant.camera ? (
        <TrackVideo track={participant.camera} label={`${name}'s camera`} />
      ) : (
        <Avatar client={client} id={participant.userId} name={name} size={72} />
      )}
      <div className="voice-tile-footer">
        <span className="voice-tile-name">{name}</span>
        {status !== "open" && <span className="voice-status">{AUDIO_STATUS_LABEL[status]}</span>}
        {canMute && !participant.local && (
          <button className="voice-moderate" onClick={() => onServerMute(participant.userId, !participant.serverMuted)}>
            {participant.serverMuted ? `Unmute ${name} for everyone` : `Mute ${name} for everyone`}
          </button>
        )}
        {canDisconnect && !participant.local && (
          <button className="voice-moderate" onClick={() => onDisconnect(participant.userId)}>
            Disconnect {name}
          </button>
        )}
      </div>
    </li>
  );
}

/** The top of a voice channel: join it, or see and moderate who is in it. */
export function VoiceStage({ client, api, room, perms }: { client: MatrixClient; api: NexusApi; room: Room; perms: Permissions }) {
  const { call, state } = useVoice();
  const people = useCallMembers(client, room);
  const [error, setError] = useState<string | null>(null);
  const here = state?.roomId === room.roomId ? state : null;
  const moderate = async (action: () => Promise<unknown>) => {
    setError(null);
    try {
      await action();
      await call?.refreshModeration();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const serverMute = (userId: string, mute: boolean) => moderate(() => api.moderateVoice(room.roomId, userId, { mute }));
  const disconnect = (userId: string) => moderate(() => api.disconnectVoice(room.roomId, userId));

  if (!here || here.status === "failed") {
    return (
      <section className="voice-stage idle" aria-label={`Voice in ${room.name}`}>
        <p>{people.length ? `${people.length} connected` : "No one is here yet."}</p>
        {here?.error && <p className="error" role="alert">{here.error}</p>}
        <button className="primary" disabled={!perms.has("CONNECT")} onClick={() => call?.join(room.roomId)}>
          Join voice
        </button>
      </section>
    );
  }
  return (
    <section className="voice-stage" aria-label={`Voice in ${room.name}`} aria-busy={here.status !== "connected"}>
      {here.status !== "connected" && <p className="muted" role="status">{here.status === "connecting" ? "Connecting…" : "Reconnecting…"}</p>}
      {error && <p className="error" role="alert">{error}</p>}
      {here.recording && <RecordingNotice />}
      <ul className="voice-tiles" aria-label="In the call">
        {here.participants.map((p) => (
          <Tile
            key={p.identity}
            client={client}
            room={room}
            participant={p}
            deafened={here.deafened}
            canMute={perms.has("MUTE_MEMBERS")}
            canDisconnect={perms.has("MOVE_MEMBERS")}
            onServerMute={serverMute}
            onDisconnect={disconnect}
          />
        ))}
      </ul>
    </section>
  );
}

/** Shown to everyone in a call the media server records. */
function RecordingNotice() {
  return (
    <p className="voice-recording" role="alert">
      <span aria-hidden="true">● </span>This call is being recorded. Leave it if you do not agree.
    </p>
  );
}

/** The sidebar's call controls while in a call. */
export function VoiceBar({ client }: { client: MatrixClient }) {
  const { call, state } = useVoice();
  const [noiseSuppression, setNoiseSuppression] = useState(() => voicePreferences().noiseSuppression);
  if (!call || !state) return null;
  const room = client.getRoom(state.roomId);
  const toggleNoise = () => {
    saveVoicePreferences({ noiseSuppression: !noiseSuppression });
    setNoiseSuppression(!noiseSuppression);
  };
  return (
    <section className="voice-bar" aria-label="Voice connection">
      {state.recording && <RecordingNotice />}
      {state.audioBlocked && (
        <button className="primary voice-allow-audio" onClick={() => call.allowAudio()}>
          Your browser held the call's sound back: play it
        </button>
      )}
      <p className="voice-bar-status" role="status">
        {state.status === "connected" ? "Voice connected" : state.status === "failed" ? "Voice failed" : "Connecting…"}
        <span className="muted"> · {room?.name ?? "voice"}</span>
      </p>
      <div className="voice-controls">
        <button aria-pressed={state.micMuted} onClick={() => call.setMicMuted(!state.micMuted)}>
          {state.micMuted ? "Unmute" : "Mute"}
        </button>
        <button aria-pressed={state.deafened} onClick={() => call.setDeafened(!state.deafened)}>
          {state.deafened ? "Undeafen" : "Deafen"}
        </button>
        <button aria-pressed={state.camera} onClick={() => call.setCamera(!state.camera)} disabled={state.status !== "connected"}>
          Camera
        </button>
        <button aria-pressed={state.screen} onClick={() => call.setScreenShare(!state.screen)} disabled={state.status !== "connected"}>
          Share screen
        </button>
        <button
          aria-pressed={noiseSuppression}
          title="Noise suppression (the browser's); applies when you next join"
          onClick={toggleNoise}
        >
          Noise suppression
        </button>
        <button className="danger" onClick={() => call.leave()}>
          Disconnect
        </button>
      </div>
    </section>
  );
}
