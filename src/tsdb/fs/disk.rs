//! [`DiskDirectory`]: the [`Directory`] on a real file system (std::fs for
//! writes, positional reads, memmap2 for whole-file maps).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{DirLock, Directory, FileBytes, FsError, ReadFile, WriteFile, check_name};

/// A directory on disk.
#[derive(Debug, Clone)]
pub struct DiskDirectory {
    root: PathBuf,
}

impl DiskDirectory {
    /// Opens the directory at `root`, creating it (and its parents) if
    /// missing.
    pub fn open(root: impl AsRef<Path>) -> Result<Arc<Self>, FsError> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(|e| FsError::io("create directory", root.clone(), e))?;
        Ok(Arc::new(DiskDirectory { root }))
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.root
    }

    fn file(&self, name: &str) -> Result<PathBuf, FsError> {
        check_name(name)?;
        Ok(self.root.join(name))
    }
}

impl Directory for DiskDirectory {
    fn create(&self, name: &str) -> Result<Box<dyn WriteFile>, FsError> {
        let path = self.file(name)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| FsError::io("create", path.clone(), e))?;
        Ok(Box::new(DiskWriteFile { file, path, len: 0 }))
    }

    fn open_append(&self, name: &str) -> Result<Box<dyn WriteFile>, FsError> {
        let path = self.file(name)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| FsError::io("open for append", path.clone(), e))?;
        let len = file
            .metadata()
            .map_err(|e| FsError::io("stat", path.clone(), e))?
            .len();
        Ok(Box::new(DiskWriteFile { file, path, len }))
    }

    fn open_read(&self, name: &str) -> Result<Box<dyn ReadFile>, FsError> {
        let path = self.file(name)?;
        let file = File::open(&path).map_err(|e| FsError::io("open", path.clone(), e))?;
        Ok(Box::new(DiskReadFile {
            file,
            path,
            name: name.to_string(),
        }))
    }

    fn map(&self, name: &str) -> Result<FileBytes, FsError> {
        let path = self.file(name)?;
        let file = File::open(&path).map_err(|e| FsError::io("open", path.clone(), e))?;
        let len = file
            .metadata()
            .map_err(|e| FsError::io("stat", path.clone(), e))?
            .len();
        if len == 0 {
            return Ok(FileBytes::from_vec(Vec::new()));
        }
        // SAFETY: the map is read-only. The TSDB only maps files it no longer
        // writes and never truncates a file while a map of it is alive
        // (documented on `Directory::map`); external modification of the data
        // directory while levee runs is outside what it guarantees.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| FsError::io("mmap", path.clone(), e))?;
        Ok(FileBytes(Arc::new(map)))
    }

    fn list(&self) -> Result<Vec<String>, FsError> {
        let entries =
            fs::read_dir(&self.root).map_err(|e| FsError::io("list", self.root.clone(), e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| FsError::io("list", self.root.clone(), e))?;
            let is_file = entry
                .file_type()
                .map_err(|e| FsError::io("stat", entry.path(), e))?
                .is_file();
            if let (true, Some(name)) = (is_file, entry.file_name().to_str()) {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn len(&self, name: &str) -> Result<u64, FsError> {
        let path = self.file(name)?;
        let meta = fs::metadata(&path).map_err(|e| FsError::io("stat", path.clone(), e))?;
        Ok(meta.len())
    }

    fn exists(&self, name: &str) -> Result<bool, FsError> {
        let path = self.file(name)?;
        match fs::metadata(&path) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(FsError::io("stat", path, e)),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), FsError> {
        let src = self.file(from)?;
        let dst = self.file(to)?;
        fs::rename(&src, &dst).map_err(|e| FsError::io("rename", src, e))
    }

    fn remove(&self, name: &str) -> Result<(), FsError> {
        let path = self.file(name)?;
        fs::remove_file(&path).map_err(|e| FsError::io("remove", path, e))
    }

    fn truncate(&self, name: &str, len: u64) -> Result<(), FsError> {
        let path = self.file(name)?;
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| FsError::io("open for truncate", path.clone(), e))?;
        file.set_len(len)
            .map_err(|e| FsError::io("truncate", path.clone(), e))?;
        file.sync_all().map_err(|e| FsError::io("sync", path, e))
    }

    fn sync_dir(&self) -> Result<(), FsError> {
        let dir = File::open(&self.root).map_err(|e| FsError::io("open", self.root.clone(), e))?;
        dir.sync_all()
            .map_err(|e| FsError::io("sync directory", self.root.clone(), e))
    }

    fn subdir(&self, name: &str) -> Result<Arc<dyn Directory>, FsError> {
        let path = self.file(name)?;
        Ok(DiskDirectory::open(path)?)
    }

    fn list_dirs(&self) -> Result<Vec<String>, FsError> {
        let entries =
            fs::read_dir(&self.root).map_err(|e| FsError::io("list", self.root.clone(), e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| FsError::io("list", self.root.clone(), e))?;
            let is_dir = entry
                .file_type()
                .map_err(|e| FsError::io("stat", entry.path(), e))?
                .is_dir();
            if let (true, Some(name)) = (is_dir, entry.file_name().to_str()) {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn rename_dir(&self, from: &str, to: &str) -> Result<(), FsError> {
        let src = self.file(from)?;
        let dst = self.file(to)?;
        fs::rename(&src, &dst).map_err(|e| FsError::io("rename directory", src, e))
    }

    fn remove_dir(&self, name: &str) -> Result<(), FsError> {
        let path = self.file(name)?;
        fs::remove_dir_all(&path).map_err(|e| FsError::io("remove directory", path, e))
    }

    fn lock(&self, name: &str) -> Result<DirLock, FsError> {
        let path = self.file(name)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| FsError::io("create lock file", path.clone(), e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock(Box::new(file))),
            Err(std::fs::TryLockError::WouldBlock) => Err(FsError::Locked { path }),
            Err(std::fs::TryLockError::Error(e)) => Err(FsError::io("lock", path, e)),
        }
    }
}

#[derive(Debug)]
struct DiskWriteFile {
    file: File,
    path: PathBuf,
    len: u64,
}

impl WriteFile for DiskWriteFile {
    fn append(&mut self, buf: &[u8]) -> Result<(), FsError> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.write(&buf[done..]) {
                Ok(0) => {
                    let e = std::io::Error::from(std::io::ErrorKind::WriteZero);
                    return Err(FsError::io("append", self.path.clone(), e));
                }
                Ok(n) => {
                    done += n;
                    self.len += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FsError::io("append", self.path.clone(), e)),
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), FsError> {
        self.file
            .sync_data()
            .map_err(|e| FsError::io("sync", self.path.clone(), e))
    }

    fn len(&self) -> u64 {
        self.len
    }
}

#[derive(Debug)]
struct DiskReadFile {
    file: File,
    path: PathBuf,
    name: String,
}

impl ReadFile for DiskReadFile {
    fn size(&self) -> Result<u64, FsError> {
        let meta = self
            .file
            .metadata()
            .map_err(|e| FsError::io("stat", self.path.clone(), e))?;
        Ok(meta.len())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        loop {
            match self.file.read_at(buf, offset) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FsError::io("read", self.path.clone(), e)),
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}
