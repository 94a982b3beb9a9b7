//! Property tests (proptest) of the evaluator and the compiler over random
//! servers: roles with random permission bitfields and positions, members
//! with random role sets and timeouts, an owner who may or may not be a
//! member, and channel overwrites for @everyone, roles and members.
//!
//! The compiler's guarantees (README §9.3) are checked as documented:
//! *soundness* (the power levels never allow what Nexus denies) and
//! *accounting* (everything Nexus allows but the power levels refuse is
//! reported in `lost`) on every layout, and *exactness* (allowed in Matrix
//! if and only if allowed by Nexus) on hierarchy-consistent layouts — in
//! general one integer per user cannot express Discord's roles, which is why
//! exactness is not asserted everywhere.
//!
//! Every generated choice shrinks towards "absent" or "not granted", so a
//! failure is reported as a small server. Set `PROPTEST_CASES` to run more.

use std::collections::BTreeSet;

use nexus_extensions::Capability;
use nexus_extensions::capabilities::{Room, nexus_allows};
use nexus_extensions::compile::{CompileOptions, Compiled, compile};
use nexus_extensions::compute::{base_permissions, channel_permissions, thread_permissions};
use nexus_extensions::events::overwrites::{ChannelOverwritesContent, Overwrite};
use nexus_extensions::guild::Guild;
use nexus_extensions::permissions::Permissions as P;
use nexus_extensions::power_levels::{Creators, PowerLevelsContent};
use proptest::prelude::*;
use proptest::sample::Index;

const NOW: u64 = 1_000;
const USERS: &[&str] = &["@u0:x", "@u1:x", "@u2:x", "@u3:x", "@u4:x", "@u5:x", "@u6:x"];
const ROLE_IDS: &[&str] = &["r0", "r1", "r2", "r3", "r4", "r5"];
/// An owner who holds no `nexus.member` state.
const OUTSIDE_OWNER: &str = "@owner:x";
/// A user who is in no list, standing for anyone not yet in the room.
const STRANGER: &str = "@stranger:x";

/// The bits the capabilities look at, plus a few they ignore.
const INTERESTING: &[P] = &[
    P::VIEW_CHANNEL,
    P::SEND_MESSAGES,
    P::SEND_MESSAGES_IN_THREADS,
    P::READ_MESSAGE_HISTORY,
    P::SEND_POLLS,
    P::MENTION_EVERYONE,
    P::CONNECT,
    P::CREATE_INSTANT_INVITE,
    P::PIN_MESSAGES,
    P::MANAGE_THREADS,
    P::MANAGE_MESSAGES,
    P::KICK_MEMBERS,
    P::BAN_MEMBERS,
    P::MANAGE_CHANNELS,
    P::MANAGE_ROLES,
    P::MANAGE_GUILD,
    P::MANAGE_EVENTS,
    P::MANAGE_GUILD_EXPRESSIONS,
    P::MANAGE_NICKNAMES,
    P::MODERATE_MEMBERS,
    P::ATTACH_FILES,
    P::SPEAK,
];

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// Each interesting flag with probability `p`; shrinks by dropping flags.
fn interesting_flags(p: f64) -> impl Strategy<Value = P> {
    prop::collection::vec(prop::bool::weighted(p), INTERESTING.len())
        .prop_map(|on| INTERESTING.iter().zip(on).filter(|(_, on)| *on).map(|(flag, _)| *flag).collect())
}

/// A role's permission bitfield: mostly interesting flags with probability
/// `p`, sometimes an arbitrary 64-bit field (unknown bits included), and
/// ADMINISTRATOR one time in 25.
fn role_permissions(p: f64) -> impl Strategy<Value = P> {
    let bits = prop_oneof![
        9 => interesting_flags(p),
        1 => any::<u64>().prop_map(|bits| P::from_bits(bits) - P::ADMINISTRATOR),
    ];
    (bits, prop::bool::weighted(0.04)).prop_map(|(bits, admin)| if admin { bits | P::ADMINISTRATOR } else { bits })
}

/// An overwrite; allow and deny may overlap (the evaluator must cope).
fn overwrite() -> impl Strategy<Value = Overwrite> {
    (interesting_flags(0.15), interesting_flags(0.15)).prop_map(|(allow, deny)| Overwrite { allow, deny })
}

