// Client plugins (PLUGINS.md), judged in Debian's Chromium through
// playwright-core: Alice installs the bundled Quote plugin from her
// settings, having been shown what it can do; she quotes Bob's message with
// the plugin's message action and the quote reaches Bob; she rolls dice
// with the plugin's slash command (picked from the composer's hints) and
// the plugin's panel shows both. Then the proof that plugins never see the
// access token: she installs a spy plugin from pasted source that records
// every message it receives and tries everything a plugin might try —
// cookies, storage, IndexedDB, the parent page, the top window, fetch and
// XHR and WebSocket to the homeserver, loading scripts, a nested worker —
// and reports it all in its panel. Her access token (read from where the
// client keeps its session) appears nowhere in that report, every attempt
// failed, and the same fetch from the page itself succeeds (so the sandbox
// is what stopped it). Her plugins follow her across a reload (account
// data); disabling one takes its action away; one that does not parse shows
// its error in her settings. No request ever leaves for a host but the
// homeserver. Prints one JSON line per step and a last line
// `{"ok": true, ...figures}`; exits non-zero on the first failure.
//
//   node e2e/plugins.mjs --base http://127.0.0.1:PORT [--shots DIR] [--chromium PATH]
import { openJudge, post, say, serverWithMember } from "./judge.mjs";

const { base, person, shot, register, conclude, suffix } = await openJudge();

/**
 * The spy: declares every capability, so it is handed all a plugin can
 * be; records every message on its worker scope and its port; `/spy`
 * makes it try everything and put the lot, as JSON, in its panel.
 */
const SPY = `/*! nexus-plugin
{ "id": "spy", "name": "Spy", "version": "1.0.0", "description": "Tries to reach what a plugin must not, for the plugins scenario.",
  "capabilities": ["channel.read", "messages.read", "messages.send", "message-actions", "slash-commands", "panel"] }
*/
const received = [];
const results = {};
const plain = (value) => { try { const json = JSON.stringify(value); return json === undefined ? String(value) : JSON.parse(json); } catch { return String(value); } };
self.addEventListener("message", (event) => {
  received.push({ on: "worker", data: plain(event.data), ports: event.ports.length });
  if (event.ports[0]) event.ports[0].addEventListener("message", (e) => received.push({ on: "port", data: plain(e.data) }));
});
async function attempt(name, run) {
  try {
    results[name] = { ok: true, value: plain(await run()) };
  } catch (error) {
    results[name] = { ok: false, error: String(error && error.name) + ": " + String(error && error.message) };
  }
}
const homeserver = ${JSON.stringify(base)};
const timeout = (ms) => new Promise((_, reject) => setTimeout(() => reject(new Error("no answer in " + ms + " ms")), ms));
async function tryEverything() {
  await attempt("document.cookie", () => document.cookie);
  await attempt("localStorage", () => JSON.stringify(Object.entries(localStorage)));
  await attempt("sessionStorage", () => sessionStorage.length);
  await attempt("indexedDB", () => new Promise((resolve, reject) => {
    const open = indexedDB.open("matrix-js-sdk::matrix-sdk-crypto");
    open.onsuccess = () => resolve("opened");
    open.onerror = () => reject(open.error);
  }));
  await attempt("caches", () => caches.keys());
  await attempt("parent.document", () => parent.document.body.innerHTML);
  await attempt("top.location", () => top.location.href);
  await attempt("opener", () => opener.location.href);
  await attempt("location", () => self.location.href);
  await attempt("origin", () => self.origin);
  await attempt("fetch", () => fetch(homeserver + "/_matrix/client/versions").then((r) => r.status));
  await attempt("fetch whoami", () => fetch(homeserver + "/_matrix/client/v3/account/whoami", { credentials: "include" }).then((r) => r.text()));
  await attempt("XMLHttpRequest", () => Promise.race([timeout(5000), new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("GET", homeserver + "/_matrix/client/versions");
    xhr.onload = () => resolve(xhr.status);
    xhr.onerror = () => reject(new Error("request failed"));
    xhr.send();
  })]));
  await attempt("WebSocket", () => Promise.race([timeout(5000), new Promise((resolve, reject) => {
    const socket = new WebSocket(homeserver.replace(/^http/, "ws") + "/_matrix/client/versions");
    socket.onopen = () => resolve("open");
    socket.onerror = () => reject(new Error("connection failed"));
  })]));
  await attempt("importScripts", () => importScripts(homeserver + "/plugin-sandbox.js"));
  await attempt("Worker", () => new Worker(URL.createObjectURL(new Blob(["postMessage(1)"]))));
  await attempt("sendBeacon", () => navigator.sendBeacon(homeserver + "/_matrix/client/versions", "x"));
  await attempt("globals", () => Object.getOwnPropertyNames(self).filter((name) => /^[a-z]/.test(name)).sort());
}
nexus.registerMessageAction({ id: "inspect", label: "Inspect" }, (message) => { results.action = message; });
nexus.registerSlashCommand({ name: "spy", description: "Report what the spy could reach" }, async () => {
  results.ready = await nexus.ready();
  results.channel = await nexus.getCurrentChannel();
  results.messageCount = (await nexus.listMessages(100)).length;
  await tryEverything();
  const report = JSON.stringify({ received, results });
  const chunks = report.match(/[\\s\\S]{1,900}/g);
  await nexus.showPanel({ title: "Spy report", body: chunks.map((text) => ({ type: "text", text })) });
});
`;

