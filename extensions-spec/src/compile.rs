//! Compiles roles, role assignments and overwrites into `m.room.power_levels`.
//!
//! Power levels give each user one integer and each action one threshold, so
//! the users' capability sets must nest; Discord roles need not. The compiler
//! therefore guarantees, for every user who is not an infinite-power creator:
//!
//! * **soundness** — the power levels never allow an action Nexus forbids;
//! * **accounting** — every action Nexus allows but the power levels refuse
//!   is listed in [`Compiled::lost`], and nothing else is refused;
//! * **exactness** for layouts where a higher rank never holds fewer of
//!   these capabilities than a lower one (then `lost` is empty).
//!
//! The algorithm (the README's "Compiling power levels" is normative):
//!
//! 1. *Subjects*: every user passed in, the owner, and a virtual member who
//!    holds no role (standing for `users_default` and future joiners).
//!    Room version 12+ creators are left out: their power is infinite anyway.
//! 2. For each subject, the set of capabilities Nexus allows in this room.
//! 3. *Ladder*: capabilities sorted by how many subjects hold them (most
//!    first), ties broken by the room's canonical order.
//! 4. Each subject climbs the ladder while it holds the next rung; the rungs
//!    climbed are what the power levels will grant it.
//! 5. *Hierarchy*: a subject that reaches kick or ban ("moderator") must be
//!    strictly above everyone it outranks and not above anyone who outranks
//!    it. Going down the ranks, a moderator is capped at the rung of the
//!    lowest subject ranked at or above it; if that subject is no moderator,
//!    or a same-rank peer is none, it stops just below kick/ban. Moderators
//!    of one rank are levelled to the lowest of them.
//! 6. *Tiers*: subjects with the same rung count share a level, moderators
//!    additionally split by rank. The virtual member's tier is level 0; lower
//!    tiers count down from -1; higher tiers count up from 1, moderators from
//!    at least 50 and the owner at least 100 (so stock clients label them
//!    "Moderator" and "Admin").
//! 7. Each rung's threshold is the level of the lowest tier that reached it,
//!    or one above the highest level when no tier did.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::capabilities::{Capability, Context, Room, Slot};
use crate::guild::{Guild, Rank};
use crate::permissions::Permissions;
use crate::power_levels::{Creators, NotificationLevels, PowerLevelsContent};

/// Lowest level of a tier that may kick or ban.
pub const MODERATOR_FLOOR: i64 = 50;
/// Lowest level of the owner's tier.
pub const OWNER_FLOOR: i64 = 100;

/// Inputs that are not part of the server's state.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// The room's creators and whether their power is infinite (v12+).
    pub creators: Creators,
    /// Current time, for timeouts.
    pub now_ms: u64,
}

/// One user's capability, in the compiler's report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    /// The user.
    pub user: String,
    /// The capability.
    pub capability: Capability,
}

/// The compiled power levels and what they could not express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    /// The `m.room.power_levels` content to send.
    pub content: PowerLevelsContent,
    /// The ladder, lowest rung first.
    pub ladder: Vec<Capability>,
    /// Allowed by Nexus, refused by the power levels. Kick and ban entries
    /// mean "no target at all"; apart from creators (untouchable in v12),
    /// a moderator who keeps the capability can act on every member Nexus
    /// lets them act on.
    pub lost: Vec<Grant>,
    /// Allowed by the power levels, refused by Nexus: only ever room
    /// version 12+ creators whose Nexus permissions are not complete.
    pub excess: Vec<Grant>,
}

struct Subject {
    user: Option<String>,
    held: Vec<bool>,
    rank: Rank,
    rungs: usize,
}

