// Mentions as Discord users type them — @user, @role, @everyone, #channel —
// expressed the Matrix way: pills (matrix.to links) in formatted_body and
// intentional mentions in `m.mentions`. A role mention lists the role's
// members, so stock clients ping them, and is marked `nexus.role_mention`
// (extensions-spec, notification levels).

import { escapeHtml, plainHtml } from "./markdown";

export type Mention =
  | { kind: "user"; id: string; name: string }
  | { kind: "role"; id: string; name: string; members: string[] }
  | { kind: "everyone"; id: "everyone"; name: "everyone" }
  | { kind: "channel"; id: string; name: string };

export type MentionSources = {
  members: { userId: string; name: string }[];
  roles: { id: string; name: string; mentionable?: boolean; members: string[] }[];
  channels: { roomId: string; name: string }[];
  /** MENTION_EVERYONE: @everyone, and roles that are not mentionable. */
  mayMentionEveryone: boolean;
};

/** What the autocomplete offers after `@` or `#` and the letters typed so far. */
export function mentionCandidates(trigger: "@" | "#", query: string, sources: MentionSources, limit = 8): Mention[] {
  const q = query.toLowerCase();
  const starts = (s: string) => s.toLowerCase().startsWith(q);
  if (trigger === "#") {
    return sources.channels.filter((c) => starts(c.name)).slice(0, limit).map((c) => ({ kind: "channel", id: c.roomId, name: c.name }));
  }
  const found: Mention[] = [];
  if (sources.mayMentionEveryone && starts("everyone")) found.push({ kind: "everyone", id: "everyone", name: "everyone" });
  for (const m of sources.members) {
    if (starts(m.name) || m.userId.slice(1).toLowerCase().startsWith(q)) found.push({ kind: "user", id: m.userId, name: m.name });
  }
  for (const r of sources.roles) {
    if ((r.mentionable || sources.mayMentionEveryone) && starts(r.name)) found.push({ kind: "role", id: r.id, name: r.name, members: r.members });
  }
  return found.slice(0, limit);
}

export function mentionText(m: Mention): string {
  return `${m.kind === "channel" ? "#" : "@"}${m.name}`;
}

/** The content fields a message's mentions add: pills, `m.mentions`, and the role mark. */
export function applyMentions(
  text: string,
  formatted: string | null,
  chosen: Mention[],
): { formatted: string | null; mentions: { user_ids: string[]; room?: true }; roleMention: boolean } {
  const used = chosen.filter((m) => text.includes(mentionText(m)));
  const userIds = new Set<string>();
  let room = false;
  let roleMention = false;
  let html = formatted;
  for (const m of used) {
    if (m.kind === "user") userIds.add(m.id);
    if (m.kind === "role") {
      roleMention = true;
      m.members.forEach((id) => userIds.add(id));
    }
    if (m.kind === "everyone") room = true;
    if (m.kind === "user" || m.kind === "channel") {
      html = html ?? plainHtml(text);
      const label = escapeHtml(mentionText(m));
      html = html.split(label).join(`<a href="https://matrix.to/#/${encodeURIComponent(m.id)}">${label}</a>`);
    }
  }
  return { formatted: html, mentions: room ? { user_ids: [...userIds], room: true } : { user_ids: [...userIds] }, roleMention };
}
