//! The media task: owns the socket and every connection, routes each
//! packet to the connection it belongs to, applies commands, and keeps
//! every connection's timers.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::MediaKind;
use str0m::net::{Protocol, Receive};
use str0m::{Event, Input, Output};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::participant::{Participant, Pc};
use super::speakers::Speakers;
use super::stats::Stats;
use super::{Command, MediaEvent, Pid, Role};

/// Larger than any datagram WebRTC sends (its MTU is about 1,200).
const RECEIVE_BUFFER: usize = 2048;
/// How often the room speaker lists are recomputed.
const SPEAKER_INTERVAL: Duration = Duration::from_millis(300);

/// A connection: whose, and which of their two.
pub type PeerKey = (Pid, Role);

/// A published track.
pub struct Track {
    pub publisher: Pid,
    pub publisher_sid: String,
    pub room: Arc<str>,
    pub kind: MediaKind,
    /// The publisher connection's mid, once its media has arrived.
    pub mid: Option<str0m::media::Mid>,
    /// When each simulcast layer last carried a frame.
    pub layers: Vec<(str0m::media::Rid, Instant)>,
    pub last_keyframe_request: Option<Instant>,
    /// Whether anyone subscribed yet (the publisher is told the first time).
    pub subscribed: bool,
}

pub struct Engine {
    socket: UdpSocket,
    local: SocketAddr,
    candidates: Arc<[SocketAddr]>,
    pub(super) stats: Arc<Stats>,
    pub(super) participants: HashMap<Pid, Participant>,
    /// Each room's participants, in joining order.
    pub(super) rooms: HashMap<Arc<str>, Vec<Pid>>,
    pub(super) tracks: HashMap<String, Track>,
    /// Which connection last sent from an address: most packets skip the
    /// search through every connection's `accepts`.
    addresses: HashMap<SocketAddr, PeerKey>,
    /// Events taken out of connections, handled in order; handling one may
    /// write into other connections, whose output joins the queue.
    events: VecDeque<(PeerKey, Event)>,
    pub(super) speakers: Speakers,
    last_speaker_check: Instant,
}

/// The addresses offered as host candidates: the configured ones, else
/// the bound address, else (bound to every interface) every interface's
/// IPv4 and IPv6 addresses, loopback included.
pub fn candidate_addresses(local: SocketAddr, configured: &[IpAddr]) -> Vec<SocketAddr> {
    let ips: Vec<IpAddr> = if !configured.is_empty() {
        configured.to_vec()
    } else if !local.ip().is_unspecified() {
        vec![local.ip()]
    } else {
        interface_addresses().into_iter().filter(|ip| ip.is_ipv4() == local.ip().is_ipv4()).collect()
    };
    ips.into_iter().map(|ip| SocketAddr::new(ip, local.port())).collect()
}

/// The host's interface addresses (getifaddrs).
fn interface_addresses() -> Vec<IpAddr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we only read and
    // then free with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut entry = list;
        while !entry.is_null() {
            let address = (*entry).ifa_addr;
            let up = (*entry).ifa_flags & libc::IFF_UP as u32 != 0;
            if up && !address.is_null() {
                match i32::from((*address).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*(address as *const libc::sockaddr_in);
                        found.push(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*(address as *const libc::sockaddr_in6);
                        let ip = std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr);
                        // Link-local addresses need a scope clients cannot use.
                        if (ip.segments()[0] & 0xffc0) != 0xfe80 {
                            found.push(IpAddr::V6(ip));
                        }
                    }
                    _ => {}
                }
            }
            entry = (*entry).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found.sort();
    found.dedup();
    found
}

enum Wake {
    Packet(usize, SocketAddr),
    Command(Command),
    Timer,
    Stop,
}

