//! Delegated delayed leave (lk-jwt-service's `/delegate_delayed_leave`):
//! a client hands the media server side the job of keeping its delayed
//! "left the call" event from firing while it is in the LiveKit room, and
//! of sending it the moment it is gone — sooner than the delay would.
//!
//! The homeserver watches the participant through the LiveKit server's
//! Twirp API (`GetParticipant`) every half delay: present, it restarts the
//! delayed event; absent, it sends it; the LiveKit server unreachable, it
//! does nothing, and the delayed event's own timeout still ends the
//! membership. Only users of this server delegate (the delayed event is
//! here, acted on directly); jobs live in memory — after a restart the
//! delay alone applies, late rather than never.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ruma::OwnedUserId;
use serde_json::json;
use tokio::task::JoinHandle;

use super::livekit::{self, ApiKey};
use crate::delayed_events::{Action, DelayedEvents, Manager};
use crate::values::now_ms;

/// What a delegation watches and acts on.
pub struct Delegation {
    pub owner: OwnedUserId,
    pub delay_id: String,
    pub delay: Duration,
    pub room_alias: String,
    pub identity: String,
}

/// The running watches, one per (LiveKit room, identity): a new delegation
/// for the same participant replaces the old.
#[derive(Default)]
pub struct Watches {
    running: Mutex<HashMap<(String, String), JoinHandle<()>>>,
}

impl Watches {
    pub fn start(
        &self,
        delegation: Delegation,
        delayed_events: Arc<DelayedEvents>,
        http: reqwest::Client,
        api_url: String,
        key: ApiKey,
    ) {
        let slot = (delegation.room_alias.clone(), delegation.identity.clone());
        let task = tokio::spawn(watch(delegation, delayed_events, http, api_url, key));
        let mut running = self.running.lock().expect("watches poisoned");
        running.retain(|_, task| !task.is_finished());
        if let Some(previous) = running.insert(slot, task) {
            previous.abort();
        }
    }
}

/// Whether the participant is in the LiveKit room (`None`: unknown).
async fn present(http: &reqwest::Client, api_url: &str, key: &ApiKey, room: &str, identity: &str) -> Option<bool> {
    let token = livekit::admin_token(key, room, now_ms() / 1000, 60);
    let url = format!("{}/twirp/livekit.RoomService/GetParticipant", api_url.trim_end_matches('/'));
    let response = http.post(url).bearer_auth(token).json(&json!({ "room": room, "identity": identity })).send().await;
    match response {
        Ok(r) if r.status().is_success() => Some(true),
        Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => Some(false),
        Ok(r) => {
            tracing::info!(status = %r.status(), "the LiveKit server did not say whether a participant is present");
            None
        }
        Err(e) => {
            tracing::info!(error = %e, "the LiveKit server is unreachable");
            None
        }
    }
}

async fn watch(d: Delegation, delayed_events: Arc<DelayedEvents>, http: reqwest::Client, url: String, key: ApiKey) {
    let every = (d.delay / 2).max(Duration::from_millis(500));
    loop {
        tokio::time::sleep(every).await;
        let action = match present(&http, &url, &key, &d.room_alias, &d.identity).await {
            Some(true) => Action::Restart,
            Some(false) => Action::Send,
            None => continue,
        };
        let acted = delayed_events.act(Manager::OnBehalfOf(&d.owner), &d.delay_id, action).await;
        // Sent, or the delayed event is gone (sent, cancelled, superseded):
        // nothing left to watch.
        if action == Action::Send || acted.is_err() {
            tracing::debug!(delay_id = d.delay_id, ?action, "a delegated delayed leave ended");
            return;
        }
    }
}
