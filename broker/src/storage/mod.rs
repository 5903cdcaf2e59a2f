//! The disk seam: every byte the log engine reads or writes goes through [`Storage`].
//!
//! The broker binary uses [`FileStorage`] (plain `std::fs`); the deterministic simulator uses
//! [`MemoryStorage`], which can lose unflushed bytes on a simulated crash.

mod file;
mod memory;

pub use file::FileStorage;
pub use memory::MemoryStorage;

use std::io;
use std::path::Path;

/// A narrow file-system interface: directories, whole-file operations and open files.
///
/// Directory operations (create, rename, remove) are treated as durable once they return;
/// file contents become durable only after [`StorageFile::sync`].
pub trait Storage: Send + Sync + 'static {
    /// Create `path` and all missing parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries directly inside `path`, sorted.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Remove a directory and everything below it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Remove one file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Atomically rename a file (replacing `to` if it exists) or a directory (to a new name).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// Open a file for reading and writing; with `create`, create it (empty) if missing.
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn StorageFile>>;
}

/// An open file. Appends reach the operating system before returning (no user-space
/// buffering), so a killed process loses nothing; only [`StorageFile::sync`] survives power loss.
pub trait StorageFile: Send + Sync {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Read up to `buf.len()` bytes at `pos`; returns the number read (0 at end of file).
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Fill `buf` from `pos`, failing with `UnexpectedEof` if the file is too short.
    fn read_exact_at(&self, mut pos: u64, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.read_at(pos, buf)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read"));
            }
            pos += n as u64;
            buf = &mut buf[n..];
        }
        Ok(())
    }
    /// Append `data` at the end of the file.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Overwrite (or extend) the file at `pos`.
    fn write_at(&mut self, pos: u64, data: &[u8]) -> io::Result<()>;
    /// Shrink (or extend with zeros) the file to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Make everything written so far durable (fsync).
    fn sync(&mut self) -> io::Result<()>;
}
