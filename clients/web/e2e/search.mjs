// Search (extensions-spec §24), judged in Debian's Chromium through
// playwright-core: Alice and Bob talk in a server; Alice finds Bob's
// messages with `from:` picked from the box's suggestions, the link with
// `has:link`, a message by a misspelt word (its word lit), jumps to
// results (one in another channel), narrows to this channel, saves a
// search and runs it again to the same results, and reads the server's
// explanation of a bad filter; Ctrl+F and Escape work — and no request
// ever leaves for a host but the homeserver. Prints one JSON line per step
// and a last line `{"ok": true, ...figures}`; exits non-zero on the first
// failure.
//
//   node e2e/search.mjs --base http://127.0.0.1:PORT [--shots DIR] [--chromium PATH]
import { openJudge, post, say, serverWithMember } from "./judge.mjs";

const { person, shot, register, conclude, suffix } = await openJudge();

const searchBox = (who) => who.page.getByRole("searchbox", { name: "Search" });
const panelOf = (who) => who.page.getByRole("complementary", { name: "Search results" });

/**
 * The texts of the results once the list answers `key` (the query as sent,
 * or `saved:<name>`) and holds every `wanted` text. The index takes in a
 * message a moment after it is sent, so a search that comes up short is
 * run again (Enter in the box) a few times before failing.
 */
