//! Federation: servers that talk to each other over TLS on loopback.
//!
//! - [`TestCa`]: a throwaway certificate authority (made with the `openssl`
//!   command) that issues a certificate for `127.0.0.1` to every server of a
//!   scenario; every server trusts it for outbound federation TLS.
//! - [`HomeserverBuilder::federation`](crate::HomeserverBuilder::federation):
//!   a Nexus whose server name is `127.0.0.1:<federation port>`.
//! - [`Synapse`]: a real Synapse (from PyPI, in a virtualenv) as the peer.
//! - Waiting helpers: federation is asynchronous, so scenarios wait (up to
//!   [`FEDERATION_WAIT`]) for what the other server must eventually show.
//! - Scenario building blocks shared by the Nexus–Nexus and Nexus–Synapse
//!   tests ([`invite_and_join`], [`exchange_messages`], ...).
//!
//! Server names are IP literals with the federation port, so no server
//! needs `.well-known` or SRV discovery: the spec's server discovery says an
//! IP literal with a port is connected to directly, with the IP as the TLS
//! name to verify.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::client::{Api, Reply, Session, enc, room_path};
use crate::homeserver::{free_port, read_tail};
use crate::sync_client::{Synced, inline_filter};

/// How long scenarios wait for something to arrive over federation.
pub const FEDERATION_WAIT: Duration = Duration::from_secs(30);

/// How often [`eventually`] tries again.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How much of a Synapse log to show when something goes wrong.
const LOG_TAIL_BYTES: u64 = 16 * 1024;

// ----------------------------------------------------------------------------
// The test certificate authority
// ----------------------------------------------------------------------------

/// The `openssl` command: `/usr/bin/openssl` if it exists, else `openssl` on
/// the `PATH`.
fn openssl_command() -> std::process::Command {
    let bin = if Path::new("/usr/bin/openssl").is_file() { "/usr/bin/openssl" } else { "openssl" };
    std::process::Command::new(bin)
}

/// Runs `openssl args...` in `dir`; panics with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let output = openssl_command()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run openssl (needed for the federation test CA): {e}"));
    assert!(
        output.status.success(),
        "openssl {args:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

const CA_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = Nexus complement test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
";

const LEAF_REQUEST_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = 127.0.0.1
";

const LEAF_EXTENSIONS: &str = "\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A certificate authority made for one scenario (EC P-256, valid for one
/// day) in a temporary directory. Cloning shares it; the directory goes when
/// the last clone does (servers keep a clone, so their certificate files
/// outlive the scenario's own handle).
#[derive(Clone)]
pub struct TestCa {
    inner: Arc<CaInner>,
}

struct CaInner {
    cert: PathBuf,
    key: PathBuf,
    pem: Vec<u8>,
    issued: AtomicU64,
    // Last: removed after everything above is no longer needed.
    dir: TempDir,
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

impl TestCa {
    /// Makes a new CA key and self-signed CA certificate.
    pub fn new() -> TestCa {
        let dir = tempfile::Builder::new().prefix("nexus-complement-ca-").tempdir().expect("create the CA directory");
        std::fs::write(dir.path().join("ca.cnf"), CA_CONFIG).expect("write ca.cnf");
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-config",
                "ca.cnf",
                "-extensions",
                "v3_ca",
            ],
        );
        let cert = dir.path().join("ca.pem");
        let pem = std::fs::read(&cert).expect("read ca.pem");
        TestCa {
            inner: Arc::new(CaInner { key: dir.path().join("ca.key"), cert, pem, issued: AtomicU64::new(0), dir }),
        }
    }

    /// The CA certificate (PEM): what servers are told to trust.
    pub fn ca_path(&self) -> &Path {
        &self.inner.cert
    }

    /// The CA certificate as PEM text.
    pub fn ca_pem(&self) -> &[u8] {
        &self.inner.pem
    }

    /// The directory certificates are written to.
    pub fn dir(&self) -> &Path {
        self.inner.dir.path()
    }

    /// Issues a server certificate for `127.0.0.1` (subjectAltName
    /// `IP:127.0.0.1, DNS:localhost`, EKU serverAuth, EC P-256, one day)
    /// signed by this CA. Returns `(certificate chain PEM, private key PEM)`:
    /// the chain file holds the leaf followed by the CA certificate; the key
    /// is PKCS#8. `name` only names the files.
    pub fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        self.issue_for(name, &[])
    }

    /// As [`issue`](Self::issue), valid also for the DNS names `dns_names`
    /// (a server found through SRV or a well-known delegation is checked
    /// against its name).
    pub fn issue_for(&self, name: &str, dns_names: &[&str]) -> (PathBuf, PathBuf) {
        let n = self.inner.issued.fetch_add(1, Ordering::Relaxed);
        let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let stem = format!("{safe}-{n}");
        let dir = self.dir();
        let (cnf, ext, key, csr, leaf, chain) = (
            format!("{stem}.cnf"),
            format!("{stem}.ext"),
            format!("{stem}.key"),
            format!("{stem}.csr"),
            format!("{stem}-leaf.pem"),
            format!("{stem}.pem"),
        );
        std::fs::write(dir.join(&cnf), LEAF_REQUEST_CONFIG).expect("write the leaf request config");
        let extra: String = dns_names
            .iter()
            .map(|n| if n.parse::<std::net::IpAddr>().is_ok() { format!(", IP:{n}") } else { format!(", DNS:{n}") })
            .collect();
        let extensions = LEAF_EXTENSIONS.replace("DNS:localhost", &format!("DNS:localhost{extra}"));
        std::fs::write(dir.join(&ext), extensions).expect("write the leaf extensions");
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-config",
                &cnf,
            ],
        );
        // A random positive serial (no shared serial file: issuing may
        // happen concurrently).
        let serial = format!("0x{:016x}", (rand::random::<u64>() >> 2) | (1 << 60));
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &serial,
                "-days",
                "1",
                "-extfile",
                &ext,
                "-out",
                &leaf,
            ],
        );
        let mut pem = std::fs::read(dir.join(&leaf)).expect("read the leaf certificate");
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        pem.extend_from_slice(&self.inner.pem);
        std::fs::write(dir.join(&chain), pem).expect("write the certificate chain");
        (dir.join(chain), dir.join(key))
    }

    /// The CA key (for completeness; scenarios never need it).
    pub fn ca_key_path(&self) -> &Path {
        &self.inner.key
    }

    /// An HTTPS client that trusts this CA only.
    pub fn https_client(&self) -> reqwest::Client {
        let cert = reqwest::Certificate::from_pem(&self.inner.pem).expect("parse the test CA certificate");
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .tls_certs_only([cert])
            .build()
            .expect("build an HTTPS client trusting the test CA")
    }

    /// An [`Api`] over [`https_client`](Self::https_client) for `base_url`
    /// (e.g. a federation listener).
    pub fn api(&self, base_url: impl Into<String>) -> Api {
        Api::with_http(self.https_client(), base_url)
    }
}

