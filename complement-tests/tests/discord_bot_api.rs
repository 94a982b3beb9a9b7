//! The Discord-compatible bot API (issue 19), judged by discord.py itself:
//! a bot made through the developer-portal endpoint and added to a Nexus
//! server connects to `nexus serve` with only its two URLs changed, sees its
//! guild and channels in on_ready, hears a Matrix user's `!ping` and replies,
//! and the reply is a Matrix reply in the channel. Raw REST calls check
//! Discord's error shapes.
//!
//! discord.py lives in `NEXUS_DISCORD_VENV` (default
//! `~/.cache/nexus-discord-venv`, made by `scripts/test.sh`); without it the
//! judged scenarios are skipped with a SKIP line, unless
//! `NEXUS_TEST_REQUIRE_DISCORD=1`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nexus_complement::federation::invite_and_join;
use nexus_complement::nexus_servers::{
    assign_role, create_server, invite_code, join_by_code, put_role, settled_power_levels,
};
use nexus_complement::{Backend, Homeserver, Session, Synapse, TestCa, both_backends, eventually, room_path};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

const PASSWORD: &str = "sUp3r-secret";
const WAIT: Duration = Duration::from_secs(30);
const PORTAL: &str = "/_nexus/bridge/v1";

fn discord_python() -> Option<PathBuf> {
    let venv = std::env::var_os("NEXUS_DISCORD_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/nexus-discord-venv")))?;
    let python = venv.join("bin/python");
    let installed =
        std::process::Command::new(&python).args(["-c", "import discord"]).output().is_ok_and(|o| o.status.success());
    if installed {
        return Some(python);
    }
    if std::env::var("NEXUS_TEST_REQUIRE_DISCORD").as_deref() == Ok("1") {
        panic!("discord.py is not installed in {} (scripts/test.sh installs it)", venv.display());
    }
    None
}

/// Node and discord.js: `NEXUS_DISCORD_JS_DIR` (made by
/// `scripts/discord-js-judge.sh`) run with the Node 22 of `NEXUS_JS_DIR`
/// (`scripts/js-judge.sh`); skipped without them unless
/// `NEXUS_TEST_REQUIRE_DISCORD=1`.
fn discord_js() -> Option<(PathBuf, PathBuf)> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let dir = std::env::var_os("NEXUS_DISCORD_JS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/nexus-discord-js"));
    let js = std::env::var_os("NEXUS_JS_DIR").map(PathBuf::from).unwrap_or_else(|| home.join(".cache/nexus-js"));
    let node = js.join("node_modules/.bin/node");
    if node.is_file() && dir.join("node_modules/discord.js").is_dir() {
        return Some((node, dir));
    }
    if std::env::var("NEXUS_TEST_REQUIRE_DISCORD").as_deref() == Ok("1") {
        panic!("discord.js is not installed in {} (scripts/test.sh installs it)", dir.display());
    }
    None
}

/// A bot application of `owner` with MESSAGE_CONTENT, added to `space`.
async fn bot_in(owner: &Session, space: &str) -> (String, String) {
    bot_with(owner, space, json!({"name": "pingbot", "privileged_intents": ["message_content"]})).await
}

/// A bot application of `owner` made with `body`, added to `space`.
async fn bot_with(owner: &Session, space: &str, body: Value) -> (String, String) {
    let made = owner.post(&format!("{PORTAL}/applications"), body).await;
    let made = made.expect_ok();
    let (id, token) = (made["id"].as_str().unwrap().to_owned(), made["token"].as_str().unwrap().to_owned());
    let added =
        owner.post(&format!("{PORTAL}/applications/{id}/guilds/{}", nexus_complement::enc(space)), json!({})).await;
    assert!(added.expect_ok()["joined"].as_array().unwrap().len() >= 2, "{added:?}");
    (id, token)
}

/// A running discord.py bot and its report lines.
struct PyBot {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Reports read while looking for another kind, in order.
    backlog: Vec<Value>,
}

impl PyBot {
    fn start(python: &PathBuf, hs: &Homeserver, token: &str) -> PyBot {
        PyBot::start_script(python, "discord_py_bot.py", hs, token)
    }

    fn start_script(python: &PathBuf, name: &str, hs: &Homeserver, token: &str) -> PyBot {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("discord").join(name);
        let mut command = tokio::process::Command::new(python);
        command.arg(script);
        PyBot::run(command, hs, token)
    }

    /// The discord.js bot, its script copied beside its node_modules so
    /// Node resolves the package from there.
    fn start_js((node, dir): &(PathBuf, PathBuf), hs: &Homeserver, token: &str) -> PyBot {
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("discord/js/bot.mjs");
        // Written aside and renamed: scenarios running at once each see a
        // whole file.
        let script = dir.join("bot.mjs");
        let aside = dir.join(format!("bot.mjs.{}.{:?}", std::process::id(), std::thread::current().id()));
        std::fs::copy(&source, &aside).expect("copy the discord.js bot");
        std::fs::rename(&aside, &script).expect("put the discord.js bot in place");
        let mut command = tokio::process::Command::new(node);
        command.arg(script);
        PyBot::run(command, hs, token)
    }

    fn run(command: tokio::process::Command, hs: &Homeserver, token: &str) -> PyBot {
        PyBot::run_at(command, &hs.base_url(), token)
    }

    fn run_at(mut command: tokio::process::Command, base: &str, token: &str) -> PyBot {
        let mut child = command
            .arg(base)
            .arg(token)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the bot");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        PyBot { _child: child, lines, backlog: Vec::new() }
    }

    /// The next report whose `event` is `kind`; reports of other kinds are
    /// kept for later (a gateway dispatch may overtake a REST answer).
    async fn next(&mut self, kind: &str) -> Value {
        if let Some(index) = self.backlog.iter().position(|r| r["event"] == kind) {
            return self.backlog.remove(index);
        }
        let wait = async {
            while let Some(line) = self.lines.next_line().await.expect("read the bot's output") {
                let report: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if report["event"] == kind {
                    return report;
                }
                self.backlog.push(report);
            }
            panic!("the bot ended before reporting {kind}");
        };
        tokio::time::timeout(WAIT, wait).await.unwrap_or_else(|_| panic!("no {kind} from the bot within {WAIT:?}"))
    }
}

