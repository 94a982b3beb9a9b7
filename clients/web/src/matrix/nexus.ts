// The Nexus client API (extensions-spec §22) under /_nexus/client/v1: what
// only the homeserver knows (effective permissions, invite codes) and the
// bookkeeping it does for us (linking channels, role IDs).
import { type MatrixClient, Method } from "matrix-js-sdk";

export const PREFIX = "/_nexus/client/v1";

export type Category = { id: string; name: string };
export type ServerContent = { owner: string; categories?: Category[]; description?: string; icon?: string; system_channel?: string };
export type ChannelContent = { type?: string; category?: string; position?: number; topic?: string; slowmode_seconds?: number };
export type ChannelEntry = { room_id: string; name?: string; channel: ChannelContent; joined: boolean };
export type Role = {
  name: string;
  position: number;
  permissions: string;
  colours?: { primary?: number };
  hoist?: boolean;
  mentionable?: boolean;
};
export type MemberContent = { roles?: string[]; timeout_until?: number; nick?: string };
export type Overview = {
  server_id: string;
  name?: string;
  server: ServerContent;
  roles: Record<string, Role>;
  channels: ChannelEntry[];
  you: { permissions: string; member?: MemberContent | null };
};
export type Invite = { code: string; server_id: string; inviter: string; expires_ts?: number | null; max_uses?: number; uses?: number };
export type InvitePreview = Invite & { server: { name?: string; topic?: string; num_joined_members: number } };

export class NexusApi {
  constructor(private readonly client: MatrixClient) {}

  private request<T>(method: Method, path: string, body?: unknown, query?: Record<string, string>): Promise<T> {
    return this.client.http.authedRequest<T>(method, path, query, body as never, { prefix: PREFIX });
  }

  createServer(name: string): Promise<{ server_id: string; channels: unknown }> {
    return this.request(Method.Post, "/servers", { name });
  }

  overview(serverId: string): Promise<Overview> {
    return this.request(Method.Get, `/servers/${encodeURIComponent(serverId)}`);
  }

  createChannel(serverId: string, channel: { name: string; type?: string; category?: string; topic?: string }): Promise<{ room_id: string }> {
    return this.request(Method.Post, `/servers/${encodeURIComponent(serverId)}/channels`, channel);
  }

  editChannel(
    roomId: string,
    changes: { name?: string; topic?: string; position?: number; category?: string | null; slowmode_seconds?: number },
  ): Promise<object> {
    return this.request(Method.Patch, `/channels/${encodeURIComponent(roomId)}`, changes);
  }

  deleteChannel(roomId: string): Promise<object> {
    return this.request(Method.Delete, `/channels/${encodeURIComponent(roomId)}`);
  }

  permissions(roomId: string, userId?: string): Promise<{ permissions: string; names: string[] }> {
    return this.request(Method.Get, `/rooms/${encodeURIComponent(roomId)}/permissions`, undefined, userId ? { user_id: userId } : undefined);
  }

  createRole(serverId: string, role: Role): Promise<{ role_id: string }> {
    return this.request(Method.Post, `/servers/${encodeURIComponent(serverId)}/roles`, role);
  }

  putRole(serverId: string, roleId: string, role: Role): Promise<object> {
    return this.request(Method.Put, `/servers/${encodeURIComponent(serverId)}/roles/${encodeURIComponent(roleId)}`, role);
  }

  assignRole(serverId: string, userId: string, roleId: string, on: boolean): Promise<object> {
    const path = `/servers/${encodeURIComponent(serverId)}/members/${encodeURIComponent(userId)}/roles/${encodeURIComponent(roleId)}`;
    return this.request(on ? Method.Put : Method.Delete, path);
  }

  kick(serverId: string, userId: string, reason?: string): Promise<object> {
    return this.request(Method.Post, `/servers/${encodeURIComponent(serverId)}/members/${encodeURIComponent(userId)}/kick`, { reason });
  }

  ban(serverId: string, userId: string, reason?: string): Promise<object> {
    return this.request(Method.Post, `/servers/${encodeURIComponent(serverId)}/members/${encodeURIComponent(userId)}/ban`, { reason });
  }

  timeout(serverId: string, userId: string, untilMs: number | null): Promise<object> {
    return this.request(Method.Put, `/servers/${encodeURIComponent(serverId)}/members/${encodeURIComponent(userId)}/timeout`, { until_ms: untilMs });
  }

