//! Data packets (LiveKit's `DataPacket`, on the `_reliable` and `_lossy`
//! channels): from a publisher connection to the subscriber connections
//! of the room's other participants, on the channel of the same label,
//! stamped with the sender so it cannot pose as someone else, and only to
//! the identities it names when it names any.

use prost::Message;
use str0m::channel::ChannelData;

use super::engine::Engine;
use super::participant::{LOSSY, RELIABLE};
use super::stats::Stats;
use super::{Pid, Role};
use crate::proto::DataPacket;

impl Engine {
    pub(super) fn relay_data(&mut self, pid: Pid, data: ChannelData) {
        let Some(sender) = self.participants.get(&pid) else { return };
        if !sender.grants.publish_data {
            return;
        }
        let label = match sender.in_channels.get(&data.id).map(String::as_str) {
            Some(RELIABLE) => RELIABLE,
            Some(LOSSY) => LOSSY,
            _ => return,
        };
        let Ok(mut packet) = DataPacket::decode(data.data.as_slice()) else {
            tracing::debug!(pid, "a data packet that is not a DataPacket was dropped");
            return;
        };
        packet.participant_identity = sender.identity.clone();
        packet.participant_sid = sender.sid.clone();
        if let Some(crate::proto::data_packet::Value::User(user)) = &mut packet.value {
            #[allow(deprecated)]
            {
                user.participant_identity = sender.identity.clone();
                user.participant_sid = sender.sid.clone();
            }
        }
        let destinations = std::mem::take(&mut packet.destination_identities);
        let bytes = packet.encode_to_vec();
        let room = sender.room.clone();
        let members = self.rooms.get(&room).cloned().unwrap_or_default();
        for other in members.into_iter().filter(|p| *p != pid) {
            let Some(receiver) = self.participants.get_mut(&other) else { continue };
            if !destinations.is_empty() && !destinations.contains(&receiver.identity) {
                continue;
            }
            let Some(id) = receiver.out_channels.get(label).copied() else { continue };
            let Some(mut channel) = receiver.subscriber.rtc.channel(id) else { continue };
            if channel.write(true, &bytes).is_ok() {
                Stats::add(&self.stats.data_packets_forwarded, 1);
            }
            self.drain((other, Role::Subscriber));
        }
    }
}
