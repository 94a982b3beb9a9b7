//! `nexus serve`: wire storage, services and listeners, run until SIGTERM or
//! SIGINT, then drain requests and flush storage.

use std::net::SocketAddr;

use anyhow::Context;
use nexus_api::AppState;
use nexus_storage::catalog::NEXUS;

use crate::config::{Config, LogFormat};

pub fn run(config: Config) -> anyhow::Result<()> {
    let traces = init_logging(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let served = runtime.block_on(serve(config));
    if let Some(traces) = traces
        && let Err(e) = traces.shutdown()
    {
        eprintln!("nexus: could not send the last spans: {e}");
    }
    served
}

/// Logs to stderr with `logging.level`; spans also to OTLP with
/// `logging.otlp_level` when an endpoint is set (the provider to flush).
fn init_logging(config: &Config) -> anyhow::Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = tracing_subscriber::EnvFilter::new(&config.logging.level);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match config.logging.format {
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
        LogFormat::Pretty => fmt.with_filter(filter).boxed(),
    };
    let Some(endpoint) = &config.logging.otlp_traces_endpoint else {
        tracing_subscriber::registry().with(fmt).init();
        return Ok(None);
    };
    let provider = crate::otlp::provider(endpoint, config.cluster.instance.as_deref())?;
    let otlp =
        crate::otlp::layer(&provider).with_filter(tracing_subscriber::EnvFilter::new(&config.logging.otlp_level));
    tracing_subscriber::registry().with(fmt).with(otlp).init();
    Ok(Some(provider))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Before the services start, so nothing they count is lost.
    let metrics = match config.listeners.metrics {
        Some(address) => Some((address, crate::metrics::install()?)),
        None => None,
    };
    // Bound first: the bot API's registration names the listener's port.
    let listener = tokio::net::TcpListener::bind(config.listeners.client)
        .await
        .with_context(|| format!("binding {}", config.listeners.client))?;
    let mut settings = config.settings();
    let bot_api = match config.bot_api.enabled {
        true => Some(crate::bot_api::prepare(&config, &mut settings, listener.local_addr()?)?),
        false => None,
    };
    let sfu = match crate::sfu::wanted(&config) {
        true => Some(crate::sfu::start(&config, &mut settings, listener.local_addr()?).await?),
        false => None,
    };
    let store = nexus_storage::open(&config.store_options(), NEXUS).await.context("opening storage")?;
    let services = nexus_core::Services::start(settings, store).await.context("starting services")?;
    tokio::spawn(services.clone().run_upkeep());
    tokio::spawn(return_freed_memory());
    tokio::spawn(reload_on_hangup(services.clone()));
    let web_client = match &config.web_client.path {
        Some(dir) => Some(nexus_api::WebClient::new(dir.clone()).context("web_client.path")?),
        None => None,
    };
    let state =
        AppState { services: services.clone(), max_request_bytes: config.listeners.max_request_bytes, web_client };
    let mut app = nexus_api::router(state.clone());
    let mut bridge = None;
    if let Some(bot_api) = bot_api {
        let (routes, started) = bot_api.start(&config).await?;
        app = app.merge(routes);
        bridge = Some(started);
    }
    if let Some(sfu) = &sfu {
        app = app.nest(crate::sfu::PATH, sfu.router());
    }
    let metrics_on = metrics.is_some();
    if metrics_on {
        // After routing, so each request is counted under its route.
        app = app.route_layer(axum::middleware::from_fn(nexus_api::http_metrics::record));
    }
    let metrics_listener = match metrics {
        Some((address, handle)) => Some(crate::metrics::listen(address, handle, services.clone()).await?),
        None => None,
    };
    let federation = match config.listeners.federation {
        Some(address) => Some(federation_listener(&config, address, state, metrics_on).await?),
        None => None,
    };

    tracing::info!(
        server_name = %services.server_name(),
        address = %listener.local_addr()?,
        signing_key = %services.server_keys.key_id(),
        "nexus is listening"
    );
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Bots reconnect (and come back when the server does).
            if let Some(bridge) = bridge {
                bridge.sessions.reconnect_all();
            }
        })
        .await
        .context("serving")?;

    if let Some(federation) = federation {
        federation.abort();
    }
    if let Some(metrics_listener) = metrics_listener {
        metrics_listener.abort();
    }
    tracing::info!("shutting down: flushing storage");
    services.shutdown().await.context("flushing storage")?;
    tracing::info!("stopped");
    Ok(())
}

/// Serves the federation API over TLS on `address` until the process ends.
async fn federation_listener(
    config: &Config,
    address: SocketAddr,
    state: AppState,
    metrics_on: bool,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (Some(certificate), Some(key)) = (&config.federation.tls_certificate, &config.federation.tls_private_key)
    else {
        anyhow::bail!("the federation listener needs federation.tls_certificate and federation.tls_private_key");
    };
    let acceptor = crate::tls::acceptor(certificate, key)?;
    let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?;
    let listener = crate::tls::TlsListener::new(listener, acceptor).context("federation listener")?;
    tracing::info!(%address, "federation is listening (TLS)");
    let mut app = nexus_api::federation_router(state);
    if metrics_on {
        app = app.route_layer(axum::middleware::from_fn(nexus_api::http_metrics::record));
    }
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the federation listener failed");
        }
    }))
}

/// Password hashing borrows 19 MiB per Argon2 run, on whichever blocking
/// thread runs it; glibc keeps freed memory in per-thread arenas, so a burst
/// of logins left the server at a gigabyte of idle heap (measured). Handing
/// freed pages back every few seconds keeps it near its working set.
async fn return_freed_memory() {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only releases free memory back to the kernel.
        let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
    }
}

/// SIGHUP reads the appservice registration files again; a file that does
/// not load keeps the registrations in force (and says why).
async fn reload_on_hangup(services: std::sync::Arc<nexus_core::Services>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
    while hangups.recv().await.is_some() {
        match services.appservices.reload() {
            Ok(count) => {
                tracing::info!(registrations = count, "appservice registrations reloaded");
                if let Err(e) = services.register_appservice_senders().await {
                    tracing::warn!(error = %e, "could not create an appservice's sender account");
                }
            }
            Err(e) => tracing::error!(error = %e, "appservice registrations not reloaded"),
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
