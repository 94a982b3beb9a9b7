//! Simulated call participants for the SFU benchmark (`sfu-bench`): each
//! speaks LiveKit's signalling protocol v0 over a WebSocket and WebRTC
//! through str0m on loopback — a publisher sends a 20 ms audio frame
//! stamped with its send time, a subscriber takes every track the SFU
//! offers and records each frame's latency. Tokens are signed with the
//! server's API secret, as its token service signs them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use nexus_sfu::proto::{self, SignalRequest, SignalResponse, signal_request, signal_response};
use prost::Message as _;
use serde_json::{Value, json};
use sha2::Sha256;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// An HS256 LiveKit token for `claims`, signed with `secret`.
pub fn sign_token(secret: &str, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// A token joining `room` as `identity`, valid for an hour.
pub fn join_token(api_key: &str, secret: &str, identity: &str, room: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    sign_token(
        secret,
        &json!({"iss": api_key, "sub": identity, "nbf": now - 10, "exp": now + 3600,
                "video": {"roomJoin": true, "room": room}}),
    )
}

/// What every simulated participant adds to.
#[derive(Default)]
pub struct Tally {
    pub frames_sent: AtomicU64,
    pub frames_received: AtomicU64,
    /// Subscribers whose every expected track flows.
    pub connected_publishers: AtomicU64,
    latencies_us: std::sync::Mutex<Vec<u64>>,
    /// Only frames received while this is set are measured.
    pub measuring: std::sync::atomic::AtomicBool,
}

impl Tally {
    /// The measured latencies, in microseconds, sorted.
    pub fn latencies(&self) -> Vec<u64> {
        let mut all = self.latencies_us.lock().expect("tally poisoned").clone();
        all.sort_unstable();
        all
    }
}

/// One side's role in the call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Publisher,
    Subscriber,
}

/// A peer connection on its own loopback socket.
struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    local: std::net::SocketAddr,
    timeout: Instant,
}

impl Peer {
    async fn new() -> Result<Peer> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        Ok(Peer { rtc, socket, local, timeout: Instant::now() })
    }

    /// Sends what the connection has to send; its events.
    fn drain(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while self.rtc.is_alive() {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Ok(Output::Timeout(at)) => {
                    self.timeout = at;
                    break;
                }
                Ok(Output::Event(e)) => events.push(e),
                Err(_) => break,
            }
        }
        events
    }

    fn receive(&mut self, data: &[u8], source: std::net::SocketAddr) -> Vec<Event> {
        if let Ok(contents) = data.try_into() {
            let input = Input::Receive(
                Instant::now(),
                Receive { proto: Protocol::Udp, source, destination: self.local, contents },
            );
            let _ = self.rtc.handle_input(input);
        }
        self.drain()
    }

    fn tick(&mut self) -> Vec<Event> {
        let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
        self.drain()
    }
}

fn request(message: signal_request::Message) -> Message {
    Message::Binary(SignalRequest { message: Some(message) }.encode_to_vec().into())
}

