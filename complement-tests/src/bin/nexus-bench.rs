//! `nexus-bench`: the benchmark load driver (see `nexus_complement::bench`).
//!
//! ```text
//! nexus-bench --url http://127.0.0.1:8008 --server-name localhost --workload all --scale 0.05 --pid 1234 --json
//! NEXUS_BENCH_SEARCH_MESSAGES=20000 nexus-bench --url http://127.0.0.1:8008 --workload search --json
//! ```

use std::process::ExitCode;

use nexus_complement::bench::{Bench, config};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, workload) = match config::parse_args(&args) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            println!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("nexus-bench: {e:#}\n\n{}", config::USAGE);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("nexus-bench: start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = config.json;
    let result = runtime.block_on(async move { Bench::new(config)?.run(workload).await });
    match result {
        Ok(report) if json => {
            println!("{}", serde_json::to_string_pretty(&report.to_json()).expect("figures serialise"));
            ExitCode::SUCCESS
        }
        Ok(report) => {
            print!("{}", report.to_text());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nexus-bench: {} failed: {e:#}", workload.name());
            ExitCode::FAILURE
        }
    }
}
