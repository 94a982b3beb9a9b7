// Accounts, the keyboard and a phone, judged in Debian's Chromium through
// playwright-core. Accounts: register, log out from User settings, log in
// again, see this session and a second one in Sessions, sign the second out
// with the password (its next request is refused and a reload shows the
// welcome screen), change the password (the old one is refused, the new one
// works), delete the account (logging in fails afterwards). Keyboard: from a
// fresh login, with Tab, Shift+Tab, Enter and Escape only, make a server,
// open a channel, send a message, open and close a dialog, every stop with a
// visible focus ring. Phone: at 390×844 the rail, the channels and the chat
// fit without sideways scrolling and the composer sends. No request may
// leave for a host but the homeserver. Prints one JSON line per step and a
// last line `{"ok": true, ...figures}`; a failed part is screenshotted with
// each page's text printed, the other parts still run, and the exit is
// non-zero.
//
//   node e2e/accounts.mjs --base http://127.0.0.1:PORT [--shots DIR] [--chromium PATH]
import { PASSWORD, openJudge, say, sleep } from "./judge.mjs";

const { base, shots, browser, foreign, people, person, leave, shot, suffix } = await openJudge();
/** Starting the client (crypto in WASM, the first sync) can take longer than one step. */
const SIGN_IN_WAIT = 60_000;

const password = PASSWORD;
const newPassword = "a different horse, battery and staple";

const TOO_MANY = /Too many attempts/;
const welcome = (page) => page.getByRole("heading", { name: "Welcome back" });
const signedIn = (page) => page.getByRole("navigation", { name: "Direct messages" });

/**
 * Submits the welcome form (by `submit`) until the server answers other than
 * "too many attempts": the per-address login and register limits are
 * waited out, never skipped. Returns "in" or the alert's text.
 */
async function submitWelcome(page, submit) {
  for (let attempt = 1; ; attempt++) {
    await submit();
    const alert = page.getByRole("alert");
    await signedIn(page).or(alert).first().waitFor({ timeout: SIGN_IN_WAIT });
    if (await signedIn(page).isVisible()) return "in";
    const text = (await alert.innerText()).trim();
    if (!TOO_MANY.test(text) || attempt === 12) return text;
    say("rate limited, waiting", { attempt });
    await sleep(6_000);
  }
}

async function register(who, username) {
  await who.page.goto(base);
  await welcome(who.page).waitFor();
  await who.page.getByRole("button", { name: "Register" }).click();
  await who.page.getByLabel("Username").fill(username);
  await who.page.getByLabel("Password", { exact: true }).fill(password);
  await who.page.getByLabel("Confirm password").fill(password);
  const outcome = await submitWelcome(who.page, () => who.page.getByRole("button", { name: "Register" }).click());
  if (outcome !== "in") throw new Error(`${who.name} could not register ${username}: ${outcome}`);
}

/** Logs in from the welcome screen; returns "in" or the error the form showed. */
async function logIn(who, username, secret) {
  await welcome(who.page).waitFor();
  await who.page.getByLabel("Username").fill(username);
  await who.page.getByLabel("Password", { exact: true }).fill(secret);
  return submitWelcome(who.page, () => who.page.getByRole("button", { name: "Log in" }).click());
}

/**
 * Clicks a settings button whose request needs the password (user-interactive
 * auth) and returns the server's last answer to it: the first 401 that only
 * asks for the password is passed over, a 429 is waited out and tried again.
 */
async function withPassword(page, method, path, click) {
  for (let attempt = 1; ; attempt++) {
    const answered = page.waitForResponse(async (r) => {
      if (r.request().method() !== method || !path.test(new URL(r.url()).pathname)) return false;
      if (r.status() !== 401) return true;
      return !!(await r.json().catch(() => ({}))).errcode;
    });
    await click();
    const response = await answered;
    if (response.status() !== 429 || attempt === 12) return response;
    say("rate limited, waiting", { attempt });
    await sleep(6_000);
  }
}

