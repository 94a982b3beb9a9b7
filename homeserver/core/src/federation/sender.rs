//! Delivers the outbox: one task per destination sends transactions of up
//! to 50 PDUs and 100 EDUs in order, forgets what the destination
//! acknowledged, and backs off (exponentially, up to the configured cap)
//! while the destination is unreachable. Started once with the server; it
//! picks up whatever the outbox still holds from before a restart.

use std::sync::Arc;
use std::time::Duration;

use ruma::{OwnedServerName, ServerName};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::client::FederationClient;
use super::destinations::Destinations;
use super::outbox::{Item, Outbox};
use crate::values::now_ms;

const MAX_PDUS: usize = 50;
const MAX_EDUS: usize = 100;

pub struct Sender {
    outbox: Arc<Outbox>,
    client: Arc<FederationClient>,
    max_retry_interval: Duration,
    destinations: Arc<Destinations>,
}

impl Sender {
    pub fn new(
        outbox: Arc<Outbox>,
        client: Arc<FederationClient>,
        max_retry_interval: Duration,
        destinations: Arc<Destinations>,
    ) -> Self {
        Sender { outbox, client, max_retry_interval, destinations }
    }

    /// Runs until the process ends.
    pub async fn run(self: Arc<Self>) {
        match self.outbox.destinations().await {
            Ok(destinations) => {
                for destination in destinations {
                    self.start(destination);
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read the federation outbox"),
        }
        let elsewhere = self.outbox.stream().bus().subscribe(super::outbox::OUTBOX_TOPIC);
        loop {
            let notified = self.outbox.dispatch.notified();
            let queued_elsewhere = elsewhere.next();
            tokio::pin!(queued_elsewhere);
            queued_elsewhere.as_mut().enable();
            for destination in self.outbox.take_pending() {
                self.start(destination);
            }
            tokio::select! {
                () = notified => {}
                () = queued_elsewhere => {
                    if let Err(e) = self.outbox.wake_stored().await {
                        tracing::warn!(error = %e, "could not read the federation outbox");
                    }
                }
            }
        }
    }

    fn start(self: &Arc<Self>, destination: OwnedServerName) {
        if let Some(notify) = self.outbox.claim(&destination) {
            tokio::spawn(self.clone().deliver(destination, notify));
        }
    }

    async fn deliver(self: Arc<Self>, destination: OwnedServerName, notify: Arc<Notify>) {
        let mut failures: u32 = 0;
        let reset = self.destinations.reset_signal(&destination);
        loop {
            let notified = notify.notified();
            match self.send_once(&destination).await {
                Ok(true) => {
                    failures = 0;
                    continue;
                }
                Ok(false) => {
                    failures = 0;
                    notified.await;
                }
                Err(()) => {
                    failures += 1;
                    let wait = Duration::from_millis(500u64.saturating_mul(1 << failures.min(16)))
                        .min(self.max_retry_interval);
                    if let Err(e) = self.destinations.failed(&destination, wait).await {
                        tracing::warn!(%destination, error = %e, "could not record a delivery failure");
                    }
                    // New work does not cut a backoff short: the destination
                    // is down either way. An admin's reset does.
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = reset.notified() => failures = 0,
                    }
                }
            }
        }
    }

    /// Sends one transaction. `Ok(true)`: something was sent (look again);
    /// `Ok(false)`: nothing to send; `Err`: the destination failed.
    async fn send_once(&self, destination: &ServerName) -> Result<bool, ()> {
        let stored = match self.outbox.peek(destination, MAX_PDUS + MAX_EDUS).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(%destination, error = %e, "could not read the federation outbox");
                return Err(());
            }
        };
        let mut pdus = Vec::new();
        let mut edus = self.outbox.take_ephemeral(destination);
        let mut sent = Vec::new();
        for (sequence, item) in stored {
            match item {
                Item::Pdu(pdu) if pdus.len() < MAX_PDUS => pdus.push(pdu),
                Item::Edu(edu) if edus.len() < MAX_EDUS => edus.push(edu),
                _ => break,
            }
            sent.push(sequence);
        }
        if pdus.is_empty() && edus.is_empty() {
            return Ok(false);
        }
        let edu_count = edus.len() as u64;
        let txn_id = format!("{}-{}", now_ms(), sent.first().copied().unwrap_or_default());
        let body = json!({
            "origin": self.client.server_name(),
            "origin_server_ts": now_ms(),
            "pdus": pdus,
            "edus": edus,
        });
        let path = format!("/_matrix/federation/v1/send/{txn_id}");
        match self.client.put(destination, &path, &body).await {
            Ok(response) => {
                log_rejections(destination, &response);
                metrics::counter!(crate::metric_names::FEDERATION_SENT_TRANSACTIONS).increment(1);
                metrics::counter!(crate::metric_names::FEDERATION_SENT_EDUS).increment(edu_count);
            }
            Err(e) if e.is_transient() => {
                tracing::info!(%destination, error = %e, "federation transaction failed; will retry");
                return Err(());
            }
            Err(e) => {
                // The destination understood and refused the transaction as
                // a whole; sending it again would be refused again.
                tracing::warn!(%destination, error = %e, "federation transaction refused; dropped");
            }
        }
        if let Err(e) = self.destinations.delivered(destination, sent.iter().copied().max()).await {
            tracing::warn!(%destination, error = %e, "could not record a delivery");
        }
        if let Err(e) = self.outbox.remove(destination, &sent).await {
            tracing::error!(%destination, error = %e, "could not clear sent federation items");
            return Err(());
        }
        Ok(true)
    }
}

fn log_rejections(destination: &ServerName, response: &Value) {
    if let Some(pdus) = response.get("pdus").and_then(Value::as_object) {
        for (event_id, outcome) in pdus {
            if let Some(error) = outcome.get("error") {
                tracing::warn!(%destination, %event_id, %error, "the destination rejected an event");
            }
        }
    }
}
