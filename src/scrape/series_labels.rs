//! The final labels of a series new to a target's scrape cache: the
//! scraped labels, the target's labels (`honor_labels`, or `exported_`
//! renames), metric relabeling, and the label limits.

use super::error::ScrapeError;
use super::job::Limits;
use super::target::Target;
use crate::exposition::Sample as ParsedSample;
use crate::labels::{Labels, LabelsBuilder, METRIC_NAME};

/// The final labels of the scraped series `s` of `target`, built in `b`;
/// `None` when metric relabeling drops it.
pub(super) fn series_labels(
    b: &mut LabelsBuilder,
    s: &ParsedSample<'_>,
    target: &Target,
) -> Result<Option<Labels>, ScrapeError> {
    b.clear();
    for (name, value) in s.labels() {
        b.set(name, &value);
    }
    b.set(METRIC_NAME, s.name);
    merge_target_labels(b, &target.labels, target.job.honor_labels);
    if !target.job.metric_relabel.process(b) {
        return Ok(None);
    }
    check_limits(b, &target.job.limits)?;
    Ok(Some(b.labels()))
}

/// Adds the target's labels to a scraped series. With `honor_labels` the
/// scraped values win; otherwise the target's win and a clashing scraped
/// label is kept as `exported_<name>` (more `exported_` prefixes while that
/// name is taken too).
pub fn merge_target_labels(b: &mut LabelsBuilder, target: &Labels, honor_labels: bool) {
    if honor_labels {
        for l in target {
            if !b.has(l.name) {
                b.set(l.name, l.value);
            }
        }
        return;
    }
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for l in target {
        let existing = b.get(l.name);
        if !existing.is_empty() {
            conflicts.push((l.name.to_string(), existing.to_string()));
        }
        b.set(l.name, l.value);
    }
    for (name, value) in conflicts {
        let mut exported = format!("exported_{name}");
        while b.has(&exported) || target.get(&exported).is_some() {
            exported.insert_str(0, "exported_");
        }
        b.set(&exported, &value);
    }
}

fn check_limits(b: &LabelsBuilder, limits: &Limits) -> Result<(), ScrapeError> {
    if limits.label_limit > 0 && b.len() as u64 > limits.label_limit {
        return Err(ScrapeError::LabelLimit {
            series: b.labels().to_string(),
            got: b.len(),
            limit: limits.label_limit,
        });
    }
    for l in b.iter() {
        if limits.label_name_length_limit > 0
            && l.name.len() as u64 > limits.label_name_length_limit
        {
            return Err(ScrapeError::LabelNameLength {
                name: l.name.chars().take(64).collect(),
                got: l.name.len(),
                limit: limits.label_name_length_limit,
            });
        }
        if limits.label_value_length_limit > 0
            && l.value.len() as u64 > limits.label_value_length_limit
        {
            return Err(ScrapeError::LabelValueLength {
                name: l.name.clone(),
                got: l.value.len(),
                limit: limits.label_value_length_limit,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_prefix_on_conflict() {
        let target = Labels::from_pairs([("job", "node"), ("instance", "h:1")]);
        let mut b = LabelsBuilder::new();
        b.set("__name__", "m");
        b.set("job", "scraped");
        b.set("exported_job", "taken");
        merge_target_labels(&mut b, &target, false);
        assert_eq!(
            b.labels(),
            Labels::from_pairs([
                ("__name__", "m"),
                ("job", "node"),
                ("instance", "h:1"),
                ("exported_job", "taken"),
                ("exported_exported_job", "scraped"),
            ])
        );
    }

    #[test]
    fn honor_labels_keeps_scraped_values() {
        let target = Labels::from_pairs([("job", "node"), ("instance", "h:1")]);
        let mut b = LabelsBuilder::new();
        b.set("__name__", "m");
        b.set("job", "scraped");
        merge_target_labels(&mut b, &target, true);
        assert_eq!(
            b.labels(),
            Labels::from_pairs([("__name__", "m"), ("job", "scraped"), ("instance", "h:1")])
        );
    }
}
