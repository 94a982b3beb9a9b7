//! Nexus storage: named, ordered byte maps.
//!
//! Services own their data but not its encoding on disk: they describe keys
//! with [`codec::KeyBuilder`] and address maps through the [`catalog`]. Storage
//! never sees Matrix — it moves bytes in key order, atomically.

pub mod backend;
pub mod bus;
pub mod catalog;
pub mod cluster;
pub mod codec;
mod error;
pub mod redis_channel;
mod store;

pub use backend::open;
pub use bus::{Armed, Bus, Subscription, Subscriptions};
pub use catalog::{CounterDef, MapDef};
pub use cluster::{Cluster, ClusterOptions};
pub use error::{Error, Result};
pub use store::{Direction, Entry, KeyRange, LockGuard, Store, WriteBatch, WriteOp};
