//! Room versions: which ones this server speaks, and their rules.

use ruma::RoomVersionId;
use ruma::room_version_rules::{RoomVersionDisposition, RoomVersionRules};

use crate::{Error, Result};

/// New rooms use this version unless the client asks for another.
pub const DEFAULT: RoomVersionId = RoomVersionId::V12;

/// Every stable room version. Rooms here are created and extended by this
/// server alone until federation lands; local rooms stay linear (one
/// forward extremity), so versions 1–5, whose state resolution ruma only
/// partly implements, never need one.
pub const SUPPORTED: [RoomVersionId; 12] = [
    RoomVersionId::V1,
    RoomVersionId::V2,
    RoomVersionId::V3,
    RoomVersionId::V4,
    RoomVersionId::V5,
    RoomVersionId::V6,
    RoomVersionId::V7,
    RoomVersionId::V8,
    RoomVersionId::V9,
    RoomVersionId::V10,
    RoomVersionId::V11,
    RoomVersionId::V12,
];

pub fn rules(version: &RoomVersionId) -> Result<RoomVersionRules> {
    if !SUPPORTED.contains(version) {
        return Err(Error::UnsupportedRoomVersion(format!("room version {version} is not supported")));
    }
    version.rules().ok_or_else(|| Error::UnsupportedRoomVersion(format!("room version {version} is not supported")))
}

/// `(version, stable?)` for the `m.room_versions` capability.
pub fn available() -> impl Iterator<Item = (RoomVersionId, bool)> {
    SUPPORTED.into_iter().map(|v| {
        let stable = v.rules().is_some_and(|r| r.disposition == RoomVersionDisposition::Stable);
        (v, stable)
    })
}
