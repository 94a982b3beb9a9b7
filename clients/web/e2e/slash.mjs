// Bots' slash commands in the composer, judged in Debian's Chromium through
// playwright-core against a real discord.js bot: Alice makes a server, makes
// a bot application with her own token through the developer portal
// (`/_nexus/bridge/v1`), adds it to the server and starts it (slash-bot.mjs,
// discord.js from the discord.js judge). In the composer she types `/`, moves
// through the bots' commands with the arrow keys, narrows them to `/ro` and
// picks /roll; the composer becomes its form. A side count out of bounds is
// refused before anything is sent; a good one goes out as the command line
// the bridge reads, the bot gets the interaction with typed options, and its
// answer shows under "… used /roll". Escape turns a form back into plain
// text, which works when sent too. /forecast is deferred: "… is thinking"
// under the command line, then the answer. /greet takes a member picked
// from the room, a choice and a toggle. /whisper is ephemeral: nothing
// in the channel, the answer in the bot's direct room marked "Only you can
// see this". No request leaves for a host but the homeserver.
//
//   node e2e/slash.mjs --base http://127.0.0.1:PORT [--shots DIR] [--chromium PATH]
//
// The bot's discord.js is `NEXUS_DISCORD_JS_DIR` (default
// ~/.cache/nexus-discord-js, made by scripts/discord-js-judge.sh).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { PASSWORD, openJudge, say, sleep } from "./judge.mjs";

const { base, person, shot, register, conclude, suffix } = await openJudge();
const judgeDir = process.env.NEXUS_DISCORD_JS_DIR ?? join(homedir(), ".cache/nexus-discord-js");
/** How long the bot may take to do something. */
const BOT_WAIT = 30_000;

/** The running bot: its process, and its report lines as they come. */
let bot = null;
// The bot is a child of this scenario and ends with it, however it ends.
process.on("exit", () => bot?.child.kill());

const alice = await person("alice");
const figures = {};
try {
  await conclude(run);
} finally {
  bot?.child.kill();
}

