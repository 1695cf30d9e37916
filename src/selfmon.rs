//! levee's own metrics: counters and gauges (optionally with label
//! dimensions) registered in a [`Registry`] and rendered in the Prometheus
//! text format for `/metrics`.
//!
//! Each subsystem owns a small struct of `Arc<Counter>` / `Arc<Family<_>>`
//! fields created from the registry it is handed, so tests get their own
//! registry and never see another test's counts.

use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A value that can be rendered as one sample.
pub trait Metric: Default + Send + Sync + 'static {
    /// `counter` or `gauge`.
    const KIND: &'static str;
    /// The current value.
    fn value(&self) -> f64;
}

/// A monotonically increasing integer count.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Metric for Counter {
    const KIND: &'static str = "counter";
    fn value(&self) -> f64 {
        self.get() as f64
    }
}

/// A monotonically increasing float sum (e.g. seconds spent).
#[derive(Default, Debug)]
pub struct FloatCounter(AtomicU64);

impl FloatCounter {
    /// Adds `v` (ignored when negative or NaN).
    pub fn add(&self, v: f64) {
        if v.is_nan() || v < 0.0 {
            return;
        }
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }
    /// The current sum.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl Metric for FloatCounter {
    const KIND: &'static str = "counter";
    fn value(&self) -> f64 {
        self.get()
    }
}

/// A value that goes up and down.
#[derive(Default, Debug)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    /// Adds `d` (may be negative).
    pub fn add(&self, d: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + d).to_bits())
            });
    }
    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl Metric for Gauge {
    const KIND: &'static str = "gauge";
    fn value(&self) -> f64 {
        self.get()
    }
}

/// A metric with label dimensions: one member per distinct label-value tuple.
pub struct Family<M: Metric> {
    label_names: &'static [&'static str],
    members: RwLock<BTreeMap<Vec<String>, Arc<M>>>,
}

impl<M: Metric> Family<M> {
    fn new(label_names: &'static [&'static str]) -> Self {
        Family {
            label_names,
            members: RwLock::new(BTreeMap::new()),
        }
    }

    /// The member for these label values (created on first use). The
    /// number of values must match the family's label names.
    pub fn with(&self, values: &[&str]) -> Arc<M> {
        debug_assert_eq!(values.len(), self.label_names.len());
        {
            let members = self.members.read();
            if let Some(m) = members.iter().find_map(|(k, m)| {
                (k.len() == values.len() && k.iter().zip(values).all(|(a, b)| a == b)).then_some(m)
            }) {
                return m.clone();
            }
        }
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        self.members.write().entry(key).or_default().clone()
    }

    /// Removes the member for these label values (e.g. a target that went away).
    pub fn remove(&self, values: &[&str]) {
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        self.members.write().remove(&key);
    }

    /// Removes every member whose label values begin with `prefix`.
    pub fn remove_prefix(&self, prefix: &[&str]) {
        self.members
            .write()
            .retain(|k, _| !(k.len() >= prefix.len() && k.iter().zip(prefix).all(|(a, b)| a == b)));
    }

    /// The value of a member, or `None` if it was never created.
    pub fn value_of(&self, values: &[&str]) -> Option<f64> {
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        self.members.read().get(&key).map(|m| m.value())
    }
}

trait Collector: Send + Sync {
    fn encode(&self, out: &mut String);
}

struct Single<M: Metric> {
    name: &'static str,
    help: &'static str,
    metric: Arc<M>,
}

impl<M: Metric> Collector for Single<M> {
    fn encode(&self, out: &mut String) {
        header(out, self.name, self.help, M::KIND);
        let _ = writeln!(out, "{} {}", self.name, format_value(self.metric.value()));
    }
}

struct Labeled<M: Metric> {
    name: &'static str,
    help: &'static str,
    family: Arc<Family<M>>,
}

impl<M: Metric> Collector for Labeled<M> {
    fn encode(&self, out: &mut String) {
        header(out, self.name, self.help, M::KIND);
        for (values, m) in self.family.members.read().iter() {
            out.push_str(self.name);
            out.push('{');
            for (i, (n, v)) in self.family.label_names.iter().zip(values).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(n);
                out.push_str("=\"");
                escape_label_value(out, v);
                out.push('"');
            }
            out.push_str("} ");
            out.push_str(&format_value(m.value()));
            out.push('\n');
        }
    }
}

type ValueFn = Box<dyn Fn() -> f64 + Send + Sync>;

struct Computed {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    read: ValueFn,
}

