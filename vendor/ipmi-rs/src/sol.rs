//! IPMI 2.0 Serial-over-LAN (baas patch): the commands that start and stop it, its packets
//! (payload type 1, IPMI 2.0 §15) and [`Stream`], the exchange of characters in both directions
//! as a state machine without I/O — sequence numbers, acknowledgements with the accepted
//! character count, NACKs, retransmission, duplicates and BREAK. The caller owns the socket and
//! the clock: it carries packets with [`crate::rmcp::SessionCodec`] on any socket.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::connection::Message;

/// The App network function (Activate and Deactivate Payload).
pub const NETFN_APP: u8 = 0x06;
/// The Transport network function (SOL configuration parameters).
pub const NETFN_TRANSPORT: u8 = 0x0C;
pub const CMD_ACTIVATE_PAYLOAD: u8 = 0x48;
pub const CMD_DEACTIVATE_PAYLOAD: u8 = 0x49;
pub const CMD_GET_SOL_CONFIGURATION: u8 = 0x22;
/// The payload type of SOL.
pub const PAYLOAD_SOL: u8 = 0x01;

/// Operation bits a remote console sets in byte 4 of its packets (IPMI 2.0 table 15-2).
pub mod operation {
    /// The BMC's last packet was not accepted; it should send it again later.
    pub const NACK: u8 = 0x40;
    pub const RING_WOR: u8 = 0x20;
    /// Send a serial BREAK to the machine.
    pub const BREAK: u8 = 0x10;
    pub const CTS_PAUSE: u8 = 0x08;
    pub const DROP_DCD_DSR: u8 = 0x04;
    pub const FLUSH_INBOUND: u8 = 0x02;
    pub const FLUSH_OUTBOUND: u8 = 0x01;
}

/// Status bits a BMC sets in byte 4 of its packets (IPMI 2.0 table 15-2).
pub mod status {
    /// The console's packet was not accepted (the BMC's buffer is full, or SOL is inactive).
    pub const NACK: u8 = 0x40;
    /// The BMC cannot pass characters to or from the serial controller right now.
    pub const TRANSFER_UNAVAILABLE: u8 = 0x20;
    /// SOL is being deactivated (by the BMC, or by another session taking it over).
    pub const DEACTIVATED: u8 = 0x10;
    /// Characters from the machine were dropped: the BMC's buffer overflowed.
    pub const TRANSMIT_OVERRUN: u8 = 0x08;
    /// A BREAK was detected on the machine's serial line.
    pub const BREAK_DETECTED: u8 = 0x04;
}

/// Activate Payload for SOL instance `instance` (IPMI 2.0 §24.1). `encrypt` and
/// `authenticate` ask the BMC to protect the payload as the session is protected; serial
/// alerts are deferred while SOL is active and the startup handshake is ipmitool's (byte 3 is
/// `0xC6` with both, as ipmitool sends).
pub fn activate_request(instance: u8, encrypt: bool, authenticate: bool) -> Message {
    let mut aux = 0x04 | 0x02;
    if encrypt {
        aux |= 0x80;
    }
    if authenticate {
        aux |= 0x40;
    }
    Message::new_raw(
        NETFN_APP,
        CMD_ACTIVATE_PAYLOAD,
        vec![PAYLOAD_SOL, instance & 0x0f, aux, 0, 0, 0],
    )
}

/// Deactivate Payload for SOL instance `instance`: ends it for whichever session holds it.
pub fn deactivate_request(instance: u8) -> Message {
    Message::new_raw(
        NETFN_APP,
        CMD_DEACTIVATE_PAYLOAD,
        vec![PAYLOAD_SOL, instance & 0x0f, 0, 0, 0, 0],
    )
}

/// What the BMC answered to a successful Activate Payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activated {
    /// The largest SOL payload the BMC accepts from the console, header included.
    pub inbound_payload_size: u16,
    /// The largest SOL payload the BMC sends.
    pub outbound_payload_size: u16,
    /// The UDP port SOL packets use (usually the session's own, 623).
    pub port: u16,
}

