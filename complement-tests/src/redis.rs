//! A Redis server of the test's own, on a free loopback port, for the
//! cluster scenarios (scripts/test.sh installs Debian's `redis-server`).
//! Dropping it kills it (by PID) and removes its directory.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::homeserver::free_port;

pub struct RedisServer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts `redis-server` with no persistence and waits until it
    /// accepts connections.
    pub fn start() -> RedisServer {
        let dir = tempfile::Builder::new().prefix("nexus-redis-").tempdir().expect("create a temporary directory");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's package redis-server; scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on {port} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, port, _dir: dir }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
