// Nexus's embedded SFU judged by a browser: headless Debian Chromium,
// driven by playwright-core, runs livekit-client (LiveKit's JavaScript SDK,
// the one Element Call uses) in two pages of a tiny page served here over
// http on 127.0.0.1. The publisher joins with one token and publishes its
// (fake) camera and microphone; the subscriber joins with another, and its
// receivers' `inbound-rtp` stats are polled until audio and video bytes
// grow and video frames are decoded.
//
//   node sfu_browser.mjs --url <ws url> --publisher-token <jwt> --subscriber-token <jwt>
//        [--timeout <seconds, default 40>] [--min-frames <video frames decoded, default 10>]
//        [--modules <dir holding node_modules, default this file's>]
//        [--chromium <path, default /usr/bin/chromium>]
//
// Success: at the subscriber, audio bytes received grew past their first reading,
// and so did video bytes, with at least --min-frames video frames decoded.
//
// One JSON object per stdout line: `connected` (with the signalling path
// the SDK ended on, `v0` or `v1`, and its peer-connection mode), `published`,
// `subscribed`, `inbound` (kind, bytes, packets, frames), `console` (the
// browser's console lines about the signalling path — `/rtc`, `v1`, `v0`,
// the fallback — and its warnings and errors, tokens redacted), then `done`
// (exit 0) or `failed` with a reason and what the pages' connections looked
// like (exit 1). The browser is closed on every path.
//
// livekit-client ≥ 2.17 first tries `<url>/rtc/v1`; when that WebSocket
// fails it GETs `<url>/rtc/v1/validate`, and a 404 there makes it retry on
// `<url>/rtc` (v0, a publisher and a subscriber connection) with a warning
// "Initial connection failed: v1 RTC path not found ... – Retrying".

import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    "publisher-token": { type: "string" },
    "subscriber-token": { type: "string" },
    timeout: { type: "string", default: "40" },
    "min-frames": { type: "string", default: "10" },
    modules: { type: "string", default: dirname(fileURLToPath(import.meta.url)) },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
  strict: true,
});
for (const required of ["url", "publisher-token", "subscriber-token"]) {
  if (!args[required]) {
    process.stderr.write(`sfu_browser.mjs: --${required} is required\n`);
    process.exit(2);
  }
}
const timeoutMs = Number(args.timeout) * 1000;
const minFrames = Number(args["min-frames"]);
if (!(timeoutMs > 0) || !Number.isInteger(minFrames) || minFrames < 0) {
  process.stderr.write("sfu_browser.mjs: --timeout must be a positive number of seconds, --min-frames a count\n");
  process.exit(2);
}

/** How often the subscriber's receivers are asked for their stats. */
const POLL_MS = 500;
/** How long a page may take to answer while failing (diagnosis, closing). */
const CLEANUP_MS = 5000;
/** Console lines printed: those about the signalling path, and warnings and errors. */
const CONSOLE_PATTERN = /\bv[01]\b|\/rtc|fallback|retrying/i;
const CONSOLE_MAX = 600;

const started = Date.now();