// ----------------------------------------------------------------------------
// Synapse
// ----------------------------------------------------------------------------

/// Overrides where the Synapse virtualenv lives.
pub const SYNAPSE_VENV_ENV: &str = "NEXUS_SYNAPSE_VENV";
/// When `1`, a Synapse that cannot be installed fails the scenario instead
/// of skipping it.
pub const REQUIRE_SYNAPSE_ENV: &str = "NEXUS_TEST_REQUIRE_SYNAPSE";
/// The `registration_shared_secret` of every test Synapse.
pub const SYNAPSE_SHARED_SECRET: &str = "complement";

/// How long Synapse may take to answer `/versions`.
const SYNAPSE_STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// Synapse's default `ip_range_blacklist` minus `127.0.0.0/8` and `::1`: the
/// default blocks loopback, and for IP-literal server names this list is
/// the only one consulted, so a test Synapse could not reach its peers.
const SYNAPSE_IP_BLOCKLIST: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "169.254.0.0/16",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "fe80::/10",
    "fc00::/7",
    "2001:db8::/32",
    "ff00::/8",
    "fec0::/10",
];

/// The virtualenv Synapse runs from: `$NEXUS_SYNAPSE_VENV`, else
/// `$HOME/.cache/nexus-bench/synapse-venv` (shared with `scripts/bench.sh`).
pub fn synapse_venv() -> PathBuf {
    if let Some(dir) = std::env::var_os(SYNAPSE_VENV_ENV) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache/nexus-bench/synapse-venv")
}

