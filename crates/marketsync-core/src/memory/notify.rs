//! [`MemoryNotifier`]: notifications collected in memory.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::notify::{Notification, Notifier};

/// Collects notifications in memory, for tests and examples.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    seen: Mutex<Vec<Notification>>,
}

impl MemoryNotifier {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<Notification> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Empties the collector, returning what it held.
    pub fn take(&self) -> Vec<Notification> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn notify(&self, notification: &Notification) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(notification.clone());
    }
}
