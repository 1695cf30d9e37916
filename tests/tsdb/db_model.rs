//! Model-based test of `levee::tsdb::Db`: random sequences of appends (new
//! and existing series, stale markers, out-of-order and duplicate samples),
//! commits, rollbacks, head cuts, reopenings (clean, and from what a power
//! loss would leave: every file cut back to its last sync) and queries,
//! checked against a plain map of what was committed.

use std::collections::BTreeMap;
use std::sync::Arc;

use levee::labels::Labels;
use levee::tsdb::db::{Db, Options};
use levee::tsdb::fs::{Directory, MemDirectory};
use levee::tsdb::index::Matcher;
use levee::tsdb::value::stale_nan;
use levee::tsdb::wal::{SyncPolicy, WalOptions};
use proptest::prelude::*;

const SERIES: u32 = 6;
const RANGE: i64 = 10_000;

#[derive(Debug, Clone)]
enum Op {
    Append {
        series: u32,
        t: i64,
        v: f64,
    },
    Commit,
    Rollback,
    Compact,
    Reopen {
        power_loss: bool,
    },
    Query {
        mint: i64,
        maxt: i64,
        odd_only: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..SERIES, 0i64..120_000, prop_oneof![
            4 => (-1e6f64..1e6).boxed(),
            1 => Just(stale_nan()).boxed(),
            1 => Just(f64::INFINITY).boxed(),
        ]).prop_map(|(series, t, v)| Op::Append { series, t, v }),
        4 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        2 => Just(Op::Compact),
        1 => any::<bool>().prop_map(|power_loss| Op::Reopen { power_loss }),
        2 => (0i64..120_000, 0i64..60_000, any::<bool>())
            .prop_map(|(mint, len, odd_only)| Op::Query { mint, maxt: mint + len, odd_only }),
    ]
}

fn labels(i: u32) -> Labels {
    Labels::from_pairs([("__name__", "model"), ("i", &i.to_string())])
}

fn opts() -> Options {
    Options {
        block_range_ms: RANGE,
        retention_ms: None,
        wal: WalOptions {
            segment_size: 2 << 10,
            sync: SyncPolicy::Always,
        },
        chunk_file_size: 4096,
        ..Options::default()
    }
}

#[derive(Default)]
struct Model {
    committed: BTreeMap<u32, BTreeMap<i64, u64>>,
}

impl Model {
    fn last_t(&self, s: u32) -> Option<(i64, u64)> {
        self.committed
            .get(&s)?
            .iter()
            .next_back()
            .map(|(t, v)| (*t, *v))
    }

