//! Serving one read request (RRQ).
//!
//! Patched for baas (see PATCHES.md): a transfer is a lock-step conversation with one peer, so
//! it runs on a thread of the blocking pool with a blocking socket connected to that peer. Each
//! block then costs a read, a `send` and a `recv` that sleeps in the kernel until the ACK
//! arrives, instead of a round trip through the async reactor (readiness re-arming, a timer
//! per ACK, a wake-up of every task on the executor). The window's blocks live in one buffer
//! allocated per transfer.

use bytes::BytesMut;
use futures_lite::future::block_on;
use futures_lite::{AsyncRead, AsyncReadExt};
use log::trace;
use std::cmp;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::packet::{Opts, Packet, RwReq, PACKET_DATA_HEADER_LEN};
use crate::server::{ServerConfig, DEFAULT_BLOCK_SIZE};

/// TFTP's opcode for DATA.
const DATA_OPCODE: u16 = 3;

pub(crate) struct ReadRequest<R>
where
    R: AsyncRead + Send,
{
    peer: SocketAddr,
    socket: UdpSocket,
    reader: R,
    block_size: usize,
    timeout: Duration,
    max_send_retries: u32,
    oack_opts: Option<Opts>,
    window_size: usize,
}

impl<R> ReadRequest<R>
where
    R: AsyncRead + Send + Unpin,
{
    pub(crate) fn init(
        reader: R,
        file_size: Option<u64>,
        peer: SocketAddr,
        req: &RwReq,
        config: ServerConfig,
        local_ip: IpAddr,
    ) -> Result<ReadRequest<R>> {
        let oack_opts = build_oack_opts(&config, req, file_size);

        let block_size = oack_opts
            .as_ref()
            .and_then(|o| o.block_size)
            .map(usize::from)
            .unwrap_or(DEFAULT_BLOCK_SIZE);

        // Default window size is 1 as per rfc7440
        let window_size = oack_opts
            .as_ref()
            .and_then(|o| o.window_size)
            .unwrap_or(1u16)
            .max(1) as usize;

        let timeout = oack_opts
            .as_ref()
            .and_then(|o| o.timeout)
            .map(|t| Duration::from_secs(u64::from(t)))
            .unwrap_or(config.timeout)
            // A zero timeout would make the socket wait forever.
            .max(Duration::from_millis(1));

        let socket = UdpSocket::bind(SocketAddr::new(local_ip, 0))
            .map_err(Error::Bind)?;
        // Connected: the kernel drops datagrams from anyone but the peer,
        // and `send` needs no address.
        socket.connect(peer).map_err(Error::Bind)?;
        socket.set_read_timeout(Some(timeout)).map_err(Error::Bind)?;

        Ok(ReadRequest {
            peer,
            socket,
            reader,
            block_size,
            timeout,
            max_send_retries: config.max_send_retries,
            oack_opts,
            window_size,
        })
    }

    /// Serves the request to its end, blocking the calling thread.
    pub(crate) fn handle(mut self) {
        if let Err(e) = self.try_handle() {
            trace!("RRQ request failed (peer: {}, error: {})", &self.peer, &e);
            let mut buffer = BytesMut::with_capacity(DEFAULT_BLOCK_SIZE);
            Packet::Error(e.into()).encode(&mut buffer);
            // Errors are never retransmitted.
            // We do not care if `send` resulted to an IO error.
            let _ = self.socket.send(&buffer[..]);
        }
    }

    fn try_handle(&mut self) -> Result<()> {
        let mut blocks = BlockRing::new(self.window_size, self.block_size);

        self.read_next(&mut blocks)?;

        // Send OACK after we manage to read the first block from reader.
        //
        // We do this because we want to give the developers the option to
        // produce an error after they construct a reader.
        if let Some(opts) = self.oack_opts.as_ref() {
            trace!("RRQ OACK (peer: {}, opts: {:?}", &self.peer, &opts);
            let mut buff = BytesMut::with_capacity(PACKET_DATA_HEADER_LEN + 64);
            Packet::OAck(opts.to_owned()).encode(&mut buff);
            // OACK is not really part of the window, so we send it separately
            let send_oack =
                |this: &Self| Ok(this.socket.send(&buff[..]).map(drop)?);
            send_oack(self)?;
            self.acknowledged(0, 1, send_oack)?;
        }

        while !(blocks.ended && blocks.unacked() == 0) {
            while !blocks.ended && blocks.unacked() < self.window_size {
                self.read_next(&mut blocks)?;
            }

            let window_len = cmp::min(blocks.unacked(), self.window_size);
            let window_base = blocks.block_id(blocks.first);
            let send = |this: &Self, blocks: &BlockRing| {
                for i in 0..window_len {
                    this.socket.send(blocks.packet(blocks.first + i as u64))?;
                }
                Ok(())
            };
            send(self, &blocks)?;
            // While the peer takes in this window, read the next one.
            while !blocks.ended && blocks.can_read_ahead() {
                self.read_next(&mut blocks)?;
            }
            let blocks_acked =
                self.acknowledged(window_base, window_len as u16, |this| {
                    send(this, &blocks)
                })?;
            blocks.first += u64::from(blocks_acked);
        }

        trace!("RRQ request served (peer: {})", &self.peer);
        Ok(())
    }

    /// Reads the next block into the ring.
    fn read_next(&mut self, blocks: &mut BlockRing) -> Result<()> {
        let block_id = blocks.block_id(blocks.next);
        let packet = blocks.slot_mut(blocks.next);
        packet[0..2].copy_from_slice(&DATA_OPCODE.to_be_bytes());
        packet[2..4].copy_from_slice(&block_id.to_be_bytes());
        let len = self.read_block(&mut packet[PACKET_DATA_HEADER_LEN..])?;
        blocks.filled(len);
        Ok(())
    }

    /// Waits until the peer acknowledges some of the `window_len` packets
    /// starting at `window_base` (already sent once), sending them again
    /// each time the wait times out. Returns how many were acknowledged.
    fn acknowledged(
        &self,
        window_base: u16,
        window_len: u16,
        resend: impl Fn(&Self) -> Result<()>,
    ) -> Result<u16> {
        for attempt in 0..=self.max_send_retries {
            match self.recv_ack(window_base, window_len) {
                Ok(blocks_acked) => {
                    trace!(
                        "RRQ (peer: {}, window_base: {}, blocks_acked: {}, window_len: {}) - Received ACK",
                        &self.peer,
                        window_base,
                        blocks_acked,
                        window_len
                    );
                    return Ok(blocks_acked);
                }
                Err(ref e) if e.kind() == io::ErrorKind::TimedOut => {
                    trace!(
                        "RRQ (peer: {}, block_id: {}) - Timeout",
                        &self.peer,
                        window_base
                    );
                    if attempt < self.max_send_retries {
                        resend(self)?;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }

        Err(Error::MaxSendRetriesReached(self.peer, window_base))
    }

    /// Waits for ack packet, returns amount of packets acknowledged.
    fn recv_ack(&self, window_base: u16, window_len: u16) -> io::Result<u16> {
        let deadline = Instant::now() + self.timeout;
        let mut buf = [0u8; 1024];
        let mut ignored_any = false;

        let result = loop {
            if ignored_any {
                // Packets that acknowledge nothing do not extend the wait.
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break Err(io::ErrorKind::TimedOut.into());
                }
                self.socket.set_read_timeout(Some(left))?;
            }

            let len = match self.socket.recv(&mut buf[..]) {
                Ok(len) => len,
                // What a socket read timeout reports.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break Err(io::ErrorKind::TimedOut.into());
                }
                Err(e) => break Err(e),
            };

            // parse only valid Ack packets, the rest are ignored
            if let Ok(Packet::Ack(recved_block_id)) =
                Packet::decode(&buf[..len])
            {
                if let Some(acked) =
                    blocks_acked(window_base, window_len, recved_block_id)
                {
                    break Ok(acked);
                }
                trace!("Unexpected ack packet {recved_block_id}, window_base: {window_base}, window_len: {window_len}");
            }
            ignored_any = true;
        };

        if ignored_any {
            // Later waits start from the whole timeout again.
            self.socket.set_read_timeout(Some(self.timeout))?;
        }
        result
    }

    fn read_block(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut len = 0;

        while len < buf.len() {
            // Readers are polled from this thread; one that is ready at once
            // (a file read in place) costs no hand-off.
            match block_on(self.reader.read(&mut buf[len..]))? {
                0 => break,
                x => len += x,
            }
        }

        Ok(len)
    }
}

/// The blocks of a transfer that are read but not yet acknowledged: the
/// window being sent and the one read ahead, each packet (header and data)
/// in a slot of one buffer. Blocks are counted from 0 since the start of
/// the transfer; block `n` goes out as DATA `n + 1` (wrapping).
struct BlockRing {
    buffer: Vec<u8>,
    lens: Vec<usize>,
    slot: usize,
    block_size: usize,
    /// The first block not acknowledged.
    first: u64,
    /// The next block to read.
    next: u64,
    /// Whether the last block (shorter than a whole one) has been read.
    ended: bool,
}

impl BlockRing {
    fn new(window_size: usize, block_size: usize) -> Self {
        let slots = 2 * window_size;
        let slot = PACKET_DATA_HEADER_LEN + block_size;
        BlockRing {
            buffer: vec![0; slots * slot],
            lens: vec![0; slots],
            slot,
            block_size,
            first: 0,
            next: 0,
            ended: false,
        }
    }

    fn unacked(&self) -> usize {
        (self.next - self.first) as usize
    }

    fn can_read_ahead(&self) -> bool {
        self.unacked() < self.lens.len()
    }

    fn block_id(&self, block: u64) -> u16 {
        (block + 1) as u16
    }

    fn index(&self, block: u64) -> usize {
        (block % self.lens.len() as u64) as usize
    }

    fn slot_mut(&mut self, block: u64) -> &mut [u8] {
        let start = self.index(block) * self.slot;
        &mut self.buffer[start..start + self.slot]
    }

    /// Records that the next block was read with `len` bytes of data.
    fn filled(&mut self, len: usize) {
        let index = self.index(self.next);
        self.lens[index] = PACKET_DATA_HEADER_LEN + len;
        self.ended = len < self.block_size;
        self.next += 1;
    }

    fn packet(&self, block: u64) -> &[u8] {
        let index = self.index(block);
        let start = index * self.slot;
        &self.buffer[start..start + self.lens[index]]
    }
}

/// How many blocks of the window starting at `window_base` an ACK of
/// `acked` acknowledges, if it acknowledges any (block numbers wrap).
fn blocks_acked(window_base: u16, window_len: u16, acked: u16) -> Option<u16> {
    let offset = acked.wrapping_sub(window_base);
    (offset < window_len).then(|| offset + 1)
}

fn build_oack_opts(
    config: &ServerConfig,
    req: &RwReq,
    file_size: Option<u64>,
) -> Option<Opts> {
    let mut opts = Opts::default();

    if !config.ignore_client_block_size {
        opts.block_size = match (req.opts.block_size, config.block_size_limit) {
            (Some(bsize), Some(limit)) => Some(cmp::min(bsize, limit)),
            (Some(bsize), None) => Some(bsize),
            _ => None,
        };
    }

    if !config.ignore_client_timeout {
        opts.timeout = req.opts.timeout;
    }

    if let (Some(0), Some(file_size)) = (req.opts.transfer_size, file_size) {
        opts.transfer_size = Some(file_size);
    }

    if !config.ignore_client_window_size {
        opts.window_size =
            match (req.opts.window_size, config.window_size_limit) {
                (Some(wsize), Some(limit)) => Some(cmp::min(wsize, limit)),
                (Some(wsize), None) => Some(wsize),
                _ => None,
            };
    }

    if opts == Opts::default() {
        None
    } else {
        Some(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::blocks_acked;

    #[test]
    fn an_ack_inside_the_window_acknowledges_up_to_itself() {
        assert_eq!(blocks_acked(1, 4, 1), Some(1));
        assert_eq!(blocks_acked(1, 4, 4), Some(4));
        assert_eq!(blocks_acked(1, 4, 5), None);
        assert_eq!(blocks_acked(5, 4, 4), None);
    }

    #[test]
    fn block_numbers_wrap_inside_a_window() {
        assert_eq!(blocks_acked(65534, 4, 65535), Some(2));
        assert_eq!(blocks_acked(65534, 4, 0), Some(3));
        assert_eq!(blocks_acked(65534, 4, 1), Some(4));
        assert_eq!(blocks_acked(65534, 4, 2), None);
        // The OACK is acknowledged as block 0.
        assert_eq!(blocks_acked(0, 1, 0), Some(1));
    }
}