async function resultsFor(who, key, wanted, { exactly } = {}) {
  const list = panelOf(who).locator(`ul.search-results[data-search=${JSON.stringify(key)}][aria-busy="false"]`);
  let texts = [];
  for (let attempt = 0; attempt < 8; attempt++) {
    await list.waitFor();
    texts = await list.locator(".search-result .pinned-body").allInnerTexts();
    if (wanted.every((w) => texts.some((t) => t.includes(w)))) {
      if (exactly !== undefined && texts.length !== exactly) throw new Error(`"${key}" found ${texts.length} results, not ${exactly}: ${JSON.stringify(texts)}`);
      return texts;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    await searchBox(who).press("Enter");
  }
  throw new Error(`"${key}" never found ${JSON.stringify(wanted)}; it showed ${JSON.stringify(texts)}`);
}

/** Types a query, presses Enter, and waits for its results as above. */
async function search(who, query, wanted, options) {
  await searchBox(who).fill(query);
  await searchBox(who).press("Enter");
  return resultsFor(who, query.trim(), wanted, options);
}

const alice = await person("alice");
const bob = await person("bob");
const figures = {};
await conclude(run);

async function run() {
  await register(alice, `alice${suffix}`);
  const bobName = `bob${suffix}`;
  await register(bob, bobName);
  say("registered");

  // Alice makes a server; Bob joins it through an invite link.
  await serverWithMember(alice, bob, "Orchard");
  say("server made and joined");

  // Something to find: two messages each in #general, and one in #tools.
  const barrow = "Borrow my wheelbarrow before the frost";
  const compost = "Compost guide at https://example.org/compost for everyone";
  const tomatoes = "Tomatoes ripen slowly in the shade";
  const seeds = "Who has spare tomato seeds?";
  const whetstone = "Sharpen the shears on a whetstone";
  await post(alice, "general", barrow);
  await post(bob, "general", compost);
  await post(bob, "general", tomatoes);
  await post(alice, "general", seeds);
  await alice.page.locator(".message", { hasText: tomatoes }).waitFor();
  await alice.page.getByRole("button", { name: "Orchard menu" }).click();
  await alice.page.getByRole("menuitem", { name: "Create channel" }).click();
  await alice.page.getByLabel("Channel name").fill("tools");
  await alice.page.getByRole("button", { name: "Create channel" }).click();
  await alice.page.getByRole("textbox", { name: "Message tools" }).waitFor();
  await post(alice, "tools", whetstone);
  await alice.page.getByRole("navigation", { name: "Orchard channels" }).getByRole("button", { name: /general/ }).click();
  await alice.page.getByRole("textbox", { name: "Message general" }).waitFor();
  say("messages posted");

  // from: picked from the suggestions: Bob's two messages, none of Alice's.
  const box = searchBox(alice);
  const panel = panelOf(alice);
  await box.click();
  await box.fill("from:");
  const suggestions = alice.page.getByRole("listbox", { name: "Search suggestions" });
  await suggestions.getByRole("option", { name: new RegExp(bobName) }).getByRole("button").click();
  const fromQuery = (await box.inputValue()).trim();
  if (!fromQuery.startsWith(`from:@${bobName}:`)) throw new Error(`picking Bob made the query ${JSON.stringify(fromQuery)}`);
  const fromBob = await resultsFor(alice, fromQuery, [compost, tomatoes], { exactly: 2 });
  await panel.getByRole("list", { name: "Filters" }).getByText(bobName).waitFor();
  figures.from_results = fromBob.length;
  say("from: found Bob's messages", { query: fromQuery });

  // has:link: the one message with a link.
  const links = await search(alice, "has:link", [compost], { exactly: 1 });
  figures.link_results = links.length;
  say("has:link found the link");

  // Saved as "Links", listed under the panel's saved searches.
  await panel.getByRole("button", { name: "Save search" }).click();
  const saveForm = panel.getByRole("form", { name: "Save search" });
  await saveForm.getByLabel("Name").fill("Links");
  await saveForm.getByRole("button", { name: "Save", exact: true }).click();
  const saved = panel.getByRole("region", { name: "Saved searches" });
  await saved.getByRole("button", { name: "Links", exact: true }).waitFor();
  say("search saved");

  // A misspelt word finds its message, with the word as written lit.
  const started = Date.now();
  const typo = await search(alice, "wheelbarow", [barrow], { exactly: 1 });
  figures.typo_search_ms = Date.now() - started;
  const lit = await panel.locator(".search-result mark").allInnerTexts();
  if (!lit.some((word) => word.toLowerCase() === "wheelbarrow")) throw new Error(`the typo's match is not highlighted: ${JSON.stringify(lit)}`);
  figures.typo_results = typo.length;
  await shot(alice.page, "search");
  say("a typo found its message", { lit });

  // Jump: the result's message is shown in the timeline.
  await panel.locator(".search-result", { hasText: barrow }).getByRole("button", { name: "Jump" }).click();
  await alice.page.locator(".message.flash", { hasText: barrow }).waitFor();
  say("jumped to a result");

  // The saved search, run again, shows what it showed when saved.
  await saved.getByRole("button", { name: "Links", exact: true }).click();
  const again = await resultsFor(alice, "saved:Links", [compost]);
  if (JSON.stringify(again) !== JSON.stringify(links)) throw new Error(`the saved search showed ${JSON.stringify(again)}, not ${JSON.stringify(links)}`);
  say("saved search rerun");

  // The server is searched by default; "This channel only" narrows to #general.
  await search(alice, "whetstone", [whetstone], { exactly: 1 });
  await panel.locator(".search-result", { hasText: whetstone }).getByText("#tools").waitFor();
  await panel.getByRole("checkbox", { name: "This channel only" }).check();
  await panel.getByRole("status").filter({ hasText: "No results" }).waitFor();
  await panel.getByRole("checkbox", { name: "This channel only" }).uncheck();
  await resultsFor(alice, "whetstone", [whetstone], { exactly: 1 });
  // A result in another channel opens that channel at the message, the results still beside it.
  await panel.locator(".search-result", { hasText: whetstone }).getByRole("button", { name: "Jump" }).click();
  // (The flash lasts 1.5 s: looked for first.)
  await alice.page.locator(".message.flash", { hasText: whetstone }).waitFor();
  await alice.page.getByRole("textbox", { name: "Message tools" }).waitFor();
  await panel.waitFor();
  say("scope toggled; jumped across channels");

  // A bad filter: the server's explanation, as it wrote it.
  await box.fill("has:spaceship");
  await box.press("Enter");
  const refusal = await panel.getByRole("alert").filter({ hasText: "has:spaceship" }).innerText();
  figures.bad_query_error = refusal;
  say("bad query explained", { error: refusal });

  // Deleting the saved search takes it off the list.
  await saved.getByRole("button", { name: "Delete saved search Links" }).click();
  await saved.getByRole("button", { name: "Links", exact: true }).waitFor({ state: "detached" });
  say("saved search deleted");

  // Ctrl+F from the chat focuses the box; Escape closes the results.
  await alice.page.getByRole("log", { name: "Messages" }).click();
  await alice.page.keyboard.press("Control+f");
  if (!(await box.evaluate((el) => el === document.activeElement))) throw new Error("Ctrl+F did not focus the search box");
  // The first Escape may only put the suggestions away.
  for (let i = 0; i < 2 && (await panel.count()) > 0; i++) await box.press("Escape");
  await panel.waitFor({ state: "detached" });
  say("Ctrl+F and Escape");
  return figures;
}