impl Activated {
    /// The response data after the completion code.
    pub fn parse(data: &[u8]) -> Option<Activated> {
        if data.len() < 10 {
            return None;
        }
        let word = |at: usize| u16::from_le_bytes([data[at], data[at + 1]]);
        Some(Activated {
            inbound_payload_size: word(4),
            outbound_payload_size: word(6),
            port: word(8),
        })
    }

    /// The most characters one packet to the BMC may carry.
    pub fn max_characters(&self) -> usize {
        // Some BMCs answer 0 or a size smaller than a header; 4 header bytes + 1 character is
        // the least that makes sense, and 255 is the most the accepted count can acknowledge.
        usize::from(self.inbound_payload_size)
            .saturating_sub(4)
            .clamp(1, 255)
    }
}

/// Why a BMC refused to activate SOL: the completion codes of Activate Payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivateRefusal {
    /// 0x80: another session holds SOL; it can be taken over with Deactivate Payload.
    AlreadyActive,
    /// 0x81: SOL is disabled on this BMC (or this channel).
    Disabled,
    /// 0x82: the BMC's limit of active payloads is reached.
    LimitReached,
    /// 0x83: the BMC cannot encrypt the payload.
    EncryptionUnavailable,
    /// 0x84: the BMC requires encryption (the session has none).
    EncryptionRequired,
    /// Another completion code.
    Other(u8),
}

impl ActivateRefusal {
    pub fn from_completion_code(code: u8) -> ActivateRefusal {
        match code {
            0x80 => ActivateRefusal::AlreadyActive,
            0x81 => ActivateRefusal::Disabled,
            0x82 => ActivateRefusal::LimitReached,
            0x83 => ActivateRefusal::EncryptionUnavailable,
            0x84 => ActivateRefusal::EncryptionRequired,
            other => ActivateRefusal::Other(other),
        }
    }
}

impl std::fmt::Display for ActivateRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActivateRefusal::AlreadyActive => {
                f.write_str("SOL is already active in another session")
            }
            ActivateRefusal::Disabled => f.write_str("SOL is disabled on this BMC"),
            ActivateRefusal::LimitReached => {
                f.write_str("the BMC's limit of active payloads is reached")
            }
            ActivateRefusal::EncryptionUnavailable => f.write_str("the BMC cannot encrypt SOL"),
            ActivateRefusal::EncryptionRequired => {
                f.write_str("the BMC requires SOL to be encrypted (use cipher suite 3)")
            }
            ActivateRefusal::Other(code) => {
                write!(f, "the BMC refused SOL (completion code {code:#04x})")
            }
        }
    }
}

/// Get SOL Configuration Parameters, parameter 4 (SOL retry), on the current channel.
pub fn retry_parameter_request() -> Message {
    Message::new_raw(
        NETFN_TRANSPORT,
        CMD_GET_SOL_CONFIGURATION,
        vec![0x0E, 0x04, 0x00, 0x00],
    )
}

/// How often, and how long apart, a packet is sent again until it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Sends after the first one.
    pub retries: u8,
    pub interval: Duration,
}

impl Default for RetryPolicy {
    /// For a BMC that does not answer the SOL retry parameter: 7 retries, 100 ms apart.
    fn default() -> Self {
        RetryPolicy {
            retries: 7,
            interval: Duration::from_millis(100),
        }
    }
}

impl RetryPolicy {
    /// The response data (after the completion code) of [`retry_parameter_request`]:
    /// parameter revision, retry count (bits 2:0), interval in 10 ms units.
    pub fn parse(data: &[u8]) -> Option<RetryPolicy> {
        let count = data.get(1)? & 0x07;
        let interval = *data.get(2)?;
        Some(RetryPolicy {
            retries: count,
            // An interval of 0 means "no wait" to the spec; resending at once floods a slow
            // BMC, so it waits 10 ms at least.
            interval: Duration::from_millis(u64::from(interval.max(1)) * 10),
        })
    }
}

