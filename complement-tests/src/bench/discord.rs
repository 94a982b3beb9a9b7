//! The Discord-compatible bot API that `nexus serve` runs in-process
//! (`appservice-bridge`): how fast bots create messages over REST, how soon
//! a Matrix message reaches a bot's gateway socket as MESSAGE_CREATE, and
//! what many gateway sessions cost. Nexus only: Synapse has no bot API.
//!
//! Setup (not measured): one owner, one Nexus server with `--rooms` text
//! channels (default concurrency / 4; `general` is one of them), and
//! `--bots` applications with the MESSAGE_CONTENT intent, each added to
//! the server through the developer portal (it joins the space and every
//! channel). The figures, in the order they are measured:
//!
//! - `discord_rest_creates`: `--concurrency` workers, worker w acting as
//!   bot w mod `--bots`, each `POST /channels/{id}/messages` after another,
//!   round-robin over the channels, until the count or the duration. Bots
//!   are held to the bot API's limit (10 creates per 2 s per bot and
//!   channel): like discord.py, a worker reads `X-RateLimit-Remaining` /
//!   `-Reset-After` and moves to a channel with room left instead of
//!   collecting 429s; a 429 that still comes is waited out (`Retry-After`)
//!   and counted in `retries_429`. Latency is the one request that created
//!   the message; `rate_limit_ceiling_per_s` is what the limits allow.
//!   No gateway session is connected yet.
//! - `discord_dispatch_latency`: every bot connected to the gateway (one
//!   session each, all of them hearing every message); the owner sends
//!   messages one after another to `general` through the client-server
//!   API; latency runs from issuing the `PUT /send` to the MESSAGE_CREATE
//!   carrying that text arriving on the first bot's socket.
//! - `discord_gateway_sessions` (`--gateway-sessions`, 0 skips it): that
//!   many sessions identify with the bots' tokens in turn; latency is one
//!   session's connect → HELLO → IDENTIFY → READY and its GUILD_CREATE,
//!   the wall time is all of them ready; with `--pid`, the server's
//!   resident memory before and after.
//! - `discord_gateway_fanout`: with those sessions connected, one Matrix
//!   message at a time; latency runs from the send to the last session
//!   receiving its MESSAGE_CREATE.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, Stream, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::http::{self, Account, Pool};
use super::{Bench, Figure, Report, system};
use crate::client::enc;

/// Default measured counts.
const CREATES_COUNT: u64 = 10_000;
const DISPATCH_COUNT: u64 = 500;
const FANOUT_COUNT: u64 = 20;
/// GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT.
const INTENTS: u64 = 1 | 1 << 9 | 1 << 15;
/// A message whose MESSAGE_CREATE takes longer than this counts as lost.
const DISPATCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The bound of one session's connect, IDENTIFY and READY.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Sessions being connected at once.
const CONNECT_PARALLELISM: usize = 16;
/// The bot API's message-create limit, per bot token and channel.
const CREATES_PER_WINDOW: u32 = 10;
const CREATES_WINDOW: Duration = Duration::from_secs(2);
/// Requests one bot may make per second over everything.
const GLOBAL_PER_SECOND: f64 = 50.0;
/// The time bound of one REST request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Gives up on a setup request rate-limited this many times in a row.
const MAX_SETUP_RETRIES: u32 = 100;

/// Every figure of the workload.
pub async fn discord_workloads(bench: &Bench) -> Result<Report> {
    let setup = Setup::build(bench).await.context("discord setup")?;
    let mut report = Report::default();
    let creates = rest_creates(bench, &setup).await.context("discord REST creates")?;
    report.add("discord_rest_creates", creates.with("setup_ms", setup.setup_ms));
    report.add("discord_dispatch_latency", dispatch_latency(bench, &setup).await.context("discord dispatch")?);
    if bench.config.gateway_sessions > 0 {
        let (sessions, fanout) = gateway_sessions(bench, &setup).await.context("discord gateway sessions")?;
        report.add("discord_gateway_sessions", sessions);
        report.add("discord_gateway_fanout", fanout);
    }
    Ok(report)
}