/** Opens User settings on its Plugins tab; returns the dialog. */
async function pluginSettings(who) {
  await who.page.getByRole("button", { name: "User settings" }).click();
  const dialog = who.page.getByRole("dialog", { name: "User settings" });
  await dialog.getByRole("tab", { name: "Plugins" }).click();
  return dialog;
}

/** Picks a plugin action from a message's toolbar. */
async function pickAction(who, message, label) {
  await message.hover();
  await message.getByRole("button", { name: "Plugin actions" }).click();
  await message.getByRole("menu", { name: "Plugin actions" }).getByRole("menuitem", { name: label, exact: true }).click();
}

const alice = await person("alice");
const bob = await person("bob");
const figures = {};
await conclude(run);

async function run() {
  const aliceName = `alice${suffix}`;
  const bobName = `bob${suffix}`;
  await register(alice, aliceName);
  await register(bob, bobName);
  say("registered");

  await serverWithMember(alice, bob, "Workshop");
  const kiln = "The kiln reaches 1200 degrees by noon";
  await post(bob, "general", kiln);
  // (Bob's own: the quote of it will hold the same words.)
  const bobsMessage = alice.page.locator(`.message:not(.pending)[data-sender^="@${bobName}:"]`, { hasText: kiln });
  await bobsMessage.waitFor();
  say("server made, Bob posted");

  // No plugin yet: no plugin actions on messages.
  await bobsMessage.hover();
  if (await bobsMessage.getByRole("button", { name: "Plugin actions" }).count()) throw new Error("plugin actions shown with no plugin installed");

  // Alice installs the bundled Quote plugin, having been told what it can do.
  let settings = await pluginSettings(alice);
  const example = settings.getByRole("listitem", { name: "Example Quote" });
  const can = await example.getByRole("list", { name: "What Quote can do" }).getByRole("listitem").allInnerTexts();
  for (const expected of ["send messages as you in the channel you have open", "add items to each message's menu, and read a message when you pick its item"]) {
    if (!can.includes(expected)) throw new Error(`the install offer does not say the plugin can "${expected}": ${JSON.stringify(can)}`);
  }
  if (can.some((line) => line.startsWith("read the messages"))) throw new Error(`Quote is shown reading messages it did not ask for: ${JSON.stringify(can)}`);
  await shot(alice.page, "plugins-install");
  await example.getByRole("button", { name: "Install Quote" }).click();
  await settings.getByRole("status").filter({ hasText: "Installed Quote." }).waitFor();
  await settings.getByRole("list", { name: "Installed plugins" }).getByRole("listitem", { name: "Quote" }).waitFor();
  await settings.getByRole("button", { name: "Close" }).click();
  figures.capabilities_shown = can.length;
  say("Quote installed", { can });

  // Quote on Bob's message: the quote reaches both of them.
  let started = Date.now();
  await pickAction(alice, bobsMessage, "Quote");
  const quoteOn = (who) => who.page.locator(".message:not(.pending)", { has: who.page.locator("blockquote", { hasText: kiln }) });
  await quoteOn(bob).filter({ hasText: `— ${bobName}` }).waitFor();
  figures.quote_reached_bob_ms = Date.now() - started;
  await quoteOn(alice).filter({ hasText: `— ${bobName}` }).waitFor();
  const quoteAuthor = await quoteOn(bob).locator(".author").first().innerText().catch(() => "");
  say("quoted", { author: quoteAuthor });

  // /roll from the composer's hints: the roll is sent, the command is not.
  const box = alice.page.getByRole("textbox", { name: "Message general" });
  await box.fill("/ro");
  await alice.page.getByRole("list", { name: "Plugin commands" }).getByRole("button", { name: /\/roll/ }).click();
  if ((await box.inputValue()) !== "/roll ") throw new Error(`picking the hint left ${JSON.stringify(await box.inputValue())}`);
  await box.pressSequentially("2d6");
  started = Date.now();
  await box.press("Enter");
  const roll = bob.page.locator(".message:not(.pending)", { hasText: "🎲 2d6:" });
  await roll.waitFor();
  figures.roll_reached_bob_ms = Date.now() - started;
  const rollText = await roll.locator(".body").innerText();
  const [, a, b, total] = /🎲 2d6: (\d) \+ (\d) = (\d+)/.exec(rollText) ?? [];
  if (!total || Number(a) + Number(b) !== Number(total)) throw new Error(`the roll does not add up: ${JSON.stringify(rollText)}`);
  if ((await bob.page.locator(".message", { hasText: "/roll" }).count()) > 0) throw new Error("the slash command itself was sent to the channel");
  if ((await box.inputValue()) !== "") throw new Error("the composer kept the command");
  say("rolled", { roll: rollText });

  // The plugin's panel: what it did, drawn by the client.
  const panel = alice.page.getByRole("complementary", { name: "Plugin panel: Quote" });
  await panel.getByText("Quoted 1 message since the plugin started.").waitFor();
  await panel.getByRole("listitem").filter({ hasText: `2d6 → ${total}` }).waitFor();
  // The screenshot: the quote, the roll, the panel, and the actions menu open on Bob's message.
  await bobsMessage.hover();
  await bobsMessage.getByRole("button", { name: "Plugin actions" }).click();
  await bobsMessage.getByRole("menuitem", { name: "Quote" }).waitFor();
  await shot(alice.page, "plugins");
  await bobsMessage.getByRole("button", { name: "Plugin actions" }).click();
  // Its button rolls a d20.
  await panel.getByRole("button", { name: "Roll 1d20" }).click();
  await bob.page.locator(".message:not(.pending)", { hasText: "🎲 1d20:" }).waitFor();
  say("panel shown; its button rolled");

  // The proof: the access token the client holds…
  const token = await alice.page.evaluate(() => JSON.parse(localStorage.getItem("nexus.session") ?? "null")?.accessToken);
  if (typeof token !== "string" || token.length < 16) throw new Error(`no access token found in the page's session: ${JSON.stringify(token)}`);
  // …and the sandboxes' frames: scripts, but no same origin.
  const sandboxes = await alice.page.locator("iframe[title^='Plugin sandbox']").evaluateAll((frames) => frames.map((f) => f.getAttribute("sandbox")));
  if (sandboxes.length !== 1 || sandboxes[0] !== "allow-scripts") throw new Error(`the plugin frames are not sandboxed as they should be: ${JSON.stringify(sandboxes)}`);

  // Alice installs the spy from pasted source, uses its action on Bob's message, and asks for its report.
  settings = await pluginSettings(alice);
  await settings.getByLabel("Plugin source").fill(SPY);
  const review = settings.getByRole("region", { name: "Plugin to install" });
  await review.getByRole("list", { name: "What Spy can do" }).getByRole("listitem").filter({ hasText: "read the messages in the channel you have open" }).waitFor();
  await review.getByRole("button", { name: "Install plugin" }).click();
  await settings.getByRole("status").filter({ hasText: "Installed Spy." }).waitFor();
  await settings.getByRole("button", { name: "Close" }).click();
  await pickAction(alice, bobsMessage, "Inspect");
  await box.fill("/spy now");
  await box.press("Enter");
  const spyPanel = alice.page.getByRole("complementary", { name: "Plugin panel: Spy report" });
  await spyPanel.waitFor();
  const reportText = await spyPanel.locator(".plugin-panel-body p").evaluateAll((ps) => ps.map((p) => p.textContent).join(""));
  const report = JSON.parse(reportText);
  figures.spy_report_chars = reportText.length;
  figures.spy_received_messages = report.received.length;

  // The report is real: the spy got its port, its start, the channel, the messages and the message it inspected…
  const { results, received } = report;
  const fromHost = received.filter((r) => r.on === "port").map((r) => r.data);
  if (!received.some((r) => r.on === "worker" && r.ports === 1)) throw new Error(`the spy never saw its port handed over: ${JSON.stringify(received.slice(0, 3))}`);
  if (!fromHost.some((m) => m.kind === "init")) throw new Error("the spy's record lacks the host's init");
  if (results.ready?.id !== "spy" || !results.ready.capabilities.includes("messages.send")) throw new Error(`the spy was not started as itself: ${JSON.stringify(results.ready)}`);
  if (results.channel?.name !== "general" || !results.channel.roomId?.startsWith("!")) throw new Error(`the spy did not get the channel: ${JSON.stringify(results.channel)}`);
  if (!(results.messageCount >= 3)) throw new Error(`the spy got ${results.messageCount} messages`);
  if (results.action?.body !== kiln || !results.action.sender?.startsWith(`@${bobName}:`)) throw new Error(`the spy's action got ${JSON.stringify(results.action)}`);
  if (!fromHost.some((m) => m.kind === "event" && m.event === "messageAction")) throw new Error("the spy's record lacks the message action event");

  // …yet the token is nowhere in it, and nothing outside the sandbox was reachable.
  if (reportText.includes(token)) throw new Error("THE ACCESS TOKEN REACHED THE PLUGIN");
  const failed = (name, pattern) => {
    const r = results[name];
    if (!r || r.ok) throw new Error(`the spy's ${name} succeeded: ${JSON.stringify(r)}`);
    if (pattern && !pattern.test(r.error)) throw new Error(`the spy's ${name} failed unexpectedly: ${r.error}`);
  };
  failed("document.cookie", /ReferenceError/);
  failed("localStorage", /ReferenceError/);
  failed("sessionStorage", /ReferenceError/);
  failed("parent.document", /ReferenceError/);
  failed("top.location", /ReferenceError/);
  failed("opener", /ReferenceError/);
  failed("indexedDB", /SecurityError/);
  failed("caches");
  failed("fetch", /TypeError/);
  failed("fetch whoami", /TypeError/);
  failed("XMLHttpRequest");
  failed("WebSocket");
  failed("importScripts", /ReferenceError|TypeError/);
  failed("Worker", /ReferenceError|TypeError/);
  failed("sendBeacon");
  if (results.origin?.value !== "null" || !String(results.location?.value).startsWith("blob:null/")) {
    throw new Error(`the plugin's origin is not opaque: ${JSON.stringify([results.origin, results.location])}`);
  }
  const globals = results.globals?.value ?? [];
  if (!globals.includes("nexus") || globals.length < 10) throw new Error(`the spy's globals list is not a real list: ${JSON.stringify(globals)}`);
  for (const name of ["document", "localStorage", "parent", "top", "window", "mxClient", "matrixClient"]) {
    if (globals.includes(name)) throw new Error(`the plugin can see a global ${name}`);
  }
  // The same fetch from the page itself works: the sandbox, not the network, stopped the spy.
  const fromPage = await alice.page.evaluate((url) => fetch(url).then((r) => r.status), `${base}/_matrix/client/versions`);
  if (fromPage !== 200) throw new Error(`the page's own fetch got ${fromPage}`);
  figures.spy_attempts_failed = Object.values(results).filter((r) => r && r.ok === false).length;
  say("the spy saw no token and reached nothing", { attempts: Object.fromEntries(Object.entries(results).filter(([, r]) => r && r.ok === false).map(([k, r]) => [k, r.error])) });

  // The plugins follow Alice: after a reload they run again from her account data.
  await alice.page.reload();
  await alice.page.getByRole("navigation", { name: "Workshop channels" }).waitFor();
  await alice.page.getByRole("textbox", { name: "Message general" }).waitFor();
  await bobsMessage.hover();
  await bobsMessage.getByRole("button", { name: "Plugin actions" }).click();
  const actions = await bobsMessage.getByRole("menu", { name: "Plugin actions" }).getByRole("menuitem").allInnerTexts();
  if (JSON.stringify(actions.sort()) !== JSON.stringify(["Inspect", "Quote"])) throw new Error(`after a reload the actions are ${JSON.stringify(actions)}`);
  await bobsMessage.getByRole("button", { name: "Plugin actions" }).click();
  say("plugins still there after a reload");

  // Disabled, the spy's action is gone; removed, it is off the list.
  settings = await pluginSettings(alice);
  const spyEntry = settings.getByRole("list", { name: "Installed plugins" }).getByRole("listitem", { name: "Spy" });
  await spyEntry.getByRole("checkbox", { name: "Enabled" }).uncheck();
  await settings.getByRole("status").filter({ hasText: "Spy disabled." }).waitFor();
  await settings.getByRole("button", { name: "Close" }).click();
  await bobsMessage.hover();
  await bobsMessage.getByRole("button", { name: "Plugin actions" }).click();
  const left = await bobsMessage.getByRole("menu", { name: "Plugin actions" }).getByRole("menuitem").allInnerTexts();
  if (JSON.stringify(left) !== JSON.stringify(["Quote"])) throw new Error(`with the spy disabled the actions are ${JSON.stringify(left)}`);
  await bobsMessage.getByRole("button", { name: "Plugin actions" }).click();
  if ((await alice.page.locator("iframe[title^='Plugin sandbox']").count()) !== 1) throw new Error("the disabled plugin's sandbox is still there");
  settings = await pluginSettings(alice);
  await settings.getByRole("button", { name: "Remove Spy" }).click();
  await settings.getByRole("status").filter({ hasText: "Removed Spy." }).waitFor();
  await spyEntry.waitFor({ state: "detached" });
  say("disabled and removed");

  // A plugin that does not parse: its error is shown in its settings, against its own line.
  await settings.getByLabel("Plugin source").fill(`/*! nexus-plugin {"id": "broken", "name": "Broken", "capabilities": []} */\nconst fine = 1;\nthis is not javascript;\n`);
  await settings.getByRole("region", { name: "Plugin to install" }).getByRole("button", { name: "Install plugin" }).click();
  const problem = await settings.getByRole("list", { name: "Problems of Broken" }).getByRole("listitem").first().innerText();
  if (!/SyntaxError.*\(line 3\)/.test(problem)) throw new Error(`the broken plugin's problem reads ${JSON.stringify(problem)}`);
  await settings.getByRole("button", { name: "Remove Broken" }).click();
  await settings.getByRole("button", { name: "Close" }).click();
  say("a broken plugin's error shown", { problem });
  return figures;
}
