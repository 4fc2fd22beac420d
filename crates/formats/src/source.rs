//! Positioned reads from anything that holds a model file's bytes: a local file
//! ([`FileSource`]) or, in `memcal-remote`, a file behind HTTP range requests. The readers
//! ([`GgufFile::read_from`](crate::gguf::GgufFile::read_from),
//! [`SafeTensorsFile::read_from`](crate::safetensors::SafeTensorsFile::read_from)) take a
//! `&dyn ReadAt`, so one reader serves files and HTTP alike: they ask for a first chunk,
//! then for exactly the rest of the header as far as the format lets them know it.

use crate::error::{Error, Result};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// A source of a file's bytes by offset.
pub trait ReadAt {
    /// The file's full length in bytes.
    fn len(&self) -> u64;

    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end
    /// of the file). Like [`std::os::unix::fs::FileExt::read_at`], a short read is not an
    /// error.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// What errors name: the file's path, or the URL.
    fn name(&self) -> &Path;
}

/// A local file read with positioned reads (no memory map: a file truncated or replaced
/// while it is read is an error, never a SIGBUS).
#[derive(Debug)]
pub struct FileSource {
    file: File,
    len: u64,
    path: PathBuf,
}

impl FileSource {
    /// Opens `path` and takes its length; errors are [`Error::Io`] naming the path.
    pub fn open(path: impl AsRef<Path>) -> Result<FileSource> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(FileSource {
            file,
            len,
            path: path.to_path_buf(),
        })
    }
}

impl ReadAt for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_at(&self.file, buf, offset)
        }
        #[cfg(windows)]
        {
            std::os::windows::fs::FileExt::seek_read(&self.file, buf, offset)
        }
    }

    fn name(&self) -> &Path {
        &self.path
    }
}

/// Appends the bytes `[buf.len(), end)` of `src` to `buf`, stopping early only at the end
/// of the file; returns whether all of them were there. I/O errors are [`Error::Io`]
/// naming the source.
pub fn read_to(src: &dyn ReadAt, buf: &mut Vec<u8>, end: u64) -> Result<bool> {
    let start = buf.len();
    let Ok(end) = usize::try_from(end) else {
        return Err(Error::malformed(
            src.name(),
            format!("a read up to offset {end} does not fit in memory"),
        ));
    };
    if end <= start {
        return Ok(true);
    }
    buf.resize(end, 0);
    let mut got = start;
    while got < end {
        match src.read_at(got as u64, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n.min(end - got),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                buf.truncate(start);
                return Err(Error::Io {
                    path: src.name().to_path_buf(),
                    source,
                });
            }
        }
    }
    buf.truncate(got);
    Ok(got == end)
}
