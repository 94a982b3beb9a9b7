//! Idle connections (issue 27): `--connections` `/sync` long-polls held
//! open at once, the server's resident memory per idle connection, and how
//! fast a message to a `--members`-member room reaches its members' polls
//! while the rest stay parked.
//!
//! The connections are plain HTTP/1.1 on sockets of their own (a pooled
//! client would multiplex them), spread over several loopback source
//! addresses so that one address's ephemeral ports are not the limit. The
//! room's members hold one connection each; the other connections belong
//! to users outside the room, about a hundred each, and are never woken.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use super::http::{self, Account};
use super::{Bench, Figure, Report, system};
use crate::client::enc;

/// Wake rounds measured (each: one message, every member's poll answers).
const ROUNDS: usize = 20;
/// Connections an idle user holds.
const CONNECTIONS_PER_IDLER: usize = 100;
/// Loopback source addresses: each gives ~28,000 ephemeral ports.
const SOURCES: u8 = 4;
/// Connections being opened (and their first request sent) at once.
const OPENING: usize = 512;
/// Times a connection is opened again after failing, before it counts as failed.
const RECONNECTS: u32 = 3;
/// The long-poll timeout asked for (the server caps it at 60 s).
const POLL_TIMEOUT_MS: u64 = 60_000;

pub async fn idle_connections(bench: &Bench) -> Result<Report> {
    let total = bench.config.connections;
    let members = bench.config.members.min(total);
    let idle = total - members;
    let idlers = idle.div_ceil(CONNECTIONS_PER_IDLER);
    eprintln!(
        "nexus-bench: {total} connections: {members} room members, {idle} idle by {idlers} users (setup, not measured)"
    );
    let member_accounts = bench.users("member", members).await?;
    let idler_accounts = bench.users("idler", idlers).await?;
    let room = http::create_public_room(&bench.setup, &member_accounts[0], "a big room's wake").await?;
    let joins: Vec<_> = member_accounts[1..]
        .iter()
        .map(|member| {
            let (http, member, room) = (bench.setup.clone(), member.clone(), room.clone());
            async move { http::join(&http, &member, &room).await }
        })
        .collect();
    http::bounded(bench.config.setup_parallelism(), joins).await?;

    // Every poll uses this filter: a timeline of one event, no presence.
    let filter = json!({"room": {"timeline": {"limit": 1}}, "presence": {"not_types": ["*"]}});
    let tokens = since_tokens(bench, member_accounts.iter().chain(&idler_accounts), &filter).await?;
    let (member_tokens, idler_tokens) = tokens.split_at(members);
    let target: SocketAddr = {
        let url = reqwest::Url::parse(&bench.config.url)?;
        let host: Ipv4Addr = url.host_str().unwrap_or("127.0.0.1").replace("localhost", "127.0.0.1").parse()?;
        SocketAddr::from((host, url.port().context("the URL needs a port")?))
    };
    let query = format!("timeout={POLL_TIMEOUT_MS}&filter={}", enc(&filter.to_string()));

    let rss_before = bench.config.pid.map(system::memory).transpose()?;
    let marker = bench.marker("wake");
    let shared = Arc::new(Shared {
        marker: marker.clone(),
        round_started: (0..ROUNDS).map(|_| AtomicU64::new(0)).collect(),
        epoch: Instant::now(),
        stop: AtomicBool::new(false),
        armed: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
    });
    let (wakes, mut woken) = mpsc::unbounded_channel();
    let opening = Arc::new(Semaphore::new(OPENING));
    let mut polls = tokio::task::JoinSet::new();
    let started = Instant::now();
    let owners =
        member_accounts
            .iter()
            .zip(member_tokens)
            .map(|(a, t)| (a, t, true))
            .chain((0..idle).map(|i| {
                (&idler_accounts[i / CONNECTIONS_PER_IDLER], &idler_tokens[i / CONNECTIONS_PER_IDLER], false)
            }));
    for (index, (account, since, member)) in owners.enumerate() {
        let source = Ipv4Addr::new(127, 0, 0, 2 + (index % usize::from(SOURCES)) as u8);
        let poll = Poll {
            source,
            target,
            query: query.clone(),
            token: account.token.clone(),
            since: since.clone(),
            member,
            shared: shared.clone(),
            wakes: wakes.clone(),
        };
        let opening = opening.clone();
        polls.spawn(async move { poll.run(opening).await });
    }
    // Every request written, then a moment for the server to park them all.
    let open_deadline = Instant::now() + Duration::from_secs(120);
    while shared.armed.load(Ordering::SeqCst) + shared.failed.load(Ordering::SeqCst) < total as u64 {
        if Instant::now() > open_deadline {
            bail!("only {} of {total} long-polls were sent within 120 s", shared.armed.load(Ordering::SeqCst));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let failed_opening = shared.failed.load(Ordering::SeqCst);
    if failed_opening > 0 {
        bail!("{failed_opening} of {total} connections failed while opening (file descriptor limit? `ulimit -n`)");
    }
    let rss_after = bench.config.pid.map(system::memory).transpose()?;

    // The wake rounds: one message each, timed to every member's answer.
    let mut samples = Vec::new();
    let mut missed = 0u64;
    let rounds_started = Instant::now();
    for round in 0..ROUNDS {
        if rounds_started.elapsed() >= bench.config.duration {
            break;
        }
        shared.round_started[round].store(shared.epoch.elapsed().as_nanos() as u64, Ordering::SeqCst);
        let text = format!("{marker}#{round}#");
        http::send_text(&bench.setup, &member_accounts[0], &room, &bench.txn_id(), &text).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut got = 0;
        while got < members {
            match tokio::time::timeout_at(deadline, woken.recv()).await {
                Ok(Some((r, latency))) if r == round => {
                    samples.push(latency);
                    got += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        missed += (members - got) as u64;
        // Let the woken polls re-arm before the next message.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let wall = rounds_started.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    let still_failed = shared.failed.load(Ordering::SeqCst);
    polls.abort_all();

    let mut held = Figure::default()
        .with("connections", total as f64)
        .with("members", members as f64)
        .with("open_ms", open_ms)
        .with("reconnects", shared.reconnects.load(Ordering::SeqCst) as f64)
        .with("errors", still_failed as f64);
    if let (Some(before), Some(after)) = (&rss_before, &rss_after) {
        let (before, after) = (before.get("rss_kib").unwrap_or(0.0), after.get("rss_kib").unwrap_or(0.0));
        held = held
            .with("rss_before_kib", before)
            .with("rss_after_kib", after)
            .with("kib_per_connection", (after - before) / total as f64);
    }
    let wake = Figure::from_latencies(&samples, wall, 0, missed)
        .context("no member's poll was woken")?
        .with("connections", total as f64)
        .with("members", members as f64);
    let mut report = Report::default();
    report.add("idle_connections", held);
    report.add("idle_connections_wake", wake);
    Ok(report)
}

/// Each user's `next_batch` after an initial sync with `filter`.
async fn since_tokens<'a>(
    bench: &Bench,
    accounts: impl Iterator<Item = &'a Account>,
    filter: &serde_json::Value,
) -> Result<Vec<String>> {
    let jobs: Vec<_> = accounts
        .map(|account| {
            let (http, account, filter) = (bench.setup.clone(), account.clone(), filter.clone());
            async move { Ok(http::next_batch(&http::sync(&http, &account, None, 0, &filter).await?)) }
        })
        .collect();
    http::bounded(bench.config.setup_parallelism(), jobs).await
}

/// What every poll shares with the coordinator.
struct Shared {
    /// The wake messages' text starts with this, then `#round#`.
    marker: String,
    /// When each round's send began, in nanoseconds since `epoch`.
    round_started: Vec<AtomicU64>,
    epoch: Instant,
    stop: AtomicBool,
    /// Polls whose first request is written.
    armed: AtomicU64,
    /// Connections that failed for good (after `RECONNECTS` tries).
    failed: AtomicU64,
    reconnects: AtomicU64,
}

/// One connection's loop: long-poll, read the answer, poll again from its
/// `next_batch`.
struct Poll {
    source: Ipv4Addr,
    target: SocketAddr,
    query: String,
    token: String,
    since: String,
    member: bool,
    shared: Arc<Shared>,
    wakes: mpsc::UnboundedSender<(usize, Duration)>,
}

impl Poll {
    async fn run(mut self, opening: Arc<Semaphore>) {
        let mut permit = Some(opening.acquire_owned().await);
        let mut buffer = Vec::new();
        let mut retries_left = RECONNECTS;
        loop {
            match self.poll_until_stopped(&mut permit, &mut buffer).await {
                Ok(()) => return,
                Err(_) if self.shared.stop.load(Ordering::SeqCst) => return,
                // A server whose listen queue overflows while thousands
                // connect resets some: a client reconnects (counted).
                Err(_) if retries_left > 0 => {
                    retries_left -= 1;
                    self.shared.reconnects.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(_) => {
                    self.shared.failed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        }
    }

    /// Polls on one connection until the run stops (`Ok`) or the connection fails.
    async fn poll_until_stopped(
        &mut self,
        permit: &mut Option<Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::AcquireError>>,
        buffer: &mut Vec<u8>,
    ) -> Result<()> {
        let mut stream = self.connect().await?;
        while !self.shared.stop.load(Ordering::SeqCst) {
            self.request(&mut stream).await?;
            if permit.take().is_some() {
                self.shared.armed.fetch_add(1, Ordering::SeqCst);
            }
            let body = read_answer(&mut stream, buffer).await?;
            let arrived = self.shared.epoch.elapsed();
            if self.member
                && let Some(round) = round_in(&body, &self.shared.marker)
                && let Some(started) = self.shared.round_started.get(round)
            {
                let started = Duration::from_nanos(started.load(Ordering::SeqCst));
                let _ = self.wakes.send((round, arrived.saturating_sub(started)));
            }
            self.since = next_batch_in(&body).context("an answer without next_batch")?;
        }
        Ok(())
    }

    async fn connect(&self) -> Result<TcpStream> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((self.source, 0)))?;
        let stream = socket.connect(self.target).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn request(&self, stream: &mut TcpStream) -> std::io::Result<()> {
        let request = format!(
            "GET /_matrix/client/v3/sync?{}&since={} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n",
            self.query,
            enc(&self.since),
            self.target,
            self.token
        );
        stream.write_all(request.as_bytes()).await
    }
}

/// Reads one HTTP/1.1 answer with a `Content-Length`; its body if 200.
async fn read_answer(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<String> {
    buffer.clear();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buffer[..head_end])?.to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") {
        bail!("answer: {}", head.lines().next().unwrap_or_default());
    }
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .context("no content-length")?
        .trim()
        .parse()?;
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection mid-answer");
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned())
}

/// The wake round a `/sync` body carries (`<marker>#<round>#`), if any.
fn round_in(body: &str, marker: &str) -> Option<usize> {
    let at = body.find(marker)? + marker.len();
    let rest = body[at..].strip_prefix('#')?;
    rest.split('#').next()?.parse().ok()
}

/// `next_batch` of a `/sync` body, without parsing the rest.
fn next_batch_in(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value["next_batch"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_is_found_after_its_marker() {
        let body = r#"{"rooms":{"join":{"!r":{"timeline":{"events":[{"content":{"body":"wake abc-1#7#"}}]}}}}}"#;
        assert_eq!(round_in(body, "wake abc-1"), Some(7));
        assert_eq!(round_in(body, "wake abc-2"), None);
        assert_eq!(next_batch_in(r#"{"next_batch":"n5_0"}"#).as_deref(), Some("n5_0"));
    }
}
