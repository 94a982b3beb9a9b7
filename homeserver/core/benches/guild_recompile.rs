//! A role change in a large Nexus server → every channel's
//! `m.room.power_levels` recompiled (extensions-spec §9.7).
//!
//! Builds, in process and on a fresh RocksDB store, a server of 500
//! channels and 10,000 members (everyone in the space and in #general, 20
//! different members in each other channel, a Moderator in each), then
//! times role changes that touch every channel: from the `nexus.role` event
//! to no recompilation job left, the power levels of every room then checked
//! against the compiler. Prints a Markdown table (`scripts/bench.sh` puts it
//! in `docs/performance.md`).
//!
//! `cargo bench -p nexus-core --bench guild_recompile`. Setup is most of
//! the run (every join fans out to every member of the room, so filling a
//! 10,000-member room is quadratic); `NEXUS_BENCH_DATA=<dir>` keeps the store
//! there and later runs reuse it (delete the directory to rebuild). The
//! scale can be lowered for a quick look with `NEXUS_BENCH_MEMBERS`,
//! `NEXUS_BENCH_CHANNELS` and `NEXUS_BENCH_ROUNDS`.
//!
//! Members are not registered through `accounts`: registration's cost is
//! Argon2, and rooms never read the account record. Each member gets what
//! rooms do read — a profile (`profiles.create`, the record registration
//! writes), whose display name goes into their `m.room.member` events.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use nexus_core::guilds::Scope;
use nexus_core::guilds::manage::{NewChannel, NewServer};
use nexus_core::rooms::NewEvent;
use nexus_core::{Services, Settings};
use nexus_extensions::Permissions;
use nexus_extensions::events::role::EVERYONE_ROLE_ID;
use nexus_storage::backend::{Backend, StoreOptions};
use nexus_storage::catalog::NEXUS;
use nexus_storage::{Store, WriteBatch};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const SERVER_NAME: &str = "bench.nexus";
/// Members of each channel other than #general.
const PER_CHANNEL: usize = 20;
/// Joins in flight at once (each room's events are serialised by its lock).
const JOINS_IN_FLIGHT: usize = 8;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn user(localpart: &str) -> OwnedUserId {
    UserId::parse(format!("@{localpart}:{SERVER_NAME}")).expect("a valid user id")
}

fn member(i: usize) -> OwnedUserId {
    user(&format!("m{i:05}"))
}