const figures = {};
const failures = [];
/** One part of the run: its failure is reported with every open page, and the next part still runs. */
async function part(name, run) {
  try {
    await run();
    say(`${name}: passed`);
  } catch (error) {
    for (const who of people) {
      if (shots) await who.page.screenshot({ path: `${shots}/failure-${name}-${who.name}.png` }).catch(() => undefined);
      const text = await who.page.locator("body").innerText().catch(() => "");
      say("failure page", { part: name, who: who.name, text: text.slice(0, 1500) });
    }
    say(`${name}: failed`, { error: String(error) });
    failures.push(`${name}: ${String(error)}`);
  }
  for (const who of [...people]) await leave(who).catch(() => undefined);
}

await part("accounts", accounts);
await part("keyboard", keyboard);
await part("phone", phone);

if (foreign.length) failures.push(`requests left for other hosts: ${foreign.slice(0, 5).join(", ")}`);
await browser.close();
if (failures.length) {
  console.log(JSON.stringify({ ok: false, error: failures.join(" | ") }));
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, ...figures }));

async function openSettings(page, tab) {
  await page.getByRole("button", { name: "User settings" }).click();
  const dialog = page.getByRole("dialog", { name: "User settings" });
  await dialog.waitFor();
  if (tab) await dialog.getByRole("tab", { name: tab }).click();
  return dialog;
}

/** The device ID the Sessions tab marks "this session". */
async function thisSession(dialog) {
  const row = dialog.getByRole("listitem").filter({ hasText: "this session" });
  await row.waitFor();
  return (await row.locator(".muted").first().innerText()).trim();
}

