//! One gateway WebSocket: HELLO, heartbeats, IDENTIFY or RESUME, then the
//! session's dispatches until either side closes. Close codes are
//! Discord's (4001 unknown opcode, 4002 decode error, 4003 not
//! authenticated, 4004 authentication failed, 4005 already authenticated,
//! 4009 session timed out, 4012 invalid API version, 4013 invalid intents,
//! 4014 disallowed intents).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{HEARTBEAT_INTERVAL_MS, Session};
use crate::Bridge;
use crate::applications::intents;

/// The largest frame a client may send (Discord's limit is 4096 bytes for
/// most payloads; IDENTIFY with properties stays far below this).
const MAX_FRAME: usize = 15 * 1024;

enum Outcome {
    Close(u16, &'static str),
    Gone,
}

/// Serves one connection. `resume_url` goes into READY.
pub async fn serve_socket(bridge: Arc<Bridge>, mut socket: WebSocket, resume_url: String) {
    let hello = json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}});
    if socket.send(text(&hello)).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let mut session: Option<Arc<Session>> = None;
    // A client that misses heartbeats for 1.5 intervals is gone.
    let timeout = Duration::from_millis(HEARTBEAT_INTERVAL_MS * 3 / 2);
    let mut deadline = tokio::time::Instant::now() + timeout;
    let outcome = loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { break Outcome::Gone };
                let payload = match message {
                    Message::Text(text) if text.as_str().len() <= MAX_FRAME => text.to_string(),
                    Message::Binary(_) | Message::Text(_) => break Outcome::Close(4002, "decode error"),
                    Message::Close(_) => break Outcome::Gone,
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                let Ok(frame) = serde_json::from_str::<Value>(&payload) else {
                    break Outcome::Close(4002, "decode error");
                };
                match frame["op"].as_u64() {
                    Some(1) => {
                        deadline = tokio::time::Instant::now() + timeout;
                        if socket.send(text(&json!({"op": 11}))).await.is_err() {
                            break Outcome::Gone;
                        }
                    }
                    Some(2) if session.is_some() => break Outcome::Close(4005, "already authenticated"),
                    Some(2) => match identify(&bridge, &frame["d"], tx.clone(), &resume_url).await {
                        Ok(identified) => session = Some(identified),
                        Err(outcome) => break outcome,
                    },
                    Some(6) if session.is_some() => break Outcome::Close(4005, "already authenticated"),
                    Some(6) => match resume(&bridge, &frame["d"], tx.clone()).await {
                        Some(resumed) => {
                            resumed.dispatch("RESUMED", json!({}));
                            session = Some(resumed);
                        }
                        None => {
                            // Not resumable: the client identifies afresh.
                            if socket.send(text(&json!({"op": 9, "d": false}))).await.is_err() {
                                break Outcome::Gone;
                            }
                        }
                    },
                    // Presence and voice state updates change nothing yet,
                    // but are valid once identified.
                    Some(3 | 4 | 8) if session.is_some() => {}
                    Some(3 | 4 | 8) => break Outcome::Close(4003, "not authenticated"),
                    _ => break Outcome::Close(4001, "unknown opcode"),
                }
            }
            Some(frame) = rx.recv() => {
                if socket.send(text(&frame)).await.is_err() {
                    break Outcome::Gone;
                }
            }
            _ = tokio::time::sleep_until(deadline) => break Outcome::Close(4009, "session timed out"),
        }
    };
    if let Some(session) = &session {
        session.detach(&tx);
    }
    if let Outcome::Close(code, reason) = outcome {
        // Codes after which Discord's clients must not resume end the session.
        if matches!(code, 4004 | 4012 | 4013 | 4014)
            && let Some(session) = &session
        {
            bridge.sessions.remove(&session.id);
        }
        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await;
    }
}

fn text(value: &Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

fn token_of(raw: &str) -> &str {
    raw.strip_prefix("Bot ").unwrap_or(raw)
}

async fn identify(
    bridge: &Arc<Bridge>,
    data: &Value,
    socket: mpsc::UnboundedSender<Value>,
    resume_url: &str,
) -> Result<Arc<Session>, Outcome> {
    let Some(token) = data["token"].as_str() else { return Err(Outcome::Close(4002, "decode error")) };
    let Some(wanted) = data["intents"].as_u64() else { return Err(Outcome::Close(4013, "invalid intents")) };
    if wanted & !intents::ALL != 0 {
        return Err(Outcome::Close(4013, "invalid intents"));
    }
    let application = match bridge.applications.by_token(token_of(token)).await {
        Ok(Some(application)) => application,
        Ok(None) => return Err(Outcome::Close(4004, "authentication failed")),
        Err(e) => {
            tracing::warn!(error = %e, "gateway: reading applications failed");
            return Err(Outcome::Close(4000, "unknown error"));
        }
    };
    if wanted & intents::PRIVILEGED & !application.privileged_intents != 0 {
        return Err(Outcome::Close(4014, "disallowed intents"));
    }
    let session = bridge.sessions.create(application, wanted);
    session.attach(socket);
    if let Err(e) = bridge.ready(&session, resume_url).await {
        tracing::warn!(error = %e, "gateway: READY failed");
        return Err(Outcome::Close(4000, "unknown error"));
    }
    Ok(session)
}

async fn resume(bridge: &Arc<Bridge>, data: &Value, socket: mpsc::UnboundedSender<Value>) -> Option<Arc<Session>> {
    let (token, session_id) = (data["token"].as_str()?, data["session_id"].as_str()?);
    // A client that received no dispatch yet resumes from null.
    let seq = data["seq"].as_u64().unwrap_or(0);
    let session = bridge.sessions.get(session_id)?;
    let application = bridge.applications.by_token(token_of(token)).await.ok()??;
    if application.id != session.application.id {
        return None;
    }
    session.resume(seq, socket).then_some(session)
}
