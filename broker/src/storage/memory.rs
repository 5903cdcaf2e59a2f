//! [`Storage`] in memory, for the deterministic simulator: it remembers which bytes were
//! synced so that [`MemoryStorage::crash`] can model power loss.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Storage, StorageFile};

#[derive(Debug, Default, Clone)]
struct MemFileData {
    /// What a reader sees now (the "page cache").
    data: Vec<u8>,
    /// What survives a crash: the content as of the last `sync`.
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inner {
    dirs: BTreeSet<PathBuf>,
    files: BTreeMap<PathBuf, MemFileData>,
    capacity_bytes: Option<u64>,
}

impl Inner {
    fn used_bytes(&self) -> u64 {
        self.files.values().map(|f| f.data.len() as u64).sum()
    }

    fn check_capacity(&self, growth: u64) -> io::Result<()> {
        match self.capacity_bytes {
            Some(cap) if self.used_bytes() + growth > cap => {
                Err(io::Error::new(io::ErrorKind::StorageFull, "simulated disk full"))
            }
            _ => Ok(()),
        }
    }

    fn file_mut(&mut self, path: &Path) -> io::Result<&mut MemFileData> {
        self.files.get_mut(path).ok_or_else(|| not_found(path))
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display()))
}

/// An in-memory disk. Cloning yields another handle to the same disk.
///
/// Directory operations are durable immediately; file contents are durable after
/// [`StorageFile::sync`]. Open file handles refer to their file by path, so a handle to a file
/// that was renamed or removed fails with `NotFound`.
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStorage {
    /// An empty disk with unlimited capacity.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters to a simulation, so recover from poisoning.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Limit the total bytes of all files; appends and writes beyond it fail with
    /// `ErrorKind::StorageFull` (nothing is written). `None` removes the limit.
    pub fn set_capacity_bytes(&self, capacity: Option<u64>) {
        self.lock().capacity_bytes = capacity;
    }

    /// Simulate power loss: every file reverts to its content as of its last sync.
    pub fn crash(&self) {
        self.crash_with(|_, _| 0);
    }

    /// Simulate power loss keeping a prefix of each file's unflushed tail, to model torn
    /// writes: `keep(path, unflushed_len)` returns how many unflushed bytes survive (clamped).
    /// Only a pure append since the last sync can be partially kept; any other change
    /// (overwrite, truncation) reverts to the durable content.
    pub fn crash_with(&self, mut keep: impl FnMut(&Path, u64) -> u64) {
        let mut inner = self.lock();
        for (path, file) in inner.files.iter_mut() {
            let durable_len = file.durable.len();
            let appended_only =
                file.data.len() > durable_len && file.data[..durable_len] == file.durable[..];
            if appended_only {
                let unflushed = (file.data.len() - durable_len) as u64;
                let kept = keep(path, unflushed).min(unflushed) as usize;
                file.data.truncate(durable_len + kept);
                file.durable = file.data.clone();
            } else {
                file.data = file.durable.clone();
            }
        }
    }

    /// Bytes a reader would see in `path` now (for tests and fault injection).
    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.lock().files.get(path).map(|f| f.data.clone()).ok_or_else(|| not_found(path))
    }

    /// Replace the current (unsynced) content of `path`, e.g. to inject corruption.
    pub fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.lock().file_mut(path)?.data = data.to_vec();
        Ok(())
    }
}

