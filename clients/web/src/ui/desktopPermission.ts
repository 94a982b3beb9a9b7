// The browser's side of desktop notifications: its permission (asked for
// only from a click, never on load), this device's on/off switch, and
// whether the one-time prompt was answered. Kept in localStorage: they are
// about this browser, not the account.
import { useEffect, useState } from "react";

const SWITCH_KEY = "nexus.desktop-notifications";
const PROMPTED_KEY = "nexus.desktop-notifications.prompted";
/** Fired on window when any of the above changes, so every view agrees. */
const CHANGED = "nexus-desktop-notifications";

export type Permission = NotificationPermission | "unsupported";

export function notificationPermission(): Permission {
  return typeof Notification === "undefined" ? "unsupported" : Notification.permission;
}

/** On unless switched off on this device. */
export function desktopEnabled(): boolean {
  return localStorage.getItem(SWITCH_KEY) !== "off";
}

export function setDesktopEnabled(on: boolean): void {
  localStorage.setItem(SWITCH_KEY, on ? "on" : "off");
  window.dispatchEvent(new Event(CHANGED));
}

export function promptAnswered(): boolean {
  return localStorage.getItem(PROMPTED_KEY) !== null;
}

export function answerPrompt(): void {
  localStorage.setItem(PROMPTED_KEY, "1");
  window.dispatchEvent(new Event(CHANGED));
}

/** Asks the browser; call it from a click (browsers refuse, or nag, otherwise). */
export async function askPermission(): Promise<Permission> {
  if (typeof Notification === "undefined") return "unsupported";
  const answer = await Notification.requestPermission();
  answerPrompt();
  return answer;
}

/** The permission, the switch and the prompt's state, re-read when any changes. */
export function useDesktopPermission(): { permission: Permission; enabled: boolean; prompted: boolean } {
  const read = () => ({ permission: notificationPermission(), enabled: desktopEnabled(), prompted: promptAnswered() });
  const [state, setState] = useState(read);
  useEffect(() => {
    const refresh = () => setState(read());
    window.addEventListener(CHANGED, refresh);
    // A permission changed in the browser's own settings shows on return.
    window.addEventListener("focus", refresh);
    return () => {
      window.removeEventListener(CHANGED, refresh);
      window.removeEventListener("focus", refresh);
    };
  }, []);
  return state;
}
