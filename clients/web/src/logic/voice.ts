// What the voice UI decides without a network: who is in a channel's call
// (from MatrixRTC memberships), whose LiveKit participant is whose, how a
// tile is labelled, and the media settings a Discord refugee expects
// (noise suppression on, screen share at 1080p60 for everyone).

/** A channel kind whose room holds a call. */
export function isVoiceChannel(type: string | undefined): boolean {
  return type === "voice" || type === "stage";
}

/** One MatrixRTC membership as the sidebar needs it. */
export type CallMember = { userId: string; deviceId: string };

/**
 * The people in a call, each once, in the order they joined: a person with
 * two devices in the call is one entry (Discord shows people, not devices).
 */
export function peopleInCall(memberships: CallMember[]): string[] {
  const seen = new Set<string>();
  const people: string[] = [];
  for (const { userId } of memberships) {
    if (!seen.has(userId)) {
      seen.add(userId);
      people.push(userId);
    }
  }
  return people;
}

/**
 * The Matrix user and device behind a LiveKit participant. The homeserver's
 * token service puts the user in the `org.matrix.user_id` attribute; the
 * legacy identity (`/sfu/get`) is `@user:server:DEVICE`, which also names
 * the device. A server name may hold a port, so the device is what follows
 * the last colon only when the attribute's user id is its prefix.
 */
export function matrixIdentity(identity: string, attributes: Record<string, string> = {}): { userId: string; deviceId?: string } | null {
  const attributed = attributes["org.matrix.user_id"];
  if (attributed) {
    const device = identity.startsWith(`${attributed}:`) ? identity.slice(attributed.length + 1) : undefined;
    return { userId: attributed, deviceId: device || undefined };
  }
  if (!identity.startsWith("@")) return null;
  const cut = identity.lastIndexOf(":");
  const userId = identity.slice(0, cut);
  if (cut <= 0 || !userId.includes(":")) return null;
  return { userId, deviceId: identity.slice(cut + 1) || undefined };
}

/** The microphone's capture constraints: the browser's noise suppression unless turned off. */
export function microphoneConstraints(noiseSuppression: boolean): MediaTrackConstraints {
  return { noiseSuppression, echoCancellation: true, autoGainControl: true };
}

/**
 * Screen share as Discord's paid tier offers it, for everyone: 1080p at 60
 * frames per second. Text on a screen must stay legible, so under load the
 * encoder drops frames rather than resolution.
 */
export const SCREEN_SHARE = {
  capture: { width: 1920, height: 1080, frameRate: 60 },
  maxBitrate: 6_000_000,
  maxFramerate: 60,
  degradationPreference: "maintain-resolution" as RTCDegradationPreference,
};

/** How a participant's tile describes their audio, for its label and icon. */
export function audioStatus(p: { micMuted: boolean; serverMuted: boolean; deafened?: boolean }): "server-muted" | "deafened" | "muted" | "open" {
  if (p.serverMuted) return "server-muted";
  if (p.deafened) return "deafened";
  if (p.micMuted) return "muted";
  return "open";
}

export const AUDIO_STATUS_LABEL: Record<ReturnType<typeof audioStatus>, string> = {
  "server-muted": "muted by a moderator",
  deafened: "deafened",
  muted: "muted",
  open: "",
};
