// Voice channels, judged in Debian's Chromium (fake camera, microphone and
// screen) through playwright-core, against the homeserver's token service
// and embedded SFU. It must run where WebRTC has a non-loopback address (a
// network namespace: complement-tests/tests/web_client.rs makes one).
// Alice owns a server, Bob joins it; both join its General voice channel
// from the client and each receives the other's audio (the pages' own
// WebRTC receivers show bytes and decoded samples); the sidebar lists both
// under the channel; the fake microphone's beeps light a speaking ring;
// Alice shares her screen and Bob decodes it at 1920×1080; Alice, owner,
// mutes Bob for everyone and Bob's indicator says so on both pages, then
// disconnects him (his page says a moderator did); Alice hangs up. Prints
// one JSON line per step and a last line `{"ok": true, ...figures}`; exits
// non-zero on the first failure.
//
//   node e2e/voice.mjs --base http://127.0.0.1:PORT [--shots DIR] [--chromium PATH]
import { openJudge, say, serverWithMember, sleep } from "./judge.mjs";

const FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"];
const { person, shot, register, conclude, suffix } = await openJudge({ flags: FAKE_MEDIA });

/**
 * Keeps every RTCPeerConnection the page makes, so the judge can read the
 * receivers' statistics as chrome://webrtc-internals would: the client
 * under test has no hook for it.
 */
function recordPeerConnections() {
  const Native = window.RTCPeerConnection;
  window.__judgedConnections = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__judgedConnections.push(this);
    }
  };
}

/** Every inbound RTP stream of the page's live connections. */
async function inbound(who) {
  return who.page.evaluate(async () => {
    const out = [];
    for (const pc of window.__judgedConnections ?? []) {
      if (pc.connectionState === "closed") continue;
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        out.push({
          kind: s.kind,
          bytes: s.bytesReceived ?? 0,
          samples: s.totalSamplesReceived ?? 0,
          concealed: s.concealedSamples ?? 0,
          frames: s.framesDecoded ?? 0,
          width: s.frameWidth ?? 0,
          height: s.frameHeight ?? 0,
        });
      });
    }
    return out;
  });
}

/** Polls `who`'s receivers until `test(streams)` holds; returns the streams then. */
async function receives(who, what, test, ms = 30_000) {
  const deadline = Date.now() + ms;
  let streams = [];
  while (Date.now() < deadline) {
    streams = await inbound(who);
    if (test(streams)) return streams;
    await sleep(500);
  }
  throw new Error(`${who.name} never ${what}: ${JSON.stringify(streams)}`);
}

const voiceChannel = (who) => who.page.getByRole("button", { name: /voice channel General/ });
const tiles = (who) => who.page.getByRole("list", { name: "In the call" }).getByRole("listitem");
const connected = (who) => who.page.getByRole("list", { name: "Connected to General" });

async function joinVoice(who) {
  await voiceChannel(who).click();
  await who.page.getByRole("button", { name: "Join voice" }).click();
  await who.page.getByRole("status").filter({ hasText: "Voice connected" }).waitFor({ timeout: 30_000 });
}