/// Compiles the power levels of `room` for the given room members.
///
/// `users` should list everyone joined to, invited to or knocking on the
/// room; the owner is always included. Order and repetition do not matter.
pub fn compile<'a>(
    guild: &Guild,
    room: Room<'_>,
    users: impl IntoIterator<Item = &'a str>,
    options: &CompileOptions,
) -> Compiled {
    let capabilities = room.capabilities();
    let public = room.is_public(guild);
    let held = |perms: Permissions, is_owner: bool| -> Vec<bool> {
        let ctx = Context { is_owner, public };
        capabilities.iter().map(|cap| cap.allowed_by(perms, room, ctx)).collect()
    };

    let mut names: BTreeSet<&str> = users.into_iter().collect();
    names.insert(guild.owner.as_str());
    let mut excess = Vec::new();
    let mut subjects = vec![Subject {
        user: None,
        held: held(room.everyone_permissions(guild), false),
        rank: Rank::Everyone,
        rungs: 0,
    }];
    for user in names {
        let user_held = held(room.permissions(guild, user, options.now_ms), guild.is_owner(user));
        if options.creators.is_infinite(user) {
            excess.extend(
                capabilities
                    .iter()
                    .zip(&user_held)
                    .filter(|(_, holds)| !**holds)
                    .map(|(cap, _)| Grant { user: user.to_owned(), capability: *cap }),
            );
            continue;
        }
        subjects.push(Subject { user: Some(user.to_owned()), held: user_held, rank: guild.rank(user), rungs: 0 });
    }

    let ladder = ladder(capabilities.len(), &subjects);
    for subject in &mut subjects {
        subject.rungs = ladder.iter().take_while(|&&i| subject.held[i]).count();
    }
    let rung_of = |cap: Capability| ladder.iter().position(|&i| capabilities[i] == cap).unwrap_or(ladder.len());
    let moderator_rungs = 1 + rung_of(Capability::Kick).min(rung_of(Capability::Ban));
    apply_hierarchy(&mut subjects, moderator_rungs);

    let tier_of = |s: &Subject| (s.rungs, (s.rungs >= moderator_rungs).then(|| s.rank.clone()));
    let tiers: BTreeSet<(usize, Option<Rank>)> = subjects.iter().map(tier_of).collect();
    let levels = number_tiers(&tiers, &tier_of(&subjects[0]), moderator_rungs);
    let top = levels.values().copied().max().unwrap_or(0);
    let thresholds: Vec<i64> = (0..ladder.len())
        .map(|rung| {
            levels.iter().filter(|((rungs, _), _)| *rungs > rung).map(|(_, level)| *level).min().unwrap_or(top + 1)
        })
        .collect();

    let mut content = PowerLevelsContent {
        ban: 0,
        events: BTreeMap::new(),
        events_default: 0,
        invite: 0,
        kick: 0,
        notifications: NotificationLevels { room: 0 },
        redact: 0,
        state_default: 0,
        users: BTreeMap::new(),
        users_default: 0,
    };
    for (rung, &index) in ladder.iter().enumerate() {
        for &slot in room.slots(capabilities[index]) {
            set_slot(&mut content, slot, thresholds[rung]);
        }
    }
    for subject in &subjects {
        let level = levels[&tier_of(subject)];
        if let (Some(user), true) = (&subject.user, level != 0) {
            content.users.insert(user.clone(), level);
        }
    }

    let mut lost = Vec::new();
    for subject in &subjects {
        let Some(user) = &subject.user else { continue };
        for (rung, &index) in ladder.iter().enumerate() {
            if subject.held[index] && rung >= subject.rungs {
                lost.push(Grant { user: user.clone(), capability: capabilities[index] });
            }
        }
    }
    lost.sort();
    excess.sort();

    Compiled { content, ladder: ladder.iter().map(|&i| capabilities[i]).collect(), lost, excess }
}

/// Capability indices, most widely held first; canonical order breaks ties.
/// Because a capability whose Matrix check also needs another one (redacting
/// others needs the redaction event type, `@room` needs sending) is only
/// ever held together with it, and sorts after it on a tie, a prerequisite
/// is always on a lower rung.
fn ladder(count: usize, subjects: &[Subject]) -> Vec<usize> {
    let holders: Vec<usize> = (0..count).map(|i| subjects.iter().filter(|s| s.held[i]).count()).collect();
    let mut ladder: Vec<usize> = (0..count).collect();
    ladder.sort_by_key(|&i| (Reverse(holders[i]), i));
    ladder
}

