//! Property tests of the evaluator and the compiler over random servers.
//!
//! Each property runs a few hundred seeded cases; a failure message carries
//! the seed so the case can be replayed by narrowing `SEEDS`.

mod support;

use std::collections::BTreeSet;

use nexus_extensions::capabilities::{Room, nexus_allows};
use nexus_extensions::compile::{CompileOptions, Compiled, compile};
use nexus_extensions::compute::{base_permissions, channel_permissions, thread_permissions};
use nexus_extensions::events::overwrites::{ChannelOverwritesContent, Overwrite};
use nexus_extensions::guild::Guild;
use nexus_extensions::permissions::Permissions as P;
use nexus_extensions::power_levels::{Creators, PowerLevelsContent};
use support::rng::Rng;

const SEEDS: std::ops::Range<u64> = 0..400;
const NOW: u64 = 1_000;
const USERS: &[&str] = &["@u0:x", "@u1:x", "@u2:x", "@u3:x", "@u4:x", "@u5:x", "@u6:x"];
const ROLE_IDS: &[&str] = &["r0", "r1", "r2", "r3", "r4", "r5"];
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

fn random_perms(rng: &mut Rng, percent: u64) -> P {
    let mut p = INTERESTING.iter().filter(|_| rng.chance(percent)).copied().collect::<P>();
    if rng.chance(4) {
        p |= P::ADMINISTRATOR;
    }
    p
}

fn random_overwrite(rng: &mut Rng) -> Overwrite {
    Overwrite {
        allow: INTERESTING.iter().filter(|_| rng.chance(15)).copied().collect(),
        deny: INTERESTING.iter().filter(|_| rng.chance(15)).copied().collect(),
    }
}

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
}

fn random_case(rng: &mut Rng) -> Case {
    let owner = if rng.chance(20) { "@owner:x" } else { *rng.pick(USERS) };
    let mut guild = Guild::new(owner).with_everyone(random_perms(rng, 45));
    let role_count = rng.below(ROLE_IDS.len() + 1);
    for id in &ROLE_IDS[..role_count] {
        let position = 1 + rng.below(6) as u32;
        guild = guild.with_role(id, position, random_perms(rng, 25));
    }
    for user in USERS {
        if rng.chance(20) {
            continue;
        }
        let mut roles: Vec<&str> = ROLE_IDS[..role_count].iter().filter(|_| rng.chance(35)).copied().collect();
        if rng.chance(5) {
            roles.push("deleted-role");
        }
        guild = guild.with_member(user, &roles);
        if rng.chance(8) {
            guild.members.get_mut(*user).unwrap().communication_disabled_until =
                Some(if rng.chance(50) { NOW + 1 } else { NOW });
        }
    }
    let mut overwrites = ChannelOverwritesContent::default();
    for id in ["everyone"].iter().chain(&ROLE_IDS[..role_count]) {
        if rng.chance(35) {
            overwrites.roles.insert((*id).to_owned(), random_overwrite(rng));
        }
    }
    for user in USERS {
        if rng.chance(12) {
            overwrites.members.insert((*user).to_owned(), random_overwrite(rng));
        }
    }
    let users: Vec<&'static str> = USERS.iter().filter(|_| rng.chance(75)).copied().collect();
    let creators = match rng.below(4) {
        0 => Creators::none(),
        1 => Creators::v12([owner]),
        2 => Creators::v12([*rng.pick(USERS)]),
        _ => Creators { users: [(*rng.pick(USERS)).to_owned()].into(), infinite: false },
    };
    Case { guild, overwrites, space: rng.chance(30), users, creators }
}

/// A layout in which a higher rank never holds fewer permissions: each role
/// adds to the one below, and only the everyone overwrite is used.
fn hierarchy_consistent_case(rng: &mut Rng) -> Case {
    let owner = *rng.pick(USERS);
    let everyone = random_perms(rng, 40) - P::ADMINISTRATOR;
    let mut guild = Guild::new(owner).with_everyone(everyone);
    let role_count = rng.below(ROLE_IDS.len() + 1);
    let mut cumulative = everyone;
    for (i, id) in ROLE_IDS[..role_count].iter().enumerate() {
        cumulative |= random_perms(rng, 15);
        guild = guild.with_role(id, i as u32 + 1, cumulative);
    }
    for user in USERS {
        let roles: Vec<&str> = ROLE_IDS[..role_count].iter().filter(|_| rng.chance(40)).copied().collect();
        guild = guild.with_member(user, &roles);
    }
    let mut overwrites = ChannelOverwritesContent::default();
    if rng.chance(50) {
        overwrites.roles.insert("everyone".into(), random_overwrite(rng));
    }
    let creators = if rng.chance(50) { Creators::v12([owner]) } else { Creators::none() };
    Case { guild, overwrites, space: rng.chance(30), users: USERS.to_vec(), creators }
}