await conclude(async () => {
  const alice = await person("alice");
  const bob = await person("bob");
  for (const who of [alice, bob]) await who.context.addInitScript(recordPeerConnections);
  await register(alice, `alice${suffix}`);
  await register(bob, `bob${suffix}`);
  await serverWithMember(alice, bob, "Voice");
  say("server with a member");

  const joinStarted = Date.now();
  await joinVoice(alice);
  await joinVoice(bob);
  for (const who of [alice, bob]) {
    await tiles(who).nth(1).waitFor({ timeout: 30_000 });
  }
  const joinMs = Date.now() - joinStarted;
  say("both in the call", { join_ms: joinMs });

  // Each hears the other: bytes arrive and audio is decoded (samples the
  // jitter buffer produced from packets, not concealment).
  const heard = {};
  for (const who of [alice, bob]) {
    const streams = await receives(who, "decoded the other's audio", (all) =>
      all.some((s) => s.kind === "audio" && s.bytes > 2000 && s.samples - s.concealed > 48_000),
    );
    heard[who.name] = streams.filter((s) => s.kind === "audio").map((s) => ({ bytes: s.bytes, decoded: s.samples - s.concealed }));
  }
  // And plays it: the call's audio elements run, with no autoplay flag
  // given to Chromium (a join is a click, which lets a page play sound).
  for (const who of [alice, bob]) {
    const audio = await who.page.evaluate(() => [...document.querySelectorAll("audio")].map((a) => ({ paused: a.paused, muted: a.muted })));
    if (!audio.length || audio.some((a) => a.paused || a.muted)) throw new Error(`${who.name}'s call audio does not play: ${JSON.stringify(audio)}`);
  }
  say("each hears the other", heard);

  // Who is connected shows under the channel, on both sides.
  for (const who of [alice, bob]) {
    const list = connected(who);
    await list.getByText(`alice${suffix}`).waitFor();
    await list.getByText(`bob${suffix}`).waitFor();
  }
  say("the channel list shows both");

  // The fake microphone beeps: the SFU's speaker detection lights a ring.
  await alice.page.locator('.voice-tile[data-speaking="true"]').first().waitFor({ timeout: 20_000 });
  say("a speaking indicator lit");

  // Screen share at 1080p: Bob decodes it at that size.
  await alice.page.getByRole("button", { name: "Share screen" }).click();
  await bob.page.getByLabel(`alice${suffix}'s screen`).waitFor({ timeout: 30_000 });
  const screen = await receives(
    bob,
    "decoded Alice's screen at 1920×1080",
    (all) => all.some((s) => s.kind === "video" && s.width === 1920 && s.height === 1080 && s.frames >= 10),
    45_000,
  );
  const shared = screen.find((s) => s.kind === "video" && s.width === 1920);
  say("bob decodes alice's screen at 1080p", shared);
  await shot(bob.page, "voice");

  // A moderator's mute: Alice owns the server (MUTE_MEMBERS).
  const bobsTileForAlice = alice.page.getByRole("listitem", { name: `bob${suffix}` });
  await bobsTileForAlice.getByRole("button", { name: `Mute bob${suffix} for everyone` }).click();
  await bobsTileForAlice.and(alice.page.locator('[data-status="server-muted"]')).waitFor({ timeout: 10_000 });
  await bob.page.locator('.voice-tile[data-status="server-muted"]', { hasText: `bob${suffix}` }).waitFor({ timeout: 10_000 });
  await bob.page.getByRole("button", { name: "Unmute" }).waitFor();
  say("bob's indicator shows the moderator's mute on both pages");

  // Mute and deafen are the member's own too.
  await alice.page.getByRole("button", { name: "Deafen" }).click();
  await alice.page.locator('.voice-tile[data-status="deafened"]', { hasText: `alice${suffix}` }).waitFor();
  await alice.page.getByRole("button", { name: "Undeafen" }).click();

  // Alice (MOVE_MEMBERS) disconnects Bob: his call ends at the media
  // server, his page says why, and the list under the channel follows the
  // call membership the homeserver ended for him.
  await bobsTileForAlice.getByRole("button", { name: `Disconnect bob${suffix}` }).click();
  await bob.page.getByRole("alert").filter({ hasText: "A moderator disconnected you." }).waitFor({ timeout: 20_000 });
  await connected(alice).getByText(`bob${suffix}`).waitFor({ state: "detached", timeout: 20_000 });
  await tiles(alice).nth(1).waitFor({ state: "detached", timeout: 20_000 });
  say("alice disconnected bob");

  // Alice hangs up herself: the channel is empty again.
  await alice.page.getByRole("button", { name: "Disconnect", exact: true }).click();
  await connected(alice).waitFor({ state: "detached", timeout: 20_000 });
  say("alice left the call");
  return { join_ms: joinMs, screen_width: shared.width, screen_height: shared.height, screen_frames: shared.frames };
});
