//! Spans to an OpenTelemetry collector (`[logging] otlp_traces_endpoint`):
//! OTLP over HTTP with protobuf, batched on a thread of the exporter's own
//! so a slow collector never holds up a request.

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The provider to flush at exit, and the tracer the tracing layer uses.
pub fn provider(endpoint: &str, instance: Option<&str>) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .build()
        .context("logging.otlp_traces_endpoint")?;
    let mut resource = Resource::builder().with_service_name("nexus");
    if let Some(instance) = instance {
        resource = resource.with_attribute(opentelemetry::KeyValue::new("service.instance.id", instance.to_owned()));
    }
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build())
}

/// The tracing layer that turns spans into OTLP spans.
pub fn layer<S>(
    provider: &SdkTracerProvider,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer("nexus"))
}
