// Channel settings, judged in Debian's Chromium through playwright-core:
// the owner renames a channel and gives it a topic and slowmode through the
// gear on its row, denies @everyone SEND_MESSAGES there with a channel
// overwrite (§8), and a member who joins by invite link finds their composer
// closed in that channel while the owner still posts; then the owner
// encrypts a fresh channel and deletes it, and it leaves both sidebars. No
// request may leave for a host but the homeserver. Prints one JSON line per
// step and a last line `{"ok": true}`; exits non-zero on the first failure.
//
//   node e2e/channels.mjs --base http://127.0.0.1:PORT [--shots DIR] [--chromium PATH]
import { deepStrictEqual } from "node:assert/strict";
import { openJudge, say } from "./judge.mjs";

const { base, person, shot, register, conclude, suffix } = await openJudge();

const SERVER = "Orchard";

const sidebar = (who) => who.page.getByRole("navigation", { name: `${SERVER} channels` });
/** A channel's row in the sidebar, by its exact name. */
const channelRow = (who, name) =>
  sidebar(who).getByRole("listitem").filter({ has: who.page.locator(".channel-name").getByText(name, { exact: true }) });

/** The gear shows on hover, as in Discord; it opens the channel's settings. */
async function openChannelSettings(who, name) {
  const row = channelRow(who, name);
  await row.hover();
  await row.getByRole("button", { name: `Edit channel ${name}`, exact: true }).click();
  await who.page.getByRole("dialog", { name: `#${name} settings` }).waitFor();
  // Unnamed from here on: a rename retitles the dialog.
  return who.page.getByRole("dialog");
}

const alice = await person("alice");
const bob = await person("bob");
await conclude(run);