/// One application's bot.
#[derive(Clone, Debug)]
struct Bot {
    token: String,
}

/// The server, its channels and the bots in it.
struct Setup {
    owner: Account,
    /// The room of `general`, where the owner's Matrix messages go.
    general_room: String,
    /// `general`'s snowflake.
    general: String,
    /// Every text channel's snowflake (`general` included).
    channels: Vec<String>,
    bots: Vec<Bot>,
    /// `GET /gateway/bot`'s url, with `?v=10&encoding=json`.
    gateway: String,
    setup_ms: f64,
}

impl Setup {
    async fn build(bench: &Bench) -> Result<Setup> {
        let started = Instant::now();
        let channel_count = bench.config.rooms.unwrap_or(bench.config.concurrency / 4).max(1);
        let bot_count = bench.config.bots.max(1);
        eprintln!(
            "nexus-bench: setting up a Nexus server with {channel_count} text channels and {bot_count} bots (not measured)"
        );
        let owner = bench.users("discord-owner", 1).await?.remove(0);
        let name = bench.marker("discord bench");
        let body = json!({"name": name});
        let server =
            bench.setup.call(Method::POST, "/_nexus/client/v1/servers", Some(&owner.token), Some(&body)).await?;
        let space = server["server_id"].as_str().with_context(|| format!("no server_id in {server}"))?.to_owned();
        let general_room =
            server["channels"][0].as_str().with_context(|| format!("no channels in {server}"))?.to_owned();
        // One channel after another: they are all children of one space.
        let channels_path = format!("/_nexus/client/v1/servers/{}/channels", enc(&space));
        for c in 1..channel_count {
            let body = json!({"name": format!("bench-{c}")});
            bench.setup.call(Method::POST, &channels_path, Some(&owner.token), Some(&body)).await?;
        }

        // The bots, made and added once every channel exists (a bot joins
        // the channels the space has when it is added).
        let jobs: Vec<_> = (0..bot_count)
            .map(|i| {
                let (http, owner, space) = (bench.setup.clone(), owner.clone(), space.clone());
                async move {
                    let body = json!({"name": format!("benchbot{i}"), "privileged_intents": ["message_content"]});
                    let app = http
                        .call(Method::POST, "/_nexus/bridge/v1/applications", Some(&owner.token), Some(&body))
                        .await?;
                    let id = app["id"].as_str().with_context(|| format!("no application id in {app}"))?;
                    let token = app["token"].as_str().with_context(|| format!("no bot token in {app}"))?.to_owned();
                    let path = format!("/_nexus/bridge/v1/applications/{id}/guilds/{}", enc(&space));
                    http.call(Method::POST, &path, Some(&owner.token), Some(&json!({}))).await?;
                    Ok(Bot { token })
                }
            })
            .collect();
        let bots = http::bounded(bench.config.setup_parallelism(), jobs).await.context("make and add the bots")?;

        // The channels' snowflakes, as the first bot sees them.
        let rest = Rest::new(&bench.config.url, 4)?;
        let token = &bots[0].token;
        let guilds = rest.call(Method::GET, "/users/@me/guilds", token, None).await?;
        let guild = guilds
            .as_array()
            .and_then(|all| all.iter().find(|g| g["name"] == name.as_str()))
            .with_context(|| format!("the bot is not in the guild {name:?}: {guilds}"))?;
        let guild_id = guild["id"].as_str().context("a guild without an id")?;
        let listed = rest.call(Method::GET, &format!("/guilds/{guild_id}/channels"), token, None).await?;
        let text: Vec<&Value> = listed.as_array().into_iter().flatten().filter(|c| c["type"] == 0).collect();
        let channels: Vec<String> = text.iter().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect();
        if channels.len() != channel_count {
            bail!("the bot sees {} text channels, not {channel_count}: {listed}", channels.len());
        }
        let general = text
            .iter()
            .find(|c| c["name"] == "general")
            .and_then(|c| c["id"].as_str())
            .with_context(|| format!("no general channel in {listed}"))?
            .to_owned();
        let gateway = rest.call(Method::GET, "/gateway/bot", token, None).await?;
        let gateway = gateway["url"].as_str().with_context(|| format!("no gateway url in {gateway}"))?;
        let setup_ms = started.elapsed().as_secs_f64() * 1e3;
        eprintln!("nexus-bench: discord setup took {:.1} s", setup_ms / 1e3);
        Ok(Setup {
            owner,
            general_room,
            general,
            channels,
            bots,
            gateway: format!("{gateway}?v=10&encoding=json"),
            setup_ms,
        })
    }
}

