//! [`MetadataTracker`]: the HELP/TYPE/UNIT lines of a target's scrapes,
//! handed to the sink (remote write sends them as metric metadata) when
//! they change. Each scrape's lines are hashed as they stream by (no
//! allocation); the lines are collected only on the first scrape and on the
//! scrape after the hash changed, so a target whose metadata is stable costs
//! a hash per line.

use crate::exposition::MetricType;
use crate::pipeline::Metadata;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// Per-target metadata state.
#[derive(Debug)]
pub(crate) struct MetadataTracker {
    collect: bool,
    hash: u64,
    last_hash: Option<u64>,
    items: Vec<Metadata>,
}

impl Default for MetadataTracker {
    fn default() -> Self {
        MetadataTracker {
            collect: true,
            hash: FNV_OFFSET,
            last_hash: None,
            items: Vec::new(),
        }
    }
}

impl MetadataTracker {
    /// Starts a scrape.
    pub fn begin(&mut self) {
        self.hash = FNV_OFFSET;
        self.items.clear();
    }

    fn mix(&mut self, tag: u8, family: &str, text: &str) {
        let mut h = self.hash;
        for b in [tag]
            .iter()
            .chain(family.as_bytes())
            .chain(&[0])
            .chain(text.as_bytes())
        {
            h = (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME);
        }
        self.hash = h;
    }

    fn entry(&mut self, family: &str) -> &mut Metadata {
        let found = self.items.iter().rposition(|m| m.family == family);
        let i = match found {
            Some(i) => i,
            None => {
                self.items.push(Metadata {
                    family: family.to_string(),
                    kind: MetricType::Unknown,
                    help: String::new(),
                    unit: String::new(),
                });
                self.items.len() - 1
            }
        };
        &mut self.items[i]
    }

    /// A `# HELP` line.
    pub fn help(&mut self, family: &str, text: &str) {
        self.mix(b'h', family, text);
        if self.collect {
            self.entry(family).help = text.to_string();
        }
    }

    /// A `# TYPE` line.
    pub fn kind(&mut self, family: &str, kind: MetricType) {
        self.mix(
            b't',
            family,
            kind.as_str(crate::exposition::Format::OpenMetrics),
        );
        if self.collect {
            self.entry(family).kind = kind;
        }
    }

    /// A `# UNIT` line.
    pub fn unit(&mut self, family: &str, unit: &str) {
        self.mix(b'u', family, unit);
        if self.collect {
            self.entry(family).unit = unit.to_string();
        }
    }

    /// Ends a scrape; returns the metadata to hand on when this scrape
    /// collected it. A change seen now is collected (and handed on) at the
    /// next successful scrape.
    pub fn end(&mut self, ok: bool) -> Option<Vec<Metadata>> {
        if !ok {
            return None;
        }
        let out = self.collect.then(|| std::mem::take(&mut self.items));
        self.collect = self.last_hash.is_some_and(|h| h != self.hash);
        self.last_hash = Some(self.hash);
        out.filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(t: &mut MetadataTracker, help: &str) -> Option<Vec<Metadata>> {
        t.begin();
        t.help("m", help);
        t.kind("m", MetricType::Counter);
        t.end(true)
    }

    #[test]
    fn handed_on_first_and_after_a_change() {
        let mut t = MetadataTracker::default();
        let first = scrape(&mut t, "a").expect("first scrape collects");
        assert_eq!(first.len(), 1);
        assert_eq!(
            (first[0].help.as_str(), first[0].kind),
            ("a", MetricType::Counter)
        );
        assert!(scrape(&mut t, "a").is_none());
        assert!(scrape(&mut t, "b").is_none(), "the change is seen here");
        let next = scrape(&mut t, "b").expect("and collected at the next scrape");
        assert_eq!(next[0].help, "b");
        assert!(scrape(&mut t, "b").is_none());
        t.begin();
        assert!(t.end(false).is_none());
    }
}
