//! Saving a disk: read it whole, compress with zstd on the fly and send it to baas in 8 MiB
//! pieces, each retried until acknowledged. The SHA-256 of what was read goes with the last
//! piece; baas checks it against the saved image's content. After a restart of the agent, the
//! same bytes are compressed again (zstd output is deterministic) and what baas already has is
//! skipped.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Instant;

use lab::agent_protocol::{AgentPhase, SaveTarget, Saved};
use sha2::{Digest, Sha256};

use crate::client::Client;
use crate::progress::Reporter;
use crate::{hardware, Failure};

const READ_BLOCK: usize = 4 << 20;
const PIECE: usize = 8 << 20;

/// Saves `disk` (or the first non-removable disk); returns the new image.
pub fn save(
    client: &Client,
    disk: Option<&str>,
    reporter: &mut Reporter,
) -> Result<Saved, Failure> {
    let disk = match disk {
        Some(disk) => disk.to_string(),
        None => hardware::disks()
            .into_iter()
            .find(|d| !d.removable && d.size_bytes > 0)
            .map(|d| d.path)
            .ok_or_else(|| Failure::new("disk", "no non-removable disk to save"))?,
    };
    let mut source = File::open(&disk).map_err(|e| Failure::new("disk", format!("{disk}: {e}")))?;
    let size = source
        .seek(SeekFrom::End(0))
        .and_then(|size| source.seek(SeekFrom::Start(0)).map(|_| size))
        .map_err(|e| Failure::new("disk", format!("{disk}: {e}")))?;
    let target: SaveTarget = client.expect("save", "POST", "/agent/v1/save", None::<&()>)?;
    eprintln!(
        "baas-agent: saving {disk} ({size} bytes) as {} from offset {}",
        target.name, target.offset
    );

    let mut sender = Sender {
        client,
        sent: 0,
        skip: target.offset,
    };
    let mut encoder = zstd::stream::write::Encoder::new(Vec::with_capacity(PIECE * 2), 3)
        .map_err(|e| Failure::new("save", format!("zstd: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; READ_BLOCK];
    let mut read: u64 = 0;
    let started = Instant::now();
    while read < size {
        let want = READ_BLOCK.min((size - read) as usize);
        source
            .read_exact(&mut buffer[..want])
            .map_err(|e| Failure::new("save", format!("reading {disk} at byte {read}: {e}")))?;
        hasher.update(&buffer[..want]);
        encoder
            .write_all(&buffer[..want])
            .map_err(|e| Failure::new("save", format!("zstd: {e}")))?;
        read += want as u64;
        if encoder.get_ref().len() >= PIECE {
            let piece = std::mem::take(encoder.get_mut());
            sender.send(&piece)?;
        }
        reporter.tick(AgentPhase::Saving, read, size, started, "")?;
    }
    let rest = encoder
        .finish()
        .map_err(|e| Failure::new("save", format!("zstd: {e}")))?;
    sender.send(&rest)?;
    let digest = hex::encode(hasher.finalize());
    reporter.tick_now(
        AgentPhase::Saving,
        read,
        size,
        started,
        "disk read and sent",
    )?;
    let path = format!(
        "/agent/v1/save?offset={}&last=true&raw_sha256={digest}",
        sender.sent
    );
    client.patch(&path, &[]).map_err(|e| match e {
        Ok(refused) => Failure::new(
            "save",
            format!(
                "baas refused the saved image ({}): {}",
                refused.status, refused.message
            ),
        ),
        Err(failure) => failure,
    })
}

/// Sends compressed bytes in order, skipping what baas already has.
struct Sender<'a> {
    client: &'a Client,
    /// Compressed bytes produced so far (sent or skipped).
    sent: u64,
    /// baas had this many when the save (re)started.
    skip: u64,
}

impl Sender<'_> {
    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let start = self.sent;
        let end = start + bytes.len() as u64;
        self.sent = end;
        if end <= self.skip {
            return Ok(());
        }
        let from = self.skip.saturating_sub(start) as usize;
        let offset = start + from as u64;
        let piece = &bytes[from..];
        for chunk_start in (0..piece.len()).step_by(PIECE) {
            let chunk = &piece[chunk_start..(chunk_start + PIECE).min(piece.len())];
            let at = offset + chunk_start as u64;
            match self
                .client
                .patch::<serde_json::Value>(&format!("/agent/v1/save?offset={at}"), chunk)
            {
                Ok(_) => {}
                // The piece arrived but its answer was lost: baas is already past it.
                Err(Ok(refused))
                    if refused.status == 409
                        && refused
                            .message
                            .contains(&format!("at offset {}", at + chunk.len() as u64)) => {}
                Err(Ok(refused)) => {
                    return Err(Failure::new(
                        "save",
                        format!(
                            "baas refused a piece at {at} ({}): {}",
                            refused.status, refused.message
                        ),
                    ))
                }
                Err(Err(failure)) => return Err(failure),
            }
        }
        Ok(())
    }
}