/// Discord REST over plain HTTP/1.1: `Authorization: Bot <token>`.
#[derive(Clone)]
struct Rest {
    client: reqwest::Client,
    base: Arc<str>,
}

/// One REST answer, with the rate-limit headers that pace the next request.
struct Answer {
    status: u16,
    json: Value,
    elapsed: Duration,
    /// `X-RateLimit-Remaining` and `X-RateLimit-Reset-After`.
    remaining: Option<u32>,
    reset_after: Option<Duration>,
    /// A 429's wait: the body's `retry_after`, else `Retry-After`.
    retry_after: Option<Duration>,
}

impl Rest {
    fn new(url: &str, connections: usize) -> Result<Rest> {
        let client = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(connections.max(1))
            .tcp_nodelay(true)
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("build the HTTP client")?;
        Ok(Rest { client, base: format!("{}/api/v10", url.trim_end_matches('/')).into() })
    }

    /// One request, no retry.
    async fn request(&self, method: Method, path: &str, token: &str, body: Option<&Value>) -> Result<Answer> {
        let mut request = self.client.request(method.clone(), format!("{}{path}", self.base));
        request = request.header("authorization", format!("Bot {token}"));
        if let Some(body) = body {
            request = request.body(serde_json::to_vec(body)?).header("content-type", "application/json");
        }
        let started = Instant::now();
        let response = request.send().await.with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let remaining = header("x-ratelimit-remaining").and_then(|v| v.parse().ok());
        let reset_after = header("x-ratelimit-reset-after").and_then(|v| seconds(&v));
        let retry_header = header("retry-after").and_then(|v| seconds(&v));
        let bytes = response.bytes().await.with_context(|| format!("{method} {path}: read the body"))?;
        let elapsed = started.elapsed();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let retry_after =
            json["retry_after"].as_f64().and_then(|s| Duration::try_from_secs_f64(s).ok()).or(retry_header);
        Ok(Answer { status, json, elapsed, remaining, reset_after, retry_after })
    }

    /// A setup request: 429s waited out, anything but 200 an error.
    async fn call(&self, method: Method, path: &str, token: &str, body: Option<&Value>) -> Result<Value> {
        for _ in 0..MAX_SETUP_RETRIES {
            let answer = self.request(method.clone(), path, token, body).await?;
            match answer.status {
                200 => return Ok(answer.json),
                429 => tokio::time::sleep(answer.retry_after.unwrap_or(Duration::from_millis(500))).await,
                status => bail!("{method} {path} -> {status}: {}", answer.json),
            }
        }
        bail!("{method} {path}: still rate-limited after {MAX_SETUP_RETRIES} waits")
    }
}

fn seconds(text: &str) -> Option<Duration> {
    text.trim().parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok())
}

/// The client side of the create limit: per (bot, channel), what the last
/// answer said is left in the window and when it resets, and the requests
/// in flight.
struct Pacer {
    channels: usize,
    buckets: Mutex<Vec<Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    /// None: nothing known (a fresh window), so the whole limit.
    remaining: Option<u32>,
    reset_at: Instant,
    in_flight: u32,
}

impl Pacer {
    fn new(bots: usize, channels: usize) -> Pacer {
        let fresh = Bucket { remaining: None, reset_at: Instant::now(), in_flight: 0 };
        Pacer { channels, buckets: Mutex::new(vec![fresh; bots * channels]) }
    }