fn apply_hierarchy(subjects: &mut [Subject], moderator_rungs: usize) {
    let mut by_rank: BTreeMap<Rank, Vec<usize>> = BTreeMap::new();
    for (i, subject) in subjects.iter().enumerate() {
        by_rank.entry(subject.rank.clone()).or_default().push(i);
    }
    let below_moderation = moderator_rungs - 1;
    // Lowest rung count among the subjects ranked above the current class.
    let mut ceiling = usize::MAX;
    for class in by_rank.values().rev() {
        let mut capped: Vec<usize> = class
            .iter()
            .map(|&i| {
                let rungs = subjects[i].rungs;
                if rungs < moderator_rungs {
                    rungs
                } else if ceiling >= moderator_rungs {
                    rungs.min(ceiling)
                } else {
                    below_moderation
                }
            })
            .collect();
        let lowest = capped.iter().copied().min().unwrap_or(0);
        if capped.iter().any(|&r| r >= moderator_rungs) {
            for rungs in &mut capped {
                *rungs = if lowest < moderator_rungs { (*rungs).min(below_moderation) } else { lowest };
            }
        }
        for (&i, &rungs) in class.iter().zip(&capped) {
            subjects[i].rungs = rungs;
        }
        ceiling = ceiling.min(capped.into_iter().min().unwrap_or(usize::MAX));
    }
}

fn number_tiers(
    tiers: &BTreeSet<(usize, Option<Rank>)>,
    everyone: &(usize, Option<Rank>),
    moderator_rungs: usize,
) -> BTreeMap<(usize, Option<Rank>), i64> {
    let ordered: Vec<&(usize, Option<Rank>)> = tiers.iter().collect();
    let zero = ordered.iter().position(|t| *t == everyone).unwrap_or(0);
    let mut levels = BTreeMap::new();
    for (i, tier) in ordered[..zero].iter().enumerate() {
        levels.insert((*tier).clone(), i as i64 - zero as i64);
    }
    let mut level = 0;
    levels.insert(everyone.clone(), 0);
    for tier in &ordered[zero + 1..] {
        level += 1;
        if tier.0 >= moderator_rungs {
            level = level.max(MODERATOR_FLOOR);
        }
        if tier.1 == Some(Rank::Owner) {
            level = level.max(OWNER_FLOOR);
        }
        levels.insert((*tier).clone(), level);
    }
    levels
}

