// Profiles: the card shown when a member is clicked, and the editor in
// the user's settings (avatar, pronouns, bio, banner colour).
import { type MatrixClient } from "matrix-js-sdk";
import { type FormEvent, useState } from "react";
import { LIMITS, type Profile, loadProfile, saveProfileFields, setAvatar } from "../matrix/profile";
import { describeError } from "../matrix/session";
import { Avatar } from "./Avatar";
import { useAsync } from "./hooks";

export function ProfileCard({ client, userId, onClose }: { client: MatrixClient; userId: string; onClose: () => void }) {
  const { value: profile, error } = useAsync(() => loadProfile(client, userId), [userId]);
  const name = profile?.displayname ?? userId;
  return (
    <div className="profile-card" role="dialog" aria-label={`Profile of ${name}`} onKeyDown={(e) => e.key === "Escape" && onClose()}>
      <div className="banner" style={{ background: profile?.banner ?? "var(--accent)" }} />
      <Avatar id={userId} name={name} size={72} client={client} mxc={profile?.avatar_url} />
      <button className="close" aria-label="Close profile" onClick={onClose} autoFocus>
        ×
      </button>
      <h3>{name}</h3>
      <p className="muted">{userId}</p>
      {profile?.pronouns && <p className="pronouns">{profile.pronouns}</p>}
      {profile?.bio && (
        <section aria-label="About me">
          <h4>About me</h4>
          <p className="bio">{profile.bio}</p>
        </section>
      )}
      {error ? <p className="error">{describeError(error)}</p> : null}
    </div>
  );
}

export function ProfileEditor({ client }: { client: MatrixClient }) {
  const me = client.getUserId()!;
  const { value: loaded, reload } = useAsync(() => loadProfile(client, me), [me]);
  const [draft, setDraft] = useState<Profile | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const profile = draft ?? loaded ?? {};
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      if (draft?.displayname !== undefined && draft.displayname !== loaded?.displayname) await client.setDisplayName(draft.displayname.trim());
      await saveProfileFields(client, profile);
      setDraft(null);
      setStatus("Profile saved.");
      reload();
    } catch (err) {
      setStatus(describeError(err));
    }
  };
  return (
    <form onSubmit={save} className="profile-editor">
      <h3>Profile</h3>
      <div className="row">
        <Avatar id={me} name={profile.displayname ?? me} size={64} client={client} mxc={profile.avatar_url} />
        <label>
          Avatar
          <input
            type="file"
            accept="image/png,image/jpeg,image/gif,image/webp"
            onChange={async (e) => {
              const file = e.target.files?.[0];
              if (!file) return;
              try {
                await setAvatar(client, file);
                reload();
              } catch (err) {
                setStatus(describeError(err));
              }
            }}
          />
        </label>
      </div>
      <label>
        Display name
        <input name="display-name" maxLength={256} value={profile.displayname ?? ""} onChange={(e) => setDraft({ ...profile, displayname: e.target.value })} />
      </label>
      <label>
        Pronouns
        <input name="pronouns" maxLength={LIMITS.pronouns} value={profile.pronouns ?? ""} onChange={(e) => setDraft({ ...profile, pronouns: e.target.value })} />
      </label>
      <label>
        About me
        <textarea name="bio" rows={3} maxLength={LIMITS.bio} value={profile.bio ?? ""} onChange={(e) => setDraft({ ...profile, bio: e.target.value })} />
      </label>
      <label>
        Banner colour
        <input type="color" name="banner" value={profile.banner ?? "#5865f2"} onChange={(e) => setDraft({ ...profile, banner: e.target.value })} />
      </label>
      <button type="submit" className="primary" disabled={!draft}>
        Save profile
      </button>
      {status && <p role="status">{status}</p>}
    </form>
  );
}
