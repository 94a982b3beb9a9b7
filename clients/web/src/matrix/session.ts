// Accounts: register (username + password, nothing else), log in, restore
// the saved session, log out. The session is kept in localStorage, which
// only this origin (the homeserver that served the client) can read.
import { createClient, type MatrixClient, MatrixError } from "matrix-js-sdk";
import { cryptoCallbacks } from "./crypto";

export type Session = { baseUrl: string; userId: string; deviceId: string; accessToken: string };

const STORAGE_KEY = "nexus.session";
const DEVICE_NAME = "Nexus web";

export function savedSession(): Session | null {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null");
    if (saved && typeof saved.accessToken === "string" && typeof saved.userId === "string") return saved;
  } catch {
    // A damaged entry is no session.
  }
  return null;
}

export function saveSession(session: Session | null): void {
  if (session) localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else localStorage.removeItem(STORAGE_KEY);
}

/** The homeserver that served this page: the client's default. */
export function defaultBaseUrl(): string {
  return window.location.origin;
}

export async function logIn(baseUrl: string, username: string, password: string): Promise<Session> {
  const anonymous = createClient({ baseUrl });
  const user = username.trim().replace(/^@/, "");
  const response = await anonymous.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user },
    password,
    initial_device_display_name: DEVICE_NAME,
  });
  return { baseUrl, userId: response.user_id, deviceId: response.device_id, accessToken: response.access_token };
}

/**
 * Registers through the spec's user-interactive auth: the dummy stage, or a
 * registration token first when the server asks for one.
 */
export async function register(baseUrl: string, username: string, password: string, token?: string): Promise<Session> {
  const anonymous = createClient({ baseUrl });
  const request = { username: username.trim(), password, initial_device_display_name: DEVICE_NAME };
  let auth: Record<string, unknown> | undefined;
  const done = new Set<string>();
  for (let round = 0; round < 4; round++) {
    try {
      const response = await anonymous.registerRequest({ ...request, auth } as never);
      if (!response.access_token || !response.device_id) throw new Error("The server registered the account without logging in.");
      return { baseUrl, userId: response.user_id, deviceId: response.device_id, accessToken: response.access_token };
    } catch (e) {
      const uia = e instanceof MatrixError && e.httpStatus === 401 ? (e.data as UiaState) : null;
      if (!uia?.flows) throw e;
      for (const stage of uia.completed ?? []) done.add(stage);
      auth = nextStage(uia, done, token);
    }
  }
  throw new Error("Registration did not complete.");
}

type UiaState = { session?: string; flows?: { stages: string[] }[]; completed?: string[] };

function nextStage(uia: UiaState, done: Set<string>, token?: string): Record<string, unknown> {
  const doable = (stage: string) => stage === "m.login.dummy" || (stage === "m.login.registration_token" && !!token);
  const flow = uia.flows!.find((f) => f.stages.every(doable));
  if (!flow) {
    const needsToken = uia.flows!.some((f) => f.stages.includes("m.login.registration_token"));
    throw new Error(needsToken ? "This server needs a registration token." : "This server does not allow registering here.");
  }
  const stage = flow.stages.find((s) => !done.has(s)) ?? "m.login.dummy";
  return stage === "m.login.registration_token"
    ? { type: stage, token, session: uia.session }
    : { type: stage, session: uia.session };
}

export function clientFor(session: Session): MatrixClient {
  return createClient({
    baseUrl: session.baseUrl,
    userId: session.userId,
    deviceId: session.deviceId,
    accessToken: session.accessToken,
    timelineSupport: true,
    cryptoCallbacks,
  });
}

/** A readable sentence for an error from the homeserver or the network. */
export function describeError(e: unknown): string {
  if (e instanceof MatrixError) {
    if (e.errcode === "M_FORBIDDEN" && /password|login/i.test(e.data?.error ?? "")) return "Wrong username or password.";
    if (e.errcode === "M_USER_IN_USE") return "That username is taken.";
    if (e.errcode === "M_USER_DEACTIVATED") return "This account has been deleted.";
    if (e.errcode === "M_LIMIT_EXCEEDED") return "Too many attempts; try again shortly.";
    return e.data?.error || e.errcode || "The server refused.";
  }
  if (e instanceof Error) return e.message;
  return String(e);
}
