//! The bridge's own storage: a catalog of its maps, opened beside the
//! homeserver's (a RocksDB directory of its own, or tables in the same
//! PostgreSQL database under names no homeserver map uses).

use nexus_storage::catalog::{Catalog, MapDef};

/// Snowflake → what it names (a Matrix id and its kind).
pub const SNOWFLAKES: MapDef = MapDef {
    name: "discord_snowflakes",
    key: "snowflake: u64",
    value: "snowflake::Named (kind and Matrix id)",
    owner: "snowflake",
};

/// Matrix id (with its kind) → snowflake.
pub const SNOWFLAKES_BY_MATRIX_ID: MapDef = MapDef {
    name: "discord_snowflakes_by_matrix_id",
    key: "kind: str, matrix id: str",
    value: "snowflake: u64 (big-endian)",
    owner: "snowflake",
};

/// Bot applications.
pub const APPLICATIONS: MapDef = MapDef {
    name: "discord_applications",
    key: "application id: u64",
    value: "applications::Application",
    owner: "applications",
};

/// SHA-256 of a bot token → its application.
pub const BOT_TOKENS: MapDef = MapDef {
    name: "discord_bot_tokens",
    key: "SHA-256 of the token: bytes",
    value: "application id: u64 (big-endian)",
    owner: "applications",
};

/// Reactions seen, so their redaction can be told as a reaction removed
/// (a redacted reaction no longer says what it reacted to).
pub const REACTIONS: MapDef = MapDef {
    name: "discord_reactions",
    key: "reaction event id: str",
    value: "dispatch::SeenReaction (channel room, message snowflake, emoji, user)",
    owner: "dispatch",
};

/// Application commands, global (guild 0) and per guild.
pub const COMMANDS: MapDef = MapDef {
    name: "discord_commands",
    key: "application id: u64, guild id (0: global): u64, command id: u64",
    value: "the command, in Discord's shape (JSON)",
    owner: "commands",
};

/// Interactions awaiting or holding their responses, by token.
pub const INTERACTIONS: MapDef = MapDef {
    name: "discord_interactions",
    key: "SHA-256 of the interaction token: bytes",
    value: "interactions::Interaction",
    owner: "interactions",
};

/// Direct-message rooms between a bot and a person.
pub const DM_ROOMS: MapDef = MapDef {
    name: "discord_dm_rooms",
    key: "bot user id: str, 0, person's user id: str",
    value: "room id: str",
    owner: "dms",
};

/// Channel webhooks.
pub const WEBHOOKS: MapDef =
    MapDef { name: "discord_webhooks", key: "webhook id: u64", value: "webhooks::Webhook", owner: "webhooks" };

pub const BRIDGE: Catalog = Catalog {
    name: "bot_api",
    version: 1,
    maps: &[
        &SNOWFLAKES,
        &SNOWFLAKES_BY_MATRIX_ID,
        &APPLICATIONS,
        &BOT_TOKENS,
        &REACTIONS,
        &COMMANDS,
        &INTERACTIONS,
        &DM_ROOMS,
        &WEBHOOKS,
    ],
    counters: &[],
};
