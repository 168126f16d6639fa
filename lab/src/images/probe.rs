//! What an image is, told from its first bytes: the compression by its magic number, then the
//! format of the (decompressed) content — a qcow2 header, an ISO 9660 volume descriptor, or a
//! disk's partition table. File names are never trusted.

use std::io::Read;

use crate::model::{Compression, ImageFormat};

/// How many leading bytes of the stored file a probe reads. Large enough that a compressed head
/// still yields the ISO 9660 descriptor at 32 KiB even when the content hardly compresses.
pub const HEAD_LEN: usize = 1 << 20;

/// How many decompressed bytes the format check needs (ISO descriptor at 32 KiB + 2 KiB).
const CONTENT_HEAD_LEN: usize = 36 * 1024;

const ISO_DESCRIPTOR: usize = 0x8000;

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub compression: Compression,
    pub format: ImageFormat,
    /// Uncompressed or virtual size, where the head tells it.
    pub content_size: Option<i64>,
}

/// The compression named by the magic number at the start of `head`.
pub fn compression_of(head: &[u8]) -> Compression {
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else {
        Compression::None
    }
}

/// The compression a client's file name promises (`.zst`, `.gz`, `.xz`), if any.
pub fn compression_claimed_by(filename: &str) -> Option<Compression> {
    let lower = filename.to_ascii_lowercase();
    if lower.ends_with(".zst") || lower.ends_with(".zstd") {
        Some(Compression::Zstd)
    } else if lower.ends_with(".gz") || lower.ends_with(".gzip") {
        Some(Compression::Gzip)
    } else if lower.ends_with(".xz") {
        Some(Compression::Xz)
    } else {
        None
    }
}

/// Probes the head of a stored file of `total_len` bytes. `Err` says, for the user, why the
/// content is not an image baas can serve.
pub fn probe(head: &[u8], total_len: u64) -> Result<Probe, String> {
    let compression = compression_of(head);
    let whole_file = head.len() as u64 >= total_len;
    let content = match compression {
        Compression::None => head[..head.len().min(CONTENT_HEAD_LEN)].to_vec(),
        Compression::Zstd => decompress_head(
            zstd::stream::read::Decoder::with_buffer(head).map_err(|e| e.to_string())?,
            whole_file,
            compression,
        )?,
        Compression::Gzip => decompress_head(
            flate2::read::MultiGzDecoder::new(head),
            whole_file,
            compression,
        )?,
        Compression::Xz => decompress_head(
            xz2::read::XzDecoder::new_multi_decoder(head),
            whole_file,
            compression,
        )?,
    };
    let (format, content_size) = format_of(&content).ok_or_else(|| {
        "unknown format: the content is neither a disk image with a partition table (MBR or GPT), \
         a qcow2 image nor an ISO 9660 image"
            .to_string()
    })?;
    if format == ImageFormat::Qcow2 {
        refuse_external_references(&content)?;
    }
    let content_size = content_size.or(match compression {
        Compression::None => Some(total_len as i64),
        Compression::Zstd => zstd::zstd_safe::get_frame_content_size(head)
            .ok()
            .flatten()
            .map(|size| size as i64),
        _ => None,
    });
    Ok(Probe {
        compression,
        format,
        content_size,
    })
}

/// Reads up to [`CONTENT_HEAD_LEN`] decompressed bytes. A decoder error is the content's fault
/// unless it only ran out of input because the head is not the whole file.
fn decompress_head(
    mut decoder: impl Read,
    whole_file: bool,
    compression: Compression,
) -> Result<Vec<u8>, String> {
    let mut content = vec![0; CONTENT_HEAD_LEN];
    let mut filled = 0;
    while filled < content.len() {
        match decoder.read(&mut content[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if !whole_file && e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => {
                return Err(format!(
                    "the content starts like {compression} but does not decompress: {e}"
                ))
            }
        }
    }
    if filled == 0 && !whole_file {
        return Err(format!(
            "the content starts like {compression} but yields no data"
        ));
    }
    content.truncate(filled);
    Ok(content)
}

/// A qcow2 image may name other files (a backing file, an external data file) that the converter
/// would read from the server's disk; such images are refused.
fn refuse_external_references(header: &[u8]) -> Result<(), String> {
    let field = |at: usize| {
        header
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
    };
    let version = header
        .get(4..8)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes);
    if field(8) != Some(0) {
        return Err(
            "qcow2 images with a backing file are refused; upload a flattened image".into(),
        );
    }
    const EXTERNAL_DATA_FILE: u64 = 1 << 2;
    if version.is_some_and(|v| v >= 3) && field(72).is_none_or(|f| f & EXTERNAL_DATA_FILE != 0) {
        return Err("qcow2 images with an external data file are refused".into());
    }
    Ok(())
}

