//! A server's permission-relevant state gathered in one place, and the role
//! hierarchy that decides who may act on whom.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::ContentError;
use crate::events::member::MemberContent;
use crate::events::role::{EVERYONE_ROLE_ID, RoleContent};
use crate::events::server::ServerContent;
use crate::events::{parse_state, role};
use crate::ids;
use crate::permissions::Permissions;

/// The owner, the roles and the members' role assignments of one server,
/// as read from its space's current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guild {
    /// From `nexus.server`.
    pub owner: String,
    /// Role ID → role, including `everyone` when it has been written.
    pub roles: BTreeMap<String, RoleContent>,
    /// User ID → member state.
    pub members: BTreeMap<String, MemberContent>,
}

/// A member's place in the hierarchy: the owner above every role, every role
/// above @everyone, roles ordered by position and then by role ID.
///
/// Discord breaks position ties by ID too. Ties are not refused: two servers
/// may create roles at the same position concurrently, and state resolution
/// keeps both, so every server must still agree on an order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// Holds no role but @everyone.
    Everyone,
    /// Highest role held.
    Role {
        /// The role's position.
        position: u32,
        /// The role's ID.
        id: String,
    },
    /// The server owner.
    Owner,
}

impl Guild {
    /// A server with just an owner and no roles yet.
    pub fn new(owner: impl Into<String>) -> Guild {
        Guild { owner: owner.into(), roles: BTreeMap::new(), members: BTreeMap::new() }
    }