/// One SOL packet: four header bytes and the characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// 1–15 for a packet with characters (or an operation) to acknowledge; 0 for an
    /// acknowledgement only.
    pub sequence: u8,
    /// The sequence number acknowledged (or NACKed) by this packet; 0 for none.
    pub ack_sequence: u8,
    /// How many characters of the acknowledged packet were accepted.
    pub accepted: u8,
    /// [`operation`] bits from a console, [`status`] bits from a BMC.
    pub flags: u8,
    pub data: Vec<u8>,
}

/// A SOL payload too short to be a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortPacket(pub usize);

impl std::fmt::Display for ShortPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a SOL packet of {} bytes (at least 4 needed)", self.0)
    }
}

impl Packet {
    pub fn decode(payload: &[u8]) -> Result<Packet, ShortPacket> {
        if payload.len() < 4 {
            return Err(ShortPacket(payload.len()));
        }
        Ok(Packet {
            sequence: payload[0] & 0x0f,
            ack_sequence: payload[1] & 0x0f,
            accepted: payload[2],
            flags: payload[3],
            data: payload[4..].to_vec(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(4 + self.data.len());
        bytes.extend_from_slice(&[
            self.sequence & 0x0f,
            self.ack_sequence & 0x0f,
            self.accepted,
            self.flags,
        ]);
        bytes.extend_from_slice(&self.data);
        bytes
    }

    fn acknowledgement(sequence: u8, accepted: u8) -> Packet {
        Packet {
            sequence: 0,
            ack_sequence: sequence,
            accepted,
            flags: 0,
            data: Vec::new(),
        }
    }
}

/// What one packet from the BMC brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Incoming {
    /// New characters from the machine (none for a duplicate).
    pub data: Vec<u8>,
    /// The packet repeated one already delivered (our acknowledgement was lost).
    pub duplicate: bool,
    pub break_detected: bool,
    /// The BMC dropped characters from the machine.
    pub overrun: bool,
    /// The BMC is ending SOL (another session took it, or the BMC's own reasons).
    pub deactivated: bool,
    /// The BMC cannot pass characters right now.
    pub transfer_unavailable: bool,
}

/// Why a [`Stream`] cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamError {
    /// A packet went unacknowledged through every retry: the BMC or the session is gone.
    Unacknowledged { sequence: u8, sends: u32 },
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Unacknowledged { sequence, sends } => write!(
                f,
                "SOL packet {sequence} was not acknowledged after {sends} sends"
            ),
        }
    }
}

#[derive(Debug, Clone)]
struct InFlight {
    packet: Packet,
    sent_at: Instant,
    sends: u32,
}

/// Both directions of one SOL session, without I/O. Characters typed are queued with
/// [`Stream::write`] and leave one packet at a time (SOL is stop-and-wait); what the BMC sends
/// goes through [`Stream::receive`]; [`Stream::poll_transmit`] says what to send now, and
/// [`Stream::deadline`] when to ask again.
#[derive(Debug, Clone)]
pub struct Stream {
    retry: RetryPolicy,
    max_characters: usize,
    next_sequence: u8,
    typed: VecDeque<u8>,
    break_requested: bool,
    in_flight: Option<InFlight>,
    ack_due: Option<(u8, u8)>,
    last_delivered: Option<(u8, Vec<u8>)>,
    /// The BMC said its buffer is full (NACK): nothing new goes until it says otherwise or
    /// the retry interval has passed.
    paused_until: Option<Instant>,
    /// The next packet carries nothing: the first one, since a BMC that remembers the sequence
    /// number of a previous session's last packet (`ipmi_sim` does) would take new data under
    /// that number for a duplicate and drop it; and a probe ([`Stream::probe`]).
    opening: bool,
}

