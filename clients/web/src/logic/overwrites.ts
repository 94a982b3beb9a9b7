// Channel overwrites (extensions-spec §8): reading the
// `nexus.channel.overwrites` state content, editing one flag of one role or
// member, and writing it back in the schema's exact shape. Pure functions on
// immutable values, so the editor can keep a draft and compare it with the
// room's state.
import { PERMISSION_BITS, PERMISSION_GROUPS, SERVER_ONLY } from "./permissions";

export const OVERWRITES_EVENT = "nexus.channel.overwrites";
/** §8: a channel holds at most this many overwrites, roles and members together. */
export const MAX_OVERWRITES = 500;
/** @everyone's role ID, in `roles` as in `nexus.role`. */
export const EVERYONE = "everyone";

export type Overwrite = { allow: bigint; deny: bigint };
export type OverwriteTarget = { kind: "role" | "member"; id: string };
export type FlagState = "allow" | "inherit" | "deny";

export type Overwrites = {
  roles: Readonly<Record<string, Overwrite>>;
  members: Readonly<Record<string, Overwrite>>;
  /** Namespaced extension keys the schema allows; kept so a save does not drop them. */
  extensions: Readonly<Record<string, unknown>>;
};

export const EMPTY_OVERWRITES: Overwrites = { roles: {}, members: {}, extensions: {} };
const NO_OVERWRITE: Overwrite = { allow: 0n, deny: 0n };
const BITFIELD = /^(0|[1-9][0-9]{0,19})$/;
const EXTENSION_KEY = /^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/;
const U64 = (1n << 64n) - 1n;

/** Every bit a server-wide-only flag uses: §7.1 forbids them in overwrites. */
export const SERVER_ONLY_BITS = [...SERVER_ONLY].reduce((bits, name) => bits | bitOf(name), 0n);

/** The permissions editor's groups without the server-wide flags (empty groups dropped). */
export const OVERWRITE_GROUPS: { title: string; flags: string[] }[] = PERMISSION_GROUPS.map((group) => ({
  title: group.title,
  flags: group.flags.filter((flag) => !SERVER_ONLY.has(flag)),
})).filter((group) => group.flags.length > 0);

function bitOf(name: string): bigint {
  const bit = PERMISSION_BITS[name];
  if (bit === undefined) throw new Error(`unknown permission ${name}`);
  return 1n << BigInt(bit);
}

function parseBitfield(field: unknown): bigint {
  if (typeof field !== "string" || !BITFIELD.test(field)) return 0n;
  const bits = BigInt(field);
  return bits > U64 ? 0n : bits;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseMap(value: unknown): Record<string, Overwrite> {
  if (!isObject(value)) return {};
  const map: Record<string, Overwrite> = {};
  for (const [id, entry] of Object.entries(value)) {
    if (!isObject(entry)) continue;
    map[id] = { allow: parseBitfield(entry.allow), deny: parseBitfield(entry.deny) };
  }
  return map;
}

/**
 * Reads event content leniently: a missing or malformed part counts as no
 * overwrite (§8's defaults), so a damaged event still opens in the editor.
 */
export function parseOverwrites(content: unknown): Overwrites {
  if (!isObject(content)) return EMPTY_OVERWRITES;
  const extensions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(content)) {
    if (EXTENSION_KEY.test(key)) extensions[key] = value;
  }
  return { roles: parseMap(content.roles), members: parseMap(content.members), extensions };
}

function mapOf(overwrites: Overwrites, kind: OverwriteTarget["kind"]): Readonly<Record<string, Overwrite>> {
  return kind === "role" ? overwrites.roles : overwrites.members;
}

/** The overwrite of one role or member; absent is allow = deny = 0. */
export function overwriteOf(overwrites: Overwrites, target: OverwriteTarget): Overwrite {
  return mapOf(overwrites, target.kind)[target.id] ?? NO_OVERWRITE;
}

