// When each member started typing, as this client saw it. A bot's deferred
// answer shows as the bot typing, and the bridge leaves that notice to time
// out (30 s) past the answer: only typing that began after a command line
// can be that command's "thinking".
import { type MatrixClient, type MatrixEvent, type RoomMember, RoomMemberEvent } from "matrix-js-sdk";

const perClient = new WeakMap<MatrixClient, Map<string, number>>();

function startTimes(client: MatrixClient): Map<string, number> {
  let since = perClient.get(client);
  if (!since) {
    const times = new Map<string, number>();
    client.on(RoomMemberEvent.Typing, (_event: MatrixEvent, member: RoomMember) => {
      const key = `${member.roomId} ${member.userId}`;
      if (!member.typing) times.delete(key);
      else if (!times.has(key)) times.set(key, Date.now());
    });
    perClient.set(client, times);
    since = times;
  }
  return since;
}

/** When `member` started typing (this client's clock), or null when they are not typing. */
export function typingSince(client: MatrixClient, member: RoomMember | null): number | null {
  if (!member?.typing) return null;
  const times = startTimes(client);
  const key = `${member.roomId} ${member.userId}`;
  // Typing already under way when first asked about: seen now.
  if (!times.has(key)) times.set(key, Date.now());
  return times.get(key)!;
}
