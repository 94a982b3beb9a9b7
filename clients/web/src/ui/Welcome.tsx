// Log in or register: a username and a password, nothing else (a
// registration token only when the server asks for one).
import { type FormEvent, useState } from "react";
import { type Session, defaultBaseUrl, describeError, logIn, register } from "../matrix/session";

export function Welcome({ onSession }: { onSession: (session: Session, newAccountPassword?: string) => void }) {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [token, setToken] = useState("");
  const [baseUrl, setBaseUrl] = useState(defaultBaseUrl());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (mode === "register" && password !== confirm) {
      setError("The passwords do not match.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const url = baseUrl.replace(/\/+$/, "");
      if (mode === "login") onSession(await logIn(url, username, password));
      else onSession(await register(url, username, password, token || undefined), password);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="welcome">
      <form className="welcome-card" onSubmit={submit} aria-labelledby="welcome-title">
        <h1 id="welcome-title">{mode === "login" ? "Welcome back" : "Create an account"}</h1>
        <p className="muted">
          {mode === "login" ? "Log in to your Nexus account." : "A username and a password. Nothing else, ever."}
        </p>
        <label>
          Username
          <input name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={mode === "login" ? "current-password" : "new-password"}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {mode === "register" && (
          <>
            <label>
              Confirm password
              <input name="confirm" type="password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} />
            </label>
            <label>
              Registration token <span className="muted">(only if your server asks for one)</span>
              <input name="token" value={token} onChange={(e) => setToken(e.target.value)} />
            </label>
          </>
        )}
        <details>
          <summary>Homeserver</summary>
          <label>
            Address
            <input name="homeserver" value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} />
          </label>
        </details>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {mode === "login" ? "Log in" : "Register"}
        </button>
        <p className="muted">
          {mode === "login" ? "Need an account? " : "Already have an account? "}
          <button type="button" className="link" onClick={() => setMode(mode === "login" ? "register" : "login")}>
            {mode === "login" ? "Register" : "Log in"}
          </button>
        </p>
      </form>
    </main>
  );
}
