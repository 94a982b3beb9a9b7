//! `nexus admin`: the daily admin tasks from a shell. Every command is a
//! request to the admin API, sent either to a running server (`--token`,
//! or `NEXUS_ADMIN_TOKEN`, an admin's access token; `--url` or the
//! configured client listener) or, with no token, routed in-process
//! through the same handlers on the store itself while the server is
//! stopped — the operator acting without an account (how the first admin
//! is made). `--json` prints the API's answers for scripts.

use anyhow::{Context, bail};
use axum::body::Body;
use clap::Subcommand;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::config::Config;

#[derive(clap::Args)]
pub struct AdminArgs {
    /// The server's client URL (default: the configured client listener).
    #[arg(long)]
    url: Option<String>,
    /// An admin's access token (or NEXUS_ADMIN_TOKEN). Without one, the
    /// command works on the store directly: stop the server first.
    #[arg(long, env = "NEXUS_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the admin API's JSON answers.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Accounts.
    #[command(subcommand)]
    Users(UserCommand),
    /// Rooms.
    #[command(subcommand)]
    Rooms(RoomCommand),
    /// Registration tokens.
    #[command(subcommand)]
    Tokens(TokenCommand),
    /// Counts of users, rooms and media.
    Stats,
    /// The full-text search index.
    #[command(subcommand)]
    Search(SearchCommand),
}

#[derive(Subcommand)]
enum SearchCommand {
    /// Documents indexed, events waiting, whether a rebuild runs.
    Status,
    /// Empty the index and index every event again (in the background; a
    /// stopped server finishes it when it starts).
    Reindex,
}

#[derive(Subcommand)]
enum UserCommand {
    /// List accounts (deactivated ones too with --all).
    List {
        #[arg(long)]
        all: bool,
    },
    /// One account.
    Show { user: String },
    /// Create an account.
    Create {
        user: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        displayname: Option<String>,
    },
    /// Make an account a server admin (or, with --revoke, no longer one).
    MakeAdmin {
        user: String,
        #[arg(long)]
        revoke: bool,
    },
    /// Set a new password; the account's sessions end unless --keep-sessions.
    ResetPassword {
        user: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        keep_sessions: bool,
    },
    /// Deactivate an account (for good); --erase hides its messages too.
    Deactivate {
        user: String,
        #[arg(long)]
        erase: bool,
    },
    /// Lock an account (--undo unlocks).
    Lock {
        user: String,
        #[arg(long)]
        undo: bool,
    },
    /// Suspend an account (--undo lifts it).
    Suspend {
        user: String,
        #[arg(long)]
        undo: bool,
    },
}

#[derive(Subcommand)]
enum RoomCommand {
    /// List rooms (names containing --search).
    List {
        #[arg(long)]
        search: Option<String>,
    },
    /// One room.
    Show { room: String },
    /// Make every local member leave, then purge the room from this server.
    Delete {
        room: String,
        /// Also refuse this server's users joining it again.
        #[arg(long)]
        block: bool,
        /// Keep its history on this server (members still leave).
        #[arg(long)]
        keep_history: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// List registration tokens.
    List,
    /// Create a registration token (random unless --token).
    Create {
        #[arg(long)]
        token: Option<String>,
        #[arg(long)]
        uses: Option<u64>,
        #[arg(long)]
        expires_in_days: Option<u64>,
    },
    /// Delete a registration token.
    Delete { token: String },
}

/// Where requests go.
enum Transport {
    Http { base: String, token: String, client: reqwest::Client },
    InProcess { router: axum::Router },
}

impl Transport {
    /// A Synapse admin API request (`path` under `/_synapse/admin`).
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.call_at(method, &format!("/_synapse/admin{path}"), body).await
    }

    /// An admin request to any path (Nexus's own under `/_nexus/admin`).
    async fn call_at(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, answer) = match self {
            Transport::Http { base, token, client } => {
                let method = reqwest::Method::from_bytes(method.as_bytes())?;
                let mut request = client.request(method, format!("{base}{path}")).bearer_auth(token);
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let response = request.send().await.with_context(|| format!("reaching {base}"))?;
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap_or(Value::Null))
            }
            Transport::InProcess { router } => {
                let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
                let mut request = axum::http::Request::builder()
                    .method(method)
                    .uri(path)
                    .header("content-type", "application/json")
                    .body(body)?;
                request.extensions_mut().insert(nexus_api::OperatorRequest);
                let response = router.clone().oneshot(request).await?;
                let status = response.status().as_u16();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
                (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
            }
        };
        if !(200..300).contains(&status) {
            let error = answer["error"].as_str().unwrap_or("no explanation");
            bail!("{} {error} (HTTP {status})", answer["errcode"].as_str().unwrap_or("error"));
        }
        Ok(answer)
    }
}

fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub fn run(config: Config, args: AdminArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let server_name = config.server.server_name.to_string();
        let transport = match &args.token {
            Some(token) => Transport::Http {
                base: args.url.clone().unwrap_or_else(|| format!("http://{}", config.listeners.client)),
                token: token.clone(),
                client: reqwest::Client::new(),
            },
            None => {
                let store = nexus_storage::open(&config.store_options(), nexus_storage::catalog::NEXUS)
                    .await
                    .context("opening the store (is the server running? then give --token)")?;
                let services = nexus_core::Services::start(config.settings(), store).await?;
                let state = nexus_api::AppState {
                    services,
                    max_request_bytes: config.listeners.max_request_bytes,
                    web_client: None,
                };
                Transport::InProcess { router: nexus_api::router(state) }
            }
        };
        let user_id = |raw: &str| if raw.starts_with('@') { raw.to_owned() } else { format!("@{raw}:{server_name}") };
        let answer = execute(&transport, &args.command, &user_id).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&answer)?);
        } else {
            print_human(&args.command, &answer);
        }
        Ok(())
    })
}

async fn execute(t: &Transport, command: &AdminCommand, user_id: &dyn Fn(&str) -> String) -> anyhow::Result<Value> {
    let user_path = |raw: &str| format!("/v2/users/{}", encode(&user_id(raw)));
    Ok(match command {
        AdminCommand::Users(UserCommand::List { all }) => {
            let mut users = Vec::new();
            let mut from = 0u64;
            loop {
                let page = t
                    .call("GET", &format!("/v2/users?from={from}&limit=500&deactivated={all}&locked=true"), None)
                    .await?;
                users.extend(page["users"].as_array().cloned().unwrap_or_default());
                match page["next_token"].as_str().and_then(|n| n.parse().ok()) {
                    Some(next) => from = next,
                    None => break,
                }
            }
            json!({ "users": users, "total": users.len() })
        }
        AdminCommand::Users(UserCommand::Show { user }) => t.call("GET", &user_path(user), None).await?,
        AdminCommand::Users(UserCommand::Create { user, password, admin, displayname }) => {
            let mut body = json!({ "password": password, "admin": admin });
            if let Some(name) = displayname {
                body["displayname"] = json!(name);
            }
            t.call("PUT", &user_path(user), Some(body)).await?
        }
        AdminCommand::Users(UserCommand::MakeAdmin { user, revoke }) => {
            t.call("PUT", &user_path(user), Some(json!({ "admin": !revoke }))).await?
        }
        AdminCommand::Users(UserCommand::ResetPassword { user, password, keep_sessions }) => {
            let body = json!({ "new_password": password, "logout_devices": !keep_sessions });
            t.call("POST", &format!("/v1/reset_password/{}", encode(&user_id(user))), Some(body)).await?
        }
        AdminCommand::Users(UserCommand::Deactivate { user, erase }) => {
            let body = json!({ "erase": erase });
            t.call("POST", &format!("/v1/deactivate/{}", encode(&user_id(user))), Some(body)).await?
        }
        AdminCommand::Users(UserCommand::Lock { user, undo }) => {
            t.call("PUT", &user_path(user), Some(json!({ "locked": !undo }))).await?
        }
        AdminCommand::Users(UserCommand::Suspend { user, undo }) => {
            let path = format!("/v1/suspend/{}", encode(&user_id(user)));
            t.call("PUT", &path, Some(json!({ "suspend": !undo }))).await?
        }
        AdminCommand::Rooms(RoomCommand::List { search }) => {
            let mut rooms = Vec::new();
            let mut from = 0u64;
            loop {
                let mut path = format!("/v1/rooms?from={from}&limit=500");
                if let Some(term) = search {
                    path.push_str(&format!("&search_term={}", encode(term)));
                }
                let page = t.call("GET", &path, None).await?;
                rooms.extend(page["rooms"].as_array().cloned().unwrap_or_default());
                match page["next_batch"].as_u64() {
                    Some(next) => from = next,
                    None => break,
                }
            }
            json!({ "rooms": rooms, "total_rooms": rooms.len() })
        }
        AdminCommand::Rooms(RoomCommand::Show { room }) => {
            t.call("GET", &format!("/v1/rooms/{}", encode(room)), None).await?
        }
        AdminCommand::Rooms(RoomCommand::Delete { room, block, keep_history }) => {
            let body = json!({ "block": block, "purge": !keep_history });
            t.call("DELETE", &format!("/v1/rooms/{}", encode(room)), Some(body)).await?
        }
        AdminCommand::Tokens(TokenCommand::List) => t.call("GET", "/v1/registration_tokens", None).await?,
        AdminCommand::Tokens(TokenCommand::Create { token, uses, expires_in_days }) => {
            let mut body = json!({});
            if let Some(token) = token {
                body["token"] = json!(token);
            }
            if let Some(uses) = uses {
                body["uses_allowed"] = json!(uses);
            }
            if let Some(days) = expires_in_days {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
                body["expiry_time"] = json!(now + days * 86_400_000);
            }
            t.call("POST", "/v1/registration_tokens/new", Some(body)).await?
        }
        AdminCommand::Tokens(TokenCommand::Delete { token }) => {
            t.call("DELETE", &format!("/v1/registration_tokens/{}", encode(token)), None).await?
        }
        AdminCommand::Search(SearchCommand::Status) => t.call_at("GET", "/_nexus/admin/v1/search", None).await?,
        AdminCommand::Search(SearchCommand::Reindex) => {
            t.call_at("POST", "/_nexus/admin/v1/search/reindex", Some(json!({}))).await?
        }
        AdminCommand::Stats => {
            let version = t.call("GET", "/v1/server_version", None).await?;
            let users = t.call("GET", "/v3/users?limit=1&locked=true", None).await?;
            let active = t.call("GET", "/v3/users?limit=1&deactivated=false&locked=true", None).await?;
            let rooms = t.call("GET", "/v1/rooms?limit=1", None).await?;
            let media = t.call("GET", "/v1/statistics/users/media?limit=100000", None).await?;
            let list = media["users"].as_array().cloned().unwrap_or_default();
            let count: u64 = list.iter().filter_map(|u| u["media_count"].as_u64()).sum();
            let bytes: u64 = list.iter().filter_map(|u| u["media_length"].as_u64()).sum();
            json!({
                "server_version": version["server_version"],
                "users": users["total"],
                "active_users": active["total"],
                "rooms": rooms["total_rooms"],
                "media_count": count,
                "media_bytes": bytes,
            })
        }
    })
}

