//! Discord's permission evaluation, step for step as Discord documents it.
//!
//! 1. The owner has every permission.
//! 2. Base = @everyone's permissions OR every role the member holds.
//! 3. ADMINISTRATOR in the base means every permission; overwrites are skipped.
//! 4. In a channel: the @everyone overwrite (deny, then allow); then the
//!    overwrites of all the member's roles merged — denies OR-ed, allows
//!    OR-ed, deny applied before allow, role position playing no part; then
//!    the member's own overwrite (deny, then allow).
//! 5. Implicit denies: without VIEW_CHANNEL nothing is left; without
//!    SEND_MESSAGES (SEND_MESSAGES_IN_THREADS in a thread) the permissions
//!    that only make sense while posting are stripped.
//! 6. A timed-out member who is neither owner nor administrator keeps only
//!    VIEW_CHANNEL and READ_MESSAGE_HISTORY.

use crate::events::overwrites::{ChannelOverwritesContent, Overwrite};
use crate::events::role::EVERYONE_ROLE_ID;
use crate::guild::Guild;
use crate::permissions::Permissions;

/// Server-wide permissions (what applies outside any channel: kicking,
/// banning, managing the server, roles, emoji and events).
pub fn base_permissions(guild: &Guild, user: &str, now_ms: u64) -> Permissions {
    let base = unrestricted_base(guild, user);
    apply_timeout(guild, user, base, now_ms)
}

/// Permissions in a channel room.
pub fn channel_permissions(
    guild: &Guild,
    user: &str,
    overwrites: &ChannelOverwritesContent,
    now_ms: u64,
) -> Permissions {
    let raw = overwritten(guild, user, overwrites);
    apply_timeout(guild, user, implicit(raw, Permissions::SEND_MESSAGES), now_ms)
}

/// Permissions in a thread of a channel: the channel's, except that posting
/// is SEND_MESSAGES_IN_THREADS and the implicit denies follow that bit.
pub fn thread_permissions(
    guild: &Guild,
    user: &str,
    overwrites: &ChannelOverwritesContent,
    now_ms: u64,
) -> Permissions {
    let raw = overwritten(guild, user, overwrites);
    apply_timeout(guild, user, implicit(raw, Permissions::SEND_MESSAGES_IN_THREADS), now_ms)
}

/// Channel permissions of a member who holds no role and has no member
/// overwrite — everyone who has not been given anything specific. A channel
/// is *public* when this includes VIEW_CHANNEL.
pub fn everyone_channel_permissions(guild: &Guild, overwrites: &ChannelOverwritesContent) -> Permissions {
    let base = guild.everyone_permissions();
    if base.contains(Permissions::ADMINISTRATOR) {
        return Permissions::ALL;
    }
    let mut p = base;
    if let Some(o) = overwrites.roles.get(EVERYONE_ROLE_ID) {
        apply(&mut p, o);
    }
    implicit(p, Permissions::SEND_MESSAGES)
}

fn unrestricted_base(guild: &Guild, user: &str) -> Permissions {
    if guild.is_owner(user) {
        return Permissions::ALL;
    }
    let base = guild.member_roles(user).fold(guild.everyone_permissions(), |p, (_, role)| p | role.permissions);
    if base.contains(Permissions::ADMINISTRATOR) { Permissions::ALL } else { base }
}

fn overwritten(guild: &Guild, user: &str, overwrites: &ChannelOverwritesContent) -> Permissions {
    let base = unrestricted_base(guild, user);
    if base.contains(Permissions::ADMINISTRATOR) {
        return base;
    }
    let mut p = base;
    if let Some(o) = overwrites.roles.get(EVERYONE_ROLE_ID) {
        apply(&mut p, o);
    }
    let merged = guild
        .member_roles(user)
        .filter_map(|(id, _)| overwrites.roles.get(id))
        .fold(Overwrite::default(), |acc, o| Overwrite { allow: acc.allow | o.allow, deny: acc.deny | o.deny });
    apply(&mut p, &merged);
    if let Some(o) = overwrites.members.get(user) {
        apply(&mut p, o);
    }
    p
}

