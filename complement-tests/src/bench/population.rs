//! The initial-sync population: the SBRC 2026 profile (200 users, 300 rooms,
//! 300 members per room) scaled by `--scale`, built through the API. One
//! user — the one whose syncs are measured — is in every room.

use std::time::Instant;

use anyhow::Result;

use super::Bench;
use super::http::{self, Account};

/// The profile at scale 1.
pub const PROFILE_USERS: f64 = 200.0;
pub const PROFILE_ROOMS: f64 = 300.0;
pub const PROFILE_MEMBERS: f64 = 300.0;
/// Events per room at scale 1; never fewer than [`MIN_EVENTS`] so that the
/// largest timeline limit (20) is always full.
pub const PROFILE_EVENTS: f64 = 300.0;
pub const MIN_EVENTS: usize = 20;

/// The population's dimensions at a scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub users: usize,
    pub rooms: usize,
    pub members_per_room: usize,
    pub events_per_room: usize,
}

impl Shape {
    pub fn at(scale: f64) -> Shape {
        let scaled = |base: f64, min: usize| ((base * scale).round() as usize).max(min);
        let members_per_room = scaled(PROFILE_MEMBERS, 2);
        Shape {
            // Rooms cannot have more members than there are users.
            users: scaled(PROFILE_USERS, 2).max(members_per_room),
            rooms: scaled(PROFILE_ROOMS, 1),
            members_per_room,
            events_per_room: scaled(PROFILE_EVENTS, MIN_EVENTS),
        }
    }
}

/// A built population.
pub struct Population {
    pub shape: Shape,
    /// In every room; the rooms were created by this user.
    pub subject: Account,
    pub rooms: Vec<String>,
    /// Wall time of the setup, and the 429 retries it took.
    pub setup_ms: f64,
    pub setup_retries: u64,
}

impl Population {
    pub async fn build(bench: &Bench) -> Result<Population> {
        let shape = Shape::at(bench.config.scale);
        let started = Instant::now();
        eprintln!(
            "nexus-bench: setting up {} users, {} rooms of {} members and {} events (not measured)",
            shape.users, shape.rooms, shape.members_per_room, shape.events_per_room
        );
        let retries_before = bench.setup.retries();
        let users = bench.users("pop", shape.users).await?;
        let subject = users[0].clone();
        let width = bench.config.setup_parallelism();

        // One room after another: concurrent createRoom calls are not what is
        // measured, and Nexus fails some of them (a 403 "no m.room.join_rules
        // event in current state" when several run at once).
        let mut rooms = Vec::with_capacity(shape.rooms);
        for r in 0..shape.rooms {
            rooms.push(http::create_public_room(&bench.setup, &subject, &format!("bench room {r}")).await?);
        }

        // Room r's other members: the next members_per_room - 1 users after
        // the subject, starting at an offset that shifts with r.
        let others = shape.users - 1;
        let members = |r: usize| -> Vec<Account> {
            (0..shape.members_per_room - 1).map(|k| users[1 + (r + k) % others].clone()).collect()
        };
        let mut joins = Vec::new();
        for (r, room) in rooms.iter().enumerate() {
            for member in members(r) {
                let (http, room) = (bench.setup.clone(), room.clone());
                joins.push(async move { http::join(&http, &member, &room).await });
            }
        }
        http::bounded(width, joins).await?;

        // History: each room's events come from its members in turn (so lazy
        // loading has different senders to load), one room per task, in order.
        let fills: Vec<_> = rooms
            .iter()
            .enumerate()
            .map(|(r, room)| {
                let mut senders = members(r);
                senders.insert(0, subject.clone());
                let txns: Vec<String> = (0..shape.events_per_room).map(|_| bench.txn_id()).collect();
                let (http, room) = (bench.setup.clone(), room.clone());
                async move {
                    for (e, txn) in txns.iter().enumerate() {
                        let sender = &senders[e % senders.len()];
                        http::send_text(&http, sender, &room, txn, &format!("history {e} of room {r}")).await?;
                    }
                    Ok(())
                }
            })
            .collect();
        http::bounded(width, fills).await?;

        eprintln!("nexus-bench: setup took {:.1} s", started.elapsed().as_secs_f64());
        Ok(Population {
            shape,
            subject,
            rooms,
            setup_ms: started.elapsed().as_secs_f64() * 1e3,
            setup_retries: bench.setup.retries() - retries_before,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_scales() {
        assert_eq!(Shape::at(1.0), Shape { users: 300, rooms: 300, members_per_room: 300, events_per_room: 300 });
        assert_eq!(Shape::at(0.05), Shape { users: 15, rooms: 15, members_per_room: 15, events_per_room: 20 });
        assert_eq!(Shape::at(0.001), Shape { users: 2, rooms: 1, members_per_room: 2, events_per_room: 20 });
    }
}
