//! The generic [`Directory`] test suite, run over [`DiskDirectory`] and
//! [`MemDirectory`] alike.

use std::sync::Arc;

use super::{Directory, DiskDirectory, FsError, MemDirectory};

fn create_append_read(dir: &dyn Directory) {
    let mut f = dir.create("a").unwrap();
    assert_eq!(f.len(), 0);
    f.append(b"hello ").unwrap();
    f.append(b"world").unwrap();
    assert_eq!(f.len(), 11);
    f.sync().unwrap();
    assert_eq!(dir.len("a").unwrap(), 11);
    let r = dir.open_read("a").unwrap();
    let mut buf = [0u8; 5];
    r.read_exact_at(6, &mut buf).unwrap();
    assert_eq!(&buf, b"world");
    assert_eq!(r.read_at(11, &mut buf).unwrap(), 0);
    assert!(matches!(
        r.read_exact_at(8, &mut buf),
        Err(FsError::UnexpectedEof {
            offset: 8,
            wanted: 5,
            got: 3,
            ..
        })
    ));
    // Reads see later appends.
    f.append(b"!").unwrap();
    assert_eq!(r.size().unwrap(), 12);
    assert_eq!(&*dir.map("a").unwrap(), b"hello world!");
}

fn open_append_continues(dir: &dyn Directory) {
    dir.create("b").unwrap().append(b"12").unwrap();
    let mut f = dir.open_append("b").unwrap();
    assert_eq!(f.len(), 2);
    f.append(b"34").unwrap();
    assert_eq!(&*dir.map("b").unwrap(), b"1234");
    // create truncates.
    dir.create("b").unwrap();
    assert_eq!(dir.len("b").unwrap(), 0);
    assert!(dir.map("b").unwrap().is_empty());
}

fn list_rename_remove(dir: &dyn Directory) {
    dir.create("z").unwrap();
    dir.create("m").unwrap().append(b"x").unwrap();
    dir.subdir("sub").unwrap().create("inner").unwrap();
    assert_eq!(dir.list().unwrap(), vec!["m", "z"]);
    dir.rename("m", "z").unwrap();
    assert_eq!(dir.list().unwrap(), vec!["z"]);
    assert_eq!(dir.len("z").unwrap(), 1);
    assert!(dir.exists("z").unwrap());
    dir.remove("z").unwrap();
    assert!(!dir.exists("z").unwrap());
    assert!(dir.list().unwrap().is_empty());
    assert_eq!(dir.subdir("sub").unwrap().list().unwrap(), vec!["inner"]);
    dir.sync_dir().unwrap();
}

fn truncate(dir: &dyn Directory) {
    dir.create("t").unwrap().append(b"abcdef").unwrap();
    dir.truncate("t", 2).unwrap();
    assert_eq!(&*dir.map("t").unwrap(), b"ab");
    let mut f = dir.open_append("t").unwrap();
    f.append(b"Z").unwrap();
    assert_eq!(&*dir.map("t").unwrap(), b"abZ");
}

fn missing_files_and_bad_names(dir: &dyn Directory) {
    assert!(matches!(
        dir.open_read("nope"),
        Err(FsError::NotFound { .. })
    ));
    assert!(matches!(
        dir.open_append("nope"),
        Err(FsError::NotFound { .. })
    ));
    assert!(matches!(dir.map("nope"), Err(FsError::NotFound { .. })));
    assert!(matches!(dir.remove("nope"), Err(FsError::NotFound { .. })));
    assert!(matches!(dir.len("nope"), Err(FsError::NotFound { .. })));
    assert!(matches!(
        dir.rename("nope", "x"),
        Err(FsError::NotFound { .. })
    ));
    for bad in ["", ".", "..", "a/b", "a\0"] {
        assert!(
            matches!(dir.create(bad), Err(FsError::InvalidName { .. })),
            "{bad:?}"
        );
    }
}

fn lock_is_exclusive(dir: &dyn Directory) {
    let held = dir.lock("lock").unwrap();
    assert!(matches!(dir.lock("lock"), Err(FsError::Locked { .. })));
    assert!(dir.exists("lock").unwrap());
    drop(held);
    let again = dir.lock("lock").unwrap();
    drop(again);
}

