//! The Nexus update rules: who may change a `nexus.*` state event, and how.
//!
//! Matrix power levels only say "may send events of this type". Discord's
//! rules go further (only the owner transfers ownership, a role can only be
//! edited from above it, you cannot grant what you do not hold). Every Nexus
//! server applies these checks, as functions of the event and the room state
//! before it, to every `nexus.*` state event it receives; an event that fails
//! them stays in the room (Matrix accepted it) but is ignored, so the
//! previous content remains in force. Being pure functions of the DAG, they
//! give every Nexus server the same answer.

use std::collections::BTreeSet;

use crate::compute::{self, can_assign_role, can_time_out};
use crate::error::RuleViolation;
use crate::events::channel::{ChannelContent, ChannelType};
use crate::events::image_pack::ImagePackContent;
use crate::events::member::{MAX_TIMEOUT_MS, MemberContent};
use crate::events::overwrites::{ChannelOverwritesContent, Overwrite};
use crate::events::role::{EVERYONE_ROLE_ID, RoleContent};
use crate::events::scheduled_event::ScheduledEventContent;
use crate::events::server::ServerContent;
use crate::events::thread::ThreadContent;
use crate::guild::{Guild, Rank};
use crate::permissions::Permissions;

fn require(held: Permissions, needed: Permissions) -> Result<(), RuleViolation> {
    if held.contains(needed) { Ok(()) } else { Err(RuleViolation::MissingPermission(needed - held)) }
}

/// `nexus.server`: only the owner hands ownership over; other edits need
/// MANAGE_GUILD.
pub fn check_server_update(
    guild: &Guild,
    sender: &str,
    old: &ServerContent,
    new: &ServerContent,
    now_ms: u64,
) -> Result<(), RuleViolation> {
    if old.owner != new.owner && sender != old.owner {
        return Err(RuleViolation::OwnerOnly("transfer ownership"));
    }
    require(compute::base_permissions(guild, sender, now_ms), Permissions::MANAGE_GUILD)
}

/// `nexus.channel`: MANAGE_CHANNELS in the channel, and the type is fixed
/// for the life of the room.
pub fn check_channel_update(
    guild: &Guild,
    sender: &str,
    overwrites: &ChannelOverwritesContent,
    old: Option<&ChannelContent>,
    new: &ChannelContent,
    now_ms: u64,
) -> Result<(), RuleViolation> {
    let held = compute::channel_permissions(guild, sender, overwrites, now_ms);
    require(held, Permissions::MANAGE_CHANNELS)?;
    match old {
        Some(old) if old.kind != new.kind => {
            Err(RuleViolation::InvalidTransition { from: channel_type_name(old.kind), to: channel_type_name(new.kind) })
        }
        _ => Ok(()),
    }
}

fn channel_type_name(kind: ChannelType) -> &'static str {
    match kind {
        ChannelType::Text => "text",
        ChannelType::Voice => "voice",
        ChannelType::Announcement => "announcement",
        ChannelType::Forum => "forum",
        ChannelType::Stage => "stage",
    }
}

/// `nexus.role` (`None` = absent or deleted): MANAGE_ROLES, the role strictly
/// below the sender before and after, and only permissions the sender holds
/// may be switched on or off.
pub fn check_role_update(
    guild: &Guild,
    sender: &str,
    role_id: &str,
    old: Option<&RoleContent>,
    new: Option<&RoleContent>,
    now_ms: u64,
) -> Result<(), RuleViolation> {
    let held = compute::base_permissions(guild, sender, now_ms);
    require(held, Permissions::MANAGE_ROLES)?;
    if role_id == EVERYONE_ROLE_ID && new.is_none_or(|r| r.position != 0) {
        return Err(RuleViolation::EveryoneIsFixed);
    }
    let sender_rank = guild.rank(sender);
    let rank_at = |role: &RoleContent| {
        if role_id == EVERYONE_ROLE_ID {
            Rank::Everyone
        } else {
            Rank::Role { position: role.position, id: role_id.to_owned() }
        }
    };
    for role in old.iter().chain(new.iter()) {
        if rank_at(role) >= sender_rank {
            return Err(RuleViolation::RoleNotBelowSender(role_id.to_owned()));
        }
    }
    let before = old.map_or(Permissions::NONE, |r| r.permissions);
    let after = new.map_or(Permissions::NONE, |r| r.permissions);
    let toggled = Permissions::from_bits(before.bits() ^ after.bits());
    let unheld = toggled - held;
    if unheld.is_empty() { Ok(()) } else { Err(RuleViolation::UnheldPermissions(unheld)) }
}