/** One line of the report; `ms` is the time since the judge started. */
function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields, ms: Date.now() - started })}\n`);
}

/** Tokens never leave the judge: Chromium's own errors print whole URLs. */
function redact(text) {
  return text
    .replace(/(access_token=)[^&\s'"]+/g, "$1<redacted>")
    .replace(/(join_request=)[^&\s'"]+/g, "$1<redacted>")
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, "<jwt>")
    // What Chromium cut out of a long URL leaves a tail no pattern above finds.
    .replace(/[\w\-+/=%]{48,}/g, "<…>");
}

const require = createRequire(join(args.modules, "package.json"));
const { chromium } = require("playwright-core");
const bundle = readFileSync(join(args.modules, "node_modules/livekit-client/dist/livekit-client.umd.js"));

// ----- what runs in the pages -----

/**
 * Runs in each page (serialised into /judge.js): defines the functions the
 * judge calls with `page.evaluate`. Events go back through the
 * `nexusReport` binding.
 */
function pageMain() {
  const LK = window.LivekitClient;
  const report = (event, fields = {}) => window.nexusReport({ event, ...fields });
  /** Subscribed remote tracks by sid. */
  const remote = new Map();
  let room;

  window.nexusConnect = async (url, token) => {
    room = new LK.Room({ adaptiveStream: false, dynacast: false });
    room
      .on(LK.RoomEvent.ParticipantConnected, (p) => report("participant_connected", { identity: p.identity }))
      .on(LK.RoomEvent.TrackSubscribed, (track, publication, participant) => {
        remote.set(publication.trackSid, { kind: track.kind, track, participant: participant.identity });
        // Attached, as an app would: a video with somewhere to go is decoded.
        const element = track.attach();
        element.muted = true;
        document.body.appendChild(element);
        report("subscribed", { kind: track.kind, track_sid: publication.trackSid, participant: participant.identity });
      })
      .on(LK.RoomEvent.TrackSubscriptionFailed, (sid, participant, reason) =>
        report("subscription_failed", { track_sid: sid, participant: participant?.identity, reason: String(reason) }),
      )
      .on(LK.RoomEvent.Reconnecting, () => report("reconnecting"))
      .on(LK.RoomEvent.Disconnected, (reason) =>
        report("disconnected", { reason: LK.DisconnectReason?.[reason] ?? String(reason) }),
      );
    await room.connect(url, token);
    const engine = room.engine;
    report("connected", {
      identity: room.localParticipant.identity,
      room: room.name,
      // Private in the SDK's types, present at runtime: the path the
      // signalling ended on, and the peer connections that came of it
      // (v1 is one publisher-only connection; v0 a publisher and a subscriber).
      signal_path: engine.client.useV0SignalPath ? "v0" : "v1",
      pc_mode: engine.pcManager?.mode,
      server: room.serverInfo ?? null,
    });
  };

  window.nexusPublish = async () => {
    await room.localParticipant.enableCameraAndMicrophone();
    const tracks = [...room.localParticipant.trackPublications.values()].map((p) => ({
      kind: p.kind,
      source: p.source,
      track_sid: p.trackSid,
    }));
    report("published", { tracks });
  };

  /** The `inbound-rtp` stats of every subscribed track's receiver. */
  window.nexusInbound = async () => {
    const out = [];
    for (const [sid, { kind, track, participant }] of remote) {
      const stats = await track.getRTCStatsReport();
      stats?.forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        out.push({
          kind,
          track_sid: sid,
          participant,
          codec: stats.get(s.codecId)?.mimeType,
          bytes: s.bytesReceived ?? 0,
          packets: s.packetsReceived ?? 0,
          lost: s.packetsLost ?? 0,
          frames: s.framesDecoded,
          width: s.frameWidth,
          height: s.frameHeight,
          // Why frames would not decode: what arrived whole, what was
          // dropped, and what the receiver asked the SFU for.
          frames_received: s.framesReceived,
          frames_dropped: s.framesDropped,
          keyframes: s.keyFramesDecoded,
          plis: s.pliCount,
          firs: s.firCount,
          nacks: s.nackCount,
          freezes: s.freezeCount,
          freeze_seconds: s.totalFreezesDuration,
        });
      });
    }
    return out;
  };

  /** How the page's connections stand, for a failure's report. */
  window.nexusDiagnose = async () => {
    if (!room) return { room: "never created" };
    const pcm = room.engine?.pcManager;
    const transport = async (t) => {
      if (!t) return null;
      const pairs = [];
      const rtp = [];
      const candidate = (c) => c && `${c.candidateType} ${c.address}:${c.port}`;
      const stats = await t.getStats().catch(() => undefined);
      stats?.forEach((s) => {
        if (s.type === "candidate-pair") {
          pairs.push({
            state: s.state,
            nominated: s.nominated,
            local: candidate(stats.get(s.localCandidateId)),
            remote: candidate(stats.get(s.remoteCandidateId)),
            requests_sent: s.requestsSent,
            responses_received: s.responsesReceived,
          });
        } else if (s.type === "inbound-rtp" || s.type === "outbound-rtp") {
          rtp.push({
            type: s.type,
            kind: s.kind,
            rid: s.rid,
            bytes: s.bytesReceived ?? s.bytesSent,
            frames: s.framesDecoded ?? s.framesEncoded,
          });
        }
      });
      return {
        connection: t.getConnectionState(),
        ice: t.getICEConnectionState(),
        signalling: t.getSignallingState(),
        candidate_pairs: pairs,
        rtp,
      };
    };
    return {
      state: room.state,
      signal_path: room.engine?.client?.useV0SignalPath ? "v0" : "v1",
      pc_mode: pcm?.mode,
      publisher: await transport(pcm?.publisher),
      subscriber: await transport(pcm?.subscriber),
      remote_tracks: [...remote.keys()],
    };
  };
}

const page = `<!doctype html>
<meta charset="utf-8">
<title>Nexus SFU browser judge</title>
<script src="/livekit-client.umd.js"></script>
<script src="/judge.js"></script>
`;

function serve() {
  const files = {
    "/": ["text/html", page],
    "/livekit-client.umd.js": ["text/javascript", bundle],
    "/judge.js": ["text/javascript", `(${pageMain.toString()})();\n`],
    "/favicon.ico": ["image/x-icon", ""],
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url, "http://localhost").pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": file[0], "cache-control": "no-store" }).end(file[1]);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

// ----- the judge -----

let browser;
let server;
const pages = {};
/** What is being waited for, for a timeout's reason. */
let stage = "starting";

async function openPage(role, origin) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (message) => {
    const text = message.text();
    const type = message.type();
    if (CONSOLE_PATTERN.test(text) || type === "error" || type === "warning") {
      emit("console", { role, type, text: redact(text).slice(0, CONSOLE_MAX) });
    }
  });
  page.on("pageerror", (error) =>
    emit("console", { role, type: "pageerror", text: redact(String(error)).slice(0, CONSOLE_MAX) }),
  );
  page.on("crash", () => emit("console", { role, type: "crash", text: "the page crashed" }));
  await page.exposeFunction("nexusReport", ({ event, ...fields }) => emit(event, { role, ...fields }));
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => typeof window.nexusConnect === "function" && !!window.LivekitClient);
  pages[role] = page;
  return page;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function judge() {
  server = await serve();
  const origin = `http://127.0.0.1:${server.address().port}`;
  stage = "launching Chromium";
  browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-breakpad",
      "--disable-crash-reporter",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
  emit("browser", { version: browser.version() });

  stage = "the subscriber connecting";
  const subscriber = await openPage("subscriber", origin);
  await subscriber.evaluate(([url, token]) => window.nexusConnect(url, token), [args.url, args["subscriber-token"]]);

  stage = "the publisher connecting";
  const publisher = await openPage("publisher", origin);
  await publisher.evaluate(([url, token]) => window.nexusConnect(url, token), [args.url, args["publisher-token"]]);
  stage = "the publisher publishing camera and microphone";
  await publisher.evaluate(() => window.nexusPublish());

  stage = "audio and video arriving at the subscriber";
  const first = {};
  const grown = {};
  /** The last stats printed, by track: unchanged ones are not printed again. */
  const printed = new Map();
  for (;;) {
    const inbound = await subscriber.evaluate(() => window.nexusInbound());
    for (const stream of inbound) {
      const line = JSON.stringify(stream);
      if (printed.get(stream.track_sid) !== line) emit("inbound", { role: "subscriber", ...stream });
      printed.set(stream.track_sid, line);
      if (stream.bytes <= 0) continue;
      first[stream.kind] ??= stream.bytes;
      const decoded = stream.kind !== "video" || stream.frames >= minFrames;
      if (stream.bytes > first[stream.kind] && decoded) grown[stream.kind] = stream;
    }
    if (grown.audio && grown.video) {
      emit("done", {
        audio_bytes: grown.audio.bytes,
        video_bytes: grown.video.bytes,
        video_frames: grown.video.frames,
      });
      return;
    }
    stage = `audio and video arriving at the subscriber (grown so far: ${Object.keys(grown).join(", ") || "none"})`;
    await sleep(POLL_MS);
  }
}

