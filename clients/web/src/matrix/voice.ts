// A voice channel's call, as Element Call places one: a MatrixRTC membership
// in the room (matrix-js-sdk's MatrixRTCSession keeps it alive and leaves
// a delayed "left" behind in case this tab dies), a LiveKit token from the
// homeserver's token service for the transport the homeserver offers, and
// LiveKit's SDK for the media — against the embedded SFU or an external
// LiveKit alike. One call at a time, living above the views, so moving
// between channels keeps it.
import type {
  ConnectionState,
  DisconnectReason,
  LocalTrackPublication,
  Participant,
  RemoteTrack,
  Track,
  Room as LiveKitRoom,
} from "livekit-client";
import { type MatrixClient, Method } from "matrix-js-sdk";
import { type MatrixRTCSession } from "matrix-js-sdk/lib/matrixrtc";
import { SCREEN_SHARE, matrixIdentity, microphoneConstraints } from "../logic/voice";
import type { NexusApi } from "./nexus";

/**
 * LiveKit's SDK, loaded on the first join: a third of the app's size, which
 * nobody who never joins a call should download.
 */
type LiveKit = typeof import("livekit-client");
let liveKitModule: Promise<LiveKit> | null = null;
function loadLiveKit(): Promise<LiveKit> {
  liveKitModule ??= import("livekit-client");
  return liveKitModule;
}

/** A transport of `/rtc/transports` (MSC4143) that LiveKit serves. */
type LiveKitTransport = { type: "livekit"; livekit_service_url: string };

export type VoiceParticipant = {
  identity: string;
  userId: string;
  local: boolean;
  speaking: boolean;
  micMuted: boolean;
  /** A moderator took this participant's voice (their token or the SFU did). */
  serverMuted: boolean;
  camera?: Track;
  screen?: Track;
};

export type VoiceState = {
  roomId: string;
  status: "connecting" | "connected" | "reconnecting" | "failed";
  error?: string;
  micMuted: boolean;
  deafened: boolean;
  camera: boolean;
  screen: boolean;
  /**
   * The media server records the call (LiveKit's egress: an external
   * LiveKit's; the embedded SFU does not record). Everyone in the call
   * is shown it, so no one is recorded unknowingly.
   */
  recording: boolean;
  /** The browser would not play the call's audio until the user acts (autoplay rules). */
  audioBlocked: boolean;
  participants: VoiceParticipant[];
};

/** What may be toggled, so the UI can say why a button is off. */
export type VoicePreferences = { noiseSuppression: boolean };

const PREFERENCES_KEY = "nexus.voice.preferences";

export function voicePreferences(): VoicePreferences {
  try {
    const stored = JSON.parse(localStorage.getItem(PREFERENCES_KEY) ?? "{}");
    return { noiseSuppression: stored.noiseSuppression !== false };
  } catch {
    return { noiseSuppression: true };
  }
}

export function saveVoicePreferences(preferences: VoicePreferences): void {
  localStorage.setItem(PREFERENCES_KEY, JSON.stringify(preferences));
}

export class VoiceCall {
  private state: VoiceState | null = null;
  private listeners = new Set<() => void>();
  private livekit: LiveKitRoom | null = null;
  /** The SDK's module, once a join loaded it. */
  private sdk: LiveKit | null = null;
  private session: MatrixRTCSession | null = null;
  /** Where remote audio plays (hidden <audio> elements). */
  private audio = new Map<string, HTMLMediaElement>();
  /** Users a moderator muted, as the homeserver reports them. */
  private serverMuted = new Set<string>();

  constructor(
    private readonly client: MatrixClient,
    private readonly api: NexusApi,
  ) {}