/// `nexus.member` for `target`: each role added or removed must be
/// assignable by the sender; a nickname change needs CHANGE_NICKNAME (own)
/// or MANAGE_NICKNAMES and a higher rank (someone else's); a timeout change
/// needs MODERATE_MEMBERS, a higher rank and a non-administrator target, and
/// may not reach beyond 28 days.
pub fn check_member_update(
    guild: &Guild,
    sender: &str,
    target: &str,
    old: Option<&MemberContent>,
    new: Option<&MemberContent>,
    now_ms: u64,
) -> Result<(), RuleViolation> {
    let empty = MemberContent::default();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let before: BTreeSet<&str> = old.roles.iter().map(String::as_str).collect();
    let after: BTreeSet<&str> = new.roles.iter().map(String::as_str).collect();
    for role in before.symmetric_difference(&after) {
        if !can_assign_role(guild, sender, role, now_ms) {
            return Err(match compute::base_permissions(guild, sender, now_ms) {
                p if !p.contains(Permissions::MANAGE_ROLES) => {
                    RuleViolation::MissingPermission(Permissions::MANAGE_ROLES)
                }
                _ => RuleViolation::RoleNotBelowSender((*role).to_owned()),
            });
        }
    }
    if old.nick != new.nick {
        let held = compute::base_permissions(guild, sender, now_ms);
        if sender == target {
            if !held.intersects(Permissions::CHANGE_NICKNAME | Permissions::MANAGE_NICKNAMES) {
                return Err(RuleViolation::MissingPermission(Permissions::CHANGE_NICKNAME));
            }
        } else {
            require(held, Permissions::MANAGE_NICKNAMES)?;
            if !guild.outranks(sender, target) {
                return Err(RuleViolation::MemberNotBelowSender(target.to_owned()));
            }
        }
    }
    if old.communication_disabled_until != new.communication_disabled_until {
        let held = compute::base_permissions(guild, sender, now_ms);
        require(held, Permissions::MODERATE_MEMBERS)?;
        if !guild.outranks(sender, target) {
            return Err(RuleViolation::MemberNotBelowSender(target.to_owned()));
        }
        if !can_time_out(guild, sender, target, now_ms) {
            return Err(RuleViolation::CannotTimeOut(target.to_owned()));
        }
        if new.communication_disabled_until.is_some_and(|until| until > now_ms.saturating_add(MAX_TIMEOUT_MS)) {
            return Err(RuleViolation::TimeoutTooLong);
        }
    }
    Ok(())
}

/// `nexus.channel.overwrites`: MANAGE_ROLES in the channel (under the old
/// overwrites), and every bit switched in any allow or deny must be one the
/// sender holds there — Discord's rule, which stops a moderator from
/// granting themselves more through an overwrite.
pub fn check_overwrites_update(
    guild: &Guild,
    sender: &str,
    old: &ChannelOverwritesContent,
    new: &ChannelOverwritesContent,
    now_ms: u64,
) -> Result<(), RuleViolation> {
    let held = compute::channel_permissions(guild, sender, old, now_ms);
    require(held, Permissions::MANAGE_ROLES)?;
    if held.contains(Permissions::ADMINISTRATOR) {
        return Ok(());
    }
    let toggled = |a: Option<&Overwrite>, b: Option<&Overwrite>| {
        let (a, b) = (a.copied().unwrap_or_default(), b.copied().unwrap_or_default());
        Permissions::from_bits((a.allow.bits() ^ b.allow.bits()) | (a.deny.bits() ^ b.deny.bits()))
    };
    let mut changed = Permissions::NONE;
    for key in old.roles.keys().chain(new.roles.keys()) {
        changed |= toggled(old.roles.get(key), new.roles.get(key));
    }
    for key in old.members.keys().chain(new.members.keys()) {
        changed |= toggled(old.members.get(key), new.members.get(key));
    }
    let unheld = changed - held;
    if unheld.is_empty() { Ok(()) } else { Err(RuleViolation::UnheldPermissions(unheld)) }
}

