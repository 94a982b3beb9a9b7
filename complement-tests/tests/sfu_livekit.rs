//! Nexus's embedded SFU judged by LiveKit's own real-time SDK (PyPI
//! `livekit`, the Python face of LiveKit's native Rust client), driven by
//! `judges/livekit_rtc.py`. Participants get their tokens from the built-in
//! token service, which points at the embedded SFU when no LiveKit is
//! configured, join over LiveKit's signalling — one letting the SDK try
//! `/rtc/v1` and fall back to `/rtc`, the other going to `/rtc` at once —
//! and what arrives is measured: a 440 Hz sine heard at 440 Hz, video
//! decoded, data delivered, a moderator's mute silencing a member in a call
//! already under way, and a participant who vanishes leaving the SFU's room
//! and, through the delegated delayed leave, the Matrix call.
//!
//! Why a network namespace: LiveKit's native WebRTC never offers loopback
//! ICE candidates, so on loopback alone no media could flow. Each scenario
//! re-executes its own test binary, for itself only, under `unshare -n`,
//! with a veth interface holding 10.203.0.1 (an address of the host that is
//! not loopback) on which the SFU takes its UDP socket; signalling stays on
//! loopback. `unshare -n` must be permitted (root, as in CI): the scenarios
//! fail rather than skip without it, since skipped media checks would hide
//! a broken SFU. PostgreSQL on the host cannot be reached from inside the
//! namespace, so these run on the RocksDB backend only.
//!
//! The SDK lives in `NEXUS_LIVEKIT_VENV` (default
//! `~/.cache/nexus-bench/livekit-venv`, made by `scripts/livekit-judge.sh`);
//! without it the scenarios are skipped with a SKIP line, unless
//! `NEXUS_TEST_REQUIRE_LIVEKIT=1`.
//!
//! A browser judges it too, as Element Call runs: LiveKit's JavaScript SDK
//! (npm `livekit-client`) in headless Debian Chromium, driven through
//! playwright-core by `browser/sfu_browser.mjs`, publishes a fake camera and
//! microphone from one page and counts what another receives, both pages
//! taking the SDK's `/rtc/v1` → `/rtc` fallback. It lives in
//! `NEXUS_BROWSER_DIR` (default `~/.cache/nexus-browser`, made by
//! `scripts/browser-judge.sh`) and is skipped without it unless
//! `NEXUS_TEST_REQUIRE_BROWSER=1`. Chromium, like LiveKit's native WebRTC,
//! offers no loopback candidates, so it runs in a namespace of its own too.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nexus_complement::judge_process::{JudgeLine, JudgeProcess};
use nexus_complement::netns::in_own_namespace;
use nexus_complement::nexus_servers::{create_server, invite_code, join_by_code};
use nexus_complement::{Backend, Homeserver, Session, enc, eventually, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
/// The token service (lk-jwt-service's API).
const SERVICE: &str = "/_nexus/livekit/jwt";
/// Where the embedded SFU is served on the client listener.
const SFU: &str = "/_nexus/sfu";
/// The call every token here is for (Element Call's room-wide call).
const SLOT: &str = "m.call#ROOM";
const CALL_MEMBER: &str = "org.matrix.msc3401.call.member";

/// The judge's own bound on joining (`--connect-timeout`, seconds): within
/// [`JOIN_WAIT`], so a failed join shows as the judge's `connect_failed`
/// line with its reason, not as a bare timeout.
const CONNECT_TIMEOUT_SECS: &str = "20";
/// Joining: signalling (with the `/rtc/v1` attempt and fallback), ICE, DTLS.
const JOIN_WAIT: Duration = Duration::from_secs(25);
/// The judges leave by themselves after this long (`--seconds`), so none
/// outlives a test binary that was itself killed.
const JUDGE_LIFETIME_SECS: &str = "120";
/// From one participant's joining to another seeing it, its track or its data.
const TRACK_WAIT: Duration = Duration::from_secs(15);
/// From a track's subscription to its sine being heard.
const HEARD_WAIT: Duration = Duration::from_secs(5);
/// From a video track's subscription to ten decoded frames.
const DECODED_WAIT: Duration = Duration::from_secs(15);

/// The sine the publishers sing, and how closely it must be heard.
const SINE_HZ: f64 = 440.0;
const SINE_TOLERANCE_HZ: f64 = 4.0;
/// The judge sings at amplitude 0.3 (rms 0.21): heard, it is well above
/// this; silenced, it is well below [`SILENCE_RMS`].
const HEARD_RMS: f64 = 0.05;
const SILENCE_RMS: f64 = 0.01;

/// How soon after a moderator's mute the member must be silent.
const MUTE_GRACE: Duration = Duration::from_secs(1);
/// How long the silence is then watched.
const SILENCE_WATCH: Duration = Duration::from_secs(3);
/// How much audio each `audio` line of the judge analyses: a line read at
/// `t` speaks of the sound between `t` minus this and `t`.
const ANALYSIS_WINDOW: Duration = Duration::from_millis(500);
/// From the mute to the listener being told the track is muted.
const MUTE_NOTICE_WAIT: Duration = Duration::from_secs(3);

/// The delayed leave's delay (Element Call uses 10 s).
const LEAVE_DELAY_MS: u64 = 3000;
/// From the delegation to the check that the leave was held: past the
/// delay, and past the service's first looks (every half delay), so the
/// leave would have been sent had the SFU not reported her present.
const HELD_WATCH: Duration = Duration::from_millis(4500);
/// From a participant's vanishing to the others and the call knowing it.
const VANISH_WAIT: Duration = Duration::from_secs(10);

/// The venv's python when LiveKit's real-time SDK (and numpy, which the
/// judge's analysis imports) is installed there; `None` (skip) otherwise,
/// unless `NEXUS_TEST_REQUIRE_LIVEKIT=1`.
fn rtc_python() -> Option<PathBuf> {
    let venv = std::env::var_os("NEXUS_LIVEKIT_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/nexus-bench/livekit-venv")))?;
    let python = venv.join("bin/python");
    let installed = std::process::Command::new(&python)
        .args(["-c", "import livekit.rtc, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Some(python);
    }
    if std::env::var("NEXUS_TEST_REQUIRE_LIVEKIT").as_deref() == Ok("1") {
        panic!("livekit (rtc) is not installed in {} (scripts/livekit-judge.sh installs it)", venv.display());
    }
    None
}

