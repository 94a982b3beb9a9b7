// The user's corner: the panel at the bottom of the sidebar, and settings:
// profile, password, sessions, appearance (themes), plugins, data export,
// and deleting the account.
import { type FormEvent, useState } from "react";
import { type MatrixClient, MatrixError } from "matrix-js-sdk";
import { BUILT_IN, type Theme, applyTheme, exportTheme, parseCustomTheme, savedTheme, saveTheme } from "../logic/themes";
import type { NexusApi } from "../matrix/nexus";
import { restoreWithRecoveryKey, securityState, setUpKeyBackup } from "../matrix/crypto";
import { describeError } from "../matrix/session";
import { Avatar } from "./Avatar";
import { ProfileEditor } from "./Profile";
import { useAsync } from "./hooks";
import { Modal } from "./Modal";
import { DesktopNotificationSettings } from "./DesktopNotifications";
import { PluginsSettings } from "./PluginsSettings";

export function UserPanel({ client, onOpenSettings }: { client: MatrixClient; onOpenSettings: () => void }) {
  const me = client.getUserId()!;
  const name = client.getUser(me)?.displayName ?? me;
  return (
    <footer className="user-panel">
      <Avatar id={me} name={name} size={32} client={client} mxc={client.getUser(me)?.avatarUrl} />
      <div className="who">
        <strong>{name}</strong>
        <span className="muted">{me}</span>
      </div>
      <button className="icon" aria-label="User settings" title="User settings" onClick={onOpenSettings}>
        ⚙
      </button>
    </footer>
  );
}

const TABS = ["Account", "Sessions", "Security", "Notifications", "Appearance", "Plugins", "Privacy & data"] as const;

export function UserSettings({ client, api, onClose, onSignOut }: { client: MatrixClient; api: NexusApi; onClose: () => void; onSignOut: () => void }) {
  const [tab, setTab] = useState<(typeof TABS)[number]>("Account");
  return (
    <Modal title="User settings" onClose={onClose} wide>
      <div className="settings">
        <div role="tablist" aria-orientation="vertical" className="tabs">
          {TABS.map((t) => (
            <button key={t} role="tab" aria-selected={tab === t} onClick={() => setTab(t)}>
              {t}
            </button>
          ))}
          <button
            className="danger"
            onClick={async () => {
              await client.logout(true).catch(() => undefined);
              await client.clearStores().catch(() => undefined);
              onSignOut();
            }}
          >
            Log out
          </button>
        </div>
        <section role="tabpanel" aria-label={tab} className="tab-panel">
          {tab === "Account" && <Account client={client} onSignOut={onSignOut} />}
          {tab === "Sessions" && <Sessions client={client} />}
          {tab === "Security" && <Security client={client} />}
          {tab === "Notifications" && <DesktopNotificationSettings />}
          {tab === "Appearance" && <Appearance />}
          {tab === "Plugins" && <PluginsSettings client={client} />}
          {tab === "Privacy & data" && <PrivacyData api={api} />}
        </section>
      </div>
    </Modal>
  );
}

/** Runs a request that may need the user's password (user-interactive auth). */
async function withPassword<T>(client: MatrixClient, password: string, run: (auth?: Record<string, unknown>) => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof MatrixError) || e.httpStatus !== 401 || !e.data?.flows) throw e;
    return run({ type: "m.login.password", identifier: { type: "m.id.user", user: client.getUserId() }, password, session: e.data.session });
  }
}

function Account({ client, onSignOut }: { client: MatrixClient; onSignOut: () => void }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState("");

  const changePassword = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await withPassword(client, current, (auth) => client.setPassword(auth as never, next, false));
      setMessage("Password changed. Your other sessions stay signed in.");
      setCurrent("");
      setNext("");
    } catch (err) {
      setMessage(describeError(err));
    }
  };
  const deleteAccount = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await withPassword(client, confirmDelete, (auth) => client.deactivateAccount(auth as never, true));
      client.stopClient();
      await client.clearStores().catch(() => undefined);
      onSignOut();
    } catch (err) {
      setMessage(describeError(err));
    }
  };

  return (
    <>
      <ProfileEditor client={client} />
      <form onSubmit={changePassword}>
        <h3>Password</h3>
        <label>
          Current password
          <input type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        </label>
        <label>
          New password
          <input type="password" autoComplete="new-password" required minLength={8} value={next} onChange={(e) => setNext(e.target.value)} />
        </label>
        <button type="submit">Change password</button>
      </form>
      {message && <p role="status">{message}</p>}
      <form onSubmit={deleteAccount} className="danger-zone">
        <h3>Delete account</h3>
        <p className="muted">Your account is deactivated for good and your messages are erased where the server can. Take your data export first.</p>
        <label>
          Password
          <input type="password" autoComplete="current-password" required value={confirmDelete} onChange={(e) => setConfirmDelete(e.target.value)} />
        </label>
        <button type="submit" className="danger">
          Delete my account
        </button>
      </form>
    </>
  );
}

function Sessions({ client }: { client: MatrixClient }) {
  const { value, reload } = useAsync(() => client.getDevices(), [client]);
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const mine = client.getDeviceId();
  return (
    <>
      <h3>Sessions</h3>
      <p className="muted">Everywhere you are signed in. Signing a session out needs your password.</p>
      <label>
        Password
        <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      {error && <p className="error">{error}</p>}
      <ul role="list" className="sessions">
        {(value?.devices ?? []).map((device) => (
          <li key={device.device_id}>
            <strong>{device.display_name ?? device.device_id}</strong> <span className="muted">{device.device_id}</span>
            {device.device_id === mine ? (
              <span className="badge">this session</span>
            ) : (
              <button
                onClick={async () => {
                  try {
                    await withPassword(client, password, (auth) => client.deleteDevice(device.device_id, auth as never));
                    reload();
                  } catch (err) {
                    setError(describeError(err));
                  }
                }}
              >
                Sign out
              </button>
            )}
            {device.last_seen_ts && <div className="muted">Last seen {new Date(device.last_seen_ts).toLocaleString()}</div>}
          </li>
        ))}
      </ul>
    </>
  );
}

