//! Optional OpenTelemetry traces, over OTLP/HTTP (protobuf) to `log.otlp_endpoint`: the
//! span each HR event is handled in (`event`, with its `event_id` and `employee_id`) and
//! what it does inside, as one trace per event — continuing the publisher's trace when the
//! CloudEvent carries the Distributed Tracing extension's `traceparent` (W3C Trace
//! Context; in structured mode an attribute of the envelope, in binary mode a
//! `cloudEvents:traceparent` / `ce-traceparent` header, or a plain `traceparent` header).
//!
//! A `traceparent` is publisher input like any other, so it only ever links spans; an
//! invalid one is ignored. The exporter sends through hrsync's own `reqwest` (no second
//! HTTP stack); spans are batched and flushed when the worker stops.

use lapin::message::Delivery;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Whether traces are exported (the consumer looks for a `traceparent` only then).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// The tracer provider for `endpoint` (the full OTLP traces URL,
/// `http://collector:4318/v1/traces`).
pub(super) fn provider(endpoint: &str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Client {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| format!("log.otlp_endpoint: {e}"))?,
            runtime: tokio::runtime::Handle::try_current()
                .map_err(|_| "log.otlp_endpoint: needs the tokio runtime".to_string())?,
        })
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("log.otlp_endpoint: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("hrsync")
        .build();
    ENABLED.store(true, Ordering::Relaxed);
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The tracing layer that turns spans into OpenTelemetry spans.
pub(super) fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer("hrsync"))
}

/// Makes `span` continue the trace `delivery`'s CloudEvent names, if it names a valid one.
pub fn continue_trace(span: &tracing::Span, delivery: &Delivery) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Some(traceparent) = traceparent(delivery) else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_string(), traceparent)]);
    let context = TraceContextPropagator::new().extract(&carrier);
    use opentelemetry::trace::TraceContextExt as _;
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// The message's `traceparent`: a header in binary mode, the envelope's attribute in
/// structured mode.
fn traceparent(delivery: &Delivery) -> Option<String> {
    if let Some(headers) = delivery.properties.headers() {
        for name in [
            "cloudEvents:traceparent",
            "cloudEvents_traceparent",
            "ce-traceparent",
            "traceparent",
        ] {
            if let Some(value) = crate::source::headers::text(Some(headers), name) {
                return Some(value);
            }
        }
    }
    #[derive(serde::Deserialize)]
    struct Envelope {
        traceparent: Option<String>,
    }
    serde_json::from_slice::<Envelope>(&delivery.data)
        .ok()?
        .traceparent
}

/// hrsync's `reqwest` as the exporter's HTTP client. The batch exporter runs on a thread
/// of its own, and `reqwest` needs the tokio runtime: each export is spawned onto it.
#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Client {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let (parts, body) = request.into_parts();
        let mut builder = self
            .http
            .request(parts.method, parts.uri.to_string())
            .body(body.to_vec());
        for (name, value) in &parts.headers {
            builder = builder.header(name, value);
        }
        let (status, bytes) = self
            .runtime
            .spawn(async move {
                let response = builder.send().await?;
                let status = response.status();
                Ok::<_, reqwest::Error>((status, response.bytes().await?))
            })
            .await??;
        Ok(opentelemetry_http::Response::builder()
            .status(status)
            .body(bytes)?)
    }
}