fn apply(p: &mut Permissions, overwrite: &Overwrite) {
    p.remove(overwrite.deny);
    p.insert(overwrite.allow);
}

fn implicit(p: Permissions, posting: Permissions) -> Permissions {
    if p.contains(Permissions::ADMINISTRATOR) {
        return p;
    }
    if !p.contains(Permissions::VIEW_CHANNEL) {
        return Permissions::NONE;
    }
    if !p.contains(posting) {
        return p - Permissions::NEEDS_SEND_MESSAGES;
    }
    p
}

fn apply_timeout(guild: &Guild, user: &str, p: Permissions, now_ms: u64) -> Permissions {
    let timed_out = guild.member(user).is_some_and(|m| m.is_timed_out(now_ms));
    if timed_out && !p.contains(Permissions::ADMINISTRATOR) { p & Permissions::TIMEOUT_KEEPS } else { p }
}

/// Kicking needs KICK_MEMBERS and a higher rank than the target.
pub fn can_kick(guild: &Guild, actor: &str, target: &str, now_ms: u64) -> bool {
    base_permissions(guild, actor, now_ms).contains(Permissions::KICK_MEMBERS) && guild.outranks(actor, target)
}

/// Banning needs BAN_MEMBERS and a higher rank than the target.
pub fn can_ban(guild: &Guild, actor: &str, target: &str, now_ms: u64) -> bool {
    base_permissions(guild, actor, now_ms).contains(Permissions::BAN_MEMBERS) && guild.outranks(actor, target)
}

/// Timing out needs MODERATE_MEMBERS, a higher rank, and a target who is not
/// an administrator (Discord refuses to time out administrators).
pub fn can_time_out(guild: &Guild, actor: &str, target: &str, now_ms: u64) -> bool {
    base_permissions(guild, actor, now_ms).contains(Permissions::MODERATE_MEMBERS)
        && guild.outranks(actor, target)
        && !unrestricted_base(guild, target).contains(Permissions::ADMINISTRATOR)
}

/// Assigning or removing a role needs MANAGE_ROLES and a higher rank than
/// the role.
pub fn can_assign_role(guild: &Guild, actor: &str, role_id: &str, now_ms: u64) -> bool {
    role_id != EVERYONE_ROLE_ID
        && base_permissions(guild, actor, now_ms).contains(Permissions::MANAGE_ROLES)
        && guild.outranks_role(actor, role_id)
}

