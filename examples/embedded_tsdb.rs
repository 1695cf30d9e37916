//! Embedding levee's TSDB in another program: open a database, append
//! samples, query them back, close. Run with
//! `cargo run --example embedded_tsdb [DIR]` (a temporary directory when no
//! DIR is given; run it twice on the same DIR to see the data survive).

use levee::labels::Labels;
use levee::tsdb::db::{Db, Options};
use levee::tsdb::index::Matcher;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let given = std::env::args().nth(1);
    let dir = match &given {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("levee-embedded-{}", std::process::id())),
    };
    let db = Db::open(&dir, Options::default())?;
    println!(
        "opened {} ({} series replayed)",
        dir.display(),
        db.stats().head_series
    );

    // One appender per batch; a commit is one WAL write.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let mut app = db.appender();
    let mut refs = Vec::new();
    for path in ["/", "/login", "/api"] {
        let labels = Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "example"),
            ("path", path),
        ]);
        refs.push(app.append(&labels, now, 1.0)?);
    }
    app.commit()?;
    // Known series go by ref: no label lookup.
    let mut app = db.appender();
    for (i, r) in refs.iter().enumerate() {
        app.append_ref(*r, now + 15_000, 2.0 + i as f64);
    }
    let stats = app.commit()?;
    println!("second commit appended {} samples", stats.appended);

    let querier = db.querier(now - 60_000, now + 60_000);
    let matcher = Matcher::regex("path", "/(login|api)")?;
    for series in querier.select(&[matcher])? {
        let samples: Vec<(i64, f64)> = series.samples().collect::<Result<_, _>>()?;
        println!("{} {:?}", series.labels(), samples);
    }
    println!(
        "label values of path: {:?}",
        querier.label_values("path", &[])?
    );
    db.close()?;
    if given.is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
