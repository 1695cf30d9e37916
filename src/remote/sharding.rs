//! The rule that sizes an endpoint's shard count from its backlog.
//!
//! Every [`RESHARD_INTERVAL`] the dispatcher measures how fast samples
//! arrive, how many are waiting and how long one request takes, and asks
//! [`desired_shards`] how many concurrent senders would keep up with the
//! arrivals and drain the backlog within [`CATCH_UP`].

use std::time::Duration;

/// How often the shard count is reconsidered.
pub const RESHARD_INTERVAL: Duration = Duration::from_secs(10);

/// The backlog should drain within this time.
pub const CATCH_UP: Duration = Duration::from_secs(10);

/// A change smaller than this fraction of the current count is ignored, so
/// the count does not flap around a boundary (Prometheus uses the same 30%).
pub const TOLERANCE: f64 = 0.3;

/// What the rule looks at.
#[derive(Clone, Copy, Debug)]
pub struct ShardInputs {
    /// Shards running now.
    pub current: usize,
    /// Configured bounds.
    pub min: usize,
    /// Configured bounds.
    pub max: usize,
    /// Samples appended per second over the last interval.
    pub incoming_per_sec: f64,
    /// Samples held (waiting, batched, in flight).
    pub backlog: usize,
    /// Mean duration of one successful request over the last interval;
    /// `None` when nothing was sent.
    pub mean_send: Option<Duration>,
    /// Most samples in one request.
    pub max_samples_per_send: usize,
    /// A request failed with a retryable error during the last interval.
    pub failing: bool,
}

/// The shard count for the next interval:
///
/// `needed = incoming/s + backlog / CATCH_UP`, one shard moves
/// `max_samples_per_send / mean_send` samples per second, so
/// `desired = ceil(needed / per_shard)`, clamped to `min..=max`. The count
/// stays put while the receiver fails (more senders would only hammer an
/// outage), when nothing was sent to measure by, and when the change is
/// within [`TOLERANCE`].
pub fn desired_shards(i: ShardInputs) -> usize {
    let clamp = |n: usize| n.clamp(i.min.max(1), i.max.max(i.min.max(1)));
    let Some(mean) = i.mean_send else {
        return clamp(i.current);
    };
    if i.failing {
        return clamp(i.current);
    }
    let per_shard = i.max_samples_per_send as f64 / mean.as_secs_f64().max(1e-3);
    let needed = i.incoming_per_sec + i.backlog as f64 / CATCH_UP.as_secs_f64();
    let desired = (needed / per_shard).ceil().max(1.0) as usize;
    let cur = i.current as f64;
    if (desired as f64) > cur * (1.0 - TOLERANCE) && (desired as f64) < cur * (1.0 + TOLERANCE) {
        return clamp(i.current);
    }
    clamp(desired)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> ShardInputs {
        ShardInputs {
            current: 4,
            min: 1,
            max: 50,
            incoming_per_sec: 0.0,
            backlog: 0,
            mean_send: Some(Duration::from_millis(100)),
            max_samples_per_send: 500,
            failing: false,
        }
    }

    #[test]
    fn scales_with_arrivals_and_backlog() {
        // One shard moves 5000 samples/s.
        let i = ShardInputs {
            incoming_per_sec: 20_000.0,
            ..inputs()
        };
        assert_eq!(desired_shards(i), 4);
        let i = ShardInputs {
            incoming_per_sec: 40_000.0,
            ..inputs()
        };
        assert_eq!(desired_shards(i), 8);
        // 1M backlog drains in 10 s: 100k/s, 20 shards.
        let i = ShardInputs {
            backlog: 1_000_000,
            ..inputs()
        };
        assert_eq!(desired_shards(i), 20);
        // Idle: down to the minimum.
        assert_eq!(desired_shards(inputs()), 1);
    }

    #[test]
    fn clamps_and_holds() {
        let i = ShardInputs {
            backlog: 100_000_000,
            ..inputs()
        };
        assert_eq!(desired_shards(i), 50);
        let i = ShardInputs {
            backlog: 100_000_000,
            failing: true,
            ..inputs()
        };
        assert_eq!(desired_shards(i), 4, "no scale-up into an outage");
        let i = ShardInputs {
            mean_send: None,
            ..inputs()
        };
        assert_eq!(desired_shards(i), 4, "nothing measured");
        // 4 -> 5 is within 30%: hold.
        let i = ShardInputs {
            incoming_per_sec: 24_000.0,
            ..inputs()
        };
        assert_eq!(desired_shards(i), 4);
        let i = ShardInputs {
            current: 1,
            min: 3,
            max: 2,
            ..inputs()
        };
        assert_eq!(desired_shards(i), 3, "min wins over a smaller max");
    }
}