/// Runs one participant until `stop`: joins, publishes (a publisher) or
/// takes every offered track (a subscriber).
pub async fn run_participant(
    url: String,
    token: String,
    role: Role,
    epoch: Instant,
    tally: Arc<Tally>,
    stop: Instant,
) -> Result<()> {
    let auto_subscribe = if role == Role::Subscriber { 1 } else { 0 };
    let mut ws_request = format!("{url}/rtc?auto_subscribe={auto_subscribe}&protocol=16").into_client_request()?;
    ws_request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let (socket, _) = tokio_tungstenite::connect_async(ws_request).await.context("signalling")?;
    let (mut sink, mut stream) = socket.split();
    let mut publisher: Option<(Peer, Option<SdpPendingOffer>, Mid)> = None;
    let mut subscriber: Option<Peer> = None;
    let mut sent_frames: u64 = 0;
    let mut frames = tokio::time::interval(Duration::from_millis(20));
    let mut pings = tokio::time::interval(Duration::from_secs(5));
    let mut buffer = vec![0u8; 2048];
    let mut publishing = false;
    loop {
        if Instant::now() >= stop {
            let _ = sink.send(request(signal_request::Message::Leave(proto::LeaveRequest::default()))).await;
            return Ok(());
        }
        let next_timer = [publisher.as_ref().map(|p| p.0.timeout), subscriber.as_ref().map(|p| p.timeout)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(100))
            .min(stop);
        let mut pub_buf = vec![0u8; 2048];
        tokio::select! {
            frame = stream.next() => {
                let bytes = match frame {
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    Some(Ok(Message::Close(frame))) => bail!("the SFU closed the session: {frame:?}"),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => bail!("signalling: {e}"),
                    None => bail!("signalling ended"),
                };
                let Some(message) = SignalResponse::decode(bytes.as_ref())?.message else { continue };
                match message {
                    signal_response::Message::Join(_) if role == Role::Publisher => {
                        let add = proto::AddTrackRequest {
                            cid: "bench-audio".to_owned(),
                            name: "microphone".to_owned(),
                            r#type: proto::TrackType::Audio as i32,
                            source: proto::TrackSource::Microphone as i32,
                            ..Default::default()
                        };
                        sink.send(request(signal_request::Message::AddTrack(add))).await?;
                    }
                    signal_response::Message::TrackPublished(published) => {
                        let mut peer = Peer::new().await?;
                        let mut api = peer.rtc.sdp_api();
                        let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, Some("bench".into()), Some(published.cid), None);
                        let (offer, pending) = api.apply().context("an offer")?;
                        let description = proto::SessionDescription { r#type: "offer".into(), sdp: offer.to_sdp_string(), id: 1, ..Default::default() };
                        sink.send(request(signal_request::Message::Offer(description))).await?;
                        peer.drain();
                        publisher = Some((peer, Some(pending), mid));
                    }
                    signal_response::Message::Answer(answer) => {
                        if let Some((peer, pending, _)) = &mut publisher
                            && let Some(pending) = pending.take()
                        {
                            peer.rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer.sdp)?)?;
                            peer.drain();
                        }
                    }
                    signal_response::Message::Offer(offer) => {
                        if subscriber.is_none() {
                            subscriber = Some(Peer::new().await?);
                        }
                        let peer = subscriber.as_mut().expect("made above");
                        let answer = peer.rtc.sdp_api().accept_offer(SdpOffer::from_sdp_string(&offer.sdp)?)?;
                        let description = proto::SessionDescription { r#type: "answer".into(), sdp: answer.to_sdp_string(), id: offer.id, ..Default::default() };
                        sink.send(request(signal_request::Message::Answer(description))).await?;
                        peer.drain();
                    }
                    _ => {}
                }
            }
            received = async { match &subscriber { Some(p) => p.socket.recv_from(&mut buffer).await, None => std::future::pending().await } } => {
                let (n, source) = received?;
                let events = subscriber.as_mut().expect("received on it").receive(&buffer[..n], source);
                record(&tally, epoch, events);
            }
            received = async { match &publisher { Some(p) => p.0.socket.recv_from(&mut pub_buf).await, None => std::future::pending().await } } => {
                let (n, source) = received?;
                let (peer, _, _) = publisher.as_mut().expect("received on it");
                for event in peer.receive(&pub_buf[..n], source) {
                    if matches!(event, Event::Connected) {
                        publishing = true;
                        tally.connected_publishers.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ = frames.tick(), if publishing => {
                let (peer, _, mid) = publisher.as_mut().expect("publishing");
                let Some(writer) = peer.rtc.writer(*mid) else { continue };
                let Some(pt) = writer.payload_params().next().map(|p| p.pt()) else { continue };
                // 60 bytes, as a 20 ms Opus frame of speech; the first
                // eight carry the send time.
                let mut frame = vec![0u8; 60];
                frame[..8].copy_from_slice(&(epoch.elapsed().as_micros() as u64).to_be_bytes());
                let time = MediaTime::from_micros(sent_frames * 20_000);
                if writer.write(pt, Instant::now(), time, frame).is_ok() {
                    sent_frames += 1;
                    tally.frames_sent.fetch_add(1, Ordering::Relaxed);
                }
                peer.drain();
            }
            _ = pings.tick() => {
                let ping = proto::Ping { timestamp: epoch.elapsed().as_millis() as i64, rtt: 0 };
                sink.send(request(signal_request::Message::PingReq(ping))).await?;
            }
            _ = tokio::time::sleep_until(next_timer.into()) => {
                if let Some((peer, _, _)) = &mut publisher {
                    if peer.timeout <= Instant::now() {
                        for event in peer.tick() {
                            if matches!(event, Event::Connected) {
                                publishing = true;
                                tally.connected_publishers.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                if let Some(peer) = &mut subscriber {
                    if peer.timeout <= Instant::now() {
                        let events = peer.tick();
                        record(&tally, epoch, events);
                    }
                }
            }
        }
    }
}

/// Counts received frames and, while measuring, their latency.
fn record(tally: &Tally, epoch: Instant, events: Vec<Event>) {
    for event in events {
        let Event::MediaData(data) = event else { continue };
        tally.frames_received.fetch_add(1, Ordering::Relaxed);
        if data.data.len() >= 8 && tally.measuring.load(Ordering::Relaxed) {
            let sent = u64::from_be_bytes(data.data[..8].try_into().expect("eight bytes"));
            let now = epoch.elapsed().as_micros() as u64;
            tally.latencies_us.lock().expect("tally poisoned").push(now.saturating_sub(sent));
        }
    }
}
