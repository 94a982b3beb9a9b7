//! In-process named locks, shared by both backends (PostgreSQL adds an
//! advisory lock on top for other workers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub(crate) struct LocalLocks {
    // Weak entries would need a sweep; instead an entry is removed when the
    // last guard for it drops (see `NamedGuard`).
    by_name: Arc<Mutex<HashMap<Vec<u8>, (Arc<AsyncMutex<()>>, usize)>>>,
}

pub(crate) struct NamedGuard {
    name: Vec<u8>,
    registry: Arc<Mutex<HashMap<Vec<u8>, (Arc<AsyncMutex<()>>, usize)>>>,
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