/** A JSON call to the homeserver (not through the page: the portal is for the scenario's setup). */
async function call(method, path, token, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(answer)}`);
  return answer;
}

/** Starts the discord.js bot with `token`; `next(kind)` waits for its next report of that kind. */
function startBot(token) {
  if (!existsSync(join(judgeDir, "node_modules/discord.js"))) {
    throw new Error(`discord.js is not installed in ${judgeDir} (scripts/discord-js-judge.sh)`);
  }
  const script = join(dirname(fileURLToPath(import.meta.url)), "slash-bot.mjs");
  const child = spawn(process.execPath, [script, judgeDir, base, token], { stdio: ["ignore", "pipe", "inherit"] });
  const backlog = [];
  const waiting = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    let report;
    try {
      report = JSON.parse(line);
    } catch {
      return;
    }
    say("bot", report);
    const at = waiting.findIndex((w) => w.kind === report.event);
    if (at === -1) backlog.push(report);
    else waiting.splice(at, 1)[0].resolve(report);
  });
  const next = (kind) => {
    const at = backlog.findIndex((r) => r.event === kind);
    if (at !== -1) return Promise.resolve(backlog.splice(at, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = { kind, resolve };
      waiting.push(waiter);
      setTimeout(() => {
        if (waiting.includes(waiter)) reject(new Error(`the bot never reported "${kind}"; it reported ${JSON.stringify(backlog)}`));
      }, BOT_WAIT);
    });
  };
  const errors = () => backlog.filter((r) => r.event === "error" || r.event === "login_failure");
  return { child, next, errors };
}

async function run() {
  const username = `alice${suffix}`;
  await register(alice, username);
  const page = alice.page;

  // Alice's server, and #general open.
  await page.getByRole("button", { name: "Create a server" }).click();
  await page.getByLabel("Server name").fill("Dice Den");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await page.getByRole("navigation", { name: "Dice Den channels" }).waitFor();
  await page.getByRole("button", { name: /general/ }).click();
  const box = page.getByRole("textbox", { name: "Message general" });
  await box.waitFor();
  const [, space] = (await page.evaluate(() => location.hash)).replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (!space?.startsWith("!")) throw new Error(`no server in the address: ${await page.evaluate(() => location.hash)}`);
  say("server made", { space });

  // The bot: an application made with Alice's token, added to her server.
  const login = await call("POST", "/_matrix/client/v3/login", null, {
    type: "m.login.password",
    identifier: { type: "m.id.user", user: username },
    password: PASSWORD,
  });
  const application = await call("POST", "/_nexus/bridge/v1/applications", login.access_token, { name: "Dicebot", description: "Rolls dice" });
  await call("POST", `/_nexus/bridge/v1/applications/${application.id}/guilds/${encodeURIComponent(space)}`, login.access_token, {});
  bot = startBot(application.token);
  await bot.next("ready");
  const registered = await bot.next("commands_registered");
  if (JSON.stringify(registered.names) !== JSON.stringify(["roll", "forecast", "whisper", "greet"])) throw new Error(`the bot registered ${JSON.stringify(registered.names)}`);
  say("bot running", { commands: registered.names });

  // `/`: every command, the bot's name beside each; the arrows move the choice.
  const list = page.getByRole("listbox", { name: "Commands" });
  const options = list.getByRole("option");
  await box.click();
  await box.pressSequentially("/");
  await list.getByRole("option", { name: /\/whisper/ }).waitFor();
  const names = (await options.allInnerTexts()).map((t) => /\/(\w+)/.exec(t)?.[1]);
  if (JSON.stringify(names) !== JSON.stringify(["forecast", "greet", "roll", "whisper"])) throw new Error(`"/" offered ${JSON.stringify(names)}`);
  if (!(await options.first().innerText()).includes("Dicebot")) throw new Error("the command list does not name the bot");
  const selected = async () => list.getByRole("option", { selected: true }).innerText();
  await box.press("ArrowDown");
  await box.press("ArrowDown");
  await box.press("ArrowDown");
  if (!(await selected()).includes("/whisper")) throw new Error(`three ↓ selected ${await selected()}`);
  await box.press("ArrowUp");
  if (!(await selected()).includes("/roll")) throw new Error(`↑ selected ${await selected()}`);
  const active = await box.getAttribute("aria-activedescendant");
  if (!active || (await list.locator(`[id="${active}"]`).innerText()) !== (await selected())) throw new Error("aria-activedescendant does not name the selected command");
  // Escape puts the list away; typing brings it back, narrowed.
  await box.press("Escape");
  await list.waitFor({ state: "detached" });
  await box.pressSequentially("ro");
  await list.getByRole("option", { name: /\/roll/ }).waitFor();
  if ((await options.count()) !== 1) throw new Error(`"/ro" offered ${JSON.stringify(await options.allInnerTexts())}`);
  await shot(page, "slash-autocomplete");
  await box.press("Enter");
  say("picked /roll from the list");

  // The form: typed fields; a value out of bounds is refused before sending.
  const rollForm = page.getByRole("form", { name: "Command /roll" });
  const sides = rollForm.getByRole("spinbutton", { name: "sides" });
  await sides.waitFor();
  if (!(await sides.evaluate((el) => el === document.activeElement))) throw new Error("the form did not focus its first field");
  if ((await sides.getAttribute("aria-required")) !== "true") throw new Error("sides is not marked required");
  if ((await sides.getAttribute("min")) !== "2" || (await sides.getAttribute("max")) !== "100") throw new Error("sides does not carry its bounds");
  const label = rollForm.getByRole("textbox", { name: "label" });
  if ((await label.getAttribute("aria-required")) !== "false") throw new Error("label is marked required");
  const messagesBefore = await page.locator(".message").count();
  await sides.fill("1");
  await rollForm.getByText("Must be between 2 and 100.").waitFor();
  await rollForm.getByRole("button", { name: "Send /roll" }).click();
  await sleep(500);
  if (!(await rollForm.isVisible())) throw new Error("a refused form was sent");
  if ((await sides.getAttribute("aria-invalid")) !== "true") throw new Error("the refused field is not marked invalid");
  if ((await page.locator(".message").count()) !== messagesBefore) throw new Error("a message left with a refused value");
  say("out of bounds refused before sending");

  await sides.fill("20");
  await label.fill("for the ogre");
  await rollForm.getByText("Must be between 2 and 100.").waitFor({ state: "detached" });
  await shot(page, "slash-form");
  const sentAt = Date.now();
  await label.press("Enter");
  await rollForm.waitFor({ state: "detached" });
  if ((await box.inputValue()) !== "") throw new Error("the message box is not empty after sending");
  const line = '/roll sides:20 label:"for the ogre"';
  await page.locator(".message:not(.pending)", { hasText: line }).waitFor();
  const invoked = await bot.next("interaction");
  const expected = [{ name: "sides", value: 20 }, { name: "label", value: "for the ogre" }];
  if (invoked.name !== "roll" || JSON.stringify(invoked.options) !== JSON.stringify(expected)) throw new Error(`the bot got ${JSON.stringify(invoked)}`);
  const rolled = await bot.next("answered");
  const answer = page.locator(".message", { hasText: rolled.content });
  await answer.waitFor();
  figures.answer_shown_ms = Date.now() - sentAt;
  const header = answer.locator(".interaction-header");
  const headerText = (await header.textContent()).replace(/\s+/g, " ");
  if (!headerText.includes(`${username} used /roll`)) throw new Error(`the answer's header says ${JSON.stringify(headerText)}`);
  // The header leads to the command line it answers.
  await header.click();
  await page.locator(".message.flash", { hasText: line }).waitFor();
  say("/roll answered in place", { answer: rolled.content, ms: figures.answer_shown_ms });

  // Escape: back to plain text, the line so far kept; sent as typed, it works too.
  await box.pressSequentially("/roll");
  await list.getByRole("option", { name: /\/roll/ }).waitFor();
  await box.press("Tab");
  await rollForm.getByRole("spinbutton", { name: "sides" }).fill("6");
  await rollForm.getByRole("spinbutton", { name: "sides" }).press("Escape");
  await rollForm.waitFor({ state: "detached" });
  if ((await box.inputValue()) !== "/roll sides:6") throw new Error(`Escape left ${JSON.stringify(await box.inputValue())} in the message box`);
  await box.press("Enter");
  const typed = await bot.next("interaction");
  if (JSON.stringify(typed.options) !== JSON.stringify([{ name: "sides", value: 6 }])) throw new Error(`the typed line reached the bot as ${JSON.stringify(typed)}`);
  const rolledAgain = await bot.next("answered");
  await page.locator(".message", { hasText: rolledAgain.content }).locator(".interaction-header", { hasText: "used /roll" }).waitFor();
  say("Escape to plain text, sent as typed");

  // A deferred answer: "thinking" under the command line, then the answer.
  await box.pressSequentially("/fo");
  await list.getByRole("option", { name: /\/forecast/ }).waitFor();
  await box.press("Enter");
  const forecastForm = page.getByRole("form", { name: "Command /forecast" });
  await forecastForm.getByRole("textbox", { name: "place" }).fill("Lisbon");
  await forecastForm.getByRole("textbox", { name: "place" }).press("Enter");
  await bot.next("interaction");
  await bot.next("deferred");
  const thinking = page.locator(".thinking-line", { hasText: "Dicebot is thinking" });
  await thinking.waitFor();
  const invocation = page.locator(".message", { hasText: "/forecast place:Lisbon" });
  const thinkingFollows = await thinking.evaluate((el, text) => el.previousElementSibling?.textContent?.includes(text), "/forecast place:Lisbon");
  if (!thinkingFollows) throw new Error("the thinking line is not under its command line");
  await shot(page, "slash-thinking");
  await invocation.waitFor();
  const forecast = await bot.next("answered");
  await page.locator(".message", { hasText: forecast.content }).locator(".interaction-header", { hasText: "used /forecast" }).waitFor();
  await thinking.waitFor({ state: "detached" });
  say("deferred answer: thinking, then the answer");

  // Pickers: a member from the room, a choice, a toggle.
  await box.pressSequentially("/gr");
  await list.getByRole("option", { name: /\/greet/ }).waitFor();
  await box.press("Enter");
  const greetForm = page.getByRole("form", { name: "Command /greet" });
  await greetForm.getByRole("combobox", { name: "who" }).selectOption(login.user_id);
  await greetForm.getByRole("combobox", { name: "style" }).selectOption({ label: "Formal" });
  const loud = greetForm.getByRole("switch", { name: "loud" });
  await loud.check();
  await shot(page, "slash-pickers");
  await loud.press("Enter");
  const greeted = await bot.next("interaction");
  const greetedOptions = greeted.options.map((o) => (o.name === "who" ? { name: "who" } : o));
  if (JSON.stringify(greetedOptions) !== JSON.stringify([{ name: "who" }, { name: "style", value: "formal" }, { name: "loud", value: true }])) {
    throw new Error(`/greet reached the bot as ${JSON.stringify(greeted)}`);
  }
  const greeting = await bot.next("answered");
  if (greeting.who !== username) throw new Error(`the member picked reached the bot as ${greeting.who}`);
  await page.locator(".message", { hasText: greeting.content }).locator(".interaction-header", { hasText: "used /greet" }).waitFor();
  say("pickers: a member, a choice, a toggle");

  // The screenshot: answers in place, the command list open again.
  await page.mouse.move(640, 790);
  await box.pressSequentially("/");
  await list.getByRole("option", { name: /\/whisper/ }).waitFor();
  await shot(page, "slash-commands");
  await box.pressSequentially("wh");
  await list.getByRole("option", { name: /\/whisper/ }).waitFor();
  await box.press("Enter");

  // An ephemeral answer: nothing in the channel; in the bot's direct room, "Only you can see this".
  const whisperForm = page.getByRole("form", { name: "Command /whisper" });
  const send = whisperForm.getByRole("button", { name: "Send /whisper" });
  await send.waitFor();
  if (!(await send.evaluate((el) => el === document.activeElement))) throw new Error("a form without fields did not focus Send");
  await send.press("Enter");
  if ((await bot.next("interaction")).name !== "whisper") throw new Error("the bot did not get /whisper");
  const whispered = await bot.next("answered");
  await page.locator(".message:not(.pending)", { hasText: "/whisper" }).waitFor();
  await sleep(1500);
  if ((await page.locator(".message", { hasText: whispered.content }).count()) !== 0) throw new Error("the ephemeral answer showed in the channel");
  await page.getByRole("button", { name: "Direct messages" }).click();
  // The bot's invitation to its direct room, listed under the bot's name
  // (not "Empty room"), joined by opening it.
  await page.getByRole("navigation", { name: "Direct messages" }).getByRole("button", { name: /Dicebot.*new/ }).click();
  const secret = page.locator(".message", { hasText: whispered.content });
  await secret.waitFor();
  await secret.getByText("Only you can see this").waitFor();
  await secret.locator(".interaction-header", { hasText: `${username} used /whisper` }).waitFor();
  await shot(page, "slash-ephemeral");
  say("ephemeral answer in the direct room");

  const errors = bot.errors();
  if (errors.length) throw new Error(`the bot reported ${JSON.stringify(errors)}`);
  return figures;
}
