//! Captures what matrix-sdk logs, so tests can assert that a real client
//! met no errors or warnings about the server's responses.

use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

static CAPTURED: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

struct Capture;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > Level::WARN || !meta.target().starts_with("matrix_sdk") {
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let line = format!("{} {}: {}", meta.level(), meta.target(), message.0);
        CAPTURED.get_or_init(Default::default).lock().expect("capture poisoned").push(line);
    }
}

/// Starts capturing (once per test binary; every thread).
pub fn capture_sdk_warnings() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Capture);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// The warnings and errors matrix-sdk logged so far.
pub fn sdk_warnings() -> Vec<String> {
    CAPTURED.get_or_init(Default::default).lock().expect("capture poisoned").clone()
}

/// Those of them that say the server answered wrongly: errors other than
/// the spec's 404 for something absent (the SDK probes for account data
/// and state it may not find, and logs the 404s it expects), and any
/// complaint about a response's shape.
pub fn sdk_complaints_about_responses() -> Vec<String> {
    sdk_warnings()
        .into_iter()
        .filter(|line| {
            let lower = line.to_lowercase();
            (line.starts_with("ERROR") && !line.contains("status_code: 404"))
                || lower.contains("deserializ")
                || lower.contains("unexpected")
                || lower.contains("invalid response")
        })
        .collect()
}