/// What a scenario has inside its network namespace.
struct Namespace {
    python: PathBuf,
    /// The namespace's non-loopback address, for the SFU's UDP socket.
    address: String,
}

impl Namespace {
    /// In the re-executed binary: `Some`, and the scenario runs. Outside:
    /// runs `test_name` in a namespace of its own, asserts that it passed,
    /// and `None`; also `None`, after a SKIP line, without the SDK.
    async fn enter(test_name: &str) -> Option<Namespace> {
        let Some(python) = rtc_python() else {
            eprintln!(
                "SKIP sfu_livekit::{test_name}: LiveKit's Python SDK is not installed (scripts/livekit-judge.sh)"
            );
            return None;
        };
        let address = in_own_namespace(test_name).await?;
        Some(Namespace { python, address })
    }

    async fn homeserver(&self) -> Homeserver {
        sfu_homeserver(&self.address).await
    }

    /// Starts the judge as participant `name` (also its label) doing
    /// `subcommand` with `token`, plus `extra` arguments.
    fn participant(&self, name: &str, subcommand: &str, token: &JoinToken, extra: &[&str]) -> JudgeProcess {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("judges/livekit_rtc.py");
        let mut command = tokio::process::Command::new(&self.python);
        command
            .arg(script)
            .arg(subcommand)
            .args(["--name", name, "--url", &token.url, "--token", &token.jwt])
            .args(["--connect-timeout", CONNECT_TIMEOUT_SECS, "--seconds", JUDGE_LIFETIME_SECS])
            .args(extra);
        JudgeProcess::spawn(name, command)
    }
}

/// A server whose embedded SFU takes a UDP port on the namespace's
/// `address` (the harness default, loopback, would carry no media).
async fn sfu_homeserver(address: &str) -> Homeserver {
    Homeserver::builder(Backend::RocksDb).env("NEXUS__SFU__UDP", format!("{address}:0")).start().await
}

