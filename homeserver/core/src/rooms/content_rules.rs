//! The shapes the auth rules read. A state event whose content the room
//! version's rules cannot parse is a malformed request (400 `M_BAD_JSON`),
//! not a forbidden one: the sender may have every right to send it.
//!
//! Only the fields the auth rules interpret are checked here; everything
//! else in a content is the client's business.

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::room_version_rules::AuthorizationRules;
use ruma::{Int, OwnedUserId};
use serde_json::Value;

use crate::{Error, Result};

/// The integer fields of `m.room.power_levels` (spec: "m.room.power_levels").
const POWER_LEVEL_INTS: &[&str] =
    &["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"];
/// Its maps of something to a power level.
const POWER_LEVEL_MAPS: &[&str] = &["events", "notifications", "users"];

/// Checks the content of a state event of type `kind` before the auth rules see it.
pub fn check(kind: &str, content: &CanonicalJsonObject, rules: &AuthorizationRules) -> Result<()> {
    match kind {
        "m.room.power_levels" => power_levels(content, rules),
        "m.room.member" => member(content),
        "m.room.join_rules" => required_string(content, "join_rule"),
        _ => Ok(()),
    }
}

fn bad(kind: &str, field: &str, error: impl std::fmt::Display) -> Error {
    Error::BadJson(format!("{kind}: `{field}` is malformed: {error}"))
}

fn json(value: &CanonicalJsonValue) -> Value {
    Value::from(value.clone())
}

fn power_level(value: &Value, rules: &AuthorizationRules) -> std::result::Result<Int, serde_json::Error> {
    if rules.integer_power_levels {
        serde_json::from_value(value.clone())
    } else {
        ruma::serde::deserialize_v1_powerlevel(value)
    }
}

fn power_levels(content: &CanonicalJsonObject, rules: &AuthorizationRules) -> Result<()> {
    const KIND: &str = "m.room.power_levels";
    for field in POWER_LEVEL_INTS {
        if let Some(value) = content.get(*field) {
            power_level(&json(value), rules).map_err(|e| bad(KIND, field, e))?;
        }
    }
    for field in POWER_LEVEL_MAPS {
        let Some(value) = content.get(*field) else { continue };
        let Value::Object(map) = json(value) else {
            return Err(bad(KIND, field, "expected an object"));
        };
        for (key, level) in &map {
            power_level(level, rules).map_err(|e| bad(KIND, &format!("{field}.{key}"), e))?;
            if *field == "users" {
                OwnedUserId::try_from(key.as_str()).map_err(|e| bad(KIND, &format!("users.{key}"), e))?;
            }
        }
    }
    Ok(())
}

fn member(content: &CanonicalJsonObject) -> Result<()> {
    const KIND: &str = "m.room.member";
    required_string(content, "membership")?;
    if let Some(value) = content.get("join_authorised_via_users_server") {
        let CanonicalJsonValue::String(user) = value else {
            return Err(bad(KIND, "join_authorised_via_users_server", "expected a user id"));
        };
        OwnedUserId::try_from(user.as_str()).map_err(|e| bad(KIND, "join_authorised_via_users_server", e))?;
    }
    Ok(())
}

fn required_string(content: &CanonicalJsonObject, field: &str) -> Result<()> {
    match content.get(field) {
        Some(CanonicalJsonValue::String(_)) => Ok(()),
        Some(_) => Err(Error::BadJson(format!("`{field}` must be a string"))),
        None => Err(Error::BadJson(format!("`{field}` is required"))),
    }
}

#[cfg(test)]
mod tests {
    use ruma::room_version_rules::RoomVersionRules;
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> CanonicalJsonObject {
        match CanonicalJsonValue::try_from(value).unwrap() {
            CanonicalJsonValue::Object(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn power_levels_the_rules_cannot_read_are_bad_json() {
        let v12 = RoomVersionRules::V12.authorization;
        let v1 = RoomVersionRules::V1.authorization;
        let check_pl = |content: Value, rules| check("m.room.power_levels", &object(content), rules);
        assert!(check_pl(json!({"users": {"@a:x": 100}, "ban": 50}), &v12).is_ok());
        assert!(matches!(check_pl(json!({"users": "not-an-object"}), &v12), Err(Error::BadJson(_))));
        assert!(matches!(check_pl(json!({"users": {"not a user": 1}}), &v12), Err(Error::BadJson(_))));
        assert!(matches!(check_pl(json!({"ban": "50"}), &v12), Err(Error::BadJson(_))));
        // Room versions before 10 accept integers as strings.
        assert!(check_pl(json!({"ban": "50"}), &v1).is_ok());
        assert!(matches!(check_pl(json!({"events": {"m.room.name": "high"}}), &v1), Err(Error::BadJson(_))));
    }

    #[test]
    fn members_need_a_membership() {
        assert!(
            check("m.room.member", &object(json!({"membership": "join"})), &RoomVersionRules::V12.authorization)
                .is_ok()
        );
        assert!(
            check("m.room.member", &object(json!({"displayname": "x"})), &RoomVersionRules::V12.authorization).is_err()
        );
        assert!(
            check("m.room.join_rules", &object(json!({"join_rule": 1})), &RoomVersionRules::V12.authorization).is_err()
        );
    }
}