impl Stream {
    pub fn new(retry: RetryPolicy, max_characters: usize) -> Stream {
        Stream {
            retry,
            max_characters: max_characters.clamp(1, 255),
            next_sequence: 1,
            typed: VecDeque::new(),
            break_requested: false,
            in_flight: None,
            ack_due: None,
            last_delivered: None,
            paused_until: None,
            opening: true,
        }
    }

    /// Queues characters for the machine.
    pub fn write(&mut self, bytes: &[u8]) {
        self.typed.extend(bytes);
    }

    /// Queues an empty packet that the BMC must acknowledge, to learn whether this session still
    /// holds SOL: a BMC that gave SOL to another session (`ipmi_sim` says nothing when it does)
    /// leaves it unacknowledged, and [`Stream::poll_transmit`] reports that after the retries.
    /// Nothing is queued while a packet is in flight: its acknowledgement tells the same.
    pub fn probe(&mut self) {
        if self.in_flight.is_none() && self.typed.is_empty() {
            self.opening = true;
        }
    }

    /// Queues a serial BREAK (sent with the next packet).
    pub fn send_break(&mut self) {
        self.break_requested = true;
    }

    /// Characters typed and not yet accepted by the BMC.
    pub fn unsent(&self) -> usize {
        self.typed.len() + self.in_flight.as_ref().map_or(0, |f| f.packet.data.len())
    }

    /// Takes in one packet from the BMC.
    pub fn receive(&mut self, packet: &Packet) -> Incoming {
        let mut incoming = Incoming {
            break_detected: packet.flags & status::BREAK_DETECTED != 0,
            overrun: packet.flags & status::TRANSMIT_OVERRUN != 0,
            deactivated: packet.flags & status::DEACTIVATED != 0,
            transfer_unavailable: packet.flags & status::TRANSFER_UNAVAILABLE != 0,
            ..Incoming::default()
        };
        if packet.ack_sequence != 0 {
            self.acknowledged(packet);
        }
        if packet.flags & status::NACK == 0 {
            self.paused_until = None;
        }
        if packet.sequence != 0 {
            // Everything is accepted (the caller buffers, so the BMC never has to resend for
            // want of room), up to the 255 characters an acknowledgement can count; the BMC
            // sends the rest again, and only what was acknowledged is delivered.
            let data = &packet.data[..packet.data.len().min(usize::from(u8::MAX))];
            let accepted = data.len() as u8;
            self.ack_due = Some((packet.sequence, accepted));
            // A packet sent again may carry what the machine printed since, after what it
            // carried before: only that is new.
            let already = match &self.last_delivered {
                Some((sequence, delivered))
                    if *sequence == packet.sequence && data.starts_with(delivered) =>
                {
                    delivered.len()
                }
                _ => 0,
            };
            if already > 0 && already == data.len() {
                incoming.duplicate = true;
            } else {
                incoming.duplicate = already > 0;
                incoming.data = data[already..].to_vec();
            }
            self.last_delivered = Some((packet.sequence, data.to_vec()));
        }
        incoming
    }

    fn acknowledged(&mut self, packet: &Packet) {
        let Some(flight) = &self.in_flight else {
            return;
        };
        if flight.packet.sequence != packet.ack_sequence {
            return; // A late answer to a packet already settled.
        }
        // What the BMC counted is taken, NACK or not (a BMC whose buffer just filled up takes
        // part and NACKs; one that took nothing counts 0). The rest goes again, ahead of what
        // was typed since, in a packet of its own — after a pause if the BMC NACKed.
        let sent = flight.packet.data.len();
        let accepted = usize::from(packet.accepted).min(sent);
        for byte in flight.packet.data[accepted..].iter().rev() {
            self.typed.push_front(*byte);
        }
        if packet.flags & status::NACK != 0 {
            self.paused_until = Some(flight.sent_at + self.retry.interval);
        }
        self.in_flight = None;
    }

