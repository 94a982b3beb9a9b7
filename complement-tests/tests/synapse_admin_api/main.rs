//! The Synapse-compatible admin API (issue 22), judged by what synapse-admin
//! sends and reads: its users list (v2 and v3 filters, paging, `total`,
//! `next_token`), the user edit page's requests (user, devices, whois,
//! joined rooms, memberships, pushers) and its saves (create with 201,
//! change with 200, unknown fields ignored), deactivation, password
//! resets; 403 for non-admins, Synapse's errors for bad input.

mod bad_input;
mod federation;
mod media;
mod moderation;
mod notices;
mod reports;
mod room_actions;
mod room_deletion;
mod rooms;
mod tokens;
mod user_actions;
mod users;

use std::process::Stdio;

use nexus_complement::{Backend, Homeserver, Session, both_backends, enc};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const SECRET: &str = "admin-test-secret";
const MAC_PY: &str = "import hashlib, hmac, sys\n\
print(hmac.new(sys.argv[1].encode(), '\\x00'.join(sys.argv[2:]).encode(), hashlib.sha1).hexdigest())";

async fn server(backend: Backend) -> Homeserver {
    // Without the bot API, whose bridge user would be one more account.
    Homeserver::builder(backend)
        .env("NEXUS__REGISTRATION__SHARED_SECRET", SECRET)
        .env("NEXUS__BOT_API__ENABLED", "false")
        .start()
        .await
}

/// An admin, registered with the shared secret and `admin: true`.
async fn admin(hs: &Homeserver, localpart: &str) -> Session {
    let api = hs.api();
    let nonce = api.get("/_synapse/admin/v1/register").await;
    let nonce = nonce.expect_ok()["nonce"].as_str().unwrap().to_owned();
    let mac = tokio::process::Command::new("python3")
        .args(["-c", MAC_PY, SECRET, &nonce, localpart, PASSWORD, "admin"])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("python3 for the MAC");
    let mac = String::from_utf8(mac.stdout).unwrap().trim().to_owned();
    let body = json!({"nonce": nonce, "username": localpart, "password": PASSWORD, "admin": true, "mac": mac});
    let reply = api.post("/_synapse/admin/v1/register", body).await;
    api.session_from(reply.expect_ok(), PASSWORD, &reply)
}

fn user_path(user: &str) -> String {
    format!("/_synapse/admin/v2/users/{}", enc(user))
}