  /** The call as it stands, or null outside one. A new object after every change. */
  current(): VoiceState | null {
    return this.state;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(patch: Partial<VoiceState> = {}): void {
    if (!this.state) return;
    this.state = { ...this.state, ...patch, participants: this.participants() };
    for (const listener of this.listeners) listener();
  }

  /** Joins the call of `roomId`, leaving any other first. */
  async join(roomId: string): Promise<void> {
    if (this.state?.roomId === roomId && this.state.status !== "failed") return;
    await this.leave();
    const room = this.client.getRoom(roomId);
    if (!room) throw new Error("You are not in that channel.");
    this.state = { roomId, status: "connecting", micMuted: false, deafened: false, camera: false, screen: false, recording: false, audioBlocked: false, participants: [] };
    this.changed();
    try {
      const transport = await this.transport();
      // The membership says where this device's media is: the LiveKit room
      // that the token service derives from the Matrix room.
      this.session = this.client.matrixRTC.getRoomSession(room);
      this.session.joinRoomSession([{ ...transport, livekit_alias: roomId }], undefined, {
        callIntent: "audio",
        manageMediaKeys: false,
      });
      const [{ url, jwt }, sdk] = await Promise.all([this.token(transport, roomId), loadLiveKit()]);
      this.sdk = sdk;
      const livekit = new sdk.Room({
        adaptiveStream: true,
        dynacast: true,
        audioCaptureDefaults: microphoneConstraints(voicePreferences().noiseSuppression),
        publishDefaults: { screenShareEncoding: { maxBitrate: SCREEN_SHARE.maxBitrate, maxFramerate: SCREEN_SHARE.maxFramerate } },
      });
      this.livekit = livekit;
      this.listen(livekit, sdk);
      await livekit.connect(url, jwt);
      if (this.livekit !== livekit) return;
      await livekit.localParticipant.setMicrophoneEnabled(true);
      this.changed({ status: "connected", recording: livekit.isRecording });
      void this.refreshModeration();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await this.teardown();
      if (this.state?.roomId === roomId) this.changed({ status: "failed", error: message });
    }
  }

  /** Hangs up: the LiveKit connection closes and the membership is emptied. */
  async leave(): Promise<void> {
    if (!this.state) return;
    await this.teardown();
    this.state = null;
    for (const listener of this.listeners) listener();
  }

  private async teardown(): Promise<void> {
    const livekit = this.livekit;
    const session = this.session;
    this.livekit = null;
    this.session = null;
    for (const element of this.audio.values()) element.remove();
    this.audio.clear();
    this.serverMuted.clear();
    await livekit?.disconnect().catch(() => undefined);
    await session?.leaveRoomSession(5000).catch(() => undefined);
  }

  /** Plays the call's audio after the browser held it back (called from a click). */
  async allowAudio(): Promise<void> {
    await this.livekit?.startAudio();
    if (this.livekit) this.changed({ audioBlocked: !this.livekit.canPlaybackAudio });
  }

  async setMicMuted(muted: boolean): Promise<void> {
    if (!this.livekit || !this.state) return;
    // Undeafening is implied by speaking again, as in Discord.
    if (!muted && this.state.deafened) this.setDeafened(false);
    await this.livekit.localParticipant.setMicrophoneEnabled(!muted);
    this.changed({ micMuted: muted });
  }

  /** Deafened: nothing plays, and the microphone is off too (Discord's rule). */
  setDeafened(deafened: boolean): void {
    if (!this.livekit || !this.state) return;
    for (const element of this.audio.values()) element.muted = deafened;
    this.changed({ deafened });
    if (deafened && !this.state.micMuted) void this.setMicMuted(true);
  }

  async setCamera(on: boolean): Promise<void> {
    if (!this.livekit) return;
    await this.livekit.localParticipant.setCameraEnabled(on);
    this.changed({ camera: on });
  }

  async setScreenShare(on: boolean): Promise<void> {
    if (!this.livekit) return;
    await this.livekit.localParticipant.setScreenShareEnabled(
      on,
      { audio: false, resolution: SCREEN_SHARE.capture, contentHint: "detail" },
      {
        simulcast: false,
        screenShareEncoding: { maxBitrate: SCREEN_SHARE.maxBitrate, maxFramerate: SCREEN_SHARE.maxFramerate },
        degradationPreference: SCREEN_SHARE.degradationPreference,
      },
    );
    this.changed({ screen: on });
  }

  /** Asks the homeserver who a moderator muted (§ voice moderation). */
  async refreshModeration(): Promise<void> {
    const roomId = this.state?.roomId;
    if (!roomId) return;
    const answer = await this.api.voiceParticipants(roomId).catch(() => null);
    if (!answer || this.state?.roomId !== roomId) return;
    this.serverMuted = new Set(answer.participants.filter((p) => p.server_mute).map((p) => p.user_id));
    this.changed();
  }

  /** The LiveKit transport the homeserver offers (MSC4143). */
  private async transport(): Promise<LiveKitTransport> {
    const answer = await this.client.http.authedRequest<{ rtc_transports?: LiveKitTransport[] }>(
      Method.Get,
      "/rtc/transports",
      undefined,
      undefined,
      { prefix: "/_matrix/client/unstable/org.matrix.msc4143" },
    );
    const transport = answer.rtc_transports?.find((t) => t.type === "livekit" && t.livekit_service_url);
    if (!transport) throw new Error("This homeserver offers no voice server.");
    return transport;
  }

  /**
   * A join token for this device, proven with an OpenID token (never the
   * access token) as Element Call asks lk-jwt-service for one.
   */
  private async token(transport: LiveKitTransport, roomId: string): Promise<{ url: string; jwt: string }> {
    const openid = await this.client.getOpenIdToken();
    const response = await fetch(`${transport.livekit_service_url.replace(/\/$/, "")}/sfu/get`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ room: roomId, openid_token: openid, device_id: this.client.getDeviceId() }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok || typeof answer.url !== "string" || typeof answer.jwt !== "string") {
      throw new Error(answer.error ?? answer.errcode ?? `The voice server refused to let you in (${response.status}).`);
    }
    return { url: answer.url, jwt: answer.jwt };
  }

