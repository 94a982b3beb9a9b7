// Notification settings for a server (from its menu) or a channel (the bell
// in its header), as Discord has them: mute for a while, the level (all
// messages, only @mentions, nothing, or inherit), and for a server,
// suppressing @everyone and role mentions. Each change is saved at once
// through the homeserver (extensions-spec §22, "Notification levels"),
// which answers what is in force; the dialog says so and which layer it
// comes from (this channel, your server setting, the server's default).
import type { MatrixClient } from "matrix-js-sdk";
import { useEffect, useState } from "react";
import {
  type Explained,
  type Layer,
  type Level,
  type NotificationAnswer,
  type NotificationSetting,
  LAYER_TEXT,
  LEVEL_LABELS,
  MUTE_DURATIONS,
  effectiveSummary,
  explain,
  isMuted,
  muteEnd,
  mutedUntilText,
} from "../logic/notificationLevels";
import { type NotificationScope, loadNotificationSetting, saveNotificationSetting } from "../matrix/notificationSettings";
import { describeError } from "../matrix/session";
import { Modal } from "./Modal";

export type NotificationTarget =
  | { kind: "server"; serverId: string; name: string; defaultLevel: Level }
  | { kind: "channel"; serverId: string; roomId: string; name: string };

type Loaded = { own: NotificationAnswer; server: NotificationAnswer };

const LEVELS: Level[] = ["all_messages", "only_mentions", "nothing"];

export function NotificationSettings({ client, target, onClose }: { client: MatrixClient; target: NotificationTarget; onClose: () => void }) {
  const scope: NotificationScope = target.kind === "server" ? { kind: "server", serverId: target.serverId } : { kind: "channel", roomId: target.roomId };
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [status, setStatus] = useState<{ error: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [duration, setDuration] = useState(1);

  useEffect(() => {
    let live = true;
    const serverScope: NotificationScope = { kind: "server", serverId: target.serverId };
    Promise.all([loadNotificationSetting(client, scope), target.kind === "channel" ? loadNotificationSetting(client, serverScope) : null]).then(
      ([own, server]) => live && setLoaded({ own, server: server ?? own }),
      (e) => live && setStatus({ error: true, text: describeError(e) }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, target.kind, target.serverId, target.kind === "channel" ? target.roomId : ""]);

  const title = target.kind === "server" ? `${target.name} notifications` : `#${target.name} notifications`;
  if (!loaded) {
    return (
      <Modal title={title} onClose={onClose}>
        {status ? <p className="error">{status.text}</p> : <p className="muted">Loading…</p>}
      </Modal>
    );
  }

  const now = Date.now();
  const own: NotificationSetting = loaded.own;
  const save = async (changes: NotificationSetting) => {
    const before = loaded;
    // Shown at once; the homeserver's answer (what is in force) follows.
    setLoaded({ ...loaded, own: { ...loaded.own, ...changes } });
    setBusy(true);
    setStatus(null);
    try {
      const answer = await saveNotificationSetting(client, scope, { ...own, ...changes });
      setLoaded((l) => l && { own: answer, server: target.kind === "server" ? answer : l.server });
      setStatus({ error: false, text: "Saved." });
    } catch (e) {
      setLoaded(before);
      setStatus({ error: true, text: describeError(e) });
    } finally {
      setBusy(false);
    }
  };
  const explained = explain(loaded.own.effective, loaded.server, target.kind === "channel" ? loaded.own : null, now);
  const inherited =
    target.kind === "server" ? `Server default (${LEVEL_LABELS[target.defaultLevel]})` : `Use the server setting (${LEVEL_LABELS[loaded.server.effective.level]})`;

  return (
    <Modal title={title} onClose={onClose}>
      <div className="notification-settings" aria-busy={busy}>
        <p className="in-force" data-testid="notifications-in-force">
          <strong>{target.kind === "server" ? "In channels without their own setting: " : "In force here: "}</strong>
          {effectiveSummary(explained, now)}
        </p>
        <section aria-label="Mute">
          {isMuted(own, now) ? (
            <div className="row mute-state">
              <span>
                🔕 {target.kind === "server" ? target.name : `#${target.name}`} is muted {mutedUntilText(own.muted_until!, now)}.
              </span>
              <button disabled={busy} onClick={() => save({ muted_until: null })}>
                Unmute
              </button>
            </div>
          ) : (
            <div className="row mute-choice">
              <label>
                Mute for
                <select value={duration} onChange={(e) => setDuration(Number(e.target.value))}>
                  {MUTE_DURATIONS.map((d, i) => (
                    <option key={d.label} value={i}>
                      {d.label}
                    </option>
                  ))}
                </select>
              </label>
              <button disabled={busy} onClick={() => save({ muted_until: muteEnd(MUTE_DURATIONS[duration].ms, Date.now()) })}>
                Mute
              </button>
            </div>
          )}
          {target.kind === "server" && <p className="muted hint">A server mute leaves alone the channels you gave a level of their own.</p>}
        </section>
        <fieldset disabled={busy}>
          <legend>Notify me about</legend>
          <label className="radio">
            <input type="radio" name="level" checked={own.level == null} onChange={() => save({ level: null })} /> {inherited}
          </label>
          {LEVELS.map((level) => (
            <label key={level} className="radio">
              <input type="radio" name="level" checked={own.level === level} onChange={() => save({ level })} /> {LEVEL_LABELS[level]}
            </label>
          ))}
        </fieldset>
        {target.kind === "server" ? (
          <fieldset disabled={busy}>
            <legend>Mentions</legend>
            <label className="switch">
              <input type="checkbox" checked={!!own.suppress_everyone} onChange={(e) => save({ suppress_everyone: e.target.checked || null })} /> Suppress
              @everyone and @here
            </label>
            <label className="switch">
              <input type="checkbox" checked={!!own.suppress_roles} onChange={(e) => save({ suppress_roles: e.target.checked || null })} /> Suppress all
              role @mentions
            </label>
          </fieldset>
        ) : (
          <SuppressedHere explained={explained} />
        )}
        {status && (
          <p role={status.error ? "alert" : "status"} className={status.error ? "error" : "muted"}>
            {status.text}
          </p>
        )}
      </div>
    </Modal>
  );
}

/** A channel follows the server's suppress switches; say what they are. */
function SuppressedHere({ explained }: { explained: Explained }) {
  const line = (what: string, flag: { value: boolean; from: Layer }) => (
    <li>
      {what}: {flag.value ? "suppressed" : "notify"}
      {flag.from !== "default" && <span className="muted"> — {LAYER_TEXT[flag.from]}</span>}
    </li>
  );
  return (
    <ul className="suppressed muted" aria-label="Mentions">
      {line("@everyone and @here", explained.suppressEveryone)}
      {line("Role @mentions", explained.suppressRoles)}
    </ul>
  );
}
