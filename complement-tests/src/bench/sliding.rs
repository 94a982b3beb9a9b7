//! Simplified sliding sync (the endpoint Element X uses): one account in
//! [`Config::sliding_rooms`] rooms (1,000 by default), each named and with
//! one message. Measured:
//! - `sliding_sync_initial_all`: a request without `pos` whose list covers
//!   every room, timeline limit 1 and Element X's `required_state`;
//! - `sliding_sync_initial_first_page`: the same with Element X's first
//!   range, `[0, 19]`;
//! - `sliding_sync_incremental`: after one new message in one of the rooms
//!   (sent unmeasured), the request continuing the connection's `pos`.
//!
//! Each latency runs until the last byte of the answer was read (parsing
//! comes after the clock stops).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::http::{self, Account, Http, Pool};
use super::{Bench, Figure, Report};

const PATH: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
const INITIAL_COUNT: u64 = 10;
const INCREMENTAL_COUNT: u64 = 100;

/// The `required_state` of matrix-sdk-ui 0.18's room list (Element X).
fn element_x_required_state() -> Value {
    json!([
        ["m.room.name", ""],
        ["m.room.encryption", ""],
        ["m.room.member", "$LAZY"],
        ["m.room.member", "$ME"],
        ["m.room.topic", ""],
        ["m.room.avatar", ""],
        ["m.room.canonical_alias", ""],
        ["m.room.power_levels", ""],
        ["m.call.member", "*"],
        ["m.room.join_rules", ""],
        ["m.room.tombstone", ""],
        ["m.room.create", ""],
        ["m.room.history_visibility", ""],
        ["io.element.functional_members", ""],
        ["m.space.parent", "*"],
        ["m.space.child", "*"],
        ["m.beacon_info", "*"]
    ])
}

/// Element X's `room-list` connection with one list over `[0, last]`.
fn request(last: usize) -> Value {
    json!({
        "conn_id": "room-list",
        "lists": { "all_rooms": {
            "ranges": [[0, last]],
            "timeline_limit": 1,
            "required_state": element_x_required_state(),
            "filters": {},
        } },
        "extensions": {
            "account_data": { "enabled": true },
            "receipts": { "enabled": true, "rooms": ["*"] },
            "typing": { "enabled": true },
        },
    })
}

/// One request; the answer and the time until its last byte arrived.
async fn sliding_sync(http: &Http, who: &Account, pos: Option<&str>, body: &Value) -> Result<(Value, Duration)> {
    let mut path = format!("{PATH}?timeout=0");
    if let Some(pos) = pos {
        path.push_str(&format!("&pos={pos}"));
    }
    let (status, answer, elapsed) = http.call_timed(reqwest::Method::POST, &path, Some(&who.token), Some(body)).await?;
    if status != 200 {
        bail!("POST {path} -> {status}: {answer}");
    }
    if !answer["pos"].is_string() {
        bail!("a sliding sync answer without pos: {answer}");
    }
    Ok((answer, elapsed))
}

fn rooms_in(answer: &Value) -> usize {
    answer["rooms"].as_object().map_or(0, |r| r.len())
}

pub async fn sliding_sync_workloads(bench: &Bench) -> Result<Report> {
    let rooms = bench.config.sliding_rooms;
    let started = Instant::now();
    eprintln!("nexus-bench: setting up one account in {rooms} rooms with one message each (not measured)");
    let retries_before = bench.setup.retries();
    let who = bench.users("sliding", 1).await?.remove(0);
    let mut ids = Vec::with_capacity(rooms);
    // One room after another, as the initial-sync population does.
    for r in 0..rooms {
        ids.push(
            http::create_room(&bench.setup, &who, json!({"preset": "private_chat", "name": format!("room {r}")}))
                .await?,
        );
    }
    let jobs: Vec<_> = ids
        .iter()
        .map(|room| {
            let (http, who, room, txn) = (bench.setup.clone(), who.clone(), room.clone(), bench.txn_id());
            async move { http::send_text(&http, &who, &room, &txn, "hello").await }
        })
        .collect();
    http::bounded(bench.config.setup_parallelism(), jobs).await.context("one message per room")?;
    let setup_ms = started.elapsed().as_secs_f64() * 1e3;
    let setup_retries = bench.setup.retries() - retries_before;

    let client = bench.client(Pool::Single)?;
    let mut report = Report::default();
    for (name, last) in
        [("sliding_sync_initial_all", rooms - 1), ("sliding_sync_initial_first_page", 19.min(rooms - 1))]
    {
        let (first, first_time) = sliding_sync(&client, &who, None, &request(last)).await?;
        let shown = rooms_in(&first);
        if first["lists"]["all_rooms"]["count"] != json!(rooms) || shown != last + 1 {
            bail!(
                "{name}: count {} and {shown} rooms, not {rooms} and {}",
                first["lists"]["all_rooms"]["count"],
                last + 1
            );
        }
        let size = first.to_string().len();
        let (mut samples, mut errors) = (Vec::new(), 0);
        let retries = client.retries();
        let loop_started = Instant::now();
        for _ in 0..bench.config.count_or(INITIAL_COUNT) {
            if loop_started.elapsed() >= bench.config.duration {
                break;
            }
            match sliding_sync(&client, &who, None, &request(last)).await {
                Ok((_, elapsed)) => samples.push(elapsed),
                Err(e) => {
                    errors += 1;
                    eprintln!("nexus-bench: {name} failed: {e:#}");
                }
            }
        }
        let figure = Figure::from_latencies(&samples, loop_started.elapsed(), client.retries() - retries, errors)?
            .with("rooms", rooms as f64)
            .with("rooms_sent", shown as f64)
            .with("first_ms", first_time.as_secs_f64() * 1e3)
            .with("response_kib", size as f64 / 1024.0)
            .with("setup_ms", setup_ms)
            .with("setup_retries_429", setup_retries as f64);
        report.add(name, figure);
    }

    // Incremental: the connection holds every room; one new message, then
    // the next request.
    let (answer, _) = sliding_sync(&client, &who, None, &request(rooms - 1)).await?;
    let mut pos = answer["pos"].as_str().unwrap_or_default().to_owned();
    let sender = bench.client(Pool::Single)?;
    let (mut samples, mut errors) = (Vec::new(), 0);
    let retries = client.retries();
    let loop_started = Instant::now();
    for i in 0..bench.config.count_or(INCREMENTAL_COUNT) {
        if loop_started.elapsed() >= bench.config.duration {
            break;
        }
        let room = &ids[(i as usize * 7919) % ids.len()];
        let body = bench.marker("sliding");
        http::send_text(&sender, &who, room, &bench.txn_id(), &body).await?;
        match sliding_sync(&client, &who, Some(&pos), &request(rooms - 1)).await {
            Ok((answer, elapsed)) => {
                let timeline = &answer["rooms"][room.as_str()]["timeline"];
                if !timeline.as_array().is_some_and(|t| t.iter().any(|e| e["content"]["body"] == body)) {
                    bail!("the incremental answer lacks the new message: {answer}");
                }
                samples.push(elapsed);
                pos = answer["pos"].as_str().unwrap_or_default().to_owned();
            }
            Err(e) => {
                errors += 1;
                eprintln!("nexus-bench: sliding_sync_incremental failed: {e:#}");
            }
        }
    }
    let figure = Figure::from_latencies(&samples, loop_started.elapsed(), client.retries() - retries, errors)?
        .with("rooms", rooms as f64);
    report.add("sliding_sync_incremental", figure);
    Ok(report)
}
