//! A fresh PostgreSQL database per server under test.
//!
//! `NEXUS_TEST_POSTGRES_URL` names an administrative connection (e.g.
//! `postgres://postgres@127.0.0.1:5433/postgres`); the test script starts that
//! PostgreSQL. Databases are made and dropped with `psql`.

use std::io::Write;
use std::process::Command;

use rand::Rng;

/// The administrative PostgreSQL URL.
pub const POSTGRES_URL_ENV: &str = "NEXUS_TEST_POSTGRES_URL";
/// When `1`, a missing [`POSTGRES_URL_ENV`] fails PostgreSQL tests instead of
/// skipping them (CI sets this so a broken setup cannot pass silently).
pub const REQUIRE_POSTGRES_ENV: &str = "NEXUS_TEST_REQUIRE_POSTGRES";

/// The administrative URL, if configured.
pub fn admin_url() -> Option<String> {
    std::env::var(POSTGRES_URL_ENV).ok().filter(|url| !url.trim().is_empty())
}

/// Whether a PostgreSQL test named `test` must be skipped: true (after a loud
/// SKIP line on stderr) when no PostgreSQL is configured; panics instead when
/// `NEXUS_TEST_REQUIRE_POSTGRES=1`.
pub fn skip_without_postgres(test: &str) -> bool {
    if admin_url().is_some() {
        return false;
    }
    if std::env::var(REQUIRE_POSTGRES_ENV).as_deref() == Ok("1") {
        panic!(
            "{test}: {POSTGRES_URL_ENV} is not set but {REQUIRE_POSTGRES_ENV}=1 — \
             start PostgreSQL and point {POSTGRES_URL_ENV} at an admin connection, \
             e.g. postgres://postgres@127.0.0.1:5433/postgres"
        );
    }
    // Straight to the process's stderr: the test harness captures
    // `eprintln!`, and a skip must be visible in a passing run.
    let _ = writeln!(
        std::io::stderr(),
        "*** SKIP {test}: {POSTGRES_URL_ENV} is not set, so the PostgreSQL backend is not tested ***"
    );
    true
}

/// Returns early from the enclosing test (after a SKIP line) when `backend`
/// is PostgreSQL and no PostgreSQL is configured.
#[macro_export]
macro_rules! skip_unless_backend_available {
    ($backend:expr) => {
        if $backend == $crate::Backend::Postgres && $crate::postgres::skip_without_postgres(module_path!()) {
            return;
        }
    };
}

/// A database made for one server; dropped (best effort) when this is dropped.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates `nexus_test_<random>` through the administrative connection.
    pub fn create() -> TestDatabase {
        let admin_url = admin_url().unwrap_or_else(|| {
            panic!(
                "the PostgreSQL backend needs {POSTGRES_URL_ENV} \
                 (use skip_unless_backend_available! before starting the server)"
            )
        });
        let suffix: u64 = rand::thread_rng().r#gen();
        let name = format!("nexus_test_{suffix:016x}");
        psql(&admin_url, &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("could not create database {name}: {e}"));
        let mut url = reqwest::Url::parse(&admin_url)
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_ENV} is not a URL ({e}): {admin_url}"));
        url.set_path(&format!("/{name}"));
        TestDatabase { admin_url, name, url: url.to_string() }
    }

    /// The connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::env::var_os("NEXUS_TEST_KEEP_DATA").is_some() && std::thread::panicking() {
            eprintln!("kept database {}", self.name);
            return;
        }
        // FORCE: a killed server may leave connections behind for a moment.
        let _ = psql(&self.admin_url, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

fn psql(admin_url: &str, sql: &str) -> Result<(), String> {
    let output = Command::new("psql")
        .arg(admin_url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| format!("could not run psql: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("psql exited with {}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim()))
    }
}