/// Runs a command to completion, returning its combined output, or an
/// explanation if it could not run or failed.
fn run_logged(command: &mut std::process::Command, what: &str) -> Result<String, String> {
    let output = command.stdin(Stdio::null()).output().map_err(|e| format!("{what}: could not run: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        Ok(text)
    } else {
        let tail: String = text.chars().rev().take(3000).collect::<Vec<_>>().into_iter().rev().collect();
        Err(format!("{what} failed ({}):\n{tail}", output.status))
    }
}

/// The Python of a virtualenv with Synapse installed: checks the venv, and
/// creates it (`python3 -m venv`, `pip install matrix-synapse`) if it is
/// missing or lacks Synapse. Done once per test process; the outcome is
/// remembered. An `Err` explains why Synapse cannot be had.
fn synapse_python() -> Result<PathBuf, String> {
    static OUTCOME: Mutex<Option<Result<PathBuf, String>>> = Mutex::new(None);
    let mut outcome = OUTCOME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(known) = outcome.as_ref() {
        return known.clone();
    }
    let result = prepare_synapse_venv();
    *outcome = Some(result.clone());
    result
}

fn prepare_synapse_venv() -> Result<PathBuf, String> {
    let venv = synapse_venv();
    let python = venv.join("bin/python");
    // Never run Python from a directory that could shadow a standard module.
    let neutral_dir = std::env::temp_dir();
    let import_check = |python: &Path| {
        run_logged(
            std::process::Command::new(python)
                .args(["-c", "import synapse; print(synapse.__version__)"])
                .current_dir(&neutral_dir),
            "importing synapse",
        )
    };
    if python.is_file()
        && let Ok(version) = import_check(&python)
    {
        let _ = writeln!(std::io::stderr(), "using Synapse {} from {}", version.trim(), venv.display());
        return Ok(python);
    }
    let mut err = std::io::stderr();
    if !python.is_file() {
        let _ =
            writeln!(err, "*** the Synapse virtualenv {} is missing: creating it with python3 -m venv", venv.display());
        if let Some(parent) = venv.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
        }
        run_logged(
            std::process::Command::new("python3").arg("-m").arg("venv").arg(&venv).current_dir(&neutral_dir),
            "python3 -m venv",
        )?;
    }
    let _ = writeln!(err, "*** installing matrix-synapse into {} with pip (this takes a while)", venv.display());
    run_logged(
        std::process::Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "matrix-synapse"])
            .current_dir(&neutral_dir),
        "pip install matrix-synapse",
    )?;
    let version = import_check(&python)?;
    let _ = writeln!(err, "*** installed Synapse {} into {}", version.trim(), venv.display());
    Ok(python)
}

/// A Python snippet computing the shared-secret registration MAC:
/// HMAC-SHA1 keyed with argv[1] over argv[2..] joined by NUL bytes.
const REGISTRATION_MAC_PY: &str = "import hashlib, hmac, sys\n\
print(hmac.new(sys.argv[1].encode(), '\\x00'.join(sys.argv[2:]).encode(), hashlib.sha1).hexdigest())";

/// A running Synapse on loopback: plain HTTP client API on one port, and a
/// TLS listener (federation and key resources, certificate from the
/// scenario's [`TestCa`]) on another, whose port is in its server name
/// `127.0.0.1:<federation port>`. SQLite in a temporary directory. Dropping
/// it kills the process (by PID) and removes its data.
pub struct Synapse {
    python: PathBuf,
    client_port: u16,
    federation_port: u16,
    server_name: String,
    ca: TestCa,
    log_path: PathBuf,
    output_path: PathBuf,
    child: Option<Child>,
    dir: TempDir,
}

impl Synapse {
    /// Starts a Synapse that federates with servers whose certificates
    /// `ca` issued, and waits until it answers. Returns `None` (after a loud
    /// `*** SKIP` line) only when no Python/virtualenv with Synapse can be
    /// had; panics instead when `NEXUS_TEST_REQUIRE_SYNAPSE=1`.
    pub async fn start(ca: &TestCa) -> Option<Synapse> {
        Self::start_named(ca, None).await
    }

    /// As [`start`](Self::start), known as `name` (a DNS name whose
    /// well-known delegation the scenario serves) instead of
    /// `127.0.0.1:<federation port>`.
    pub async fn start_named(ca: &TestCa, name: Option<&str>) -> Option<Synapse> {
        Self::start_configured(ca, name, |_| {}).await
    }