/// `nexus.thread`: creating needs CREATE_PUBLIC_THREADS or
/// CREATE_PRIVATE_THREADS; locking, unlocking, editing a locked thread or
/// applying a moderated forum tag needs MANAGE_THREADS; other edits need to
/// be the thread's creator or hold MANAGE_THREADS. `perms` are the sender's
/// thread permissions.
pub fn check_thread_update(
    perms: Permissions,
    sender_is_creator: bool,
    forum: Option<&ChannelContent>,
    old: Option<&ThreadContent>,
    new: &ThreadContent,
) -> Result<(), RuleViolation> {
    let manages = perms.contains(Permissions::MANAGE_THREADS);
    let new_tags: BTreeSet<&str> = new.applied_tags.iter().map(String::as_str).collect();
    let old_tags: BTreeSet<&str> = old.map(|t| t.applied_tags.iter().map(String::as_str).collect()).unwrap_or_default();
    let touches_moderated = forum
        .is_some_and(|f| new_tags.symmetric_difference(&old_tags).any(|tag| f.tag(tag).is_some_and(|t| t.moderated)));
    if touches_moderated && !manages {
        return Err(RuleViolation::MissingPermission(Permissions::MANAGE_THREADS));
    }
    let Some(old) = old else {
        let needed = if new.private { Permissions::CREATE_PRIVATE_THREADS } else { Permissions::CREATE_PUBLIC_THREADS };
        if manages || (sender_is_creator && perms.contains(needed)) {
            return Ok(());
        }
        return Err(RuleViolation::MissingPermission(needed));
    };
    if (old.locked || new.locked) && !manages {
        return Err(RuleViolation::ThreadLocked);
    }
    if !manages && !sender_is_creator {
        return Err(RuleViolation::NotCreator(Permissions::MANAGE_THREADS));
    }
    Ok(())
}

/// `nexus.scheduled_event` (`None` = absent or deleted): creating needs
/// CREATE_EVENTS or MANAGE_EVENTS and names the sender as creator; editing
/// or deleting needs MANAGE_EVENTS, or CREATE_EVENTS for one's own event;
/// the creator never changes and the status follows its lifecycle.
pub fn check_scheduled_event_update(
    guild: &Guild,
    sender: &str,
    old: Option<&ScheduledEventContent>,
    new: Option<&ScheduledEventContent>,
    now_ms: u64,
) -> Result<(), RuleViolation> {
    let held = compute::base_permissions(guild, sender, now_ms);
    let manages = held.contains(Permissions::MANAGE_EVENTS);
    let creates = held.contains(Permissions::CREATE_EVENTS);
    match (old, new) {
        (None, None) => Ok(()),
        (None, Some(new)) => {
            if !(manages || creates) {
                return Err(RuleViolation::MissingPermission(Permissions::CREATE_EVENTS));
            }
            if new.creator != sender {
                return Err(RuleViolation::NotCreator(Permissions::MANAGE_EVENTS));
            }
            Ok(())
        }
        (Some(old), new) => {
            if !(manages || (creates && old.creator == sender)) {
                return Err(RuleViolation::NotCreator(Permissions::MANAGE_EVENTS));
            }
            if let Some(new) = new {
                if new.creator != old.creator {
                    return Err(RuleViolation::NotCreator(Permissions::MANAGE_EVENTS));
                }
                if !old.is_moved_on_by(new) {
                    old.status.check_transition(new.status)?;
                }
            }
            Ok(())
        }
    }
}

