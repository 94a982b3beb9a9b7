//! Counters of the media plane, read by the metrics endpoint and logs.
//! Relaxed atomics: each is a tally on its own, read only for reporting.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Stats {
    pub rooms: AtomicU64,
    pub participants: AtomicU64,
    pub tracks: AtomicU64,
    pub packets_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Media frames written to a subscriber.
    pub frames_forwarded: AtomicU64,
    pub bytes_forwarded: AtomicU64,
    /// Frames not forwarded: no codec in common, a write refused, a
    /// send buffer full.
    pub frames_dropped: AtomicU64,
    pub data_packets_forwarded: AtomicU64,
    pub keyframe_requests: AtomicU64,
    /// The last round-trip time a connection measured, in microseconds.
    pub last_rtt_us: AtomicU64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }

    /// `(name, help, value)` of every counter, for exposition.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("nexus_sfu_rooms", "Rooms with participants", read(&self.rooms)),
            ("nexus_sfu_participants", "Connected participants", read(&self.participants)),
            ("nexus_sfu_tracks", "Published tracks", read(&self.tracks)),
            ("nexus_sfu_packets_received_total", "UDP packets received", read(&self.packets_received)),
            ("nexus_sfu_bytes_received_total", "UDP bytes received", read(&self.bytes_received)),
            ("nexus_sfu_packets_sent_total", "UDP packets sent", read(&self.packets_sent)),
            ("nexus_sfu_bytes_sent_total", "UDP bytes sent", read(&self.bytes_sent)),
            ("nexus_sfu_frames_forwarded_total", "Media frames forwarded to subscribers", read(&self.frames_forwarded)),
            ("nexus_sfu_bytes_forwarded_total", "Media bytes forwarded to subscribers", read(&self.bytes_forwarded)),
            ("nexus_sfu_frames_dropped_total", "Media frames not forwarded", read(&self.frames_dropped)),
            ("nexus_sfu_data_packets_forwarded_total", "Data packets forwarded", read(&self.data_packets_forwarded)),
            (
                "nexus_sfu_keyframe_requests_total",
                "Keyframe requests sent to publishers",
                read(&self.keyframe_requests),
            ),
            ("nexus_sfu_last_rtt_microseconds", "Last measured round-trip time", read(&self.last_rtt_us)),
        ]
    }
}