fn print_human(command: &AdminCommand, answer: &Value) {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    match command {
        AdminCommand::Users(UserCommand::List { .. }) => {
            for user in answer["users"].as_array().into_iter().flatten() {
                let mut flags = Vec::new();
                for flag in ["admin", "deactivated", "locked"] {
                    if user[flag] == true {
                        flags.push(flag);
                    }
                }
                println!("{}\t{}\t{}", text(&user["name"]), text(&user["displayname"]), flags.join(","));
            }
            println!("{} accounts", answer["total"]);
        }
        AdminCommand::Rooms(RoomCommand::List { .. }) => {
            for room in answer["rooms"].as_array().into_iter().flatten() {
                println!("{}\t{}\t{} members", text(&room["room_id"]), text(&room["name"]), room["joined_members"]);
            }
            println!("{} rooms", answer["total_rooms"]);
        }
        AdminCommand::Tokens(TokenCommand::List) => {
            for token in answer["registration_tokens"].as_array().into_iter().flatten() {
                println!(
                    "{}\tuses {}/{}\texpires {}",
                    text(&token["token"]),
                    token["completed"],
                    text(&token["uses_allowed"]),
                    text(&token["expiry_time"])
                );
            }
        }
        _ => match answer.as_object() {
            Some(fields) if !fields.is_empty() => {
                for (key, value) in fields {
                    println!("{key}: {}", text(value));
                }
            }
            _ => println!("done"),
        },
    }
}
