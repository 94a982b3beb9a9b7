//! `nexus`: the Nexus Matrix homeserver.

mod admin_cli;
mod bot_api;
mod config;
mod metrics;
mod otlp;
mod panics;
mod serve;
mod sfu;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc rather than glibc's malloc: a thousand syncs woken at once
/// allocate and free from every worker thread, and glibc's allocator was a
/// fifth of the server's CPU under that load; with jemalloc the wake of a
/// 1,000-member room at 18,000 held connections took about a third less
/// time (docs/performance.md, "Idle connections").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "nexus", version, about = "Nexus, a Matrix homeserver", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the homeserver. Without --config it starts with the defaults
    /// (server name localhost:8008, listening on 127.0.0.1:8008, RocksDB in
    /// ./nexus-data, open registration). Every setting can also come from an
    /// environment variable NEXUS__<SECTION>__<KEY>.
    Serve {
        /// A TOML config file (see nexus.example.toml for every key).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check a configuration (file plus environment) and print it as it
    /// would be used, without starting anything.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Create or upgrade the store's schema and exit. `serve` does this
    /// too; with several processes on one PostgreSQL, run it once before
    /// rolling the new release out (older binaries then refuse to start).
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Admin tasks (users, rooms, registration tokens, stats), against a
    /// running server with an admin's --token, or on the store directly
    /// while the server is stopped.
    Admin {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[command(flatten)]
        args: admin_cli::AdminArgs,
    },
}

/// glibc gives each thread that allocates its own arena (up to 8 per core)
/// and rarely returns their memory: under load the blocking pool's threads
/// grew the server to a gigabyte of mostly idle heap. Two arenas keep it
/// near its working set, at no measurable cost here.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    panics::install();
    let cli = Cli::parse();
    let (Command::Serve { config }
    | Command::CheckConfig { config }
    | Command::Migrate { config }
    | Command::Admin { config, .. }) = &cli.command;
    let config = match config::load(config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("nexus: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::CheckConfig { .. } => {
            println!("{}", config.describe());
            ExitCode::SUCCESS
        }
        Command::Migrate { .. } => match migrate(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("nexus migrate: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Admin { args, .. } => match admin_cli::run(config, args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("nexus admin: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { .. } => match serve::run(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("nexus: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Opens the store (creating or upgrading its schema, refusing one a newer
/// release wrote) as a process of no cluster, and closes it.
fn migrate(config: &config::Config) -> Result<(), nexus_storage::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| nexus_storage::Error::Task(e.to_string()))?;
    runtime.block_on(async {
        let mut options = config.store_options();
        options.cluster = None;
        let store = nexus_storage::open(&options, nexus_storage::catalog::NEXUS).await?;
        store.close().await?;
        println!("nexus migrate: the store's schema is version {}", nexus_storage::catalog::NEXUS.version);
        Ok(())
    })
}
