//! One `nexus serve` process on a loopback port, with its own data directory
//! (and, for the PostgreSQL backend, its own database).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::client::Api;
use crate::federation::TestCa;
use crate::postgres::TestDatabase;

/// How long a server may take to answer `GET /_matrix/client/versions`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERM'd server may take to exit.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of the server log to show when something goes wrong.
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// The storage backend a server under test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    RocksDb,
    Postgres,
}

impl Backend {
    /// The value of `storage.backend` in the server's configuration.
    pub fn config_value(self) -> &'static str {
        match self {
            Backend::RocksDb => "rocksdb",
            Backend::Postgres => "postgres",
        }
    }
}

/// The `nexus` binary under test: `$NEXUS_BIN` if set; otherwise the first
/// that exists of `$CARGO_TARGET_DIR/debug/nexus`,
/// `$HOME/.cache/nexus-target/debug/nexus` (the server workspace's usual
/// target directory) and `<repo>/target/debug/nexus`.
///
/// `CARGO_TARGET_DIR` is tried first but may well be *this* workspace's
/// target directory (which never holds a `nexus`), hence the fallbacks.
pub fn nexus_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("NEXUS_BIN") {
        let bin = PathBuf::from(bin);
        assert!(bin.exists(), "NEXUS_BIN={} does not exist", bin.display());
        return bin;
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("debug/nexus"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cache/nexus-target/debug/nexus"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/nexus"));
    candidates.iter().find(|bin| bin.is_file()).cloned().unwrap_or_else(|| {
        panic!(
            "the nexus binary was not found (tried {candidates:?}) — build the server \
                 first (cargo build -p nexus in the repository root) or set NEXUS_BIN"
        )
    })
}

/// A free TCP port on 127.0.0.1 for a server to bind.
///
/// Asking the kernel for port 0 and letting it go races: parallel tests (and
/// every outgoing connection) draw from the same ephemeral range, and a
/// server was seen to lose its port that way. Ports here come from below
/// the ephemeral range (20000–32767), handed out by one counter per test
/// process (so two tests never get the same one), starting at an offset
/// taken from the process id, and each is checked to be bindable.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let offset = (u64::from(std::process::id()) * 7919 % u64::from(SPAN)) as u32;
    let _ = NEXT.compare_exchange(u32::MAX, offset, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + SPAN)
}

/// Configures a [`Homeserver`] before it starts.
pub struct HomeserverBuilder {
    backend: Backend,
    env: Vec<(String, String)>,
    config_toml: Option<String>,
    federation: Option<TestCa>,
    /// A DNS name to be known by instead of `127.0.0.1:<port>`.
    federation_name: Option<String>,
    /// More DNS names the certificate is valid for (a name that delegates here).
    certificate_names: Vec<String>,
    /// Where the federation listener binds, instead of 127.0.0.1:<free port>.
    federation_listen: Option<(String, u16)>,
    /// Another process of the same cluster: its database and server name.
    cluster_with: Option<(String, String)>,
}

impl HomeserverBuilder {
    /// Federates (as [`federation`](Self::federation)) under the server name
    /// `name` — a DNS name the other servers must resolve (SRV, well-known)
    /// — with a certificate valid for it.
    /// Makes the federation certificate valid also for `name` (the name a
    /// well-known delegation points at).
    pub fn certified_for(mut self, name: &str) -> Self {
        self.certificate_names.push(name.to_owned());
        self
    }

    /// Binds the federation listener to `ip:port` (e.g. a loopback address
    /// of its own on the default port 8448, which a name without a port or
    /// SRV record leads to).
    pub fn federation_listening_on(mut self, ip: &str, port: u16) -> Self {
        self.federation_listen = Some((ip.to_owned(), port));
        self
    }

    /// `name` may contain `{port}`, replaced by the federation port (a host
    /// name with an explicit port).
    pub fn federation_named(mut self, ca: &TestCa, name: &str) -> Self {
        self.federation = Some(ca.clone());
        self.federation_name = Some(name.to_owned());
        self
    }

    /// Makes this process one of a cluster over the Redis at `redis_url`
    /// (PostgreSQL only), with a lease of `lease_secs`: on `first`'s
    /// database and under its server name, or (no `first`) on a new
    /// database as the first process.
    pub fn clustered(mut self, redis_url: &str, lease_secs: u64, first: Option<&Homeserver>) -> Self {
        assert_eq!(self.backend, Backend::Postgres, "a cluster shares one PostgreSQL");
        if let Some(first) = first {
            let database = first.database_url().expect("the first process has a database").to_owned();
            self.cluster_with = Some((database, first.server_name()));
        }
        self.env.push(("NEXUS__REDIS__URL".to_owned(), redis_url.to_owned()));
        self.env.push(("NEXUS__CLUSTER__LEASE_SECS".to_owned(), lease_secs.to_string()));
        self
    }

