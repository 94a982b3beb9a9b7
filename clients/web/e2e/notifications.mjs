// Notification levels and desktop notifications (extensions-spec §22,
// "Notification levels"), judged in Debian's Chromium through
// playwright-core. Bob, who allowed notifications, sets #seeds to "Nothing"
// and #tools to "Only @mentions" through the bell in each channel's header;
// while he reads #lounge, Alice posts a plain message and a mention of him
// in each — exactly one desktop notification comes (the mention in #tools),
// and clicking it opens #tools. His push rules say what the spec says. A
// one-hour server mute from the server menu silences #general (which chose
// no level) but not #tools (which did); unmuting brings #general back, and
// suppressing @everyone writes its overrides. A reload's first sync
// notifies of nothing. Alice, who never allowed notifications, is offered
// them and never asked on load. No request may leave for a host but the
// homeserver. Prints one JSON line per step and a last line
// `{"ok": true, ...figures}`; exits non-zero on the first failure.
//
//   node e2e/notifications.mjs --base http://127.0.0.1:PORT [--shots DIR] [--chromium PATH]
import { deepStrictEqual } from "node:assert/strict";
import { openJudge, say, serverWithMember } from "./judge.mjs";

const { origin, person, shot, register, conclude, suffix } = await openJudge();

const SERVER = "Orchard";

/**
 * Runs in the page before the client: every Notification the page creates
 * is recorded (title, body, data) and kept, so the scenario can count them
 * and click one; calls to Notification.requestPermission are counted.
 */
function recordNotifications() {
  const Real = window.Notification;
  window.__notifications = [];
  window.__permissionRequests = 0;
  if (!Real) return;
  class Recorded extends Real {
    constructor(title, options = {}) {
      super(title, options);
      window.__notifications.push({ title, body: options.body ?? "", data: options.data ?? null, shown: this });
    }
    static requestPermission(...args) {
      window.__permissionRequests++;
      return Real.requestPermission(...args);
    }
  }
  window.Notification = Recorded;
}

/** What the page has shown so far: `{title, body, data}` each. */
const shown = (who) => who.page.evaluate(() => window.__notifications.map(({ title, body, data }) => ({ title, body, data })));

const sidebar = (who) => who.page.getByRole("navigation", { name: `${SERVER} channels` });
const channelButton = (who, name) => sidebar(who).locator("button.channel").filter({ has: who.page.locator(".channel-name").getByText(name, { exact: true }) });

async function openChannel(who, name) {
  await channelButton(who, name).click();
  await who.page.getByRole("textbox", { name: `Message ${name}` }).waitFor();
}

async function createChannel(who, name) {
  await who.page.getByRole("button", { name: `${SERVER} menu` }).click();
  await who.page.getByRole("menuitem", { name: "Create channel" }).click();
  await who.page.getByLabel("Channel name").fill(name);
  await who.page.getByRole("button", { name: "Create channel" }).click();
  await who.page.getByRole("textbox", { name: `Message ${name}` }).waitFor();
}

/** Posts in the open channel; `mention`: ends with an @mention picked from the autocomplete. */
async function post(who, channel, text, mention) {
  const box = who.page.getByRole("textbox", { name: `Message ${channel}` });
  if (mention) {
    await box.fill(`${text} @${mention}`);
    await who.page.getByRole("listbox", { name: "Mention someone" }).getByRole("option", { name: new RegExp(mention) }).waitFor();
    await box.press("Enter");
  } else {
    await box.fill(text);
  }
  await box.press("Enter");
  await who.page.locator(".message:not(.pending)", { hasText: text }).waitFor();
}

/** The open channel's room ID, from the route `#/server/<space>/<room>`. */
const openRoomId = async (who) => decodeURIComponent((await who.page.evaluate(() => window.location.hash)).split("/")[3]);

/** Bob's push rules as the homeserver serves them, read with his own token. */
const pushRules = (who) =>
  who.page.evaluate(async () => {
    const { accessToken } = JSON.parse(localStorage.getItem("nexus.session"));
    const response = await fetch("/_matrix/client/v3/pushrules/", { headers: { Authorization: `Bearer ${accessToken}` } });
    return (await response.json()).global;
  });

/** Opens the notification settings of the open channel (the bell in its header) or the server (its menu). */
async function notificationDialog(who, where) {
  if (where === "server") {
    await who.page.getByRole("button", { name: `${SERVER} menu` }).click();
    await who.page.getByRole("menuitem", { name: "Notification settings" }).click();
    return who.page.getByRole("dialog", { name: `${SERVER} notifications` });
  }
  await who.page.getByRole("main").getByRole("button", { name: "Notification settings" }).click();
  return who.page.getByRole("dialog", { name: `#${where} notifications` });
}

const alice = await person("alice");
const bob = await person("bob");
await alice.context.addInitScript(recordNotifications);
await bob.context.addInitScript(recordNotifications);
await bob.context.grantPermissions(["notifications"], { origin });
const figures = {};
await conclude(run);