    /// As [`start_named`](Self::start_named), with `configure` changing the
    /// generated `homeserver.yaml` (as JSON) first.
    pub async fn start_configured(
        ca: &TestCa,
        name: Option<&str>,
        configure: impl FnOnce(&mut Value),
    ) -> Option<Synapse> {
        let python = match tokio::task::spawn_blocking(synapse_python).await.expect("the venv check panicked") {
            Ok(python) => python,
            Err(reason) => {
                if std::env::var(REQUIRE_SYNAPSE_ENV).as_deref() == Ok("1") {
                    panic!("Synapse is not available and {REQUIRE_SYNAPSE_ENV}=1: {reason}");
                }
                let _ = writeln!(
                    std::io::stderr(),
                    "*** SKIP: Synapse is not available, so this Nexus–Synapse scenario does not run: {reason} ***"
                );
                return None;
            }
        };
        let dir = tempfile::Builder::new().prefix("nexus-complement-synapse-").tempdir().expect("create a temp dir");
        let client_port = free_port();
        let federation_port = free_port();
        let server_name = name.map_or_else(|| format!("127.0.0.1:{federation_port}"), str::to_owned);
        let (cert, key) = ca.issue(&format!("synapse-{federation_port}"));
        let path = |name: &str| dir.path().join(name).display().to_string();

        let log_path = dir.path().join("synapse.log");
        let log_config = json!({
            "version": 1,
            "formatters": {"precise": {"format": "%(asctime)s %(levelname)s %(name)s %(request)s %(message)s"}},
            "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter", "request": ""}},
            "handlers": {"file": {
                "class": "logging.FileHandler",
                "filename": log_path.display().to_string(),
                "formatter": "precise",
                "filters": ["context"],
            }},
            "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": false,
        });
        // YAML is a superset of JSON: the config files are written as JSON.
        std::fs::write(dir.path().join("log_config.yaml"), serde_json::to_string_pretty(&log_config).unwrap())
            .expect("write the Synapse log config");

        let unlimited = json!({"per_second": 10000, "burst_count": 10000});
        let mut config = json!({
            "server_name": server_name,
            "pid_file": path("homeserver.pid"),
            "listeners": [
                {
                    "port": client_port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": false,
                    "x_forwarded": false, "resources": [{"names": ["client"], "compress": false}],
                },
                {
                    "port": federation_port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": true,
                    "x_forwarded": false, "resources": [{"names": ["federation", "client"], "compress": false}],
                },
            ],
            "tls_certificate_path": cert.display().to_string(),
            "tls_private_key_path": key.display().to_string(),
            "federation_verify_certificates": true,
            "federation_custom_ca_list": [ca.ca_path().display().to_string()],
            "database": {"name": "sqlite3", "args": {"database": path("homeserver.db")}},
            "signing_key_path": path("signing.key"),
            "media_store_path": path("media"),
            "log_config": path("log_config.yaml"),
            "trusted_key_servers": [],
            "suppress_key_server_warning": true,
            "report_stats": false,
            "enable_registration": false,
            "registration_shared_secret": SYNAPSE_SHARED_SECRET,
            "ip_range_blacklist": SYNAPSE_IP_BLOCKLIST,
            "federation_ip_range_blacklist": SYNAPSE_IP_BLOCKLIST,
            // Durations: strings with s/m/h/... suffixes, or integers in
            // milliseconds ("100ms" does not parse).
            "federation": {
                "client_timeout": "30s",
                "max_short_retry_delay": "1s",
                "max_long_retry_delay": "2s",
                "max_short_retries": 3,
                "max_long_retries": 3,
                "destination_min_retry_interval": 100,
                "destination_retry_multiplier": 2,
                "destination_max_retry_interval": "2s",
            },
            "presence": {"enabled": false},
            "rc_message": unlimited,
            "rc_registration": unlimited,
            "rc_room_creation": unlimited,
            "rc_admin_redaction": unlimited,
            "rc_login": {"address": unlimited, "account": unlimited, "failed_attempts": unlimited},
            "rc_joins": {"local": unlimited, "remote": unlimited},
            "rc_joins_per_room": unlimited,
            "rc_invites": {"per_room": unlimited, "per_user": unlimited, "per_issuer": unlimited},
            "rc_key_requests": unlimited,
            "rc_profile": unlimited,
            "rc_federation": {
                "window_size": 1000, "sleep_limit": 10000, "sleep_delay": 1, "reject_limit": 100000, "concurrent": 100,
            },
            "federation_rr_transactions_per_room_per_second": 1000,
        });
        configure(&mut config);
        let config_path = dir.path().join("homeserver.yaml");
        std::fs::write(&config_path, serde_json::to_string_pretty(&config).unwrap()).expect("write homeserver.yaml");

        let generated = tokio::process::Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "--config-path"])
            .arg(&config_path)
            .arg("--generate-keys")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap_or_else(|e| panic!("could not run {}: {e}", python.display()));
        assert!(
            generated.status.success() && dir.path().join("signing.key").is_file(),
            "synapse --generate-keys failed ({}):\n{}\n{}",
            generated.status,
            String::from_utf8_lossy(&generated.stdout),
            String::from_utf8_lossy(&generated.stderr)
        );

        let output_path = dir.path().join("synapse.out");
        let output = std::fs::File::create(&output_path).expect("create synapse.out");
        let child = std::process::Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "--config-path"])
            .arg(&config_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone the output handle"))
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start Synapse with {}: {e}", python.display()));

        let mut synapse = Synapse {
            python,
            client_port,
            federation_port,
            server_name,
            ca: ca.clone(),
            log_path,
            output_path,
            child: Some(child),
            dir,
        };
        synapse.wait_until_ready().await;
        Some(synapse)
    }

    async fn wait_until_ready(&mut self) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("an HTTP client");
        let federation = self.ca.https_client();
        let versions = format!("{}/_matrix/client/versions", self.base_url());
        let version = format!("{}/_matrix/federation/v1/version", self.federation_url());
        let deadline = Instant::now() + SYNAPSE_STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().expect("poll the Synapse process")
            {
                self.child = None;
                panic!("Synapse exited during startup ({status}); its log follows");
            }
            let client_up = matches!(client.get(&versions).send().await, Ok(r) if r.status().as_u16() == 200);
            let federation_up =
                client_up && matches!(federation.get(&version).send().await, Ok(r) if r.status().as_u16() == 200);
            if federation_up {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "Synapse did not answer {versions} and {version} within {SYNAPSE_STARTUP_TIMEOUT:?}; its log follows"
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `127.0.0.1:<federation port>`: the domain of this server's user ids.
    pub fn server_name(&self) -> String {
        self.server_name.clone()
    }

    /// The full user id for `localpart` on this server.
    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    /// `http://127.0.0.1:<client port>`: the plain-HTTP client API.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// `https://127.0.0.1:<federation port>`.
    pub fn federation_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.federation_port)
    }

    pub fn federation_port(&self) -> u16 {
        self.federation_port
    }

    /// A client-server API client without an access token.
    pub fn api(&self) -> Api {
        Api::new(self.base_url())
    }

    /// An unauthenticated client for the federation listener.
    pub fn federation_api(&self) -> Api {
        self.ca.api(self.federation_url())
    }

    /// Registers `localpart` through the shared-secret admin API
    /// (`/_synapse/admin/v1/register`, HMAC-SHA1 over nonce, user, password
    /// and `notadmin`) and returns the logged-in session.
    pub async fn register(&self, localpart: &str, password: &str) -> Session {
        let api = self.api();
        let nonce_reply = api.get("/_synapse/admin/v1/register").await;
        let nonce = nonce_reply.expect_ok()["nonce"]
            .as_str()
            .unwrap_or_else(|| panic!("no nonce from Synapse: {nonce_reply:?}"))
            .to_owned();
        let mac = tokio::process::Command::new(&self.python)
            .args(["-c", REGISTRATION_MAC_PY, SYNAPSE_SHARED_SECRET, &nonce, localpart, password, "notadmin"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run python for the registration MAC");
        assert!(mac.status.success(), "computing the MAC failed: {}", String::from_utf8_lossy(&mac.stderr));
        let mac = String::from_utf8(mac.stdout).expect("a hex MAC").trim().to_owned();
        let reply = api
            .post(
                "/_synapse/admin/v1/register",
                json!({"nonce": nonce, "username": localpart, "password": password, "admin": false, "mac": mac}),
            )
            .await;
        let session = api.session_from(reply.expect_ok(), password, &reply);
        assert_eq!(session.user_id, self.user_id(localpart), "{reply:?}");
        session
    }

    /// The last part of Synapse's log file.
    pub fn log_tail(&self) -> String {
        read_tail(&self.log_path, LOG_TAIL_BYTES)
    }

    /// The process id of the running Synapse, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn log_banner(&self) -> String {
        format!(
            "----- synapse log ({}, {}, last {} KiB) -----\n{}\n----- synapse stdout/stderr -----\n{}\n----- end of synapse log -----",
            self.server_name,
            self.log_path.display(),
            LOG_TAIL_BYTES / 1024,
            self.log_tail(),
            read_tail(&self.output_path, 4096),
        )
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL to exactly the process this harness started.
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.log_banner());
            if std::env::var_os("NEXUS_TEST_KEEP_DATA").is_some() {
                let kept = self.dir.path().to_path_buf();
                let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("create a temporary directory"));
                let _ = dir.keep();
                eprintln!("kept Synapse's data in {}", kept.display());
            }
        }
    }
}

