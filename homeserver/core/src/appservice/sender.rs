//! Delivery: one task per appservice sends its transactions one at a time,
//! in order. A failed transaction is retried — the same id and body — with
//! exponential backoff; the other appservices' tasks never wait for it, and
//! nothing the homeserver does waits for any of them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::Appservices;
use super::queue::Transaction;
use super::registration::Registration;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Even without a wake-up the queue is looked at this often (a wake-up
/// lost to a race costs at most this much delay).
const IDLE_CHECK: Duration = Duration::from_secs(5);

impl Appservices {
    /// Starts the delivery tasks; called once, after start-up.
    pub fn run(self: &Arc<Self>) {
        *self.delivering.lock().expect("delivering poisoned") = Some(Default::default());
        self.start_senders();
        if let Some(stream) = self.stream.get().filter(|s| s.is_clustered()).cloned() {
            let this = self.clone();
            tokio::spawn(async move {
                let queued_elsewhere = stream.bus().subscribe(super::QUEUE_TOPIC);
                loop {
                    let next = queued_elsewhere.next();
                    tokio::pin!(next);
                    next.as_mut().enable();
                    next.await;
                    this.wake_all();
                }
            });
        }
    }

    /// Starts a task for every registration without one (new ones after a
    /// reload). Before `run`, nothing starts.
    pub(super) fn start_senders(self: &Arc<Self>) {
        let mut delivering = self.delivering.lock().expect("delivering poisoned");
        let Some(delivering) = delivering.as_mut() else { return };
        for r in self.registry().iter() {
            if delivering.insert(r.id.clone()) {
                let waker = self.waker(&r.id);
                tokio::spawn(self.clone().deliver(r.id.clone(), waker));
            }
        }
    }

    /// The next transaction, with MSC3202's key counts for an appservice
    /// that asked for them, made the one in flight.
    async fn start_transaction(&self, registration: &Registration) -> crate::Result<Option<Transaction>> {
        let Some(mut pending) = self.queue.next_transaction(&registration.id).await? else { return Ok(None) };
        if registration.device_masquerading_and_e2ee {
            self.add_key_counts(registration, &mut pending.transaction.body).await?;
        }
        Ok(Some(self.queue.commit(pending).await?))
    }

    fn waker(&self, id: &str) -> Arc<Notify> {
        self.wakers.lock().expect("wakers poisoned").entry(id.to_owned()).or_default().clone()
    }

    async fn deliver(self: Arc<Self>, id: String, waker: Arc<Notify>) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let Some(registration) = self.registry().by_id(&id).cloned() else {
                // Removed by a reload: its queue waits in case it returns.
                if let Some(delivering) = self.delivering.lock().expect("delivering poisoned").as_mut() {
                    delivering.remove(&id);
                }
                return;
            };
            if registration.url.is_none() {
                let _ = tokio::time::timeout(IDLE_CHECK, waker.notified()).await;
                continue;
            }
            let transaction = match self.queue.in_flight(&id).await {
                Ok(Some(transaction)) => Some(transaction),
                Ok(None) => match self.start_transaction(&registration).await {
                    Ok(next) => next,
                    Err(e) => {
                        tracing::warn!(appservice = %id, error = %e, "could not read the appservice queue");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(appservice = %id, error = %e, "could not read the appservice transaction");
                    None
                }
            };
            let Some(transaction) = transaction else {
                let _ = tokio::time::timeout(IDLE_CHECK, waker.notified()).await;
                continue;
            };
            match self.client.send_transaction(&registration, &transaction).await {
                Ok(()) => {
                    backoff = FIRST_BACKOFF;
                    let events = transaction.body["events"].as_array().map_or(0, Vec::len) as u64;
                    metrics::counter!(crate::metric_names::APPSERVICE_SENT_TRANSACTIONS, "service" => id.clone())
                        .increment(1);
                    metrics::counter!(crate::metric_names::APPSERVICE_SENT_EVENTS, "service" => id.clone())
                        .increment(events);
                    if let Err(e) = self.queue.finish(&id).await {
                        tracing::warn!(appservice = %id, error = %e, "could not record an acknowledged transaction");
                    }
                }
                Err(failure) => {
                    metrics::counter!(crate::metric_names::APPSERVICE_FAILED_TRANSACTIONS, "service" => id.clone())
                        .increment(1);
                    tracing::warn!(
                        appservice = %id,
                        txn_id = %transaction.txn_id,
                        error = %failure,
                        retry_in_ms = backoff.as_millis() as u64,
                        "appservice transaction failed"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}
