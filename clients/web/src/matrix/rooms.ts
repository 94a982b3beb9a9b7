// What the sidebar lists, read from the client's rooms: Nexus servers
// (spaces with `nexus.server`), direct messages, and unread counts.
import { type MatrixClient, type Room, KnownMembership, NotificationCountType } from "matrix-js-sdk";

export type ServerSummary = { roomId: string; name: string; unread: number; mentions: number };

export function isNexusServer(room: Room): boolean {
  return room.getMyMembership() === KnownMembership.Join && !!room.currentState.getStateEvents("nexus.server", "");
}

/** The space a channel belongs to (its canonical `m.space.parent`), if joined. */
export function parentServer(client: MatrixClient, room: Room): Room | null {
  for (const parent of room.currentState.getStateEvents("m.space.parent")) {
    const space = client.getRoom(parent.getStateKey()!);
    if (space && isNexusServer(space) && Object.keys(parent.getContent()).length > 0) return space;
  }
  return null;
}

/** Channels of a server the user is joined to (from the space's `m.space.child`). */
export function joinedChannels(client: MatrixClient, space: Room): Room[] {
  return space.currentState
    .getStateEvents("m.space.child")
    .filter((child) => Object.keys(child.getContent()).length > 0)
    .map((child) => client.getRoom(child.getStateKey()!))
    .filter((room): room is Room => !!room && room.getMyMembership() === KnownMembership.Join);
}

export function unread(room: Room): { unread: number; mentions: number } {
  return {
    unread: room.getUnreadNotificationCount(NotificationCountType.Total),
    mentions: room.getUnreadNotificationCount(NotificationCountType.Highlight),
  };
}

export function servers(client: MatrixClient): ServerSummary[] {
  return client
    .getRooms()
    .filter(isNexusServer)
    .sort((a, b) => a.roomId.localeCompare(b.roomId))
    .map((space) => {
      const counts = joinedChannels(client, space).map(unread);
      return {
        roomId: space.roomId,
        name: space.name,
        unread: counts.reduce((n, c) => n + c.unread, 0),
        mentions: counts.reduce((n, c) => n + c.mentions, 0),
      };
    });
}

/** Direct-message rooms: those `m.direct` names, plus joined rooms outside any server that are not spaces. */
export function directRooms(client: MatrixClient): Room[] {
  const direct = client.getAccountData("m.direct" as never)?.getContent() ?? {};
  const ids = new Set(Object.values(direct as Record<string, string[]>).flat());
  return client
    .getRooms()
    .filter((room) => {
      const membership = room.getMyMembership();
      if (membership !== KnownMembership.Join && membership !== KnownMembership.Invite) return false;
      if (room.isSpaceRoom() || parentServer(client, room)) return false;
      return ids.has(room.roomId) || membership === KnownMembership.Invite || room.getJoinedMemberCount() <= 2;
    })
    .sort((a, b) => b.getLastActiveTimestamp() - a.getLastActiveTimestamp());
}

/** The other person of a DM, for its name and avatar. */
export function dmPartner(client: MatrixClient, room: Room): string | null {
  const me = client.getUserId();
  const direct = client.getAccountData("m.direct" as never)?.getContent() as Record<string, string[]> | undefined;
  for (const [user, rooms] of Object.entries(direct ?? {})) if (rooms.includes(room.roomId)) return user;
  return room.getMembers().find((m) => m.userId !== me)?.userId ?? null;
}

/** Adds a room to the user's `m.direct` under `userId`. */
export async function markDirect(client: MatrixClient, userId: string, roomId: string): Promise<void> {
  const direct = { ...((client.getAccountData("m.direct" as never)?.getContent() as Record<string, string[]>) ?? {}) };
  direct[userId] = [...new Set([...(direct[userId] ?? []), roomId])];
  await client.setAccountData("m.direct" as never, direct as never);
}
