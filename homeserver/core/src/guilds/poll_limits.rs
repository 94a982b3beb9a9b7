//! §11.1: polls that local users send in a Nexus server's rooms follow
//! Discord's limits (the `org.matrix.msc3381.poll.*` schemas: 1–20 unique
//! answers, a question of at most 300 characters, answers of at most 55,
//! `max_selections` within the answers). Polls from elsewhere, and polls in
//! other rooms, are tallied whatever their limits (`rooms::polls`).

use nexus_extensions::events::{POLL_END, POLL_RESPONSE, POLL_START, validate_content};
use serde_json::Value;

use super::Guilds;
use crate::rooms::NewEvent;
use crate::{Error, Result};

impl Guilds {
    /// `M_BAD_JSON` naming the field for a malformed poll event.
    pub(super) fn check_poll_limits(&self, event: &NewEvent, content: &Value) -> Result<()> {
        let kind = event.kind.as_str();
        if event.state_key.is_some() || ![POLL_START, POLL_RESPONSE, POLL_END].contains(&kind) {
            return Ok(());
        }
        validate_content(kind, content).map_err(|e| Error::BadJson(format!("{kind}: {e}")))
    }
}