/// The format of decompressed content and, where its header says, the size of what it holds.
fn format_of(content: &[u8]) -> Option<(ImageFormat, Option<i64>)> {
    if content.starts_with(b"QFI\xfb") {
        let size = content
            .get(24..32)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(|b| u64::from_be_bytes(b) as i64);
        return Some((ImageFormat::Qcow2, size));
    }
    // Checked before the partition table: hybrid ISOs carry an MBR as well.
    if content.get(ISO_DESCRIPTOR + 1..ISO_DESCRIPTOR + 6) == Some(b"CD001") {
        let blocks = content
            .get(ISO_DESCRIPTOR + 80..ISO_DESCRIPTOR + 84)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes);
        let block_size = content
            .get(ISO_DESCRIPTOR + 128..ISO_DESCRIPTOR + 130)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(u16::from_le_bytes);
        let size = blocks
            .zip(block_size)
            .map(|(n, size)| n as i64 * size as i64);
        return Some((ImageFormat::Iso, size));
    }
    let mbr = content.get(510..512) == Some(&[0x55, 0xaa][..]);
    let gpt =
        content.get(512..520) == Some(b"EFI PART") || content.get(4096..4104) == Some(b"EFI PART");
    (mbr || gpt).then_some((ImageFormat::Raw, None))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;

    /// A small raw disk: an MBR signature and some varied bytes after it.
    pub fn raw_disk(len: usize) -> Vec<u8> {
        let mut disk: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        disk[510] = 0x55;
        disk[511] = 0xaa;
        disk
    }

    pub fn iso(len: usize) -> Vec<u8> {
        let mut iso = vec![0u8; len];
        iso[ISO_DESCRIPTOR] = 1;
        iso[ISO_DESCRIPTOR + 1..ISO_DESCRIPTOR + 6].copy_from_slice(b"CD001");
        iso[ISO_DESCRIPTOR + 80..ISO_DESCRIPTOR + 84]
            .copy_from_slice(&((len / 2048) as u32).to_le_bytes());
        iso[ISO_DESCRIPTOR + 128..ISO_DESCRIPTOR + 130].copy_from_slice(&2048u16.to_le_bytes());
        iso
    }

    #[test]
    fn uncompressed_formats_are_told_by_their_headers() {
        let disk = raw_disk(64 * 1024);
        let found = probe(&disk, disk.len() as u64).unwrap();
        assert_eq!(
            (found.compression, found.format, found.content_size),
            (Compression::None, ImageFormat::Raw, Some(65536))
        );
        let iso = iso(40 * 2048);
        let found = probe(&iso, iso.len() as u64).unwrap();
        assert_eq!(
            (found.format, found.content_size),
            (ImageFormat::Iso, Some(81920))
        );
        let mut qcow2 = vec![0u8; 512];
        qcow2[..4].copy_from_slice(b"QFI\xfb");
        qcow2[4..8].copy_from_slice(&3u32.to_be_bytes());
        qcow2[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
        let found = probe(&qcow2, 512).unwrap();
        assert_eq!(
            (found.format, found.content_size),
            (ImageFormat::Qcow2, Some(1 << 30))
        );
        qcow2[8..16].copy_from_slice(&512u64.to_be_bytes());
        let err = probe(&qcow2, 512).unwrap_err();
        assert!(err.contains("backing file"), "{err}");
    }

    #[test]
    fn compressed_content_is_probed_after_decompressing_its_head() {
        let disk = raw_disk(256 * 1024);
        // One-shot compression records the content size in the frame header.
        let zst = zstd::bulk::compress(&disk, 3).unwrap();
        let found = probe(&zst, zst.len() as u64).unwrap();
        assert_eq!(
            (found.compression, found.format, found.content_size),
            (Compression::Zstd, ImageFormat::Raw, Some(262144))
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&iso(64 * 2048)).unwrap();
        let gz = gz.finish().unwrap();
        let found = probe(&gz, gz.len() as u64).unwrap();
        assert_eq!(
            (found.compression, found.format),
            (Compression::Gzip, ImageFormat::Iso)
        );
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&disk).unwrap();
        let xz = xz.finish().unwrap();
        let found = probe(&xz, xz.len() as u64).unwrap();
        assert_eq!(
            (found.compression, found.format),
            (Compression::Xz, ImageFormat::Raw)
        );
    }

    #[test]
    fn a_head_cut_from_a_longer_compressed_file_still_probes() {
        let disk = raw_disk(8 << 20);
        let zst = zstd::encode_all(&disk[..], 1).unwrap();
        let head = &zst[..zst.len().min(4096)];
        let found = probe(head, zst.len() as u64).unwrap();
        assert_eq!(found.format, ImageFormat::Raw);
    }

    #[test]
    fn garbage_and_corrupt_streams_are_refused_with_a_reason() {
        let noise: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 256) as u8).collect();
        let err = probe(&noise, 4096).unwrap_err();
        assert!(err.starts_with("unknown format"), "{err}");
        let mut fake_zstd = vec![0x28, 0xb5, 0x2f, 0xfd];
        fake_zstd.extend_from_slice(&noise);
        let err = probe(&fake_zstd, fake_zstd.len() as u64).unwrap_err();
        assert!(
            err.contains("starts like zstd but does not decompress"),
            "{err}"
        );
    }

    #[test]
    fn file_names_only_claim_a_compression() {
        assert_eq!(
            compression_claimed_by("disk.raw.ZST"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            compression_claimed_by("disk.img.gz"),
            Some(Compression::Gzip)
        );
        assert_eq!(compression_claimed_by("disk.iso"), None);
    }
}
