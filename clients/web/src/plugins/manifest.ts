// A plugin's manifest: the JSON in the comment that opens its source,
//
//   /*! nexus-plugin
//   { "id": "quote", "name": "Quote", "version": "1.0.0",
//     "description": "…", "capabilities": ["messages.send", …] }
//   */
//
// read from the source itself, so what the user is shown at install is what
// the code that runs declared.
import { type Capability, isCapability } from "./capabilities";

export type Manifest = {
  id: string;
  name: string;
  version: string;
  description: string;
  capabilities: Capability[];
};

/**
 * The largest plugin source, in UTF-8 bytes. Installed plugins live in one
 * account data event, which the homeserver caps at 64 KiB.
 */
export const MAX_SOURCE_BYTES = 32 * 1024;

const HEADER = /^\s*\/\*!?\s*nexus-plugin\b([\s\S]*?)\*\//;
const ID = /^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$/;

export type ManifestResult = { ok: true; manifest: Manifest } | { ok: false; error: string };

export function parseManifest(source: string): ManifestResult {
  if (new TextEncoder().encode(source).length > MAX_SOURCE_BYTES) {
    return { ok: false, error: `A plugin may be at most ${MAX_SOURCE_BYTES / 1024} KiB.` };
  }
  const header = HEADER.exec(source);
  if (!header) return { ok: false, error: "The source does not start with a /*! nexus-plugin { … } */ manifest." };
  let raw: unknown;
  try {
    raw = JSON.parse(header[1]);
  } catch (e) {
    return { ok: false, error: `The manifest is not JSON: ${(e as Error).message}` };
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return { ok: false, error: "The manifest must be a JSON object." };
  const m = raw as Record<string, unknown>;
  if (typeof m.id !== "string" || !ID.test(m.id)) {
    return { ok: false, error: "The manifest's id must be 2–40 lowercase letters, digits or dashes." };
  }
  const name = text(m.name, 40);
  if (!name) return { ok: false, error: "The manifest needs a name of at most 40 characters." };
  const version = m.version === undefined ? "" : text(m.version, 20);
  if (version === null) return { ok: false, error: "The manifest's version must be text of at most 20 characters." };
  const description = m.description === undefined ? "" : text(m.description, 200);
  if (description === null) return { ok: false, error: "The manifest's description must be text of at most 200 characters." };
  if (!Array.isArray(m.capabilities)) return { ok: false, error: "The manifest must list its capabilities (an empty list is fine)." };
  const unknown = m.capabilities.filter((c) => !isCapability(c));
  if (unknown.length) return { ok: false, error: `Unknown capabilities: ${unknown.map((c) => JSON.stringify(c)).join(", ")}.` };
  const capabilities = [...new Set(m.capabilities as Capability[])];
  return { ok: true, manifest: { id: m.id, name, version, description, capabilities } };
}

/** Trimmed text of at most `max` characters; "" for blank, null for anything else. */
function text(value: unknown, max: number): string | null {
  if (typeof value !== "string") return null;
  const trimmed = value.trim();
  return trimmed.length <= max ? trimmed : null;
}
