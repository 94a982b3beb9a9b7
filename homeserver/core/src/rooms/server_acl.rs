//! Server ACLs (`m.room.server_acl`, spec: "Server Access Control Lists"):
//! which servers may take part in a room. Checked for every request and
//! event a server sends about the room.

use ruma::{RoomId, ServerName};
use serde_json::Value;

use super::Rooms;
use crate::{Error, Result};

/// `*` matches any run of characters, `?` any one character.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether an ACL's content admits `server` (the port is not part of the
/// match).
pub fn acl_allows(acl: &Value, server: &ServerName) -> bool {
    let host = server.host();
    let patterns = |field: &str| -> Vec<String> {
        acl.get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let allow_ip_literals = acl.get("allow_ip_literals").and_then(Value::as_bool).unwrap_or(true);
    if !allow_ip_literals && server.is_ip_literal() {
        return false;
    }
    if patterns("deny").iter().any(|p| glob_matches(p, host)) {
        return false;
    }
    patterns("allow").iter().any(|p| glob_matches(p, host))
}

impl Rooms {
    /// Refuses a server the room's ACL denies.
    pub async fn check_server_acl(&self, room_id: &RoomId, server: &ServerName) -> Result<()> {
        let Some(content) = self.current_state_content(room_id, "m.room.server_acl", "").await? else {
            return Ok(());
        };
        let acl = Value::from(ruma::CanonicalJsonValue::Object(content));
        if acl_allows(&acl, server) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("{server} is denied by the room's server ACL")))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn globs_match_as_the_spec_describes() {
        assert!(glob_matches("*", "example.org"));
        assert!(glob_matches("*.example.org", "matrix.example.org"));
        assert!(!glob_matches("*.example.org", "example.org"));
        assert!(glob_matches("ex?mple.org", "example.org"));
        assert!(!glob_matches("example.org", "example.com"));
    }

    #[test]
    fn deny_wins_over_allow_and_ip_literals_can_be_refused() {
        let acl = json!({ "allow": ["*"], "deny": ["evil.example"], "allow_ip_literals": false });
        assert!(acl_allows(&acl, &ServerName::parse("good.example").unwrap()));
        assert!(!acl_allows(&acl, &ServerName::parse("evil.example:8448").unwrap()));
        assert!(!acl_allows(&acl, &ServerName::parse("127.0.0.1:8448").unwrap()));
        assert!(!acl_allows(&json!({}), &ServerName::parse("good.example").unwrap()), "no allow list admits nobody");
    }
}