// ----------------------------------------------------------------------------
// Waiting
// ----------------------------------------------------------------------------

/// Calls `attempt` until it returns `Ok` (every 250 ms), and returns that
/// value. Panics after `wait`, naming `what` and showing the last `Err`
/// (what was observed instead).
pub async fn eventually<T, F, Fut>(what: &str, wait: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + wait;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(last) => {
                if Instant::now() >= deadline {
                    panic!("{what}: still not the case after {wait:?}; last observed: {last}");
                }
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// `via=S&server_name=S` for each server: the spec's `via` (v1.12+) and the
/// older `server_name`, which some servers still read.
pub fn via_query(servers: &[&str]) -> String {
    let mut parts: Vec<String> = servers.iter().map(|s| format!("via={}", enc(s))).collect();
    parts.extend(servers.iter().map(|s| format!("server_name={}", enc(s))));
    parts.join("&")
}

/// A `/sync` filter with room timelines long enough not to skip the events
/// a scenario waits for.
pub fn long_timeline_filter() -> String {
    inline_filter(&json!({"room": {"timeline": {"limit": 50}}}))
}

/// Whether a timeline holds an `m.room.message` with this body.
fn message_with_body<'a>(events: &'a [Value], body: &str) -> Option<&'a Value> {
    events.iter().find(|e| e["type"] == "m.room.message" && e["content"]["body"] == body)
}

/// Federation helpers on a client session (of either server).
impl Session {
    /// `POST /join/{roomIdOrAlias}?via=...&server_name=...`, as it came back.
    pub async fn join_via_reply(&self, room_id_or_alias: &str, servers: &[&str]) -> Reply {
        let path = format!("/join/{}?{}", enc(room_id_or_alias), via_query(servers));
        self.post(&path, json!({})).await
    }

