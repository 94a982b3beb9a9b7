// The community features, judged in Debian's Chromium through
// playwright-core: Alice makes a server and schedules an event, Bob joins by
// invite and marks himself interested, and Alice's count follows; Alice pins
// a message and Bob finds it under the channel's pins; Alice starts a thread
// and finds it in the channel's threads browser, then opens a forum post —
// and no request ever leaves for a host but the homeserver. Prints one JSON
// line per step and a last line `{"ok": true, ...figures}`; exits non-zero on
// the first failure.
//
//   node e2e/community.mjs --base http://127.0.0.1:PORT [--shots DIR] [--chromium PATH]
import { openJudge, post, say, serverWithMember } from "./judge.mjs";

const { person, shot, register, conclude, suffix } = await openJudge();

/** A `datetime-local` value `days` from now at `hour`:00, in the browser's (and this process's) zone. */
function localInput(days, hour) {
  const d = new Date();
  d.setDate(d.getDate() + days);
  d.setHours(hour, 0, 0, 0);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:00`;
}

const alice = await person("alice");
const bob = await person("bob");
const figures = {};
await conclude(run);

async function run() {
  await register(alice, `alice${suffix}`);
  await register(bob, `bob${suffix}`);
  say("registered");

  // Alice makes a server; Bob joins it through an invite link.
  await serverWithMember(alice, bob, "Allotment");
  say("server made and joined");

  // Alice schedules an event in the server's voice channel.
  await alice.page.getByRole("button", { name: "Allotment menu" }).click();
  await alice.page.getByRole("menuitem", { name: "Events", exact: true }).click();
  const aliceEvents = alice.page.getByRole("dialog", { name: "Events" });
  await aliceEvents.getByText("No upcoming events").waitFor();
  await aliceEvents.getByRole("button", { name: "Create event" }).click();
  const form = aliceEvents.getByRole("form", { name: "Create event" });
  await form.getByLabel("Event name").fill("Spring seed swap");
  await form.getByLabel("Start time").fill(localInput(2, 18));
  await form.getByLabel("End time").fill(localInput(2, 20));
  await form.getByLabel("Description").fill("Bring seeds to share.");
  const place = await form.getByRole("combobox").evaluate((select) => select.selectedOptions[0]?.textContent);
  if (place !== "General") throw new Error(`the voice channel is not offered first: ${place}`);
  await form.getByRole("button", { name: "Create event" }).click();
  const aliceCard = aliceEvents.getByRole("listitem", { name: "Spring seed swap" });
  await aliceCard.getByText("0 interested").waitFor();
  await aliceCard.getByText("General").waitFor();
  say("event created");

  // Bob marks himself interested; Alice's open dialog follows.
  await bob.page.getByRole("button", { name: "Allotment menu" }).click();
  await bob.page.getByRole("menuitem", { name: "Events", exact: true }).click();
  const bobEvents = bob.page.getByRole("dialog", { name: "Events" });
  const bobCard = bobEvents.getByRole("listitem", { name: "Spring seed swap" });
  await bobCard.getByText("Bring seeds to share.").waitFor();
  const interested = bobCard.getByRole("button", { name: "Interested" });
  if ((await interested.getAttribute("aria-pressed")) !== "false") throw new Error("Bob starts out interested");
  await interested.click();
  await bobCard.getByRole("button", { name: "Interested", pressed: true }).waitFor();
  await bobCard.getByText("1 interested").waitFor();
  await aliceCard.getByText("1 interested").waitFor();
  await shot(alice.page, "events");
  await bob.page.getByRole("button", { name: "Close" }).click();
  await alice.page.getByRole("button", { name: "Close" }).click();
  say("interest counted");

  // Alice pins a message; Bob finds it under the channel's pins.
  const pinText = `Water the beans before noon ${suffix}`;
  const pinned = await post(alice, "general", pinText);
  await pinned.hover();
  await pinned.getByRole("button", { name: "Pin", exact: true }).click();
  await pinned.hover();
  await pinned.getByRole("button", { name: "Unpin", exact: true }).waitFor();
  await bob.page.getByRole("button", { name: "Pinned messages", exact: true }).click();
  const bobPins = bob.page.getByRole("complementary", { name: "Pinned messages" });
  const bobPin = bobPins.getByRole("listitem").filter({ hasText: pinText });
  await bobPin.waitFor();
  await bobPin.getByText(`alice${suffix}`).waitFor();
  figures.bob_may_unpin = (await bobPin.getByRole("button", { name: "Unpin", exact: true }).count()) > 0;
  await shot(bob.page, "pins");
  say("pin seen", { bob_may_unpin: figures.bob_may_unpin });

  // Alice unpins from her own panel; Bob's panel empties.
  await alice.page.getByRole("button", { name: "Pinned messages", exact: true }).click();
  const alicePins = alice.page.getByRole("complementary", { name: "Pinned messages" });
  await alicePins.getByRole("listitem").filter({ hasText: pinText }).getByRole("button", { name: "Unpin", exact: true }).click();
  await alicePins.getByText("no pinned messages").waitFor();
  await bobPins.getByText("no pinned messages").waitFor();
  await alice.page.getByRole("button", { name: "Close pinned messages" }).click();
  await bob.page.getByRole("button", { name: "Close pinned messages" }).click();
  say("unpinned");

  // Alice starts a thread with a reply; the threads browser lists it as active.
  const rootText = `Which seeds for spring? ${suffix}`;
  const root = await post(alice, "general", rootText);
  await root.hover();
  await root.getByRole("button", { name: "Open thread" }).click();
  const threadBox = alice.page.getByRole("textbox", { name: "Reply in thread" });
  await threadBox.fill("Tomatoes and beans");
  await threadBox.press("Enter");
  await alice.page.getByRole("complementary", { name: "Thread", exact: true }).locator(".message:not(.pending)", { hasText: "Tomatoes and beans" }).waitFor();
  await alice.page.getByRole("button", { name: "Threads", exact: true }).click();
  const browserPanel = alice.page.getByRole("complementary", { name: "Threads", exact: true });
  await browserPanel.getByRole("tab", { name: "Active", selected: true }).waitFor();
  const row = browserPanel.getByRole("button", { name: new RegExp(`Which seeds for spring\\? ${suffix}.*1 reply`) });
  await row.waitFor();
  await shot(alice.page, "threads");
  await browserPanel.getByRole("tab", { name: "Archived" }).click();
  await browserPanel.getByText("No archived threads.").waitFor();
  await browserPanel.getByRole("tab", { name: "Active" }).click();
  await row.click();
  await alice.page.getByRole("complementary", { name: "Thread", exact: true }).getByText("Tomatoes and beans").waitFor();
  await alice.page.getByRole("button", { name: "Close thread" }).click();
  say("thread listed");

  // A forum post: a titled thread (nexus.thread names it), listed by its title for Bob too.
  await alice.page.getByRole("button", { name: "Allotment menu" }).click();
  await alice.page.getByRole("menuitem", { name: "Create channel" }).click();
  await alice.page.getByRole("radio", { name: /Forum/ }).check();
  await alice.page.getByLabel("Channel name").fill("help");
  await alice.page.getByRole("button", { name: "Create channel" }).click();
  await alice.page.getByRole("textbox", { name: "Message help" }).waitFor();
  await alice.page.getByRole("button", { name: "Threads", exact: true }).click();
  const forum = alice.page.getByRole("complementary", { name: "Forum posts" });
  await forum.getByText("No active posts.").waitFor();
  await forum.getByRole("button", { name: "New post" }).click();
  await forum.getByLabel("Post title").fill("Aphids on my roses");
  await forum.getByLabel("First message").fill("What keeps them away?");
  await forum.getByRole("button", { name: "Post", exact: true }).click();
  await alice.page.getByRole("complementary", { name: "Thread", exact: true }).getByText("What keeps them away?").waitFor();
  await bob.page.getByRole("button", { name: /help/ }).click();
  await bob.page.getByRole("textbox", { name: "Message help" }).waitFor();
  await bob.page.getByRole("button", { name: "Threads", exact: true }).click();
  const bobsForum = bob.page.getByRole("complementary", { name: "Forum posts" });
  await bobsForum.getByRole("button", { name: /Aphids on my roses.*0 replies/ }).click();
  const bobsThreadBox = bob.page.getByRole("textbox", { name: "Reply in thread" });
  await bobsThreadBox.fill("Ladybirds eat them");
  await bobsThreadBox.press("Enter");
  await bob.page.getByRole("complementary", { name: "Thread", exact: true }).locator(".message:not(.pending)", { hasText: "Ladybirds eat them" }).waitFor();
  await bob.page.getByRole("button", { name: "Threads", exact: true }).click();
  await bobsForum.getByRole("button", { name: /Aphids on my roses.*1 reply/ }).waitFor();
  await shot(bob.page, "forum");
  say("forum post listed by title");
  return figures;
}

