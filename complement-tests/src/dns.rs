//! A DNS server for scenarios: Debian's `dnsmasq`, started on a free
//! loopback port with exactly the records a scenario gives (no upstream, no
//! hosts file), and stopped when dropped. Servers under test are pointed
//! at it with `federation.nameservers`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::homeserver::free_port;

/// One record the server answers.
pub enum Record {
    /// `name` has the IPv4 address `ip` (and only it).
    A { name: String, ip: String },
    /// `_service._tcp.name` points at `target:port`.
    Srv { service: String, name: String, target: String, port: u16 },
}

pub struct DnsServer {
    port: u16,
    child: Child,
}

impl DnsServer {
    /// Starts dnsmasq with `records`; panics (with the reason) when it
    /// cannot, and when `NEXUS_TEST_REQUIRE_DNS=1` is unset and dnsmasq is
    /// missing, returns `None` so the scenario can skip.
    pub async fn start(records: &[Record]) -> Option<DnsServer> {
        let binary = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"].into_iter().find(|p| std::path::Path::new(p).is_file());
        let Some(binary) = binary else {
            if std::env::var("NEXUS_TEST_REQUIRE_DNS").as_deref() == Ok("1") {
                panic!("dnsmasq is not installed (scripts/test.sh installs dnsmasq-base)");
            }
            return None;
        };
        let port = free_port();
        let mut command = Command::new(binary);
        command.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--user=root",
            "--pid-file=",
            "--local-ttl=1",
        ]);
        command.arg(format!("--port={port}"));
        for record in records {
            match record {
                Record::A { name, ip } => command.arg(format!("--host-record={name},{ip}")),
                Record::Srv { service, name, target, port } => {
                    command.arg(format!("--srv-host={service}._tcp.{name},{target},{port}"))
                }
            };
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start dnsmasq: {e}"));
        // Ready once it accepts DNS-over-TCP connections on its port (it
        // binds UDP and TCP together; connecting cannot disturb its bind).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("dnsmasq exited at start ({status})");
            }
            assert!(std::time::Instant::now() < deadline, "dnsmasq did not bind 127.0.0.1:{port} within 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(DnsServer { port, child })
    }

    /// `127.0.0.1:<port>`, for `federation.nameservers`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // `Child::kill` signals exactly this PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