async fn a_discord_py_bot_answers_a_matrix_user(backend: Backend) {
    let Some(python) = discord_python() else {
        eprintln!("SKIP discord_bot_api: discord.py is not installed");
        return;
    };
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Bot Haven").await;
    let (_, token) = bot_in(&alice, &server.space).await;

    let mut bot = PyBot::start(&python, &hs, &token);
    let ready = bot.next("ready").await;
    assert_eq!(ready["user"], "pingbot", "{ready}");
    let guild = &ready["guilds"][0];
    assert_eq!(guild["name"], "Bot Haven", "{ready}");
    assert!(guild["channels"].as_array().unwrap().iter().any(|c| c == "general"), "{ready}");

    let ping = alice.send_message(&server.general, "!ping").await;
    let heard = bot.next("message").await;
    assert_eq!(heard["content"], "!ping");
    assert_eq!(heard["author"], "alice");
    assert_eq!(heard["channel"], "general");
    assert_eq!(heard["guild"], "Bot Haven");
    let replied = bot.next("replied").await;
    assert_eq!(replied["to"], heard["id"]);
    // The bot sees its own reply too, as a reply to the ping.
    let own = bot.next("message").await;
    assert_eq!((own["content"].as_str(), own["own"].as_bool()), (Some("pong"), Some(true)), "{own}");
    assert_eq!(own["reference"], heard["id"]);

    // On the Matrix side: a reply from the bot's user in #general.
    let messages = alice.messages(&server.general, "dir=b&limit=10").await;
    let chunk = messages.expect_ok()["chunk"].as_array().unwrap().clone();
    let pong = chunk.iter().find(|e| e["content"]["body"] == "pong").expect("pong in #general");
    assert!(pong["sender"].as_str().unwrap().starts_with("@_discord_bot_"), "{pong}");
    assert_eq!(pong["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], ping);

    // A bad token is discord.py's LoginFailure.
    let mut stranger = PyBot::start(&python, &hs, "not-a-token");
    stranger.next("login_failure").await;
}
both_backends!(a_discord_py_bot_answers_a_matrix_user);

/// The rest of what a discord.py bot does, each checked on the Matrix side:
/// edits, reactions both ways, deletes, history paging, typing, a burst of
/// sends under the rate limits, and RESUME after a dropped connection.
async fn a_discord_py_bot_edits_reacts_deletes_pages_and_resumes(backend: Backend) {
    let Some(python) = discord_python() else {
        eprintln!("SKIP discord_bot_api: discord.py is not installed");
        return;
    };
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Bot Haven").await;
    let general = server.general.clone();
    let (_, token) = bot_in(&alice, &server.space).await;
    let mut bot = PyBot::start(&python, &hs, &token);
    bot.next("ready").await;
    let timeline = |limit: u32| {
        let (alice, general) = (&alice, &general);
        async move {
            let reply = alice.messages(general, &format!("dir=b&limit={limit}")).await;
            reply.expect_ok()["chunk"].as_array().unwrap().clone()
        }
    };

    // An edit is an m.replace of the bot's message, and reaches the bot.
    alice.send_message(&general, "!edit").await;
    let edited = bot.next("edited").await;
    assert_eq!(edited["content"], "final", "{edited}");
    let update = bot.next("message_edit").await;
    assert_eq!((&update["id"], update["content"].as_str()), (&edited["id"], Some("final")), "{update}");
    let events = timeline(10).await;
    let replace = events.iter().find(|e| e["content"]["m.relates_to"]["rel_type"] == "m.replace").expect("an edit");
    assert_eq!(replace["content"]["m.new_content"]["body"], "final");

    // The bot's reaction is an m.reaction; alice's reaches the bot, and so
    // does taking it back.
    let react = alice.send_message(&general, "!react").await;
    bot.next("reacted").await;
    let events = timeline(10).await;
    let thumbs = events.iter().find(|e| e["type"] == "m.reaction").expect("the bot's reaction");
    assert_eq!(thumbs["content"]["m.relates_to"]["event_id"], react);
    assert_eq!(thumbs["content"]["m.relates_to"]["key"], "\u{1F44D}");
    let party = json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": react, "key": "\u{1F389}"}});
    let party = alice.send_event(&general, "m.reaction", party).await;
    let added = bot.next("reaction_add").await;
    let added = if added["emoji"] == "\u{1F44D}" { bot.next("reaction_add").await } else { added };
    assert_eq!(added["emoji"], "\u{1F389}", "{added}");
    alice.redact(&general, &party, json!({})).await.expect_ok();
    let removed = bot.next("reaction_remove").await;
    assert_eq!((&removed["emoji"], &removed["message"]), (&added["emoji"], &added["message"]), "{removed}");
    alice.send_message(&general, "!unreact").await;
    bot.next("unreacted").await;
    let thumbs_id = thumbs["event_id"].as_str().unwrap();
    let thumbs_now = alice.get_event(&general, thumbs_id).await;
    let thumbs_now = thumbs_now.expect_ok().clone();
    assert!(thumbs_now["content"].as_object().unwrap().is_empty(), "the reaction is redacted: {thumbs_now}");

    // A delete is a redaction, and reaches the bot as MESSAGE_DELETE.
    alice.send_message(&general, "!delete").await;
    let deleted = bot.next("deleted").await;
    let gone = bot.next("message_delete").await;
    assert_eq!(gone["id"], deleted["id"]);

    // History: newest first, and before= pages back from a message.
    for text in ["one", "two", "three"] {
        alice.send_message(&general, text).await;
    }
    alice.send_message(&general, "!history").await;
    let history = bot.next("history").await;
    let newest: Vec<&str> = history["newest_first"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(newest[..4], ["!history", "three", "two", "one"], "{history}");
    assert_eq!(history["before_command"], json!(["three", "two", "one"]));

    // Files: a bot's two files are one message to bots and two Matrix
    // events (the second a part of the first); a person's file reaches the
    // bot as an attachment it can download.
    alice.send_message(&general, "!file").await;
    let sent = bot.next("file_sent").await;
    assert_eq!(sent["content"], "here you go", "{sent}");
    assert_eq!(
        sent["attachments"],
        json!([{"filename": "hello.txt", "size": 10}, {"filename": "second.txt", "size": 11}])
    );
    assert_eq!(sent["first"], "hello file");
    let events = timeline(10).await;
    let first = events.iter().find(|e| e["content"]["filename"] == "hello.txt").expect("the first file");
    assert_eq!(
        (first["content"]["msgtype"].as_str(), first["content"]["body"].as_str()),
        (Some("m.file"), Some("here you go"))
    );
    let second = events.iter().find(|e| e["content"]["filename"] == "second.txt").expect("the second file");
    assert_eq!(second["content"]["nexus.discord"]["part_of"], first["event_id"]);
    let media = nexus_complement::media_client::MediaClient::new(&alice);
    let stored =
        media.download(&nexus_complement::media_client::Mxc::parse(first["content"]["url"].as_str().unwrap())).await;
    assert_eq!(stored.expect_bytes(), b"hello file");
    let mxc = media.upload_ok(b"a cat".to_vec(), "image/png", Some("cat.png")).await;
    let image = json!({"msgtype": "m.image", "body": "cat.png", "url": mxc.to_string(), "info": {"mimetype": "image/png", "size": 5}});
    alice.send_event(&general, "m.room.message", image).await;
    let read = bot.next("attachment_read").await;
    assert_eq!((read["filename"].as_str(), read["data"].as_str()), (Some("cat.png"), Some("a cat")), "{read}");

    // Alice typing is TYPING_START.
    let typing_path = room_path(&general, &format!("/typing/{}", nexus_complement::enc(&alice.user_id)));
    alice.put(&typing_path, json!({"typing": true, "timeout": 5000})).await.expect_ok();
    let seen = bot.next("typing").await;
    assert_eq!((seen["user"].as_str(), seen["channel"].as_str()), (Some("alice"), Some("general")), "{seen}");

    // Twenty sends as fast as discord.py goes: all land, in order, with the
    // rate limits honoured (discord.py waits when told to).
    alice.send_message(&general, "!burst").await;
    bot.next("burst_done").await;
    let bursts: Vec<String> = timeline(40)
        .await
        .iter()
        .rev()
        .filter_map(|e| e["content"]["body"].as_str().filter(|b| b.starts_with("burst ")).map(str::to_owned))
        .collect();
    let expected: Vec<String> = (0..20).map(|n| format!("burst {n}")).collect();
    assert_eq!(bursts, expected);

    // A dropped connection resumes, and what was sent meanwhile arrives once.
    alice.send_message(&general, "!drop").await;
    bot.next("dropping").await;
    alice.send_message(&general, "while away").await;
    bot.next("resumed").await;
    let missed = loop {
        let heard = bot.next("message").await;
        if heard["content"] == "while away" {
            break heard;
        }
    };
    assert_eq!(missed["author"], "alice");
    alice.send_message(&general, "after").await;
    loop {
        let heard = bot.next("message").await;
        assert_ne!(heard["content"], "while away", "replayed twice");
        if heard["content"] == "after" {
            break;
        }
    }
}
both_backends!(a_discord_py_bot_edits_reacts_deletes_pages_and_resumes);

/// discord.js, unchanged but for `rest.api` (it reads the gateway from
/// `/gateway/bot`): ready with its guild, a Matrix user's `!ping` answered
/// with a reply, a reaction both ways, and history newest first.
async fn a_discord_js_bot_answers_a_matrix_user(backend: Backend) {
    let Some(judge) = discord_js() else {
        eprintln!("SKIP discord_bot_api: discord.js is not installed");
        return;
    };
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "JS Haven").await;
    let (_, token) = bot_in(&alice, &server.space).await;
    let mut bot = PyBot::start_js(&judge, &hs, &token);
    let ready = bot.next("ready").await;
    assert_eq!(ready["guilds"][0]["name"], "JS Haven", "{ready}");
    assert!(ready["guilds"][0]["channels"].as_array().unwrap().iter().any(|c| c == "general"), "{ready}");

    let ping = alice.send_message(&server.general, "!ping").await;
    let heard = bot.next("message").await;
    assert_eq!((heard["content"].as_str(), heard["author"].as_str()), (Some("!ping"), Some("alice")), "{heard}");
    bot.next("replied").await;
    let chunk = alice.messages(&server.general, "dir=b&limit=10").await;
    let chunk = chunk.expect_ok()["chunk"].as_array().unwrap().clone();
    let pong = chunk.iter().find(|e| e["content"]["body"] == "pong").expect("pong in #general");
    assert_eq!(pong["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], ping);

    // A Matrix user's reaction is messageReactionAdd; the bot's is an m.reaction.
    let react = alice.send_message(&server.general, "!react").await;
    let react_heard = loop {
        let heard = bot.next("message").await;
        if heard["content"] == "!react" {
            break heard;
        }
    };
    bot.next("reacted").await;
    let party = json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": react, "key": "\u{1F389}"}});
    alice.send_event(&server.general, "m.reaction", party).await;
    let added = loop {
        let added = bot.next("reaction_add").await;
        if added["emoji"] == "\u{1F389}" {
            break added;
        }
    };
    assert_eq!(added["message"], react_heard["id"], "{added}");

    alice.send_message(&server.general, "!history").await;
    let history = bot.next("history").await;
    let newest: Vec<&str> = history["newest_first"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(newest[..2], ["!history", "!react"], "{history}");

    if let Some(errors) = bot.backlog.iter().find(|r| r["event"] == "error") {
        panic!("discord.js reported an error: {errors}");
    }
}
both_backends!(a_discord_js_bot_answers_a_matrix_user);

/// Slash commands from Matrix: the discord.js bot registers guild commands
/// with `REST.put(Routes.applicationGuildCommands…)`; the channel lists
/// them for clients; a Matrix user typing `/echo …` is an interaction with
/// its options filled in, and each way of answering (a reply, a deferral
/// then an edit and a followup, an ephemeral answer) lands in Matrix.
async fn a_discord_js_bot_answers_slash_commands_from_matrix(backend: Backend) {
    let Some(judge) = discord_js() else {
        eprintln!("SKIP discord_bot_api: discord.js is not installed");
        return;
    };
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Slash Haven").await;
    let general = server.general.clone();
    let (_, token) = bot_in(&alice, &server.space).await;
    let mut bot = PyBot::start_js(&judge, &hs, &token);
    bot.next("ready").await;
    let registered = bot.next("commands_registered").await;
    assert_eq!(registered["names"], json!(["echo", "think", "secret"]), "{registered}");

    // What a client offers for autocompletion in #general.
    let listed = alice.get(&format!("{PORTAL}/rooms/{}/commands", nexus_complement::enc(&general))).await;
    let listed = listed.expect_ok().clone();
    let names: Vec<&str> = listed["commands"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["echo", "think", "secret"], "{listed}");
    assert_eq!(listed["commands"][0]["options"][0]["name"], "text");

    let bot_messages = |since: String| {
        let (alice, general) = (&alice, &general);
        async move {
            let chunk = alice.messages(general, "dir=b&limit=30").await;
            let chunk = chunk.expect_ok()["chunk"].as_array().unwrap().clone();
            let mut replies: Vec<Value> = chunk
                .into_iter()
                .filter(|e| e["sender"].as_str().is_some_and(|s| s.starts_with("@_discord_bot_")))
                .filter(|e| e["type"] == "m.room.message")
                .take_while(|e| e["event_id"] != since.as_str())
                .collect();
            replies.reverse();
            replies
        }
    };

    // Positional: the string takes the rest of the line.
    let echo = alice.send_message(&general, "/echo hello there").await;
    let seen = bot.next("interaction").await;
    assert_eq!((seen["name"].as_str(), seen["user"].as_str()), (Some("echo"), Some("alice")), "{seen}");
    assert_eq!(
        (seen["channel"].as_str(), seen["options"].clone()),
        (Some("general"), json!([{"name": "text", "value": "hello there"}]))
    );
    let echoed = bot.next("echoed").await;
    assert_eq!(echoed["content"], "hello there", "{echoed}");
    let answer = bot_messages(String::new()).await.into_iter().last().expect("the answer in #general");
    assert_eq!(answer["content"]["body"], "hello there");
    assert_eq!(answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], echo);

    // Named options, typed from the command's schema.
    alice.send_message(&general, "/echo times:3 text:hi").await;
    let seen = bot.next("interaction").await;
    assert_eq!(seen["options"], json!([{"name": "text", "value": "hi"}, {"name": "times", "value": 3}]), "{seen}");
    assert_eq!(bot.next("echoed").await["content"], "hi hi hi");

    // A line the schema refuses never reaches the bot: the bridge says why.
    let wrong = alice.send_message(&general, "/echo times:9 text:x").await;
    eventually("a usage notice", WAIT, || async {
        let notices: Vec<Value> = bot_messages(String::new()).await;
        match notices.iter().find(|e| e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == wrong.as_str()) {
            Some(notice) if notice["content"]["msgtype"] == "m.notice" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // Deferred, then the answer edited in and a followup.
    let think = alice.send_message(&general, "/think").await;
    assert_eq!(bot.next("interaction").await["name"], "think");
    let thought = bot.next("thought").await;
    assert_ne!(thought["original"], thought["followup"]);
    let after: Vec<Value> = bot_messages(String::new()).await;
    let bodies: Vec<&str> = after.iter().rev().take(2).rev().filter_map(|e| e["content"]["body"].as_str()).collect();
    assert_eq!(bodies, ["thought it over", "and one more thing"], "{after:?}");
    assert!(
        after.iter().rev().take(2).all(|e| e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == think.as_str())
    );

    // Ephemeral: not in the channel, but in a direct room with alice.
    alice.send_message(&general, "/secret").await;
    assert_eq!(bot.next("interaction").await["name"], "secret");
    bot.next("whispered").await;
    assert!(bot_messages(String::new()).await.iter().all(|e| e["content"]["body"] != "psst"));
    let invited = eventually("a direct room from the bot", WAIT, || async {
        let synced = alice.sync_reply("timeout=0").await;
        let invites = synced.expect_ok()["rooms"]["invite"].as_object().cloned().unwrap_or_default();
        invites.keys().next().cloned().ok_or_else(|| "no invite yet".to_owned())
    })
    .await;
    alice.join(&invited).await;
    let direct = alice.messages(&invited, "dir=b&limit=10").await;
    let direct = direct.expect_ok()["chunk"].as_array().unwrap().clone();
    assert!(direct.iter().any(|e| e["content"]["body"] == "psst"), "{direct:?}");

    if let Some(errors) = bot.backlog.iter().find(|r| r["event"] == "error") {
        panic!("discord.js reported an error: {errors}");
    }
}
both_backends!(a_discord_js_bot_answers_slash_commands_from_matrix);

/// A discord.py bot with the members intent runs a server: members chunked
/// at startup, joins seen, a role made and given, a timeout (which the
/// homeserver then enforces), a ban and an unban, members and roles
/// fetched, a channel change seen — each checked on the Matrix side.
async fn a_discord_py_bot_moderates_a_nexus_server(backend: Backend) {
    let Some(python) = discord_python() else {
        eprintln!("SKIP discord_bot_api: discord.py is not installed");
        return;
    };
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let carol = hs.api().register("carol", PASSWORD).await;
    let server = create_server(&alice, "Moderated").await;
    let (space, general) = (server.space.clone(), server.general.clone());
    let code = invite_code(&alice, &space, json!({})).await;
    join_by_code(&bob, &code).await;
    let body = json!({"name": "modbot", "privileged_intents": ["message_content", "guild_members", "guild_presences"]});
    let (application_id, token) = bot_with(&alice, &space, body).await;
    let bot_user = hs.user_id(&format!("_discord_bot_{application_id}"));
    put_role(&alice, &space, "bots", json!({"name": "Bots", "position": 10, "permissions": "8"})).await;
    assign_role(&alice, &space, &bot_user, "bots").await;
    settled_power_levels(&alice, &space).await;

    let mut bot = PyBot::start_script(&python, "discord_py_moderator.py", &hs, &token);
    let ready = bot.next("ready").await;
    assert_eq!(ready["members"], json!(["alice", "bob", "modbot"]), "chunked at startup: {ready}");
    assert_eq!(ready["me_roles"], 2, "@everyone and Bots: {ready}");

    join_by_code(&carol, &code).await;
    assert_eq!(bot.next("member_join").await["name"], "carol");

    // A role made and given: nexus.role and carol's nexus.member.
    alice.send_message(&general, "!role Helper").await;
    let created = bot.next("role_create").await;
    assert_eq!((created["name"].as_str(), created["colour"].as_u64()), (Some("Helper"), Some(0x3498DB)));
    let given = bot.next("role_given").await;
    assert_eq!(given["to"], "carol", "{given}");
    let state = alice.room_state(&space).await;
    let events = state.as_array().unwrap();
    let helper = events
        .iter()
        .find(|e| e["type"] == "nexus.role" && e["content"]["name"] == "Helper")
        .expect("the Helper role in the space");
    let carol_member = events
        .iter()
        .find(|e| e["type"] == "nexus.member" && e["state_key"] == format!("_{}", carol.user_id))
        .expect("carol's nexus.member");
    assert_eq!(carol_member["content"]["roles"], json!([helper["state_key"]]), "{carol_member}");
    let updated = loop {
        let update = bot.next("member_update").await;
        if update["roles"].as_array().is_some_and(|r| r.iter().any(|r| r == "Helper")) {
            break update;
        }
    };
    assert_eq!(updated["name"], "carol");

    // A timeout: carol keeps reading but may not post.
    alice.send_message(&general, "!timeout").await;
    bot.next("timed_out").await;
    loop {
        let update = bot.next("member_update").await;
        if update["timed_out"] == true {
            break;
        }
    }
    let until = alice.state_content(&space, "nexus.member", &format!("_{}", carol.user_id)).await;
    assert!(
        until["communication_disabled_until"].as_u64().unwrap() > nexus_complement::federation_peer::now_ms(),
        "{until}"
    );
    settled_power_levels(&alice, &general).await;
    let refused = carol.send_event_reply(&general, "m.room.message", json!({"msgtype": "m.text", "body": "hi"})).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    alice.send_message(&general, "!untimeout").await;
    bot.next("untimed_out").await;

    // A ban with its reason, then an unban.
    alice.send_message(&general, "!ban").await;
    let banned = bot.next("banned").await;
    assert_eq!(banned["bans"], json!([["carol", "spamming"]]), "{banned}");
    assert_eq!(bot.next("member_ban").await["name"], "carol");
    assert_eq!(alice.state_content(&space, "m.room.member", &carol.user_id).await["membership"], "ban");
    alice.send_message(&general, "!unban").await;
    assert_eq!(bot.next("unbanned").await["name"], "carol");
    assert_eq!(bot.next("member_unban").await["name"], "carol");
    assert_eq!(alice.state_content(&space, "m.room.member", &carol.user_id).await["membership"], "leave");

    alice.send_message(&general, "!fetch").await;
    let fetched = bot.next("fetched").await;
    assert_eq!(fetched["owner"], "alice", "{fetched}");
    assert_eq!(fetched["roles"], json!(["@everyone", "Bots", "Helper"]), "{fetched}");
    assert_eq!(fetched["members"], json!(["alice", "bob", "modbot"]), "{fetched}");

    // Threads: started from alice's message (the bot may: MANAGE_THREADS),
    // a Matrix thread with a nexus.thread; replies both ways; archived and
    // locked by the bot.
    let command = alice.send_message(&general, "!thread").await;
    let started = bot.next("thread_started").await;
    assert_eq!(
        (started["name"].as_str(), started["parent"].as_str()),
        (Some("Discussion"), Some("general")),
        "{started}"
    );
    assert_eq!(started["in_thread"], true);
    assert_eq!(bot.next("thread_create").await["name"], "Discussion");
    let thread_state = alice.state_content(&general, "nexus.thread", &command).await;
    assert_eq!(thread_state["name"], "Discussion", "{thread_state}");
    let replies = alice
        .get(&format!(
            "/_matrix/client/v1/rooms/{}/relations/{}/m.thread",
            nexus_complement::enc(&general),
            nexus_complement::enc(&command)
        ))
        .await;
    let replies = replies.expect_ok()["chunk"].as_array().unwrap().clone();
    assert!(replies.iter().any(|e| e["content"]["body"] == "in the thread"), "{replies:?}");
    let in_thread = json!({
        "msgtype": "m.text", "body": "hi thread",
        "m.relates_to": {"rel_type": "m.thread", "event_id": command, "is_falling_back": true, "m.in_reply_to": {"event_id": command}},
    });
    alice.send_event(&general, "m.room.message", in_thread).await;
    let heard = loop {
        let heard = bot.next("thread_message").await;
        if heard["own"] == false {
            break heard;
        }
    };
    assert_eq!(
        (heard["thread"].as_str(), heard["content"].as_str()),
        (Some("Discussion"), Some("hi thread")),
        "{heard}"
    );
    alice.send_message(&general, "!archive").await;
    let archived = bot.next("archived").await;
    assert_eq!((archived["archived"].as_bool(), archived["locked"].as_bool()), (Some(true), Some(true)), "{archived}");
    assert_eq!(archived["history"], json!(["hi thread", "in the thread"]), "{archived}");
    let thread_state = alice.state_content(&general, "nexus.thread", &command).await;
    assert_eq!((thread_state["archived"].as_bool(), thread_state["locked"].as_bool()), (Some(true), Some(true)));

    // A webhook: its own Matrix user posts, under the name each request gives.
    alice.send_message(&general, "!hook").await;
    let hooked = bot.next("hooked").await;
    assert_eq!((hooked["named"].as_str(), hooked["plain"].as_str()), (Some("Herald"), Some("Announcer")), "{hooked}");
    assert_eq!(
        (hooked["same_hook"].as_bool(), hooked["listed"].clone()),
        (Some(true), json!(["Announcer"])),
        "{hooked}"
    );
    assert_eq!(hooked["edited"], "plain, edited", "the webhook edits its own message: {hooked}");
    assert_eq!(bot.next("unhooked").await["left"], json!([]));
    let heard = bot.next("webhook_message").await;
    assert_eq!(
        (heard["author"].as_str(), heard["content"].as_str()),
        (Some("Herald"), Some("from the hook")),
        "{heard}"
    );
    let chunk = alice.messages(&general, "dir=b&limit=10").await;
    let chunk = chunk.expect_ok()["chunk"].as_array().unwrap().clone();
    let hooked_event = chunk.iter().find(|e| e["content"]["body"] == "from the hook").expect("the webhook's message");
    assert!(hooked_event["sender"].as_str().unwrap().starts_with("@_discord_webhook_"), "{hooked_event}");

    // Presence both ways: the bot's op 3 is its Matrix presence; alice's
    // Matrix presence is the bot's PRESENCE_UPDATE.
    alice.send_message(&general, "!status").await;
    bot.next("status_set").await;
    let bot_presence = format!("/presence/{}/status", nexus_complement::enc(&bot_user));
    eventually("the bot's presence", WAIT, || async {
        let presence = alice.get(&bot_presence).await;
        match (presence.json["presence"].as_str(), presence.json["status_msg"].as_str()) {
            (Some("unavailable"), Some("Moderating")) => Ok(()),
            _ => Err(format!("{presence:?}")),
        }
    })
    .await;
    let own_presence = format!("/presence/{}/status", nexus_complement::enc(&alice.user_id));
    alice.put(&own_presence, json!({"presence": "unavailable", "status_msg": "brb"})).await.expect_ok();
    let seen = loop {
        let seen = bot.next("presence").await;
        if seen["name"] == "alice" && seen["status"] == "idle" {
            break seen;
        }
    };
    assert_eq!(seen["activity"], "brb", "{seen}");

    // Pins (m.room.pinned_events), reactions read and cleared, and a purge
    // (bulk delete: each message redacted).
    alice.send_message(&general, "!pin").await;
    let pinned = bot.next("pinned").await;
    assert_eq!((pinned["pinned"].clone(), pinned["after"].clone()), (json!(["!pin"]), json!([])), "{pinned}");
    let pins = alice.state_content(&general, "m.room.pinned_events", "").await;
    assert_eq!(pins["pinned"], json!([]), "unpinned again: {pins}");
    alice.send_message(&general, "!reactions").await;
    let reactions = bot.next("reactions").await;
    assert_eq!((reactions["users"].clone(), reactions["left"].as_u64()), (json!(["modbot"]), Some(0)), "{reactions}");
    let doomed = alice.send_message(&general, "doomed one").await;
    alice.send_message(&general, "doomed two").await;
    alice.send_message(&general, "!purge").await;
    let purged = bot.next("purged").await;
    assert_eq!(purged["contents"], json!(["!purge", "doomed one", "doomed two"]), "{purged}");
    let gone = alice.get_event(&general, &doomed).await;
    assert!(gone.expect_ok()["content"].as_object().unwrap().is_empty(), "redacted: {gone:?}");

    alice.set_state(&general, "m.room.topic", "", json!({"topic": "Be kind"})).await;
    let changed = loop {
        let changed = bot.next("channel_update").await;
        if changed["topic"] == "Be kind" {
            break changed;
        }
    };
    assert_eq!(changed["name"], "general");
    if let Some(error) = bot.backlog.iter().find(|r| r["event"] == "http_error") {
        panic!("discord.py got an HTTP error: {error}");
    }
}
both_backends!(a_discord_py_bot_moderates_a_nexus_server);

/// A Synapse user in a Nexus-hosted channel talks to a discord.py bot: the
/// bridge sees federated events like local ones, and the bot's reply
/// reaches Synapse as a Matrix reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synapse_user_talks_to_a_discord_py_bot() {
    let Some(python) = discord_python() else {
        eprintln!("SKIP discord_bot_api: discord.py is not installed");
        return;
    };
    let ca = TestCa::new();
    let (synapse, nexus) =
        tokio::join!(Synapse::start(&ca), Homeserver::builder(Backend::RocksDb).federation(&ca).start());
    let Some(synapse) = synapse else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let server = create_server(&alice, "Federated Haven").await;
    invite_and_join(&alice, &bob, &server.space, &nexus.server_name()).await;
    invite_and_join(&alice, &bob, &server.general, &nexus.server_name()).await;
    let (_, token) = bot_in(&alice, &server.space).await;
    let mut bot = PyBot::start(&python, &nexus, &token);
    bot.next("ready").await;

    let ping = bob.send_message(&server.general, "!ping").await;
    let heard = bot.next("message").await;
    assert_eq!((heard["content"].as_str(), heard["author"].as_str()), (Some("!ping"), Some("bob")), "{heard}");
    bot.next("replied").await;
    eventually("the bot's reply reached Synapse", WAIT, || async {
        let reply = bob.messages(&server.general, "dir=b&limit=10").await;
        let chunk = reply.expect_ok()["chunk"].as_array().cloned().unwrap_or_default();
        match chunk.iter().find(|e| e["content"]["body"] == "pong") {
            Some(pong) if pong["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == ping.as_str() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// Discord's error shapes for bad tokens, unknown ids and bad bodies.
async fn bad_input_gets_discords_errors(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Strict").await;
    let (application_id, token) = bot_in(&alice, &server.space).await;
    let http = reqwest::Client::new();
    let call = |method: Method, path: &str, auth: Option<&str>, body: Option<&str>| {
        let mut request = http.request(method, format!("{}/api/v10{path}", hs.base_url()));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        async move {
            let response = request.send().await.expect("the bot API answers");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let bot = format!("Bot {token}");
    let (status, body) = call(Method::GET, "/users/@me", Some(&bot), None).await;
    assert_eq!((status, body["bot"].as_bool()), (200, Some(true)), "{body}");
    for auth in [None, Some("Bot nope"), Some(token.as_str())] {
        let (status, body) = call(Method::GET, "/users/@me", auth, None).await;
        assert_eq!((status, body["code"].as_u64()), (401, Some(0)), "{auth:?}: {body}");
        assert_eq!(body["message"], "401: Unauthorized");
    }
    let (status, body) = call(Method::GET, "/channels/1234", Some(&bot), None).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10003)), "{body}");
    let (status, body) = call(Method::GET, "/channels/not-a-snowflake", Some(&bot), None).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10003)), "{body}");
    let (status, gateway) = call(Method::GET, "/gateway/bot", Some(&bot), None).await;
    assert_eq!(status, 200);
    assert!(gateway["url"].as_str().unwrap().ends_with("/gateway"), "{gateway}");

    // #general's id, through the guilds the bot is in.
    let (status, guilds) = call(Method::GET, "/users/@me/guilds", Some(&bot), None).await;
    assert_eq!(status, 200, "{guilds}");
    assert_eq!(guilds[0]["name"], "Strict", "{guilds}");
    let guild_id = guilds[0]["id"].as_str().unwrap().to_owned();
    let (status, guild) = call(Method::GET, &format!("/guilds/{guild_id}"), Some(&bot), None).await;
    assert_eq!((status, guild["name"].as_str()), (200, Some("Strict")), "{guild}");
    let (status, channels) = call(Method::GET, &format!("/guilds/{guild_id}/channels"), Some(&bot), None).await;
    assert_eq!(status, 200, "{channels}");
    let general = channels.as_array().unwrap().iter().find(|c| c["name"] == "general").expect("#general");
    assert_eq!((general["type"].as_u64(), general["guild_id"].as_str()), (Some(0), Some(guild_id.as_str())));
    let general = general["id"].as_str().unwrap().to_owned();
    let (status, body) = call(Method::GET, "/guilds/1234/channels", Some(&bot), None).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10004)), "{body}");
    let path = format!("/channels/{general}/messages");
    let (status, body) = call(Method::POST, &path, Some(&bot), Some("{not json")).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50109)), "{body}");
    let (status, body) = call(Method::POST, &path, Some(&bot), Some(r#"{"content": ""}"#)).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50006)), "{body}");
    let long = json!({"content": "x".repeat(2001)}).to_string();
    let (status, body) = call(Method::POST, &path, Some(&bot), Some(&long)).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50035)), "{body}");
    let reply_to_nothing = json!({"content": "hi", "message_reference": {"message_id": "77"}}).to_string();
    let (status, body) = call(Method::POST, &path, Some(&bot), Some(&reply_to_nothing)).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10008)), "{body}");
    let (status, body) = call(Method::POST, &path, Some(&bot), Some(r#"{"content": "hello from REST"}"#)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["channel_id"], general);
    assert_eq!(body["content"], "hello from REST");
    assert!(body["id"].as_str().unwrap().parse::<u64>().is_ok(), "{body}");

    // A bot is held to the channel's permissions like anyone: denied
    // SEND_MESSAGES by an overwrite, its send is Discord's Missing Permissions.
    let bot_user = hs.user_id(&format!("_discord_bot_{application_id}"));
    let deny_send = json!({"members": {bot_user.as_str(): {"allow": "0", "deny": (1u64 << 11).to_string()}}});
    alice.set_state(&server.general, "nexus.channel.overwrites", "", deny_send).await;
    settled_power_levels(&alice, &server.general).await;
    let (status, body) = call(Method::POST, &path, Some(&bot), Some(r#"{"content": "not allowed"}"#)).await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)), "{body}");

    // Multipart: broken forms and payloads; attachment URLs that are not
    // signed by the bridge serve nothing.
    let form = |body: &str| {
        let request = http
            .post(format!("{}/api/v10{path}", hs.base_url()))
            .header("authorization", &bot)
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(body.to_owned());
        async move {
            let response = request.send().await.expect("the bot API answers");
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) =
        form("--XyZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n{nope\r\n--XyZ--\r\n").await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50109)), "{body}");
    let (status, body) = form("this is not multipart at all").await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50035)), "{body}");
    let (status, body) =
        form("--XyZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n{}\r\n--XyZ--\r\n").await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50006)), "an empty message: {body}");
    let unsigned = http.get(format!("{}/attachments/1/2/x.txt", hs.base_url())).send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 404);
    let forged =
        http.get(format!("{}/attachments/1/2/x.txt?ex=ffffffffff&is=0&hm=00", hs.base_url())).send().await.unwrap();
    assert_eq!(forged.status().as_u16(), 404);

    // Commands: Discord's checks and errors; interaction tokens that name
    // nothing; a DM with nobody.
    let commands = format!("/applications/{application_id}/commands");
    let bad_name = json!({"name": "Bad Name", "description": "x"}).to_string();
    let (status, body) = call(Method::POST, &commands, Some(&bot), Some(&bad_name)).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50035)), "{body}");
    let good = json!({"name": "roll", "description": "Rolls a die"}).to_string();
    let (status, created) = call(Method::POST, &commands, Some(&bot), Some(&good)).await;
    assert_eq!((status, created["name"].as_str()), (201, Some("roll")), "{created}");
    let (status, again) = call(Method::POST, &commands, Some(&bot), Some(&good)).await;
    assert_eq!((status, &again["id"]), (200, &created["id"]), "the same name keeps its id: {again}");
    let (status, listed) = call(Method::GET, &commands, Some(&bot), None).await;
    assert_eq!((status, listed.as_array().map(Vec::len)), (200, Some(1)), "{listed}");
    let one = format!("{commands}/{}", created["id"].as_str().unwrap());
    let (status, _) = call(Method::DELETE, &one, Some(&bot), None).await;
    assert_eq!(status, 204);
    let (status, body) = call(Method::GET, &one, Some(&bot), None).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10063)), "{body}");
    let (status, body) = call(Method::GET, "/applications/999/commands", Some(&bot), None).await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50001)), "{body}");
    let answer = Some(r#"{"type": 4, "data": {"content": "x"}}"#);
    let (status, body) = call(Method::POST, "/interactions/1/nope/callback", None, answer).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10062)), "{body}");
    let (status, body) =
        call(Method::POST, &format!("/webhooks/{application_id}/nope"), None, Some(r#"{"content": "x"}"#)).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10015)), "{body}");
    let (status, body) = call(Method::POST, "/users/@me/channels", Some(&bot), Some(r#"{"recipient_id": "5"}"#)).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10013)), "{body}");

    // The portal: only a Nexus user, and a real application.
    let anonymous = http.post(format!("{}{PORTAL}/applications", hs.base_url())).json(&json!({"name": "x"})).send();
    assert_eq!(anonymous.await.unwrap().status().as_u16(), 401);
    let short = alice.post(&format!("{PORTAL}/applications"), json!({"name": "x"})).await;
    assert_eq!(short.status, 400);
    let unknown = alice
        .post(&format!("{PORTAL}/applications/42/guilds/{}", nexus_complement::enc(&server.space)), json!({}))
        .await;
    assert_eq!((unknown.status, unknown.json["code"].as_u64()), (404, Some(10002)), "{unknown:?}");
}
both_backends!(bad_input_gets_discords_errors);

type Gateway = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn gateway(hs: &Homeserver, query: &str) -> Gateway {
    let url = format!("{}/gateway?v=10&encoding=json{query}", hs.base_url().replacen("http", "ws", 1));
    tokio_tungstenite::connect_async(url).await.expect("the gateway accepts a WebSocket").0
}

/// The next JSON frame (text), or the close code when the server closes.
async fn frame(ws: &mut Gateway) -> Result<Value, u16> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let next = tokio::time::timeout(WAIT, ws.next()).await.expect("the gateway answers in time");
        match next {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).expect("JSON frames")),
            Some(Ok(Message::Close(frame))) => return Err(frame.map_or(1005, |f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            other => panic!("the gateway went away without a close frame: {other:?}"),
        }
    }
}

async fn send(ws: &mut Gateway, message: tokio_tungstenite::tungstenite::Message) {
    use futures_util::SinkExt;
    ws.send(message).await.expect("the gateway takes the frame");
}

fn text(value: Value) -> tokio_tungstenite::tungstenite::Message {
    tokio_tungstenite::tungstenite::Message::text(value.to_string())
}

/// The dispatch of type `kind`, skipping others.
async fn dispatch(ws: &mut Gateway, kind: &str) -> Value {
    loop {
        let frame = frame(ws).await.unwrap_or_else(|code| panic!("closed with {code} before {kind}"));
        if frame["t"] == kind {
            return frame;
        }
    }
}

/// Gateway garbage gets Discord's close codes, never a crash; a session
/// closed with 1000 cannot be resumed, a dropped one can (and replays what
/// it missed); zlib-stream frames are binary with a sync flush.
async fn the_gateway_closes_on_garbage_and_resumes_like_discord(backend: Backend) {
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    let mut hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Gateway").await;
    let (_, token) = bot_in(&alice, &server.space).await;
    let identify = |intents: u64, token: &str| {
        text(
            json!({"op": 2, "d": {"token": token, "intents": intents, "properties": {"os": "linux", "browser": "t", "device": "t"}}}),
        )
    };
    // GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT
    let intents = 1 | 1 << 9 | 1 << 15;

    let mut zlib = gateway(&hs, "&compress=zlib-stream").await;
    {
        use futures_util::StreamExt;
        match tokio::time::timeout(WAIT, zlib.next()).await.unwrap() {
            Some(Ok(Message::Binary(hello))) => assert!(hello.ends_with(&[0, 0, 0xff, 0xff]), "a sync-flushed frame"),
            other => panic!("HELLO is a zlib frame: {other:?}"),
        }
    }

    let cases: Vec<(Message, u16)> = vec![
        (Message::text("this is not json"), 4002),
        (Message::binary(vec![1, 2, 3]), 4002),
        (text(json!({"op": 99})), 4001),
        (text(json!({"op": 3, "d": {}})), 4003),
        (identify(intents, "not-a-token"), 4004),
        (identify(1 << 40, &token), 4013),
        (identify(intents | 1 << 8, &token), 4014),
    ];
    for (garbage, code) in cases {
        let mut ws = gateway(&hs, "").await;
        assert_eq!(frame(&mut ws).await.unwrap()["op"], 10, "HELLO first");
        send(&mut ws, garbage.clone()).await;
        assert_eq!(frame(&mut ws).await, Err(code), "{garbage:?}");
    }

    // Heartbeats are acknowledged; a second IDENTIFY is refused.
    let mut ws = gateway(&hs, "").await;
    frame(&mut ws).await.unwrap();
    send(&mut ws, text(json!({"op": 1, "d": null}))).await;
    assert_eq!(frame(&mut ws).await.unwrap()["op"], 11);
    send(&mut ws, identify(intents, &token)).await;
    let ready = dispatch(&mut ws, "READY").await;
    let session = ready["d"]["session_id"].as_str().unwrap().to_owned();
    send(&mut ws, identify(intents, &token)).await;
    let closed = loop {
        match frame(&mut ws).await {
            Ok(dispatch) => assert_eq!(dispatch["op"], 0, "only the first session's dispatches: {dispatch}"),
            Err(code) => break code,
        }
    };
    assert_eq!(closed, 4005);

    // Dropped without a close frame: RESUME replays what was missed.
    let mut ws = gateway(&hs, "").await;
    frame(&mut ws).await.unwrap();
    send(&mut ws, identify(intents, &token)).await;
    let ready = dispatch(&mut ws, "READY").await;
    let (dropped, seq) = (ready["d"]["session_id"].as_str().unwrap().to_owned(), ready["s"].as_u64().unwrap());
    drop(ws);
    alice.send_message(&server.general, "while you were away").await;
    let mut ws = gateway(&hs, "").await;
    frame(&mut ws).await.unwrap();
    send(&mut ws, text(json!({"op": 6, "d": {"token": token, "session_id": dropped, "seq": seq}}))).await;
    // RESUMED follows what was missed; the message may also reach the
    // homeserver's appservice queue only after the resume.
    let (mut resumed, mut missed) = (false, false);
    while !(resumed && missed) {
        let next = frame(&mut ws).await.unwrap_or_else(|code| panic!("closed with {code}"));
        resumed |= next["t"] == "RESUMED";
        missed |= next["t"] == "MESSAGE_CREATE" && next["d"]["content"] == "while you were away";
    }

    // Closed with 1000: the session is over (INVALID_SESSION, not resumable).
    send(&mut ws, Message::Close(Some(CloseFrame { code: 1000.into(), reason: "bye".into() }))).await;
    let mut ws = gateway(&hs, "").await;
    frame(&mut ws).await.unwrap();
    send(&mut ws, text(json!({"op": 6, "d": {"token": token, "session_id": dropped, "seq": seq}}))).await;
    let invalid = frame(&mut ws).await.unwrap();
    assert_eq!((invalid["op"].as_u64(), invalid["d"].as_bool()), (Some(9), Some(false)), "{invalid}");
    // And a session id that never was is not resumable either.
    send(&mut ws, text(json!({"op": 6, "d": {"token": token, "session_id": format!("{session}x"), "seq": 1}}))).await;
    assert_eq!(frame(&mut ws).await.unwrap()["op"], 9);

    // Over 120 commands a minute: 4008.
    let mut ws = gateway(&hs, "").await;
    frame(&mut ws).await.unwrap();
    for _ in 0..121 {
        send(&mut ws, text(json!({"op": 1, "d": null}))).await;
    }
    let closed = loop {
        match frame(&mut ws).await {
            Ok(ack) => assert_eq!(ack["op"], 11),
            Err(code) => break code,
        }
    };
    assert_eq!(closed, 4008);

    // The server shutting down tells connected bots to RECONNECT.
    let mut ws = gateway(&hs, "").await;
    frame(&mut ws).await.unwrap();
    send(&mut ws, identify(intents, &token)).await;
    dispatch(&mut ws, "READY").await;
    hs.stop();
    let reconnect = loop {
        let next = frame(&mut ws).await.expect("op 7 before the close");
        if next["op"] != 0 {
            break next;
        }
    };
    assert_eq!(reconnect["op"], 7, "{reconnect}");
}
both_backends!(the_gateway_closes_on_garbage_and_resumes_like_discord);

/// The bridge as a process of its own (`nexus-bridge --config`) beside a
/// homeserver that loads its registration like any bridge's (its in-process
/// bot API off): a discord.py bot pointed at the bridge hears a Matrix
/// user's `!ping` and its reply lands in Matrix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_runs_as_its_own_process() {
    let Some(python) = discord_python() else {
        eprintln!("SKIP discord_bot_api: discord.py is not installed");
        return;
    };
    let bridge_bin = nexus_complement::nexus_binary().with_file_name("nexus-bridge");
    assert!(bridge_bin.is_file(), "{} is built with the server (cargo build --workspace --bins)", bridge_bin.display());
    let dir = tempfile::tempdir().unwrap();
    let port = nexus_complement::homeserver::free_port();
    let bridge_url = format!("http://127.0.0.1:{port}");
    let registration = dir.path().join("registration.yaml");
    let config = dir.path().join("bridge.toml");
    let write_config = |homeserver: &str, server_name: &str| {
        let text = format!(
            "homeserver_url = {homeserver:?}\nserver_name = {server_name:?}\nlisten = \"127.0.0.1:{port}\"\n\
             registration = {:?}\ndata = {:?}\n",
            registration.display().to_string(),
            dir.path().join("store").display().to_string(),
        );
        std::fs::write(&config, text).unwrap();
    };
    // The registration first, for the homeserver to load at its start.
    write_config("http://127.0.0.1:1", "localhost");
    let written =
        std::process::Command::new(&bridge_bin).arg("--config").arg(&config).arg("--write-registration").output();
    assert!(written.as_ref().is_ok_and(|o| o.status.success()), "{written:?}");
    let hs = Homeserver::builder(Backend::RocksDb)
        .env(
            "NEXUS__APPSERVICE__REGISTRATION_FILES",
            nexus_complement::appservice::registration_files_env(std::slice::from_ref(&registration)),
        )
        .env("NEXUS__BOT_API__ENABLED", "false")
        .start()
        .await;
    write_config(&hs.base_url(), &hs.server_name());
    let _bridge = tokio::process::Command::new(&bridge_bin)
        .arg("--config")
        .arg(&config)
        .kill_on_drop(true)
        .spawn()
        .expect("start nexus-bridge");
    let http = reqwest::Client::new();
    eventually("nexus-bridge is listening", WAIT, || async {
        match http.get(format!("{bridge_url}/api/v10/gateway")).send().await {
            Ok(answer) if answer.status().is_success() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // The in-process bot API is off: the homeserver serves no /api.
    let none = http.get(format!("{}/api/v10/gateway", hs.base_url())).send().await.unwrap();
    assert_ne!(none.status().as_u16(), 200);

    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Standalone").await;
    let portal = |path: String, body: Value| {
        let request = http.post(format!("{bridge_url}{PORTAL}{path}")).bearer_auth(&alice.access_token).json(&body);
        async move {
            let answer = request.send().await.expect("the portal answers");
            assert_eq!(answer.status().as_u16(), 200);
            answer.json::<Value>().await.unwrap()
        }
    };
    let made =
        portal("/applications".to_owned(), json!({"name": "pingbot", "privileged_intents": ["message_content"]})).await;
    let (id, token) = (made["id"].as_str().unwrap().to_owned(), made["token"].as_str().unwrap().to_owned());
    portal(format!("/applications/{id}/guilds/{}", nexus_complement::enc(&server.space)), json!({})).await;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("discord/discord_py_bot.py");
    let mut command = tokio::process::Command::new(&python);
    command.arg(script);
    let mut bot = PyBot::run_at(command, &bridge_url, &token);
    assert_eq!(bot.next("ready").await["guilds"][0]["name"], "Standalone");
    let ping = alice.send_message(&server.general, "!ping").await;
    assert_eq!(bot.next("message").await["content"], "!ping");
    bot.next("replied").await;
    let chunk = alice.messages(&server.general, "dir=b&limit=10").await;
    let chunk = chunk.expect_ok()["chunk"].as_array().unwrap().clone();
    let pong = chunk.iter().find(|e| e["content"]["body"] == "pong").expect("pong in #general");
    assert_eq!(pong["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], ping);
}
