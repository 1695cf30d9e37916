//! [`MemDirectory`]: an in-memory [`Directory`] for tests, with failure
//! injection (a write budget that tears a write halfway, failing syncs) and
//! crash simulation (drop everything not synced).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{DirLock, Directory, FileBytes, FsError, ReadFile, WriteFile, check_name};

#[derive(Debug, Clone, Default)]
struct MemFile {
    data: Vec<u8>,
    /// Length made durable by the last sync.
    synced: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Files by full name (`sub/dir/name`).
    files: BTreeMap<String, MemFile>,
    /// Subdirectories by full name.
    dirs: BTreeSet<String>,
    /// Held lock files by full name.
    locks: BTreeSet<String>,
    /// Bytes appends may still write before failing; `None` = unlimited.
    write_budget: Option<u64>,
    /// Whether syncs fail.
    fail_sync: bool,
    /// Bytes appends may still write before the simulated process dies.
    crash_budget: Option<u64>,
    /// The simulated process died: every change fails from now on.
    crashed: bool,
}

impl State {
    /// Fails a mutating operation once the simulated process has died.
    fn check_alive(&self, op: &'static str, full: &str) -> Result<(), FsError> {
        if self.crashed {
            return Err(FsError::Injected {
                op,
                path: MemDirectory::path(full),
            });
        }
        Ok(())
    }

    /// How much of an append of `len` bytes gets written, and whether the
    /// append is torn (fails after writing that much).
    fn admit(&mut self, len: usize) -> (usize, bool) {
        let mut fits = len as u64;
        let mut torn = false;
        for budget in [&mut self.write_budget, &mut self.crash_budget]
            .into_iter()
            .flatten()
        {
            if fits > *budget {
                fits = *budget;
                torn = true;
            }
        }
        for budget in [&mut self.write_budget, &mut self.crash_budget]
            .into_iter()
            .flatten()
        {
            *budget -= fits;
        }
        if torn && self.crash_budget == Some(0) {
            self.crashed = true;
        }
        (fits as usize, torn)
    }
}

/// A directory held in memory. Clones share the same files.
///
/// Failure injection: [`MemDirectory::set_write_budget`] lets appends
/// write only so many more bytes; the append that crosses the budget
/// writes the part that fits and fails, exactly like a full disk or a crash
/// in the middle of `write(2)`. [`MemDirectory::set_fail_sync`] makes syncs
/// fail. [`MemDirectory::crash_after`] simulates the process dying in the
/// middle of a write. [`MemDirectory::crash_copy`] returns what a power loss
/// would leave.
///
/// Unlike files on disk, open handles follow names, not inodes: after a
/// rename or removal, a handle to the old name fails with
/// [`FsError::NotFound`].
#[derive(Debug, Clone, Default)]
pub struct MemDirectory {
    state: Arc<Mutex<State>>,
    prefix: String,
}

impl MemDirectory {
    /// An empty directory.
    pub fn new() -> Arc<Self> {
        Arc::new(MemDirectory::default())
    }

    /// Lets appends (in this directory and all its subdirectories) write
    /// `bytes` more bytes in total, then fail; `None` removes the limit.
    pub fn set_write_budget(&self, bytes: Option<u64>) {
        self.state.lock().write_budget = bytes;
    }

    /// Simulates the process dying in the middle of a write: appends may
    /// write `bytes` more bytes; the append that crosses the limit writes the
    /// part that fits, and from then on every change (append, sync, create,
    /// truncate, rename, remove) fails. [`MemDirectory::snapshot`] then gives
    /// the files as the "restarted" process finds them.
    pub fn crash_after(&self, bytes: u64) {
        let mut state = self.state.lock();
        state.crash_budget = Some(bytes);
        state.crashed = false;
    }

    /// Makes file syncs fail (`true`) or succeed.
    pub fn set_fail_sync(&self, fail: bool) {
        self.state.lock().fail_sync = fail;
    }

    /// An independent copy of every file as it is now (no fault injection).
    pub fn snapshot(&self) -> Arc<Self> {
        let state = self.state.lock();
        Arc::new(MemDirectory {
            state: Arc::new(Mutex::new(State {
                files: state.files.clone(),
                dirs: state.dirs.clone(),
                ..State::default()
            })),
            prefix: self.prefix.clone(),
        })
    }