    /// Builds the guild from the space's state. Deleted (`{}`) roles and
    /// members are skipped, as are `nexus.member` keys that do not name a user.
    pub fn from_state<'a>(
        server: &ServerContent,
        roles: impl IntoIterator<Item = (&'a str, &'a Value)>,
        members: impl IntoIterator<Item = (&'a str, &'a Value)>,
    ) -> Result<Guild, ContentError> {
        let mut guild = Guild::new(server.owner.clone());
        for (role_id, content) in roles {
            if let Some(role) = parse_state::<RoleContent>(content)? {
                role.validate_as(role_id)?;
                guild.roles.insert(role_id.to_owned(), role);
            }
        }
        for (state_key, content) in members {
            let Some(user) = ids::user_id_from_member_state_key(state_key) else {
                continue;
            };
            if let Some(member) = parse_state::<MemberContent>(content)? {
                guild.members.insert(user.to_owned(), member);
            }
        }
        Ok(guild)
    }

    /// Adds or replaces a role (builder style, handy in tests and tools).
    pub fn with_role(mut self, id: &str, position: u32, permissions: Permissions) -> Guild {
        let name = if id == role::EVERYONE_ROLE_ID { "@everyone".to_owned() } else { id.to_owned() };
        self.roles.insert(
            id.to_owned(),
            RoleContent {
                name,
                colours: Default::default(),
                position,
                permissions,
                hoist: false,
                mentionable: false,
                icon: None,
                unicode_emoji: None,
            },
        );
        self
    }

    /// Sets the @everyone role's permissions.
    pub fn with_everyone(self, permissions: Permissions) -> Guild {
        self.with_role(EVERYONE_ROLE_ID, 0, permissions)
    }

    /// Gives a member these roles.
    pub fn with_member(mut self, user: &str, roles: &[&str]) -> Guild {
        self.members.entry(user.to_owned()).or_default().roles = roles.iter().map(|r| (*r).to_owned()).collect();
        self
    }

    /// What @everyone grants.
    pub fn everyone_permissions(&self) -> Permissions {
        self.roles.get(EVERYONE_ROLE_ID).map_or(Permissions::NONE, |r| r.permissions)
    }

    /// The roles a user holds that exist (deleted or unknown IDs are ignored),
    /// never including @everyone.
    pub fn member_roles<'a>(&'a self, user: &str) -> impl Iterator<Item = (&'a str, &'a RoleContent)> + 'a {
        self.members
            .get(user)
            .into_iter()
            .flat_map(|m| m.roles.iter())
            .filter(|id| id.as_str() != EVERYONE_ROLE_ID)
            .filter_map(|id| self.roles.get_key_value(id.as_str()))
            .map(|(id, role)| (id.as_str(), role))
    }

    /// The member's state, if any.
    pub fn member(&self, user: &str) -> Option<&MemberContent> {
        self.members.get(user)
    }

    /// Whether the user is the owner.
    pub fn is_owner(&self, user: &str) -> bool {
        self.owner == user
    }

    /// A role's rank; `None` for unknown roles.
    pub fn role_rank(&self, role_id: &str) -> Option<Rank> {
        if role_id == EVERYONE_ROLE_ID {
            return Some(Rank::Everyone);
        }
        self.roles.get(role_id).map(|role| Rank::Role { position: role.position, id: role_id.to_owned() })
    }

    /// A user's rank: owner, else their highest role, else @everyone.
    pub fn rank(&self, user: &str) -> Rank {
        if self.is_owner(user) {
            return Rank::Owner;
        }
        self.member_roles(user)
            .map(|(id, role)| Rank::Role { position: role.position, id: id.to_owned() })
            .max()
            .unwrap_or(Rank::Everyone)
    }

    /// Discord's hierarchy rule for acting on another member (kick, ban,
    /// timeout, nickname): strictly above them. Nobody outranks the owner,
    /// and nobody outranks themselves.
    pub fn outranks(&self, actor: &str, target: &str) -> bool {
        actor != target && self.rank(actor) > self.rank(target)
    }

    /// Discord's rule for editing, assigning or removing a role: strictly
    /// above it. The owner outranks every role.
    pub fn outranks_role(&self, actor: &str, role_id: &str) -> bool {
        self.role_rank(role_id).is_some_and(|role| self.rank(actor) > role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn guild() -> Guild {
        Guild::new("@owner:x")
            .with_everyone(Permissions::VIEW_CHANNEL)
            .with_role("mods", 5, Permissions::KICK_MEMBERS)
            .with_role("helpers", 2, Permissions::MANAGE_MESSAGES)
            .with_role("twin", 5, Permissions::NONE)
            .with_member("@mod:x", &["helpers", "mods"])
            .with_member("@helper:x", &["helpers"])
            .with_member("@twin:x", &["twin"])
            .with_member("@ghost:x", &["deleted-role"])
    }

    #[test]
    fn rank_is_the_highest_role() {
        let g = guild();
        assert_eq!(g.rank("@mod:x"), Rank::Role { position: 5, id: "mods".into() });
        assert_eq!(g.rank("@nobody:x"), Rank::Everyone);
        assert_eq!(g.rank("@ghost:x"), Rank::Everyone);
        assert_eq!(g.rank("@owner:x"), Rank::Owner);
    }

    #[test]
    fn role_position_decides_who_may_act_on_whom() {
        let g = guild();
        assert!(g.outranks("@mod:x", "@helper:x"));
        assert!(!g.outranks("@helper:x", "@mod:x"));
        assert!(!g.outranks("@helper:x", "@helper:x"));
        assert!(g.outranks("@owner:x", "@mod:x"));
        assert!(!g.outranks("@mod:x", "@owner:x"));
    }

    #[test]
    fn position_ties_are_broken_by_role_id() {
        let g = guild();
        // "twin" > "mods" lexicographically at the same position.
        assert!(g.outranks("@twin:x", "@mod:x"));
        assert!(!g.outranks("@mod:x", "@twin:x"));
    }

    #[test]
    fn members_at_the_same_rank_cannot_act_on_each_other() {
        let g = guild().with_member("@mod2:x", &["mods"]);
        assert!(!g.outranks("@mod:x", "@mod2:x"));
        assert!(!g.outranks("@mod2:x", "@mod:x"));
    }

    #[test]
    fn outranking_roles() {
        let g = guild();
        assert!(g.outranks_role("@mod:x", "helpers"));
        assert!(!g.outranks_role("@mod:x", "mods"));
        assert!(g.outranks_role("@helper:x", "everyone"));
        assert!(g.outranks_role("@owner:x", "twin"));
        assert!(!g.outranks_role("@owner:x", "no-such-role"));
    }

    #[test]
    fn from_state_skips_deleted_entries() {
        let server: ServerContent = serde_json::from_value(json!({"owner": "@o:x"})).unwrap();
        let everyone = json!({"name": "@everyone", "position": 0, "permissions": "1024"});
        let deleted = json!({});
        let member = json!({"roles": ["r"]});
        let g = Guild::from_state(
            &server,
            [("everyone", &everyone), ("gone", &deleted)],
            [("_@a:x", &member), ("_@b:x", &deleted), ("bogus", &member)],
        )
        .unwrap();
        assert_eq!(g.roles.keys().collect::<Vec<_>>(), ["everyone"]);
        assert_eq!(g.members.keys().collect::<Vec<_>>(), ["@a:x"]);
        assert_eq!(g.everyone_permissions(), Permissions::VIEW_CHANNEL);
    }

    #[test]
    fn from_state_rejects_a_misplaced_everyone_role() {
        let server: ServerContent = serde_json::from_value(json!({"owner": "@o:x"})).unwrap();
        let bad = json!({"name": "@everyone", "position": 3, "permissions": "0"});
        assert!(Guild::from_state(&server, [("everyone", &bad)], []).is_err());
    }
}