/// One of `USERS`, by index.
fn user() -> impl Strategy<Value = &'static str> {
    (0..USERS.len()).prop_map(|i| USERS[i])
}

#[derive(Debug, Clone)]
struct MemberSpec {
    /// Which of `ROLE_IDS` the member lists (absent roles are skipped).
    roles: Vec<bool>,
    /// Also lists a role that does not exist.
    deleted_role: bool,
    /// `Some(true)`: timed out past `NOW`; `Some(false)`: timeout expired.
    timeout: Option<bool>,
}

fn member(role_chance: f64) -> impl Strategy<Value = MemberSpec> {
    (
        prop::collection::vec(prop::bool::weighted(role_chance), ROLE_IDS.len()),
        prop::bool::weighted(0.05),
        prop::option::weighted(0.08, any::<bool>()),
    )
        .prop_map(|(roles, deleted_role, timeout)| MemberSpec { roles, deleted_role, timeout })
}

#[derive(Debug, Clone)]
struct Case {
    guild: Guild,
    overwrites: ChannelOverwritesContent,
    space: bool,
    users: Vec<&'static str>,
    creators: Creators,
}

impl Case {
    fn room(&self) -> Room<'_> {
        if self.space { Room::Space } else { Room::Channel(&self.overwrites) }
    }

    fn compile(&self) -> Compiled {
        let options = CompileOptions { creators: self.creators.clone(), now_ms: NOW };
        compile(&self.guild, self.room(), self.users.iter().copied(), &options)
    }

    /// Everyone the compiler gives a level: the users plus the owner.
    fn subjects(&self) -> BTreeSet<&str> {
        let mut s: BTreeSet<&str> = self.users.iter().copied().collect();
        s.insert(self.guild.owner.as_str());
        s
    }

    /// The users the evaluator is asked about: every candidate member, the
    /// owner and a stranger.
    fn everybody(&self) -> BTreeSet<&str> {
        let mut s: BTreeSet<&str> = USERS.iter().copied().collect();
        s.insert(self.guild.owner.as_str());
        s.insert(STRANGER);
        s
    }
}