async function accounts() {
  const username = `acct${suffix}`;
  const first = await person("first");
  await first.page.goto(base);
  await welcome(first.page).waitFor();
  await shot(first.page, "login");
  await register(first, username);
  say("registered", { username });

  // Log out from User settings: the server forgets the token, the welcome screen shows.
  let dialog = await openSettings(first.page);
  const loggedOut = first.page.waitForResponse((r) => /\/_matrix\/client\/v3\/logout$/.test(new URL(r.url()).pathname));
  loggedOut.catch(() => undefined);
  await dialog.getByRole("button", { name: "Log out" }).click();
  const logoutStatus = (await loggedOut).status();
  if (logoutStatus !== 200) throw new Error(`logout answered ${logoutStatus}`);
  await welcome(first.page).waitFor();
  await first.page.reload();
  await welcome(first.page).waitFor();
  say("logged out");

  let outcome = await logIn(first, username, password);
  if (outcome !== "in") throw new Error(`could not log in again: ${outcome}`);
  say("logged in again");

  // A second session, from another browser.
  const second = await person("second");
  await second.page.goto(base);
  outcome = await logIn(second, username, password);
  if (outcome !== "in") throw new Error(`the second session could not log in: ${outcome}`);
  dialog = await openSettings(second.page, "Sessions");
  const secondDevice = await thisSession(dialog);
  await second.page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });

  // Sessions: this one, marked so, and the second, which has a "Sign out" button; the logged-out one is gone.
  dialog = await openSettings(first.page, "Sessions");
  const firstDevice = await thisSession(dialog);
  const rows = dialog.getByRole("list").filter({ has: first.page.getByText("this session") }).getByRole("listitem");
  const secondRow = rows.filter({ hasText: secondDevice });
  await secondRow.getByRole("button", { name: "Sign out" }).waitFor();
  const listed = await rows.count();
  if (listed !== 2) throw new Error(`Sessions lists ${listed} sessions, expected this one and the second (the logged-out one gone)`);
  if (firstDevice === secondDevice) throw new Error("both browsers claim the same device");
  await shot(first.page, "settings");
  say("sessions listed", { this: firstDevice, other: secondDevice });

  // Signing the second session out with the password: its next request is refused.
  const refused = second.page.waitForResponse(
    async (r) => r.status() === 401 && (await r.json().catch(() => ({}))).errcode === "M_UNKNOWN_TOKEN",
    { timeout: 90_000 },
  );
  refused.catch(() => undefined);
  await dialog.getByLabel("Password", { exact: true }).fill(password);
  const signOut = await withPassword(first.page, "DELETE", /\/devices\/[^/]+$/, () => secondRow.getByRole("button", { name: "Sign out" }).click());
  if (!signOut.ok()) throw new Error(`signing the second session out: the server answered ${signOut.status()} ${await signOut.text()}`);
  await secondRow.waitFor({ state: "detached" });
  if ((await rows.count()) !== 1) throw new Error(`after signing the second session out, Sessions lists ${await rows.count()}`);
  const started = Date.now();
  const refusal = await refused;
  figures.signed_out_refused_after_ms = Date.now() - started;
  say("second session refused", { request: new URL(refusal.url()).pathname, ms: figures.signed_out_refused_after_ms });
  // It finds out by itself: the welcome screen, without a reload.
  await welcome(second.page).waitFor({ timeout: 30_000 });
  say("second session shows the welcome screen at once");
  await second.page.reload();
  await welcome(second.page).waitFor({ timeout: 30_000 });
  say("second session shows the welcome screen after a reload");

  // A new password: the old one is refused in a fresh browser, the new one works.
  await dialog.getByRole("tab", { name: "Account" }).click();
  await dialog.getByLabel("Current password").fill(password);
  await dialog.getByLabel("New password").fill(newPassword);
  const status = dialog.getByRole("status");
  const change = await withPassword(first.page, "POST", /\/account\/password$/, () => dialog.getByRole("button", { name: "Change password" }).click());
  if (!change.ok()) throw new Error(`changing the password: the server answered ${change.status()} ${await change.text()}`);
  const changed = await status.innerText();
  if (!/^Password changed/.test(changed)) throw new Error(`changing the password showed ${JSON.stringify(changed)}`);
  say("password changed");
  const third = await person("third");
  await third.page.goto(base);
  outcome = await logIn(third, username, password);
  if (outcome !== "Wrong username or password.") throw new Error(`logging in with the old password: expected "Wrong username or password.", got ${JSON.stringify(outcome)}`);
  await third.page.getByLabel("Password", { exact: true }).fill(newPassword);
  outcome = await submitWelcome(third.page, () => third.page.getByRole("button", { name: "Log in" }).click());
  if (outcome !== "in") throw new Error(`could not log in with the new password: ${outcome}`);
  say("old password refused, new password accepted");
  await leave(third);

  // Deleting the account with the password: back to the welcome screen, and logging in fails.
  await dialog.getByLabel("Password", { exact: true }).fill(newPassword);
  const deletion = await withPassword(first.page, "POST", /\/account\/deactivate$/, () => dialog.getByRole("button", { name: "Delete my account" }).click());
  if (!deletion.ok()) throw new Error(`deleting the account: the server answered ${deletion.status()} ${await deletion.text()}`);
  await welcome(first.page).waitFor();
  say("account deleted");
  outcome = await logIn(first, username, newPassword);
  if (outcome === "in") throw new Error("a deleted account could still log in");
  figures.deleted_login_error = outcome;
  say("deleted account cannot log in", { error: outcome });
}

/** The focused element, described, with whether its focus ring shows. */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body || el === document.documentElement) return null;
    const style = getComputedStyle(el);
    let opacity = 1;
    for (let node = el; node instanceof Element; node = node.parentElement) opacity *= Number(getComputedStyle(node).opacity);
    const box = el.getBoundingClientRect();
    const ring = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
    return {
      what: `${el.tagName.toLowerCase()}${el.className ? `.${String(el.className).trim().split(/\s+/).join(".")}` : ""}`,
      label: el.getAttribute("aria-label") ?? el.getAttribute("name") ?? (el.textContent ?? "").trim().slice(0, 30),
      role: el.getAttribute("role") ?? "",
      dialog: el.closest('[role="dialog"]')?.getAttribute("aria-label") ?? null,
      outline: `${style.outlineStyle} ${style.outlineWidth}`,
      // A ring on an element drawn transparent or 1px wide is not seen either.
      visible: ring && opacity > 0.1 && box.width >= 4 && box.height >= 4,
    };
  });
}

