//! The README's examples, the JSON Schemas and the Rust types must agree:
//! every example in `examples/` is accepted by its schema and by the types
//! (and survives a round trip through them), every example in
//! `examples/invalid/` is rejected, the README shows every example verbatim,
//! and the worked power-levels example is what the compiler really produces.
//!
//! `NEXUS_BLESS=1 cargo test -p nexus-extensions --test examples` rewrites
//! `examples/compiled/` from the compiler after an intended change.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use nexus_extensions::capabilities::Room;
use nexus_extensions::compile::{CompileOptions, compile};
use nexus_extensions::events::channel::ChannelContent;
use nexus_extensions::events::overwrites::ChannelOverwritesContent;
use nexus_extensions::events::poll::{PollResponseContent, PollStartContent, Response, tally};
use nexus_extensions::events::role::RoleContent;
use nexus_extensions::events::server::ServerContent;
use nexus_extensions::events::thread::ThreadContent;
use nexus_extensions::events::{
    self, IMAGE_PACK, IMAGE_PACK_STABLE, ROLE, normalise, parse, state_key_rule, validate_content,
};
use nexus_extensions::guild::Guild;
use nexus_extensions::power_levels::Creators;
use serde_json::{Value, json};
use support::json_schema;

/// Invalid examples that only the Rust validation can reject, and why a
/// JSON Schema cannot express the rule. Kept honest by a test asserting the
/// schema does accept each of them.
const SEMANTIC_ONLY: &[(&str, &str)] = &[
    ("nexus.channel.overwrites.allow-deny-overlap.json", "bits shared by two decimal strings"),
    ("nexus.channel.overwrites.administrator.json", "which bits a decimal string sets"),
    ("nexus.role.permissions-overflow.json", "the u64 range of a decimal string"),
    ("nexus.role.everyone-not-at-zero.json", "a rule tying content to the state key"),
    ("nexus.member.bare-user-id-state-key.json", "the state key, which is outside the content"),
    ("nexus.scheduled_event.end-before-start.json", "a comparison between two fields"),
    ("nexus.server.duplicate-category.json", "uniqueness of one field across array items"),
    ("org.matrix.msc3381.poll.start.max-selections-above-answers.json", "a comparison with the number of answers"),
];

/// 2026-01-01T00:00:00Z, the "now" of the worked example.
const WORKED_EXAMPLE_NOW: u64 = 1_767_225_600_000;

/// The crate's directory, read when the test runs: a binary reused from a
/// shared target directory may have been built in another checkout, so
/// the compile-time path could name a directory that is gone.
fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn load(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_files(dir: &str) -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {dir}");
    files.into_iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), load(&p))).collect()
}

fn event_type(event: &Value) -> &str {
    event["type"].as_str().expect("example has a type")
}

fn schema_for(event_type: &str) -> Value {
    let name = if event_type == IMAGE_PACK_STABLE { IMAGE_PACK } else { event_type };
    load(&root().join("schemas").join(format!("{name}.schema.json")))
}

