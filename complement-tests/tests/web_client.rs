//! The Nexus web client (`clients/web`) as its users meet it: served by
//! `nexus serve` at `/` beside the APIs, then used by two people in Debian's
//! Chromium, driven through playwright-core by `clients/web/e2e/scenario.mjs`
//! (register, create a server, invite by code, markdown and code, reactions,
//! a thread, a poll tallied by the server, a role that takes posting away,
//! themes, a message written offline, an encrypted DM verified by emoji —
//! and not one request to any host but the homeserver).
//!
//! The client is built by `scripts/web-client.sh` (into
//! `NEXUS_WEB_CLIENT_DIR`, default `~/.cache/nexus-web/dist`), which also
//! links `clients/web/node_modules` (playwright-core); Node 22 comes from
//! `NEXUS_JS_DIR` (`scripts/js-judge.sh`). Without them the scenarios are
//! skipped with a SKIP line, unless `NEXUS_TEST_REQUIRE_WEB_CLIENT=1`.
//! `NEXUS_WEB_SHOTS=<dir>` keeps the screenshots (the README's come from
//! `docs/screenshots`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nexus_complement::{Backend, Homeserver};
use serde_json::Value;

/// The browser scenario's whole run.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);
const CHROMIUM: &str = "/usr/bin/chromium";

struct WebClient {
    node: PathBuf,
    dist: PathBuf,
    scenario: PathBuf,
}

fn web_client() -> Option<WebClient> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let dist = std::env::var_os("NEXUS_WEB_CLIENT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/nexus-web/dist"));
    let js = std::env::var_os("NEXUS_JS_DIR").map(PathBuf::from).unwrap_or_else(|| home.join(".cache/nexus-js"));
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/web");
    let client = WebClient { node: js.join("node_modules/.bin/node"), dist, scenario: web.join("e2e/scenario.mjs") };
    let ready = client.node.is_file()
        && client.dist.join("index.html").is_file()
        && web.join("node_modules/playwright-core").is_dir()
        && Path::new(CHROMIUM).is_file();
    if ready {
        return Some(client);
    }
    if std::env::var("NEXUS_TEST_REQUIRE_WEB_CLIENT").as_deref() == Ok("1") {
        panic!(
            "the web client is not built in {} or its judge is missing (scripts/web-client.sh, scripts/browser-judge.sh)",
            client.dist.display()
        );
    }
    None
}

async fn serving(client: &WebClient) -> Homeserver {
    Homeserver::builder(Backend::RocksDb).env("NEXUS__WEB_CLIENT__PATH", client.dist.to_string_lossy()).start().await
}

