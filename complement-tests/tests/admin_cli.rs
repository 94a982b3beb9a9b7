//! `nexus admin` (issue 22): the daily admin tasks from a shell — on the
//! store while the server is stopped (how the first admin is made), and
//! against a running server with an admin's token; `--json` for scripts,
//! a failing command exits non-zero with the API's error.

use std::process::Output;

use nexus_complement::{Backend, Homeserver, both_backends, enc};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "nexus admin failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `nexus admin --url … --token … --json <args>`, its JSON answer.
async fn online(hs: &Homeserver, token: &str, args: &[&str]) -> Output {
    let base = hs.base_url();
    let mut all = vec!["admin", "--url", base.as_str(), "--token", token, "--json"];
    all.extend_from_slice(args);
    hs.run_binary(&all).await
}

async fn online_json(hs: &Homeserver, token: &str, args: &[&str]) -> Value {
    let output = online(hs, token, args).await;
    let text = stdout(&output);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn admin_tasks_from_the_shell(backend: Backend) {
    let mut hs = Homeserver::builder(backend).env("NEXUS__BOT_API__ENABLED", "false").start().await;
    hs.stop();

    // With the server stopped: the first admin, and a user, on the store.
    let made = hs.run_binary(&["admin", "users", "create", "root", "--password", PASSWORD, "--admin"]).await;
    assert!(stdout(&made).contains("admin: true"), "{}", stdout(&made));
    let alice_made =
        hs.run_binary(&["admin", "users", "create", "alice", "--password", PASSWORD, "--displayname", "Alice"]).await;
    stdout(&alice_made);
    let listed = stdout(&hs.run_binary(&["admin", "users", "list"]).await);
    assert!(listed.contains(&format!("{}\tAlice", hs.user_id("alice"))), "{listed}");
    assert!(listed.contains("2 accounts"), "{listed}");

    // Running again: the store is the server's; the CLI needs a token.
    hs.restart().await;
    if backend == Backend::RocksDb {
        let busy = hs.run_binary(&["admin", "users", "list"]).await;
        assert!(!busy.status.success());
        assert!(String::from_utf8_lossy(&busy.stderr).contains("--token"), "{busy:?}");
    }
    let api = hs.api();
    let root = api.login("root", PASSWORD).await;
    let token = root.access_token.as_str();
    let alice = api.login("alice", PASSWORD).await;
    let room = alice.create_room(json!({"name": "Doomed"})).await;

    let users = online_json(&hs, token, &["users", "list"]).await;
    assert_eq!(users["total"], 2, "{users}");
    let stats = online_json(&hs, token, &["stats"]).await;
    assert_eq!((stats["users"].as_u64(), stats["rooms"].as_u64()), (Some(2), Some(1)), "{stats}");

    let created = online_json(&hs, token, &["tokens", "create", "--token", "welcome", "--uses", "1"]).await;
    assert_eq!((created["token"].as_str(), created["uses_allowed"].as_u64()), (Some("welcome"), Some(1)));
    let tokens = online_json(&hs, token, &["tokens", "list"]).await;
    assert_eq!(tokens["registration_tokens"][0]["token"], "welcome", "{tokens}");

    let rooms = online_json(&hs, token, &["rooms", "list"]).await;
    assert_eq!(rooms["rooms"][0]["room_id"], room.as_str(), "{rooms}");
    let deleted = online_json(&hs, token, &["rooms", "delete", &room, "--block"]).await;
    assert_eq!(deleted["kicked_users"], json!([alice.user_id]), "{deleted}");
    root.get(&format!("/_synapse/admin/v1/rooms/{}", enc(&room))).await.expect_error(404, "M_NOT_FOUND");

    stdout(&online(&hs, token, &["users", "reset-password", "alice", "--password", "n3w-Passw0rd"]).await);
    alice.expect_token_rejected().await;
    api.login("alice", "n3w-Passw0rd").await;
    stdout(&online(&hs, token, &["users", "deactivate", "alice", "--erase"]).await);
    let shown = online_json(&hs, token, &["users", "show", "alice"]).await;
    assert_eq!((shown["deactivated"].as_bool(), shown["erased"].as_bool()), (Some(true), Some(true)), "{shown}");

    // Errors: the API's, and a non-zero exit; a non-admin's token is refused.
    let missing = online(&hs, token, &["users", "show", "nobody"]).await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("M_NOT_FOUND"), "{missing:?}");
    let bob = api.register("bob", PASSWORD).await;
    let refused = online(&hs, &bob.access_token, &["users", "list"]).await;
    assert!(String::from_utf8_lossy(&refused.stderr).contains("M_FORBIDDEN"), "{refused:?}");
}
both_backends!(admin_tasks_from_the_shell);