fn set_slot(content: &mut PowerLevelsContent, slot: Slot, level: i64) {
    match slot {
        Slot::EventsDefault => content.events_default = level,
        Slot::StateDefault => content.state_default = level,
        Slot::Invite => content.invite = level,
        Slot::Kick => content.kick = level,
        Slot::Ban => content.ban = level,
        Slot::Redact => content.redact = level,
        Slot::NotificationsRoom => content.notifications.room = level,
        Slot::Event(event_type) => {
            content.events.insert(event_type.to_owned(), level);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::nexus_allows;
    use crate::events::member::MemberContent;
    use crate::events::overwrites::{ChannelOverwritesContent, Overwrite};
    use crate::power_levels::MatrixAction;
    use Capability as C;
    use Permissions as P;

    fn member() -> P {
        P::VIEW_CHANNEL
            | P::SEND_MESSAGES
            | P::READ_MESSAGE_HISTORY
            | P::ADD_REACTIONS
            | P::CREATE_INSTANT_INVITE
            | P::CONNECT
            | P::SEND_POLLS
            | P::SEND_MESSAGES_IN_THREADS
    }

    fn moderator() -> P {
        member() | P::KICK_MEMBERS | P::MANAGE_MESSAGES | P::PIN_MESSAGES | P::MANAGE_THREADS | P::MENTION_EVERYONE
    }

    fn guild() -> Guild {
        Guild::new("@owner:x")
            .with_everyone(member())
            .with_role("admins", 10, P::ADMINISTRATOR)
            .with_role("mods", 5, moderator())
            .with_member("@admin:x", &["admins"])
            .with_member("@mod:x", &["mods"])
    }

    fn users() -> Vec<&'static str> {
        vec!["@admin:x", "@mod:x", "@alice:x"]
    }

    fn channel(g: &Guild, o: &ChannelOverwritesContent) -> Compiled {
        compile(g, Room::Channel(o), users(), &CompileOptions::default())
    }

    #[test]
    fn a_typical_server_compiles_exactly() {
        let g = guild();
        let o = ChannelOverwritesContent::default();
        let c = channel(&g, &o);
        assert!(c.lost.is_empty(), "{:?}", c.lost);
        assert!(c.excess.is_empty());
        let pl = &c.content;
        assert_eq!(pl.users.get("@alice:x"), None, "role-less members are users_default");
        assert_eq!(pl.users["@mod:x"], 50);
        assert_eq!(pl.users["@admin:x"], 51);
        assert_eq!(pl.users["@owner:x"], 100);
        assert_eq!(pl.events_default, 0);
        assert_eq!(pl.events["m.reaction"], 0);
        assert_eq!(pl.invite, 0);
        assert_eq!(pl.kick, 50);
        assert_eq!(pl.redact, 50);
        assert_eq!(pl.notifications.room, 50);
        assert_eq!(pl.ban, 51);
        assert_eq!(pl.state_default, 51);
        assert_eq!(pl.events["m.room.power_levels"], 51);
        assert_eq!(pl.events["m.room.tombstone"], 100);
    }

    #[test]
    fn compiled_levels_agree_with_nexus_for_every_member() {
        let g = guild();
        let o = ChannelOverwritesContent::default();
        let room = Room::Channel(&o);
        let c = channel(&g, &o);
        let creators = Creators::none();
        let everyone = ["@admin:x", "@mod:x", "@alice:x", "@owner:x"];
        for user in everyone {
            for &cap in room.capabilities() {
                for target in everyone {
                    let nexus = nexus_allows(&g, room, user, cap, Some(target), 0);
                    for &slot in room.slots(cap) {
                        let matrix = c.content.allows(PowerLevelsContent::action_for(slot, target), user, &creators);
                        assert_eq!(nexus, matrix, "{user} {cap:?} {slot:?} on {target}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_muted_role_sits_below_users_default() {
        let g = guild().with_role("muted", 1, P::NONE).with_member("@muted:x", &["muted"]);
        let mut o = ChannelOverwritesContent::default();
        o.roles
            .insert("muted".into(), Overwrite { allow: P::NONE, deny: P::SEND_MESSAGES | P::SEND_MESSAGES_IN_THREADS });
        let c = compile(&g, Room::Channel(&o), ["@muted:x", "@alice:x"], &CompileOptions::default());
        assert!(c.lost.is_empty(), "{:?}", c.lost);
        assert!(c.content.users["@muted:x"] < 0);
        assert_eq!(c.content.events_default, 0);
        let none = Creators::none();
        assert!(!c.content.allows(MatrixAction::SendMessage("m.room.message"), "@muted:x", &none));
        assert!(c.content.allows(MatrixAction::SendMessage("m.reaction"), "@muted:x", &none));
        assert!(c.content.allows(MatrixAction::SendMessage("m.room.message"), "@alice:x", &none));
    }

    #[test]
    fn a_cosmetic_role_above_moderators_costs_them_kick_but_not_redact() {
        // Discord forbids the moderator to kick the VIP; power levels cannot
        // put the VIP both above the moderator and below the kick level.
        let g = guild().with_role("vip", 7, P::NONE).with_member("@vip:x", &["vip"]);
        let o = ChannelOverwritesContent::default();
        let c = compile(&g, Room::Channel(&o), ["@mod:x", "@vip:x", "@alice:x"], &CompileOptions::default());
        let lost: Vec<(&str, Capability)> = c.lost.iter().map(|g| (g.user.as_str(), g.capability)).collect();
        assert!(lost.contains(&("@mod:x", C::Kick)));
        assert!(!lost.contains(&("@mod:x", C::RedactOthers)), "{lost:?}");
        let none = Creators::none();
        assert!(!c.content.allows(MatrixAction::Kick("@vip:x"), "@mod:x", &none));
        assert!(c.content.allows(MatrixAction::RedactOthers, "@mod:x", &none));
    }

    #[test]
    fn a_private_channel_keeps_role_less_members_out_of_everything() {
        let g = guild();
        let mut o = ChannelOverwritesContent::default();
        o.roles.insert("everyone".into(), Overwrite { allow: P::NONE, deny: P::VIEW_CHANNEL });
        o.roles.insert("mods".into(), Overwrite { allow: P::VIEW_CHANNEL, deny: P::NONE });
        let c = channel(&g, &o);
        assert!(c.lost.is_empty(), "{:?}", c.lost);
        let pl = &c.content;
        assert!(pl.events_default > 0);
        assert!(pl.events["m.room.redaction"] > 0);
        assert!(pl.invite > 0, "inviting into a private channel is not for everyone");
    }

    #[test]
    fn timed_out_members_drop_below_everyone() {
        let mut g = guild();
        g.members.insert(
            "@alice:x".into(),
            MemberContent { communication_disabled_until: Some(10), ..MemberContent::default() },
        );
        let o = ChannelOverwritesContent::default();
        let opts = CompileOptions { now_ms: 5, ..CompileOptions::default() };
        let c = compile(&g, Room::Channel(&o), users(), &opts);
        assert!(c.content.users["@alice:x"] < 0);
        let later = CompileOptions { now_ms: 10, ..CompileOptions::default() };
        let c = compile(&g, Room::Channel(&o), users(), &later);
        assert_eq!(c.content.users.get("@alice:x"), None);
    }

    #[test]
    fn v12_creators_are_not_listed_in_users() {
        let g = guild();
        let o = ChannelOverwritesContent::default();
        let opts = CompileOptions { creators: Creators::v12(["@owner:x"]), now_ms: 0 };
        let c = compile(&g, Room::Channel(&o), users(), &opts);
        assert!(!c.content.users.contains_key("@owner:x"));
        assert!(c.excess.is_empty());
        assert!(c.content.events["m.room.tombstone"] > c.content.users["@admin:x"]);
    }

    #[test]
    fn a_v12_creator_who_is_not_the_owner_is_reported_as_excess() {
        let g = guild();
        let o = ChannelOverwritesContent::default();
        let opts = CompileOptions { creators: Creators::v12(["@mod:x"]), now_ms: 0 };
        let c = compile(&g, Room::Channel(&o), users(), &opts);
        assert!(!c.content.users.contains_key("@mod:x"));
        assert!(c.excess.iter().any(|g| g.user == "@mod:x" && g.capability == C::Ban));
        assert!(c.content.users.contains_key("@owner:x"));
    }

    #[test]
    fn before_v12_a_creator_is_an_ordinary_user() {
        let g = guild();
        let o = ChannelOverwritesContent::default();
        let opts =
            CompileOptions { creators: Creators { users: ["@mod:x".to_owned()].into(), infinite: false }, now_ms: 0 };
        let c = compile(&g, Room::Channel(&o), users(), &opts);
        assert_eq!(c.content.users["@mod:x"], 50);
    }

    #[test]
    fn compilation_is_deterministic() {
        let g = guild();
        let o = ChannelOverwritesContent::default();
        let opts = CompileOptions::default();
        let a = compile(&g, Room::Channel(&o), ["@alice:x", "@mod:x", "@admin:x"], &opts);
        let b = compile(&g, Room::Channel(&o), ["@admin:x", "@admin:x", "@mod:x", "@alice:x"], &opts);
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a.content).unwrap(), serde_json::to_string(&b.content).unwrap());
    }

    #[test]
    fn the_space_is_gated_by_server_wide_permissions() {
        let g = guild()
            .with_role("mods", 5, moderator() | P::MANAGE_EVENTS)
            .with_role("eventers", 3, P::MANAGE_EVENTS)
            .with_member("@ev:x", &["eventers"]);
        let members = ["@ev:x", "@alice:x", "@mod:x", "@admin:x"];
        let c = compile(&g, Room::Space, members, &CompileOptions::default());
        assert!(c.lost.is_empty(), "{:?}", c.lost);
        let pl = &c.content;
        let none = Creators::none();
        assert!(pl.allows(MatrixAction::SendState("nexus.scheduled_event"), "@ev:x", &none));
        assert!(!pl.allows(MatrixAction::SendState("nexus.scheduled_event"), "@alice:x", &none));
        assert!(pl.allows(MatrixAction::SendMessage("nexus.scheduled_event.rsvp"), "@alice:x", &none));
        assert!(!pl.allows(MatrixAction::SendState("nexus.role"), "@mod:x", &none));
        assert!(pl.allows(MatrixAction::SendState("nexus.role"), "@admin:x", &none));
        assert!(!pl.allows(MatrixAction::RedactOthers, "@mod:x", &none), "redacting space state is for full managers");
    }

    #[test]
    fn the_owner_holds_every_capability_in_matrix() {
        let g = guild().with_role("vip", 50, P::NONE).with_member("@vip:x", &["vip"]);
        let o = ChannelOverwritesContent::default();
        let c = compile(&g, Room::Channel(&o), ["@vip:x", "@mod:x"], &CompileOptions::default());
        assert!(!c.lost.iter().any(|g| g.user == "@owner:x"));
        assert_eq!(c.content.users["@owner:x"], c.content.users.values().copied().max().unwrap());
    }
}