impl Storage for MemoryStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        for ancestor in path.ancestors() {
            if !ancestor.as_os_str().is_empty() {
                inner.dirs.insert(ancestor.to_path_buf());
            }
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let inner = self.lock();
        if !inner.dirs.contains(path) {
            return Err(not_found(path));
        }
        let child_name = |p: &PathBuf| {
            (p.parent() == Some(path))
                .then(|| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .flatten()
        };
        // Paths order component-wise, so a directory's descendants follow it contiguously:
        // scan only those rather than the whole disk.
        let under = |p: &&PathBuf| p.starts_with(path);
        let mut names: Vec<String> = inner
            .dirs
            .range(path.to_path_buf()..)
            .take_while(under)
            .filter_map(child_name)
            .collect();
        names.extend(
            inner
                .files
                .range(path.to_path_buf()..)
                .map(|(p, _)| p)
                .take_while(under)
                .filter_map(child_name),
        );
        names.sort();
        Ok(names)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        if !inner.dirs.contains(path) {
            return Err(not_found(path));
        }
        inner.dirs.retain(|d| !d.starts_with(path));
        inner.files.retain(|f, _| !f.starts_with(path));
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.lock().files.remove(path).map(|_| ()).ok_or_else(|| not_found(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        if inner.dirs.contains(from) {
            // A directory moves with everything below it (a partition set aside or deleted).
            let moved = |p: &PathBuf| to.join(p.strip_prefix(from).expect("under `from`"));
            let dirs: Vec<PathBuf> =
                inner.dirs.iter().filter(|d| d.starts_with(from)).cloned().collect();
            for d in dirs {
                inner.dirs.remove(&d);
                inner.dirs.insert(moved(&d));
            }
            let files: Vec<PathBuf> =
                inner.files.keys().filter(|f| f.starts_with(from)).cloned().collect();
            for f in files {
                let data = inner.files.remove(&f).expect("listed");
                inner.files.insert(moved(&f), data);
            }
            return Ok(());
        }
        let file = inner.files.remove(from).ok_or_else(|| not_found(from))?;
        inner.files.insert(to.to_path_buf(), file);
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let inner = self.lock();
        inner.dirs.contains(path) || inner.files.contains_key(path)
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn StorageFile>> {
        let mut inner = self.lock();
        if !inner.files.contains_key(path) {
            let parent_exists = path.parent().is_none_or(|p| inner.dirs.contains(p));
            if !create || !parent_exists {
                return Err(not_found(path));
            }
            inner.files.insert(path.to_path_buf(), MemFileData::default());
        }
        Ok(Box::new(MemFile { inner: Arc::clone(&self.inner), path: path.to_path_buf() }))
    }
}

struct MemFile {
    inner: Arc<Mutex<Inner>>,
    path: PathBuf,
}

impl MemFile {
    fn with<T>(&self, f: impl FnOnce(&mut Inner, &Path) -> io::Result<T>) -> io::Result<T> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner, &self.path)
    }
}

impl StorageFile for MemFile {
    fn len(&self) -> io::Result<u64> {
        self.with(|inner, path| Ok(inner.file_mut(path)?.data.len() as u64))
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.with(|inner, path| {
            let data = &inner.file_mut(path)?.data;
            let start = (pos as usize).min(data.len());
            let n = buf.len().min(data.len() - start);
            buf[..n].copy_from_slice(&data[start..start + n]);
            Ok(n)
        })
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.with(|inner, path| {
            inner.file_mut(path)?;
            inner.check_capacity(bytes.len() as u64)?;
            inner.file_mut(path)?.data.extend_from_slice(bytes);
            Ok(())
        })
    }

    fn write_at(&mut self, pos: u64, bytes: &[u8]) -> io::Result<()> {
        self.with(|inner, path| {
            let cur = inner.file_mut(path)?.data.len() as u64;
            let end = pos + bytes.len() as u64;
            inner.check_capacity(end.saturating_sub(cur))?;
            let data = &mut inner.file_mut(path)?.data;
            if (data.len() as u64) < end {
                data.resize(end as usize, 0);
            }
            data[pos as usize..end as usize].copy_from_slice(bytes);
            Ok(())
        })
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.with(|inner, path| {
            let cur = inner.file_mut(path)?.data.len() as u64;
            inner.check_capacity(len.saturating_sub(cur))?;
            inner.file_mut(path)?.data.resize(len as usize, 0);
            Ok(())
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        self.with(|inner, path| {
            let file = inner.file_mut(path)?;
            file.durable = file.data.clone();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_keeps_only_synced_bytes_or_a_chosen_prefix() {
        let s = MemoryStorage::new();
        s.create_dir_all(Path::new("/d")).unwrap();
        let mut f = s.open(Path::new("/d/a"), true).unwrap();
        f.append(b"hello").unwrap();
        f.sync().unwrap();
        f.append(b" world").unwrap();
        assert_eq!(f.len().unwrap(), 11);
        s.crash();
        assert_eq!(s.read_file(Path::new("/d/a")).unwrap(), b"hello");
        f.append(b" world").unwrap();
        s.crash_with(|_, unflushed| {
            assert_eq!(unflushed, 6);
            3
        });
        assert_eq!(s.read_file(Path::new("/d/a")).unwrap(), b"hello wo");
        assert_eq!(s.list_dir(Path::new("/d")).unwrap(), vec!["a".to_string()]);
        assert_eq!(s.list_dir(Path::new("/")).unwrap(), vec!["d".to_string()]);
    }

    #[test]
    fn capacity_limit_fails_appends_without_writing() {
        let s = MemoryStorage::new();
        s.create_dir_all(Path::new("/d")).unwrap();
        let mut f = s.open(Path::new("/d/a"), true).unwrap();
        s.set_capacity_bytes(Some(4));
        f.append(b"abc").unwrap();
        let err = f.append(b"de").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(f.len().unwrap(), 3);
    }
}