#[tokio::test]
async fn the_client_is_served_at_the_root_and_the_apis_stay_apis() {
    let Some(client) = web_client() else {
        eprintln!("SKIP web_client: the web client is not built (scripts/web-client.sh)");
        return;
    };
    let hs = serving(&client).await;
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", hs.base_url())).send();

    let page = get("/").await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'"), "{csp}");
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<div id="root">"#), "{html}");

    // A hashed asset named by the page is immutable.
    let asset =
        html.split('"').find(|s| s.starts_with("./assets/") && s.ends_with(".js")).expect("a script in index.html");
    let plain = get(&asset[1..]).await.unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.unwrap().len();
    // Browsers that accept gzip get the build's compressed copy.
    let (head, body_len) = raw_get(&hs.base_url(), &asset[1..], "accept-encoding: gzip").await;
    assert!(head.to_ascii_lowercase().contains("content-encoding: gzip"), "{head}");
    assert!(body_len < plain_len / 2, "{body_len} of {plain_len} bytes");

    // A deep link reloads into the app; an unknown API path is still the spec's error.
    let deep = get("/servers/somewhere").await.unwrap();
    assert_eq!(deep.status(), 200);
    assert!(deep.text().await.unwrap().contains(r#"<div id="root">"#));
    for path in ["/_matrix/client/v3/no_such_endpoint", "/_nexus/client/v1/nothing", "/_synapse/admin/v1/nothing"] {
        let answer = get(path).await.unwrap();
        assert_eq!(answer.status(), 404, "{path}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["errcode"], "M_UNRECOGNIZED", "{path}");
    }
    let post = http.post(format!("{}/", hs.base_url())).body("{}").send().await.unwrap();
    assert_eq!(post.json::<Value>().await.unwrap()["errcode"], "M_UNRECOGNIZED");
    // A path escaping the directory is not served.
    let escape = get("/..%2f..%2fetc%2fpasswd").await.unwrap();
    assert!(!escape.text().await.unwrap().contains("root:"), "a file outside the client was served");
}

/// A GET written by hand, so the request carries exactly the headers given
/// (through reqwest, the `accept-encoding` asked for never reached the
/// server): the response head and the body's length.
async fn raw_get(base_url: &str, path: &str, header: &str) -> (String, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\n{header}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    (String::from_utf8_lossy(&answer[..split]).into_owned(), answer.len() - split - 4)
}

#[tokio::test]
async fn without_a_client_the_root_is_unrecognized() {
    let hs = Homeserver::start(Backend::RocksDb).await;
    let answer = reqwest::get(format!("{}/", hs.base_url())).await.unwrap();
    assert_eq!(answer.status(), 404);
    assert_eq!(answer.json::<Value>().await.unwrap()["errcode"], "M_UNRECOGNIZED");
}

/// Browser scenarios run one at a time: each drives Chromium pages and a
/// server, and on two cores in parallel they would measure each other.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `clients/web/e2e/{name}.mjs` against a fresh server; returns its
/// last line (`{"ok": true, ...figures}`).
async fn browser_scenario(name: &str) -> Option<Value> {
    let Some(client) = web_client() else {
        eprintln!("SKIP web_client::{name}: the web client is not built (scripts/web-client.sh)");
        return None;
    };
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let hs = serving(&client).await;
    Some(run_scenario(&client, name, &hs, &hs.base_url()).await)
}

/// Runs `clients/web/e2e/{name}.mjs` against `hs`, the pages opening
/// `base`; returns its last line, asserting it says ok.
async fn run_scenario(client: &WebClient, name: &str, hs: &Homeserver, base: &str) -> Value {
    let shots = tempfile::tempdir().unwrap();
    let shots_dir = std::env::var_os("NEXUS_WEB_SHOTS").map(PathBuf::from).unwrap_or_else(|| shots.path().to_owned());
    let script = client.scenario.with_file_name(format!("{name}.mjs"));
    let child = tokio::process::Command::new(&client.node)
        .arg(&script)
        .args(["--base", base, "--chromium", CHROMIUM, "--shots"])
        .arg(&shots_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let output = tokio::time::timeout(SCENARIO_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the web client scenario {name} did not finish within {SCENARIO_TIMEOUT:?}"))
        .expect("wait for node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last: Value = stdout.lines().last().and_then(|l| serde_json::from_str(l).ok()).unwrap_or(Value::Null);
    assert!(
        output.status.success() && last["ok"] == true,
        "the web client scenario {name} failed ({}):\n{stdout}\n{stderr}\n--- server log tail ---\n{}",
        output.status,
        hs.log_tail()
    );
    eprintln!("web client scenario {name}: {last}");
    last
}

/// Two people: register, a server, an invite link, markdown and code,
/// reactions, a mention, a thread, a poll, custom emoji, an image, a role
/// that takes posting away, themes, a profile, a message written offline,
/// an encrypted DM verified by emoji.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_use_the_client_in_chromium() {
    let Some(figures) = browser_scenario("scenario").await else { return };
    // Loopback, a debug build of the server, Chromium cold: the page must
    // still be usable within seconds (the release figures are in
    // docs/performance.md).
    assert!(figures["first_load_ms"].as_u64().is_some_and(|ms| ms < 10_000), "{figures}");
}

/// Channel settings: rename, topic, slowmode, an overwrite that denies
/// posting, encryption opt-in, deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_settings_and_overwrites_in_chromium() {
    browser_scenario("channels").await;
}

/// Scheduled events with RSVPs, pins, the threads browser, forum posts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pins_and_threads_in_chromium() {
    browser_scenario("community").await;
}

/// Log out and in, sessions (one signed out from another finds out at
/// once), a new password, account deletion; keyboard only; phone width.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_keyboard_and_phone_in_chromium() {
    browser_scenario("accounts").await;
}

/// Search: `from:` picked from suggestions, `has:link`, a typo, a saved
/// search rerun, this channel only, a jump across channels, a bad filter's
/// error, Ctrl+F and Escape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_with_filters_and_saved_searches_in_chromium() {
    let Some(figures) = browser_scenario("search").await else { return };
    assert_eq!((figures["from_results"].as_u64(), figures["link_results"].as_u64()), (Some(2), Some(1)), "{figures}");
}

/// Voice: two people join a voice channel through the token service and
/// the embedded SFU and hear each other (the pages' WebRTC receivers
/// decode audio), the channel list shows who is connected, a speaking ring
/// lights, a screen shared at 1080p is decoded at 1920×1080, the owner's
/// mute for everyone shows on both sides, deafen, the owner disconnects
/// the other, and hangs up.
/// Chromium offers no loopback ICE candidates, so this runs in a network
/// namespace of its own (`nexus_complement::netns`), the SFU on its veth
/// address; the pages open the server by the URL it advertises (its name),
/// which is where the token service sends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_channels_in_chromium() {
    const TEST: &str = "voice_channels_in_chromium";
    let Some(client) = web_client() else {
        eprintln!("SKIP web_client::{TEST}: the web client is not built (scripts/web-client.sh)");
        return;
    };
    // Outside, the namespace's run takes the browser's turn; inside, it is alone.
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let Some(address) = nexus_complement::netns::in_own_namespace(TEST).await else { return };
    let hs = Homeserver::builder(Backend::RocksDb)
        .env("NEXUS__WEB_CLIENT__PATH", client.dist.to_string_lossy())
        .env("NEXUS__SFU__UDP", format!("{address}:0"))
        .start()
        .await;
    let figures = run_scenario(&client, "voice", &hs, &format!("http://{}", hs.server_name())).await;
    assert_eq!(
        (figures["screen_width"].as_u64(), figures["screen_height"].as_u64()),
        (Some(1920), Some(1080)),
        "{figures}"
    );
}

