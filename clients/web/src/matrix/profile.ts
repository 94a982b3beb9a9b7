// A member's profile: display name and avatar (the spec's), plus Nexus's
// own profile fields — pronouns, bio, banner colour — stored with the
// spec's extended profile fields (`m.profile_fields`), free for everyone.
import { type MatrixClient } from "matrix-js-sdk";

export const FIELDS = { pronouns: "nexus.pronouns", bio: "nexus.bio", banner: "nexus.banner_colour" } as const;
export const LIMITS = { pronouns: 40, bio: 190 } as const;

export type Profile = { displayname?: string; avatar_url?: string; pronouns?: string; bio?: string; banner?: string };

export async function loadProfile(client: MatrixClient, userId: string): Promise<Profile> {
  const raw = await client.getExtendedProfile(userId);
  const text = (key: string) => (typeof raw[key] === "string" ? (raw[key] as string) : undefined);
  return {
    displayname: text("displayname"),
    avatar_url: text("avatar_url"),
    pronouns: text(FIELDS.pronouns),
    bio: text(FIELDS.bio),
    banner: /^#[0-9a-f]{6}$/i.test(text(FIELDS.banner) ?? "") ? text(FIELDS.banner) : undefined,
  };
}

/** Saves the Nexus fields; empty ones are removed rather than stored blank. */
export async function saveProfileFields(client: MatrixClient, profile: Pick<Profile, "pronouns" | "bio" | "banner">): Promise<void> {
  for (const [name, key] of Object.entries(FIELDS) as [keyof typeof FIELDS, string][]) {
    const value = profile[name]?.trim();
    if (value) await client.setExtendedProfileProperty(key, value);
    else await client.deleteExtendedProfileProperty(key).catch(() => undefined);
  }
}

export async function setAvatar(client: MatrixClient, file: File): Promise<void> {
  const { content_uri } = await client.uploadContent(file, { name: file.name, type: file.type });
  await client.setAvatarUrl(content_uri);
}
