//! Service discovery: the providers that find scrape targets
//! (`file_sd_configs`, `kubernetes_sd_configs`, levee's `kubelet_sd_configs`)
//! and the vocabulary they share with the scrape manager.
//!
//! A provider runs as a task and reports [`TargetGroup`]s through a
//! [`GroupSender`]. As in Prometheus, a group is identified by its
//! `source`: a group sent again replaces the earlier one of that source,
//! and a group with no targets removes it. The sender coalesces: groups
//! sent while nobody reads replace each other, so a provider never blocks
//! and a slow reader never holds more than one group per source.

pub mod file;
pub mod kubernetes;
pub mod manager;

use crate::config::SdConfig;
use crate::labels::Labels;
use crate::selfmon::Registry;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// The label every discovered target has: its `host:port`.
pub const ADDRESS_LABEL: &str = "__address__";

/// Targets found together, with the labels they share.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetGroup {
    /// Identifies the group within its provider (a file and index, a pod's
    /// namespace/name, …).
    pub source: String,
    /// One label set per target; each has at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels of every target of the group (a target's own win).
    pub labels: Labels,
}

#[derive(Default)]
struct Pending {
    groups: Mutex<HashMap<String, TargetGroup>>,
    notify: Notify,
}

/// The provider's end: reports changed groups, never blocks.
#[derive(Clone)]
pub struct GroupSender(Arc<Pending>);

/// The reader's end: the groups changed since the last read, one per
/// source.
pub struct GroupReceiver(Arc<Pending>);

/// A connected sender and receiver.
pub fn group_channel() -> (GroupSender, GroupReceiver) {
    let pending = Arc::new(Pending::default());
    (GroupSender(Arc::clone(&pending)), GroupReceiver(pending))
}

impl GroupSender {
    /// Reports `groups`; each replaces what was reported before for its
    /// source (an empty one removes the source's targets).
    pub fn send(&self, groups: impl IntoIterator<Item = TargetGroup>) {
        let mut pending = self.0.groups.lock();
        let mut any = false;
        for g in groups {
            pending.insert(g.source.clone(), g);
            any = true;
        }
        drop(pending);
        if any {
            self.0.notify.notify_one();
        }
    }
}

impl GroupReceiver {
    /// Waits until some group changed, then takes every change.
    pub async fn changed(&mut self) -> Vec<TargetGroup> {
        loop {
            let taken = self.try_take();
            if !taken.is_empty() {
                return taken;
            }
            self.0.notify.notified().await;
        }
    }

    /// Takes the changes reported so far (possibly none).
    pub fn try_take(&mut self) -> Vec<TargetGroup> {
        let mut pending = self.0.groups.lock();
        let mut out: Vec<TargetGroup> = pending.drain().map(|(_, g)| g).collect();
        out.sort_by(|a, b| a.source.cmp(&b.source));
        out
    }
}

/// Starts the provider of `config`, reporting to `out` until the task is
/// aborted (providers hold nothing an abort would leave inconsistent).
pub fn spawn(
    config: &SdConfig,
    out: GroupSender,
    registry: &Registry,
) -> tokio::task::JoinHandle<()> {
    match config {
        SdConfig::File(c) => file::spawn(c.clone(), out, registry),
        SdConfig::Kubernetes(k) => kubernetes::spawn(k, out, registry),
        SdConfig::Kubelet(c) => kubernetes::kubelet::spawn(c.clone(), out, registry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(source: &str, addrs: &[&str]) -> TargetGroup {
        TargetGroup {
            source: source.into(),
            targets: addrs
                .iter()
                .map(|a| Labels::from_pairs([("__address__", *a)]))
                .collect(),
            labels: Labels::default(),
        }
    }

    #[tokio::test]
    async fn a_later_group_of_a_source_replaces_an_unread_one() {
        let (tx, mut rx) = group_channel();
        tx.send([group("a", &["127.0.0.1:1"]), group("b", &["127.0.0.1:2"])]);
        tx.send([group("a", &["127.0.0.1:3"])]);
        let got = rx.changed().await;
        assert_eq!(
            got,
            vec![group("a", &["127.0.0.1:3"]), group("b", &["127.0.0.1:2"])]
        );
        assert!(rx.try_take().is_empty());
    }

    #[tokio::test]
    async fn the_receiver_wakes_for_a_send_from_another_task() {
        let (tx, mut rx) = group_channel();
        let sender = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send([group("x", &[])]);
        });
        let got = rx.changed().await;
        assert_eq!(got, vec![group("x", &[])]);
        sender.await.unwrap();
    }
}