/// Every (actor, capability, field, target) question, answered both ways.
fn for_each_question(
    case: &Case,
    compiled: &Compiled,
    mut check: impl FnMut(&str, nexus_extensions::Capability, &str, bool, bool),
) {
    let room = case.room();
    let mut targets: Vec<&str> = case.subjects().into_iter().collect();
    targets.push(STRANGER);
    for actor in case.subjects() {
        if case.creators.is_infinite(actor) {
            continue;
        }
        for &cap in room.capabilities() {
            for &target in &targets {
                let nexus = nexus_allows(&case.guild, room, actor, cap, Some(target), NOW);
                for &slot in room.slots(cap) {
                    let action = PowerLevelsContent::action_for(slot, target);
                    let matrix = compiled.content.allows(action, actor, &case.creators);
                    check(actor, cap, target, nexus, matrix);
                }
            }
        }
    }
}

#[test]
fn compiled_power_levels_never_allow_what_nexus_denies() {
    for seed in SEEDS {
        let case = random_case(&mut Rng::new(seed));
        let compiled = case.compile();
        for_each_question(&case, &compiled, |actor, cap, target, nexus, matrix| {
            assert!(
                nexus || !matrix,
                "seed {seed}: Matrix lets {actor} {cap:?} on {target}, Nexus does not\n{:#?}",
                compiled.content
            );
        });
    }
}

#[test]
fn every_refusal_of_an_allowed_action_is_reported_in_lost() {
    for seed in SEEDS {
        let case = random_case(&mut Rng::new(seed));
        let compiled = case.compile();
        let lost: BTreeSet<(&str, nexus_extensions::Capability)> =
            compiled.lost.iter().map(|g| (g.user.as_str(), g.capability)).collect();
        for_each_question(&case, &compiled, |actor, cap, target, nexus, matrix| {
            let untouchable = cap.is_targeted() && case.creators.is_infinite(target);
            if nexus && !matrix {
                assert!(
                    lost.contains(&(actor, cap)) || untouchable,
                    "seed {seed}: {actor} may {cap:?} {target} in Nexus, refused unreported"
                );
            }
            if lost.contains(&(actor, cap)) {
                assert!(!matrix, "seed {seed}: {actor} {cap:?} reported lost but allowed");
            }
        });
        let room = case.room();
        for grant in &compiled.lost {
            assert!(
                nexus_allows(&case.guild, room, &grant.user, grant.capability, None, NOW),
                "seed {seed}: {grant:?} reported lost but Nexus refuses it too"
            );
        }
    }
}

#[test]
fn hierarchy_consistent_layouts_compile_exactly() {
    for seed in SEEDS {
        let case = hierarchy_consistent_case(&mut Rng::new(seed));
        let compiled = case.compile();
        assert!(compiled.lost.is_empty(), "seed {seed}: lost {:?}", compiled.lost);
        assert!(compiled.excess.is_empty(), "seed {seed}: excess {:?}", compiled.excess);
        for_each_question(&case, &compiled, |actor, cap, target, nexus, matrix| {
            let untouchable = cap.is_targeted() && case.creators.is_infinite(target);
            assert!(
                nexus == matrix || untouchable,
                "seed {seed}: {actor} {cap:?} on {target}: Nexus {nexus}, Matrix {matrix}"
            );
        });
    }
}

#[test]
fn excess_only_ever_names_v12_creators() {
    for seed in SEEDS {
        let case = random_case(&mut Rng::new(seed));
        let compiled = case.compile();
        for grant in &compiled.excess {
            assert!(case.creators.is_infinite(&grant.user), "seed {seed}: {grant:?}");
            assert!(!nexus_allows(&case.guild, case.room(), &grant.user, grant.capability, None, NOW));
        }
        for creator in &case.creators.users {
            if case.creators.infinite {
                assert!(!compiled.content.users.contains_key(creator), "seed {seed}: creator listed");
            }
        }
    }
}

#[test]
fn the_owner_always_has_everything() {
    for seed in SEEDS {
        let case = random_case(&mut Rng::new(seed));
        let owner = case.guild.owner.clone();
        assert_eq!(base_permissions(&case.guild, &owner, NOW), P::ALL);
        assert_eq!(channel_permissions(&case.guild, &owner, &case.overwrites, NOW), P::ALL);
        assert_eq!(thread_permissions(&case.guild, &owner, &case.overwrites, NOW), P::ALL);
        let compiled = case.compile();
        assert!(!compiled.lost.iter().any(|g| g.user == owner), "seed {seed}: {:?}", compiled.lost);
        if let Some(level) = compiled.content.users.get(&owner) {
            assert!(compiled.content.users.values().all(|l| l <= level), "seed {seed}");
        }
    }
}

