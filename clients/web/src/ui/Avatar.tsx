// A round avatar: the user's or room's image when they set one (fetched with
// the token, see media.tsx), else their initial on a colour derived from
// their ID.
import { type MatrixClient } from "matrix-js-sdk";
import { useSmallImage } from "./media";

type AvatarProps = { id: string; name: string; size?: number; client?: MatrixClient; mxc?: string | null };

export function Avatar({ id, name, size = 40, client, mxc }: AvatarProps) {
  const initial = (name.replace(/^[@#!]/, "")[0] ?? "?").toUpperCase();
  const src = useSmallImage(client as MatrixClient, client ? mxc : null, size * 2);
  if (src) return <img className="avatar" src={src} width={size} height={size} alt="" aria-hidden="true" />;
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
