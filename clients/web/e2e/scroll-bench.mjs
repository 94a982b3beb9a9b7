// How the web client copes with a long channel, judged in Debian's Chromium
// through playwright-core: seeds a channel with N messages straight over the
// HTTP API, logs the same user in, opens the channel, then scrolls to its
// very beginning (the timeline shows what it holds, then paginates the
// homeserver) while the page records every frame and every long task; then
// back to the bottom. Progress goes to stderr; the last line on stdout is one
// JSON object of figures. Stops by itself after --minutes (default 10).
//
//   node e2e/scroll-bench.mjs --base http://127.0.0.1:PORT [--messages 10000]
//     [--concurrency 8] [--minutes 10] [--shots DIR] [--chromium PATH] [--api URL]
//     [--profile FILE] [--heap-profile] [--trace FILE]
//
// --profile: a CPU profile of the scroll to the beginning (.cpuprofile, for
// DevTools), and its heaviest functions by self time on stderr. Profiling
// slows the page, so its figures are not the ones to compare.
// --heap-profile: samples allocations during the scroll and lists on stderr
// where what is still alive at its end (after a GC) was allocated.
// --trace: a Chromium trace of the scroll (for chrome://tracing or DevTools),
// and the main thread's busiest kinds of work on stderr.
// --api: where to seed (default --base, whose /_matrix and /_nexus reach the homeserver).
import { mkdirSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const base = args.base;
if (!base) throw new Error("--base is required");
const api = (args.api ?? new URL(base).origin).replace(/\/+$/, "");
const total = Number(args.messages ?? 10_000);
const concurrency = Number(args.concurrency ?? 8);
const budgetMs = Number(args.minutes ?? 10) * 60_000;
const shots = args.shots;
if (!(total >= 1)) throw new Error("--messages must be a positive number");
if (shots) mkdirSync(shots, { recursive: true });

const began = Date.now();
const deadline = began + budgetMs;
const log = (what, extra = {}) => console.error(JSON.stringify({ t: ((Date.now() - began) / 1000).toFixed(1), what, ...extra }));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const figures = { messages: total };
let browser = null;

// The whole run is bounded: past the budget, print what was measured and stop.
const watchdog = setTimeout(async () => {
  console.log(JSON.stringify({ ok: false, error: `aborted after ${budgetMs / 60_000} minutes`, ...figures }));
  await browser?.close().catch(() => undefined);
  process.exit(2);
}, budgetMs + 60_000);

// ---------------------------------------------------------------- HTTP API

let throttled = 0;
let throttledMs = 0;

/** One request to the homeserver; waits out M_LIMIT_EXCEEDED, retries transient failures. */
async function call(method, path, body, token) {
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(`${api}${path}`, {
        method,
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      if (attempt >= 5) throw e;
      await sleep(200 * 2 ** attempt);
      continue;
    }
    const text = await response.text();
    const json = text ? JSON.parse(text) : {};
    if (response.status === 429 || json.errcode === "M_LIMIT_EXCEEDED") {
      const wait = Number(json.retry_after_ms ?? response.headers.get("retry-after") * 1000 ?? 1000) || 1000;
      throttled += 1;
      throttledMs += wait;
      await sleep(wait);
      continue;
    }
    if (response.status >= 500 && attempt < 5) {
      await sleep(200 * 2 ** attempt);
      continue;
    }
    return { status: response.status, json };
  }
}

async function registerUser(username, password) {
  const request = { username, password, initial_device_display_name: "scroll-bench seeder", auth: { type: "m.login.dummy" } };
  let { status, json } = await call("POST", "/_matrix/client/v3/register", request);
  if (status === 401 && json.session) {
    ({ status, json } = await call("POST", "/_matrix/client/v3/register", { ...request, auth: { type: "m.login.dummy", session: json.session } }));
  }
  if (status !== 200 || !json.access_token) throw new Error(`register: ${status} ${JSON.stringify(json)}`);
  return json;
}

/** The i-th message (1-based): mostly plain, one in ten markdown-formatted, some multi-line. */
function messageContent(i) {
  const words = ["tomatoes", "basil", "compost", "seedlings", "the greenhouse", "rain", "aphids", "mulch", "the allotment", "frost"];
  const w = (k) => words[(i * 7 + k * 3) % words.length];
  if (i % 10 === 0) {
    const body = `**Note ${i}**: check \`${w(1)}\` before ${w(2)}`;
    return {
      msgtype: "m.text",
      body,
      format: "org.matrix.custom.html",
      formatted_body: `<p><strong>Note ${i}</strong>: check <code>${w(1)}</code> before ${w(2)}</p>`,
    };
  }
  if (i % 7 === 0) return { msgtype: "m.text", body: `Message ${i}, in three lines:\nfirst ${w(1)}\nthen ${w(2)} and ${w(3)}` };
  const tail = i % 3 === 0 ? ` — and a longer sentence about ${w(4)}, ${w(5)} and ${w(6)} so that this one wraps on narrower windows` : "";
  return { msgtype: "m.text", body: `Message ${i} about ${w(0)}${tail}` };
}

async function seed() {
  const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const username = `bench${suffix}`;
  const password = "correct horse battery staple";
  const account = await registerUser(username, password);
  const token = account.access_token;
  const serverName = `Bench ${suffix}`;
  const created = await call("POST", "/_nexus/client/v1/servers", { name: serverName }, token);
  if (created.status !== 200) throw new Error(`create server: ${created.status} ${JSON.stringify(created.json)}`);
  const serverId = created.json.server_id;
  const overview = await call("GET", `/_nexus/client/v1/servers/${encodeURIComponent(serverId)}`, undefined, token);
  const general = overview.json.channels?.find((c) => c.name === "general" && (c.channel?.type ?? "text") === "text");
  if (!general) throw new Error(`no general channel in ${JSON.stringify(overview.json)}`);
  const roomId = general.room_id;
  log("seeding", { user: account.user_id, server: serverId, room: roomId, messages: total, concurrency });

  const send = async (i, content) => {
    const txn = `sb-${suffix}-${i}`;
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`;
    const { status, json } = await call("PUT", path, content, token);
    if (status !== 200) throw new Error(`send ${i}: ${status} ${JSON.stringify(json)}`);
  };

  const started = performance.now();
  let next = 1;
  let sent = 0;
  const lastText = `Last message ${suffix}`;
  // All but the last with `concurrency` in flight; the last alone, so it is the newest.
  const worker = async () => {
    while (next < total) {
      const i = next++;
      await send(i, messageContent(i));
      sent += 1;
      if (sent % 1000 === 0) log("seeded", { sent, per_s: Math.round(sent / ((performance.now() - started) / 1000)) });
      if (Date.now() > deadline) throw new Error("seeding did not finish within the time budget");
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  await send(total, { msgtype: "m.text", body: lastText });
  const seconds = (performance.now() - started) / 1000;
  figures.seed_seconds = round(seconds, 2);
  figures.seed_msgs_per_s = round(total / seconds, 1);
  figures.seed_throttled = throttled;
  figures.seed_throttled_wait_s = round(throttledMs / 1000, 1);
  log("seeded all", { seconds: figures.seed_seconds, per_s: figures.seed_msgs_per_s, throttled });
  return { username, password, token, serverName, roomId, lastText, suffix };
}

// ---------------------------------------------------------------- in-page probes

/** Installed before the app loads: long tasks from the very start. */
function installProbes() {
  window.__longTasks = [];
  // Each message body is sanitised by DOMPurify, which parses it with a
  // DOMParser: counting the parses counts the bodies (re)rendered.
  window.__parses = 0;
  const parse = DOMParser.prototype.parseFromString;
  DOMParser.prototype.parseFromString = function (...a) {
    window.__parses += 1;
    return parse.apply(this, a);
  };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: "longtask", buffered: true });
  } catch {
    // No long-task timing in this browser.
  }
  /** Starts recording frame-to-frame times; returns nothing, results in window.__frames. */
  window.__startFrames = () => {
    const rec = { deltas: [], start: performance.now(), stop: false, end: 0, parses: window.__parses };
    window.__frames = rec;
    // From the start, so that a page busy before its first frame counts too.
    let last = rec.start;
    const tick = (now) => {
      rec.deltas.push(now - last);
      last = now;
      if (!rec.stop) requestAnimationFrame(tick);
      else rec.end = now;
    };
    requestAnimationFrame(tick);
  };
  /** Resolves once `calm` frames in a row came within 50 ms of each other (or after `limit` ms). */
  window.__settle = (calm = 10, limit = 30_000) =>
    new Promise((resolve) => {
      const started = performance.now();
      let last = started;
      let run = 0;
      const tick = (now) => {
        run = now - last < 50 ? run + 1 : 0;
        last = now;
        if (run >= calm || now - started > limit) resolve(Math.round(now - started));
        else requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
  window.__stopFrames = () => {
    const rec = window.__frames;
    rec.stop = true;
    rec.end = rec.end || performance.now();
    const tasks = window.__longTasks.filter((t) => t.start + t.duration >= rec.start && t.start <= rec.end);
    return { deltas: rec.deltas, seconds: (rec.end - rec.start) / 1000, tasks, parses: window.__parses - rec.parses };
  };
  window.__snapshot = () => ({
    dom_nodes: document.getElementsByTagName("*").length,
    rows: document.querySelectorAll(".timeline li").length,
    heap_mb: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
  });
}

function stats(rec) {
  const sorted = [...rec.deltas].sort((a, b) => a - b);
  const q = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null);
  const taskMs = rec.tasks.reduce((n, t) => n + t.duration, 0);
  return {
    seconds: round(rec.seconds, 2),
    frames: sorted.length,
    fps: round(sorted.length / rec.seconds, 1),
    frame_ms: { p50: round(q(50)), p95: round(q(95)), p99: round(q(99)), max: round(sorted[sorted.length - 1] ?? null) },
    frames_over_50ms: sorted.filter((d) => d > 50).length,
    frames_over_100ms: sorted.filter((d) => d > 100).length,
    // Time beyond a 60 Hz budget, summed over the frames: how long it felt stuck.
    jank_ms: Math.round(sorted.reduce((n, d) => n + Math.max(0, d - 1000 / 60), 0)),
    long_tasks: { count: rec.tasks.length, total_ms: Math.round(taskMs), max_ms: Math.round(Math.max(0, ...rec.tasks.map((t) => t.duration))) },
    bodies_rendered: rec.parses,
  };
}

function round(x, digits = 1) {
  return x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** digits) / 10 ** digits;
}

/** The functions with the most self time in a CPU profile, with where they are. */
function heaviest(profile, top = 25) {
  const dt = new Map();
  profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFunction = new Map();
  for (const node of profile.nodes) {
    const f = node.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\//, "")}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + (dt.get(node.id) ?? 0));
  }
  const all = [...byFunction.values()].reduce((a, b) => a + b, 0);
  return [...byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([key, us]) => `${Math.round(us / 1000)} ms (${Math.round((100 * us) / all)}%) ${key}`);
}

/** Live memory by the function that allocated it, from a sampling heap profile. */
function retained(profile, top = 25) {
  const bySite = new Map();
  const walk = (node, stack) => {
    const f = node.callFrame;
    const here = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\//, "")}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
    const path = [...stack, here].slice(-3).join(" < ");
    if (node.selfSize) bySite.set(path, (bySite.get(path) ?? 0) + node.selfSize);
    for (const child of node.children ?? []) walk(child, [...stack, here]);
  };
  walk(profile.head, []);
  const all = [...bySite.values()].reduce((a, b) => a + b, 0);
  return [`total ${Math.round(all / 1048576)} MB`, ...[...bySite.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([site, bytes]) => `${(bytes / 1048576).toFixed(1)} MB ${site}`)];
}

/** Self time of the renderer main thread's trace events, by name. */
function busiest(trace, top = 20) {
  const events = trace.traceEvents ?? trace;
  const main = events.find((e) => e.name === "thread_name" && e.args?.name === "CrRendererMain");
  const mine = events.filter((e) => main && e.pid === main.pid && e.tid === main.tid && e.ph === "X" && e.dur).sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  const self = new Map();
  const stack = [];
  for (const e of mine) {
    while (stack.length && stack[stack.length - 1].ts + stack[stack.length - 1].dur <= e.ts) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent) self.set(parent.name, (self.get(parent.name) ?? 0) - e.dur);
    self.set(e.name, (self.get(e.name) ?? 0) + e.dur);
    stack.push(e);
  }
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => `${Math.round(us / 1000)} ms ${name}`);
}

// ---------------------------------------------------------------- the run

async function cdpMetrics(cdp) {
  const { metrics } = await cdp.send("Performance.getMetrics");
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
}

/** Seconds of main-thread work of each kind between two Performance.getMetrics answers. */
function cpuBetween(a, b) {
  const d = (k) => round((b[k] ?? 0) - (a[k] ?? 0), 2);
  return { script_s: d("ScriptDuration"), layout_s: d("LayoutDuration"), style_s: d("RecalcStyleDuration"), task_s: d("TaskDuration"), layouts: d("LayoutCount") };
}

async function snapshot(page, cdp, gc = false) {
  if (gc) await cdp.send("HeapProfiler.collectGarbage");
  const s = await page.evaluate(() => window.__snapshot());
  return { ...s, heap_mb: round(s.heap_mb) };
}

async function main() {
  const seeded = await seed();

  browser = await chromium.launch({
    executablePath: args.chromium ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--enable-precise-memory-info"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript(installProbes);
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  page.on("pageerror", (e) => log("pageerror", { error: String(e) }));
  const cdp = await context.newCDPSession(page);
  await cdp.send("Performance.enable");
  await cdp.send("HeapProfiler.enable");
  const shot = async (name) => shots && page.screenshot({ path: `${shots}/${name}.png` });

  // Log in on the Welcome screen.
  await page.goto(base);
  await page.getByRole("heading", { name: "Welcome back" }).waitFor();
  await page.getByLabel("Username").fill(seeded.username);
  await page.getByLabel("Password", { exact: true }).fill(seeded.password);
  await page.getByRole("button", { name: "Log in", exact: true }).click();
  await page.getByRole("navigation", { name: "Servers" }).waitFor();
  const rail = page.getByRole("navigation", { name: "Servers" }).getByRole("button", { name: new RegExp(`^${seeded.serverName}`) });
  await rail.waitFor();
  await rail.click();
  const channel = page.getByRole("navigation", { name: `${seeded.serverName} channels` }).locator("button.channel", {
    has: page.locator(".channel-name", { hasText: /^general$/ }),
  });
  await channel.waitFor();
  // Let the first sync's work settle before timing the channel.
  await sleep(1500);
  figures.client_bundle = await page.evaluate(() => document.querySelector("script[type=module][src]")?.src.replace(/^.*\//, "") ?? null);
  log("logged in");

  // Open the channel: from the click to the newest message on screen.
  await page.evaluate(() => {
    window.__clickedAt = 0;
    document.addEventListener("click", () => (window.__clickedAt ||= performance.now()), { capture: true, once: true });
  });
  await channel.click();
  const newestVisible = (text) => {
    const log = document.querySelector('.timeline[role="log"]');
    const rows = log?.querySelectorAll("li.message");
    const last = rows?.[rows.length - 1];
    if (!last || !last.textContent.includes(text)) return false;
    const a = log.getBoundingClientRect();
    const b = last.getBoundingClientRect();
    return b.bottom <= a.bottom + 1 && b.top >= a.top - 1 ? performance.now() : false;
  };
  const seenAt = await (await page.waitForFunction(newestVisible, seeded.lastText, { polling: "raf", timeout: 60_000 })).jsonValue();
  figures.open_channel_ms = Math.round(seenAt - (await page.evaluate(() => window.__clickedAt)));
  log("channel open", { ms: figures.open_channel_ms });
  await sleep(2000);
  await shot("open");

  // A live message while 80 rows are shown: from the send to on screen.
  const liveMessage = async (label) => {
    const text = `Live ${label} ${seeded.suffix}`;
    const t = performance.now();
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(seeded.roomId)}/send/m.room.message/live-${label}-${seeded.suffix}`;
    await page.evaluate(() => window.__startFrames());
    await call("PUT", path, { msgtype: "m.text", body: text }, seeded.token);
    await page.waitForFunction(newestVisible, text, { polling: "raf", timeout: 60_000 });
    const ms = Math.round(performance.now() - t);
    await sleep(500);
    const s = stats(await page.evaluate(() => window.__stopFrames()));
    return { ms, max_frame_ms: s.frame_ms.max, long_task_ms: s.long_tasks.total_ms, bodies_rendered: s.bodies_rendered };
  };
  figures.live_message_at_start = await liveMessage("start");
  log("live message at start", figures.live_message_at_start);

  figures.dom_nodes = { start: null, end: null, back_at_bottom: null };
  figures.heap_mb = { start: null, end: null, back_at_bottom: null, end_after_gc: null };
  await page.evaluate(() => window.__settle());
  const before = await snapshot(page, cdp);
  figures.dom_nodes.start = before.dom_nodes;
  figures.heap_mb.start = before.heap_mb;
  figures.rows = { start: before.rows };

  // Scroll to the very beginning: to the top, again and again, until the
  // timeline says it is the beginning.
  const metricsBefore = await cdpMetrics(cdp);
  if ("heap-profile" in args) await cdp.send("HeapProfiler.startSampling", { samplingInterval: 16384 });
  if (args.trace) await browser.startTracing(page, { path: args.trace, categories: ["toplevel", "devtools.timeline", "v8", "blink.user_timing"] });
  if (args.profile) {
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 500 });
    await cdp.send("Profiler.start");
  }
  await page.evaluate(() => {
    window.__startFrames();
    const state = { done: false, stop: false, nudges: 0, scrolls: 0, progress: [], removed: 0 };
    window.__scroll = state;
    // The timeline only ever adds rows while scrolling up: a removed row is a row re-mounted.
    const observer = new MutationObserver((records) => {
      for (const r of records) for (const n of r.removedNodes) if (n.nodeName === "LI") state.removed += 1;
    });
    observer.observe(document.querySelector('.timeline[role="log"] ol'), { childList: true });
    state.observer = observer;
    const frame = () => new Promise((r) => requestAnimationFrame(r));
    (async () => {
      let stuckFrames = 0;
      const t0 = performance.now();
      let lastRows = -1;
      while (!state.stop) {
        // Only the timeline's first child is looked at: a search of a huge DOM every frame would weigh on what is measured.
        const el = document.querySelector('.timeline[role="log"]');
        const head = el.firstElementChild;
        if (head?.classList.contains("timeline-start") && head.textContent.includes("This is the beginning of")) {
          state.done = true;
          break;
        }
        if (el.scrollTop > 0) {
          el.scrollTop = 0;
          state.scrolls += 1;
          stuckFrames = 0;
        } else if (++stuckFrames > 60 && !(head?.tagName === "P" && head.textContent.includes("Loading"))) {
          // At the top already and nothing is loading: a small scroll asks again.
          el.scrollTop = 1;
          state.nudges += 1;
          stuckFrames = 0;
        }
        const rows = el.querySelector("ol")?.childElementCount ?? 0;
        if (rows !== lastRows) {
          state.progress.push([Math.round(performance.now() - t0), rows]);
          lastRows = rows;
        }
        await frame();
      }
    })();
  });
  let reached = false;
  let lastReport = 0;
  const scrollDeadline = deadline - 60_000;
  while (Date.now() < scrollDeadline) {
    await sleep(1000);
    const s = await page.evaluate(() => ({ done: window.__scroll.done, rows: document.querySelector(".timeline ol")?.childElementCount ?? 0 }));
    if (Date.now() - lastReport > 10_000) {
      log("scrolling", { rows: s.rows });
      lastReport = Date.now();
    }
    if (s.done) {
      reached = true;
      break;
    }
  }
  const scrollRec = await page.evaluate(() => {
    const state = window.__scroll;
    state.stop = true;
    state.observer.disconnect();
    return { ...window.__stopFrames(), nudges: state.nudges, scrolls: state.scrolls, progress: state.progress, removed: state.removed };
  });
  const metricsAfter = await cdpMetrics(cdp);
  if (args.trace) log("trace", { file: args.trace, busiest: busiest(JSON.parse(await browser.stopTracing())) });
  if (args.profile) {
    const { profile } = await cdp.send("Profiler.stop");
    writeFileSync(args.profile, JSON.stringify(profile));
    log("profile", { file: args.profile, heaviest: heaviest(profile) });
  }
  const scrollStats = stats(scrollRec);
  figures.reached_start = reached;
  figures.scroll_to_start_seconds = scrollStats.seconds;
  Object.assign(figures, {
    frames: scrollStats.frames,
    fps: scrollStats.fps,
    frame_ms: scrollStats.frame_ms,
    frames_over_50ms: scrollStats.frames_over_50ms,
    frames_over_100ms: scrollStats.frames_over_100ms,
    jank_ms: scrollStats.jank_ms,
    long_tasks: scrollStats.long_tasks,
    bodies_rendered: scrollStats.bodies_rendered,
  });
  figures.scroll_main_thread = cpuBetween(metricsBefore, metricsAfter);
  figures.scroll_scrolls = scrollRec.scrolls;
  figures.scroll_nudges = scrollRec.nudges;
  figures.rows_removed = scrollRec.removed;
  // Rows in the DOM over time: how fast history came in, a few points of it.
  const p = scrollRec.progress;
  const step = Math.max(1, Math.floor(p.length / 8));
  figures.rows_over_time = p.filter((_, i) => i % step === 0 || i === p.length - 1).map(([ms, rows]) => [round(ms / 1000, 1), rows]);
  const atTop = await snapshot(page, cdp);
  if ("heap-profile" in args) {
    await cdp.send("HeapProfiler.collectGarbage");
    const { profile } = await cdp.send("HeapProfiler.getSamplingProfile");
    await cdp.send("HeapProfiler.stopSampling");
    log("heap profile", { retained_by_allocation_site: retained(profile) });
  }
  figures.dom_nodes.end = atTop.dom_nodes;
  figures.heap_mb.end = atTop.heap_mb;
  figures.rows.end = atTop.rows;
  log("scrolled", { reached, seconds: figures.scroll_to_start_seconds, rows: atTop.rows });
  await shot("beginning");

  // Back to the bottom, and a few seconds there, once what the scroll started is done.
  figures.settle_after_scroll_ms = await page.evaluate(() => window.__settle());
  const bottomBefore = await cdpMetrics(cdp);
  await page.evaluate(async () => {
    window.__startFrames();
    const el = document.querySelector('.timeline[role="log"]');
    el.scrollTop = el.scrollHeight;
  });
  await sleep(3000);
  const bottomStats = stats(await page.evaluate(() => window.__stopFrames()));
  figures.back_to_bottom = { ...bottomStats, main_thread: cpuBetween(bottomBefore, await cdpMetrics(cdp)) };
  // The window is far up the history: back to the live end as a reader would.
  const present = page.getByRole("button", { name: "Jump to present" });
  if (await present.isVisible()) await present.click();
  figures.live_message_at_end = await liveMessage("end");
  log("live message at end", figures.live_message_at_end);
  const bottom = await snapshot(page, cdp);
  figures.dom_nodes.back_at_bottom = bottom.dom_nodes;
  figures.heap_mb.back_at_bottom = bottom.heap_mb;
  figures.rows.back_at_bottom = bottom.rows;
  figures.heap_mb.end_after_gc = (await snapshot(page, cdp, true)).heap_mb;
  await shot("bottom");
  await browser.close();
}

try {
  await main();
  clearTimeout(watchdog);
  figures.run_seconds = round((Date.now() - began) / 1000, 1);
  console.log(JSON.stringify({ ok: true, ...figures }));
} catch (error) {
  clearTimeout(watchdog);
  console.log(JSON.stringify({ ok: false, error: String(error), ...figures }));
  await browser?.close().catch(() => undefined);
  process.exit(1);
}