    /// An independent copy in which every file is cut back to the length it
    /// had at its last sync: what a power loss would leave behind.
    pub fn crash_copy(&self) -> Arc<Self> {
        let copy = self.snapshot();
        for file in copy.state.lock().files.values_mut() {
            file.data.truncate(file.synced);
        }
        copy
    }

    fn full(&self, name: &str) -> Result<String, FsError> {
        check_name(name)?;
        Ok(format!("{}{}", self.prefix, name))
    }

    fn path(full: &str) -> PathBuf {
        PathBuf::from(format!("<memory>/{full}"))
    }

    fn not_found(full: &str) -> FsError {
        FsError::NotFound {
            path: Self::path(full),
        }
    }

    fn handle(&self, full: String) -> MemHandle {
        MemHandle {
            state: Arc::clone(&self.state),
            name: full.rsplit('/').next().unwrap_or(&full).to_string(),
            full,
        }
    }
}

impl Directory for MemDirectory {
    fn create(&self, name: &str) -> Result<Box<dyn WriteFile>, FsError> {
        let full = self.full(name)?;
        let mut state = self.state.lock();
        state.check_alive("create", &full)?;
        state.files.insert(full.clone(), MemFile::default());
        drop(state);
        Ok(Box::new(MemWriteFile {
            handle: self.handle(full),
            len: 0,
        }))
    }

    fn open_append(&self, name: &str) -> Result<Box<dyn WriteFile>, FsError> {
        let full = self.full(name)?;
        let len = match self.state.lock().files.get(&full) {
            Some(file) => file.data.len() as u64,
            None => return Err(Self::not_found(&full)),
        };
        Ok(Box::new(MemWriteFile {
            handle: self.handle(full),
            len,
        }))
    }

    fn open_read(&self, name: &str) -> Result<Box<dyn ReadFile>, FsError> {
        let full = self.full(name)?;
        if !self.state.lock().files.contains_key(&full) {
            return Err(Self::not_found(&full));
        }
        Ok(Box::new(self.handle(full)))
    }

    fn map(&self, name: &str) -> Result<FileBytes, FsError> {
        let full = self.full(name)?;
        match self.state.lock().files.get(&full) {
            Some(file) => Ok(FileBytes::from_vec(file.data.clone())),
            None => Err(Self::not_found(&full)),
        }
    }

    fn list(&self) -> Result<Vec<String>, FsError> {
        let state = self.state.lock();
        Ok(state
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(self.prefix.as_str()))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect())
    }

    fn len(&self, name: &str) -> Result<u64, FsError> {
        let full = self.full(name)?;
        match self.state.lock().files.get(&full) {
            Some(file) => Ok(file.data.len() as u64),
            None => Err(Self::not_found(&full)),
        }
    }

    fn exists(&self, name: &str) -> Result<bool, FsError> {
        let full = self.full(name)?;
        Ok(self.state.lock().files.contains_key(&full))
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), FsError> {
        let src = self.full(from)?;
        let dst = self.full(to)?;
        let mut state = self.state.lock();
        state.check_alive("rename", &src)?;
        let file = state
            .files
            .remove(&src)
            .ok_or_else(|| Self::not_found(&src))?;
        state.files.insert(dst, file);
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<(), FsError> {
        let full = self.full(name)?;
        let mut state = self.state.lock();
        state.check_alive("remove", &full)?;
        match state.files.remove(&full) {
            Some(_) => Ok(()),
            None => Err(Self::not_found(&full)),
        }
    }

    fn truncate(&self, name: &str, len: u64) -> Result<(), FsError> {
        let full = self.full(name)?;
        let mut state = self.state.lock();
        state.check_alive("truncate", &full)?;
        let file = state
            .files
            .get_mut(&full)
            .ok_or_else(|| Self::not_found(&full))?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        file.data.resize(len, 0);
        file.synced = file.synced.min(len);
        Ok(())
    }

    fn sync_dir(&self) -> Result<(), FsError> {
        Ok(())
    }

    fn subdir(&self, name: &str) -> Result<Arc<dyn Directory>, FsError> {
        let full = self.full(name)?;
        self.state.lock().dirs.insert(full.clone());
        Ok(Arc::new(MemDirectory {
            state: Arc::clone(&self.state),
            prefix: format!("{full}/"),
        }))
    }

    fn list_dirs(&self) -> Result<Vec<String>, FsError> {
        let state = self.state.lock();
        Ok(state
            .dirs
            .iter()
            .filter_map(|k| k.strip_prefix(self.prefix.as_str()))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect())
    }

    fn rename_dir(&self, from: &str, to: &str) -> Result<(), FsError> {
        let src = self.full(from)?;
        let dst = self.full(to)?;
        let mut state = self.state.lock();
        state.check_alive("rename directory", &src)?;
        if !state.dirs.contains(&src) {
            return Err(Self::not_found(&src));
        }
        let (src_prefix, dst_prefix) = (format!("{src}/"), format!("{dst}/"));
        let moved = |k: &String| {
            if *k == src {
                Some(dst.clone())
            } else {
                k.strip_prefix(&src_prefix)
                    .map(|rest| format!("{dst_prefix}{rest}"))
            }
        };
        let files: Vec<String> = state
            .files
            .keys()
            .filter(|k| moved(k).is_some())
            .cloned()
            .collect();
        for k in files {
            if let (Some(file), Some(new)) = (state.files.remove(&k), moved(&k)) {
                state.files.insert(new, file);
            }
        }
        let dirs: Vec<String> = state
            .dirs
            .iter()
            .filter(|k| moved(k).is_some())
            .cloned()
            .collect();
        for k in dirs {
            state.dirs.remove(&k);
            if let Some(new) = moved(&k) {
                state.dirs.insert(new);
            }
        }
        Ok(())
    }

    fn remove_dir(&self, name: &str) -> Result<(), FsError> {
        let full = self.full(name)?;
        let mut state = self.state.lock();
        state.check_alive("remove directory", &full)?;
        if !state.dirs.remove(&full) {
            return Err(Self::not_found(&full));
        }
        let prefix = format!("{full}/");
        state.files.retain(|k, _| !k.starts_with(&prefix));
        state.dirs.retain(|k| !k.starts_with(&prefix));
        Ok(())
    }

    fn lock(&self, name: &str) -> Result<DirLock, FsError> {
        let full = self.full(name)?;
        let mut state = self.state.lock();
        if !state.locks.insert(full.clone()) {
            return Err(FsError::Locked {
                path: Self::path(&full),
            });
        }
        state.files.entry(full.clone()).or_default();
        Ok(DirLock(Box::new(MemLock {
            state: Arc::clone(&self.state),
            full,
        })))
    }
}

