//! The remote-write position file format (`docs/format/remote_position.md`)
//! read back from a committed fixture. `tests/data/remote/position_v1.pos`
//! was written from the spec alone (a Python script: magic, version 1,
//! segment 7, offset 123456, CRC32C), not by levee, so it checks the
//! reader against the document as well as against older levees.

use levee::remote::wal::{POSITION_VERSION, read_position, write_position};
use levee::tsdb::fs::{Directory, DiskDirectory, MemDirectory};
use levee::tsdb::wal::Position;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/remote");

#[test]
fn version_1_fixture_reads_back() {
    assert_eq!(POSITION_VERSION, 1);
    let dir = DiskDirectory::open(FIXTURE).expect("fixture dir");
    let pos = read_position(&*dir, "position_v1.pos")
        .expect("read fixture")
        .expect("fixture exists");
    assert_eq!(
        pos,
        Position {
            segment: 7,
            offset: 123_456
        }
    );
}

#[test]
fn levee_writes_the_fixture_byte_for_byte() {
    let want = std::fs::read(format!("{FIXTURE}/position_v1.pos")).expect("fixture");
    let dir = MemDirectory::new();
    let p = Position {
        segment: 7,
        offset: 123_456,
    };
    write_position(&*dir, "x.pos", p).expect("write");
    let f = dir.open_read("x.pos").expect("open");
    let mut got = vec![0u8; want.len()];
    f.read_exact_at(0, &mut got).expect("read");
    assert_eq!(f.size().expect("size"), want.len() as u64);
    assert_eq!(got, want);
}