/// A LiveKit join token from the token service, and the URL it is for.
struct JoinToken {
    url: String,
    jwt: String,
}

async fn openid_token(user: &Session) -> Value {
    let reply = user.post(&format!("/user/{}/openid/request_token", enc(&user.user_id)), json!({})).await;
    reply.expect_ok().clone()
}

/// The `member` of `user`'s token requests and delegations: the same
/// member id in both, so the delegated watch asks the SFU about the very
/// identity `user` joined with.
fn call_member(user: &Session) -> Value {
    json!({"id": format!("{}-member", user.device_id), "claimed_user_id": user.user_id, "claimed_device_id": user.device_id})
}

/// `user`'s token for the call in `room`, through `/get_token`.
async fn join_token(hs: &Homeserver, user: &Session, room: &str) -> JoinToken {
    let body = json!({"room_id": room, "slot_id": SLOT, "openid_token": openid_token(user).await, "member": call_member(user)});
    let reply = hs.api().post(&format!("{SERVICE}/get_token"), body).await;
    let answer = reply.expect_ok();
    let url = answer["url"].as_str().unwrap_or_else(|| panic!("no url: {reply:?}")).to_owned();
    assert!(url.ends_with(SFU), "with no LiveKit configured, the token service points at the embedded SFU: {reply:?}");
    let jwt = answer["jwt"].as_str().unwrap_or_else(|| panic!("no jwt: {reply:?}")).to_owned();
    JoinToken { url, jwt }
}

/// Two users of `hs` in one public room, each with a token for its call.
struct Pair {
    room: String,
    first: (Session, JoinToken),
    second: (Session, JoinToken),
}

async fn two_in_a_room(hs: &Homeserver, first: &str, second: &str) -> Pair {
    let a = hs.api().register(first, PASSWORD).await;
    let b = hs.api().register(second, PASSWORD).await;
    let room = a.create_room(json!({"preset": "public_chat"})).await;
    b.join(&room).await;
    let a_token = join_token(hs, &a, &room).await;
    let b_token = join_token(hs, &b, &room).await;
    Pair { room, first: (a, a_token), second: (b, b_token) }
}

/// Waits until the judge has joined its room; its participant identity.
async fn joined(judge: &mut JudgeProcess) -> String {
    let connected = judge.wait_for("connected", JOIN_WAIT, |e| e["event"] == "connected").await;
    connected.json["identity"]
        .as_str()
        .unwrap_or_else(|| panic!("connected without an identity: {:?}", connected.json))
        .to_owned()
}

/// Waits until `listener` has subscribed to a `kind` track of `publisher`.
async fn subscribed(listener: &mut JudgeProcess, publisher: &str, kind: &str) -> JudgeLine {
    let what = format!("track_subscribed ({kind}) from {publisher}");
    listener
        .wait_for(&what, TRACK_WAIT, |e| {
            e["event"] == "track_subscribed" && e["participant"] == publisher && e["kind"] == kind
        })
        .await
}

fn track_sid(subscription: &JudgeLine) -> String {
    subscription.json["track_sid"]
        .as_str()
        .unwrap_or_else(|| panic!("no track_sid: {:?}", subscription.json))
        .to_owned()
}

/// An `audio` line that heard the sine.
fn is_the_sine(event: &Value) -> bool {
    event["event"] == "audio"
        && event["peak_hz"].as_f64().is_some_and(|hz| (hz - SINE_HZ).abs() <= SINE_TOLERANCE_HZ)
        && event["rms"].as_f64().is_some_and(|rms| rms > HEARD_RMS)
}

