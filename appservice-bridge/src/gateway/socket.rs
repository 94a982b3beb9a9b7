//! One gateway WebSocket: HELLO, heartbeats, IDENTIFY or RESUME, then the
//! session's dispatches until either side closes. Close codes are
//! Discord's (4001 unknown opcode, 4002 decode error, 4003 not
//! authenticated, 4004 authentication failed, 4005 already authenticated,
//! 4008 rate limited (over 120 commands a minute), 4009 session timed
//! out, 4012 invalid API version, 4013 invalid intents, 4014 disallowed
//! intents; 1012 after op 7 RECONNECT when the bridge shuts down). With `compress=zlib-stream` every frame the
//! bridge sends is a binary frame of one zlib stream for the whole
//! connection, each ending in a sync flush (`00 00 ff ff`), as Discord's.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use flate2::{Compress, Compression, FlushCompress};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{HEARTBEAT_INTERVAL_MS, Session};
use crate::Bridge;
use crate::applications::intents;

/// Commands a client may send per minute (Discord's gateway limit).
const COMMANDS_PER_MINUTE: u32 = 120;

/// The largest frame a client may send (Discord's limit is 4096 bytes for
/// most payloads; IDENTIFY with properties stays far below this).
const MAX_FRAME: usize = 15 * 1024;

enum Outcome {
    Close(u16, &'static str),
    /// The connection dropped: the session may be resumed.
    Gone,
    /// The client closed with 1000 or 1001: its session ends (Discord's rule).
    Ended,
}

/// How frames go out: plain text, or one zlib stream.
struct Encoder {
    zlib: Option<Compress>,
}

impl Encoder {
    fn frame(&mut self, value: &Value) -> Message {
        let text = value.to_string();
        let Some(zlib) = &mut self.zlib else { return Message::Text(Utf8Bytes::from(text)) };
        let mut out = Vec::with_capacity(text.len() / 2 + 64);
        let mut input = text.as_bytes();
        loop {
            out.reserve(4096);
            let before = zlib.total_in();
            // Compressing into a Vec cannot fail but for a full buffer,
            // which `reserve` just ruled out.
            let _ = zlib.compress_vec(input, &mut out, FlushCompress::Sync);
            input = &input[(zlib.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        Message::Binary(out.into())
    }
}

/// Serves one connection. `resume_url` goes into READY.
pub async fn serve_socket(bridge: Arc<Bridge>, mut socket: WebSocket, resume_url: String, zlib: bool) {
    let mut encoder = Encoder { zlib: zlib.then(|| Compress::new(Compression::fast(), true)) };
    let hello = json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}});
    if socket.send(encoder.frame(&hello)).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let mut session: Option<Arc<Session>> = None;
    // A client that misses heartbeats for 1.5 intervals is gone.
    let timeout = Duration::from_millis(HEARTBEAT_INTERVAL_MS * 3 / 2);
    let mut deadline = tokio::time::Instant::now() + timeout;
    let (mut window_start, mut commands) = (tokio::time::Instant::now(), 0u32);
    let outcome = loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { break Outcome::Gone };
                let payload = match message {
                    Message::Text(text) if text.as_str().len() <= MAX_FRAME => text.to_string(),
                    Message::Binary(_) | Message::Text(_) => break Outcome::Close(4002, "decode error"),
                    Message::Close(Some(frame)) if matches!(frame.code, 1000 | 1001) => break Outcome::Ended,
                    Message::Close(_) => break Outcome::Gone,
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                let Ok(frame) = serde_json::from_str::<Value>(&payload) else {
                    break Outcome::Close(4002, "decode error");
                };
                // Discord's limit: 120 commands a minute per connection.
                if window_start.elapsed() >= Duration::from_secs(60) {
                    (window_start, commands) = (tokio::time::Instant::now(), 0);
                }
                commands += 1;
                if commands > COMMANDS_PER_MINUTE {
                    break Outcome::Close(4008, "rate limited");
                }
                match frame["op"].as_u64() {
                    Some(1) => {
                        deadline = tokio::time::Instant::now() + timeout;
                        if socket.send(encoder.frame(&json!({"op": 11}))).await.is_err() {
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
                            if socket.send(encoder.frame(&json!({"op": 9, "d": false}))).await.is_err() {
                                break Outcome::Gone;
                            }
                        }
                    },
                    Some(8) if let Some(session) = &session => {
                        if let Err(e) = bridge.guild_members_chunk(session, &frame["d"]).await {
                            tracing::warn!(error = %e, "gateway: a member request failed");
                        }
                    }
                    Some(3) if let Some(session) = &session => {
                        if let Err(e) = bridge.bot_presence(session, &frame["d"]).await {
                            tracing::warn!(error = %e, "gateway: a presence update failed");
                        }
                    }
                    // Voice state updates (joining voice) are valid once
                    // identified; voice goes through MatrixRTC here.
                    Some(4) if session.is_some() => {}
                    Some(3 | 4 | 8) => break Outcome::Close(4003, "not authenticated"),
                    _ => break Outcome::Close(4001, "unknown opcode"),
                }
            }
            Some(frame) = rx.recv() => {
                // Null: the bridge is going away (after op 7 RECONNECT).
                if frame.is_null() {
                    break Outcome::Close(1012, "restarting");
                }
                if socket.send(encoder.frame(&frame)).await.is_err() {
                    break Outcome::Gone;
                }
            }
            _ = tokio::time::sleep_until(deadline) => break Outcome::Close(4009, "session timed out"),
        }
    };
    if let Some(session) = &session {
        session.detach(&tx);
        if matches!(outcome, Outcome::Ended) {
            bridge.sessions.remove(&session.id);
        }
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

#[cfg(test)]
mod tests {
    use flate2::{Decompress, FlushDecompress};

    use super::*;

    #[test]
    fn zlib_frames_are_one_stream_each_ending_in_a_sync_flush() {
        let mut encoder = Encoder { zlib: Some(Compress::new(Compression::fast(), true)) };
        let mut inflate = Decompress::new(true);
        let big = json!({"op": 0, "d": "x".repeat(100_000)});
        for value in [json!({"op": 10}), big, json!({"op": 11})] {
            let Message::Binary(frame) = encoder.frame(&value) else { panic!("a binary frame") };
            assert!(frame.ends_with(&[0, 0, 0xff, 0xff]));
            let mut out = Vec::with_capacity(200_000);
            inflate.decompress_vec(&frame, &mut out, FlushDecompress::Sync).unwrap();
            assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), value);
        }
        let mut plain = Encoder { zlib: None };
        assert!(matches!(plain.frame(&json!({"op": 11})), Message::Text(_)));
    }
}