    /// The first channel from `from` on where `bot` may create now (and
    /// takes a slot there), or when the earliest of them frees up.
    fn reserve(&self, bot: usize, from: usize) -> Result<usize, Instant> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap();
        let mut earliest: Option<Instant> = None;
        for k in 0..self.channels {
            let channel = (from + k) % self.channels;
            let bucket = &mut buckets[bot * self.channels + channel];
            if bucket.remaining.is_some() && now >= bucket.reset_at {
                bucket.remaining = None;
            }
            if bucket.in_flight < bucket.remaining.unwrap_or(CREATES_PER_WINDOW) {
                bucket.in_flight += 1;
                return Ok(channel);
            }
            let frees = if bucket.remaining.is_some() { bucket.reset_at } else { now + Duration::from_millis(5) };
            earliest = Some(earliest.map_or(frees, |e| e.min(frees)));
        }
        Err(earliest.unwrap_or(now + Duration::from_millis(5)))
    }

    /// A reserved request answered: its slot freed, and what the answer
    /// said of the window (a 429's `retry_after`: nothing left until then).
    fn settle(&self, bot: usize, channel: usize, answer: Option<&Answer>) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap();
        let bucket = &mut buckets[bot * self.channels + channel];
        bucket.in_flight = bucket.in_flight.saturating_sub(1);
        match answer {
            Some(a) if a.status == 429 => {
                bucket.remaining = Some(0);
                bucket.reset_at = now + a.retry_after.unwrap_or(CREATES_WINDOW);
            }
            Some(Answer { remaining: Some(remaining), reset_after: Some(after), .. }) => {
                bucket.remaining = Some(*remaining);
                bucket.reset_at = now + *after;
            }
            _ => {}
        }
    }
}

/// `--concurrency` workers creating messages round-robin over the channels.
async fn rest_creates(bench: &Bench, setup: &Setup) -> Result<Figure> {
    let workers = bench.config.concurrency.max(1);
    let (bots, channels) = (setup.bots.len(), setup.channels.len());
    let rest = Rest::new(&bench.config.url, workers)?;
    let pacer = Arc::new(Pacer::new(bots, channels));
    let channels_of: Arc<Vec<String>> = Arc::new(setup.channels.clone());

    // Warm-up: one create per worker (opens the connections), unmeasured.
    let warmups: Vec<_> = (0..workers)
        .map(|w| {
            let (rest, token, channel) =
                (rest.clone(), setup.bots[w % bots].token.clone(), setup.channels[w % channels].clone());
            async move {
                let body = json!({"content": "warm-up"});
                rest.call(Method::POST, &format!("/channels/{channel}/messages"), &token, Some(&body)).await.map(drop)
            }
        })
        .collect();
    http::bounded(workers, warmups).await.context("warm-up creates")?;
    // Let the warm-up's windows pass.
    tokio::time::sleep(CREATES_WINDOW).await;

    let count = bench.config.count_or(CREATES_COUNT);
    let issued = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + bench.config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (rest, pacer, channels_of, issued, retries) =
            (rest.clone(), pacer.clone(), channels_of.clone(), issued.clone(), retries.clone());
        let (bot, token) = (w % bots, setup.bots[w % bots].token.clone());
        // Workers of one bot start on different channels.
        let mut cursor = (w / bots) * channels / workers.div_ceil(bots).max(1);
        tasks.spawn(async move {
            let (mut samples, mut errors, mut n) = (Vec::<Duration>::new(), 0u64, 0u64);
            'creates: while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < count {
                n += 1;
                let body = json!({"content": format!("created by worker {w}, message {n}")});
                loop {
                    let channel = match pacer.reserve(bot, cursor) {
                        Ok(channel) => channel,
                        Err(frees) => {
                            if frees >= deadline {
                                break 'creates;
                            }
                            tokio::time::sleep_until(frees.into()).await;
                            continue;
                        }
                    };
                    cursor = channel + 1;
                    let path = format!("/channels/{}/messages", channels_of[channel]);
                    match rest.request(Method::POST, &path, &token, Some(&body)).await {
                        Ok(answer) => {
                            pacer.settle(bot, channel, Some(&answer));
                            match answer.status {
                                200 => samples.push(answer.elapsed),
                                429 => {
                                    retries.fetch_add(1, Ordering::Relaxed);
                                    continue;
                                }
                                status => {
                                    errors += 1;
                                    eprintln!("nexus-bench: create -> {status}: {}", answer.json);
                                }
                            }
                        }
                        Err(e) => {
                            pacer.settle(bot, channel, None);
                            errors += 1;
                            eprintln!("nexus-bench: create failed: {e:#}");
                        }
                    }
                    break;
                }
            }
            (samples, errors)
        });
    }
    let (mut samples, mut errors) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (s, e) = done.context("a create worker panicked")?;
        samples.extend(s);
        errors += e;
    }
    let wall = started.elapsed();
    // Per bot: 10 creates per 2 s per channel, and 50 requests a second
    // over everything (the bot API's global limit).
    let per_bot =
        (channels as f64 * f64::from(CREATES_PER_WINDOW) / CREATES_WINDOW.as_secs_f64()).min(GLOBAL_PER_SECOND);
    let ceiling = bots as f64 * per_bot;
    let figure = Figure::from_latencies(&samples, wall, retries.load(Ordering::Relaxed), errors)?;
    Ok(figure
        .with("bots", bots as f64)
        .with("channels", channels as f64)
        .with("workers", workers as f64)
        .with("rate_limit_ceiling_per_s", ceiling))
}