/// Notification levels and desktop notifications: a channel set to nothing
/// and one to only mentions through the UI give exactly one browser
/// notification (the mention) for four messages, and its click opens the
/// channel; the push rules say what the spec says; a one-hour server mute
/// silences channels without a level of their own until unmuted; a
/// reload's first sync notifies of nothing; permission is never asked on
/// load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_settings_and_desktop_notifications_in_chromium() {
    let Some(figures) = browser_scenario("notifications").await else { return };
    let counts = [
        "notifications_after_levels",
        "notifications_while_muted",
        "notifications_after_unmute",
        "notifications_after_reload",
    ]
    .map(|figure| figures[figure].as_u64());
    assert_eq!(counts, [Some(1), Some(1), Some(1), Some(0)], "{figures}");
}

/// Client plugins: the bundled Quote plugin installed from settings (its
/// capabilities shown first), its message action and slash command used
/// and seen by the other person, its panel; a spy plugin installed from
/// pasted source finds no access token in all it receives, and every way
/// out of its sandbox (storage, the parent page, fetch to the homeserver…)
/// fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxed_plugins_in_chromium() {
    let Some(figures) = browser_scenario("plugins").await else { return };
    assert!(figures["spy_attempts_failed"].as_u64().is_some_and(|n| n >= 15), "{figures}");
}

/// Bots' slash commands: a discord.js bot made and added to a server
/// through the developer portal registers /roll, /forecast, /whisper and
/// /greet; in the composer `/` lists them (arrow keys move, `/ro` narrows), /roll
/// becomes a form whose out-of-bounds value is refused before sending, the
/// bot gets typed options and its answer shows under "… used /roll";
/// Escape turns the form back into plain text; a deferred answer is
/// "thinking" first; a member, a choice and a toggle are picked for
/// /greet; an ephemeral answer lands in the bot's direct room.
/// Needs the discord.js judge as well (`discord_js_judge`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_slash_commands_in_chromium() {
    if !discord_js_judge() {
        eprintln!("SKIP web_client::slash: discord.js is not installed (scripts/discord-js-judge.sh)");
        return;
    }
    let Some(figures) = browser_scenario("slash").await else { return };
    assert!(figures["answer_shown_ms"].as_u64().is_some(), "{figures}");
}

/// Whether the discord.js judge the slash scenario runs its bot with is
/// installed: `NEXUS_DISCORD_JS_DIR`, default `~/.cache/nexus-discord-js`
/// (as discord_bot_api.rs reads it; the scenario inherits the variable).
/// Missing, it fails the run under `NEXUS_TEST_REQUIRE_WEB_CLIENT=1`.
fn discord_js_judge() -> bool {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let dir = std::env::var_os("NEXUS_DISCORD_JS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/nexus-discord-js"));
    if dir.join("node_modules/discord.js").is_dir() {
        return true;
    }
    if std::env::var("NEXUS_TEST_REQUIRE_WEB_CLIENT").as_deref() == Ok("1") {
        panic!("discord.js is not installed in {} (scripts/discord-js-judge.sh)", dir.display());
    }
    false
}