impl Collector for Computed {
    fn encode(&self, out: &mut String) {
        header(out, self.name, self.help, self.kind);
        let _ = writeln!(out, "{} {}", self.name, format_value((self.read)()));
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Formats a sample value as the text exposition format writes it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// A registered family: its name, how to render it, and the metric (or
/// family) itself, handed to a later registration of the same name.
type Registered = (&'static str, Arc<dyn Collector>, Option<Shared>);

/// A registered metric or family, as a later registration of its name gets it.
type Shared = Arc<dyn std::any::Any + Send + Sync>;

/// The set of self-metrics rendered at `/metrics`.
#[derive(Default, Clone)]
pub struct Registry {
    collectors: Arc<Mutex<Vec<Registered>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&self, name: &'static str, c: Arc<dyn Collector>, shared: Option<Shared>) {
        let mut cs = self.collectors.lock();
        // Registering a name twice keeps the first registration: a subsystem
        // restarted by a reload must not duplicate its families.
        if !cs.iter().any(|(n, _, _)| *n == name) {
            cs.push((name, c, shared));
            cs.sort_by_key(|(n, _, _)| *n);
        }
    }

    /// The metric already registered as `name`, if it is a `T`: a second
    /// registration (a reload, a second provider of one kind) counts into
    /// the first one's metric instead of one nobody renders.
    fn registered<T: Send + Sync + 'static>(&self, name: &str) -> Option<Arc<T>> {
        let cs = self.collectors.lock();
        let (_, _, shared) = cs.iter().find(|(n, _, _)| *n == name)?;
        Arc::clone(shared.as_ref()?).downcast::<T>().ok()
    }

    fn single<M: Metric>(&self, name: &'static str, help: &'static str) -> Arc<M> {
        if let Some(metric) = self.registered::<M>(name) {
            return metric;
        }
        let metric = Arc::new(M::default());
        self.add(
            name,
            Arc::new(Single {
                name,
                help,
                metric: metric.clone(),
            }),
            Some(metric.clone()),
        );
        metric
    }

    fn family<M: Metric>(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<Family<M>> {
        if let Some(family) = self.registered::<Family<M>>(name) {
            return family;
        }
        let family = Arc::new(Family::new(labels));
        self.add(
            name,
            Arc::new(Labeled {
                name,
                help,
                family: family.clone(),
            }),
            Some(family.clone()),
        );
        family
    }

    /// Registers an unlabeled counter.
    pub fn counter(&self, name: &'static str, help: &'static str) -> Arc<Counter> {
        self.single(name, help)
    }

    /// Registers an unlabeled float counter.
    pub fn float_counter(&self, name: &'static str, help: &'static str) -> Arc<FloatCounter> {
        self.single(name, help)
    }

    /// Registers an unlabeled gauge.
    pub fn gauge(&self, name: &'static str, help: &'static str) -> Arc<Gauge> {
        self.single(name, help)
    }

    /// Registers a counter family with the given label names.
    pub fn counter_vec(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<Family<Counter>> {
        self.family(name, help, labels)
    }

    /// Registers a float counter family with the given label names.
    pub fn float_counter_vec(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<Family<FloatCounter>> {
        self.family(name, help, labels)
    }

    /// Registers a gauge family with the given label names.
    pub fn gauge_vec(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<Family<Gauge>> {
        self.family(name, help, labels)
    }

    /// Registers a gauge whose value is computed at render time.
    pub fn gauge_fn(
        &self,
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        self.computed(name, help, "gauge", Box::new(read));
    }

    /// Registers a counter whose value is read at render time from a total
    /// kept elsewhere (which must only grow).
    pub fn counter_fn(
        &self,
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        self.computed(name, help, "counter", Box::new(read));
    }

    fn computed(&self, name: &'static str, help: &'static str, kind: &'static str, read: ValueFn) {
        self.add(
            name,
            Arc::new(Computed {
                name,
                help,
                kind,
                read,
            }),
            None,
        );
    }

    /// Renders every registered metric in the text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        for (_, c, _) in self.collectors.lock().iter() {
            c.encode(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_registered_twice_is_one_family() {
        let reg = Registry::new();
        let a = reg.counter_vec("levee_test_shared_total", "Shared.", &["role"]);
        let b = reg.counter_vec("levee_test_shared_total", "Shared.", &["role"]);
        a.with(&["pod"]).inc();
        b.with(&["pod"]).inc();
        b.with(&["node"]).inc();
        let text = reg.render();
        assert!(
            text.contains("levee_test_shared_total{role=\"pod\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("levee_test_shared_total{role=\"node\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn renders_counters_gauges_and_families() {
        let reg = Registry::new();
        let c = reg.counter("levee_test_total", "A test counter.");
        c.add(3);
        let g = reg.gauge_vec("levee_test_gauge", "A test gauge.", &["job"]);
        g.with(&["a\"b"]).set(1.5);
        reg.gauge_fn("levee_test_fn", "Computed.", || f64::INFINITY);
        let text = reg.render();
        assert!(
            text.contains("# TYPE levee_test_total counter\nlevee_test_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("levee_test_gauge{job=\"a\\\"b\"} 1.5\n"),
            "{text}"
        );
        assert!(text.contains("levee_test_fn +Inf\n"), "{text}");
    }

    #[test]
    fn registering_twice_keeps_one_family() {
        let reg = Registry::new();
        reg.counter("levee_x_total", "x");
        reg.counter("levee_x_total", "x");
        assert_eq!(reg.render().matches("# TYPE levee_x_total").count(), 1);
    }

    #[test]
    fn a_second_registration_counts_into_the_first() {
        let reg = Registry::new();
        reg.counter("levee_x_total", "x").inc();
        reg.counter("levee_x_total", "x").inc();
        reg.gauge_vec("levee_y", "y", &["job"])
            .with(&["a"])
            .set(1.0);
        reg.gauge_vec("levee_y", "y", &["job"])
            .with(&["b"])
            .set(2.0);
        let text = reg.render();
        assert!(text.contains("levee_x_total 2\n"), "{text}");
        assert!(
            text.contains("levee_y{job=\"a\"} 1\nlevee_y{job=\"b\"} 2\n"),
            "{text}"
        );
    }
}