/// Every bot on the gateway; the owner's messages timed to the first bot's socket.
async fn dispatch_latency(bench: &Bench, setup: &Setup) -> Result<Figure> {
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let tokens: Vec<String> = setup.bots.iter().map(|b| b.token.clone()).collect();
    let (sessions, failed) = connect_all(&setup.gateway, &tokens, tokens.len(), |i| (i == 0).then(|| tx.clone())).await;
    drop(tx);
    if failed > 0 || sessions.is_empty() {
        close_all(sessions).await;
        bail!("{failed} of {} bots could not connect to the gateway", tokens.len());
    }
    let client = bench.client(Pool::Single)?;
    let marker = bench.marker("dispatch");
    let send = |content: String| {
        let (client, owner, room, txn) =
            (client.clone(), setup.owner.clone(), setup.general_room.clone(), bench.txn_id());
        async move { http::send_text(&client, &owner, &room, &txn, &content).await }
    };
    // Warm-up: one message, unmeasured.
    let warmup = format!("{marker} warm-up");
    let t0 = Instant::now();
    send(warmup.clone()).await?;
    if arrival_of(&mut arrivals, &warmup, t0 + DISPATCH_TIMEOUT).await.is_none() {
        close_all(sessions).await;
        bail!("the warm-up message never reached the bot's socket");
    }

    let count = bench.config.count_or(DISPATCH_COUNT);
    let retries_before = client.retries();
    let (mut samples, mut acks, mut errors, mut wrong_channel) = (Vec::new(), Vec::new(), 0u64, 0u64);
    let started = Instant::now();
    let deadline = started + bench.config.duration;
    for i in 0..count {
        if Instant::now() >= deadline {
            break;
        }
        let content = format!("{marker} {i}");
        let t0 = Instant::now();
        if let Err(e) = send(content.clone()).await {
            errors += 1;
            eprintln!("nexus-bench: dispatch send failed: {e:#}");
            continue;
        }
        acks.push(t0.elapsed());
        match arrival_of(&mut arrivals, &content, t0 + DISPATCH_TIMEOUT).await {
            Some(arrival) => {
                samples.push(arrival.at.saturating_duration_since(t0));
                if arrival.channel_id != setup.general {
                    wrong_channel += 1;
                }
            }
            None => {
                errors += 1;
                eprintln!("nexus-bench: no MESSAGE_CREATE for {content:?} within {DISPATCH_TIMEOUT:?}");
            }
        }
    }
    let wall = started.elapsed();
    let dropped = close_all(sessions).await;
    if wrong_channel > 0 {
        bail!("{wrong_channel} MESSAGE_CREATEs named another channel than general ({})", setup.general);
    }
    let figure = Figure::from_latencies(&samples, wall, client.retries() - retries_before, errors)?;
    let mut acks_ms: Vec<f64> = acks.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    acks_ms.sort_by(f64::total_cmp);
    Ok(figure
        .with("sessions", tokens.len() as f64)
        .with("sessions_dropped", dropped as f64)
        .with("matrix_send_p50_ms", super::stats::percentile(&acks_ms, 50.0))
        .with("matrix_send_p99_ms", super::stats::percentile(&acks_ms, 99.0)))
}

