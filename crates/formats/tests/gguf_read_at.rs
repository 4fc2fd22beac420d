//! The GGUF and SafeTensors readers over a positioned-read source: the same answer as
//! from the file, and as few reads as the format allows (a first chunk, then the rest of
//! the header as the parse measures it), each byte read once.

mod support;

use memcal_formats::gguf::reader::INITIAL_HEADER_READ;
use memcal_formats::gguf::GgufFile;
use memcal_formats::safetensors::SafeTensorsFile;
use memcal_formats::ReadAt;
use std::cell::Cell;
use std::path::{Path, PathBuf};

/// A file held in memory up to `bytes` (zeros after, up to `len`), counting reads.
struct Counted {
    bytes: Vec<u8>,
    len: u64,
    name: PathBuf,
    reads: Cell<u32>,
    read_bytes: Cell<u64>,
    /// The furthest offset read.
    furthest: Cell<u64>,
}

impl Counted {
    fn new(bytes: Vec<u8>, len: u64) -> Counted {
        Counted {
            bytes,
            len,
            name: PathBuf::from("mem://model"),
            reads: Cell::new(0),
            read_bytes: Cell::new(0),
            furthest: Cell::new(0),
        }
    }
}

impl ReadAt for Counted {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(offset)) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = self
                .bytes
                .get(offset as usize + i)
                .copied()
                .unwrap_or_default();
        }
        self.reads.set(self.reads.get() + 1);
        self.read_bytes.set(self.read_bytes.get() + n as u64);
        assert!(
            offset >= self.furthest.get(),
            "offset {offset} read again (already read up to {})",
            self.furthest.get()
        );
        self.furthest.set(offset + n as u64);
        Ok(n)
    }
    fn name(&self) -> &Path {
        &self.name
    }
}

#[test]
fn a_large_vocabulary_header_takes_few_reads_and_no_byte_twice() {
    for merges in [false, true] {
        let w = support::llama3_8b_header(merges);
        let header = w.header_bytes().expect("header");
        let (_, data) = w.layout().expect("layout");
        let len = header.len() as u64 + data;
        for first in [INITIAL_HEADER_READ, 1 << 20, 256 << 10] {
            let src = Counted::new(header.clone(), len);
            let g = GgufFile::read_from(&src, first).expect("parse");
            assert_eq!(g.tensors.len(), 291);
            assert_eq!(g.file_bytes, len);
            let (reads, bytes) = (src.reads.get(), src.read_bytes.get());
            eprintln!(
                "merges {merges}, first read {first}: header {} bytes, {reads} reads, {bytes} bytes read",
                header.len()
            );
            // The default first read: at most 3 reads. A smaller one may take one more per
            // array that starts past the bytes read so far (the merges: its strings are
            // measured only once some are read).
            let most = if first == INITIAL_HEADER_READ { 3 } else { 4 };
            assert!(reads <= most, "{reads} reads");
            assert!(
                bytes <= header.len() as u64 + first,
                "{bytes} bytes read for a {}-byte header (first read {first})",
                header.len()
            );
        }
    }
}

#[test]
fn the_source_reader_gives_what_the_file_reader_gives() {
    let dir = support::tempdir();
    let path = dir.path().join("m.gguf");
    let w = support::llama3_8b_header(true);
    w.write_sparse_file(&path).expect("write");
    let from_file = GgufFile::open(&path).expect("file");
    let src = memcal_formats::FileSource::open(&path).expect("open");
    let from_src = GgufFile::read_from(&src, 64 << 10).expect("source");
    assert_eq!(from_file.tensors, from_src.tensors);
    assert_eq!(from_file.data_offset, from_src.data_offset);
    assert_eq!(from_file.n_kv(), from_src.n_kv());
}

#[test]
fn a_safetensors_header_is_a_first_chunk_then_exactly_the_rest() {
    let tensors: Vec<(String, &str, Vec<u64>)> = (0..4000)
        .map(|i| {
            (
                format!("model.layers.{i}.mlp.up_proj.weight"),
                "F16",
                vec![8, 8],
            )
        })
        .collect();
    let named: Vec<(&str, &str, Vec<u64>)> = tensors
        .iter()
        .map(|(n, d, s)| (n.as_str(), *d, s.clone()))
        .collect();
    let (header, data_len) = support::st_header(&named);
    let bytes = support::st_file(&header, data_len);
    let len = bytes.len() as u64;
    let head = 8 + header.len() as u64;
    for first in [64u64 << 10, 1 << 20] {
        let src = Counted::new(bytes[..head as usize].to_vec(), len);
        let st = SafeTensorsFile::read_from(&src, first).expect("parse");
        assert_eq!(st.tensors.len(), 4000);
        let reads = src.reads.get();
        assert_eq!(
            reads,
            if first >= head { 1 } else { 2 },
            "first read {first}"
        );
        assert!(src.read_bytes.get() <= head.max(first.min(len)));
    }
}