    /// The next packet to send now, if any. Call until it returns `Ok(None)`.
    pub fn poll_transmit(&mut self, now: Instant) -> Result<Option<Packet>, StreamError> {
        if let Some(flight) = &mut self.in_flight {
            if now < flight.sent_at + self.retry.interval {
                return Ok(self
                    .ack_due
                    .take()
                    .map(|(s, a)| Packet::acknowledgement(s, a)));
            }
            if flight.sends > u32::from(self.retry.retries) {
                return Err(StreamError::Unacknowledged {
                    sequence: flight.packet.sequence,
                    sends: flight.sends,
                });
            }
            flight.sends += 1;
            flight.sent_at = now;
            let mut packet = flight.packet.clone();
            if let Some((sequence, accepted)) = self.ack_due.take() {
                packet.ack_sequence = sequence;
                packet.accepted = accepted;
            } else {
                packet.ack_sequence = 0;
                packet.accepted = 0;
            }
            return Ok(Some(packet));
        }
        if self.paused_until.is_some_and(|until| now >= until) {
            self.paused_until = None;
        }
        let paused = self.paused_until.is_some();
        if !paused && (!self.typed.is_empty() || self.break_requested || self.opening) {
            let opening = std::mem::take(&mut self.opening);
            let count = if opening {
                0
            } else {
                self.typed.len().min(self.max_characters)
            };
            let data: Vec<u8> = self.typed.drain(..count).collect();
            let sequence = self.next_sequence;
            self.next_sequence = if sequence >= 15 { 1 } else { sequence + 1 };
            let (ack_sequence, accepted) = self.ack_due.take().unwrap_or((0, 0));
            let mut flags = 0;
            // Not on the opening packet: a BMC that takes it for a duplicate ignores its
            // operations.
            if !opening && std::mem::take(&mut self.break_requested) {
                flags |= operation::BREAK;
            }
            let packet = Packet {
                sequence,
                ack_sequence,
                accepted,
                flags,
                data,
            };
            self.in_flight = Some(InFlight {
                packet: packet.clone(),
                sent_at: now,
                sends: 1,
            });
            return Ok(Some(packet));
        }
        Ok(self
            .ack_due
            .take()
            .map(|(s, a)| Packet::acknowledgement(s, a)))
    }