    /// Sets an extra environment variable (e.g. `NEXUS__REGISTRATION__ENABLED`).
    /// Later values win over the harness defaults and over earlier calls.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Writes this TOML to a file and starts the server with
    /// `nexus serve --config FILE`. The harness's environment variables
    /// (port, server name, storage) still apply on top of it.
    pub fn config_file(mut self, toml: impl Into<String>) -> Self {
        self.config_toml = Some(toml.into());
        self
    }

    /// Makes the server federate: a federation TLS listener on another free
    /// loopback port, with a certificate for `127.0.0.1` issued by `ca`, the
    /// server name `127.0.0.1:<federation port>` (so that other servers reach
    /// it by its name alone), and `ca` trusted for outbound federation TLS.
    pub fn federation(mut self, ca: &TestCa) -> Self {
        self.federation = Some(ca.clone());
        self
    }

    /// Starts the server and waits until it answers `/versions`.
    pub async fn start(self) -> Homeserver {
        let dir = tempfile::Builder::new().prefix("nexus-complement-").tempdir().expect("create a temporary directory");
        let database = match (self.backend, &self.cluster_with) {
            (Backend::RocksDb, _) | (Backend::Postgres, Some(_)) => None,
            (Backend::Postgres, None) => Some(TestDatabase::create()),
        };
        let port = free_port();
        let config_path = self.config_toml.map(|toml| {
            let path = dir.path().join("nexus.toml");
            std::fs::write(&path, toml).expect("write the config file");
            path
        });

        let federation_port =
            self.federation.as_ref().map(|_| self.federation_listen.as_ref().map_or_else(free_port, |(_, port)| *port));
        let federation_ip = self.federation_listen.as_ref().map_or("127.0.0.1", |(ip, _)| ip.as_str()).to_owned();
        let server_name = match (federation_port, &self.federation_name, &self.cluster_with) {
            (_, _, Some((_, name))) => name.clone(),
            (Some(fed_port), Some(name), None) => name.replace("{port}", &fed_port.to_string()),
            (Some(fed_port), None, None) => format!("127.0.0.1:{fed_port}"),
            (None, _, None) => format!("localhost:{port}"),
        };

        let mut env = vec![
            ("NEXUS__SERVER__SERVER_NAME".to_owned(), server_name.clone()),
            ("NEXUS__LISTENERS__CLIENT".to_owned(), format!("127.0.0.1:{port}")),
            ("NEXUS__STORAGE__PATH".to_owned(), dir.path().join("data").display().to_string()),
            ("NEXUS__STORAGE__BACKEND".to_owned(), self.backend.config_value().to_owned()),
            // Scenarios log in and register far faster than any person; the
            // rate-limit scenarios set their own, tight values.
            ("NEXUS__RATE_LIMITS__LOGIN_PER_SECOND".to_owned(), "1000".to_owned()),
            ("NEXUS__RATE_LIMITS__LOGIN_BURST".to_owned(), "1000".to_owned()),
            ("NEXUS__RATE_LIMITS__REGISTER_PER_SECOND".to_owned(), "1000".to_owned()),
            ("NEXUS__RATE_LIMITS__REGISTER_BURST".to_owned(), "1000".to_owned()),
            ("NEXUS__LOGGING__LEVEL".to_owned(), "info".to_owned()),
            // Every peer of a scenario (other servers, push gateways) is on
            // loopback, which the outbound policy refuses by default; the
            // SSRF scenarios put the default back.
            ("NEXUS__OUTBOUND__ALLOWED_IP_RANGES".to_owned(), "[\"127.0.0.0/8\"]".to_owned()),
            // Scenarios run side by side: each SFU takes a free UDP port.
            ("NEXUS__SFU__UDP".to_owned(), "127.0.0.1:0".to_owned()),
            // The log is a file read by people: no terminal colour codes.
            ("NO_COLOR".to_owned(), "1".to_owned()),
        ];
        if let Some(db) = &database {
            env.push(("NEXUS__STORAGE__POSTGRES_URL".to_owned(), db.url().to_owned()));
        }
        if let Some((shared, _)) = &self.cluster_with {
            env.push(("NEXUS__STORAGE__POSTGRES_URL".to_owned(), shared.clone()));
        }
        if let (Some(ca), Some(fed_port)) = (&self.federation, federation_port) {
            // Certificates name hosts, not ports.
            let mut names: Vec<&str> = self
                .federation_name
                .iter()
                .chain(&self.certificate_names)
                .map(|n| n.split(':').next().unwrap_or(n))
                .collect();
            names.push(&federation_ip);
            let (cert, key) = ca.issue_for(&format!("nexus-{fed_port}"), &names);
            env.extend([
                ("NEXUS__FEDERATION__ENABLED".to_owned(), "true".to_owned()),
                ("NEXUS__LISTENERS__FEDERATION".to_owned(), format!("{federation_ip}:{fed_port}")),
                ("NEXUS__FEDERATION__TLS_CERTIFICATE".to_owned(), cert.display().to_string()),
                ("NEXUS__FEDERATION__TLS_PRIVATE_KEY".to_owned(), key.display().to_string()),
                ("NEXUS__FEDERATION__TRUSTED_CA_FILES".to_owned(), toml_string_array(&[ca.ca_path()])),
            ]);
        }
        env.extend(self.env);

        let mut hs = Homeserver {
            backend: self.backend,
            port,
            server_name,
            federation_port,
            federation_ip,
            ca: self.federation,
            binary: nexus_binary(),
            env,
            config_path,
            log_path: dir.path().join("nexus.log"),
            child: None,
            database,
            dir,
        };
        hs.spawn();
        hs.wait_until_ready().await;
        hs
    }
}