function Appearance() {
  const [current, setCurrent] = useState<Theme>(savedTheme);
  const [custom, setCustom] = useState(current.id === "custom" ? exportTheme(current) : exportTheme({ ...BUILT_IN[0], name: "My theme" }));
  const [error, setError] = useState<string | null>(null);
  const choose = (theme: Theme) => {
    applyTheme(theme);
    saveTheme(theme);
    setCurrent(theme);
  };
  return (
    <>
      <h3>Theme</h3>
      <div role="radiogroup" aria-label="Theme" className="theme-choices">
        {BUILT_IN.map((theme) => (
          <button
            key={theme.id}
            role="radio"
            aria-checked={current.id === theme.id}
            className="theme-swatch"
            style={{ background: theme.tokens["bg-chat"], color: theme.tokens.text, borderColor: theme.tokens.accent }}
            onClick={() => choose(theme)}
          >
            {theme.name}
          </button>
        ))}
      </div>
      <h3>Custom theme</h3>
      <p className="muted">Paste a theme someone shared, or edit the colours below. Preview applies it; nothing leaves your browser.</p>
      <textarea aria-label="Custom theme JSON" className="theme-json" rows={10} value={custom} onChange={(e) => setCustom(e.target.value)} />
      {error && <p className="error" role="alert">{error}</p>}
      <div className="row">
        <button
          onClick={() => {
            try {
              choose(parseCustomTheme(custom));
              setError(null);
            } catch (err) {
              setError((err as Error).message);
            }
          }}
        >
          Apply custom theme
        </button>
        <button onClick={() => navigator.clipboard?.writeText(exportTheme(current)).catch(() => undefined)}>Copy current theme</button>
      </div>
    </>
  );
}

function PrivacyData({ api }: { api: NexusApi }) {
  const { value, reload } = useAsync(() => api.exports(), [api]);
  const [error, setError] = useState<string | null>(null);
  return (
    <>
      <h3>Privacy</h3>
      <p>
        This client sends no telemetry and makes no request to any host but your homeserver. Your account is a username and a password:
        nothing else is asked, ever.
      </p>
      <h3>Your data</h3>
      <p className="muted">A zip of everything your account holds: profile, messages you can see, uploads, settings, encrypted key backup.</p>
      <button
        className="primary"
        onClick={async () => {
          try {
            await api.startExport();
            setError(null);
          } catch (err) {
            setError(describeError(err));
          }
          reload();
        }}
      >
        Export my data
      </button>
      <button onClick={reload}>Refresh</button>
      {error && <p className="error" role="alert">{error}</p>}
      <ul role="list" className="exports">
        {(value?.exports ?? []).map((job) => (
          <li key={job.export_id} data-status={job.status}>
            {job.created_ts ? new Date(job.created_ts).toLocaleString() : job.export_id} — {job.status}
            {job.status === "complete" && (
              <button onClick={() => api.downloadExport(job.export_id)}>Download{job.size ? ` (${Math.ceil(job.size / 1024)} KiB)` : ""}</button>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}

function Security({ client }: { client: MatrixClient }) {
  const { value: state, reload } = useAsync(() => securityState(client), [client]);
  const [recoveryKey, setRecoveryKey] = useState<string | null>(null);
  const [typed, setTyped] = useState("");
  const [status, setStatus] = useState<string | null>(null);
  if (!client.getCrypto()) return <p className="error">Encryption is not available in this browser.</p>;
  return (
    <>
      <h3>Encryption</h3>
      <ul role="list" className="security-state">
        <li>Cross-signing: {state?.crossSigning ? "ready" : "not set up on this session"}</li>
        <li>This session: {state?.deviceVerified ? "verified" : "not verified"}</li>
        <li data-backup={state?.backupVersion ?? ""}>Key backup: {state?.backupVersion ? `on (version ${state.backupVersion})` : "off"}</li>
      </ul>
      <h3>Key backup</h3>
      <p className="muted">
        Your message keys, encrypted with a recovery key only you hold, so a new session can read your history. Nexus never sees the key.
      </p>
      <button
        className="primary"
        onClick={async () => {
          try {
            setRecoveryKey(await setUpKeyBackup(client));
            reload();
          } catch (err) {
            setStatus(describeError(err));
          }
        }}
      >
        {state?.backupVersion ? "Make a new recovery key" : "Set up key backup"}
      </button>
      {recoveryKey && (
        <div className="recovery-key" role="status">
          <p>Your recovery key — store it somewhere safe; it is shown once:</p>
          <code aria-label="Recovery key">{recoveryKey}</code>
        </div>
      )}
      <h3>Restore from backup</h3>
      <label>
        Recovery key
        <input name="recovery-key" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
      </label>
      <button
        onClick={async () => {
          try {
            const imported = await restoreWithRecoveryKey(client, typed);
            setStatus(`Restored ${imported} keys.`);
            // Kept when nothing came back, to try again once the backup has them.
            if (imported > 0) setTyped("");
            reload();
          } catch (err) {
            setStatus(describeError(err));
          }
        }}
      >
        Restore
      </button>
      {status && <p role="status">{status}</p>}
    </>
  );
}