/// Everything the Rust side checks about a whole event.
fn rust_accepts(event: &Value) -> Result<(), String> {
    let event_type = event_type(event);
    let state_key = event.get("state_key").map(|k| k.as_str().expect("string state key"));
    let rule = state_key_rule(event_type).ok_or_else(|| format!("unknown type {event_type}"))?;
    if !rule.accepts(state_key) {
        return Err(format!("state key {state_key:?} breaks {rule:?}"));
    }
    validate_content(event_type, &event["content"]).map_err(|e| e.to_string())?;
    if event_type == ROLE {
        let role: RoleContent = parse(&event["content"]).map_err(|e| e.to_string())?;
        role.validate_as(state_key.unwrap_or_default()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Whether every field of `original` survived normalisation, unless it only
/// restated a default (which the types omit when serialising).
fn nothing_dropped(original: &Value, normalised: &Value, at: &str) -> Result<(), String> {
    fn is_default(key: &str, v: &Value) -> bool {
        match v {
            Value::Bool(b) => !b || key == "invitable",
            Value::Number(n) => n.as_u64() == Some(0),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.iter().all(|(k, v)| is_default(k, v)),
            Value::String(s) => s == "all_messages",
            Value::Null => true,
        }
    }
    match (original, normalised) {
        (Value::Object(o), Value::Object(n)) => {
            for (key, value) in o {
                match n.get(key) {
                    Some(nv) => nothing_dropped(value, nv, &format!("{at}.{key}"))?,
                    None if is_default(key, value) => {}
                    None => return Err(format!("{at}.{key} was dropped by the types")),
                }
            }
            Ok(())
        }
        (Value::Array(o), Value::Array(n)) if o.len() == n.len() => {
            o.iter().zip(n).enumerate().try_for_each(|(i, (a, b))| nothing_dropped(a, b, &format!("{at}[{i}]")))
        }
        (a, b) if a == b => Ok(()),
        (a, b) => Err(format!("{at}: {a} became {b}")),
    }
}

#[test]
fn valid_examples_pass_the_rust_validation() {
    for (name, event) in json_files("examples") {
        rust_accepts(&event).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn valid_examples_match_their_json_schema() {
    for (name, event) in json_files("examples") {
        let schema = schema_for(event_type(&event));
        json_schema::validate(&schema, &event["content"]).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn valid_examples_round_trip_through_the_types() {
    for (name, event) in json_files("examples") {
        let t = event_type(&event);
        let once = normalise(t, &event["content"]).unwrap();
        let twice = normalise(t, &once).unwrap();
        assert_eq!(once, twice, "{name}");
        nothing_dropped(&event["content"], &once, "content").unwrap_or_else(|e| panic!("{name}: {e}"));
        json_schema::validate(&schema_for(t), &once).unwrap_or_else(|e| panic!("{name} normalised: {e}"));
    }
}

#[test]
fn invalid_examples_are_rejected_by_the_rust_validation() {
    for (name, event) in json_files("examples/invalid") {
        assert!(rust_accepts(&event).is_err(), "{name} was accepted");
    }
}

#[test]
fn invalid_examples_are_rejected_by_the_schema_where_it_can_tell() {
    for (name, event) in json_files("examples/invalid") {
        let verdict = json_schema::validate(&schema_for(event_type(&event)), &event["content"]);
        let semantic = SEMANTIC_ONLY.iter().any(|(file, _)| *file == name);
        if semantic {
            assert!(verdict.is_ok(), "{name} is listed as semantic-only but the schema rejects it");
        } else {
            assert!(verdict.is_err(), "{name} was accepted by its schema");
        }
    }
    for (file, _) in SEMANTIC_ONLY {
        assert!(root().join("examples/invalid").join(file).exists(), "{file} listed but missing");
    }
}

#[test]
fn every_schema_describes_a_known_type_and_has_an_example() {
    let examples = json_files("examples");
    for (name, schema) in json_files("schemas") {
        let event_type = name.strip_suffix(".schema.json").expect("schema file name");
        assert!(state_key_rule(event_type).is_some(), "{name}: unknown event type");
        assert_eq!(schema["title"], event_type, "{name}: title");
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        assert!(examples.iter().any(|(_, e)| e["type"] == event_type), "{name} has no example");
    }
}

fn readme_json_blocks() -> Vec<Value> {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```json" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            let text = body.join("\n");
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("README json block does not parse ({e}):\n{text}"));
            blocks.push(value);
        }
    }
    blocks
}

#[test]
fn the_readme_shows_every_example() {
    let blocks = readme_json_blocks();
    for dir in ["examples", "examples/compiled"] {
        for (name, example) in json_files(dir) {
            assert!(blocks.contains(&example), "README does not show {dir}/{name} verbatim");
        }
    }
}

#[test]
fn readme_blocks_of_nexus_events_are_all_examples() {
    // The other direction: a nexus.* event shown in the README must be one of
    // the checked examples, so prose cannot drift from what is tested.
    let mut examples: Vec<Value> = json_files("examples").into_iter().map(|(_, v)| v).collect();
    examples.extend(json_files("examples/compiled").into_iter().map(|(_, v)| v));
    for block in readme_json_blocks() {
        let is_event = block.get("type").and_then(Value::as_str).is_some_and(|t| state_key_rule(t).is_some());
        if is_event {
            assert!(examples.contains(&block), "README shows an unchecked event:\n{block:#}");
        }
    }
}

fn example(name: &str) -> Value {
    load(&root().join("examples").join(name))
}

fn worked_guild() -> Guild {
    let server: ServerContent = parse(&example("nexus.server.json")["content"]).unwrap();
    let roles: Vec<(String, Value)> = json_files("examples")
        .into_iter()
        .filter(|(_, e)| e["type"] == events::ROLE)
        .map(|(_, e)| (e["state_key"].as_str().unwrap().to_owned(), e["content"].clone()))
        .collect();
    let members: Vec<(String, Value)> = json_files("examples")
        .into_iter()
        .filter(|(_, e)| e["type"] == events::MEMBER)
        .map(|(_, e)| (e["state_key"].as_str().unwrap().to_owned(), e["content"].clone()))
        .collect();
    Guild::from_state(&server, roles.iter().map(|(k, v)| (k.as_str(), v)), members.iter().map(|(k, v)| (k.as_str(), v)))
        .unwrap()
}

#[test]
fn the_worked_example_compiles_to_the_documented_power_levels() {
    let guild = worked_guild();
    let general: ChannelOverwritesContent =
        parse(&example("nexus.channel.overwrites.general.json")["content"]).unwrap();
    let mods_only: ChannelOverwritesContent =
        parse(&example("nexus.channel.overwrites.mods-only.json")["content"]).unwrap();
    let everyone = [
        "@alice:example.org",
        "@bob:example.org",
        "@carol:example.org",
        "@dave:example.org",
        "@erin:example.org",
        "@frank:example.org",
    ];
    let options = CompileOptions { creators: Creators::v12(["@alice:example.org"]), now_ms: WORKED_EXAMPLE_NOW };
    let rooms: [(&str, &str, Room<'_>, &[&str]); 3] = [
        ("space", "!space:example.org", Room::Space, &everyone),
        ("general", "!general:example.org", Room::Channel(&general), &everyone),
        (
            "mods-only",
            "!mods-only:example.org",
            Room::Channel(&mods_only),
            &["@alice:example.org", "@bob:example.org", "@carol:example.org", "@erin:example.org"],
        ),
    ];
    let mut reports = BTreeMap::new();
    for (name, room_id, room, members) in rooms {
        let compiled = compile(&guild, room, members.iter().copied(), &options);
        let event = json!({
            "type": "m.room.power_levels",
            "state_key": "",
            "room_id": room_id,
            "sender": "@alice:example.org",
            "content": compiled.content,
        });
        let path = root().join("examples/compiled").join(format!("{name}.power_levels.json"));
        if std::env::var_os("NEXUS_BLESS").is_some() {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, serde_json::to_string_pretty(&event).unwrap() + "\n").unwrap();
        }
        assert_eq!(load(&path), event, "{name}: compiler output differs from {}", path.display());
        reports.insert(name, (compiled.lost, compiled.excess));
    }
    for (name, (lost, excess)) in reports {
        assert!(lost.is_empty(), "{name}: the worked example is meant to be exact, lost {lost:?}");
        assert!(excess.is_empty(), "{name}: excess {excess:?}");
    }
}

#[test]
fn the_example_thread_uses_tags_of_the_example_forum() {
    let forum: ChannelContent = parse(&example("nexus.channel.help-forum.json")["content"]).unwrap();
    let thread: ThreadContent = parse(&example("nexus.thread.help-post.json")["content"]).unwrap();
    thread.validate_tags_against(&forum).unwrap();
}

#[test]
fn the_example_poll_tallies() {
    let start = example("org.matrix.msc3381.poll.start.json");
    let poll: PollStartContent = parse(&start["content"]).unwrap();
    let response: PollResponseContent = parse(&example("org.matrix.msc3381.poll.response.json")["content"]).unwrap();
    let result = tally(
        &poll.poll,
        start["sender"].as_str().unwrap(),
        [Response {
            sender: "@erin:example.org",
            event_id: "$vote",
            origin_server_ts: 1,
            answers: &response.response.answers,
        }],
        [],
        |_| false,
    );
    assert_eq!(result.counts["beans"], 1);
    assert_eq!(result.counts["sunflowers"], 1);
    assert_eq!(result.counts["tomatoes"], 0);
}