    /// When [`Stream::poll_transmit`] must be called again at the latest (a retransmission,
    /// or the end of a pause the BMC asked for).
    pub fn deadline(&self) -> Option<Instant> {
        let resend = self
            .in_flight
            .as_ref()
            .map(|flight| flight.sent_at + self.retry.interval);
        // A pause matters only with something to send and nothing in flight (whose resend
        // deadline comes first anyway).
        let resume = self
            .paused_until
            .filter(|_| !self.typed.is_empty() && self.in_flight.is_none());
        match (resend, resume) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets recorded in a session with `ipmi_sim` (OpenIPMI 2.0.33), decrypted: a kernel's
    /// first line from the BMC, our opening packet carrying its acknowledgement, the BMC's
    /// acknowledgement of that, a prompt, a typed command, its acknowledgement and answer.
    const FROM_BMC_BOOT_LINE: &[u8] = b"\x01\x00\x00\x00[    0.000000] Linux version 6.1\r\n";
    const RECORDED: &[(Direction, &[u8])] = &[
        (In, FROM_BMC_BOOT_LINE),
        (Out, &[0x01, 0x01, 0x22, 0x00]),
        (In, &[0x00, 0x01, 0x00, 0x00]),
        (In, b"\x02\x00\x00\x00login: "),
        (Out, &[0x00, 0x02, 0x07, 0x00]),
        (Out, b"\x02\x00\x00\x00echo SOL-TYPED-$((6*7))\r"),
        (In, &[0x00, 0x02, 0x18, 0x00]),
        (In, b"\x03\x00\x00\x00SOL-TYPED-42\r\n"),
        (Out, &[0x00, 0x03, 0x0e, 0x00]),
    ];

    #[derive(Clone, Copy)]
    enum Direction {
        In,
        Out,
    }
    use Direction::{In, Out};

    #[test]
    fn a_recorded_session_with_ipmi_sim_is_answered_byte_for_byte() {
        let now = Instant::now();
        let mut stream = Stream::new(policy(), 28);
        let mut printed = Vec::new();
        for (step, (direction, bytes)) in RECORDED.iter().enumerate() {
            match direction {
                In => printed.extend(stream.receive(&Packet::decode(bytes).unwrap()).data),
                Out => {
                    if bytes.len() > 4 {
                        stream.write(&bytes[4..]);
                    }
                    let sent = stream
                        .poll_transmit(now)
                        .unwrap()
                        .expect("a packet to send");
                    assert_eq!(sent.encode(), *bytes, "step {step}");
                }
            }
        }
        assert_eq!(stream.poll_transmit(now).unwrap(), None);
        assert_eq!(
            printed,
            b"[    0.000000] Linux version 6.1\r\nlogin: SOL-TYPED-42\r\n"
        );
    }

    /// A stream past its opening packet (empty, sequence 1, acknowledged).
    fn opened(max_characters: usize, now: Instant) -> Stream {
        let mut stream = Stream::new(policy(), max_characters);
        let opening = stream.poll_transmit(now).unwrap().unwrap();
        assert_eq!(
            opening.encode(),
            [1, 0, 0, 0],
            "the opening packet carries nothing"
        );
        stream.receive(&ack(1, 0, 0));
        stream
    }

    fn ack(sequence: u8, accepted: u8, flags: u8) -> Packet {
        Packet {
            sequence: 0,
            ack_sequence: sequence,
            accepted,
            flags,
            data: vec![],
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            retries: 2,
            interval: Duration::from_millis(100),
        }
    }

    #[test]
    fn packets_decode_and_encode_to_the_same_bytes() {
        let packet = Packet::decode(FROM_BMC_BOOT_LINE).unwrap();
        assert_eq!(packet.sequence, 1);
        assert_eq!(packet.ack_sequence, 0);
        assert_eq!(packet.data, b"[    0.000000] Linux version 6.1\r\n");
        assert_eq!(packet.encode(), FROM_BMC_BOOT_LINE);
        assert_eq!(Packet::decode(&[1, 0, 0]), Err(ShortPacket(3)));
    }

    #[test]
    fn characters_from_the_bmc_are_delivered_once_and_acknowledged_whole() {
        let now = Instant::now();
        let mut stream = opened(200, now);
        let packet = Packet::decode(FROM_BMC_BOOT_LINE).unwrap();
        let incoming = stream.receive(&packet);
        assert_eq!(incoming.data, b"[    0.000000] Linux version 6.1\r\n");
        let answer = stream.poll_transmit(now).unwrap().unwrap();
        assert_eq!(answer.encode(), [0x00, 0x01, 34, 0x00]);
        assert_eq!(stream.poll_transmit(now).unwrap(), None);
        // Our acknowledgement was lost: the BMC sends the packet again.
        let again = stream.receive(&packet);
        assert!(again.duplicate);
        assert!(again.data.is_empty());
        assert_eq!(
            stream.poll_transmit(now).unwrap().unwrap().encode(),
            [0, 1, 34, 0]
        );
        // Sent again with what the machine printed since: only that is new.
        let mut grown = packet.clone();
        grown.data.extend_from_slice(b"login: ");
        assert_eq!(stream.receive(&grown).data, b"login: ");
        assert_eq!(
            stream.poll_transmit(now).unwrap().unwrap().encode(),
            [0, 1, 41, 0]
        );
        // The same sequence number after another packet is a new packet.
        let mut next = packet.clone();
        next.sequence = 2;
        next.data = b"next".to_vec();
        assert_eq!(stream.receive(&next).data, b"next");
    }

    #[test]
    fn typed_characters_go_one_packet_at_a_time_and_are_resent_until_acknowledged() {
        let start = Instant::now();
        let mut stream = opened(4, start);
        stream.write(b"echo hi\r");
        let first = stream.poll_transmit(start).unwrap().unwrap();
        assert_eq!(first.encode(), [2, 0, 0, 0, b'e', b'c', b'h', b'o']);
        // Stop-and-wait: nothing more until the BMC answers.
        assert_eq!(stream.poll_transmit(start).unwrap(), None);
        assert_eq!(stream.deadline(), Some(start + Duration::from_millis(100)));
        let later = start + Duration::from_millis(100);
        let resent = stream.poll_transmit(later).unwrap().unwrap();
        assert_eq!(resent, first, "the same packet again");
        // The BMC takes 3 of the 4: the fourth leads the next packet.
        stream.receive(&ack(2, 3, 0));
        let second = stream.poll_transmit(later).unwrap().unwrap();
        assert_eq!(second.sequence, 3);
        assert_eq!(second.data, b"o hi");
        assert_eq!(stream.unsent(), 5);
    }

    #[test]
    fn a_full_bmc_buffer_pauses_typing_until_the_bmc_has_room() {
        let start = Instant::now();
        let mut stream = opened(32, start);
        stream.write(b"0123456789");
        stream.poll_transmit(start).unwrap().unwrap();
        // ipmi_sim's answer when its 32-byte buffer fills: 6 taken, NACK.
        stream.receive(&ack(2, 6, status::NACK));
        assert_eq!(stream.unsent(), 4);
        assert_eq!(stream.poll_transmit(start).unwrap(), None, "paused");
        // Its unsolicited acknowledgement once the buffer drained ends the pause.
        stream.receive(&ack(2, 6, 0));
        let rest = stream.poll_transmit(start).unwrap().unwrap();
        assert_eq!((rest.sequence, rest.data.as_slice()), (3, &b"6789"[..]));
        // Without that word, the pause ends after the retry interval.
        stream.receive(&ack(3, 0, status::NACK));
        assert_eq!(stream.poll_transmit(start).unwrap(), None);
        assert_eq!(stream.deadline(), Some(start + Duration::from_millis(100)));
        let again = stream
            .poll_transmit(start + Duration::from_millis(100))
            .unwrap()
            .unwrap();
        assert_eq!((again.sequence, again.data.as_slice()), (4, &b"6789"[..]));
    }

    #[test]
    fn silence_after_every_retry_ends_the_stream() {
        let start = Instant::now();
        let mut stream = opened(16, start);
        stream.write(b"x");
        stream.poll_transmit(start).unwrap().unwrap();
        let mut now = start;
        for _ in 0..2 {
            now += Duration::from_millis(100);
            assert_eq!(stream.poll_transmit(now).unwrap().unwrap().data, b"x");
        }
        now += Duration::from_millis(100);
        assert_eq!(
            stream.poll_transmit(now),
            Err(StreamError::Unacknowledged {
                sequence: 2,
                sends: 3
            })
        );
    }

    #[test]
    fn acknowledgements_ride_on_typed_packets_and_break_is_an_operation() {
        let now = Instant::now();
        let mut stream = opened(16, now);
        stream.receive(&Packet::decode(FROM_BMC_BOOT_LINE).unwrap());
        stream.write(b"a");
        stream.send_break();
        let packet = stream.poll_transmit(now).unwrap().unwrap();
        assert_eq!(packet.encode(), [2, 1, 34, operation::BREAK, b'a']);
        assert_eq!(
            stream.poll_transmit(now).unwrap(),
            None,
            "the ack went along"
        );
    }

    #[test]
    fn a_probe_is_an_empty_packet_that_must_be_acknowledged() {
        let start = Instant::now();
        let mut stream = opened(16, start);
        stream.probe();
        let probe = stream.poll_transmit(start).unwrap().unwrap();
        assert_eq!(probe.encode(), [2, 0, 0, 0]);
        // Unanswered (SOL went to another session): the stream ends after the retries.
        let mut now = start;
        for _ in 0..2 {
            now += Duration::from_millis(100);
            assert_eq!(stream.poll_transmit(now).unwrap(), Some(probe.clone()));
        }
        now += Duration::from_millis(100);
        assert!(stream.poll_transmit(now).is_err());
        // Answered, it leaves nothing behind.
        let mut stream = opened(16, start);
        stream.probe();
        stream.poll_transmit(start).unwrap().unwrap();
        stream.receive(&ack(2, 0, 0));
        assert_eq!(stream.poll_transmit(start).unwrap(), None);
        assert_eq!(stream.deadline(), None);
    }

    #[test]
    fn a_packet_longer_than_an_acknowledgement_can_count_is_taken_in_part() {
        let now = Instant::now();
        let mut stream = opened(16, now);
        let long = Packet {
            sequence: 2,
            ack_sequence: 0,
            accepted: 0,
            flags: 0,
            data: vec![b'x'; 300],
        };
        assert_eq!(stream.receive(&long).data.len(), 255);
        assert_eq!(
            stream.poll_transmit(now).unwrap().unwrap().encode(),
            [0, 2, 255, 0]
        );
    }

    #[test]
    fn a_finished_pause_does_not_wake_the_caller_again_and_again() {
        let start = Instant::now();
        let mut stream = opened(4, start);
        stream.write(b"abcdefgh");
        stream.poll_transmit(start).unwrap().unwrap();
        stream.receive(&ack(2, 2, status::NACK));
        let later = start + Duration::from_millis(100);
        let next = stream.poll_transmit(later).unwrap().unwrap();
        assert_eq!(next.data, b"cdef");
        // In flight now: the only deadline is its resend, not the past end of the pause.
        assert_eq!(stream.deadline(), Some(later + Duration::from_millis(100)));
    }

    #[test]
    fn sequence_numbers_wrap_from_15_to_1() {
        let now = Instant::now();
        let mut stream = opened(1, now);
        let mut seen = Vec::new();
        stream.write(&[b'x'; 17]);
        for _ in 0..17 {
            let packet = stream.poll_transmit(now).unwrap().unwrap();
            seen.push(packet.sequence);
            stream.receive(&ack(packet.sequence, 1, 0));
        }
        assert_eq!(seen[13], 15);
        assert_eq!(seen[14], 1);
        assert!(!seen.contains(&0));
    }

    #[test]
    fn activation_answers_and_refusals_are_read() {
        // ipmi_sim's answer: no aux data, takes 32 bytes, sends up to 16 KiB, port 623, no VLAN.
        let answer = [0, 0, 0, 0, 0x20, 0x00, 0x00, 0x40, 0x6f, 0x02, 0xff, 0xff];
        let activated = Activated::parse(&answer).unwrap();
        assert_eq!(activated.port, 623);
        assert_eq!(activated.outbound_payload_size, 16384);
        assert_eq!(activated.max_characters(), 28);
        assert!(Activated::parse(&answer[..9]).is_none());
        assert_eq!(
            ActivateRefusal::from_completion_code(0x80),
            ActivateRefusal::AlreadyActive
        );
        assert_eq!(
            activate_request(1, true, true).data(),
            &[1, 1, 0xC6, 0, 0, 0]
        );
        assert_eq!(
            RetryPolicy::parse(&[0x11, 0x07, 0x32]),
            Some(RetryPolicy {
                retries: 7,
                interval: Duration::from_millis(500)
            })
        );
    }
}