  /** Who is in a voice channel's call and what moderators set on them. */
  voiceParticipants(roomId: string): Promise<{ participants: { user_id: string; server_mute?: boolean; server_deaf?: boolean }[] }> {
    return this.request(Method.Get, `/channels/${encodeURIComponent(roomId)}/voice`);
  }

  /** Server mute or deafen in a voice channel (MUTE_MEMBERS / DEAFEN_MEMBERS). */
  moderateVoice(roomId: string, userId: string, change: { mute?: boolean; deaf?: boolean }): Promise<object> {
    return this.request(Method.Put, `/channels/${encodeURIComponent(roomId)}/voice/${encodeURIComponent(userId)}`, change);
  }

  /** Ends a member's call in a voice channel (MOVE_MEMBERS, or oneself). */
  disconnectVoice(roomId: string, userId: string): Promise<{ ended_memberships: number }> {
    return this.request(Method.Post, `/channels/${encodeURIComponent(roomId)}/voice/${encodeURIComponent(userId)}/disconnect`, {});
  }

  createInvite(serverId: string, maxAgeSeconds?: number, maxUses?: number): Promise<Invite> {
    return this.request(Method.Post, `/servers/${encodeURIComponent(serverId)}/invites`, { max_age: maxAgeSeconds, max_uses: maxUses });
  }

  invites(serverId: string): Promise<{ invites: Invite[] }> {
    return this.request(Method.Get, `/servers/${encodeURIComponent(serverId)}/invites`);
  }

  invite(code: string): Promise<InvitePreview> {
    return this.request(Method.Get, `/invites/${encodeURIComponent(code)}`);
  }

  joinInvite(code: string): Promise<{ server_id: string }> {
    return this.request(Method.Post, `/invites/${encodeURIComponent(code)}/join`, {});
  }

  auditLog(serverId: string): Promise<{ entries: AuditEntry[] }> {
    return this.request(Method.Get, `/servers/${encodeURIComponent(serverId)}/audit_log`, undefined, { limit: "50" });
  }

  startExport(): Promise<ExportJob> {
    return this.request(Method.Post, "/export", { messages: "visible" });
  }

  exports(): Promise<{ exports: ExportJob[] }> {
    return this.request(Method.Get, "/export");
  }