/// `--gateway-sessions` sessions, then messages fanned out to all of them.
async fn gateway_sessions(bench: &Bench, setup: &Setup) -> Result<(Figure, Figure)> {
    let wanted = bench.config.gateway_sessions;
    let pid = bench.config.pid;
    let rss = |pid: Option<u32>| -> Result<Option<f64>> {
        pid.map(|pid| system::memory(pid).map(|m| m.get("rss_kib").unwrap_or(0.0))).transpose()
    };
    let rss_before = rss(pid)?;
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let tokens: Vec<String> = setup.bots.iter().map(|b| b.token.clone()).collect();
    eprintln!("nexus-bench: connecting {wanted} gateway sessions");
    let started = Instant::now();
    let (sessions, failed) = connect_all(&setup.gateway, &tokens, wanted, |_| Some(tx.clone())).await;
    let wall = started.elapsed();
    drop(tx);
    let ready: Vec<Duration> = sessions.iter().map(|s| s.ready_in).collect();
    let rss_after = rss(pid)?;
    let connected = sessions.len();
    let mut figure = match Figure::from_latencies(&ready, wall, 0, failed) {
        Ok(figure) => figure,
        Err(e) => {
            close_all(sessions).await;
            return Err(e);
        }
    };
    figure = figure.with("sessions", connected as f64).with("bots", tokens.len() as f64);
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        figure = figure
            .with("rss_before_mib", before / 1024.0)
            .with("rss_after_mib", after / 1024.0)
            .with("rss_per_session_kib", (after - before) / connected.max(1) as f64);
    }

    // Fan-out: one message at a time to every connected session.
    let client = bench.client(Pool::Single)?;
    let marker = bench.marker("fanout");
    let count = bench.config.count_or(FANOUT_COUNT).min(FANOUT_COUNT);
    let (mut samples, mut firsts, mut errors) = (Vec::new(), Vec::new(), 0u64);
    let fanout_started = Instant::now();
    for i in 0..count {
        let content = format!("{marker} {i}");
        let t0 = Instant::now();
        if let Err(e) = http::send_text(&client, &setup.owner, &setup.general_room, &bench.txn_id(), &content).await {
            errors += 1;
            eprintln!("nexus-bench: fan-out send failed: {e:#}");
            continue;
        }
        let give_up = t0 + DISPATCH_TIMEOUT * 3;
        let mut heard = HashSet::new();
        let (mut first, mut last) = (None, None);
        while heard.len() < connected {
            let Some(arrival) = arrival_of(&mut arrivals, &content, give_up).await else { break };
            if heard.insert(arrival.session) {
                first.get_or_insert(arrival.at);
                last = Some(arrival.at);
            }
        }
        match last {
            Some(last) if heard.len() == connected => {
                samples.push(last.saturating_duration_since(t0));
                firsts.push(first.unwrap_or(last).saturating_duration_since(t0).as_secs_f64() * 1e3);
            }
            _ => {
                errors += 1;
                eprintln!("nexus-bench: {content:?} reached {} of {connected} sessions", heard.len());
            }
        }
    }
    let fanout_wall = fanout_started.elapsed();
    let dropped = close_all(sessions).await;
    let fanout = Figure::from_latencies(&samples, fanout_wall, client.retries(), errors)?;
    firsts.sort_by(f64::total_cmp);
    let first_p50 = if firsts.is_empty() { 0.0 } else { super::stats::percentile(&firsts, 50.0) };
    Ok((
        figure.with("sessions_dropped", dropped as f64),
        fanout.with("sessions", connected as f64).with("first_session_p50_ms", first_p50),
    ))
}