async function run() {
  await register(alice, `alice${suffix}`);
  await register(bob, `bob${suffix}`);
  say("registered");

  await alice.page.getByRole("button", { name: "Create a server" }).click();
  await alice.page.getByLabel("Server name").fill(SERVER);
  await alice.page.getByRole("button", { name: "Create", exact: true }).click();
  await channelRow(alice, "general").waitFor();
  say("server created");

  // Only managers see the gear: the owner does.
  let dialog = await openChannelSettings(alice, "general");
  await dialog.getByLabel("Channel name").fill("chat");
  await dialog.getByLabel("Channel topic").fill("Anything about the orchard");
  await dialog.getByLabel("Slowmode").selectOption({ label: "10s" });
  await dialog.getByRole("button", { name: "Save changes" }).click();
  await dialog.getByRole("status").filter({ hasText: "Saved." }).waitFor();
  await alice.page.getByRole("dialog", { name: "#chat settings" }).waitFor();
  await shot(alice.page, "channel-settings");
  await dialog.getByRole("button", { name: "Close" }).click();
  await channelRow(alice, "chat").waitFor();
  if (await channelRow(alice, "general").count()) throw new Error("the sidebar still lists general");
  say("channel renamed");

  // Deny @everyone SEND_MESSAGES in #chat.
  dialog = await openChannelSettings(alice, "chat");
  await dialog.getByRole("tab", { name: "Permissions" }).click();
  await dialog.getByRole("option", { name: /@everyone/ }).getByRole("button").click();
  const sendMessages = dialog.getByRole("radiogroup", { name: "Send Messages", exact: true });
  if (!(await sendMessages.getByRole("radio", { name: "Inherit" }).isChecked())) throw new Error("Send Messages was not inherited to begin with");
  await sendMessages.getByRole("radio", { name: "Deny" }).check();
  await shot(alice.page, "overwrites");
  await dialog.getByRole("button", { name: "Save changes" }).click();
  await dialog.getByRole("status").filter({ hasText: "Saved." }).waitFor();
  await dialog.getByRole("button", { name: "Close" }).click();
  // Reopened, the editor reads the overwrite back from the room's state.
  dialog = await openChannelSettings(alice, "chat");
  await dialog.getByRole("tab", { name: "Permissions" }).click();
  await dialog.getByRole("radiogroup", { name: "Send Messages", exact: true }).getByRole("radio", { name: "Deny" }).waitFor();
  if (!(await dialog.getByRole("radiogroup", { name: "Send Messages", exact: true }).getByRole("radio", { name: "Deny" }).isChecked())) {
    throw new Error("the overwrite did not come back from the room state");
  }
  await dialog.getByRole("button", { name: "Close" }).click();
  say("overwrite saved");

  // Bob joins by invite link: in #chat his composer is closed.
  await sidebar(alice).getByRole("button", { name: `${SERVER} menu` }).click();
  await alice.page.getByRole("menuitem", { name: "Invite people" }).click();
  const linkField = alice.page.getByLabel("Invite link");
  await linkField.waitFor();
  const link = await linkField.inputValue();
  await alice.page.getByRole("button", { name: "Close" }).click();
  await bob.page.goto(link);
  await bob.page.getByRole("button", { name: "Join server" }).click();
  await channelRow(bob, "chat").waitFor();
  if (await bob.page.getByRole("button", { name: /^Edit channel/ }).count()) throw new Error("a member without Manage Channels sees the gear");
  await channelRow(bob, "chat").getByRole("button").first().click();
  await bob.page
    .getByRole("note", { name: "Composer disabled" })
    .getByText("You do not have permission to send messages")
    .waitFor();
  say("member cannot post");

  // The owner is above overwrites (§7.2) and still posts.
  await channelRow(alice, "chat").getByRole("button").first().click();
  const said = `still open for the owner ${suffix}`;
  const composer = alice.page.getByRole("textbox", { name: "Message chat" });
  await composer.fill(said);
  await composer.press("Enter");
  await bob.page.locator(".message", { hasText: said }).waitFor();
  say("owner posts");

  // What was written is §8's content exactly: decimal strings, roles and members.
  const chatId = decodeURIComponent(new URL(alice.page.url()).hash.split("/").pop());
  const session = JSON.parse(await alice.page.evaluate(() => localStorage.getItem("nexus.session")));
  const response = await fetch(`${base}/_matrix/client/v3/rooms/${encodeURIComponent(chatId)}/state/nexus.channel.overwrites/`, {
    headers: { Authorization: `Bearer ${session.accessToken}` },
  });
  const written = await response.json();
  deepStrictEqual(written, { roles: { everyone: { allow: "0", deny: "2048" } }, members: {} }, "nexus.channel.overwrites content");
  say("overwrite content", { content: written });

  // A fresh channel: encrypted (one way), then deleted; it leaves both sidebars.
  await sidebar(alice).getByRole("button", { name: `${SERVER} menu` }).click();
  await alice.page.getByRole("menuitem", { name: "Create channel" }).click();
  await alice.page.getByLabel("Channel name").fill("scratch");
  await alice.page.getByRole("button", { name: "Create channel" }).click();
  await alice.page.getByRole("textbox", { name: "Message scratch" }).waitFor();
  await channelRow(bob, "scratch").waitFor();
  dialog = await openChannelSettings(alice, "scratch");
  await dialog.getByRole("tab", { name: "Encryption" }).click();
  await dialog.getByText("cannot be undone").waitFor();
  await dialog.getByRole("button", { name: "Encrypt this channel" }).click();
  await dialog.getByRole("group", { name: "Confirm encryption" }).getByRole("button", { name: "Yes, encrypt" }).click();
  await dialog.getByRole("status").filter({ hasText: "Encrypted" }).waitFor();
  say("channel encrypted");
  await dialog.getByRole("tab", { name: "Overview" }).click();
  await dialog.getByRole("button", { name: "Delete channel" }).click();
  await dialog.getByRole("group", { name: "Confirm deletion" }).getByRole("button", { name: "Yes, delete channel" }).click();
  await dialog.waitFor({ state: "detached" });
  await channelRow(alice, "scratch").waitFor({ state: "detached" });
  await channelRow(bob, "scratch").waitFor({ state: "detached" });
  await channelRow(alice, "chat").waitFor();
  say("channel deleted");
}

