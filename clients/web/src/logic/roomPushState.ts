// How a room's notifications stand in the user's push rules (`m.push_rules`),
// which is where the homeserver writes notification levels down (extensions-
// spec §22, "Notification levels") and where other Matrix clients write theirs:
// muted is an enabled override that matches the room alone and does not
// notify (`nexus.mute.<room>`, or Element's rule named after the room);
// mentions only is an enabled room rule that does not notify. Read from
// the rules the client already syncs, so the channel list costs no requests.

type Condition = { kind?: string; key?: string; pattern?: string };
type Rule = { rule_id: string; enabled?: boolean; actions?: unknown[]; conditions?: Condition[] };
export type PushRulesLike = { global?: { override?: Rule[]; room?: Rule[] } } | null | undefined;

export type RoomPushState = "muted" | "mentions" | "all";

const notifies = (rule: Rule) => (rule.actions ?? []).includes("notify");

const matchesRoomAlone = (rule: Rule, roomId: string) =>
  rule.conditions?.length === 1 && rule.conditions[0].kind === "event_match" && rule.conditions[0].key === "room_id" && rule.conditions[0].pattern === roomId;

export function roomPushState(rules: PushRulesLike, roomId: string): RoomPushState {
  const global = rules?.global;
  if (global?.override?.some((r) => r.enabled !== false && matchesRoomAlone(r, roomId) && !notifies(r))) return "muted";
  if (global?.room?.some((r) => r.enabled !== false && r.rule_id === roomId && !notifies(r))) return "mentions";
  return "all";
}