/// The next MESSAGE_CREATE carrying `content` (others are skipped: a late
/// one of a message already counted as lost), or None at `deadline`.
async fn arrival_of(
    arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
    content: &str,
    deadline: Instant,
) -> Option<Arrival> {
    loop {
        match tokio::time::timeout_at(deadline.into(), arrivals.recv()).await {
            Ok(Some(arrival)) if arrival.content == content => return Some(arrival),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

/// `n` sessions with `tokens` in turn, [`CONNECT_PARALLELISM`] at a time;
/// session i reports its MESSAGE_CREATEs to `report(i)`. The connected
/// sessions, and how many failed (each failure printed).
async fn connect_all(
    gateway: &str,
    tokens: &[String],
    n: usize,
    report: impl Fn(usize) -> Option<mpsc::UnboundedSender<Arrival>>,
) -> (Vec<Session>, u64) {
    let jobs: Vec<_> = (0..n)
        .map(|i| {
            let (gateway, token, arrivals) = (gateway.to_owned(), tokens[i % tokens.len()].clone(), report(i));
            async move { Ok(Session::connect(&gateway, &token, i, arrivals).await) }
        })
        .collect();
    let results = http::bounded(CONNECT_PARALLELISM, jobs).await.unwrap_or_default();
    let (mut sessions, mut failed) = (Vec::with_capacity(n), 0);
    for result in results {
        match result {
            Ok(session) => sessions.push(session),
            Err(e) => {
                failed += 1;
                eprintln!("nexus-bench: a gateway session failed to start: {e:#}");
            }
        }
    }
    (sessions, failed)
}

/// Closes every session; how many had already ended with an error.
async fn close_all(sessions: Vec<Session>) -> usize {
    let closing: Vec<_> = sessions.into_iter().map(Session::close).collect();
    let mut dropped = 0;
    for result in futures_util::future::join_all(closing).await {
        if let Err(e) = result {
            dropped += 1;
            eprintln!("nexus-bench: a gateway session ended early: {e:#}");
        }
    }
    dropped
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A MESSAGE_CREATE as a session received it.
#[derive(Debug)]
struct Arrival {
    session: usize,
    content: String,
    channel_id: String,
    at: Instant,
}

/// One identified gateway session; a task reads its frames and heartbeats.
struct Session {
    /// From opening the connection to READY and every guild's GUILD_CREATE.
    ready_in: Duration,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<()>>,
}

impl Session {
    async fn connect(
        url: &str,
        token: &str,
        index: usize,
        arrivals: Option<mpsc::UnboundedSender<Arrival>>,
    ) -> Result<Session> {
        let started = Instant::now();
        let handshake = async {
            let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
                .await
                .with_context(|| format!("connect to {url}"))?;
            let (mut sink, mut stream) = ws.split();
            let hello = next_frame(&mut stream).await?;
            if hello["op"] != 10 {
                bail!("the gateway's first frame is not HELLO: {hello}");
            }
            let interval = hello["d"]["heartbeat_interval"].as_u64().with_context(|| format!("HELLO: {hello}"))?;
            let identify = json!({"op": 2, "d": {
                "token": token,
                "intents": INTENTS,
                "properties": {"os": "linux", "browser": "nexus-bench", "device": "nexus-bench"},
            }});
            sink.send(Message::text(identify.to_string())).await.context("send IDENTIFY")?;
            // READY names the guilds; each then comes as GUILD_CREATE, and
            // only after the last does the session hear every channel.
            let (mut seq, mut pending): (Value, Option<HashSet<String>>) = (Value::Null, None);
            while pending.as_ref().is_none_or(|p| !p.is_empty()) {
                let frame = next_frame(&mut stream).await?;
                if let Some(s) = frame["s"].as_u64() {
                    seq = json!(s);
                }
                match (frame["op"].as_u64(), frame["t"].as_str()) {
                    (Some(0), Some("READY")) => {
                        let guilds = frame["d"]["guilds"].as_array().with_context(|| format!("READY: {frame}"))?;
                        pending = Some(guilds.iter().filter_map(|g| g["id"].as_str().map(str::to_owned)).collect());
                    }
                    (Some(0), Some("GUILD_CREATE")) => {
                        if let (Some(pending), Some(id)) = (pending.as_mut(), frame["d"]["id"].as_str()) {
                            pending.remove(id);
                        }
                    }
                    (Some(0 | 11), _) => {}
                    (Some(1), _) => heartbeat(&mut sink, &seq).await?,
                    _ => bail!("IDENTIFY answered with {frame}"),
                }
            }
            Ok((sink, stream, Duration::from_millis(interval.max(1)), seq))
        };
        let (sink, stream, interval, seq) = tokio::time::timeout(READY_TIMEOUT, handshake)
            .await
            .with_context(|| format!("no READY within {READY_TIMEOUT:?}"))??;
        let ready_in = started.elapsed();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run_session(sink, stream, interval, seq, index, arrivals, stopped));
        Ok(Session { ready_in, stop: Some(stop), task })
    }

    /// Sends a close frame and ends the task; an error if the session had
    /// already ended with one.
    async fn close(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.context("a gateway task panicked")?
    }
}

async fn heartbeat(sink: &mut SplitSink<Ws, Message>, seq: &Value) -> Result<()> {
    sink.send(Message::text(json!({"op": 1, "d": seq}).to_string())).await.context("send a heartbeat")
}

/// The next text frame as JSON.
async fn next_frame<S>(stream: &mut S) -> Result<Value>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            None => bail!("the gateway closed the connection"),
            Some(Err(e)) => return Err(e).context("read from the gateway"),
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str())
                    .with_context(|| format!("a frame that is not JSON: {text}"));
            }
            Some(Ok(Message::Close(frame))) => bail!("the gateway closed the connection: {frame:?}"),
            Some(Ok(Message::Binary(_))) => bail!("a binary frame, though no compression was asked for"),
            Some(Ok(_)) => continue,
        }
    }
}