/// Waits until the sine is heard on the subscribed track, within
/// [`HEARD_WAIT`] of its subscription.
async fn hears_the_sine(listener: &mut JudgeProcess, subscription: &JudgeLine) {
    let sid = track_sid(subscription);
    let wait = (subscription.read_at + HEARD_WAIT).saturating_duration_since(Instant::now());
    let what = format!("the {SINE_HZ} Hz sine on {sid} within {HEARD_WAIT:?} of its subscription");
    listener.wait_for(&what, wait, |e| e["track_sid"] == sid.as_str() && is_the_sine(e)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sine_published_through_the_sfu_is_heard_at_440_hz() {
    let Some(namespace) = Namespace::enter("a_sine_published_through_the_sfu_is_heard_at_440_hz").await else {
        return;
    };
    let hs = namespace.homeserver().await;
    let Pair { first: (_, alices_token), second: (_, bobs_token), .. } = two_in_a_room(&hs, "alice", "bob").await;

    // What a browser's SDK asks first: v1 is absent (so it falls back), and
    // the cross-origin validate check says whether a token would join.
    let v1 = hs.api().get(&format!("{SFU}/rtc/v1/validate")).await;
    assert_eq!(v1.status, 404, "{v1:?}");
    assert_eq!(v1.header("access-control-allow-origin"), Some("*"), "{v1:?}");
    let valid = hs.api().get(&format!("{SFU}/rtc/validate?access_token={}", enc(&bobs_token.jwt))).await;
    assert_eq!((valid.status, valid.text.as_str()), (200, "success"), "{valid:?}");
    let garbage = hs.api().get(&format!("{SFU}/rtc/validate?access_token=not-a-token")).await;
    assert_eq!(garbage.status, 401, "{garbage:?}");

    // Both signalling paths: Bob's SDK tries /rtc/v1 and falls back to
    // /rtc; Alice's goes to /rtc at once.
    let mut bob_listens = namespace.participant("bob", "listen", &bobs_token, &[]);
    joined(&mut bob_listens).await;
    let mut alice_sings =
        namespace.participant("alice", "publish-sine", &alices_token, &["--v0", "--freq", "440", "--data", "hello"]);
    let alice_id = joined(&mut alice_sings).await;

    let what = format!("participant_connected for alice ({alice_id})");
    bob_listens
        .wait_for(&what, TRACK_WAIT, |e| e["event"] == "participant_connected" && e["identity"] == alice_id.as_str())
        .await;
    let subscription = subscribed(&mut bob_listens, &alice_id, "audio").await;
    hears_the_sine(&mut bob_listens, &subscription).await;
    // The sine is loud: the SFU names alice among the active speakers.
    bob_listens
        .wait_for("alice among the active speakers", TRACK_WAIT, |e| {
            e["event"] == "active_speakers"
                && e["identities"].as_array().is_some_and(|ids| ids.iter().any(|id| id == alice_id.as_str()))
        })
        .await;
    bob_listens
        .wait_for("alice's data message \"hello\"", TRACK_WAIT, |e| {
            e["event"] == "data_received" && e["participant"] == alice_id.as_str() && e["payload"] == "hello"
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_published_through_the_sfu_is_decoded() {
    let Some(namespace) = Namespace::enter("video_published_through_the_sfu_is_decoded").await else {
        return;
    };
    let hs = namespace.homeserver().await;
    let Pair { first: (_, carols_token), second: (_, bobs_token), .. } = two_in_a_room(&hs, "carol", "bob").await;

    let mut bob_watches = namespace.participant("bob", "listen", &bobs_token, &[]);
    joined(&mut bob_watches).await;
    let mut carol_films = namespace.participant("carol", "publish-video", &carols_token, &[]);
    let carol_id = joined(&mut carol_films).await;

    let subscription = subscribed(&mut bob_watches, &carol_id, "video").await;
    let sid = track_sid(&subscription);
    let wait = (subscription.read_at + DECODED_WAIT).saturating_duration_since(Instant::now());
    let what = format!("ten decoded frames of {sid} within {DECODED_WAIT:?} of its subscription");
    bob_watches
        .wait_for(&what, wait, |e| {
            e["event"] == "video"
                && e["track_sid"] == sid.as_str()
                && e["width"].as_u64().is_some_and(|w| w > 0)
                && e["height"].as_u64().is_some_and(|h| h > 0)
                && e["frames"].as_u64().is_some_and(|frames| frames >= 10)
        })
        .await;
}

/// A member's voice moderation endpoint in a voice channel.
fn voice_path(room: &str, tail: &str) -> String {
    format!("/_nexus/client/v1/channels/{}/voice{tail}", enc(room))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_mute_silences_a_member_within_a_second() {
    let Some(namespace) = Namespace::enter("a_moderator_mute_silences_a_member_within_a_second").await else {
        return;
    };
    let hs = namespace.homeserver().await;
    // Alice owns the server, so she may mute (MUTE_MEMBERS).
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Voice").await;
    let code = invite_code(&alice, &server.space, json!({})).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    join_by_code(&bob, &code).await;
    bob.join(&server.voice).await;
    let alices_token = join_token(&hs, &alice, &server.voice).await;
    let bobs_token = join_token(&hs, &bob, &server.voice).await;

    let mut alice_listens = namespace.participant("alice", "listen", &alices_token, &[]);
    joined(&mut alice_listens).await;
    let mut bob_sings = namespace.participant("bob", "publish-sine", &bobs_token, &["--freq", "440"]);
    let bob_id = joined(&mut bob_sings).await;
    let subscription = subscribed(&mut alice_listens, &bob_id, "audio").await;
    hears_the_sine(&mut alice_listens, &subscription).await;
    let sid = track_sid(&subscription);

    // Muted by the server in the middle of the call: Bob's client was never
    // asked to mute, so the silence is the SFU's doing.
    let muted_at = Instant::now();
    alice.put(&voice_path(&server.voice, &format!("/{}", enc(&bob.user_id))), json!({"mute": true})).await.expect_ok();
    let what = format!("track_muted for bob's {sid}");
    alice_listens
        .wait_for(&what, MUTE_NOTICE_WAIT, |e| {
            e["event"] == "track_muted" && e["participant"] == bob_id.as_str() && e["track_sid"] == sid.as_str()
        })
        .await;

    tokio::time::sleep_until((muted_at + MUTE_GRACE + SILENCE_WATCH).into()).await;
    // Only lines whose whole analysis window lies after the grace: a line
    // read just after it still speaks of the half second before.
    let silent_from = muted_at + MUTE_GRACE + ANALYSIS_WINDOW;
    let sounding: Vec<Value> = alice_listens
        .lines()
        .into_iter()
        .filter(|line| {
            line.read_at > silent_from
                && line.json["event"] == "audio"
                && line.json["track_sid"] == sid.as_str()
                && line.json["rms"].as_f64().is_none_or(|rms| rms >= SILENCE_RMS)
        })
        .map(|line| line.json)
        .collect();
    assert!(
        sounding.is_empty(),
        "bob's track still sounded more than {MUTE_GRACE:?} after the mute (rms >= {SILENCE_RMS}): {sounding:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_participant_leaves_and_their_call_membership_ends() {
    let Some(namespace) = Namespace::enter("a_vanished_participant_leaves_and_their_call_membership_ends").await else {
        return;
    };
    let hs = namespace.homeserver().await;
    let Pair { room, first: (alice, alices_token), second: (bob, bobs_token) } =
        two_in_a_room(&hs, "alice", "bob").await;

    let mut bob_listens = namespace.participant("bob", "listen", &bobs_token, &[]);
    joined(&mut bob_listens).await;
    let mut alice_sings = namespace.participant("alice", "publish-sine", &alices_token, &[]);
    let alice_id = joined(&mut alice_sings).await;

    // In the call as Element Call is: a membership whose leave is
    // scheduled, the keeping-alive of that leave delegated to the token
    // service. Delegated only once she is in the SFU's room: the service
    // sends the leave at its first look if she is not there.
    let state_key = format!("_{}_{}_m.call", alice.user_id, alice.device_id);
    let schedule = format!(
        "{}?org.matrix.msc4140.delay={LEAVE_DELAY_MS}",
        room_path(&room, &format!("/state/{CALL_MEMBER}/{}", enc(&state_key)))
    );
    let scheduled = alice.put(&schedule, json!({})).await;
    let delay_id =
        scheduled.expect_ok()["delay_id"].as_str().unwrap_or_else(|| panic!("no delay_id: {scheduled:?}")).to_owned();
    let membership = json!({"application": "m.call", "call_id": "", "scope": "m.room", "device_id": alice.device_id,
        "focus_active": {"type": "livekit", "focus_selection": "oldest_membership"}, "foci_preferred": []});
    alice.set_state(&room, CALL_MEMBER, &state_key, membership).await;
    let delegation = json!({
        "room_id": room, "slot_id": SLOT, "delay_id": delay_id, "delay_timeout": LEAVE_DELAY_MS,
        "delay_cs_api_url": hs.base_url(), "openid_token": openid_token(&alice).await, "member": call_member(&alice),
    });
    hs.api().post(&format!("{SERVICE}/delegate_delayed_leave"), delegation).await.expect_ok();
    let delegated_at = Instant::now();
    subscribed(&mut bob_listens, &alice_id, "audio").await;

    // Held while she is there: the SFU's GetParticipant finds her.
    tokio::time::sleep_until((delegated_at + HELD_WATCH).into()).await;
    let held = bob.get_state(&room, CALL_MEMBER, &state_key).await;
    assert_eq!(held.expect_ok()["application"], "m.call", "the leave is held while alice is in the call: {held:?}");

    alice_sings.sigkill();
    let killed_at = Instant::now();
    let what = format!("participant_disconnected for alice ({alice_id}) within {VANISH_WAIT:?} of her vanishing");
    bob_listens
        .wait_for(&what, VANISH_WAIT, |e| {
            e["event"] == "participant_disconnected" && e["identity"] == alice_id.as_str()
        })
        .await;
    let remaining = (killed_at + VANISH_WAIT).saturating_duration_since(Instant::now());
    let what = format!("alice's call membership ended within {VANISH_WAIT:?} of her vanishing");
    eventually(&what, remaining, || async {
        let state = bob.get_state(&room, CALL_MEMBER, &state_key).await;
        if state.status == 200 && state.json == json!({}) { Ok(()) } else { Err(format!("{state:?}")) }
    })
    .await;
}

/// The browser judge's own bound on the whole run (`--timeout`, seconds):
/// launching Chromium, both joins with their fallback, publishing, and
/// the media arriving.
const BROWSER_TIMEOUT_SECS: u64 = 40;
/// Video frames the browser must have decoded (`--min-frames`).
const BROWSER_MIN_FRAMES: u64 = 10;
/// Beyond the judge's own bound: its report of a failure (it asks both
/// pages how their connections stand) and its closing of the browser.
const BROWSER_GRACE: Duration = Duration::from_secs(15);
/// From the judge's last word to its exit.
const BROWSER_EXIT_WAIT: Duration = Duration::from_secs(10);

/// The browser judge (`browser/sfu_browser.mjs`): the directory holding its
/// `node` (Node 22) and `node_modules` (livekit-client, playwright-core),
/// `NEXUS_BROWSER_DIR` or `~/.cache/nexus-browser`, made by
/// `scripts/browser-judge.sh`, which also installs Debian's Chromium. `None`
/// (skip) when any is missing, unless `NEXUS_TEST_REQUIRE_BROWSER=1`.
fn browser_judge() -> Option<PathBuf> {
    let dir = std::env::var_os("NEXUS_BROWSER_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/nexus-browser")))?;
    let installed = dir.join("node").is_file()
        && dir.join("node_modules/livekit-client/dist").is_dir()
        && dir.join("node_modules/playwright-core").is_dir()
        && Path::new(CHROMIUM).is_file();
    if installed {
        return Some(dir);
    }
    if std::env::var("NEXUS_TEST_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!(
            "the browser judge (Node 22, livekit-client, playwright-core, {CHROMIUM}) is not installed in {} \
             (scripts/browser-judge.sh installs it)",
            dir.display()
        );
    }
    None
}

/// Debian's Chromium, which the browser judge drives.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Every `console` line of the browser judge's `role` page.
fn console_lines<'a>(lines: &'a [Value], role: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    lines.iter().filter(move |e| e["event"] == "console" && e["role"] == role).filter_map(|e| e["text"].as_str())
}

/// The browser's side of a call, as Element Call's is: livekit-client in
/// headless Chromium. Its pages try `/rtc/v1` first, as livekit-client
/// ≥ 2.17 does, and must fall back to v0 on the 404; then one publishes its
/// (fake) camera and microphone and the other's receivers must count audio
/// and video bytes growing and video frames decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_publishes_and_receives_through_the_sfu() {
    const NAME: &str = "a_browser_publishes_and_receives_through_the_sfu";
    let Some(judge_dir) = browser_judge() else {
        eprintln!("SKIP sfu_livekit::{NAME}: the browser judge is not installed (scripts/browser-judge.sh)");
        return;
    };
    let Some(address) = in_own_namespace(NAME).await else {
        return;
    };
    let hs = sfu_homeserver(&address).await;
    let Pair { first: (_, alices_token), second: (_, bobs_token), .. } = two_in_a_room(&hs, "alice", "bob").await;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/sfu_browser.mjs");
    let mut command = tokio::process::Command::new(judge_dir.join("node"));
    command
        .arg(script)
        .arg("--modules")
        .arg(&judge_dir)
        .args(["--chromium", CHROMIUM, "--url", &alices_token.url])
        .args(["--publisher-token", &alices_token.jwt, "--subscriber-token", &bobs_token.jwt])
        .args(["--timeout", &BROWSER_TIMEOUT_SECS.to_string(), "--min-frames", &BROWSER_MIN_FRAMES.to_string()]);
    let mut browser = JudgeProcess::spawn("browser", command);

    let wait = Duration::from_secs(BROWSER_TIMEOUT_SECS) + BROWSER_GRACE;
    let verdict = browser.wait_for("done or failed", wait, |e| e["event"] == "done" || e["event"] == "failed").await;
    assert_eq!(verdict.json["event"], "done", "the browser judge failed: {:#}", verdict.json);
    let status = browser.exited(BROWSER_EXIT_WAIT).await;
    assert!(status.success(), "the browser judge said done but exited with {status}");
    let lines: Vec<Value> = browser.lines().into_iter().map(|line| line.json).collect();

    // What reached Bob's page: both kinds, from Alice, bytes and frames.
    let alices_identity = lines
        .iter()
        .find(|e| e["event"] == "connected" && e["role"] == "publisher")
        .and_then(|e| e["identity"].as_str())
        .unwrap_or_else(|| panic!("the publisher never reported connected: {lines:#?}"));
    for kind in ["audio", "video"] {
        let inbound: Vec<&Value> = lines
            .iter()
            .filter(|e| e["event"] == "inbound" && e["kind"] == kind && e["participant"] == alices_identity)
            .collect();
        let bytes: Vec<u64> = inbound.iter().filter_map(|e| e["bytes"].as_u64()).filter(|&b| b > 0).collect();
        assert!(
            bytes.len() >= 2 && bytes.last() > bytes.first(),
            "the subscriber's {kind} inbound-rtp bytes from alice did not grow: {inbound:#?}"
        );
    }
    let frames = lines
        .iter()
        .filter(|e| e["event"] == "inbound" && e["kind"] == "video")
        .filter_map(|e| e["frames"].as_u64())
        .max();
    assert!(frames >= Some(BROWSER_MIN_FRAMES), "the subscriber decoded {frames:?} video frames");

    // Both pages went the way livekit-client goes on a server without v1:
    // /rtc/v1 first, the validate request's 404 read as "no v1 here", then
    // /rtc, on which they stayed (v0: a publisher and a subscriber
    // connection, not v1's single one).
    for role in ["publisher", "subscriber"] {
        let console: Vec<&str> = console_lines(&lines, role).collect();
        let tried_v1 = console.iter().position(|t| t.contains("signal connecting to") && t.contains("/rtc/v1?"));
        let fell_back = console.iter().position(|t| t.contains("v1 RTC path not found"));
        let went_v0 =
            console.iter().position(|t| t.contains("signal connecting to") && t.contains(&format!("{SFU}/rtc?")));
        assert!(
            tried_v1.is_some() && tried_v1 < fell_back && fell_back < went_v0,
            "the {role} page did not try /rtc/v1, fall back on the 404 and connect to /rtc, in that order: {console:#?}"
        );
        let connected = lines
            .iter()
            .find(|e| e["event"] == "connected" && e["role"] == role)
            .unwrap_or_else(|| panic!("the {role} page never reported connected"));
        assert_eq!(connected["signal_path"], "v0", "the {role} page's signalling: {connected:#}");
        assert!(
            connected["pc_mode"].as_str().is_some_and(|mode| mode != "publisher-only"),
            "the {role} page runs v1's single peer connection: {connected:#}"
        );
    }
}