async function run() {
  await register(alice, `alice${suffix}`);
  const bobName = `bob${suffix}`;
  await register(bob, bobName);
  say("registered");

  // Alice never allowed notifications: the client offers them and asked nothing on load.
  const offer = alice.page.getByRole("region", { name: "Desktop notifications" });
  await offer.waitFor();
  if ((await alice.page.evaluate(() => window.__permissionRequests)) !== 0) throw new Error("the client asked for the notification permission on load");
  await offer.getByRole("button", { name: "Not now" }).click();
  await offer.waitFor({ state: "detached" });
  // Bob allowed them: no offer; his settings show the switch, on.
  if ((await bob.page.getByRole("region", { name: "Desktop notifications" }).count()) !== 0) throw new Error("Bob, who allowed notifications, was offered them");
  await bob.page.getByRole("button", { name: "User settings" }).click();
  await bob.page.getByRole("tab", { name: "Notifications" }).click();
  const deviceSwitch = bob.page.getByRole("checkbox", { name: "Show desktop notifications on this device" });
  if (!(await deviceSwitch.isChecked())) throw new Error("desktop notifications are not on for Bob");
  await bob.page.getByRole("button", { name: "Close" }).click();
  say("permission offered, not asked on load");

  await serverWithMember(alice, bob, SERVER);
  const general = await openRoomId(bob);
  for (const name of ["seeds", "tools", "lounge"]) await createChannel(alice, name);
  say("server and channels made");

  // Bob: #seeds to Nothing, #tools to Only @mentions, through the bell in each header.
  const rooms = { general };
  for (const [channel, level, summary] of [
    ["seeds", "Nothing", "Nothing — set on this channel."],
    ["tools", "Only @mentions", "Only @mentions — set on this channel."],
  ]) {
    await openChannel(bob, channel);
    rooms[channel] = await openRoomId(bob);
    const dialog = await notificationDialog(bob, channel);
    await dialog.getByText("All messages — the server's default.").waitFor();
    await dialog.getByRole("radio", { name: level, exact: true }).check();
    await dialog.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    await dialog.getByText(summary).waitFor();
    if (channel === "tools") await shot(bob.page, "notification-settings-channel");
    await dialog.getByRole("button", { name: "Close" }).click();
  }
  await openChannel(bob, "lounge");
  rooms.lounge = await openRoomId(bob);
  // #seeds looks muted in the list; #tools (mentions still come) does not.
  await channelButton(bob, "seeds").getByRole("img", { name: "Muted" }).waitFor();
  if ((await channelButton(bob, "tools").getByRole("img", { name: "Muted" }).count()) !== 0) throw new Error("#tools looks muted");
  if (!(await channelButton(bob, "seeds").evaluate((el) => Number(getComputedStyle(el).opacity) < 1))) throw new Error("muted #seeds is not dimmed");
  say("levels set through the UI", { rooms });

  // The homeserver wrote them as the spec's push rules.
  let rules = await pushRules(bob);
  const override = (id) => rules.override.find((r) => r.rule_id === id);
  const roomRule = (id) => rules.room.find((r) => r.rule_id === id);
  const seedsMute = override(`nexus.mute.${rooms.seeds}`);
  if (!seedsMute) throw new Error(`no override nexus.mute.${rooms.seeds}: ${JSON.stringify(rules.override.map((r) => r.rule_id))}`);
  deepStrictEqual(seedsMute.actions, []);
  deepStrictEqual(seedsMute.conditions, [{ kind: "event_match", key: "room_id", pattern: rooms.seeds }]);
  // Before the spec's mention rules, so a mention in #seeds is silenced too.
  const at = (id) => rules.override.findIndex((r) => r.rule_id === id);
  if (!(at(`nexus.mute.${rooms.seeds}`) < at(".m.rule.is_user_mention"))) throw new Error(`the mute comes after the mention rule: ${JSON.stringify(rules.override.map((r) => r.rule_id))}`);
  deepStrictEqual(roomRule(rooms.tools)?.actions, []);
  if (override(`nexus.mute.${rooms.tools}`) || roomRule(rooms.seeds)) throw new Error("a rule for the wrong level was written");
  say("push rules as the spec says");

  // Alice posts in both; Bob is in #lounge. A message of Alice's in #lounge
  // after them all is the barrier: once Bob sees it, his client has had them.
  let barriers = 0;
  const barrier = async () => {
    const text = `Barrier ${++barriers}`;
    await openChannel(alice, "lounge");
    await post(alice, "lounge", text);
    // Events are handled in order, and a notification is raised as its
    // (unencrypted) event arrives: seeing this one, Bob's page has raised any.
    await bob.page.locator(".message", { hasText: text }).waitFor();
  };
  await openChannel(alice, "seeds");
  await post(alice, "seeds", "Seeds plain message");
  await post(alice, "seeds", "Seeds mention", bobName);
  await openChannel(alice, "tools");
  await post(alice, "tools", "Tools plain message");
  await post(alice, "tools", "Tools mention", bobName);
  await barrier();
  let got = await shown(bob);
  figures.notifications_after_levels = got.length;
  if (got.length !== 1) throw new Error(`Bob got ${got.length} notifications, not 1: ${JSON.stringify(got)}`);
  const [mention] = got;
  if (!mention.title.includes(`#tools, ${SERVER}`) || !mention.body.startsWith("Tools mention")) throw new Error(`the notification was ${JSON.stringify(mention)}`);
  if (mention.data?.mention !== true || mention.data?.roomId !== rooms.tools) throw new Error(`the notification's data was ${JSON.stringify(mention.data)}`);
  say("one notification: the mention in #tools", mention);

  // Clicking it opens #tools.
  await bob.page.evaluate(() => window.__notifications[0].shown.dispatchEvent(new Event("click")));
  await bob.page.getByRole("textbox", { name: "Message tools" }).waitFor();
  if ((await openRoomId(bob)) !== rooms.tools) throw new Error("the click did not open #tools");
  await openChannel(bob, "lounge");
  say("clicking the notification opened the channel");

  // A one-hour server mute from the server menu.
  let dialog = await notificationDialog(bob, "server");
  await dialog.getByLabel("Mute for").selectOption({ label: "For 1 hour" });
  await dialog.getByRole("button", { name: "Mute", exact: true }).click();
  await dialog.getByRole("button", { name: "Unmute" }).waitFor();
  await dialog.getByText(/Muted until .* \(your server mute\)/).waitFor();
  await shot(bob.page, "notification-settings");
  await dialog.getByRole("button", { name: "Close" }).click();
  await channelButton(bob, "general").getByRole("img", { name: "Muted" }).waitFor();
  rules = await pushRules(bob);
  if (!override(`nexus.mute.${rooms.general}`)) throw new Error("the server mute wrote no override for #general");
  if (override(`nexus.mute.${rooms.tools}`)) throw new Error("the server mute covered #tools, which has its own level");
  say("server muted for an hour");

  // Muted: a mention in #general raises nothing; #tools kept its own level.
  await openChannel(alice, "general");
  await post(alice, "general", "General mention while muted", bobName);
  await openChannel(alice, "tools");
  await post(alice, "tools", "Tools mention while the server is muted", bobName);
  await barrier();
  got = (await shown(bob)).slice(1);
  figures.notifications_while_muted = got.length;
  if (got.length !== 1 || !got[0].title.includes("#tools")) throw new Error(`while muted Bob got ${JSON.stringify(got)}, not just the #tools mention`);
  say("the mute silenced #general, not #tools");

  // Unmuted: a mention in #general notifies again.
  dialog = await notificationDialog(bob, "server");
  await dialog.getByRole("button", { name: "Unmute" }).click();
  await dialog.getByRole("button", { name: "Mute", exact: true }).waitFor();
  await dialog.getByText("All messages — the server's default.").waitFor();
  // Suppressing @everyone for the server: its overrides in every channel.
  await dialog.getByRole("checkbox", { name: "Suppress @everyone and @here" }).check();
  await dialog.getByRole("status").filter({ hasText: "Saved." }).waitFor();
  await dialog.getByRole("button", { name: "Close" }).click();
  rules = await pushRules(bob);
  if (override(`nexus.mute.${rooms.general}`)) throw new Error("unmuting left the override for #general");
  for (const room of [rooms.general, rooms.tools]) {
    const rule = override(`nexus.suppress_everyone.${room}`);
    if (!rule || !override(`nexus.suppress_everyone_body.${room}`)) throw new Error(`no @everyone overrides for ${room}`);
    // #general notifies plainly (all messages); #tools not at all (only mentions).
    deepStrictEqual(rule.actions, room === rooms.general ? ["notify"] : []);
  }
  await openChannel(alice, "general");
  await post(alice, "general", "General mention after unmuting", bobName);
  await barrier();
  got = (await shown(bob)).slice(2);
  figures.notifications_after_unmute = got.length;
  if (got.length !== 1 || !got[0].title.includes("#general") || !got[0].body.startsWith("General mention after unmuting")) {
    throw new Error(`after unmuting Bob got ${JSON.stringify(got)}`);
  }
  if ((await channelButton(bob, "general").getByRole("img", { name: "Muted" }).count()) !== 0) throw new Error("#general still looks muted");
  say("unmuted: #general notifies again");

  // A reload's first sync brings these same recent messages again: history, not news.
  await bob.page.reload();
  await bob.page.getByRole("textbox", { name: "Message lounge" }).waitFor();
  await barrier();
  figures.notifications_after_reload = (await shown(bob)).length;
  if (figures.notifications_after_reload !== 0) throw new Error(`the first sync after a reload notified: ${JSON.stringify(await shown(bob))}`);
  say("nothing from the first sync after a reload");

  // Alice allowed nothing: the page never created a notification for her.
  figures.alice_notifications = (await shown(alice)).length;
  if (figures.alice_notifications !== 0) throw new Error("Alice, who allowed nothing, was notified");
  return figures;
}