/// Reads the session's dispatches (reporting MESSAGE_CREATEs) and sends a
/// heartbeat every interval, until stopped or the gateway ends it.
async fn run_session(
    mut sink: SplitSink<Ws, Message>,
    mut stream: SplitStream<Ws>,
    interval: Duration,
    mut seq: Value,
    index: usize,
    arrivals: Option<mpsc::UnboundedSender<Arrival>>,
    mut stopped: oneshot::Receiver<()>,
) -> Result<()> {
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        tokio::select! {
            _ = &mut stopped => {
                let _ = sink.send(Message::Close(None)).await;
                return Ok(());
            }
            _ = beat.tick() => heartbeat(&mut sink, &seq).await?,
            frame = next_frame(&mut stream) => {
                let at = Instant::now();
                let frame = frame?;
                if let Some(s) = frame["s"].as_u64() {
                    seq = json!(s);
                }
                match frame["op"].as_u64() {
                    Some(0) if frame["t"] == "MESSAGE_CREATE" => {
                        if let Some(arrivals) = &arrivals {
                            let data = &frame["d"];
                            let _ = arrivals.send(Arrival {
                                session: index,
                                content: data["content"].as_str().unwrap_or_default().to_owned(),
                                channel_id: data["channel_id"].as_str().unwrap_or_default().to_owned(),
                                at,
                            });
                        }
                    }
                    Some(0 | 11) => {}
                    Some(1) => heartbeat(&mut sink, &seq).await?,
                    Some(7) => bail!("the gateway asked for a reconnect"),
                    Some(9) => bail!("the gateway invalidated the session"),
                    _ => bail!("an unexpected frame: {frame}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_moves_on_to_channels_with_room() {
        let pacer = Pacer::new(1, 2);
        for _ in 0..CREATES_PER_WINDOW {
            assert_eq!(pacer.reserve(0, 0), Ok(0));
        }
        assert_eq!(pacer.reserve(0, 0), Ok(1), "channel 0 has its whole window in flight");
        let answer = Answer {
            status: 200,
            json: Value::Null,
            elapsed: Duration::ZERO,
            remaining: Some(0),
            reset_after: Some(Duration::from_secs(1)),
            retry_after: None,
        };
        pacer.settle(0, 1, Some(&answer));
        for _ in 0..CREATES_PER_WINDOW {
            pacer.settle(0, 0, Some(&answer));
        }
        let frees = pacer.reserve(0, 0).expect_err("both windows are used up");
        assert!(frees > Instant::now() + Duration::from_millis(500));
    }
}
