//! The catalog: every map and counter Nexus stores, in one place.
//!
//! Reading this file is reading the data model. Each map names its key layout
//! (parts in [`crate::codec`] order) and its value (a serde type in
//! `nexus-core`, JSON-encoded). A map belongs to exactly one core service;
//! no other service reads or writes it.

/// A named ordered map: a RocksDB column family, or a PostgreSQL table.
#[derive(Debug, PartialEq, Eq)]
pub struct MapDef {
    /// Stable on-disk name: `[a-z0-9_]+`, never renamed once released.
    pub name: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    /// The core service that owns the map.
    pub owner: &'static str,
}

/// A named monotonic counter.
#[derive(Debug, PartialEq, Eq)]
pub struct CounterDef {
    pub name: &'static str,
    pub owner: &'static str,
}

/// What a backend creates when it opens.
#[derive(Debug, Clone, Copy)]
pub struct Catalog {
    pub maps: &'static [&'static MapDef],
    pub counters: &'static [&'static CounterDef],
}

pub const USERS: MapDef = MapDef {
    name: "users",
    key: "localpart: str",
    value: "accounts::UserRecord (password hash, created, deactivated)",
    owner: "accounts",
};

pub const PROFILES: MapDef = MapDef {
    name: "profiles",
    key: "localpart: str",
    value: "profiles::Profile (displayname, avatar_url)",
    owner: "profiles",
};

pub const DEVICES: MapDef = MapDef {
    name: "devices",
    key: "localpart: str, device_id: str",
    value: "devices::Device (display name, last seen, its token ids)",
    owner: "devices",
};

pub const ACCESS_TOKENS: MapDef = MapDef {
    name: "access_tokens",
    key: "token id: raw (24 hex chars)",
    value: "tokens::AccessTokenRecord (secret hash, user, device, expiry)",
    owner: "tokens",
};

pub const REFRESH_TOKENS: MapDef = MapDef {
    name: "refresh_tokens",
    key: "token id: raw (24 hex chars)",
    value: "tokens::RefreshTokenRecord (secret hash, user, device)",
    owner: "tokens",
};

pub const DEVICE_TOKENS: MapDef = MapDef {
    name: "device_tokens",
    key: "localpart: str, device_id: str, kind: u64 (0 access, 1 refresh), token id: str",
    value: "empty (an index: the tokens to revoke with a device)",
    owner: "tokens",
};

pub const UIA_SESSIONS: MapDef = MapDef {
    name: "uia_sessions",
    key: "session id: str",
    value: "uia::Session (completed stages, expiry, bound user)",
    owner: "uia",
};

pub const SERVER_SIGNING_KEYS: MapDef = MapDef {
    name: "server_signing_keys",
    key: "key id: str (ed25519:...)",
    value: "server_keys::StoredKey (PKCS#8 document, created)",
    owner: "server_keys",
};

pub const NEXUS: Catalog = Catalog {
    maps: &[
        &USERS,
        &PROFILES,
        &DEVICES,
        &ACCESS_TOKENS,
        &REFRESH_TOKENS,
        &DEVICE_TOKENS,
        &UIA_SESSIONS,
        &SERVER_SIGNING_KEYS,
    ],
    counters: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_names_are_unique_and_portable() {
        let mut names: Vec<_> =
            NEXUS.maps.iter().map(|m| m.name).chain(NEXUS.counters.iter().map(|c| c.name)).collect();
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total);
    }
}
