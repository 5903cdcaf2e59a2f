//! [`Storage`] over the real file system.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{Storage, StorageFile};

/// The real file system via `std::fs`.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileStorage;

impl FileStorage {
    /// A handle to the real file system.
    pub fn new() -> Self {
        FileStorage
    }
}

/// fsync a directory so that entries created, renamed or removed in it survive power loss.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => Ok(()),
    }
}

impl Storage for FileStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)?;
        sync_parent(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)?;
        // The rename is the commit point of checkpoint files: make the directory entry durable.
        sync_parent(to)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn StorageFile>> {
        let existed = path.exists();
        let file = OpenOptions::new().read(true).write(true).create(create).open(path)?;
        if !existed {
            sync_parent(path)?;
        }
        let len = file.metadata()?.len();
        Ok(Box::new(OsFile { file, len }))
    }
}

/// An open OS file. Not opened with `O_APPEND` because Linux `pwrite` ignores the offset on
/// such files; the length is tracked here instead (we are the only writer).
struct OsFile {
    file: File,
    len: u64,
}

impl StorageFile for OsFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.len)
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read_at(buf, pos)
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if let Err(e) = self.file.write_all_at(data, self.len) {
            // Drop any partial write so the file ends on a whole append.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += data.len() as u64;
        Ok(())
    }

    fn write_at(&mut self, pos: u64, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, pos)?;
        self.len = self.len.max(pos + data.len() as u64);
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.len = len;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}
