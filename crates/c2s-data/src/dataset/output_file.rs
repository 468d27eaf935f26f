//! An output file written front to back, its space reserved ahead where
//! that pays, and gathering writes into it.

use std::fs::File;
use std::io::{IoSlice, Write};
use std::path::Path;

use crate::error::{DataError, Result};

/// An output file written front to back. On ext4 its space is reserved
/// ahead in large steps, beyond its end (the rest is let go by `finish`):
/// measured on ext4, writing 43 MB took a fifth less time so, and a
/// conversion's system time fell from 37 to 30 ms. Without it ext4 reserves
/// space page by page as data comes. (On tmpfs reserving made writing
/// slower, as it zeroes the pages first; elsewhere it is not done.)
pub(super) struct OutputFile {
    file: File,
    written: u64,
    // Reserved up to here; `None` where not reserving.
    reserved: Option<u64>,
}

/// Space is reserved this far ahead: 1 MB steps gave most of the gain.
const RESERVE_STEP: u64 = 4 << 20;

impl OutputFile {
    pub(super) fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| DataError::io(path, e))?;
        let reserved = reserves_ahead(&file).then_some(0);
        Ok(OutputFile {
            file,
            written: 0,
            reserved,
        })
    }

    /// Reserves space for `bytes` more bytes, a step at a time.
    fn reserve(&mut self, bytes: usize) {
        let Some(reserved) = self.reserved else {
            return;
        };
        let end = self.written + bytes as u64;
        if end > reserved {
            let step = (end - reserved).max(RESERVE_STEP);
            self.reserved = reserve_space(&self.file, reserved, step).then_some(reserved + step);
        }
    }

    /// Bytes written so far: where the next write lands.
    pub(super) fn written(&self) -> u64 {
        self.written
    }

    /// Lets go of space reserved past the end.
    pub(super) fn finish(self) -> std::io::Result<()> {
        if self.reserved.is_some_and(|r| r > self.written) {
            self.file.set_len(self.written)?;
        }
        Ok(())
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.reserve(buf.len());
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        self.reserve(bufs.iter().map(|b| b.len()).sum());
        let n = self.file.write_vectored(bufs)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Whether reserving ahead pays on the file's file system: ext4 only.
#[cfg(target_os = "linux")]
fn reserves_ahead(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    const EXT4_SUPER_MAGIC: i64 = 0xEF53;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs fills `st` for an open descriptor, or fails.
    if unsafe { libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: filled, as the call succeeded. `f_type`'s integer type
    // differs between targets.
    #[allow(clippy::unnecessary_cast)]
    let fs = unsafe { st.assume_init() }.f_type as i64;
    fs == EXT4_SUPER_MAGIC
}

#[cfg(not(target_os = "linux"))]
fn reserves_ahead(_file: &File) -> bool {
    false
}

/// Reserves `len` bytes from `offset` without changing the file's size.
#[cfg(target_os = "linux")]
fn reserve_space(file: &File, offset: u64, len: u64) -> bool {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return false;
    };
    // SAFETY: a plain system call on an open descriptor.
    unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, len) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn reserve_space(_file: &File, _offset: u64, _len: u64) -> bool {
    false
}

/// Writes every slice with gathering writes: many pieces in one call, so
/// the sentences (most of the bytes) are not copied together first.
pub(super) fn write_all_slices(w: &mut impl Write, slices: &mut [IoSlice]) -> std::io::Result<()> {
    // A writev takes at most IOV_MAX slices (1024 on Linux).
    for mut batch in slices.chunks_mut(1024) {
        while !batch.is_empty() {
            match w.write_vectored(batch) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut batch, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_files_keep_no_reserved_space() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut f = OutputFile::create(&path).unwrap();
        let piece: Vec<u8> = (0..100_003u32).map(|i| (i % 251) as u8).collect();
        let mut expected = Vec::new();
        for k in 0..50 {
            if k % 2 == 0 {
                f.write_all(&piece).unwrap();
                expected.extend_from_slice(&piece);
            } else {
                write_all_slices(&mut f, &mut [IoSlice::new(&piece), IoSlice::new(b"\n")]).unwrap();
                expected.extend_from_slice(&piece);
                expected.push(b'\n');
            }
        }
        f.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        // Space reserved past the end (ext4) is let go.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(&path).unwrap();
            assert!(
                m.blocks() * 512 < m.len() + (64 << 10),
                "{} blocks",
                m.blocks()
            );
        }
    }
}
