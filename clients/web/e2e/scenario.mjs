// The web client, judged in Debian's Chromium through playwright-core:
// two people register, make a server, invite by code, talk in markdown and
// code, react, reply in a thread, vote in a poll, lose the right to post,
// change theme, and send while offline — and no request ever leaves for a
// host but the homeserver. Prints one JSON line per step and a last line
// `{"ok": true, ...figures}`; exits non-zero on the first failure.
//
//   node e2e/scenario.mjs --base http://127.0.0.1:PORT [--shots DIR] [--chromium PATH]
import { PASSWORD, openJudge, say } from "./judge.mjs";

const { base, person, shot, register, conclude, suffix } = await openJudge();

/** A 16×16 green PNG, for the emoji and the attachment. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFklEQVR4nGPQW+BFEmIY1TCqYfhqAADAJBgQNV6lmgAAAABJRU5ErkJggg==",
  "base64",
);

const alice = await person("alice");
const bob = await person("bob");
const figures = {};
await conclude(run);

async function run() {
  figures.first_load_ms = await register(alice, `alice${suffix}`, { screenshot: "register" });
  await register(bob, `bob${suffix}`);
  say("registered");

  // Alice makes a server; its general channel is there.
  await alice.page.getByRole("button", { name: "Create a server" }).click();
  await alice.page.getByLabel("Server name").fill("Gardeners");
  await alice.page.getByRole("button", { name: "Create", exact: true }).click();
  await alice.page.getByRole("navigation", { name: "Gardeners channels" }).waitFor();
  await alice.page.getByRole("button", { name: /general/ }).click();
  await alice.page.getByRole("textbox", { name: "Message general" }).waitFor();
  say("server created");

  // An invite code, joined by Bob through the link.
  await alice.page.getByRole("button", { name: "Gardeners menu" }).click();
  await alice.page.getByRole("menuitem", { name: "Invite people" }).click();
  const linkField = alice.page.getByLabel("Invite link");
  await linkField.waitFor();
  const link = await linkField.inputValue();
  if (!/#\/invite\/[A-Za-z0-9]{10}$/.test(link)) throw new Error(`odd invite link ${link}`);
  await shot(alice.page, "invite");
  await alice.page.getByRole("button", { name: "Close" }).click();
  await bob.page.goto(link);
  await bob.page.getByText("Gardeners").first().waitFor();
  await bob.page.getByRole("button", { name: "Join server" }).click();
  await bob.page.getByRole("navigation", { name: "Gardeners channels" }).waitFor();
  await bob.page.getByRole("button", { name: /general/ }).click();
  say("joined by invite", { link: link.replace(/^.*#/, "#") });

  // Markdown with a live preview, and highlighted code.
  const composer = alice.page.getByRole("textbox", { name: "Message general" });
  await composer.fill("**Hello** Bob, try this:\n```rust\nfn main() { println!(\"hi\"); }\n```");
  await alice.page.locator(".preview strong", { hasText: "Hello" }).waitFor();
  await composer.press("Enter");
  const bobsView = bob.page.locator(".message", { has: bob.page.locator("strong", { hasText: "Hello" }) });
  await bobsView.waitFor();
  await bobsView.locator("code.hljs.language-rust .hljs-keyword").first().waitFor();
  say("markdown and code delivered");

  // Bob reacts; Alice sees the count.
  await bobsView.hover();
  await bobsView.getByRole("button", { name: "Add reaction" }).click();
  await bob.page.getByRole("menuitem", { name: "👍" }).click();
  await alice.page.getByRole("button", { name: "👍 1" }).waitFor();
  say("reaction delivered");

  // A mention picked from the autocomplete becomes a pill and an intentional mention.
  await composer.fill("Thanks @bob");
  await alice.page.getByRole("listbox", { name: "Mention someone" }).getByRole("option").first().waitFor();
  await composer.press("Enter");
  await composer.press("Enter");
  const thanks = bob.page.locator(".message", { hasText: "Thanks" });
  await thanks.locator('a[href^="https://matrix.to/#/%40bob"]').waitFor();
  say("mention delivered as a pill");

  // Bob replies in a thread; Alice sees the summary and opens it.
  await bobsView.hover();
  await bobsView.getByRole("button", { name: "Open thread" }).click();
  const threadBox = bob.page.getByRole("textbox", { name: "Reply in thread" });
  await threadBox.fill("Works for me, in a thread");
  await threadBox.press("Enter");
  await alice.page.getByRole("button", { name: "1 reply" }).click();
  await alice.page.getByRole("complementary", { name: "Thread" }).getByText("Works for me, in a thread").waitFor();
  await shot(alice.page, "thread");
  await alice.page.getByRole("button", { name: "Close thread" }).click();
  say("thread reply delivered");

  // A poll; Bob votes; the server's tally reaches Alice.
  await alice.page.getByRole("button", { name: "Create a poll" }).click();
  await alice.page.getByLabel("Question").fill("What do we plant first?");
  await alice.page.getByLabel("Answer 1").fill("Tomatoes");
  await alice.page.getByLabel("Answer 2").fill("Beans");
  await alice.page.getByRole("button", { name: "Post poll" }).click();
  const bobsPoll = bob.page.getByRole("group", { name: "Poll: What do we plant first?" });
  await bobsPoll.getByRole("button", { name: /Beans/ }).click();
  const alicesPoll = alice.page.getByRole("group", { name: "Poll: What do we plant first?" });
  await alicesPoll.getByRole("button", { name: /Beans.*1 vote/ }).waitFor();
  await alicesPoll.getByText("1 voter").waitFor();
  await shot(alice.page, "chat");
  say("poll tallied");

  // A custom emoji: Alice adds it to the server, uses it inline; Bob reacts with it.
  await alice.page.getByRole("button", { name: "Gardeners menu" }).click();
  await alice.page.getByRole("menuitem", { name: "Server settings" }).click();
  await alice.page.getByRole("tab", { name: "Emoji" }).click();
  await alice.page.getByLabel("Image").setInputFiles({ name: "cactus.png", mimeType: "image/png", buffer: PNG });
  await alice.page.getByLabel("Shortcode").fill("cactus");
  await alice.page.getByRole("button", { name: "Upload emoji" }).click();
  await alice.page.getByRole("status").filter({ hasText: ":cactus: added." }).waitFor();
  await alice.page.getByRole("tab", { name: "Overview" }).click();
  await alice.page.getByLabel("Server icon").setInputFiles({ name: "icon.png", mimeType: "image/png", buffer: PNG });
  await alice.page.getByRole("status").filter({ hasText: "Icon saved." }).waitFor();
  await alice.page.getByRole("button", { name: "Close" }).click();
  await bob.page.getByRole("navigation", { name: "Servers" }).locator('img.avatar[src^="blob:"]').waitFor();
  await composer.fill("Our mascot :cactus:");
  await composer.press("Enter");
  const mascot = bob.page.locator(".message", { hasText: "Our mascot" });
  await mascot.locator('img.emoticon[src^="blob:"]').waitFor();
  await mascot.hover();
  await mascot.getByRole("button", { name: "Add reaction" }).click();
  await bob.page.getByRole("menuitem", { name: ":cactus:" }).click();
  await alice.page.getByRole("button", { name: ":cactus: 1" }).waitFor();
  say("custom emoji inline and as a reaction");

  // An image attachment, shown to Bob from authenticated media.
  await alice.page.locator(".composer input[type=file]").setInputFiles({ name: "garden.png", mimeType: "image/png", buffer: PNG });
  await bob.page.locator('img.attachment-image[alt="garden.png"][src^="blob:"]').waitFor();
  say("image attachment delivered");

  // Switching channels: general → a new channel → general, timed.
  await alice.page.getByRole("button", { name: "Gardeners menu" }).click();
  await alice.page.getByRole("menuitem", { name: "Create channel" }).click();
  await alice.page.getByLabel("Channel name").fill("seeds");
  await alice.page.getByRole("button", { name: "Create channel" }).click();
  await alice.page.getByRole("textbox", { name: "Message seeds" }).waitFor();
  let switchStart = Date.now();
  await alice.page.getByRole("button", { name: /general/ }).click();
  await alice.page.getByRole("textbox", { name: "Message general" }).waitFor();
  figures.channel_switch_ms = Date.now() - switchStart;
  say("channel switch", { ms: figures.channel_switch_ms });

  // A role change that forbids posting disables Bob's composer.
  await alice.page.getByRole("button", { name: "Gardeners menu" }).click();
  await alice.page.getByRole("menuitem", { name: "Server settings" }).click();
  await alice.page.getByRole("tab", { name: "Roles" }).click();
  await alice.page.getByRole("option", { name: "@everyone" }).getByRole("button").click();
  const sendMessages = alice.page.getByRole("checkbox", { name: "Send Messages", exact: true });
  if (!(await sendMessages.isChecked())) throw new Error("@everyone could not send messages to begin with");
  await sendMessages.uncheck();
  await shot(alice.page, "roles");
  await alice.page.getByRole("button", { name: "Save changes" }).click();
  await alice.page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
  await alice.page.getByRole("button", { name: "Close" }).click();
  await bob.page.getByRole("note", { name: "Composer disabled" }).getByText("You do not have permission").waitFor();
  say("composer disabled by role");

  // Themes: light, then back to dark via a pasted custom theme.
  await alice.page.getByRole("button", { name: "User settings" }).click();
  await alice.page.getByRole("tab", { name: "Appearance" }).click();
  await alice.page.getByRole("radio", { name: "Light" }).click();
  const themeOf = () => alice.page.evaluate(() => [document.documentElement.dataset.theme, getComputedStyle(document.body).backgroundColor]);
  let [theme, background] = await themeOf();
  if (theme !== "light" || background !== "rgb(255, 255, 255)") throw new Error(`light theme not applied: ${theme} ${background}`);
  await shot(alice.page, "themes");
  await alice.page.getByLabel("Custom theme JSON").fill('{"name":"Midnight","tokens":{"bg-chat":"#101020"}}');
  await alice.page.getByRole("button", { name: "Apply custom theme" }).click();
  [theme, background] = await themeOf();
  if (theme !== "custom" || background !== "rgb(16, 16, 32)") throw new Error(`custom theme not applied: ${theme} ${background}`);
  await alice.page.getByRole("radio", { name: "Dark" }).click();
  say("themes applied");

  // A profile with pronouns and a bio, free, seen by Bob from the member list.
  await alice.page.getByRole("tab", { name: "Account" }).click();
  await alice.page.getByLabel("Pronouns").fill("she/her");
  await alice.page.getByLabel("About me").fill("Grows tomatoes on a balcony.");
  await alice.page.getByRole("button", { name: "Save profile" }).click();
  await alice.page.getByRole("status").filter({ hasText: "Profile saved." }).waitFor();
  await alice.page.getByRole("button", { name: "Close" }).click();
  await bob.page.getByRole("button", { name: "Close thread" }).click();
  await bob.page.getByRole("button", { name: `Profile of alice${suffix}` }).click();
  const card = bob.page.getByRole("dialog", { name: `Profile of alice${suffix}` });
  await card.getByText("she/her").waitFor();
  await card.getByText("Grows tomatoes on a balcony.").waitFor();
  await shot(bob.page, "profile");
  await card.getByRole("button", { name: "Close profile" }).click();
  say("profile fields shown");

  // Offline: the message waits, visibly, and goes out on reconnect.
  await alice.context.setOffline(true);
  await alice.page.getByRole("status").filter({ hasText: "Offline" }).waitFor({ timeout: 60_000 });
  const offlineText = `written offline ${suffix}`;
  await alice.page.getByRole("textbox", { name: "Message general" }).fill(offlineText);
  await alice.page.getByRole("textbox", { name: "Message general" }).press("Enter");
  await alice.page.locator(".message.pending", { hasText: offlineText }).waitFor();
  await alice.context.setOffline(false);
  await bob.page.locator(".message", { hasText: offlineText }).waitFor({ timeout: 60_000 });
  await alice.page.locator(".message.pending", { hasText: offlineText }).waitFor({ state: "detached", timeout: 60_000 });
  say("offline message sent on reconnect");

  // An encrypted DM, then verifying each other by emoji.
  const bobId = await bob.page.locator(".user-panel .who .muted").innerText();
  await alice.page.getByRole("button", { name: "Direct messages" }).click();
  await alice.page.getByRole("button", { name: "Start a conversation" }).click();
  await alice.page.getByLabel("Matrix ID").fill(bobId);
  await alice.page.getByRole("button", { name: "Start", exact: true }).click();
  await alice.page.getByText("🔒 Encrypted").waitFor();
  const secret = `only for Bob ${suffix}`;
  const dmBox = alice.page.getByRole("textbox", { name: /^Message / });
  await dmBox.fill(secret);
  await dmBox.press("Enter");
  await bob.page.getByRole("button", { name: "Direct messages" }).click();
  await bob.page.getByRole("navigation", { name: "Direct messages" }).getByRole("button", { name: /new/ }).click();
  await bob.page.locator(".message", { hasText: secret }).waitFor({ timeout: 30_000 });
  say("encrypted DM decrypted");
  await alice.page.getByRole("button", { name: "Verify" }).click();
  await bob.page.getByRole("button", { name: "Accept" }).click();
  const emojiOf = async (page) => (await page.getByRole("list", { name: "Emoji to compare" }).innerText()).replace(/\s+/g, " ");
  const [aliceEmoji, bobEmoji] = await Promise.all([emojiOf(alice.page), emojiOf(bob.page)]);
  if (aliceEmoji !== bobEmoji) throw new Error(`the emoji differ: ${aliceEmoji} / ${bobEmoji}`);
  await shot(bob.page, "verification");
  await alice.page.getByRole("button", { name: "They match" }).click();
  await bob.page.getByRole("button", { name: "They match" }).click();
  await alice.page.getByText("is verified").waitFor();
  await bob.page.getByText("is verified").waitFor();
  await alice.page.getByRole("button", { name: "Close" }).click();
  await alice.page.getByLabel("Verified").waitFor();
  say("verified by emoji");

  // Key backup: Bob keeps a recovery key; a new session of his restores the
  // DM's keys from the backup and reads the message.
  await bob.page.getByRole("button", { name: "Close" }).click();
  await bob.page.getByRole("button", { name: "User settings" }).click();
  await bob.page.getByRole("tab", { name: "Security" }).click();
  await bob.page.getByRole("button", { name: "Set up key backup" }).click();
  const recoveryKey = (await bob.page.locator('code[aria-label="Recovery key"]').innerText()).trim();
  if (!/^(\w{4} ){10,}\w{1,4}$/.test(recoveryKey)) throw new Error(`odd recovery key ${recoveryKey}`);
  await bob.page.locator("[data-backup]").filter({ hasText: "on (version" }).waitFor();
  await bob.page.getByRole("button", { name: "Close" }).click();
  const bob2 = await person("bob2");
  await bob2.page.goto(base);
  await bob2.page.getByLabel("Username").fill(`bob${suffix}`);
  await bob2.page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await bob2.page.getByRole("button", { name: "Log in" }).click();
  await bob2.page.getByRole("navigation", { name: "Direct messages" }).waitFor();
  await bob2.page.getByRole("button", { name: "User settings" }).click();
  await bob2.page.getByRole("tab", { name: "Security" }).click();
  await bob2.page.getByRole("textbox", { name: "Recovery key" }).fill(recoveryKey);
  // Bob's first session uploads its keys to the new backup in the background.
  const restored = bob2.page.getByRole("status").filter({ hasText: /Restored [1-9]\d* keys/ });
  for (let i = 0; i < 15 && !(await restored.count()); i++) {
    await bob2.page.getByRole("button", { name: "Restore" }).click();
    await bob2.page.getByRole("status").filter({ hasText: /Restored|rror|not/ }).waitFor({ timeout: 30_000 });
    if (!(await restored.count())) await bob2.page.waitForTimeout(1000);
  }
  await restored.waitFor({ timeout: 1000 });
  await bob2.page.getByRole("button", { name: "Close" }).click();
  await bob2.page.getByRole("navigation", { name: "Direct messages" }).getByRole("button").filter({ hasText: `alice${suffix}` }).click();
  await bob2.page.locator(".message", { hasText: secret }).waitFor({ timeout: 30_000 });
  say("history restored from key backup");

  // The personal data export: asked for, then complete and downloadable.
  await alice.page.getByRole("button", { name: "User settings" }).click();
  await alice.page.getByRole("tab", { name: "Privacy & data" }).click();
  await alice.page.getByRole("button", { name: "Export my data" }).click();
  for (let i = 0; i < 30 && !(await alice.page.locator('[data-status="complete"]').count()); i++) {
    await alice.page.waitForTimeout(1000);
    await alice.page.getByRole("button", { name: "Refresh" }).click();
  }
  const download = alice.page.waitForEvent("download");
  await alice.page.locator('[data-status="complete"]').getByRole("button", { name: /Download/ }).click();
  const archive = await download;
  if (!/^nexus-export-.+\.zip$/.test(archive.suggestedFilename())) throw new Error(`odd export name ${archive.suggestedFilename()}`);
  await alice.page.getByRole("button", { name: "Close" }).click();
  say("data export downloaded");
  return figures;

}

