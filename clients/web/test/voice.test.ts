import { describe, expect, it } from "vitest";
import { SCREEN_SHARE, audioStatus, isVoiceChannel, matrixIdentity, microphoneConstraints, peopleInCall } from "../src/logic/voice";

describe("voice", () => {
  it("knows which channels hold a call", () => {
    expect(isVoiceChannel("voice")).toBe(true);
    expect(isVoiceChannel("stage")).toBe(true);
    expect(isVoiceChannel("text")).toBe(false);
    expect(isVoiceChannel(undefined)).toBe(false);
  });

  it("lists each person once, in the order they joined", () => {
    const people = peopleInCall([
      { userId: "@b:x", deviceId: "B1" },
      { userId: "@a:x", deviceId: "A1" },
      { userId: "@b:x", deviceId: "B2" },
    ]);
    expect(people).toEqual(["@b:x", "@a:x"]);
  });

  it("finds the Matrix user behind a LiveKit participant", () => {
    // The token service's attribute wins; the legacy identity names the device.
    expect(matrixIdentity("@alice:example.org:8448:DEVICE", { "org.matrix.user_id": "@alice:example.org:8448" })).toEqual({
      userId: "@alice:example.org:8448",
      deviceId: "DEVICE",
    });
    // A hashed identity (MSC4195) carries no device.
    expect(matrixIdentity("q83vEjRWeJA", { "org.matrix.user_id": "@bob:x" })).toEqual({ userId: "@bob:x", deviceId: undefined });
    expect(matrixIdentity("@carol:x:PHONE")).toEqual({ userId: "@carol:x", deviceId: "PHONE" });
    // Not a Matrix participant (an egress, a bot of the media server).
    expect(matrixIdentity("EG_recorder")).toBeNull();
    expect(matrixIdentity("@nocolon")).toBeNull();
  });

  it("suppresses noise unless asked not to", () => {
    expect(microphoneConstraints(true)).toMatchObject({ noiseSuppression: true, echoCancellation: true });
    expect(microphoneConstraints(false).noiseSuppression).toBe(false);
  });

  it("shares screens at 1080p60 and keeps their resolution under load", () => {
    expect(SCREEN_SHARE.capture).toEqual({ width: 1920, height: 1080, frameRate: 60 });
    expect(SCREEN_SHARE.degradationPreference).toBe("maintain-resolution");
  });

  it("says a moderator's mute before the member's own state", () => {
    expect(audioStatus({ micMuted: true, serverMuted: true, deafened: true })).toBe("server-muted");
    expect(audioStatus({ micMuted: true, serverMuted: false, deafened: true })).toBe("deafened");
    expect(audioStatus({ micMuted: true, serverMuted: false })).toBe("muted");
    expect(audioStatus({ micMuted: false, serverMuted: false })).toBe("open");
  });
});