  /** Downloads an archive with the access token in a header (never in a URL), then saves it. */
  async downloadExport(exportId: string): Promise<void> {
    const url = `${this.client.baseUrl}${PREFIX}/export/${encodeURIComponent(exportId)}/download`;
    const response = await fetch(url, { headers: { Authorization: `Bearer ${this.client.getAccessToken()}` } });
    if (!response.ok) throw new Error(`The download failed (${response.status}).`);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = `nexus-export-${exportId}.zip`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  /** The server's scheduled and active events, soonest first, with interested counts (§12, §22). */
  scheduledEvents(serverId: string): Promise<{ events: ScheduledEventEntry[] }> {
    return this.request(Method.Get, `/servers/${encodeURIComponent(serverId)}/scheduled_events`);
  }

  /** A channel's active threads, or its archived ones (§10.3), newest activity first. */
  channelThreads(roomId: string, opts: { archived?: boolean; from?: string; limit?: number } = {}): Promise<{ threads: ThreadEntry[]; next_batch?: string }> {
    const query: Record<string, string> = { archived: String(!!opts.archived) };
    if (opts.from) query.from = opts.from;
    if (opts.limit) query.limit = String(opts.limit);
    return this.request(Method.Get, `/channels/${encodeURIComponent(roomId)}/threads`, undefined, query);
  }

  /** A channel's `m.room.pinned_events` in order, each with its event when the caller may read it. */
  pins(roomId: string): Promise<{ pins: PinEntry[] }> {
    return this.request(Method.Get, `/channels/${encodeURIComponent(roomId)}/pins`);
  }

  /**
   * Discord-style search (§24.2). `signal` cancels a request the user has
   * typed past, so search-as-you-type does not queue work on the server.
   */
  search(request: SearchRequest, signal?: AbortSignal): Promise<SearchResponse> {
    return this.client.http.authedRequest<SearchResponse>(Method.Post, "/search", undefined, request as never, { prefix: PREFIX, abortSignal: signal });
  }

  /** The caller's saved searches in the order saved (§24.3; also `nexus.saved_searches` account data). */
  savedSearches(): Promise<{ searches: SavedSearch[] }> {
    return this.request(Method.Get, "/saved_searches");
  }

  /** Saves a search under `name`, replacing one of that name; a query that does not parse is refused (400). */
  saveSearch(name: string, search: SearchScope & { query: string }): Promise<SavedSearch> {
    return this.request(Method.Put, `/saved_searches/${encodeURIComponent(name)}`, search);
  }

  deleteSavedSearch(name: string): Promise<object> {
    return this.request(Method.Delete, `/saved_searches/${encodeURIComponent(name)}`);
  }
}

export type AuditEntry = { id: string; action: string; user_id: string; target_id?: string | null; reason?: string | null; created_ts: number };
export type ExportJob = { export_id: string; status: string; created_ts?: number; size?: number | null; error?: string | null };

/** Channels in the order Nexus clients list them (§4.3): uncategorised first, then by category, by position, by room ID. */
export function orderChannels(channels: ChannelEntry[], categories: Category[] = []): { category: Category | null; channels: ChannelEntry[] }[] {
  const known = new Set(categories.map((c) => c.id));
  const byPlace = (a: ChannelEntry, b: ChannelEntry) =>
    (a.channel.position ?? 0) - (b.channel.position ?? 0) || (a.room_id < b.room_id ? -1 : a.room_id > b.room_id ? 1 : 0);
  const groups: { category: Category | null; channels: ChannelEntry[] }[] = [
    { category: null, channels: channels.filter((c) => !c.channel.category || !known.has(c.channel.category)).sort(byPlace) },
  ];
  for (const category of categories) {
    groups.push({ category, channels: channels.filter((c) => c.channel.category === category.id).sort(byPlace) });
  }
  return groups.filter((g) => g.category !== null || g.channels.length > 0);
}

/** The highest-positioned coloured role of a member, for their name's colour. */
export function memberColour(roles: Record<string, Role>, member: MemberContent | null | undefined): number | undefined {
  let best: Role | undefined;
  for (const id of member?.roles ?? []) {
    const role = roles[id];
    if (role?.colours?.primary && (!best || role.position > best.position)) best = role;
  }
  return best?.colours?.primary;
}

// Scheduled events (§12), threads (§10) and pins as the client API serves them (§22).
export type ScheduledEventStatus = "scheduled" | "active" | "completed" | "cancelled";
/** `nexus.scheduled_event` content (schemas/nexus.scheduled_event.schema.json). */
export type ScheduledEventContent = {
  name: string;
  description?: string;
  creator: string;
  start: number;
  end?: number;
  location?: string;
  channel?: string;
  status: ScheduledEventStatus;
  image?: string;
  recurrence?: Record<string, unknown>;
};
export type ScheduledEventEntry = { id: string; event: ScheduledEventContent; interested: number; you_interested: boolean };
export type AutoArchiveDuration = 60 | 1440 | 4320 | 10080;
/** `nexus.thread` content (schemas/nexus.thread.schema.json). */
export type ThreadContent = {
  name: string;
  archived?: boolean;
  locked?: boolean;
  auto_archive_duration: AutoArchiveDuration;
  invitable?: boolean;
  private?: boolean;
  archive_timestamp?: number;
  applied_tags?: string[];
};
export type ThreadEntry = { room_id: string; root_id: string; creator?: string; archived: boolean; count: number; last_activity_ts: number; thread?: ThreadContent };
/** A client-format event as `GET /event` serves it. */
export type ServedEvent = { event_id?: string; type?: string; sender?: string; origin_server_ts?: number; content?: Record<string, any>; unsigned?: Record<string, any> };
export type PinEntry = { event_id: string; event?: ServedEvent };

// Search (§24).
export type SearchOrder = "relevance" | "recent";
/** Where a search looks and how it sorts: one server (`server_id`), one room (`room_id`), or every searchable room. */
export type SearchScope = { server_id?: string; room_id?: string; order_by?: SearchOrder };
export type SearchRequest = SearchScope & { query?: string; saved?: string; limit?: number; next_batch?: string; prefix?: boolean };
export type SearchResult = { rank: number; room_id: string; event: ServedEvent };
export type SearchResponse = {
  count: number;
  results: SearchResult[];
  /** The words of the results that matched, as they appear in them. */
  highlights: string[];
  next_batch?: string;
  /** Encrypted rooms in the scope: the server cannot read, so did not search, them. */
  unsearchable_rooms: string[];
};
export type SavedSearch = SearchScope & { name: string; query: string };
