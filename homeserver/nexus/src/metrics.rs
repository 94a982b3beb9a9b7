//! The Prometheus endpoint: `GET /metrics` (text format 0.0.4) on a
//! listener of its own (`[listeners] metrics`, absent by default), never on
//! the client listener, so what it tells is only for who can reach that
//! port. The services record through the `metrics` facade (names in
//! `nexus_core::metric_names` and `nexus_api::http_metrics`); this installs
//! the recorder they record into, with Synapse's histogram buckets, and adds
//! at each scrape what is read rather than counted: `process_*` (as
//! Python's client names them, which Synapse's dashboard reads), the tokio
//! runtime and the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use nexus_api::http_metrics::RESPONSE_TIME;

/// Synapse's response-time buckets (seconds), so its panels' quantiles read
/// the same.
const RESPONSE_TIME_BUCKETS: &[f64] =
    &[0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 180.0];

/// How often histograms are compacted between scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder; from here on every `metrics::*!`
/// call in the services lands in it.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(RESPONSE_TIME.to_owned()), RESPONSE_TIME_BUCKETS)
        .context("histogram buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let process = metrics_process::Collector::default();
    process.describe();
    Ok(handle)
}

struct Scrape {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
    services: Arc<nexus_core::Services>,
}

/// Serves `/metrics` on `address` until the process ends.
pub async fn listen(
    address: SocketAddr,
    handle: PrometheusHandle,
    services: Arc<nexus_core::Services>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?;
    tracing::info!(address = %listener.local_addr()?, "metrics are served at /metrics");
    let scrape = Arc::new(Scrape { handle, process: metrics_process::Collector::default(), services });
    let app = axum::Router::new().route("/metrics", get(render)).with_state(scrape);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    }))
}

async fn render(State(scrape): State<Arc<Scrape>>) -> impl IntoResponse {
    scrape.process.collect();
    let runtime = tokio::runtime::Handle::current().metrics();
    metrics::gauge!("nexus_tokio_workers").set(runtime.num_workers() as f64);
    metrics::gauge!("nexus_tokio_alive_tasks").set(runtime.num_alive_tasks() as f64);
    metrics::gauge!("nexus_tokio_global_queue_depth").set(runtime.global_queue_depth() as f64);
    for (name, value) in scrape.services.store_statistics() {
        metrics::gauge!("nexus_store_statistic", "name" => name).set(value);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], scrape.handle.render())
}
