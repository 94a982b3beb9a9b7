// Who is in the channel, grouped Discord-style by their highest hoisted
// role, in role colours, online first where presence is known.
import { type Room, type RoomMember } from "matrix-js-sdk";
import { useState } from "react";
import { Avatar } from "./Avatar";
import { ProfileCard } from "./Profile";
import type { Props } from "./Shell";

type Role = { name: string; position: number; colours?: { primary?: number }; hoist?: boolean };

export function MemberList({ client, room, space }: Props & { room: Room; space: Room | null }) {
  const [open, setOpen] = useState<string | null>(null);
  const roles = new Map<string, Role>();
  for (const event of space?.currentState.getStateEvents("nexus.role") ?? []) {
    const content = event.getContent() as Role;
    if (content.name) roles.set(event.getStateKey()!, content);
  }
  const rolesOf = (userId: string): Role[] =>
    ((space?.currentState.getStateEvents("nexus.member", userId)?.getContent()?.roles ?? []) as string[])
      .map((id) => roles.get(id))
      .filter((r): r is Role => !!r)
      .sort((a, b) => b.position - a.position);

  const groups = new Map<string, { role: Role | null; members: RoomMember[] }>();
  for (const member of room.getJoinedMembers()) {
    const hoisted = rolesOf(member.userId).find((r) => r.hoist) ?? null;
    const key = hoisted ? hoisted.name : "";
    const group = groups.get(key) ?? { role: hoisted, members: [] };
    group.members.push(member);
    groups.set(key, group);
  }
  const ordered = [...groups.values()].sort((a, b) => (b.role?.position ?? -1) - (a.role?.position ?? -1));
  const owner = space?.currentState.getStateEvents("nexus.server", "")?.getContent()?.owner;

  return (
    <aside className="members" aria-label="Members">
      {open && <ProfileCard client={client} userId={open} onClose={() => setOpen(null)} />}
      {ordered.map(({ role, members }) => (
        <section key={role?.name ?? ""}>
          <h3 className="category">
            {role?.name ?? "Members"} — {members.length}
          </h3>
          <ul role="list">
            {members
              .sort((a, b) => a.name.localeCompare(b.name))
              .map((member) => {
                const colour = rolesOf(member.userId).find((r) => r.colours?.primary)?.colours?.primary;
                const presence = client.getUser(member.userId)?.presence;
                return (
                  <li key={member.userId} className="member" data-user={member.userId}>
                    <button className="member-open" aria-label={`Profile of ${member.name}`} onClick={() => setOpen(member.userId)} />
                    <Avatar id={member.userId} name={member.name} size={32} client={client} mxc={member.getMxcAvatarUrl()} />
                    <span className={`presence ${presence ?? "unknown"}`} aria-label={presence ?? "presence unknown"} />
                    <span style={{ color: colour ? `#${colour.toString(16).padStart(6, "0")}` : undefined }}>{member.name}</span>
                    {member.userId === owner && <span title="Server owner" aria-label="owner"> 👑</span>}
                  </li>
                );
              })}
          </ul>
        </section>
      ))}
    </aside>
  );
}