/// A running `nexus serve` process. Dropping it kills the process (by PID:
/// only the process this harness started) and removes its data.
pub struct Homeserver {
    backend: Backend,
    port: u16,
    /// `localhost:<port>`, or `127.0.0.1:<federation port>` when federating.
    server_name: String,
    federation_port: Option<u16>,
    /// The address the federation listener binds (127.0.0.1 unless set).
    federation_ip: String,
    /// The CA that issued the federation certificate (kept alive with the
    /// server: its directory holds the certificate files).
    ca: Option<TestCa>,
    binary: PathBuf,
    env: Vec<(String, String)>,
    config_path: Option<PathBuf>,
    log_path: PathBuf,
    child: Option<Child>,
    // Dropped after the child is killed (fields drop in declaration order,
    // and `Drop::drop` runs before either).
    database: Option<TestDatabase>,
    dir: TempDir,
}

impl Homeserver {
    /// Starts a server with the harness defaults on `backend`.
    pub async fn start(backend: Backend) -> Homeserver {
        Homeserver::builder(backend).start().await
    }

    /// A builder for a server with extra configuration.
    pub fn builder(backend: Backend) -> HomeserverBuilder {
        HomeserverBuilder {
            backend,
            env: Vec::new(),
            config_toml: None,
            federation: None,
            federation_name: None,
            certificate_names: Vec::new(),
            federation_listen: None,
            cluster_with: None,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The domain of this server's user ids: `localhost:<port>`, or
    /// `127.0.0.1:<federation port>` for a server started with
    /// [`HomeserverBuilder::federation`].
    pub fn server_name(&self) -> String {
        self.server_name.clone()
    }

    /// Whether this server has a federation listener.
    pub fn federates(&self) -> bool {
        self.federation_port.is_some()
    }

    /// The port of the federation TLS listener. Panics for a server started
    /// without [`HomeserverBuilder::federation`].
    pub fn federation_port(&self) -> u16 {
        self.federation_port.expect("this server was started without .federation(&ca)")
    }

    /// `https://127.0.0.1:<federation port>`, without a trailing slash.
    pub fn federation_url(&self) -> String {
        format!("https://{}:{}", self.federation_ip, self.federation_port())
    }

    /// An unauthenticated client for the federation listener (trusting the
    /// test CA): `/_matrix/key/*` and `/_matrix/federation/*` paths.
    pub fn federation_api(&self) -> Api {
        let ca = self.ca.as_ref().expect("this server was started without .federation(&ca)");
        ca.api(self.federation_url())
    }

    /// The full user id for `localpart` on this server.
    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name())
    }

    /// A client-server API client without an access token.
    pub fn api(&self) -> Api {
        Api::new(self.base_url())
    }