    /// Joins through `servers`; asserts a 200 and returns the `room_id`.
    pub async fn join_via(&self, room_id_or_alias: &str, servers: &[&str]) -> String {
        let reply = self.join_via_reply(room_id_or_alias, servers).await;
        reply.expect_ok()["room_id"]
            .as_str()
            .unwrap_or_else(|| panic!("join without a string room_id: {reply:?}"))
            .to_owned()
    }

    /// Long-polls `/sync` from `since` (with [`long_timeline_filter`]) until
    /// an answer satisfies `done`, for up to [`FEDERATION_WAIT`].
    pub async fn await_sync(&self, since: &str, what: &str, done: impl Fn(&Synced) -> bool) -> Synced {
        self.sync_until_within(FEDERATION_WAIT, since, &long_timeline_filter(), what, done).await
    }

    /// Waits (from `since`) for an invite to `room_id` in `/sync`, and
    /// returns its `invite_state` events.
    pub async fn await_invite(&self, since: &str, room_id: &str) -> Vec<Value> {
        let synced = self.await_sync(since, &format!("an invite to {room_id}"), |s| s.invited(room_id).is_some()).await;
        synced.invite_state(room_id)
    }

    /// Waits (from `since`) until `/sync` shows an `m.room.message` with
    /// this body in the room's timeline, and returns that event.
    pub async fn await_message(&self, since: &str, room_id: &str, body: &str) -> Value {
        let what = format!("the message {body:?} in {room_id}");
        let synced = self.await_sync(since, &what, |s| message_with_body(&s.timeline(room_id), body).is_some()).await;
        message_with_body(&synced.timeline(room_id), body).cloned().expect("just matched")
    }

    /// Waits (from `since`) until `/sync` shows a timeline event with this
    /// id in the room, and returns it.
    pub async fn await_timeline_event(&self, since: &str, room_id: &str, event_id: &str) -> Value {
        let what = format!("the event {event_id} in the timeline of {room_id}");
        let synced = self.await_sync(since, &what, |s| s.timeline_has(room_id, event_id)).await;
        synced.timeline(room_id).into_iter().find(|e| e["event_id"] == event_id).expect("just matched")
    }

    /// Polls `GET /rooms/{roomId}/state/m.room.member/{userId}` until the
    /// membership is `membership`.
    pub async fn await_membership(&self, room_id: &str, user_id: &str, membership: &str) {
        let what = format!("{} sees {user_id} with membership {membership} in {room_id}", self.user_id);
        eventually(&what, FEDERATION_WAIT, move || async move {
            let reply = self.get_state(room_id, "m.room.member", user_id).await;
            if reply.status == 200 && reply.json["membership"] == membership {
                Ok(())
            } else {
                Err(format!("{reply:?}"))
            }
        })
        .await
    }

    /// Polls `GET /rooms/{roomId}/event/{eventId}` until it answers 200, and
    /// returns the event.
    pub async fn await_event(&self, room_id: &str, event_id: &str) -> Value {
        let what = format!("{} can fetch {event_id} in {room_id}", self.user_id);
        eventually(&what, FEDERATION_WAIT, move || async move {
            let reply = self.get_event(room_id, event_id).await;
            if reply.status == 200 { Ok(reply.json.clone()) } else { Err(format!("{reply:?}")) }
        })
        .await
    }

    /// Polls `GET /joined_rooms` until it lists `room_id`.
    pub async fn await_joined_room(&self, room_id: &str) {
        let what = format!("{} lists {room_id} in /joined_rooms", self.user_id);
        eventually(&what, FEDERATION_WAIT, move || async move {
            let rooms = self.joined_rooms().await;
            if rooms.iter().any(|r| r == room_id) { Ok(()) } else { Err(format!("{rooms:?}")) }
        })
        .await
    }

    /// `GET /profile/{userId}` (of any server's user).
    pub async fn profile_of(&self, user_id: &str) -> Reply {
        self.get(&format!("/profile/{}", enc(user_id))).await
    }

    /// Sets this user's display name; asserts a 200.
    pub async fn set_displayname(&self, name: &str) {
        self.put(&format!("/profile/{}/displayname", enc(&self.user_id)), json!({"displayname": name}))
            .await
            .expect_ok();
    }
}

// ----------------------------------------------------------------------------
// Scenario building blocks (shared by the Nexus–Nexus and Nexus–Synapse tests)
// ----------------------------------------------------------------------------