  private listen(livekit: LiveKitRoom, { RoomEvent, Track, ConnectionState, DisconnectReason }: LiveKit): void {
    const update = () => {
      if (this.livekit === livekit) this.changed();
    };
    livekit
      .on(RoomEvent.TrackSubscribed, (track: RemoteTrack, publication, participant) => {
        if (track.kind === Track.Kind.Audio) {
          const element = track.attach();
          element.muted = !!this.state?.deafened;
          element.dataset.participant = participant.identity;
          element.hidden = true;
          document.body.appendChild(element);
          this.audio.set(publication.trackSid, element);
        }
        update();
      })
      .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack, publication) => {
        this.audio.get(publication.trackSid)?.remove();
        this.audio.delete(publication.trackSid);
        track.detach();
        update();
      })
      .on(RoomEvent.AudioPlaybackStatusChanged, () => {
        if (this.livekit === livekit) this.changed({ audioBlocked: !livekit.canPlaybackAudio });
      })
      .on(RoomEvent.RecordingStatusChanged, (recording: boolean) => {
        if (this.livekit === livekit) this.changed({ recording });
      })
      .on(RoomEvent.ParticipantConnected, update)
      .on(RoomEvent.ParticipantDisconnected, update)
      .on(RoomEvent.ActiveSpeakersChanged, update)
      .on(RoomEvent.TrackPublished, update)
      .on(RoomEvent.TrackUnpublished, update)
      .on(RoomEvent.LocalTrackPublished, update)
      .on(RoomEvent.LocalTrackUnpublished, (publication: LocalTrackPublication) => {
        // The browser's own "Stop sharing" ends a screen share too.
        if (publication.source === Track.Source.ScreenShare) this.changed({ screen: false });
        else update();
      })
      .on(RoomEvent.TrackMuted, (publication, participant) => {
        // The SFU mutes a member a moderator silenced: ask the homeserver who.
        if (participant.isLocal && publication.source === Track.Source.Microphone) this.changed({ micMuted: true });
        void this.refreshModeration();
      })
      .on(RoomEvent.TrackUnmuted, () => void this.refreshModeration())
      .on(RoomEvent.ParticipantPermissionsChanged, () => void this.refreshModeration())
      .on(RoomEvent.ConnectionStateChanged, (state: ConnectionState) => {
        if (state === ConnectionState.Reconnecting || state === ConnectionState.SignalReconnecting) this.changed({ status: "reconnecting" });
        else if (state === ConnectionState.Connected && this.state?.status === "reconnecting") this.changed({ status: "connected" });
      })
      .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
        if (this.livekit !== livekit) return;
        // A moderator's disconnect removes the participant at the media server.
        const error = reason === DisconnectReason.PARTICIPANT_REMOVED ? "A moderator disconnected you." : "The voice connection was lost.";
        void this.teardown().then(() => this.changed({ status: "failed", error }));
      });
  }

  private participants(): VoiceParticipant[] {
    const livekit = this.livekit;
    const Track = this.sdk?.Track;
    if (!livekit || !Track) return [];
    const everyone: Participant[] = [livekit.localParticipant, ...livekit.remoteParticipants.values()];
    return everyone.flatMap((participant) => {
      const who = matrixIdentity(participant.identity, participant.attributes);
      if (!who) return [];
      const mic = participant.getTrackPublication(Track.Source.Microphone);
      const camera = participant.getTrackPublication(Track.Source.Camera);
      const screen = participant.getTrackPublication(Track.Source.ScreenShare);
      const serverMuted = this.serverMuted.has(who.userId) || participant.permissions?.canPublish === false;
      return [
        {
          identity: participant.identity,
          userId: who.userId,
          local: participant.isLocal,
          speaking: participant.isSpeaking,
          micMuted: !mic || mic.isMuted || serverMuted,
          serverMuted,
          camera: camera && !camera.isMuted ? camera.track : undefined,
          screen: screen && !screen.isMuted ? screen.track : undefined,
        },
      ];
    });
  }
}