/// Image packs: MANAGE_GUILD_EXPRESSIONS may do anything;
/// CREATE_GUILD_EXPRESSIONS may only add new images (MSC2545 records no
/// uploader, so "edit your own" cannot be checked).
pub fn check_image_pack_update(
    perms: Permissions,
    old: Option<&ImagePackContent>,
    new: Option<&ImagePackContent>,
) -> Result<(), RuleViolation> {
    if perms.contains(Permissions::MANAGE_GUILD_EXPRESSIONS) {
        return Ok(());
    }
    require(perms, Permissions::CREATE_GUILD_EXPRESSIONS)?;
    let only_adds = match (old, new) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(old), Some(new)) => {
            old.pack == new.pack && old.images.iter().all(|(code, image)| new.images.get(code) == Some(image))
        }
    };
    if only_adds { Ok(()) } else { Err(RuleViolation::MissingPermission(Permissions::MANAGE_GUILD_EXPRESSIONS)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::scheduled_event::EventStatus;
    use Permissions as P;
    use serde_json::json;

    const NOW: u64 = 1_000_000;

    fn guild() -> Guild {
        Guild::new("@owner:x")
            .with_everyone(P::VIEW_CHANNEL | P::SEND_MESSAGES | P::CHANGE_NICKNAME)
            .with_role("admins", 10, P::ADMINISTRATOR)
            .with_role("mods", 5, P::MANAGE_ROLES | P::MANAGE_NICKNAMES | P::MODERATE_MEMBERS | P::KICK_MEMBERS)
            .with_role("helpers", 3, P::MANAGE_MESSAGES)
            .with_role("events", 2, P::CREATE_EVENTS)
            .with_member("@admin:x", &["admins"])
            .with_member("@mod:x", &["mods"])
            .with_member("@helper:x", &["helpers"])
            .with_member("@host:x", &["events"])
    }

    fn role(position: u32, permissions: P) -> RoleContent {
        guild().with_role("r", position, permissions).roles["r"].clone()
    }

    #[test]
    fn only_the_owner_transfers_ownership() {
        let g = guild();
        let old: ServerContent = serde_json::from_value(json!({"owner": "@owner:x"})).unwrap();
        let mut new = old.clone();
        new.owner = "@admin:x".into();
        assert_eq!(
            check_server_update(&g, "@admin:x", &old, &new, NOW),
            Err(RuleViolation::OwnerOnly("transfer ownership"))
        );
        assert!(check_server_update(&g, "@owner:x", &old, &new, NOW).is_ok());
        new.owner = old.owner.clone();
        new.description = Some("hi".into());
        assert!(check_server_update(&g, "@admin:x", &old, &new, NOW).is_ok());
        assert!(check_server_update(&g, "@mod:x", &old, &new, NOW).is_err());
    }

    #[test]
    fn roles_are_edited_from_above_with_held_permissions_only() {
        let g = guild();
        let helpers = &g.roles["helpers"];
        let mut promoted = helpers.clone();
        promoted.permissions |= P::MODERATE_MEMBERS;
        assert!(check_role_update(&g, "@mod:x", "helpers", Some(helpers), Some(&promoted), NOW).is_ok());
        promoted.permissions |= P::BAN_MEMBERS;
        assert_eq!(
            check_role_update(&g, "@mod:x", "helpers", Some(helpers), Some(&promoted), NOW),
            Err(RuleViolation::UnheldPermissions(P::BAN_MEMBERS))
        );
        assert!(check_role_update(&g, "@admin:x", "helpers", Some(helpers), Some(&promoted), NOW).is_ok());
    }

    #[test]
    fn a_role_cannot_be_moved_to_or_above_the_sender() {
        let g = guild();
        let helpers = &g.roles["helpers"];
        let mut raised = helpers.clone();
        raised.position = 6;
        assert_eq!(
            check_role_update(&g, "@mod:x", "helpers", Some(helpers), Some(&raised), NOW),
            Err(RuleViolation::RoleNotBelowSender("helpers".into()))
        );
        assert!(check_role_update(&g, "@mod:x", "mods", Some(&g.roles["mods"]), None, NOW).is_err());
        assert!(check_role_update(&g, "@mod:x", "new", None, Some(&role(4, P::NONE)), NOW).is_ok());
    }

    #[test]
    fn everyone_cannot_be_deleted() {
        let g = guild();
        assert_eq!(
            check_role_update(&g, "@owner:x", "everyone", Some(&g.roles["everyone"]), None, NOW),
            Err(RuleViolation::EveryoneIsFixed)
        );
    }

    #[test]
    fn role_assignment_follows_the_hierarchy() {
        let g = guild();
        let old = g.members["@helper:x"].clone();
        let mut new = old.clone();
        new.roles.push("events".into());
        assert!(check_member_update(&g, "@mod:x", "@helper:x", Some(&old), Some(&new), NOW).is_ok());
        new.roles.push("mods".into());
        assert_eq!(
            check_member_update(&g, "@mod:x", "@helper:x", Some(&old), Some(&new), NOW),
            Err(RuleViolation::RoleNotBelowSender("mods".into()))
        );
        assert_eq!(
            check_member_update(&g, "@helper:x", "@host:x", None, Some(&new), NOW),
            Err(RuleViolation::MissingPermission(P::MANAGE_ROLES))
        );
    }

    #[test]
    fn nicknames() {
        let g = guild();
        let nick = MemberContent { nick: Some("Bob".into()), ..MemberContent::default() };
        assert!(check_member_update(&g, "@bob:x", "@bob:x", None, Some(&nick), NOW).is_ok());
        assert!(check_member_update(&g, "@helper:x", "@bob:x", None, Some(&nick), NOW).is_err());
        assert!(check_member_update(&g, "@mod:x", "@bob:x", None, Some(&nick), NOW).is_ok());
        assert_eq!(
            check_member_update(&g, "@mod:x", "@admin:x", None, Some(&nick), NOW),
            Err(RuleViolation::MemberNotBelowSender("@admin:x".into()))
        );
    }

    #[test]
    fn timeouts() {
        let g = guild();
        let timeout = |until| MemberContent { communication_disabled_until: Some(until), ..MemberContent::default() };
        assert!(check_member_update(&g, "@mod:x", "@bob:x", None, Some(&timeout(NOW + 60_000)), NOW).is_ok());
        assert_eq!(
            check_member_update(&g, "@mod:x", "@bob:x", None, Some(&timeout(NOW + MAX_TIMEOUT_MS + 1)), NOW),
            Err(RuleViolation::TimeoutTooLong)
        );
        assert!(check_member_update(&g, "@helper:x", "@bob:x", None, Some(&timeout(NOW + 1)), NOW).is_err());
        assert_eq!(
            check_member_update(&g, "@owner:x", "@admin:x", None, Some(&timeout(NOW + 1)), NOW),
            Err(RuleViolation::CannotTimeOut("@admin:x".into()))
        );
    }

    #[test]
    fn overwrites_only_toggle_held_bits() {
        let g = guild().with_role("mods", 5, P::MANAGE_ROLES | P::VIEW_CHANNEL | P::SEND_MESSAGES);
        let old = ChannelOverwritesContent::default();
        let mut new = old.clone();
        new.roles.insert("everyone".into(), Overwrite { allow: P::NONE, deny: P::SEND_MESSAGES });
        assert!(check_overwrites_update(&g, "@mod:x", &old, &new, NOW).is_ok());
        new.roles.insert("helpers".into(), Overwrite { allow: P::MANAGE_THREADS, deny: P::NONE });
        assert_eq!(
            check_overwrites_update(&g, "@mod:x", &old, &new, NOW),
            Err(RuleViolation::UnheldPermissions(P::MANAGE_THREADS))
        );
        assert!(check_overwrites_update(&g, "@admin:x", &old, &new, NOW).is_ok());
        assert!(check_overwrites_update(&g, "@helper:x", &old, &new, NOW).is_err());
    }

    fn thread(locked: bool, tags: &[&str]) -> ThreadContent {
        ThreadContent {
            name: "t".into(),
            archived: false,
            locked,
            auto_archive_duration: 60,
            invitable: true,
            private: false,
            archive_timestamp: None,
            applied_tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn thread_rules() {
        let member = P::VIEW_CHANNEL | P::CREATE_PUBLIC_THREADS | P::SEND_MESSAGES_IN_THREADS;
        let manager = member | P::MANAGE_THREADS;
        assert!(check_thread_update(member, true, None, None, &thread(false, &[])).is_ok());
        assert!(check_thread_update(P::VIEW_CHANNEL, true, None, None, &thread(false, &[])).is_err());
        let mut renamed = thread(false, &[]);
        renamed.name = "new".into();
        assert!(check_thread_update(member, true, None, Some(&thread(false, &[])), &renamed).is_ok());
        assert_eq!(
            check_thread_update(member, false, None, Some(&thread(false, &[])), &renamed),
            Err(RuleViolation::NotCreator(P::MANAGE_THREADS))
        );
        assert_eq!(
            check_thread_update(member, true, None, Some(&thread(false, &[])), &thread(true, &[])),
            Err(RuleViolation::ThreadLocked)
        );
        assert!(check_thread_update(manager, false, None, Some(&thread(true, &[])), &renamed).is_ok());
    }

    #[test]
    fn moderated_tags_need_manage_threads() {
        let forum: ChannelContent = serde_json::from_value(json!({
            "type": "forum", "position": 0,
            "available_tags": [{"id": "bug", "name": "Bug"}, {"id": "solved", "name": "Solved", "moderated": true}]
        }))
        .unwrap();
        let member = P::VIEW_CHANNEL | P::CREATE_PUBLIC_THREADS;
        let old = thread(false, &["bug"]);
        assert!(check_thread_update(member, true, Some(&forum), Some(&old), &thread(false, &[])).is_ok());
        assert_eq!(
            check_thread_update(member, true, Some(&forum), Some(&old), &thread(false, &["bug", "solved"])),
            Err(RuleViolation::MissingPermission(P::MANAGE_THREADS))
        );
        assert!(
            check_thread_update(
                member | P::MANAGE_THREADS,
                true,
                Some(&forum),
                Some(&old),
                &thread(false, &["solved"])
            )
            .is_ok()
        );
    }

    fn event(creator: &str, status: EventStatus) -> ScheduledEventContent {
        ScheduledEventContent {
            name: "Call".into(),
            description: None,
            creator: creator.into(),
            start: 1,
            end: None,
            location: None,
            channel: Some("!v:x".into()),
            status,
            image: None,
            recurrence: None,
        }
    }

    #[test]
    fn scheduled_events_belong_to_their_creator() {
        let g = guild();
        let mine = event("@host:x", EventStatus::Scheduled);
        assert!(check_scheduled_event_update(&g, "@host:x", None, Some(&mine), NOW).is_ok());
        assert!(
            check_scheduled_event_update(&g, "@host:x", None, Some(&event("@other:x", EventStatus::Scheduled)), NOW)
                .is_err()
        );
        assert!(
            check_scheduled_event_update(&g, "@bob:x", None, Some(&event("@bob:x", EventStatus::Scheduled)), NOW)
                .is_err()
        );
        let started = event("@host:x", EventStatus::Active);
        assert!(check_scheduled_event_update(&g, "@host:x", Some(&mine), Some(&started), NOW).is_ok());
        let theirs = event("@admin:x", EventStatus::Scheduled);
        assert!(check_scheduled_event_update(&g, "@host:x", Some(&theirs), None, NOW).is_err());
        assert!(check_scheduled_event_update(&g, "@admin:x", Some(&mine), None, NOW).is_ok());
        assert_eq!(
            check_scheduled_event_update(&g, "@host:x", Some(&started), Some(&mine), NOW),
            Err(RuleViolation::InvalidTransition { from: "active", to: "scheduled" })
        );
    }

    #[test]
    fn channel_types_never_change() {
        let g = guild().with_role("mods", 5, P::MANAGE_CHANNELS | P::VIEW_CHANNEL);
        let none = ChannelOverwritesContent::default();
        let text: ChannelContent = serde_json::from_value(json!({"type": "text", "position": 0})).unwrap();
        let mut moved = text.clone();
        moved.position = 3;
        assert!(check_channel_update(&g, "@mod:x", &none, Some(&text), &moved, NOW).is_ok());
        assert!(check_channel_update(&g, "@helper:x", &none, Some(&text), &moved, NOW).is_err());
        let mut forum = text.clone();
        forum.kind = ChannelType::Forum;
        assert_eq!(
            check_channel_update(&g, "@owner:x", &none, Some(&text), &forum, NOW),
            Err(RuleViolation::InvalidTransition { from: "text", to: "forum" })
        );
        assert!(check_channel_update(&g, "@mod:x", &none, None, &forum, NOW).is_ok());
    }

    #[test]
    fn emoji_creators_may_only_add() {
        let pack = |codes: &[&str]| -> ImagePackContent {
            let images: serde_json::Map<String, serde_json::Value> =
                codes.iter().map(|c| ((*c).to_owned(), json!({"url": format!("mxc://x/{c}")}))).collect();
            serde_json::from_value(json!({"images": images})).unwrap()
        };
        let creator = P::CREATE_GUILD_EXPRESSIONS;
        assert!(check_image_pack_update(creator, Some(&pack(&["a"])), Some(&pack(&["a", "b"]))).is_ok());
        assert!(check_image_pack_update(creator, None, Some(&pack(&["a"]))).is_ok());
        assert!(check_image_pack_update(creator, Some(&pack(&["a", "b"])), Some(&pack(&["a"]))).is_err());
        assert!(check_image_pack_update(creator, Some(&pack(&["a"])), None).is_err());
        assert!(check_image_pack_update(P::MANAGE_GUILD_EXPRESSIONS, Some(&pack(&["a"])), None).is_ok());
        assert!(check_image_pack_update(P::NONE, None, Some(&pack(&["a"]))).is_err());
    }
}