/// How the room's creators are chosen.
#[derive(Debug, Clone, Copy)]
enum CreatorsSpec {
    /// Before room version 12: creators are ordinary users.
    Legacy,
    /// Version 12, created by the owner.
    Owner,
    /// Version 12, created by someone who may not be the owner (any more).
    V12(&'static str),
    /// A creator listed but without infinite power.
    Finite(&'static str),
}

fn creators() -> impl Strategy<Value = CreatorsSpec> {
    prop_oneof![
        Just(CreatorsSpec::Legacy),
        Just(CreatorsSpec::Owner),
        user().prop_map(CreatorsSpec::V12),
        user().prop_map(CreatorsSpec::Finite),
    ]
}

fn build_creators(spec: CreatorsSpec, owner: &str) -> Creators {
    match spec {
        CreatorsSpec::Legacy => Creators::none(),
        CreatorsSpec::Owner => Creators::v12([owner]),
        CreatorsSpec::V12(user) => Creators::v12([user]),
        CreatorsSpec::Finite(user) => Creators { users: [user.to_owned()].into(), infinite: false },
    }
}

/// Any server: up to six roles at positions 1–6 (ties included), members
/// holding random subsets of them, and random overwrites.
fn any_case() -> impl Strategy<Value = Case> {
    let owner = prop_oneof![1 => Just(OUTSIDE_OWNER), 4 => user()];
    let roles = prop::collection::vec(prop::option::weighted(0.6, (1..=6u32, role_permissions(0.25))), ROLE_IDS.len());
    let members = prop::collection::vec(prop::option::weighted(0.8, member(0.35)), USERS.len());
    let role_overwrites = prop::collection::vec(prop::option::weighted(0.35, overwrite()), ROLE_IDS.len() + 1);
    let member_overwrites = prop::collection::vec(prop::option::weighted(0.12, overwrite()), USERS.len());
    let in_room = prop::collection::vec(prop::bool::weighted(0.75), USERS.len());
    (
        owner,
        role_permissions(0.45),
        roles,
        members,
        (role_overwrites, member_overwrites),
        in_room,
        creators(),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(owner, everyone, roles, members, (role_ows, member_ows), in_room, creators, space)| {
            let mut guild = Guild::new(owner).with_everyone(everyone);
            for (id, role) in ROLE_IDS.iter().zip(&roles) {
                if let Some((position, permissions)) = role {
                    guild = guild.with_role(id, *position, *permissions);
                }
            }
            for (user, spec) in USERS.iter().zip(members) {
                let Some(spec) = spec else { continue };
                let mut held: Vec<&str> = ROLE_IDS
                    .iter()
                    .zip(&roles)
                    .zip(&spec.roles)
                    .filter(|((_, role), holds)| role.is_some() && **holds)
                    .map(|((id, _), _)| *id)
                    .collect();
                if spec.deleted_role {
                    held.push("deleted-role");
                }
                guild = guild.with_member(user, &held);
                if let Some(running) = spec.timeout {
                    guild.members.get_mut(*user).unwrap().communication_disabled_until =
                        Some(if running { NOW + 1 } else { NOW });
                }
            }
            let mut overwrites = ChannelOverwritesContent::default();
            let role_keys = std::iter::once(("everyone", true))
                .chain(ROLE_IDS.iter().zip(&roles).map(|(id, role)| (*id, role.is_some())));
            for ((id, exists), o) in role_keys.zip(role_ows) {
                if let (true, Some(o)) = (exists, o) {
                    overwrites.roles.insert(id.to_owned(), o);
                }
            }
            for (user, o) in USERS.iter().zip(member_ows) {
                if let Some(o) = o {
                    overwrites.members.insert((*user).to_owned(), o);
                }
            }
            let users = USERS.iter().zip(in_room).filter(|(_, r)| *r).map(|(u, _)| *u).collect();
            let creators = build_creators(creators, owner);
            Case { guild, overwrites, space, users, creators }
        })
}

/// A layout in which a higher rank never holds fewer permissions: each role
/// adds to the ones below it, and only the @everyone overwrite is used.
fn hierarchy_consistent_case() -> impl Strategy<Value = Case> {
    let additions = prop::collection::vec(prop::option::weighted(0.7, role_permissions(0.15)), ROLE_IDS.len());
    let members = prop::collection::vec(prop::collection::vec(prop::bool::weighted(0.4), ROLE_IDS.len()), USERS.len());
    (
        user(),
        interesting_flags(0.4),
        additions,
        members,
        prop::option::weighted(0.5, overwrite()),
        any::<bool>(),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(owner, everyone, additions, members, everyone_overwrite, v12, space)| {
            let mut guild = Guild::new(owner).with_everyone(everyone);
            let mut cumulative = everyone;
            for (i, (id, added)) in ROLE_IDS.iter().zip(&additions).enumerate() {
                if let Some(added) = added {
                    cumulative |= *added;
                    guild = guild.with_role(id, i as u32 + 1, cumulative);
                }
            }
            for (user, holds) in USERS.iter().zip(members) {
                let roles: Vec<&str> = ROLE_IDS
                    .iter()
                    .zip(&additions)
                    .zip(holds)
                    .filter(|((_, added), holds)| added.is_some() && *holds)
                    .map(|((id, _), _)| *id)
                    .collect();
                guild = guild.with_member(user, &roles);
            }
            let mut overwrites = ChannelOverwritesContent::default();
            if let Some(o) = everyone_overwrite {
                overwrites.roles.insert("everyone".into(), o);
            }
            let creators = if v12 { Creators::v12([owner]) } else { Creators::none() };
            Case { guild, overwrites, space, users: USERS.to_vec(), creators }
        })
}

/// Enough swap choices to permute any list these tests shuffle.
fn permutation() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 16)
}

