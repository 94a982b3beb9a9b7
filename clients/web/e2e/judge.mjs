// What every web client scenario shares: its arguments (--base, --shots,
// --chromium), Debian's Chromium launched headless with the flags a closed
// network needs, people (a browser context and page each) whose every
// request is checked against the homeserver's origin, screenshots, and the
// ending — `{"ok": true, ...figures}` as the last line, or every open page's
// screenshot and text and a non-zero exit.
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

export const say = (step, extra = {}) => console.log(JSON.stringify({ step, ...extra }));
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const PASSWORD = "correct horse battery staple";
/** How long a step may wait for the page. */
const WAIT = 20_000;
const CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];

/** `flags`: more Chromium flags (fake media devices for the voice scenario). */
export async function openJudge({ flags = [] } = {}) {
  const args = Object.fromEntries(
    process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
  );
  const base = args.base;
  const shots = args.shots;
  if (!base) throw new Error("--base is required");
  if (shots) mkdirSync(shots, { recursive: true });
  const origin = new URL(base).origin;
  const browser = await chromium.launch({ executablePath: args.chromium ?? "/usr/bin/chromium", args: [...CHROMIUM_FLAGS, ...flags] });

  /** Every request to a host but the homeserver; any fails the run. */
  const foreign = [];
  /** The pages open now, for the failure report. */
  const people = new Set();

  async function person(name, options = {}) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
    context.on("request", (request) => {
      const url = request.url();
      if (!url.startsWith("data:") && !url.startsWith("blob:") && new URL(url).origin !== origin) foreign.push(url);
    });
    const page = await context.newPage();
    page.on("pageerror", (e) => say("pageerror", { who: name, error: String(e) }));
    page.setDefaultTimeout(WAIT);
    const who = { name, context, page };
    people.add(who);
    return who;
  }

  async function leave(who) {
    people.delete(who);
    await who.context.close();
  }

  async function shot(page, file) {
    if (shots) await page.screenshot({ path: `${shots}/${file}.png` });
  }

  /**
   * Registers through the welcome screen (`screenshot`: of the filled form);
   * returns the milliseconds from navigation to that screen shown.
   */
  async function register(who, username, { password = PASSWORD, screenshot } = {}) {
    const started = Date.now();
    await who.page.goto(base);
    await who.page.getByRole("heading", { name: "Welcome back" }).waitFor();
    const firstLoadMs = Date.now() - started;
    await who.page.getByRole("button", { name: "Register" }).click();
    await who.page.getByLabel("Username").fill(username);
    await who.page.getByLabel("Password", { exact: true }).fill(password);
    await who.page.getByLabel("Confirm password").fill(password);
    if (screenshot) await shot(who.page, screenshot);
    await who.page.getByRole("button", { name: "Register" }).click();
    await who.page.getByRole("navigation", { name: "Direct messages" }).waitFor();
    return firstLoadMs;
  }

  /** Runs the scenario (which returns its figures) and ends the process as described above. */
  async function conclude(run) {
    try {
      const figures = (await run()) ?? {};
      if (foreign.length) throw new Error(`requests left for other hosts: ${foreign.slice(0, 5).join(", ")}`);
      await browser.close();
      console.log(JSON.stringify({ ok: true, ...figures }));
    } catch (error) {
      for (const who of people) {
        if (shots) await who.page.screenshot({ path: `${shots}/failure-${who.name}.png` }).catch(() => undefined);
        const text = await who.page.locator("body").innerText().catch(() => "");
        say("failure page", { who: who.name, text: text.slice(0, 1500) });
      }
      console.log(JSON.stringify({ ok: false, error: String(error) }));
      await browser.close();
      process.exit(1);
    }
  }

  return { args, base, origin, shots, browser, foreign, people, person, leave, shot, register, conclude, suffix: Date.now().toString(36) };
}

/** Posts a message in the open channel and returns the sender's view of it once the server has it. */
export async function post(who, channel, text) {
  const box = who.page.getByRole("textbox", { name: `Message ${channel}` });
  await box.fill(text);
  await box.press("Enter");
  const message = who.page.locator(".message:not(.pending)", { hasText: text });
  await message.waitFor();
  return message;
}

/**
 * `owner` creates the server `name` and opens its #general; `member` joins
 * it through the invite link and opens #general too.
 */
export async function serverWithMember(owner, member, name) {
  await owner.page.getByRole("button", { name: "Create a server" }).click();
  await owner.page.getByLabel("Server name").fill(name);
  await owner.page.getByRole("button", { name: "Create", exact: true }).click();
  await owner.page.getByRole("navigation", { name: `${name} channels` }).waitFor();
  await owner.page.getByRole("button", { name: /general/ }).click();
  await owner.page.getByRole("textbox", { name: "Message general" }).waitFor();
  await owner.page.getByRole("button", { name: `${name} menu` }).click();
  await owner.page.getByRole("menuitem", { name: "Invite people" }).click();
  const linkField = owner.page.getByLabel("Invite link");
  await linkField.waitFor();
  const link = await linkField.inputValue();
  await owner.page.getByRole("button", { name: "Close" }).click();
  await member.page.goto(link);
  await member.page.getByRole("button", { name: "Join server" }).click();
  await member.page.getByRole("navigation", { name: `${name} channels` }).waitFor();
  await member.page.getByRole("button", { name: /general/ }).click();
  await member.page.getByRole("textbox", { name: "Message general" }).waitFor();
}
