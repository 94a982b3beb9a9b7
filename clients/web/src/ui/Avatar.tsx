// A round avatar: the user's or room's initial on a colour derived from its
// ID (no image fetches from elsewhere; media avatars come later).
export function Avatar({ id, name, size = 40 }: { id: string; name: string; size?: number }) {
  const initial = (name.replace(/^[@#!]/, "")[0] ?? "?").toUpperCase();
  return (
    <span className="avatar" style={{ width: size, height: size, background: colourFor(id), fontSize: size * 0.45 }} aria-hidden="true">
      {initial}
    </span>
  );
}

const PALETTE = ["#5865f2", "#3ba55c", "#faa61a", "#ed4245", "#eb459e", "#9b59b6", "#1abc9c", "#e67e22"];

export function colourFor(id: string): string {
  let hash = 0;
  for (const ch of id) hash = (hash * 31 + ch.charCodeAt(0)) | 0;
  return PALETTE[Math.abs(hash) % PALETTE.length];
}