fn object(value: Value) -> ruma::CanonicalJsonObject {
    match ruma::CanonicalJsonValue::try_from(value) {
        Ok(ruma::CanonicalJsonValue::Object(o)) => o,
        other => panic!("not a JSON object: {other:?}"),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

struct Bench {
    services: Arc<Services>,
    owner: OwnedUserId,
    fixture: Fixture,
}

/// What setup built, kept beside a reused store (`NEXUS_BENCH_DATA`).
#[derive(Serialize, Deserialize)]
struct Fixture {
    members: usize,
    moderators: usize,
    muted: usize,
    setup_secs: f64,
    space: OwnedRoomId,
    /// Every channel, #general first.
    channels: Vec<OwnedRoomId>,
    moderator: String,
}

struct Sample {
    elapsed: Duration,
    rounds: usize,
    sent: usize,
}

/// A role edit: the role's id, and its new content from its current one.
type Change<'a> = (&'a str, String, Box<dyn Fn(&mut Value)>);

fn toggle(role: &mut Value, flag: Permissions) {
    let mut perms: Permissions = role["permissions"].as_str().and_then(|p| p.parse().ok()).expect("permissions");
    if perms.contains(flag) {
        perms.remove(flag);
    } else {
        perms.insert(flag);
    }
    role["permissions"] = json!(perms.to_string());
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let members = env_or("NEXUS_BENCH_MEMBERS", 10_000);
    let channel_count = env_or("NEXUS_BENCH_CHANNELS", 500);
    let rounds = env_or("NEXUS_BENCH_ROUNDS", 3);
    // A kept store (set up once, reused by later runs) or a fresh one.
    let temporary = tempfile::tempdir().expect("a temporary directory");
    let dir = std::env::var_os("NEXUS_BENCH_DATA").map_or_else(|| temporary.path().to_owned(), PathBuf::from);
    let fixture_file = dir.join("fixture.json");

    let (services, store) = start(&dir).await;
    let owner = user("owner");
    let fixture = match std::fs::read(&fixture_file) {
        Ok(bytes) => {
            eprintln!("reusing the server set up in {}", dir.display());
            serde_json::from_slice(&bytes).expect("a fixture")
        }
        Err(_) => {
            eprintln!("setting up: {channel_count} channels, {members} members");
            let fixture = setup(&services, &store, &owner, members, channel_count).await;
            std::fs::write(&fixture_file, serde_json::to_vec(&fixture).unwrap()).expect("writing the fixture");
            fixture
        }
    };
    let bench = Bench { services, owner, fixture };
    check_compiled(&bench).await;

    let compile_only = time_compile_only(&bench).await;

    let moderator = bench.fixture.moderator.clone();
    let changes: Vec<Change> = vec![
        (
            "@everyone gains or loses PIN_MESSAGES",
            EVERYONE_ROLE_ID.to_owned(),
            Box::new(|role| toggle(role, Permissions::PIN_MESSAGES)),
        ),
        (
            "Moderator gains or loses MANAGE_MESSAGES",
            moderator.clone(),
            Box::new(|role| toggle(role, Permissions::MANAGE_MESSAGES)),
        ),
        (
            "Moderator renamed (power levels unchanged)",
            moderator,
            Box::new(|role| {
                let renamed = if role["name"] == "Moderator" { "Mod" } else { "Moderator" };
                role["name"] = json!(renamed);
            }),
        ),
    ];

    let fixture = &bench.fixture;
    let rooms = fixture.channels.len() + 1;
    let mut table = String::new();
    table.push_str(&format!(
        "Server: {} channels, {} members (all in #general, {PER_CHANNEL} in each other channel), \
         {} moderators, {} muted; setup (not timed) {:.0} s.\n\n",
        fixture.channels.len(),
        fixture.members,
        fixture.moderators,
        fixture.muted,
        fixture.setup_secs
    ));
    table.push_str("| role change | rooms recompiled | power levels sent | min | median | per room |\n");
    table.push_str("|---|---:|---:|---:|---:|---:|\n");
    for (name, role_id, change) in &changes {
        let mut samples = Vec::new();
        for round in 0..rounds {
            let server = bench.services.guilds.server(&fixture.space).await.unwrap().expect("the server");
            let mut role = serde_json::to_value(&server.guild.roles[role_id]).unwrap();
            change(&mut role);
            let sample = time_change(&bench, role_id, role).await;
            eprintln!(
                "{name}, round {}: {} ({} job rounds, {} power levels sent)",
                round + 1,
                secs(sample.elapsed),
                sample.rounds,
                sample.sent
            );
            samples.push(sample);
        }
        samples.sort_by_key(|s| s.elapsed);
        let min = samples[0].elapsed;
        let median = samples[samples.len() / 2].elapsed;
        let mut sent: Vec<usize> = samples.iter().map(|s| s.sent).collect();
        sent.sort_unstable();
        sent.dedup();
        let sent: Vec<String> = sent.iter().map(ToString::to_string).collect();
        table.push_str(&format!(
            "| {name} | {rooms} | {} | {} | {} | {:.1} ms |\n",
            sent.join("/"),
            secs(min),
            secs(median),
            median.as_secs_f64() * 1000.0 / rooms as f64
        ));
    }
    table.push_str(&format!(
        "\nCompiling alone (members read and §9.2 run, nothing sent), all {rooms} rooms: {}; \
         #general ({} members) alone: {:.1} ms.\n",
        secs(compile_only.0),
        fixture.members,
        compile_only.1.as_secs_f64() * 1000.0
    ));
    println!("{table}");
}

async fn start(dir: &Path) -> (Arc<Services>, Arc<dyn Store>) {
    let options =
        StoreOptions { backend: Backend::RocksDb { path: dir.join("db") }, sync_writes: false, cluster: None };
    let store = nexus_storage::open(&options, NEXUS).await.expect("opening the store");
    let mut settings = Settings::default();
    settings.server.server_name = SERVER_NAME.try_into().expect("a server name");
    settings.federation.enabled = false;
    settings.media.path = Some(dir.join("media"));
    (Services::start(settings, store.clone()).await.expect("starting services"), store)
}

async fn setup(
    services: &Services,
    store: &Arc<dyn Store>,
    owner: &UserId,
    members: usize,
    channel_count: usize,
) -> Fixture {
    let started = Instant::now();
    let moderators = (members / 200).max(1);
    let muted = (members / 500).max(1);

    // What registration would write that rooms read: a profile per user.
    let mut batch = WriteBatch::new();
    services.profiles.create(&mut batch, owner.localpart(), "Owner");
    for i in 0..members {
        let id = member(i);
        services.profiles.create(&mut batch, id.localpart(), &format!("Member {i}"));
        if batch.ops().len() >= 1000 {
            store.write(std::mem::take(&mut batch)).await.expect("writing profiles");
        }
    }
    store.write(batch).await.expect("writing profiles");
    let guilds = &services.guilds;

    let phase = Instant::now();
    let new_server = NewServer { name: "Benchmark".to_owned(), public: true, ..NewServer::default() };
    let created = guilds.create_server(owner, new_server).await.expect("creating the server");
    let space = created.space;
    let mut channels = created.channels;
    while channels.len() < channel_count {
        let request = NewChannel {
            name: format!("channel-{}", channels.len()),
            kind: "text".to_owned(),
            category: Some("text".to_owned()),
            ..NewChannel::default()
        };
        channels.push(guilds.create_channel(owner, &space, request).await.expect("creating a channel"));
    }
    drain(services).await;
    eprintln!("  {} channels created in {}", channels.len(), secs(phase.elapsed()));

    let phase = Instant::now();
    let (moderator, muted_id) = roles_and_overwrites(services, owner, &space, &channels).await;
    eprintln!("  roles and overwrites in {}", secs(phase.elapsed()));

    // Everyone joins the space, then #general.
    let phase = Instant::now();
    let general = &channels[0];
    futures::stream::iter(0..members)
        .map(|i| {
            let (services, space, general) = (services, &space, general);
            async move {
                let id = member(i);
                services.rooms.join(space, &id, None, &[]).await.expect("joining the space");
                services.rooms.join(general, &id, None, &[]).await.expect("joining #general");
                if (i + 1) % 1000 == 0 {
                    eprintln!("  {} members joined after {}", i + 1, secs(phase.elapsed()));
                }
            }
        })
        .buffer_unordered(JOINS_IN_FLIGHT)
        .collect::<()>()
        .await;
    eprintln!("  {members} members joined the space and #general in {}", secs(phase.elapsed()));

    // Each other channel: PER_CHANNEL consecutive members (a different
    // slice per channel), plus one moderator so a Moderator change reaches it.
    let phase = Instant::now();
    let joins: Vec<(OwnedRoomId, OwnedUserId)> = channels[1..]
        .iter()
        .enumerate()
        .flat_map(|(c, room)| {
            let slice = (0..PER_CHANNEL).map(move |j| member((c * PER_CHANNEL + j) % members));
            slice.chain(std::iter::once(member(c % moderators))).map(move |u| (room.clone(), u))
        })
        .collect();
    futures::stream::iter(joins)
        .map(|(room, id)| async move {
            services.rooms.join(&room, &id, None, &[]).await.expect("joining a channel");
        })
        .buffer_unordered(JOINS_IN_FLIGHT)
        .collect::<()>()
        .await;
    eprintln!("  channel joins in {}", secs(phase.elapsed()));

    // Role holders: the first members are moderators, the next are muted.
    let phase = Instant::now();
    for i in 0..moderators {
        guilds.set_member_role(owner, &space, &member(i), &moderator, true).await.expect("assigning Moderator");
    }
    for i in moderators..moderators + muted {
        guilds.set_member_role(owner, &space, &member(i), &muted_id, true).await.expect("assigning Muted");
    }
    eprintln!("  roles assigned in {}", secs(phase.elapsed()));

    let phase = Instant::now();
    let rounds = drain(services).await;
    eprintln!("  setup's recompilation drained in {} ({rounds} rounds)", secs(phase.elapsed()));
    let setup_secs = started.elapsed().as_secs_f64();
    eprintln!("setup done in {setup_secs:.0} s");
    Fixture { members, moderators, muted, setup_secs, space, channels, moderator }
}

/// Moderator (kick, ban, timeouts) and Muted (no posting anywhere: an
/// overwrite in every channel, as Discord servers set it up).
async fn roles_and_overwrites(
    services: &Services,
    owner: &UserId,
    space: &RoomId,
    channels: &[OwnedRoomId],
) -> (String, String) {
    let guilds = &services.guilds;
    let perms = Permissions::KICK_MEMBERS | Permissions::BAN_MEMBERS | Permissions::MODERATE_MEMBERS;
    let moderator = json!({ "name": "Moderator", "position": 2, "permissions": perms.to_string() });
    let moderator = guilds.create_role(owner, space, moderator).await.expect("creating Moderator");
    let muted = json!({ "name": "Muted", "position": 1, "permissions": "0" });
    let muted = guilds.create_role(owner, space, muted).await.expect("creating Muted");
    let deny = Permissions::SEND_MESSAGES | Permissions::SEND_MESSAGES_IN_THREADS | Permissions::ADD_REACTIONS;
    let overwrites = json!({ "roles": { muted.clone(): { "allow": "0", "deny": deny.to_string() } } });
    for room in channels {
        let event = NewEvent::state(nexus_extensions::events::CHANNEL_OVERWRITES, "", object(overwrites.clone()));
        services.rooms.send(room, owner, event).await.expect("writing overwrites");
    }
    drain(services).await;
    (moderator, muted)
}

/// Runs recompilation rounds until no job is left (what the background
/// recompiler does, without waiting for its wake-up); returns the rounds.
async fn drain(services: &Services) -> usize {
    let mut rounds = 0;
    while services.guilds.recompile_round().await.expect("a recompilation round") > 0 {
        rounds += 1;
    }
    assert!(!services.guilds.recompilation_pending().await.unwrap());
    rounds
}

/// Every room of the server: the space, then its channels.
fn rooms(bench: &Bench) -> impl Iterator<Item = &OwnedRoomId> {
    std::iter::once(&bench.fixture.space).chain(bench.fixture.channels.iter())
}

async fn power_levels_event_ids(bench: &Bench) -> Vec<Option<ruma::OwnedEventId>> {
    let mut ids = Vec::new();
    for room in rooms(bench) {
        ids.push(bench.services.rooms.state.get(room, "m.room.power_levels", "").await.unwrap());
    }
    ids
}

async fn scope(bench: &Bench, room: &RoomId) -> Scope {
    bench.services.guilds.scope(room).await.unwrap().expect("a room of the server")
}

/// Panics unless every room's power levels are the compiler's output now.
async fn check_compiled(bench: &Bench) {
    for room in rooms(bench) {
        let compiled = bench.services.guilds.compiled_power_levels(&scope(bench, room).await).await.unwrap();
        let wanted = serde_json::to_value(&compiled.content).unwrap();
        let current = bench.services.rooms.state_json(room, "m.room.power_levels", "").await.unwrap();
        assert_eq!(current.as_ref(), Some(&wanted), "{room}: power levels differ from the compiler's");
    }
}

async fn time_change(bench: &Bench, role_id: &str, role: Value) -> Sample {
    let before = power_levels_event_ids(bench).await;
    let started = Instant::now();
    bench.services.guilds.put_role(&bench.owner, &bench.fixture.space, role_id, role).await.expect("changing the role");
    let rounds = drain(&bench.services).await;
    let elapsed = started.elapsed();
    check_compiled(bench).await;
    let after = power_levels_event_ids(bench).await;
    let sent = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    Sample { elapsed, rounds, sent }
}

/// The compiler's share: members read and §9.2 run for every room, and for
/// #general alone.
async fn time_compile_only(bench: &Bench) -> (Duration, Duration) {
    let mut scopes = Vec::new();
    for room in rooms(bench) {
        scopes.push(scope(bench, room).await);
    }
    let started = Instant::now();
    for scope in &scopes {
        bench.services.guilds.compiled_power_levels(scope).await.unwrap();
    }
    let all = started.elapsed();
    let general = scope(bench, &bench.fixture.channels[0]).await;
    let started = Instant::now();
    bench.services.guilds.compiled_power_levels(&general).await.unwrap();
    (all, started.elapsed())
}