/** Resolves `promise`, or undefined after `ms`. */
const within = (promise, ms) => Promise.race([promise.catch((e) => ({ error: String(e) })), sleep(ms)]);

async function diagnose() {
  const found = {};
  for (const [role, page] of Object.entries(pages)) {
    found[role] = await within(page.evaluate(() => window.nexusDiagnose()), CLEANUP_MS);
  }
  return found;
}

async function main() {
  let code = 0;
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const stop = (signal) => {
    emit("failed", { reason: `killed by ${signal} while waiting for ${stage}` });
    browser?.close().catch(() => {});
    process.exit(1);
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  try {
    const outcome = await Promise.race([judge().then(() => "done"), timedOut]);
    if (outcome === "timeout") {
      code = 1;
      emit("failed", { reason: `timed out after ${args.timeout} s waiting for ${stage}`, pages: await diagnose() });
    }
  } catch (error) {
    code = 1;
    const reason = `${redact(String(error?.message ?? error))} (while waiting for ${stage})`;
    emit("failed", { reason, pages: await diagnose() });
  } finally {
    clearTimeout(timer);
    // Whatever happens to closing, the judge does not outlive its answer.
    setTimeout(() => process.exit(code), CLEANUP_MS).unref();
    await within(browser?.close() ?? Promise.resolve(), CLEANUP_MS);
    server?.close();
  }
  process.exit(code);
}

main();
