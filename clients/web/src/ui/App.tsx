// The session gate: the welcome screen until there is a session, then the
// shell. An invite link (`#/invite/<code>`) survives logging in.
import { useState } from "react";
import { type Session, savedSession, saveSession } from "../matrix/session";
import { Shell } from "./Shell";
import { Welcome } from "./Welcome";

export function App() {
  const [session, setSession] = useState<Session | null>(savedSession);
  // A new account's password, kept in memory only until crypto is set up.
  const [newPassword, setNewPassword] = useState<string | undefined>();
  const signIn = (next: Session, password?: string) => {
    saveSession(next);
    setNewPassword(password);
    setSession(next);
  };
  const signOut = () => {
    saveSession(null);
    setSession(null);
  };
  return session ? <Shell key={session.accessToken} session={session} newAccountPassword={newPassword} onSignOut={signOut} /> : <Welcome onSession={signIn} />;
}