    /// The connection URL of this server's database (PostgreSQL backend).
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(TestDatabase::url)
    }

    /// The server's data directory (the temporary directory's `data/`).
    pub fn data_path(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The last part of the server's combined stdout and stderr.
    /// The whole server log so far (for scans such as "no panic anywhere").
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        read_tail(&self.log_path, LOG_TAIL_BYTES)
    }

    /// The process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server with SIGKILL (no chance to flush anything) and waits
    /// for it to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL to exactly this PID.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the server to shut down with SIGTERM and waits for it to exit.
    /// Panics (with the log tail) if it has not exited after 30 s.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server is not running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) with the PID of a child we spawned and have not yet
        // reaped, so the PID cannot have been reused by another process.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {pid} failed");
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for the server") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM; its log follows");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the server again on the same port, data directory and database
    /// (after [`kill9`](Self::kill9) or [`stop`](Self::stop); kills it first
    /// if it still runs) and waits until it answers `/versions`.
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn();
        self.wait_until_ready().await;
    }

    /// Runs `nexus <args>` with this server's configuration (its
    /// environment, config file and directory), as an operator would on
    /// the same machine; the output once it ends.
    pub async fn run_binary(&self, args: &[&str]) -> std::process::Output {
        let mut command = tokio::process::Command::new(&self.binary);
        command.args(args);
        if let Some(path) = &self.config_path {
            command.arg("--config").arg(path);
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("NEXUS__LOGGING__LEVEL", "warn")
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        command.output().await.unwrap_or_else(|e| panic!("failed to run {}: {e}", self.binary.display()))
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the server already runs");
        let log = OpenOptions::new().create(true).append(true).open(&self.log_path).expect("open the server log");
        let mut command = Command::new(&self.binary);
        command.arg("serve");
        if let Some(path) = &self.config_path {
            command.arg("--config").arg(path);
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log);
        let child = command.spawn().unwrap_or_else(|e| panic!("failed to start {}: {e}", self.binary.display()));
        self.child = Some(child);
    }

    async fn wait_until_ready(&mut self) {
        let url = format!("{}/_matrix/client/versions", self.base_url());
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("build an HTTP client");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().expect("poll the server process")
            {
                self.child = None;
                panic!("the server exited during startup ({status}); its log follows");
            }
            if let Ok(response) = http.get(&url).send().await
                && response.status().as_u16() == 200
            {
                break;
            }
            if Instant::now() >= deadline {
                self.kill9();
                panic!(
                    "the server did not answer GET /_matrix/client/versions with 200 \
                     within {STARTUP_TIMEOUT:?}; its log follows"
                );
            }
            // Fine-grained: start-up times are measured through this.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.wait_for_federation_listener(deadline).await;
    }

    /// For a federating server: waits until its federation listener answers
    /// an HTTPS request (any status) with a certificate the test CA vouches
    /// for, so that a scenario's first federation request does not race the
    /// listener, and a broken TLS setup is reported as such.
    async fn wait_for_federation_listener(&mut self, deadline: Instant) {
        let Some(ca) = self.ca.clone() else { return };
        let url = format!("{}/_matrix/key/v2/server", self.federation_url());
        let https = ca.https_client();
        loop {
            let last_error = match https.get(&url).send().await {
                Ok(_) => return,
                Err(e) => format!("{e:?}"),
            };
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().expect("poll the server process")
            {
                self.child = None;
                panic!("the server exited during startup ({status}); its log follows");
            }
            if Instant::now() >= deadline {
                self.kill9();
                panic!(
                    "the federation listener did not answer GET {url} over TLS (trusting the test CA) \
                     within {STARTUP_TIMEOUT:?}: {last_error}; the server log follows"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_banner(&self) -> String {
        format!(
            "----- nexus log ({}, {}, {:?}, last {} KiB) -----\n{}\n----- end of nexus log -----",
            self.server_name,
            self.log_path.display(),
            self.backend,
            LOG_TAIL_BYTES / 1024,
            self.log_tail()
        )
    }
}

impl Drop for Homeserver {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("{}", self.log_banner());
            if std::env::var_os("NEXUS_TEST_KEEP_DATA").is_some() {
                let kept = self.dir.path().to_path_buf();
                // Leak the directory on purpose so it can be inspected.
                let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("create a temporary directory"));
                let _ = dir.keep();
                eprintln!("kept the server's data in {}", kept.display());
            }
        }
    }
}

pub(crate) fn read_tail(path: &Path, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::from("(no log file)");
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::from("(log file not readable)");
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A TOML array of strings for an environment override, e.g. `["/tmp/ca.pem"]`.
fn toml_string_array(paths: &[&Path]) -> String {
    let items: Vec<String> = paths
        .iter()
        .map(|p| {
            let text = p.display().to_string();
            assert!(!text.contains(['"', '\\']), "a path that needs TOML escaping: {text}");
            format!("\"{text}\"")
        })
        .collect();
    format!("[{}]", items.join(", "))
}