    fn query(&self, mint: i64, maxt: i64, odd_only: bool) -> Vec<(String, Vec<(i64, u64)>)> {
        let mut out: Vec<_> = self
            .committed
            .iter()
            .filter(|(s, _)| !odd_only || *s % 2 == 1)
            .map(|(s, m)| {
                let samples: Vec<_> = m.range(mint..=maxt).map(|(t, v)| (*t, *v)).collect();
                (labels(*s).to_string(), samples)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        out.sort();
        out
    }
}

fn query(db: &Db, mint: i64, maxt: i64, odd_only: bool) -> Vec<(String, Vec<(i64, u64)>)> {
    let matchers = if odd_only {
        vec![Matcher::regex("i", "1|3|5").expect("regex")]
    } else {
        vec![]
    };
    let mut out: Vec<_> = db
        .querier(mint, maxt)
        .select(&matchers)
        .expect("select")
        .iter()
        .map(|s| {
            let samples = s
                .samples()
                .map(|r| r.map(|(t, v)| (t, v.to_bits())))
                .collect::<Result<Vec<_>, _>>()
                .expect("decode");
            (s.labels().to_string(), samples)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    out.sort();
    out
}

fn run(ops: Vec<Op>) {
    let mut dir = MemDirectory::new();
    let mut db = Some(Db::open_in(Arc::clone(&dir) as Arc<dyn Directory>, opts()).expect("open"));
    let mut model = Model::default();
    let mut pending: Vec<(u32, i64, f64)> = Vec::new();
    for op in ops {
        let d = db.as_ref().expect("open db");
        match op {
            Op::Append { series, t, v } => pending.push((series, t, v)),
            Op::Rollback => {
                let mut app = d.appender();
                for (s, t, v) in pending.drain(..) {
                    app.append(&labels(s), t, v).expect("append");
                }
                app.rollback();
            }
            Op::Commit => {
                let bound = d.head_min_valid_time();
                let mut app = d.appender();
                let (mut ok, mut ooo, mut dup, mut oob) = (0, 0, 0, 0);
                for (s, t, v) in pending.drain(..) {
                    app.append(&labels(s), t, v).expect("append");
                    if t < bound {
                        oob += 1;
                        continue;
                    }
                    match model.last_t(s) {
                        Some((lt, _)) if t < lt => ooo += 1,
                        Some((lt, lv)) if t == lt => {
                            if lv == v.to_bits() {
                                dup += 1
                            } else {
                                ooo += 1
                            }
                        }
                        _ => {
                            ok += 1;
                            model.committed.entry(s).or_default().insert(t, v.to_bits());
                        }
                    }
                }
                let st = app.commit().expect("commit");
                assert_eq!(
                    (
                        st.appended,
                        st.out_of_order,
                        st.duplicates,
                        st.out_of_bounds
                    ),
                    (ok, ooo, dup, oob)
                );
            }
            Op::Compact => {
                d.compact().expect("compact");
            }
            Op::Reopen { power_loss } => {
                drop(db.take());
                if power_loss {
                    dir = dir.crash_copy();
                }
                db = Some(
                    Db::open_in(Arc::clone(&dir) as Arc<dyn Directory>, opts()).expect("reopen"),
                );
            }
            Op::Query {
                mint,
                maxt,
                odd_only,
            } => {
                assert_eq!(
                    query(d, mint, maxt, odd_only),
                    model.query(mint, maxt, odd_only)
                );
            }
        }
    }
    let d = db.as_ref().expect("open db");
    assert_eq!(
        query(d, i64::MIN, i64::MAX, false),
        model.query(i64::MIN, i64::MAX, false)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn db_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops);
    }
}

/// Mostly increasing timestamps, so head cuts happen again and again.
#[test]
fn long_increasing_run_with_cuts_and_power_losses() {
    let mut ops = Vec::new();
    for step in 0..3_000i64 {
        let t = step * 97;
        ops.push(Op::Append {
            series: (step % i64::from(SERIES)) as u32,
            t,
            v: (step as f64).sqrt(),
        });
        if step % 7 == 0 {
            ops.push(Op::Commit);
        }
        if step % 211 == 0 {
            ops.push(Op::Compact);
        }
        if step % 503 == 0 {
            ops.push(Op::Reopen {
                power_loss: step % 2 == 0,
            });
        }
        if step % 97 == 0 {
            ops.push(Op::Query {
                mint: t - 50_000,
                maxt: t,
                odd_only: step % 2 == 0,
            });
        }
    }
    ops.push(Op::Commit);
    run(ops);
}

/// Found by the model: a series removed at a head cut and created again
/// gets a reused id; replay must bind ids to labels in WAL order.
#[test]
fn series_recreated_after_a_cut_survives_reopen() {
    run(vec![
        Op::Append {
            series: 0,
            t: 80239,
            v: 0.0,
        },
        Op::Append {
            series: 1,
            t: 0,
            v: 0.0,
        },
        Op::Append {
            series: 3,
            t: 0,
            v: 0.0,
        },
        Op::Commit,
        Op::Append {
            series: 3,
            t: 10000,
            v: 0.0,
        },
        Op::Compact,
        Op::Append {
            series: 5,
            t: 0,
            v: 0.0,
        },
        Op::Append {
            series: 5,
            t: 10000,
            v: 0.0,
        },
        Op::Commit,
        Op::Query {
            mint: i64::MIN + 1,
            maxt: i64::MAX - 1,
            odd_only: false,
        },
        Op::Reopen { power_loss: false },
    ]);
}
