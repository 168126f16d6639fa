//! Writing an image to a disk: stream it from baas (resuming by Range when the connection
//! drops), check the SHA-256 of the bytes received, decompress on the fly, write in large
//! blocks, never past the disk's end, flush, read back and check the SHA-256 of what the disk
//! now holds. Success is only ever reported after that last check.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::time::Instant;

use lab::agent_protocol::{AgentPhase, Order, OrderImage, Outcome};
use sha2::{Digest, Sha256};

use crate::client::Client;
use crate::progress::Reporter;
use crate::{hardware, relay, Failure};

/// Bytes per write (and per read-back): large aligned blocks keep disks at full speed.
const BLOCK: usize = 4 << 20;

/// How often a broken image stream is resumed before the deploy gives up.
const MAX_RESUMES: u32 = 30;

pub fn deploy(
    client: &Client,
    order: &Order,
    disk_override: Option<&str>,
    max_rate: u64,
    reporter: &mut Reporter,
) -> Result<Outcome, Failure> {
    let image = order
        .image
        .as_ref()
        .ok_or_else(|| Failure::new("job", "a deploy without an image"))?;
    let disk = choose_disk(
        disk_override.or(Some(order.disk.as_str()).filter(|d| !d.is_empty())),
        image.raw_size,
    )?;
    eprintln!(
        "baas-agent: writing {} v{} ({} bytes, {}) to {disk}",
        image.name, image.version, image.raw_size, image.compression
    );
    let target = Target::open(&disk, image.raw_size)?;
    // In a batch, the agents stream the image to each other: this one serves what it receives.
    let link = if order.relay {
        Some(relay::Link::join(client, order.job_id, image)?)
    } else {
        None
    };
    let relay = link.as_ref().map(|link| link.relay.clone());

    let mut written: u64 = 0;
    // Bytes the writer has put on the disk.
    let on_disk = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    // Bytes read back from the disk and hashed.
    let verified = std::sync::atomic::AtomicU64::new(0);
    // Four stages on threads of their own, joined by channels as a shell pipeline is: the
    // download (with its checksum) feeds the decoder, whose blocks a writer puts on the disk
    // while the next ones are decompressed, and the read-back follows the writer region by
    // region, each flushed before it is read.
    let digest = std::thread::scope(|scope| -> Result<String, Failure> {
        let (chunks, arriving) = std::sync::mpsc::sync_channel(PIPELINE_DEPTH);
        let downloader = scope.spawn(move || download(client, image, link, chunks));
        let mut piped = Piped {
            arriving,
            current: Vec::new(),
            at: 0,
        };
        let (full, to_write) = std::sync::mpsc::sync_channel::<(Aligned, usize)>(WRITE_BUFFERS);
        let (empty, free) = std::sync::mpsc::sync_channel::<Aligned>(WRITE_BUFFERS);
        for _ in 0..WRITE_BUFFERS {
            let _ = empty.send(Aligned::new(BLOCK));
        }
        let (target, disk, on_disk_ref, verified_ref) = (&target, &disk, &on_disk, &verified);
        let (wrote_up_to, to_verify) = std::sync::mpsc::channel::<u64>();
        let raw_size = image.raw_size;
        let verifier =
            scope.spawn(move || read_back(target, disk, raw_size, to_verify, verified_ref));
        let writer = scope.spawn(move || -> Result<(), Failure> {
            let mut offset = 0u64;
            for (mut block, len) in to_write {
                target
                    .write_at(offset, &block.as_mut()[..len])
                    .map_err(|e| Failure::new("write", format!("{disk} at byte {offset}: {e}")))?;
                offset += len as u64;
                on_disk_ref.store(offset, std::sync::atomic::Ordering::Relaxed);
                let _ = wrote_up_to.send(offset);
                // The decoder may have stopped: then nobody takes the block back.
                let _ = empty.send(block);
            }
            Ok(())
        });
        let result = (|| {
            let mut decoder: Box<dyn Read + '_> = match image.compression.as_str() {
                "none" => Box::new(&mut piped),
                "gzip" => Box::new(flate2::read::MultiGzDecoder::new(&mut piped)),
                "xz" => Box::new(xz2::read::XzDecoder::new_multi_decoder(&mut piped)),
                "zstd" => Box::new(
                    zstd::stream::read::Decoder::new(&mut piped)
                        .map_err(|e| Failure::new("download", format!("zstd: {e}")))?,
                ),
                other => return Err(Failure::new("job", format!("unknown compression {other}"))),
            };
            loop {
                // No free block: the writer failed (its error is reported below).
                let Ok(mut block) = free.recv() else {
                    return Ok(());
                };
                let filled = fill(&mut decoder, block.as_mut())
                    .map_err(|e| Failure::new("download", format!("after {written} bytes: {e}")))?;
                if filled == 0 {
                    break;
                }
                if written + filled as u64 > image.raw_size {
                    return Err(Failure::new(
                        "write",
                        format!(
                            "the image holds more than its {} bytes; nothing past them is written",
                            image.raw_size
                        ),
                    ));
                }
                if full.send((block, filled)).is_err() {
                    return Ok(());
                }
                written += filled as u64;
                if max_rate > 0 {
                    let due = std::time::Duration::from_secs_f64(written as f64 / max_rate as f64);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                let done = on_disk_ref.load(std::sync::atomic::Ordering::Relaxed);
                reporter.tick(AgentPhase::Writing, done, image.raw_size, started, "")?;
            }
            drop(decoder);
            // A decoder may stop before the stream's last bytes; all of them count for the
            // checksum, which the downloader checks at the end.
            std::io::copy(&mut piped, &mut std::io::sink())
                .map_err(|e| Failure::new("download", e.to_string()))?;
            Ok(())
        })();
        // Ends the writer once it has written what it was given, and the downloader if the
        // writing stopped first.
        drop(full);
        drop(piped);
        let wrote = writer
            .join()
            .unwrap_or_else(|_| Err(Failure::new("write", "the writer thread failed")));
        let downloaded = downloader
            .join()
            .unwrap_or_else(|_| Err("the download thread failed".into()));
        result?;
        wrote?;
        downloaded.map_err(|reason| Failure::new("download", reason))?;
        if written != image.raw_size {
            return Err(Failure::new(
                "download",
                format!(
                    "the image ended after {written} of {} bytes",
                    image.raw_size
                ),
            ));
        }
        // The writing's last word, whatever the rate of reports let through: all of it.
        reporter.tick_now(
            AgentPhase::Writing,
            image.raw_size,
            image.raw_size,
            started,
            "written",
        )?;
        // What is left of the read-back after the last block was written.
        let started = Instant::now();
        reporter.tick_now(
            AgentPhase::Verifying,
            verified.load(std::sync::atomic::Ordering::Relaxed),
            image.raw_size,
            started,
            "written; reading back",
        )?;
        while !verifier.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let done = verified.load(std::sync::atomic::Ordering::Relaxed);
            reporter.tick(AgentPhase::Verifying, done, image.raw_size, started, "")?;
        }
        verifier
            .join()
            .unwrap_or_else(|_| Err(Failure::new("verify", "the read-back thread failed")))
    })?;
    if !digest.eq_ignore_ascii_case(&image.raw_sha256) {
        return Err(Failure::new(
            "verify",
            format!(
                "{disk} reads back as SHA-256 {digest}, the image is {}",
                image.raw_sha256
            ),
        ));
    }
    if let Some(relay) = &relay {
        linger(relay, image.raw_size, reporter)?;
    }
    Ok(Outcome {
        ok: true,
        written_sha256: digest,
        disk,
        reason: format!("{written} bytes written and read back"),
        ..Default::default()
    })
}

