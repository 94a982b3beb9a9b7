//! User-interactive authentication (UIA), the one mechanism behind every
//! endpoint that asks "prove it's you" (registration, device deletion,
//! password change, deactivation, and later cross-signing uploads).
//!
//! A session remembers which stages a client completed. It is bound to one
//! operation (e.g. `delete_devices`) and, once authenticated, to one user,
//! so a session completed for one purpose cannot authorise another. This
//! module tracks sessions; the service that owns the secret behind a stage
//! (accounts, for passwords and registration tokens) judges the stage and
//! reports the verdict here.

use std::sync::Arc;
use std::time::Duration;

use nexus_storage::Store;
use nexus_storage::catalog::UIA_SESSIONS;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::values::{ALPHANUMERIC, decode, encode, now_ms, random_string};
use crate::{Error, Result};

pub const DUMMY: &str = "m.login.dummy";
pub const PASSWORD: &str = "m.login.password";
pub const REGISTRATION_TOKEN: &str = "m.login.registration_token";

/// What a client must do next: the body of a 401 UIA response.
#[derive(Debug)]
pub struct UiaChallenge {
    pub flows: Vec<Vec<&'static str>>,
    pub completed: Vec<String>,
    pub params: Value,
    pub session: String,
    /// Why the stage just submitted failed, if it did.
    pub error: Option<Box<Error>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Session {
    operation: String,
    user: Option<String>,
    completed: Vec<String>,
    expires_at_ms: u64,
}

/// A stage the client submitted, judged by the service that owns it.
pub struct Submission {
    pub session: Option<String>,
    pub stage: String,
    pub verdict: Result<()>,
}

pub struct Uia {
    store: Arc<dyn Store>,
    lifetime: Duration,
}

impl Uia {
    pub fn new(store: Arc<dyn Store>, lifetime: Duration) -> Self {
        Uia { store, lifetime }
    }

    async fn load(&self, id: &str) -> Result<Option<Session>> {
        let Some(bytes) = self.store.get(&UIA_SESSIONS, id.as_bytes()).await? else { return Ok(None) };
        let session: Session = decode(&UIA_SESSIONS, &bytes)?;
        if session.expires_at_ms <= now_ms() {
            self.store.delete(&UIA_SESSIONS, id.as_bytes()).await?;
            return Ok(None);
        }
        Ok(Some(session))
    }

    /// Advances the UIA for `operation`. Returns `Ok` once some flow is
    /// complete (the session is then spent), or the challenge to send back.
    pub async fn advance(
        &self,
        operation: &str,
        user: Option<&str>,
        flows: &[Vec<&'static str>],
        params: Value,
        submission: Option<Submission>,
    ) -> Result<()> {
        let existing = match submission.as_ref().and_then(|s| s.session.as_deref()) {
            Some(id) => self.load(id).await?.map(|s| (id.to_owned(), s)),
            None => None,
        };
        let (id, mut session) = match existing {
            Some((id, session)) => {
                if session.operation != operation || (session.user.is_some() && session.user.as_deref() != user) {
                    return Err(Error::Forbidden("this auth session belongs to another request".to_owned()));
                }
                (id, session)
            }
            None => {
                if let Some(Submission { session: Some(_), .. }) = &submission {
                    // An unknown or expired session: start over with a new one.
                    return Err(self.challenge_new(operation, user, flows, params, None).await?);
                }
                let session = Session {
                    operation: operation.to_owned(),
                    user: user.map(str::to_owned),
                    completed: Vec::new(),
                    expires_at_ms: now_ms() + self.lifetime.as_millis() as u64,
                };
                (random_string(ALPHANUMERIC, 24), session)
            }
        };

        let mut stage_error = None;
        if let Some(submission) = submission {
            if !flows.iter().any(|flow| flow.contains(&submission.stage.as_str())) {
                stage_error = Some(Box::new(Error::Unrecognized(format!(
                    "{} is not a stage of this endpoint's flows",
                    submission.stage
                ))));
            } else {
                match submission.verdict {
                    Ok(()) => {
                        if !session.completed.contains(&submission.stage) {
                            session.completed.push(submission.stage);
                        }
                    }
                    Err(e) => stage_error = Some(Box::new(e)),
                }
            }
        }

        let done = flows.iter().any(|flow| flow.iter().all(|stage| session.completed.iter().any(|c| c == stage)));
        if done {
            self.store.delete(&UIA_SESSIONS, id.as_bytes()).await?;
            return Ok(());
        }
        self.store.put(&UIA_SESSIONS, id.as_bytes(), &encode(&session)).await?;
        Err(Error::AuthRequired(Box::new(UiaChallenge {
            flows: flows.to_vec(),
            completed: session.completed,
            params,
            session: id,
            error: stage_error,
        })))
    }

    async fn challenge_new(
        &self,
        operation: &str,
        user: Option<&str>,
        flows: &[Vec<&'static str>],
        params: Value,
        error: Option<Box<Error>>,
    ) -> Result<Error> {
        let session = Session {
            operation: operation.to_owned(),
            user: user.map(str::to_owned),
            completed: Vec::new(),
            expires_at_ms: now_ms() + self.lifetime.as_millis() as u64,
        };
        let id = random_string(ALPHANUMERIC, 24);
        self.store.put(&UIA_SESSIONS, id.as_bytes(), &encode(&session)).await?;
        Ok(Error::AuthRequired(Box::new(UiaChallenge {
            flows: flows.to_vec(),
            completed: Vec::new(),
            params,
            session: id,
            error,
        })))
    }
}