fn subdirectories(dir: &dyn Directory) {
    let sub = dir.subdir("a.tmp").unwrap();
    sub.create("f").unwrap().append(b"in sub").unwrap();
    sub.subdir("deeper").unwrap().create("g").unwrap();
    dir.subdir("b").unwrap();
    dir.create("file").unwrap();
    assert_eq!(dir.list_dirs().unwrap(), vec!["a.tmp", "b"]);
    dir.rename_dir("a.tmp", "a").unwrap();
    assert_eq!(dir.list_dirs().unwrap(), vec!["a", "b"]);
    let a = dir.subdir("a").unwrap();
    assert_eq!(&*a.map("f").unwrap(), b"in sub");
    assert_eq!(a.subdir("deeper").unwrap().list().unwrap(), vec!["g"]);
    dir.remove_dir("a").unwrap();
    assert_eq!(dir.list_dirs().unwrap(), vec!["b"]);
    assert_eq!(dir.list().unwrap(), vec!["file"]);
    assert!(matches!(dir.remove_dir("a"), Err(FsError::NotFound { .. })));
    assert!(matches!(
        dir.rename_dir("a", "c"),
        Err(FsError::NotFound { .. })
    ));
}

fn run(make: impl Fn() -> Arc<dyn Directory>) {
    subdirectories(&*make());
    lock_is_exclusive(&*make());
    create_append_read(&*make());
    open_append_continues(&*make());
    list_rename_remove(&*make());
    truncate(&*make());
    missing_files_and_bad_names(&*make());
}

#[test]
fn suite_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let counter = std::cell::Cell::new(0);
    run(|| {
        counter.set(counter.get() + 1);
        DiskDirectory::open(tmp.path().join(counter.get().to_string())).unwrap()
    });
}

#[test]
fn suite_in_memory() {
    run(|| MemDirectory::new());
}

#[test]
fn memory_write_budget_tears_a_write() {
    let dir = MemDirectory::new();
    let mut f = dir.create("f").unwrap();
    dir.set_write_budget(Some(5));
    f.append(b"abc").unwrap();
    assert!(matches!(f.append(b"defg"), Err(FsError::Injected { .. })));
    assert_eq!(&*dir.map("f").unwrap(), b"abcde");
    assert!(f.append(b"x").is_err());
    dir.set_write_budget(None);
    f.append(b"x").unwrap();
    assert_eq!(&*dir.map("f").unwrap(), b"abcdex");
}

#[test]
fn memory_crash_copy_keeps_only_synced_bytes() {
    let dir = MemDirectory::new();
    let mut f = dir.create("f").unwrap();
    f.append(b"durable").unwrap();
    f.sync().unwrap();
    f.append(b" lost").unwrap();
    dir.set_fail_sync(true);
    assert!(matches!(
        f.sync(),
        Err(FsError::Injected { op: "sync", .. })
    ));
    let crashed = dir.crash_copy();
    assert_eq!(&*crashed.map("f").unwrap(), b"durable");
    assert_eq!(&*dir.map("f").unwrap(), b"durable lost");
}

#[test]
fn memory_crash_after_freezes_the_directory() {
    let dir = MemDirectory::new();
    let mut f = dir.create("f").unwrap();
    dir.crash_after(4);
    f.append(b"ab").unwrap();
    assert!(matches!(
        f.append(b"cdef"),
        Err(FsError::Injected { op: "append", .. })
    ));
    assert!(matches!(
        dir.truncate("f", 0),
        Err(FsError::Injected { op: "truncate", .. })
    ));
    assert!(matches!(
        dir.create("g"),
        Err(FsError::Injected { op: "create", .. })
    ));
    assert!(matches!(
        f.sync(),
        Err(FsError::Injected { op: "sync", .. })
    ));
    let restarted = dir.snapshot();
    assert_eq!(&*restarted.map("f").unwrap(), b"abcd");
    restarted.truncate("f", 1).unwrap();
}