/// Milliseconds a member must still wait before posting under slowmode, or
/// `None` when they may post now. BYPASS_SLOWMODE alone exempts (Nexus does
/// not carry Discord's older MANAGE_MESSAGES / MANAGE_CHANNELS exemption).
pub fn slowmode_wait_ms(
    perms: Permissions,
    slowmode_seconds: u32,
    last_post_ms: Option<u64>,
    now_ms: u64,
) -> Option<u64> {
    if slowmode_seconds == 0 || perms.contains(Permissions::BYPASS_SLOWMODE) {
        return None;
    }
    let ready_at = last_post_ms? + u64::from(slowmode_seconds) * 1000;
    (ready_at > now_ms).then(|| ready_at - now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::member::MemberContent;

    const NOW: u64 = 1_000_000;

    fn member_perms() -> Permissions {
        Permissions::VIEW_CHANNEL
            | Permissions::SEND_MESSAGES
            | Permissions::READ_MESSAGE_HISTORY
            | Permissions::ADD_REACTIONS
            | Permissions::ATTACH_FILES
            | Permissions::EMBED_LINKS
    }

    fn guild() -> Guild {
        Guild::new("@owner:x")
            .with_everyone(member_perms())
            .with_role("admins", 10, Permissions::ADMINISTRATOR)
            .with_role("mods", 5, Permissions::KICK_MEMBERS | Permissions::MANAGE_MESSAGES)
            .with_role("muted", 3, Permissions::NONE)
            .with_role("trusted", 2, Permissions::MENTION_EVERYONE)
            .with_member("@admin:x", &["admins"])
            .with_member("@mod:x", &["mods"])
            .with_member("@muted:x", &["muted"])
            .with_member("@trusted:x", &["trusted"])
            .with_member("@both:x", &["mods", "trusted"])
    }

    fn ow(allow: Permissions, deny: Permissions) -> Overwrite {
        Overwrite { allow, deny }
    }

    fn overwrites(roles: &[(&str, Overwrite)], members: &[(&str, Overwrite)]) -> ChannelOverwritesContent {
        ChannelOverwritesContent {
            roles: roles.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            members: members.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        }
    }

    #[test]
    fn base_is_everyone_or_member_roles() {
        let g = guild();
        assert_eq!(base_permissions(&g, "@nobody:x", NOW), member_perms());
        assert_eq!(
            base_permissions(&g, "@both:x", NOW),
            member_perms() | Permissions::KICK_MEMBERS | Permissions::MANAGE_MESSAGES | Permissions::MENTION_EVERYONE
        );
    }

    #[test]
    fn owner_has_everything_even_when_denied() {
        let g = guild();
        let o = overwrites(&[], &[("@owner:x", ow(Permissions::NONE, Permissions::ALL))]);
        assert_eq!(channel_permissions(&g, "@owner:x", &o, NOW), Permissions::ALL);
        assert_eq!(base_permissions(&g, "@owner:x", NOW), Permissions::ALL);
    }

    #[test]
    fn administrator_role_grants_everything_regardless_of_overwrites() {
        let g = guild();
        let o = overwrites(
            &[
                ("everyone", ow(Permissions::NONE, Permissions::VIEW_CHANNEL)),
                ("admins", ow(Permissions::NONE, Permissions::ALL - Permissions::GUILD_ONLY)),
            ],
            &[("@admin:x", ow(Permissions::NONE, Permissions::ALL))],
        );
        assert_eq!(channel_permissions(&g, "@admin:x", &o, NOW), Permissions::ALL);
    }

    #[test]
    fn administrator_on_everyone_makes_everyone_all_powerful() {
        let g = guild().with_everyone(Permissions::ADMINISTRATOR);
        assert_eq!(base_permissions(&g, "@nobody:x", NOW), Permissions::ALL);
        let o = ChannelOverwritesContent::default();
        assert_eq!(everyone_channel_permissions(&g, &o), Permissions::ALL);
    }

    #[test]
    fn everyone_overwrite_applies_to_all_members() {
        let g = guild();
        let o = overwrites(&[("everyone", ow(Permissions::NONE, Permissions::SEND_MESSAGES))], &[]);
        let p = channel_permissions(&g, "@nobody:x", &o, NOW);
        assert!(!p.contains(Permissions::SEND_MESSAGES));
        assert!(p.contains(Permissions::VIEW_CHANNEL));
    }

    #[test]
    fn role_allow_beats_everyone_deny() {
        let g = guild();
        let o = overwrites(
            &[
                ("everyone", ow(Permissions::NONE, Permissions::VIEW_CHANNEL)),
                ("mods", ow(Permissions::VIEW_CHANNEL, Permissions::NONE)),
            ],
            &[],
        );
        assert!(channel_permissions(&g, "@mod:x", &o, NOW).contains(Permissions::VIEW_CHANNEL));
        assert_eq!(channel_permissions(&g, "@nobody:x", &o, NOW), Permissions::NONE);
    }

    #[test]
    fn role_overwrites_merge_with_allow_winning_over_deny() {
        // Discord: denies of all roles first, then allows of all roles, so a
        // role that allows beats a role that denies, whatever their positions.
        let g = guild();
        let o = overwrites(
            &[
                ("mods", ow(Permissions::NONE, Permissions::SEND_MESSAGES)),
                ("trusted", ow(Permissions::SEND_MESSAGES, Permissions::NONE)),
            ],
            &[],
        );
        assert!(channel_permissions(&g, "@both:x", &o, NOW).contains(Permissions::SEND_MESSAGES));
        assert!(!channel_permissions(&g, "@mod:x", &o, NOW).contains(Permissions::SEND_MESSAGES));
    }

    #[test]
    fn role_position_plays_no_part_in_overwrites() {
        let g1 = guild();
        let g2 = guild().with_role("mods", 1, Permissions::KICK_MEMBERS | Permissions::MANAGE_MESSAGES).with_role(
            "trusted",
            9,
            Permissions::MENTION_EVERYONE,
        );
        let o = overwrites(
            &[
                ("mods", ow(Permissions::ATTACH_FILES, Permissions::EMBED_LINKS)),
                ("trusted", ow(Permissions::EMBED_LINKS, Permissions::ATTACH_FILES)),
            ],
            &[],
        );
        assert_eq!(channel_permissions(&g1, "@both:x", &o, NOW), channel_permissions(&g2, "@both:x", &o, NOW));
    }

    #[test]
    fn member_overwrite_beats_role_overwrite() {
        let g = guild();
        let o = overwrites(
            &[("mods", ow(Permissions::SEND_MESSAGES, Permissions::NONE))],
            &[("@mod:x", ow(Permissions::NONE, Permissions::SEND_MESSAGES))],
        );
        assert!(!channel_permissions(&g, "@mod:x", &o, NOW).contains(Permissions::SEND_MESSAGES));
        let o = overwrites(
            &[("mods", ow(Permissions::NONE, Permissions::SEND_MESSAGES))],
            &[("@mod:x", ow(Permissions::SEND_MESSAGES, Permissions::NONE))],
        );
        assert!(channel_permissions(&g, "@mod:x", &o, NOW).contains(Permissions::SEND_MESSAGES));
    }

    #[test]
    fn member_overwrite_beats_everyone_overwrite() {
        let g = guild();
        let o = overwrites(
            &[("everyone", ow(Permissions::NONE, Permissions::VIEW_CHANNEL))],
            &[("@nobody:x", ow(Permissions::VIEW_CHANNEL, Permissions::NONE))],
        );
        assert!(channel_permissions(&g, "@nobody:x", &o, NOW).contains(Permissions::VIEW_CHANNEL));
    }

    #[test]
    fn losing_view_channel_loses_everything() {
        let g = guild();
        let o = overwrites(&[("mods", ow(Permissions::NONE, Permissions::VIEW_CHANNEL))], &[]);
        assert_eq!(channel_permissions(&g, "@mod:x", &o, NOW), Permissions::NONE);
    }

    #[test]
    fn without_send_messages_posting_extras_are_implicitly_denied() {
        let g = guild();
        let o = overwrites(
            &[("muted", ow(Permissions::NONE, Permissions::SEND_MESSAGES))],
            &[("@muted:x", ow(Permissions::MENTION_EVERYONE | Permissions::SEND_TTS_MESSAGES, Permissions::NONE))],
        );
        let p = channel_permissions(&g, "@muted:x", &o, NOW);
        assert!(!p.intersects(Permissions::NEEDS_SEND_MESSAGES));
        assert!(p.contains(Permissions::ADD_REACTIONS | Permissions::READ_MESSAGE_HISTORY));
    }

    #[test]
    fn threads_need_send_messages_in_threads_to_post() {
        let g = guild();
        let o = ChannelOverwritesContent::default();
        let p = thread_permissions(&g, "@nobody:x", &o, NOW);
        assert!(!p.contains(Permissions::SEND_MESSAGES_IN_THREADS));
        assert!(!p.intersects(Permissions::ATTACH_FILES | Permissions::EMBED_LINKS));
        let g = g.with_everyone(member_perms() | Permissions::SEND_MESSAGES_IN_THREADS);
        let p = thread_permissions(&g, "@nobody:x", &o, NOW);
        assert!(p.contains(Permissions::SEND_MESSAGES_IN_THREADS | Permissions::ATTACH_FILES));
    }

    #[test]
    fn threads_inherit_the_parents_overwrites() {
        let g = guild().with_everyone(member_perms() | Permissions::SEND_MESSAGES_IN_THREADS);
        let o = overwrites(&[("everyone", ow(Permissions::NONE, Permissions::VIEW_CHANNEL))], &[]);
        assert_eq!(thread_permissions(&g, "@nobody:x", &o, NOW), Permissions::NONE);
    }

    #[test]
    fn timed_out_members_keep_only_view_and_history() {
        let mut g = guild();
        g.members.insert(
            "@mod:x".into(),
            MemberContent {
                roles: vec!["mods".into()],
                communication_disabled_until: Some(NOW + 1),
                ..MemberContent::default()
            },
        );
        let o = ChannelOverwritesContent::default();
        assert_eq!(channel_permissions(&g, "@mod:x", &o, NOW), Permissions::TIMEOUT_KEEPS);
        assert_eq!(base_permissions(&g, "@mod:x", NOW), Permissions::TIMEOUT_KEEPS);
        assert_eq!(
            base_permissions(&g, "@mod:x", NOW + 1),
            member_perms() | Permissions::KICK_MEMBERS | Permissions::MANAGE_MESSAGES
        );
    }

    #[test]
    fn timeouts_do_not_touch_administrators() {
        let mut g = guild();
        g.members.get_mut("@admin:x").unwrap().communication_disabled_until = Some(NOW + 1);
        assert_eq!(base_permissions(&g, "@admin:x", NOW), Permissions::ALL);
        assert!(!can_time_out(&g, "@owner:x", "@admin:x", NOW));
        assert!(can_time_out(
            &g.clone().with_role("mods", 5, Permissions::MODERATE_MEMBERS),
            "@mod:x",
            "@nobody:x",
            NOW
        ));
    }

    #[test]
    fn unknown_roles_grant_nothing() {
        let g = guild().with_member("@ghost:x", &["no-such-role"]);
        assert_eq!(base_permissions(&g, "@ghost:x", NOW), member_perms());
    }

    #[test]
    fn kicking_needs_the_permission_and_a_higher_role() {
        let g = guild().with_member("@mod2:x", &["mods"]);
        assert!(can_kick(&g, "@mod:x", "@nobody:x", NOW));
        assert!(can_kick(&g, "@mod:x", "@muted:x", NOW));
        assert!(!can_kick(&g, "@mod:x", "@mod2:x", NOW));
        assert!(!can_kick(&g, "@mod:x", "@admin:x", NOW));
        assert!(!can_kick(&g, "@trusted:x", "@nobody:x", NOW));
        assert!(can_kick(&g, "@owner:x", "@admin:x", NOW));
        assert!(!can_kick(&g, "@admin:x", "@owner:x", NOW));
        assert!(!can_ban(&g, "@mod:x", "@nobody:x", NOW));
        assert!(can_ban(&g, "@admin:x", "@mod:x", NOW));
    }

    #[test]
    fn assigning_roles_respects_the_hierarchy() {
        let g = guild().with_role("mods", 5, Permissions::MANAGE_ROLES);
        assert!(can_assign_role(&g, "@mod:x", "muted", NOW));
        assert!(!can_assign_role(&g, "@mod:x", "mods", NOW));
        assert!(!can_assign_role(&g, "@mod:x", "admins", NOW));
        assert!(!can_assign_role(&g, "@owner:x", "everyone", NOW));
    }

    #[test]
    fn slowmode() {
        let member = Permissions::SEND_MESSAGES;
        assert_eq!(slowmode_wait_ms(member, 10, Some(NOW - 4_000), NOW), Some(6_000));
        assert_eq!(slowmode_wait_ms(member, 10, Some(NOW - 10_000), NOW), None);
        assert_eq!(slowmode_wait_ms(member, 10, None, NOW), None);
        assert_eq!(slowmode_wait_ms(member, 0, Some(NOW), NOW), None);
        let bypass = member | Permissions::BYPASS_SLOWMODE;
        assert_eq!(slowmode_wait_ms(bypass, 10, Some(NOW), NOW), None);
        let legacy = member | Permissions::MANAGE_MESSAGES | Permissions::MANAGE_CHANNELS;
        assert_eq!(slowmode_wait_ms(legacy, 10, Some(NOW), NOW), Some(10_000));
    }
}