/// Fisher–Yates driven by generated indices (shrinking towards the identity
/// permutation's neighbourhood).
fn permute<T>(items: &mut [T], swaps: &[Index]) {
    for i in (1..items.len()).rev() {
        items.swap(i, swaps[i].index(i + 1));
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// One (actor, capability, field, target) question, answered both ways.
#[derive(Debug)]
struct Question<'a> {
    actor: &'a str,
    capability: Capability,
    target: &'a str,
    nexus: bool,
    matrix: bool,
}

/// Every question about a subject who is not an infinite-power creator,
/// over every field of every capability and every target (a stranger too).
fn questions<'a>(case: &'a Case, compiled: &Compiled) -> Vec<Question<'a>> {
    let room = case.room();
    let mut targets: Vec<&str> = case.subjects().into_iter().collect();
    targets.push(STRANGER);
    let mut out = Vec::new();
    for actor in case.subjects() {
        if case.creators.is_infinite(actor) {
            continue;
        }
        for &capability in room.capabilities() {
            for &target in &targets {
                let nexus = nexus_allows(&case.guild, room, actor, capability, Some(target), NOW);
                for &slot in room.slots(capability) {
                    let action = PowerLevelsContent::action_for(slot, target);
                    let matrix = compiled.content.allows(action, actor, &case.creators);
                    out.push(Question { actor, capability, target, nexus, matrix });
                }
            }
        }
    }
    out
}

/// Kick and ban on a v12 creator are refused by Matrix whatever the levels.
fn untouchable(case: &Case, q: &Question<'_>) -> bool {
    q.capability.is_targeted() && case.creators.is_infinite(q.target)
}

// ---------------------------------------------------------------------------
// The compiler: soundness, accounting, exactness (README §9.3)
// ---------------------------------------------------------------------------

proptest! {
    /// Soundness: the compiled power levels never allow a Matrix action the
    /// evaluator denies.
    #[test]
    fn compiled_power_levels_never_allow_what_nexus_denies(case in any_case()) {
        let compiled = case.compile();
        for q in questions(&case, &compiled) {
            prop_assert!(
                q.nexus || !q.matrix,
                "Matrix allows what Nexus denies: {q:?}\n{:#?}",
                compiled.content
            );
        }
    }

    /// Accounting: exact equality is impossible in general (README §9.3), so
    /// every refusal of an allowed action must be reported in `lost`, and
    /// `lost` must name nothing that Matrix allows or Nexus refuses.
    #[test]
    fn every_refusal_of_an_allowed_action_is_reported_in_lost(case in any_case()) {
        let compiled = case.compile();
        let lost: BTreeSet<(&str, Capability)> =
            compiled.lost.iter().map(|g| (g.user.as_str(), g.capability)).collect();
        for q in questions(&case, &compiled) {
            let reported = lost.contains(&(q.actor, q.capability));
            if q.nexus && !q.matrix {
                prop_assert!(reported || untouchable(&case, &q), "refused but unreported: {q:?}");
            }
            if reported {
                prop_assert!(!q.matrix, "reported lost but allowed: {q:?}");
            }
        }
        for grant in &compiled.lost {
            prop_assert!(
                nexus_allows(&case.guild, case.room(), &grant.user, grant.capability, None, NOW),
                "{grant:?} reported lost but Nexus refuses it too"
            );
        }
    }

    /// Exactness where it is achievable: allowed in Matrix if and only if
    /// allowed by Nexus, with nothing lost or in excess.
    #[test]
    fn hierarchy_consistent_layouts_compile_exactly(case in hierarchy_consistent_case()) {
        let compiled = case.compile();
        prop_assert!(compiled.lost.is_empty(), "lost {:?}", compiled.lost);
        prop_assert!(compiled.excess.is_empty(), "excess {:?}", compiled.excess);
        for q in questions(&case, &compiled) {
            prop_assert!(q.nexus == q.matrix || untouchable(&case, &q), "{q:?}");
        }
    }

    #[test]
    fn excess_only_ever_names_v12_creators(case in any_case()) {
        let compiled = case.compile();
        for grant in &compiled.excess {
            prop_assert!(case.creators.is_infinite(&grant.user), "{grant:?}");
            prop_assert!(
                !nexus_allows(&case.guild, case.room(), &grant.user, grant.capability, None, NOW),
                "{grant:?} is excess but Nexus allows it"
            );
        }
        if case.creators.infinite {
            for creator in &case.creators.users {
                prop_assert!(!compiled.content.users.contains_key(creator), "creator {creator} listed");
            }
        }
    }

    #[test]
    fn compilation_ignores_the_order_of_users(case in any_case(), swaps in permutation()) {
        let mut users = case.users.clone();
        permute(&mut users, &swaps);
        users.extend(case.users.iter().take(2));
        let reordered = Case { users, ..case.clone() };
        prop_assert_eq!(case.compile(), reordered.compile());
    }

    #[test]
    fn compiled_levels_stay_small_and_ordered(case in any_case()) {
        let pl = case.compile().content;
        let all = pl.users.values().chain(pl.events.values()).chain([
            &pl.ban,
            &pl.kick,
            &pl.redact,
            &pl.invite,
            &pl.events_default,
            &pl.state_default,
            &pl.notifications.room,
        ]);
        for level in all {
            prop_assert!(level.abs() < 1_000, "level {level}");
        }
        prop_assert_eq!(pl.users_default, 0);
        prop_assert!(!pl.users.values().any(|l| *l == 0), "redundant zero entry in {:?}", pl.users);
    }
}

