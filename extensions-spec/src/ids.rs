//! Grammars of the identifiers that appear in nexus.* contents, and the
//! validation helpers every event module shares.
//!
//! The Matrix checks are deliberately lenient (historical user IDs, room
//! version 12 room IDs without a server name): rejecting an identifier that a
//! homeserver accepted would split a room's view of its own state.

use crate::error::ValidationError;

/// The longest identifier Matrix allows, in bytes.
const MAX_MATRIX_ID_BYTES: usize = 255;

/// The longest Nexus opaque identifier (role, category, tag, scheduled event).
pub const MAX_OPAQUE_ID_LEN: usize = 64;

/// `@localpart:server_name`, at most 255 bytes.
pub fn is_user_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('@') else {
        return false;
    };
    let Some((localpart, server)) = rest.split_once(':') else {
        return false;
    };
    s.len() <= MAX_MATRIX_ID_BYTES
        && !localpart.is_empty()
        && is_server_name(server)
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `!opaque` or `!opaque:server_name` (room version 12 drops the server name).
pub fn is_room_id(s: &str) -> bool {
    s.len() > 1
        && s.len() <= MAX_MATRIX_ID_BYTES
        && s.starts_with('!')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `$opaque` (room versions 3+) or `$opaque:server_name` (v1, v2).
pub fn is_event_id(s: &str) -> bool {
    s.len() > 1
        && s.len() <= MAX_MATRIX_ID_BYTES
        && s.starts_with('$')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `mxc://server_name/media_id`, media ID from `[A-Za-z0-9_-]`.
pub fn is_mxc_uri(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("mxc://") else {
        return false;
    };
    let Some((server, media)) = rest.split_once('/') else {
        return false;
    };
    is_server_name(server)
        && !media.is_empty()
        && media.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_server_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// Role, category, forum tag and scheduled event IDs: 1–64 characters from
/// `[A-Za-z0-9._~-]`. They can never start with `@`, which keeps role IDs
/// apart from user IDs and keeps them legal as state keys (Matrix rejects a
/// state key starting with `@` unless it is the sender's own user ID).
pub fn is_opaque_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_OPAQUE_ID_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

/// The state key of a member's `nexus.member` event: `_` then the user ID.
///
/// The bare user ID cannot be used: Matrix auth rules reject any state event
/// whose key starts with `@` unless the sender is that user, which would stop
/// moderators from assigning roles. The `_` prefix is the same escape MatrixRTC
/// uses for its per-member state.
pub fn member_state_key(user_id: &str) -> String {
    format!("_{user_id}")
}

/// The user a `nexus.member` state key belongs to, if it is well formed.
pub fn user_id_from_member_state_key(state_key: &str) -> Option<&str> {
    state_key.strip_prefix('_').filter(|id| is_user_id(id))
}

pub(crate) fn check_len(field: &'static str, value: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    let len = value.chars().count();
    if len < min || len > max {
        return Err(ValidationError::Length { field, len, min, max });
    }
    Ok(())
}

pub(crate) fn check_max_entries(field: &'static str, len: usize, max: usize) -> Result<(), ValidationError> {
    if len > max {
        return Err(ValidationError::TooMany { field, len, max });
    }
    Ok(())
}

pub(crate) fn check_grammar(
    field: &'static str,
    value: &str,
    expected: &'static str,
    ok: fn(&str) -> bool,
) -> Result<(), ValidationError> {
    if ok(value) { Ok(()) } else { Err(ValidationError::Malformed { field, expected, value: value.to_owned() }) }
}

pub(crate) fn check_user_id(field: &'static str, value: &str) -> Result<(), ValidationError> {
    check_grammar(field, value, "Matrix user ID", is_user_id)
}

pub(crate) fn check_room_id(field: &'static str, value: &str) -> Result<(), ValidationError> {
    check_grammar(field, value, "Matrix room ID", is_room_id)
}

pub(crate) fn check_mxc(field: &'static str, value: &str) -> Result<(), ValidationError> {
    check_grammar(field, value, "mxc:// URI", is_mxc_uri)
}

pub(crate) fn check_opaque_id(field: &'static str, value: &str) -> Result<(), ValidationError> {
    check_grammar(field, value, "identifier ([A-Za-z0-9._~-]{1,64})", is_opaque_id)
}

/// Checks that `items` has no repeated element.
pub(crate) fn check_unique<'a>(
    field: &'static str,
    items: impl IntoIterator<Item = &'a str>,
) -> Result<(), ValidationError> {
    let mut seen = std::collections::BTreeSet::new();
    for item in items {
        if !seen.insert(item) {
            return Err(ValidationError::Duplicate { field, value: item.to_owned() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids() {
        assert!(is_user_id("@alice:example.org"));
        assert!(is_user_id("@alice:[::1]:8448"));
        assert!(!is_user_id("alice:example.org"));
        assert!(!is_user_id("@alice"));
        assert!(!is_user_id("@:example.org"));
        assert!(!is_user_id("@al ice:example.org"));
        assert!(!is_user_id(&format!("@{}:x.org", "a".repeat(255))));
    }

    #[test]
    fn room_and_event_ids() {
        assert!(is_room_id("!abc:example.org"));
        assert!(is_room_id("!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM"));
        assert!(!is_room_id("#alias:example.org"));
        assert!(!is_room_id("!"));
        assert!(is_event_id("$abc"));
        assert!(!is_event_id("abc"));
    }

    #[test]
    fn mxc_uris() {
        assert!(is_mxc_uri("mxc://example.org/AbC_12-3"));
        assert!(!is_mxc_uri("https://example.org/a"));
        assert!(!is_mxc_uri("mxc://example.org/"));
        assert!(!is_mxc_uri("mxc:///abc"));
        assert!(!is_mxc_uri("mxc://example.org/a/b"));
    }

    #[test]
    fn opaque_ids_never_look_like_user_ids() {
        assert!(is_opaque_id("everyone"));
        assert!(is_opaque_id("01J8ZK7Q0P.mods~x-y"));
        assert!(!is_opaque_id("@mods"));
        assert!(!is_opaque_id("mods:example.org"));
        assert!(!is_opaque_id(""));
        assert!(!is_opaque_id(&"a".repeat(65)));
    }

    #[test]
    fn member_state_keys_escape_the_at_sign() {
        let key = member_state_key("@bob:example.org");
        assert_eq!(key, "_@bob:example.org");
        assert!(!key.starts_with('@'));
        assert_eq!(user_id_from_member_state_key(&key), Some("@bob:example.org"));
        assert_eq!(user_id_from_member_state_key("@bob:example.org"), None);
        assert_eq!(user_id_from_member_state_key("_bob"), None);
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(check_len("name", "ééé", 1, 3).is_ok());
        assert_eq!(check_len("name", "", 1, 3), Err(ValidationError::Length { field: "name", len: 0, min: 1, max: 3 }));
    }

    #[test]
    fn uniqueness() {
        assert!(check_unique("roles", ["a", "b"]).is_ok());
        assert!(matches!(
            check_unique("roles", ["a", "b", "a"]),
            Err(ValidationError::Duplicate { value, .. }) if value == "a"
        ));
    }
}