async function keyboard() {
  const username = `keys${suffix}`;
  const setup = await person("keyboard-setup");
  await register(setup, username);
  await leave(setup);

  const kb = await person("keyboard");
  const page = kb.page;
  const unseen = new Map();
  let presses = 0;
  const note = (info) => {
    if (info && !info.visible) unseen.set(`${info.what} "${info.label}"`, info.outline);
    return info;
  };
  /** Presses `key` until the focus is on what `wanted` accepts; every stop must show its focus. */
  async function focusTo(wanted, what, key = "Tab", most = 60) {
    const path = [];
    for (let i = 0; i < most; i++) {
      await page.keyboard.press(key);
      presses++;
      const info = note(await focused(page));
      path.push(info ? `${info.what} "${info.label}"` : "(nothing)");
      if (info && wanted(info)) return info;
    }
    throw new Error(`${key} never reached ${what}; it went through: ${path.join(" → ")}`);
  }
  /** The same, counting the presses into a figure. */
  async function focusCounted(figure, ...rest) {
    const before = presses;
    const info = await focusTo(...rest);
    figures[figure] = presses - before;
    return info;
  }

  // A fresh login, typed.
  await page.goto(base);
  await welcome(page).waitFor();
  await focusTo((f) => f.label === "username", "the Username field");
  await page.keyboard.type(username);
  await focusTo((f) => f.label === "password", "the Password field");
  await page.keyboard.type(password);
  const outcome = await submitWelcome(page, () => page.keyboard.press("Enter"));
  if (outcome !== "in") throw new Error(`keyboard login failed: ${outcome}`);
  say("keyboard: logged in");

  // A server, from the rail's "Create a server".
  await focusCounted("tabs_to_create_server", (f) => f.label === "Create a server", 'the rail\'s "Create a server"');
  await page.keyboard.press("Enter");
  const create = page.getByRole("dialog", { name: "Create a server" });
  await create.waitFor();
  const inDialog = note(await focused(page));
  if (inDialog?.label !== "server-name") throw new Error(`the dialog opened with the focus on ${JSON.stringify(inDialog)}, not Server name`);
  const serverName = `Keys ${suffix}`;
  await page.keyboard.type(serverName);
  await page.keyboard.press("Enter");
  await page.getByRole("navigation", { name: `${serverName} channels` }).waitFor();
  await create.waitFor({ state: "detached" });
  say("keyboard: server created", { focus: (await focused(page))?.label ?? null });

  // Its general channel, then the composer; Enter sends.
  await focusTo((f) => /^button\.channel(\.|$)/.test(f.what) && /general/.test(f.label), "the general channel");
  await page.keyboard.press("Enter");
  const box = page.getByRole("textbox", { name: "Message general" });
  await box.waitFor();
  await focusCounted("tabs_channel_to_composer", (f) => f.label === "Message general", 'the "Message general" composer');
  const text = `typed, not clicked ${suffix}`;
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
  await page.locator(".message", { hasText: text }).waitFor();
  await page.locator(".message.pending", { hasText: text }).waitFor({ state: "detached" });
  if ((await box.inputValue()) !== "") throw new Error("the composer kept the sent text");
  say("keyboard: message sent");

  // A dialog: User settings, back from the composer; Escape closes it and the focus comes back.
  await focusTo((f) => f.label === "User settings", '"User settings"', "Shift+Tab");
  await page.keyboard.press("Enter");
  const settings = page.getByRole("dialog", { name: "User settings" });
  await settings.waitFor();
  const inside = note(await focused(page));
  if (inside?.dialog !== "User settings") throw new Error(`User settings opened with the focus outside it: ${JSON.stringify(inside)}`);
  await page.keyboard.press("Tab");
  note(await focused(page));
  await page.keyboard.press("Escape");
  await settings.waitFor({ state: "detached" });
  const back = note(await focused(page));
  if (back?.label !== "User settings") throw new Error(`after Escape the focus went to ${JSON.stringify(back)}, not back to "User settings"`);
  say("keyboard: dialog opened and closed with Escape");

  figures.keyboard_focus_stops_without_ring = unseen.size;
  if (unseen.size) {
    throw new Error(`focus not visible on: ${[...unseen].map(([what, outline]) => `${what} (outline ${outline})`).join("; ")}`);
  }
}

