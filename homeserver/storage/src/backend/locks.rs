//! In-process named locks, shared by both backends (PostgreSQL adds an
//! advisory lock on top for other workers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Name → (its mutex, how many holders and waiters use the entry).
type Registry = Arc<Mutex<HashMap<Vec<u8>, (Arc<AsyncMutex<()>>, usize)>>>;

#[derive(Default)]
pub(crate) struct LocalLocks {
    // An entry is removed when its last guard drops (see `NamedGuard`), so
    // the table holds only names in use. A waiter whose future is dropped
    // before it gets the lock leaves its count behind: the entry then
    // outlives its use, a small leak rather than a wrong answer.
    by_name: Registry,
}

pub(crate) struct NamedGuard {
    name: Vec<u8>,
    registry: Registry,
    guard: Option<OwnedMutexGuard<()>>,
}

impl LocalLocks {
    pub(crate) async fn lock(&self, name: &[u8]) -> NamedGuard {
        let mutex = {
            let mut map = self.by_name.lock().expect("lock registry poisoned");
            let entry = map.entry(name.to_vec()).or_insert_with(|| (Arc::new(AsyncMutex::new(())), 0));
            entry.1 += 1;
            entry.0.clone()
        };
        let guard = mutex.lock_owned().await;
        NamedGuard { name: name.to_vec(), registry: self.by_name.clone(), guard: Some(guard) }
    }
}

impl Drop for NamedGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.registry.lock().expect("lock registry poisoned");
        if let Some(entry) = map.get_mut(&self.name) {
            entry.1 -= 1;
            if entry.1 == 0 {
                map.remove(&self.name);
            }
        }
    }
}
