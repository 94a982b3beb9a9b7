import { describe, expect, it } from "vitest";
import { roomPushState } from "../src/logic/roomPushState";

const room = "!seeds:x";
const inRoom = [{ kind: "event_match", key: "room_id", pattern: room }];

describe("roomPushState", () => {
  it("reads the homeserver's mute override as muted", () => {
    expect(roomPushState({ global: { override: [{ rule_id: `nexus.mute.${room}`, enabled: true, actions: [], conditions: inRoom }] } }, room)).toBe("muted");
  });

  it("reads a silent room rule as mentions only", () => {
    expect(roomPushState({ global: { room: [{ rule_id: room, enabled: true, actions: [] }] } }, room)).toBe("mentions");
  });

  it("ignores disabled rules, rules that notify, and other rooms' rules", () => {
    expect(roomPushState({ global: { override: [{ rule_id: "m", enabled: false, actions: [], conditions: inRoom }] } }, room)).toBe("all");
    expect(roomPushState({ global: { override: [{ rule_id: "m", enabled: true, actions: ["notify"], conditions: inRoom }] } }, room)).toBe("all");
    expect(roomPushState({ global: { room: [{ rule_id: "!other:x", enabled: true, actions: [] }] } }, room)).toBe("all");
  });

  it("does not take a narrower override (suppressing @everyone) for a mute", () => {
    const everyone = [...inRoom, { kind: "event_property_is", key: "content.m\\.mentions.room" }];
    expect(roomPushState({ global: { override: [{ rule_id: `nexus.suppress_everyone.${room}`, enabled: true, actions: [], conditions: everyone }] } }, room)).toBe("all");
  });

  it("is all messages without rules", () => {
    expect(roomPushState(undefined, room)).toBe("all");
  });
});
