//! [`SamplePass`]: the sample pass of one scrape. It fetches the body,
//! parses it as it streams in (never holding it whole), checks
//! `body_size_limit` on the decompressed bytes, resolves each sample
//! through the target's series, counts what it keeps against
//! `sample_limit`, and collects the batch; HELP, TYPE and UNIT lines go to
//! the metadata tracker.

use super::error::ScrapeError;
use super::fetch::{BodyStream, FetchRequest, Fetcher};
use super::guarded::GuardedTarget;
use super::metadata::MetadataTracker;
use super::metrics::ScrapeMetrics;
use super::report::ScrapeStats;
use super::series::{Resolved, TargetSeries};
use super::target::Target;
use crate::exposition::{Entry, Format, ParserLimits, Sample as ParsedSample, StreamParser};
use crate::guard::TargetGuard;
use crate::pipeline::Sample;

/// One scrape's pass over its body, borrowing what it fills.
pub(super) struct SamplePass<'a> {
    target: &'a Target,
    series: &'a mut TargetSeries,
    metadata: &'a mut MetadataTracker,
    batch: &'a mut Vec<Sample>,
    stats: &'a mut ScrapeStats,
    metrics: &'a ScrapeMetrics,
}

impl<'a> SamplePass<'a> {
    /// A pass of `target`'s scrape that resolves through `series`, feeds
    /// `metadata` and fills `batch` and `stats`.
    pub(super) fn new(
        target: &'a Target,
        series: &'a mut TargetSeries,
        metadata: &'a mut MetadataTracker,
        batch: &'a mut Vec<Sample>,
        stats: &'a mut ScrapeStats,
        metrics: &'a ScrapeMetrics,
    ) -> Self {
        SamplePass {
            target,
            series,
            metadata,
            batch,
            stats,
            metrics,
        }
    }

    /// Fetches with `fetcher` and runs the pass, every sample stamped
    /// `ts_ms` unless it carries its own timestamp and the job honors it.
    pub(super) async fn run(
        mut self,
        fetcher: &impl Fetcher,
        ts_ms: i64,
    ) -> Result<(), ScrapeError> {
        let request = FetchRequest {
            url: self.target.url.clone(),
            timeout: self.target.timeout,
        };
        let mut body = fetcher.fetch(&request).await?;
        let format = Format::from_content_type(body.content_type());
        let mut parser = StreamParser::new(format, ParserLimits::default());
        let limit = self.target.job.limits.body_size_limit;
        let mut received = 0u64;
        while let Some(chunk) = body.chunk().await? {
            received += chunk.len() as u64;
            if limit > 0 && received > limit {
                return Err(ScrapeError::BodySizeLimit { limit });
            }
            parser.push(&chunk).map_err(ScrapeError::Parse)?;
            self.drain(&mut parser, ts_ms)?;
        }
        parser.finish();
        self.drain(&mut parser, ts_ms)?;
        self.metrics
            .exemplars_skipped
            .with(&[&self.target.job.name])
            .add(parser.exemplars_skipped());
        Ok(())
    }

    fn drain(&mut self, parser: &mut StreamParser, ts_ms: i64) -> Result<(), ScrapeError> {
        // The guard is locked per chunk, not per sample: folded members are
        // merged into it as they are parsed.
        let shared = self.series.guarded().map(GuardedTarget::shared);
        let mut guard = shared.as_ref().map(|g| g.lock());
        while let Some(entry) = parser.next() {
            match entry.map_err(ScrapeError::Parse)? {
                Entry::Sample(s) => self.add_sample(&s, ts_ms, guard.as_deref_mut())?,
                Entry::Help { family, text } => self.metadata.help(family, &text),
                Entry::Type { family, kind } => self.metadata.kind(family, kind),
                Entry::Unit { family, unit } => self.metadata.unit(family, unit),
            }
        }
        Ok(())
    }

    fn add_sample(
        &mut self,
        s: &ParsedSample<'_>,
        ts_ms: i64,
        guard: Option<&mut TargetGuard>,
    ) -> Result<(), ScrapeError> {
        self.stats.scraped += 1;
        match self.series.resolve(s, guard)? {
            Resolved::Forward { labels, new } => {
                if new {
                    self.stats.series_added += 1;
                }
                self.count_kept()?;
                let timestamp_ms = match s.timestamp_ms {
                    Some(t) if self.target.job.honor_timestamps => t,
                    _ => ts_ms,
                };
                self.batch.push(Sample {
                    labels,
                    timestamp_ms,
                    value: s.value,
                });
            }
            Resolved::Merged => self.count_kept()?,
            Resolved::Duplicate => {
                self.metrics.duplicates.with(&[&self.target.job.name]).inc();
            }
            Resolved::Dropped => {}
        }
        Ok(())
    }

    /// Counts a sample kept after relabeling, against `sample_limit`.
    fn count_kept(&mut self) -> Result<(), ScrapeError> {
        self.stats.post_relabel += 1;
        let limit = self.target.job.limits.sample_limit;
        if limit > 0 && self.stats.post_relabel > limit {
            return Err(ScrapeError::SampleLimit { limit });
        }
        Ok(())
    }
}
