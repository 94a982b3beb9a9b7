//! Typed errors. Servers map these onto `M_BAD_JSON` / `M_FORBIDDEN`
//! responses, so each variant names the offending field.

use crate::permissions::Permissions;

/// A permission bitfield string that is not the canonical decimal form of a u64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionsParseError {
    /// Empty, signed, padded, zero-prefixed or not made of digits.
    #[error("permission bitfield {0:?} is not a canonical decimal string")]
    NotDecimal(String),
    /// Does not fit in 64 bits.
    #[error("permission bitfield {0:?} does not fit in a u64")]
    TooLarge(String),
}

/// An event content that parses but breaks a limit of this spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A string's length in Unicode scalar values is outside its bounds.
    #[error("`{field}` must be {min}..={max} characters long, got {len}")]
    Length { field: &'static str, len: usize, min: usize, max: usize },
    /// A list or map holds more entries than allowed.
    #[error("`{field}` holds {len} entries, at most {max} are allowed")]
    TooMany { field: &'static str, len: usize, max: usize },
    /// A list that must not be empty is.
    #[error("`{field}` must not be empty")]
    Empty { field: &'static str },
    /// A number is outside its range.
    #[error("`{field}` must be in {min}..={max}, got {value}")]
    OutOfRange { field: &'static str, value: u64, min: u64, max: u64 },
    /// A number is not one of the listed values.
    #[error("`{field}` must be one of {allowed:?}, got {value}")]
    NotAllowed { field: &'static str, value: u64, allowed: &'static [u64] },
    /// A string does not follow its grammar (user ID, room ID, mxc URI, …).
    #[error("`{field}` is not a valid {expected}: {value:?}")]
    Malformed { field: &'static str, expected: &'static str, value: String },
    /// The same identifier appears twice where identifiers must be unique.
    #[error("`{field}` contains {value:?} more than once")]
    Duplicate { field: &'static str, value: String },
    /// A reference to an identifier that is not defined where it must be.
    #[error("`{field}` refers to unknown {kind} {value:?}")]
    Unknown { field: &'static str, kind: &'static str, value: String },
    /// Two fields that exclude each other are both present.
    #[error("`{first}` and `{second}` cannot both be set")]
    Conflict { first: &'static str, second: &'static str },
    /// A field required by another field's value is missing.
    #[error("`{field}` is required {when}")]
    Required { field: &'static str, when: &'static str },
    /// A field is set on a kind of object that does not support it.
    #[error("`{field}` is only allowed {only}")]
    NotApplicable { field: &'static str, only: &'static str },
    /// An end time that is not after its start time.
    #[error("`end` ({end}) must be after `start` ({start})")]
    EndNotAfterStart { start: u64, end: u64 },
    /// The `@everyone` role must sit at position 0 and nothing else may.
    #[error("role {role_id:?} has position {position}: @everyone alone is at 0")]
    RolePosition { role_id: String, position: u32 },
    /// An overwrite both allows and denies the same bits.
    #[error("overwrite for {target:?} both allows and denies {bits:?}")]
    AllowDenyOverlap { target: String, bits: Permissions },
    /// An overwrite carries bits that only exist server-wide.
    #[error("overwrite for {target:?} carries server-wide permissions {bits:?}")]
    GuildOnlyInOverwrite { target: String, bits: Permissions },
}

/// Why a content could not be read as a given nexus.* event.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// Not the right JSON shape.
    #[error("malformed content: {0}")]
    Json(#[from] serde_json::Error),
    /// The right shape, but outside the limits.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// An event type this crate does not describe.
    #[error("unknown event type {0:?}")]
    UnknownType(String),
}

/// A change that parses and validates but that the sender may not make
/// (see the README's "Nexus update rules").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    /// The sender lacks a permission the change needs.
    #[error("missing permission {0:?}")]
    MissingPermission(Permissions),
    /// The sender tried to grant or revoke permissions they do not hold.
    #[error("cannot grant or revoke permissions one does not hold: {0:?}")]
    UnheldPermissions(Permissions),
    /// The role is not strictly below the sender's highest role.
    #[error("role {0:?} is not below the sender's highest role")]
    RoleNotBelowSender(String),
    /// The target member is not strictly below the sender in the hierarchy.
    #[error("{0:?} is not below the sender in the role hierarchy")]
    MemberNotBelowSender(String),
    /// Only the owner may do this.
    #[error("only the server owner may {0}")]
    OwnerOnly(&'static str),
    /// The `@everyone` role cannot be deleted or moved.
    #[error("the @everyone role cannot be deleted or moved")]
    EveryoneIsFixed,
    /// Administrators and the owner cannot be timed out.
    #[error("{0:?} is an administrator or the owner and cannot be timed out")]
    CannotTimeOut(String),
    /// A timeout longer than Discord's 28 days.
    #[error("timeouts end at most 28 days from now")]
    TimeoutTooLong,
    /// Only the creator (or someone with a managing permission) may edit this.
    #[error("only the creator or a member with {0:?} may change this")]
    NotCreator(Permissions),
    /// A status change the lifecycle does not allow.
    #[error("cannot go from {from} to {to}")]
    InvalidTransition { from: &'static str, to: &'static str },
    /// A locked thread only moves under MANAGE_THREADS.
    #[error("the thread is locked")]
    ThreadLocked,
}
