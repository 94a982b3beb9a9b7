//! Nexus's Discord-style extensions to Matrix: the `nexus.*` event contents,
//! Discord's permission bitfield and evaluation order, and the compiler that
//! turns roles into `m.room.power_levels` that any Matrix homeserver enforces.
//!
//! `README.md` next to this crate is the specification; this crate is its
//! reference implementation. Nothing here does I/O: servers feed it state
//! and act on what it returns.

pub mod capabilities;
pub mod compile;
pub mod compute;
pub mod error;
pub mod events;
pub mod guild;
pub mod ids;
pub mod permissions;
pub mod power_levels;
pub mod update_rules;

pub use capabilities::{Capability, Room, nexus_allows};
pub use compile::{CompileOptions, Compiled, compile};
pub use error::{ContentError, PermissionsParseError, RuleViolation, ValidationError};
pub use guild::{Guild, Rank};
pub use permissions::Permissions;
pub use power_levels::{Creators, PowerLevelsContent};