/// The longest an agent stays to serve the batch's agents still streaming from it.
const LINGER: std::time::Duration = std::time::Duration::from_secs(600);

/// Stays while the batch's agents below this one still stream from it (each is dropped when it
/// stops reading), telling baas so: leaving now would send them up the pipeline for the rest.
fn linger(relay: &relay::Relay, size: u64, reporter: &mut Reporter) -> Result<(), Failure> {
    let started = Instant::now();
    while relay.children() > 0 && started.elapsed() < LINGER {
        let message = format!("relaying to {} machines of the batch", relay.children());
        reporter.tick(AgentPhase::Verifying, size, size, started, &message)?;
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    if relay.served() > 0 {
        eprintln!(
            "baas-agent: relayed the image to {} machines of the batch",
            relay.served()
        );
    }
    Ok(())
}

/// Bytes written before the read-back flushes the disk and reads them: large enough that the
/// flushes cost little, small enough that reading back keeps pace with writing.
const VERIFY_REGION: u64 = 64 << 20;

/// Reads back what the writer reports written (`wrote_up_to`, in order) and returns the SHA-256
/// of the image's `size` bytes as the disk holds them. Each region is flushed before it is read:
/// what the disk holds, not what a cache remembers (a device is read with O_DIRECT; a file, in
/// tests, is what its file system returns).
fn read_back(
    target: &Target,
    disk: &str,
    size: u64,
    wrote_up_to: std::sync::mpsc::Receiver<u64>,
    verified: &std::sync::atomic::AtomicU64,
) -> Result<String, Failure> {
    let mut reader = target
        .reader()
        .map_err(|e| Failure::new("verify", format!("{disk}: {e}")))?;
    let mut aligned = Aligned::new(BLOCK);
    let buffer = aligned.as_mut();
    let mut hasher = Sha256::new();
    let (mut read, mut on_disk) = (0u64, 0u64);
    while read < size {
        while on_disk - read < VERIFY_REGION && on_disk < size {
            match wrote_up_to.recv() {
                Ok(at) => on_disk = at,
                // The writing stopped; the reason is the writer's or the download's.
                Err(_) => return Err(Failure::new("verify", "the write did not finish")),
            }
        }
        target
            .sync()
            .map_err(|e| Failure::new("write", format!("flushing {disk}: {e}")))?;
        while read < on_disk {
            let want = BLOCK.min((on_disk - read) as usize);
            // Direct reads come in whole sectors; a device always has the sector the image
            // ends in.
            let whole = if target.direct {
                want.next_multiple_of(SECTOR)
            } else {
                want
            };
            reader.read_exact(&mut buffer[..whole]).map_err(|e| {
                Failure::new("verify", format!("reading {disk} at byte {read}: {e}"))
            })?;
            hasher.update(&buffer[..want]);
            read += want as u64;
            verified.store(read, std::sync::atomic::Ordering::Relaxed);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Blocks in rotation between the decoder and the writer: one being written, one being
/// filled, one to spare.
const WRITE_BUFFERS: usize = 3;

/// Chunks in flight between the download and the decoder (1 MiB each).
const PIPELINE_DEPTH: usize = 8;
const CHUNK: usize = 1 << 20;

/// Streams the image into `chunks` until its end, then checks its SHA-256 (an error is sent on
/// and returned). Stops early when the receiving side is gone. In a batch, the stream comes
/// from the relay `link` and is served on as it arrives.
fn download(
    client: &Client,
    image: &OrderImage,
    link: Option<relay::Link<'_>>,
    chunks: std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>,
) -> Result<(), String> {
    // Children are cut off on every way out but a whole, checked stream.
    let mut guard = FailOnDrop(link.as_ref().map(|link| link.relay.clone()));
    let mut stream = ResumingStream::new(client, image, link);
    let failed = |reason: String| {
        let _ = chunks.send(Err(std::io::Error::other(reason.clone())));
        Err(reason)
    };
    loop {
        let mut chunk = vec![0u8; CHUNK];
        match fill(&mut stream, &mut chunk) {
            Ok(0) => {
                guard.0 = None;
                return Ok(());
            }
            Ok(n) => {
                chunk.truncate(n);
                if chunks.send(Ok(chunk)).is_err() {
                    return Ok(());
                }
            }
            Err(e) => return failed(e.to_string()),
        }
    }
}

/// Fails the relay it holds when dropped: the download ended without the whole stream.
struct FailOnDrop(Option<std::sync::Arc<relay::Relay>>);

impl Drop for FailOnDrop {
    fn drop(&mut self) {
        if let Some(relay) = &self.0 {
            relay.fail();
        }
    }
}

/// The decoder's side of the download channel.
struct Piped {
    arriving: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for Piped {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            match self.arriving.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The downloader finished (or gave up, and said why first).
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Reads until `buffer` is full or the stream ends.
fn fill(reader: &mut dyn Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The job's disk, or the default rule: the first non-removable disk at least as large as
/// the image.
fn choose_disk(chosen: Option<&str>, needed: u64) -> Result<String, Failure> {
    if let Some(path) = chosen {
        return Ok(path.to_string());
    }
    let disks = hardware::disks();
    disks
        .iter()
        .find(|d| !d.removable && d.size_bytes >= needed)
        .map(|d| d.path.clone())
        .ok_or_else(|| {
            let seen: Vec<String> = disks
                .iter()
                .map(|d| {
                    format!(
                        "{} {} bytes{}",
                        d.path,
                        d.size_bytes,
                        if d.removable { " removable" } else { "" }
                    )
                })
                .collect();
            Failure::new(
                "disk",
                format!(
                    "no non-removable disk holds the image's {needed} bytes (disks: {})",
                    if seen.is_empty() {
                        "none".into()
                    } else {
                        seen.join(", ")
                    }
                ),
            )
        })
}

/// Sector size for direct I/O: lengths and offsets of O_DIRECT transfers are multiples of it.
const SECTOR: usize = 512;
/// Buffers for direct I/O start at a page boundary.
const PAGE: usize = 4096;
/// `O_DIRECT` on Linux. Its value differs by architecture: x86-64's 0o40000 is arm64's
/// `O_DIRECTORY` (opening a disk with it fails with "Not a directory").
#[cfg(target_arch = "x86_64")]
const O_DIRECT: i32 = 0o40000;
#[cfg(target_arch = "aarch64")]
const O_DIRECT: i32 = 0o200000;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("baas-agent knows O_DIRECT for x86_64 and aarch64 only");

/// Where the image goes. A block device is written and read back with O_DIRECT in large
/// aligned blocks, like `dd oflag=direct`: no page cache in between, so what is read back is
/// what the disk holds. A file (tests, benchmarks) goes through the page cache.
struct Target {
    file: File,
    path: String,
    direct: bool,
}

impl Target {
    /// Opens the disk for writing from its start; a disk smaller than the image is refused
    /// before a byte is written.
    fn open(path: &str, needed: u64) -> Result<Target, Failure> {
        let device = std::fs::metadata(path)
            .map(|m| m.file_type().is_block_device())
            .unwrap_or(false);
        let mut options = OpenOptions::new();
        options.write(true).create(!device).truncate(!device);
        if device {
            options.custom_flags(O_DIRECT);
        }
        let mut file = options
            .open(path)
            .map_err(|e| Failure::new("disk", format!("{path}: {e}")))?;
        if device {
            let size = file
                .seek(SeekFrom::End(0))
                .map_err(|e| Failure::new("disk", format!("{path}: {e}")))?;
            if size < needed {
                return Err(Failure::new(
                    "disk",
                    format!("{path} has {size} bytes, the image needs {needed}"),
                ));
            }
        }
        Ok(Target {
            file,
            path: path.to_string(),
            direct: device,
        })
    }

    /// Writes `data` (from an [`Aligned`] buffer) at `offset`. A tail that is not whole
    /// sectors goes through a second, buffered handle.
    fn write_at(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        if !self.direct || data.len().is_multiple_of(SECTOR) {
            return self.file.write_all_at(data, offset);
        }
        let whole = data.len() - data.len() % SECTOR;
        self.file.write_all_at(&data[..whole], offset)?;
        let buffered = OpenOptions::new().write(true).open(&self.path)?;
        buffered.write_all_at(&data[whole..], offset + whole as u64)?;
        buffered.sync_all()
    }

    fn sync(&self) -> std::io::Result<()> {
        self.file.sync_all()
    }

    /// A reader from the disk's start (direct for a device).
    fn reader(&self) -> std::io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true);
        if self.direct {
            options.custom_flags(O_DIRECT);
        }
        options.open(&self.path)
    }
}

/// A buffer whose start is page-aligned, as direct I/O needs.
struct Aligned {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let storage = vec![0u8; len + PAGE];
        let start = storage.as_ptr().align_offset(PAGE);
        Aligned {
            storage,
            start,
            len,
        }
    }

    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// The image stream, resumed from where it broke (Range + If-Range) when the connection drops;
/// checks the SHA-256 of everything received against the image's at the end. In a batch it
/// comes from the relay's upstream agent while there is one, and is handed to this agent's
/// own relay as it arrives.
struct ResumingStream<'a> {
    client: &'a Client,
    image: &'a OrderImage,
    link: Option<relay::Link<'a>>,
    inner: Option<Box<dyn Read + Send>>,
    /// The open stream comes from an upstream agent (not from baas).
    relayed: bool,
    offset: u64,
    hasher: Sha256,
    resumes: u32,
    checked: bool,
}

impl<'a> ResumingStream<'a> {
    fn new(client: &'a Client, image: &'a OrderImage, link: Option<relay::Link<'a>>) -> Self {
        ResumingStream {
            client,
            image,
            link,
            inner: None,
            relayed: false,
            offset: 0,
            hasher: Sha256::new(),
            resumes: 0,
            checked: false,
        }
    }

    fn broken(&mut self, why: String) -> std::io::Result<()> {
        self.inner = None;
        if self.relayed {
            // Another relay, or baas: that costs a question, not one of the resumes.
            if let Some(link) = self.link.as_mut() {
                return link
                    .upstream_failed(&why)
                    .map_err(|failure| std::io::Error::other(failure.reason));
            }
        }
        self.resumes += 1;
        if self.resumes > MAX_RESUMES {
            return Err(std::io::Error::other(format!(
                "the image stream broke {MAX_RESUMES} times; last: {why}"
            )));
        }
        eprintln!(
            "baas-agent: image stream broke at byte {} ({why}); resuming",
            self.offset
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
        Ok(())
    }

    /// Opens the stream at the current offset: from the upstream agent, else from baas.
    fn open(&mut self) -> std::io::Result<()> {
        if let Some(opened) = self.link.as_mut().and_then(|link| link.open(self.offset)) {
            self.relayed = true;
            return match opened {
                Ok(reader) => {
                    self.inner = Some(reader);
                    Ok(())
                }
                Err(why) => self.broken(why),
            };
        }
        self.relayed = false;
        let etag = format!("\"{}\"", self.image.stored_sha256);
        match self.client.download("/agent/v1/image", self.offset, &etag) {
            Ok(reader) => {
                self.inner = Some(reader);
                Ok(())
            }
            Err(failure) => self.broken(failure.reason),
        }
    }
}

impl Read for ResumingStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.offset >= self.image.stored_size {
                if !self.checked {
                    self.checked = true;
                    let digest = hex::encode(std::mem::take(&mut self.hasher).finalize());
                    if !digest.eq_ignore_ascii_case(&self.image.stored_sha256) {
                        return Err(std::io::Error::other(format!(
                            "the image arrived with SHA-256 {digest}, baas stores {}",
                            self.image.stored_sha256
                        )));
                    }
                }
                return Ok(0);
            }
            let Some(inner) = self.inner.as_mut() else {
                self.open()?;
                continue;
            };
            let room = buf
                .len()
                .min((self.image.stored_size - self.offset) as usize);
            match inner.read(&mut buf[..room]) {
                Ok(0) => self.broken("the connection closed early".into())?,
                Ok(n) => {
                    self.hasher.update(&buf[..n]);
                    if let Some(link) = &self.link {
                        link.relay.publish(self.offset, &buf[..n]);
                    }
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => self.broken(e.to_string())?,
            }
        }
    }
}