impl Engine {
    pub fn new(socket: UdpSocket, local: SocketAddr, candidates: Arc<[SocketAddr]>, stats: Arc<Stats>) -> Engine {
        Engine {
            socket,
            local,
            candidates,
            stats,
            participants: HashMap::new(),
            rooms: HashMap::new(),
            tracks: HashMap::new(),
            addresses: HashMap::new(),
            events: VecDeque::new(),
            speakers: Speakers::default(),
            last_speaker_check: Instant::now(),
        }
    }

    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        loop {
            let deadline = self.next_timeout();
            let wake = tokio::select! {
                received = self.socket.recv_from(&mut buffer) => match received {
                    Ok((n, source)) => Wake::Packet(n, source),
                    // ICMP errors surface here (a client went away): not ours to fix.
                    Err(_) => continue,
                },
                command = commands.recv() => command.map_or(Wake::Stop, Wake::Command),
                _ = tokio::time::sleep_until(deadline.into()) => Wake::Timer,
            };
            match wake {
                Wake::Packet(n, source) => self.receive(&buffer[..n], source),
                Wake::Command(command) => self.command(command),
                Wake::Timer => {}
                Wake::Stop => return,
            }
            self.run_timers();
            self.handle_events();
        }
    }

    /// The earliest time any connection needs, capped so speakers are
    /// recomputed on time.
    fn next_timeout(&self) -> Instant {
        let mut next = self.last_speaker_check + SPEAKER_INTERVAL;
        for participant in self.participants.values() {
            next = next.min(participant.subscriber.timeout);
            if let Some(publisher) = &participant.publisher {
                next = next.min(publisher.timeout);
            }
        }
        next
    }

    fn receive(&mut self, packet: &[u8], source: SocketAddr) {
        Stats::add(&self.stats.packets_received, 1);
        Stats::add(&self.stats.bytes_received, packet.len() as u64);
        let Ok(contents) = packet.try_into() else { return };
        let input =
            Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: self.local, contents });
        let known = self.addresses.get(&source).copied().filter(|key| self.accepts(*key, &input));
        let key = known.or_else(|| {
            let keys: Vec<PeerKey> = self
                .participants
                .values()
                .flat_map(|p| {
                    let publisher = p.publisher.as_ref().map(|_| (p.pid, Role::Publisher));
                    std::iter::once((p.pid, Role::Subscriber)).chain(publisher)
                })
                .collect();
            keys.into_iter().find(|key| self.accepts(*key, &input))
        });
        let Some(key) = key else { return };
        self.addresses.insert(source, key);
        if let Some(pc) = self.participants.get_mut(&key.0).and_then(|p| p.pc(key.1))
            && let Err(e) = pc.rtc.handle_input(input)
        {
            tracing::debug!(pid = key.0, role = ?key.1, error = %e, "a connection refused a packet");
        }
        self.drain(key);
    }

    fn accepts(&self, key: PeerKey, input: &Input) -> bool {
        let Some(participant) = self.participants.get(&key.0) else { return false };
        match key.1 {
            Role::Subscriber => participant.subscriber.rtc.accepts(input),
            Role::Publisher => participant.publisher.as_ref().is_some_and(|pc| pc.rtc.accepts(input)),
        }
    }

    /// Feeds the clock to every connection whose timer is due.
    fn run_timers(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        for participant in self.participants.values_mut() {
            if participant.subscriber.timeout <= now {
                due.push((participant.pid, Role::Subscriber));
            }
            if participant.publisher.as_ref().is_some_and(|pc| pc.timeout <= now) {
                due.push((participant.pid, Role::Publisher));
            }
        }
        for key in due {
            if let Some(pc) = self.participants.get_mut(&key.0).and_then(|p| p.pc(key.1)) {
                let _ = pc.rtc.handle_input(Input::Timeout(now));
            }
            self.drain(key);
        }
        if now >= self.last_speaker_check + SPEAKER_INTERVAL {
            self.last_speaker_check = now;
            self.announce_speakers(now);
        }
    }

    /// Takes a connection's output until it asks for time: datagrams go
    /// out at once, events join the queue.
    pub(super) fn drain(&mut self, key: PeerKey) {
        let Some(participant) = self.participants.get_mut(&key.0) else { return };
        let events = &participant.events;
        let pc = match key.1 {
            Role::Publisher => participant.publisher.as_mut(),
            Role::Subscriber => Some(&mut participant.subscriber),
        };
        let Some(pc) = pc else { return };
        loop {
            if !pc.rtc.is_alive() {
                pc.timeout = Instant::now() + Duration::from_secs(3600);
                let _ = events.send(MediaEvent::Gone);
                return;
            }
            match pc.rtc.poll_output() {
                Ok(Output::Transmit(transmit)) => {
                    // A full socket buffer drops the datagram, as the
                    // network might; retransmission is the protocols' job.
                    if self.socket.try_send_to(&transmit.contents, transmit.destination).is_ok() {
                        Stats::add(&self.stats.packets_sent, 1);
                        Stats::add(&self.stats.bytes_sent, transmit.contents.len() as u64);
                    }
                }
                Ok(Output::Timeout(at)) => {
                    pc.timeout = at;
                    return;
                }
                Ok(Output::Event(event)) => self.events.push_back((key, event)),
                Err(e) => {
                    tracing::info!(pid = key.0, role = ?key.1, error = %e, "a connection failed");
                    pc.rtc.disconnect();
                }
            }
        }
    }

    fn handle_events(&mut self) {
        while let Some((key, event)) = self.events.pop_front() {
            self.event(key, event);
        }
    }

    fn event(&mut self, key: PeerKey, event: Event) {
        match event {
            Event::IceConnectionStateChange(state) => {
                tracing::debug!(pid = key.0, role = ?key.1, ?state, "ICE");
                if state == str0m::IceConnectionState::Disconnected
                    && let Some(participant) = self.participants.get(&key.0)
                {
                    let _ = participant.events.send(MediaEvent::Gone);
                }
            }
            Event::MediaAdded(added) if key.1 == Role::Publisher => self.media_added(key.0, added),
            Event::MediaData(data) if key.1 == Role::Publisher => self.forward(key.0, data),
            Event::KeyframeRequest(request) if key.1 == Role::Subscriber => self.keyframe_wanted(key.0, request),
            Event::ChannelOpen(id, label) if key.1 == Role::Publisher => {
                if let Some(participant) = self.participants.get_mut(&key.0) {
                    participant.in_channels.insert(id, label);
                }
            }
            Event::ChannelData(data) if key.1 == Role::Publisher => self.relay_data(key.0, data),
            Event::PeerStats(stats) => {
                if let Some(rtt) = stats.rtt {
                    Stats::set(&self.stats.last_rtt_us, rtt.as_micros() as u64);
                }
            }
            _ => {}
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Join(joining) => {
                let (pid, room, grants, auto_subscribe) =
                    (joining.pid, joining.room.clone(), joining.grants, joining.auto_subscribe);
                let subscriber = Pc::new(&self.candidates, Instant::now());
                let mut participant = Participant::new(joining, subscriber);
                let others = self.rooms.entry(room.clone()).or_default();
                if auto_subscribe && grants.subscribe {
                    for (track_sid, track) in &self.tracks {
                        if track.room == room && track.mid.is_some() {
                            participant.outgoing.push(super::participant::OutTrack::new(track_sid.clone()));
                        }
                    }
                }
                others.push(pid);
                self.participants.insert(pid, participant);
                self.update_room_stats();
                self.renegotiate(pid);
            }
            Command::Leave { pid } => self.leave(pid),
            Command::PublisherOffer { pid, sdp, reply } => {
                let answer = self.untrusted(pid, |engine| engine.publisher_offer(pid, &sdp));
                let _ = reply.send(answer.unwrap_or_else(|| Err("the offer could not be read".to_owned())));
            }
            Command::SubscriberAnswer { pid, sdp } => {
                self.untrusted(pid, |engine| engine.subscriber_answer(pid, &sdp));
            }
            Command::Candidate { pid, role, candidate } => {
                let Ok(candidate) = str0m::Candidate::from_sdp_string(&candidate) else { return };
                let Some(participant) = self.participants.get_mut(&pid) else { return };
                match participant.pc(role) {
                    Some(pc) => pc.rtc.add_remote_candidate(candidate),
                    None => participant.early_candidates.push(candidate),
                }
                self.drain((pid, role));
            }
            Command::ExpectTrack { pid, track, cid, video } => {
                if let Some(participant) = self.participants.get_mut(&pid) {
                    participant.expected.push(super::participant::Expected { track, cid, video });
                }
            }
            Command::RemoveTrack { pid, track } => {
                if self.tracks.get(&track).is_some_and(|t| t.publisher == pid) {
                    self.remove_track(&track);
                }
            }
            Command::Subscription { pid, tracks, subscribe } => self.subscription(pid, &tracks, subscribe),
            Command::TrackSettings { pid, tracks, disabled, quality } => {
                self.track_settings(pid, &tracks, disabled, quality)
            }
            Command::Grants { pid, grants } => self.set_grants(pid, grants),
        }
    }

    /// Runs what parses a client's SDP: should the parser panic on some
    /// input, that client is dropped and every other call goes on.
    fn untrusted<T>(&mut self, pid: Pid, work: impl FnOnce(&mut Engine) -> T) -> Option<T> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(self))) {
            Ok(outcome) => Some(outcome),
            Err(_) => {
                tracing::error!(pid, "a client's session description broke the media engine; the client is dropped");
                if let Some(participant) = self.participants.get(&pid) {
                    let _ = participant.events.send(MediaEvent::Gone);
                }
                self.leave(pid);
                None
            }
        }
    }

    fn publisher_offer(&mut self, pid: Pid, sdp: &str) -> Result<String, String> {
        let offer = str0m::change::SdpOffer::from_sdp_string(sdp).map_err(|e| format!("offer: {e}"))?;
        let candidates = self.candidates.clone();
        let participant = self.participants.get_mut(&pid).ok_or("not joined")?;
        if participant.publisher.is_none() {
            let mut pc = Pc::new(&candidates, Instant::now());
            for candidate in participant.early_candidates.drain(..) {
                pc.rtc.add_remote_candidate(candidate);
            }
            participant.publisher = Some(pc);
        }
        let publisher = participant.publisher.as_mut().expect("made above");
        let answer = publisher.rtc.sdp_api().accept_offer(offer).map_err(|e| format!("offer: {e}"))?;
        self.drain((pid, Role::Publisher));
        Ok(answer.to_sdp_string())
    }

    fn subscriber_answer(&mut self, pid: Pid, sdp: &str) {
        let Some(participant) = self.participants.get_mut(&pid) else { return };
        match participant.answered(sdp) {
            Ok(opened) => {
                // LiveKit tells a publisher when a track of theirs is first
                // subscribed to (clients wait for it before some work).
                for track in &opened {
                    let Some(info) = self.tracks.get_mut(track) else { continue };
                    if !std::mem::replace(&mut info.subscribed, true)
                        && let Some(publisher) = self.participants.get(&info.publisher)
                    {
                        let _ = publisher.events.send(MediaEvent::TrackSubscribed { track: track.clone() });
                    }
                }
                self.drain((pid, Role::Subscriber));
                for track in opened {
                    self.request_keyframe(&track);
                }
                // Whatever changed while the offer was out goes next.
                self.renegotiate(pid);
            }
            Err(e) => tracing::info!(pid, error = %e, "a subscriber answer was refused"),
        }
    }

    /// Sends the participant a subscriber offer if anything changed.
    pub(super) fn renegotiate(&mut self, pid: Pid) {
        if let Some(participant) = self.participants.get_mut(&pid) {
            participant.negotiate(&self.tracks);
        }
        self.drain((pid, Role::Subscriber));
    }

    fn leave(&mut self, pid: Pid) {
        let Some(mut participant) = self.participants.remove(&pid) else { return };
        participant.subscriber.rtc.disconnect();
        if let Some(publisher) = &mut participant.publisher {
            publisher.rtc.disconnect();
        }
        self.addresses.retain(|_, key| key.0 != pid);
        if let Some(members) = self.rooms.get_mut(&participant.room) {
            members.retain(|p| *p != pid);
            if members.is_empty() {
                self.rooms.remove(&participant.room);
                self.speakers.forget_room(&participant.room);
            }
        }
        let theirs: Vec<String> =
            self.tracks.iter().filter(|(_, t)| t.publisher == pid).map(|(s, _)| s.clone()).collect();
        for track in theirs {
            self.remove_track(&track);
        }
        self.speakers.forget_participant(&participant.sid);
        self.update_room_stats();
    }

    fn remove_track(&mut self, track: &str) {
        let Some(removed) = self.tracks.remove(track) else { return };
        self.speakers.forget_track(track);
        let members = self.rooms.get(&removed.room).cloned().unwrap_or_default();
        for pid in members {
            if let Some(participant) = self.participants.get_mut(&pid) {
                participant.stop_outgoing(track);
            }
            self.renegotiate(pid);
        }
        Stats::set(&self.stats.tracks, self.tracks.len() as u64);
    }

    fn subscription(&mut self, pid: Pid, tracks: &[String], subscribe: bool) {
        let Some(participant) = self.participants.get_mut(&pid) else { return };
        for track in tracks {
            let Some(info) = self.tracks.get(track) else { continue };
            if info.room != participant.room || info.publisher == pid {
                continue;
            }
            match participant.outgoing.iter_mut().find(|o| &o.track == track) {
                Some(out) => out.paused = !subscribe,
                None if subscribe && info.mid.is_some() && participant.grants.subscribe => {
                    participant.outgoing.push(super::participant::OutTrack::new(track.clone()))
                }
                None => {}
            }
        }
        self.renegotiate(pid);
    }

    fn track_settings(&mut self, pid: Pid, tracks: &[String], disabled: bool, quality: super::Quality) {
        let Some(participant) = self.participants.get_mut(&pid) else { return };
        for out in participant.outgoing.iter_mut().filter(|o| tracks.contains(&o.track)) {
            let resumed = out.paused && !disabled;
            out.paused = disabled;
            if out.quality != quality || resumed {
                out.quality = quality;
                out.needs_keyframe = true;
            }
        }
        for track in tracks {
            self.request_keyframe(track);
        }
    }

    fn set_grants(&mut self, pid: Pid, grants: super::MediaGrants) {
        let Some(participant) = self.participants.get_mut(&pid) else { return };
        let could_subscribe = participant.grants.subscribe;
        participant.grants = grants;
        if could_subscribe && !grants.subscribe {
            let theirs: Vec<String> = participant.outgoing.iter().map(|o| o.track.clone()).collect();
            for track in theirs {
                participant.stop_outgoing(&track);
            }
        } else if !could_subscribe && grants.subscribe && participant.auto_subscribe {
            let room = participant.room.clone();
            for (sid, track) in &self.tracks {
                if track.room == room && track.publisher != pid && track.mid.is_some() {
                    participant.outgoing.push(super::participant::OutTrack::new(sid.clone()));
                }
            }
        }
        self.renegotiate(pid);
    }

    fn update_room_stats(&self) {
        Stats::set(&self.stats.rooms, self.rooms.len() as u64);
        Stats::set(&self.stats.participants, self.participants.len() as u64);
    }
}