/** How far the page and its main parts reach past a 390px-wide screen. */
function overflow(page) {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const past = [];
    for (const [name, selector] of [
      ["rail", ".rail"], ["sidebar", ".sidebar"], ["chat", "main.chat"], ["chat header", ".chat-header"],
      ["composer", ".composer"], ["message box", ".composer textarea"], ["welcome card", ".welcome-card"],
    ]) {
      const el = document.querySelector(selector);
      if (!el) continue;
      const box = el.getBoundingClientRect();
      if (box.left < -0.5 || box.right > width + 0.5) past.push(`${name} spans ${Math.round(box.left)}–${Math.round(box.right)}px`);
    }
    return { scrollWidth: document.documentElement.scrollWidth, width, past };
  });
}

async function phone() {
  const phoneUser = await person("phone", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const page = phoneUser.page;
  const fits = async (where) => {
    const o = await overflow(page);
    if (o.scrollWidth > 390 || o.past.length) throw new Error(`at 390px, ${where}: scrollWidth ${o.scrollWidth}; ${o.past.join("; ") || "no part past the edge"}`);
    return o;
  };
  await page.goto(base);
  await welcome(page).waitFor();
  await fits("the welcome screen");
  await register(phoneUser, `phone${suffix}`);
  await fits("direct messages");

  await page.getByRole("button", { name: "Create a server" }).click();
  await page.getByLabel("Server name").fill("Pocket");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  const channels = page.getByRole("navigation", { name: "Pocket channels" });
  await channels.waitFor();
  const general = channels.getByRole("button", { name: /^text channel general/ });
  await general.click();
  const box = page.getByRole("textbox", { name: "Message general" });
  await box.waitFor();

  // Rail, channel list and chat all on screen, nothing wider than it.
  for (const [name, locator] of [
    ["the rail", page.getByRole("navigation", { name: "Servers" })],
    ['"Create a server"', page.getByRole("button", { name: "Create a server" })],
    ["the channel list", general],
    ["the chat", page.getByRole("main", { name: /Chat in/ })],
    ["the message box", box],
  ]) {
    if (!(await locator.isVisible())) throw new Error(`at 390px ${name} is not visible`);
    const b = await locator.boundingBox();
    if (!b || b.x < 0 || b.x + b.width > 390.5 || b.y < 0 || b.y + b.height > 844.5) {
      throw new Error(`at 390px ${name} is off screen: ${JSON.stringify(b)}`);
    }
  }
  const o = await fits("a channel");
  figures.phone_scroll_width = o.scrollWidth;

  // The composer works at this width: tap, type, send.
  await box.tap();
  const text = `from a phone ${suffix}`;
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
  const sent = page.locator(".message", { hasText: text });
  await sent.waitFor();
  await page.locator(".message.pending", { hasText: text }).waitFor({ state: "detached" });
  const b = await sent.boundingBox();
  if (!b || b.x < 0 || b.x + b.width > 390.5) throw new Error(`the sent message is off screen: ${JSON.stringify(b)}`);
  await fits("after sending");
  await shot(page, "phone");
  say("phone: rail, channels and chat fit; message sent");
}