/// `power_level_content_override` that lets every member set the topic and
/// the name (and keeps the other usual defaults explicit), for the fork
/// scenarios. It names no users, so it is valid in room version 12 too
/// (where creators must not be listed).
pub fn anyone_may_set_topic() -> Value {
    json!({
        "events": {
            "m.room.topic": 0,
            "m.room.name": 0,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "users_default": 0,
        "events_default": 0,
        "state_default": 50,
    })
}

/// The `room_version` of the room per this session's view of its
/// `m.room.create` (`"1"` when absent, as the spec says).
pub async fn room_version_seen_by(session: &Session, room_id: &str) -> String {
    let create = session.state_content(room_id, "m.room.create", "").await;
    create.get("room_version").and_then(Value::as_str).unwrap_or("1").to_owned()
}

/// `inviter` (a member of `room_id`) invites `invitee` (a user of another
/// server); the invitee sees the invite in `/sync` — with its own
/// `m.room.member` invite by the inviter in `invite_state` — and joins
/// through `via` (the inviter's server), and the inviter's server then shows
/// the join.
pub async fn invite_and_join(inviter: &Session, invitee: &Session, room_id: &str, via: &str) {
    let since = invitee.sync_token().await;
    inviter.invite(room_id, &invitee.user_id).await;

    let invite_state = invitee.await_invite(&since, room_id).await;
    let member = invite_state
        .iter()
        .find(|e| e["type"] == "m.room.member" && e["state_key"] == invitee.user_id.as_str())
        .unwrap_or_else(|| panic!("invite_state has no m.room.member for {}: {invite_state:#?}", invitee.user_id));
    assert_eq!(member["content"]["membership"], "invite", "{member:#}");
    assert_eq!(member["sender"], inviter.user_id.as_str(), "{member:#}");

    assert_eq!(invitee.join_via(room_id, &[via]).await, room_id);
    invitee.await_joined_room(room_id).await;
    inviter.await_membership(room_id, &invitee.user_id, "join").await;
    invitee.await_membership(room_id, &inviter.user_id, "join").await;
}

/// `first` and `second` (members of `room_id` on different servers) each
/// send a message; each sees the other's in `/sync` with the sender's event
/// id, sender and body, and each can fetch both events by id with the same
/// content.
pub async fn exchange_messages(first: &Session, second: &Session, room_id: &str) {
    let first_since = first.sync_token().await;
    let second_since = second.sync_token().await;
    let tag = rand::random::<u32>();

    let body_1 = format!("from {} ({tag})", first.user_id);
    let id_1 = first.send_message(room_id, &body_1).await;
    let seen = second.await_message(&second_since, room_id, &body_1).await;
    assert_eq!(seen["event_id"], id_1.as_str(), "{seen:#}");
    assert_eq!(seen["sender"], first.user_id.as_str(), "{seen:#}");
    assert_eq!(seen["content"]["msgtype"], "m.text", "{seen:#}");

    let body_2 = format!("from {} ({tag})", second.user_id);
    let id_2 = second.send_message(room_id, &body_2).await;
    let seen = first.await_message(&first_since, room_id, &body_2).await;
    assert_eq!(seen["event_id"], id_2.as_str(), "{seen:#}");
    assert_eq!(seen["sender"], second.user_id.as_str(), "{seen:#}");

    // Either side can fetch both events by id, with the same content.
    for session in [first, second] {
        for (id, body, sender) in [(&id_1, &body_1, first), (&id_2, &body_2, second)] {
            let event = session.await_event(room_id, id).await;
            assert_eq!(event["content"]["body"], body.as_str(), "{event:#}");
            assert_eq!(event["sender"], sender.user_id.as_str(), "{event:#}");
            assert_eq!(event["room_id"], room_id, "{event:#}");
        }
    }
}

/// `author` sends `count` messages ("<prefix> 1", ...) and returns their
/// `(event_id, body)` pairs in order.
pub async fn send_history(author: &Session, room_id: &str, prefix: &str, count: usize) -> Vec<(String, String)> {
    let mut sent = Vec::new();
    for i in 1..=count {
        let body = format!("{prefix} {i}");
        let id = author.send_message(room_id, &body).await;
        sent.push((id, body));
    }
    sent
}

/// Waits until `reader`'s `/messages` backwards from the latest event
/// (paginating to the end) holds every one of `history` — events from
/// before `reader`'s server joined, which it must backfill — newest first,
/// with their original event ids.
pub async fn await_backfilled(reader: &Session, room_id: &str, history: &[(String, String)]) {
    let what = format!("{} paginates back to the history of {room_id}", reader.user_id);
    let events = eventually(&what, FEDERATION_WAIT, move || async move {
        let events = reader.paginate_all(room_id, "b", 10, None).await;
        let ids: Vec<&str> = events.iter().filter_map(|e| e["event_id"].as_str()).collect();
        let missing: Vec<&str> =
            history.iter().filter(|(id, _)| !ids.contains(&id.as_str())).map(|(_, body)| body.as_str()).collect();
        if missing.is_empty() {
            Ok(events)
        } else {
            let bodies: Vec<String> = crate::sync_client::message_bodies(&events);
            Err(format!("missing {missing:?}; /messages showed the messages {bodies:?}"))
        }
    })
    .await;
    let positions: Vec<usize> = history
        .iter()
        .map(|(id, body)| {
            let at = events.iter().position(|e| e["event_id"] == id.as_str()).expect("checked above");
            assert_eq!(events[at]["content"]["body"], body.as_str(), "{:#}", events[at]);
            assert_eq!(events[at]["room_id"], room_id, "{:#}", events[at]);
            at
        })
        .collect();
    // dir=b: reverse chronological order.
    assert!(
        positions.windows(2).all(|w| w[0] > w[1]),
        "dir=b must serve newer events first; positions of {history:?}: {positions:?}"
    );
    // The room's creation is part of the history a joined member may page
    // back to (history_visibility shared).
    assert!(
        events.iter().any(|e| e["type"] == "m.room.create"),
        "paginating back to the start must reach m.room.create: {:?}",
        events.iter().map(|e| e["type"].clone()).collect::<Vec<_>>()
    );
}

/// The current topic per `session` (`None` if there is none).
pub async fn current_topic(session: &Session, room_id: &str) -> Result<Option<String>, String> {
    let reply = session.get(&room_path(room_id, "/state/m.room.topic/")).await;
    match reply.status {
        200 => Ok(reply.json["topic"].as_str().map(str::to_owned)),
        404 => Ok(None),
        _ => Err(format!("{reply:?}")),
    }
}

/// A fork: `a` and `b` (members of `room_id` on different servers, both
/// allowed to set the topic) set different topics at the same time. Both
/// servers must come to know both topic events and agree on one current
/// topic (state resolution), which stays put once later events from both
/// sides merge the fork. Returns the agreed topic.
pub async fn concurrent_topics_converge(a: &Session, b: &Session, room_id: &str) -> String {
    let tag = rand::random::<u32>();
    let topic_a = format!("topic from {} ({tag})", a.user_id);
    let topic_b = format!("topic from {} ({tag})", b.user_id);
    let (reply_a, reply_b) = tokio::join!(
        a.set_state_reply(room_id, "m.room.topic", "", json!({"topic": topic_a})),
        b.set_state_reply(room_id, "m.room.topic", "", json!({"topic": topic_b})),
    );
    let id_a = crate::client::expect_event_id(&reply_a);
    let id_b = crate::client::expect_event_id(&reply_b);
    assert_ne!(id_a, id_b);

    // Each server learns the other's topic event.
    for (reader, id, topic, sender) in [(a, &id_b, &topic_b, b), (b, &id_a, &topic_a, a)] {
        let event = reader.await_event(room_id, id).await;
        assert_eq!(event["type"], "m.room.topic", "{event:#}");
        assert_eq!(event["content"]["topic"], topic.as_str(), "{event:#}");
        assert_eq!(event["sender"], sender.user_id.as_str(), "{event:#}");
    }

    let agreed = eventually("both servers agree on the current topic", FEDERATION_WAIT, move || async move {
        let (on_a, on_b) = (current_topic(a, room_id).await?, current_topic(b, room_id).await?);
        match (&on_a, &on_b) {
            (Some(x), Some(y)) if x == y => Ok(x.clone()),
            _ => Err(format!("{} sees {on_a:?}, {} sees {on_b:?}", a.user_id, b.user_id)),
        }
    })
    .await;
    assert!(
        agreed == topic_a || agreed == topic_b,
        "the agreed topic {agreed:?} is neither {topic_a:?} nor {topic_b:?}"
    );

    // Events from both sides that reference both branches merge the fork;
    // the resolved topic must not change.
    exchange_messages(a, b, room_id).await;
    assert_eq!(current_topic(a, room_id).await.unwrap().as_deref(), Some(agreed.as_str()));
    assert_eq!(current_topic(b, room_id).await.unwrap().as_deref(), Some(agreed.as_str()));
    agreed
}

/// `leaver` (joined through federation) leaves; the room's other server
/// (seen by `observer`) shows the leave in state and in `/sync`.
pub async fn leave_is_seen_remotely(leaver: &Session, observer: &Session, room_id: &str) {
    let since = observer.sync_token().await;
    leaver.leave(room_id).await;
    let what = format!("{}'s leave", leaver.user_id);
    observer
        .await_sync(&since, &what, |s| {
            s.timeline(room_id).iter().any(|e| {
                e["type"] == "m.room.member"
                    && e["state_key"] == leaver.user_id.as_str()
                    && e["content"]["membership"] == "leave"
                    && e["sender"] == leaver.user_id.as_str()
            })
        })
        .await;
    observer.await_membership(room_id, &leaver.user_id, "leave").await;
    assert!(!leaver.joined_rooms().await.contains(&room_id.to_owned()), "{} still lists {room_id}", leaver.user_id);
    // The one who left can no longer send there.
    let reply =
        leaver.send_event_reply(room_id, "m.room.message", json!({"msgtype": "m.text", "body": "after leaving"})).await;
    reply.expect_error(403, "M_FORBIDDEN");
}