// ---------------------------------------------------------------------------
// The evaluator's invariants (README §7)
// ---------------------------------------------------------------------------

proptest! {
    /// The owner has every permission everywhere, loses nothing in the
    /// compiled power levels, sits at the top of them, and Matrix lets them
    /// do everything Nexus does.
    #[test]
    fn the_owner_always_has_everything(case in any_case()) {
        let owner = case.guild.owner.as_str();
        prop_assert_eq!(base_permissions(&case.guild, owner, NOW), P::ALL);
        prop_assert_eq!(channel_permissions(&case.guild, owner, &case.overwrites, NOW), P::ALL);
        prop_assert_eq!(thread_permissions(&case.guild, owner, &case.overwrites, NOW), P::ALL);
        let room = case.room();
        for &capability in room.capabilities() {
            prop_assert!(nexus_allows(&case.guild, room, owner, capability, None, NOW), "{capability:?}");
        }
        let compiled = case.compile();
        prop_assert!(!compiled.lost.iter().any(|g| g.user == owner), "owner lost {:?}", compiled.lost);
        if let Some(level) = compiled.content.users.get(owner) {
            prop_assert!(compiled.content.users.values().all(|l| l <= level), "{:?}", compiled.content.users);
        }
        for q in questions(&case, &compiled).iter().filter(|q| q.actor == owner) {
            prop_assert!(q.matrix || !q.nexus || untouchable(&case, q), "owner refused {q:?}");
        }
    }

    /// ADMINISTRATOR means every permission: overwrites that deny everything
    /// and a running timeout change nothing.
    #[test]
    fn administrator_dominates_overwrites_and_timeouts(
        mut case in any_case(),
        admin in user(),
        position in 1..=6u32,
    ) {
        case.guild = case.guild.with_role("admin-role", position, P::ADMINISTRATOR);
        let member = case.guild.members.entry(admin.to_owned()).or_default();
        member.roles.push("admin-role".into());
        member.communication_disabled_until = Some(NOW + 10);
        let deny_all = Overwrite { allow: P::NONE, deny: P::ALL };
        case.overwrites.members.insert(admin.to_owned(), deny_all);
        case.overwrites.roles.insert("admin-role".into(), deny_all);
        case.overwrites.roles.insert("everyone".into(), deny_all);
        prop_assert_eq!(base_permissions(&case.guild, admin, NOW), P::ALL);
        prop_assert_eq!(channel_permissions(&case.guild, admin, &case.overwrites, NOW), P::ALL);
        prop_assert_eq!(thread_permissions(&case.guild, admin, &case.overwrites, NOW), P::ALL);
    }

    /// Neither the order of a member's roles nor the order in which role
    /// overwrites were written changes anything: the role overwrites are
    /// merged before they are applied.
    #[test]
    fn the_order_of_role_overwrites_never_matters(
        case in any_case(),
        role_swaps in prop::collection::vec(permutation(), USERS.len()),
        entry_swaps in permutation(),
    ) {
        let mut shuffled_guild = case.guild.clone();
        for (member, swaps) in shuffled_guild.members.values_mut().zip(&role_swaps) {
            permute(&mut member.roles, swaps);
        }
        let mut entries: Vec<(String, Overwrite)> =
            case.overwrites.roles.iter().map(|(k, v)| (k.clone(), *v)).collect();
        permute(&mut entries, &entry_swaps);
        let shuffled_overwrites =
            ChannelOverwritesContent { roles: entries.into_iter().collect(), members: case.overwrites.members.clone() };
        for user in case.everybody() {
            prop_assert_eq!(
                channel_permissions(&case.guild, user, &case.overwrites, NOW),
                channel_permissions(&shuffled_guild, user, &shuffled_overwrites, NOW),
                "channel, {}", user
            );
            prop_assert_eq!(
                thread_permissions(&case.guild, user, &case.overwrites, NOW),
                thread_permissions(&shuffled_guild, user, &shuffled_overwrites, NOW),
                "thread, {}", user
            );
        }
        let shuffled = Case { guild: shuffled_guild, overwrites: shuffled_overwrites, ..case.clone() };
        prop_assert_eq!(case.compile(), shuffled.compile());
    }

    /// Role position decides the hierarchy, never how overwrites combine.
    #[test]
    fn role_positions_do_not_change_channel_overwrite_results(
        case in any_case(),
        positions in prop::collection::vec(1..=50u32, ROLE_IDS.len()),
    ) {
        let mut moved = case.guild.clone();
        for (id, position) in ROLE_IDS.iter().zip(positions) {
            if let Some(role) = moved.roles.get_mut(*id) {
                role.position = position;
            }
        }
        for user in case.everybody() {
            prop_assert_eq!(
                channel_permissions(&case.guild, user, &case.overwrites, NOW),
                channel_permissions(&moved, user, &case.overwrites, NOW),
                "{}", user
            );
        }
    }

    /// The evaluator agrees with README §7.2's pseudocode, run here with the
    /// member's roles in reverse order: a role that allows beats a role that
    /// denies, whatever their order or positions.
    #[test]
    fn channel_permissions_follow_the_documented_pseudocode(case in any_case()) {
        let apply = |p: P, o: Option<&Overwrite>| o.map_or(p, |o| (p - o.deny) | o.allow);
        for user in case.everybody() {
            let member = case.guild.member(user);
            let held: Vec<&str> = member
                .into_iter()
                .flat_map(|m| m.roles.iter().rev())
                .map(String::as_str)
                .filter(|id| case.guild.roles.contains_key(*id))
                .collect();
            let mut p = if case.guild.is_owner(user) {
                P::ALL
            } else {
                held.iter().fold(case.guild.everyone_permissions(), |p, id| p | case.guild.roles[*id].permissions)
            };
            if p.contains(P::ADMINISTRATOR) {
                p = P::ALL;
            } else {
                p = apply(p, case.overwrites.roles.get("everyone"));
                let (mut allow, mut deny) = (P::NONE, P::NONE);
                for o in held.iter().filter_map(|id| case.overwrites.roles.get(*id)) {
                    allow |= o.allow;
                    deny |= o.deny;
                }
                p = (p - deny) | allow;
                p = apply(p, case.overwrites.members.get(user));
                if !p.contains(P::VIEW_CHANNEL) {
                    p = P::NONE;
                } else if !p.contains(P::SEND_MESSAGES) {
                    p = p - P::NEEDS_SEND_MESSAGES;
                }
                if member.is_some_and(|m| m.is_timed_out(NOW)) {
                    p &= P::TIMEOUT_KEEPS;
                }
            }
            prop_assert_eq!(channel_permissions(&case.guild, user, &case.overwrites, NOW), p, "{}", user);
        }
    }

    #[test]
    fn implicit_denies_hold_for_every_member(case in any_case()) {
        for user in case.everybody() {
            let timed_out = case.guild.member(user).is_some_and(|m| m.is_timed_out(NOW));
            for (p, posting) in [
                (channel_permissions(&case.guild, user, &case.overwrites, NOW), P::SEND_MESSAGES),
                (thread_permissions(&case.guild, user, &case.overwrites, NOW), P::SEND_MESSAGES_IN_THREADS),
            ] {
                if p.contains(P::ADMINISTRATOR) {
                    continue;
                }
                if !p.contains(P::VIEW_CHANNEL) {
                    prop_assert_eq!(p, P::NONE, "{}", user);
                }
                if !p.contains(posting) {
                    prop_assert!(!p.intersects(P::NEEDS_SEND_MESSAGES), "{user}: {p:?}");
                }
                if timed_out {
                    prop_assert!(P::TIMEOUT_KEEPS.contains(p), "{user}: {p:?}");
                }
            }
        }
    }
}