export function hasOverwrite(overwrites: Overwrites, target: OverwriteTarget): boolean {
  return Object.hasOwn(mapOf(overwrites, target.kind), target.id);
}

/** What one flag's tri-state shows. A bit in both allow and deny (invalid) reads as deny, the safer side. */
export function flagState(overwrites: Overwrites, target: OverwriteTarget, flag: string): FlagState {
  const bit = bitOf(flag);
  const { allow, deny } = overwriteOf(overwrites, target);
  if (deny & bit) return "deny";
  if (allow & bit) return "allow";
  return "inherit";
}

function withOverwrite(overwrites: Overwrites, target: OverwriteTarget, overwrite: Overwrite | null): Overwrites {
  const map = { ...mapOf(overwrites, target.kind) };
  if (overwrite) map[target.id] = overwrite;
  else delete map[target.id];
  return target.kind === "role" ? { ...overwrites, roles: map } : { ...overwrites, members: map };
}

/** Sets one flag of one target; allow and deny never share the bit afterwards. */
export function setFlag(overwrites: Overwrites, target: OverwriteTarget, flag: string, state: FlagState): Overwrites {
  if (SERVER_ONLY.has(flag)) throw new Error(`${flag} is server-wide and cannot be overwritten in a channel`);
  const bit = bitOf(flag);
  const current = overwriteOf(overwrites, target);
  const allow = state === "allow" ? current.allow | bit : current.allow & ~bit;
  const deny = state === "deny" ? current.deny | bit : current.deny & ~bit;
  return withOverwrite(overwrites, target, { allow, deny });
}

/** Lists a role or member in the editor with nothing overwritten yet (kept as is when already there). */
export function addTarget(overwrites: Overwrites, target: OverwriteTarget): Overwrites {
  return hasOverwrite(overwrites, target) ? overwrites : withOverwrite(overwrites, target, { ...NO_OVERWRITE });
}

export function removeTarget(overwrites: Overwrites, target: OverwriteTarget): Overwrites {
  return withOverwrite(overwrites, target, null);
}

/** Member IDs with an overwrite, sorted, for the editor's list. */
export function memberTargets(overwrites: Overwrites): string[] {
  return Object.keys(overwrites.members).sort();
}

function cleaned(overwrite: Overwrite): Overwrite {
  // Deny wins a shared bit, as flagState shows it; server-wide bits are dropped (§7.1).
  const deny = overwrite.deny & ~SERVER_ONLY_BITS;
  return { allow: overwrite.allow & ~SERVER_ONLY_BITS & ~deny, deny };
}

function serializeMap(map: Readonly<Record<string, Overwrite>>): Record<string, { allow: string; deny: string }> {
  const out: Record<string, { allow: string; deny: string }> = {};
  for (const id of Object.keys(map).sort()) {
    const { allow, deny } = cleaned(map[id]);
    // An overwrite that changes nothing only counts against the 500 limit.
    if (allow === 0n && deny === 0n) continue;
    out[id] = { allow: allow.toString(), deny: deny.toString() };
  }
  return out;
}

/** The state event content §8 and its schema specify: canonical decimal strings, no shared or server-wide bits. */
export function serializeOverwrites(overwrites: Overwrites): Record<string, unknown> {
  return { ...overwrites.extensions, roles: serializeMap(overwrites.roles), members: serializeMap(overwrites.members) };
}

/** How many overwrites a save would write (for the 500 limit). */
export function overwriteCount(overwrites: Overwrites): number {
  const content = serializeOverwrites(overwrites) as { roles: object; members: object };
  return Object.keys(content.roles).length + Object.keys(content.members).length;
}

/** Whether two values would write the same content: the editor's "unsaved changes". */
export function sameOverwrites(a: Overwrites, b: Overwrites): boolean {
  return JSON.stringify(serializeOverwrites(a)) === JSON.stringify(serializeOverwrites(b));
}