/// Releases a [`MemDirectory`] lock when dropped.
struct MemLock {
    state: Arc<Mutex<State>>,
    full: String,
}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.state.lock().locks.remove(&self.full);
    }
}

/// A reference to one file of a [`MemDirectory`].
#[derive(Debug)]
struct MemHandle {
    state: Arc<Mutex<State>>,
    full: String,
    name: String,
}

#[derive(Debug)]
struct MemWriteFile {
    handle: MemHandle,
    len: u64,
}

impl WriteFile for MemWriteFile {
    fn append(&mut self, buf: &[u8]) -> Result<(), FsError> {
        let mut state = self.handle.state.lock();
        state.check_alive("append", &self.handle.full)?;
        let (fits, torn) = state.admit(buf.len());
        let file = state
            .files
            .get_mut(&self.handle.full)
            .ok_or_else(|| MemDirectory::not_found(&self.handle.full))?;
        file.data.extend_from_slice(&buf[..fits]);
        self.len += fits as u64;
        if torn {
            return Err(FsError::Injected {
                op: "append",
                path: MemDirectory::path(&self.handle.full),
            });
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), FsError> {
        let mut state = self.handle.state.lock();
        state.check_alive("sync", &self.handle.full)?;
        if state.fail_sync {
            return Err(FsError::Injected {
                op: "sync",
                path: MemDirectory::path(&self.handle.full),
            });
        }
        let file = state
            .files
            .get_mut(&self.handle.full)
            .ok_or_else(|| MemDirectory::not_found(&self.handle.full))?;
        file.synced = file.data.len();
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }
}

impl ReadFile for MemHandle {
    fn size(&self) -> Result<u64, FsError> {
        match self.state.lock().files.get(&self.full) {
            Some(file) => Ok(file.data.len() as u64),
            None => Err(MemDirectory::not_found(&self.full)),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        let state = self.state.lock();
        let file = state
            .files
            .get(&self.full)
            .ok_or_else(|| MemDirectory::not_found(&self.full))?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start >= file.data.len() {
            return Ok(0);
        }
        let n = buf.len().min(file.data.len() - start);
        buf[..n].copy_from_slice(&file.data[start..start + n]);
        Ok(n)
    }

    fn name(&self) -> &str {
        &self.name
    }
}