#[test]
fn administrator_dominates_overwrites_and_timeouts() {
    for seed in SEEDS {
        let mut rng = Rng::new(seed);
        let mut case = random_case(&mut rng);
        let admin = *rng.pick(USERS);
        case.guild = case.guild.with_role("admin-role", 1 + rng.below(6) as u32, P::ADMINISTRATOR);
        let member = case.guild.members.entry(admin.to_owned()).or_default();
        member.roles.push("admin-role".into());
        member.communication_disabled_until = Some(NOW + 10);
        case.overwrites.members.insert(admin.to_owned(), Overwrite { allow: P::NONE, deny: P::ALL });
        case.overwrites.roles.insert("admin-role".into(), Overwrite { allow: P::NONE, deny: P::ALL });
        assert_eq!(channel_permissions(&case.guild, admin, &case.overwrites, NOW), P::ALL, "seed {seed}");
        assert_eq!(thread_permissions(&case.guild, admin, &case.overwrites, NOW), P::ALL, "seed {seed}");
        assert_eq!(base_permissions(&case.guild, admin, NOW), P::ALL, "seed {seed}");
    }
}

#[test]
fn the_order_of_role_overwrites_never_matters() {
    for seed in SEEDS {
        let mut rng = Rng::new(seed);
        let case = random_case(&mut rng);
        let mut shuffled_guild = case.guild.clone();
        for member in shuffled_guild.members.values_mut() {
            rng.shuffle(&mut member.roles);
        }
        // Rebuild the overwrite maps from a shuffled list of entries.
        let mut entries: Vec<(String, Overwrite)> =
            case.overwrites.roles.iter().map(|(k, v)| (k.clone(), *v)).collect();
        rng.shuffle(&mut entries);
        let shuffled_overwrites =
            ChannelOverwritesContent { roles: entries.into_iter().collect(), members: case.overwrites.members.clone() };
        for user in USERS.iter().chain([&STRANGER]) {
            assert_eq!(
                channel_permissions(&case.guild, user, &case.overwrites, NOW),
                channel_permissions(&shuffled_guild, user, &shuffled_overwrites, NOW),
                "seed {seed} {user}"
            );
        }
    }
}

#[test]
fn role_positions_do_not_change_channel_overwrite_results() {
    for seed in SEEDS {
        let mut rng = Rng::new(seed);
        let case = random_case(&mut rng);
        let mut moved = case.guild.clone();
        for (id, role) in moved.roles.iter_mut() {
            if id != "everyone" {
                role.position = 1 + rng.below(50) as u32;
            }
        }
        for user in USERS {
            assert_eq!(
                channel_permissions(&case.guild, user, &case.overwrites, NOW),
                channel_permissions(&moved, user, &case.overwrites, NOW),
                "seed {seed} {user}"
            );
        }
    }
}

#[test]
fn compilation_ignores_the_order_of_users() {
    for seed in SEEDS {
        let mut rng = Rng::new(seed);
        let case = random_case(&mut rng);
        let mut reordered = Case {
            guild: case.guild.clone(),
            overwrites: case.overwrites.clone(),
            space: case.space,
            users: case.users.clone(),
            creators: case.creators.clone(),
        };
        rng.shuffle(&mut reordered.users);
        reordered.users.extend(case.users.iter().take(2));
        assert_eq!(case.compile(), reordered.compile(), "seed {seed}");
    }
}

#[test]
fn implicit_denies_hold_for_every_member() {
    for seed in SEEDS {
        let case = random_case(&mut Rng::new(seed));
        for user in USERS {
            let p = channel_permissions(&case.guild, user, &case.overwrites, NOW);
            if p.contains(P::ADMINISTRATOR) {
                continue;
            }
            if !p.contains(P::VIEW_CHANNEL) {
                assert_eq!(p, P::NONE, "seed {seed} {user}");
            }
            if !p.contains(P::SEND_MESSAGES) {
                assert!(!p.intersects(P::NEEDS_SEND_MESSAGES), "seed {seed} {user}");
            }
            let timed_out = case.guild.member(user).is_some_and(|m| m.is_timed_out(NOW));
            if timed_out {
                assert!(P::TIMEOUT_KEEPS.contains(p), "seed {seed} {user}");
            }
        }
    }
}

#[test]
fn compiled_levels_stay_small_and_ordered() {
    for seed in SEEDS {
        let case = random_case(&mut Rng::new(seed));
        let pl = case.compile().content;
        let all = pl.users.values().chain(pl.events.values()).chain([
            &pl.ban,
            &pl.kick,
            &pl.redact,
            &pl.invite,
            &pl.events_default,
            &pl.state_default,
        ]);
        for level in all {
            assert!(level.abs() < 1_000, "seed {seed}: {level}");
        }
        assert_eq!(pl.users_default, 0);
        assert!(!pl.users.values().any(|l| *l == 0), "seed {seed}: redundant zero entry");
    }
}
