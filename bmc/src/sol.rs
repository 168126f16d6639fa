//! A machine's serial console through its BMC: IPMI 2.0 Serial-over-LAN on an RMCP+ session.
//!
//! The session is opened and SOL activated on a blocking thread (ipmi-rs' handshake is
//! blocking), then carried on as a task on an async socket: characters typed go in through
//! [`SolConsole::send`], what the machine prints comes out of [`SolConsole::next`]. The
//! packet exchange itself (sequence numbers, acknowledgements, retransmission) is
//! `ipmi_rs::sol::Stream`; this module does the I/O, keeps the session alive and notices when
//! the BMC has gone.

use std::time::{Duration, Instant};

use ipmi_rs::connection::{LogicalUnit, Message, Request, RequestTargetAddress};
use ipmi_rs::rmcp::{CipherSuite, PayloadType, SessionCodec};
use ipmi_rs::sol::{self, ActivateRefusal, Activated, Packet, RetryPolicy, Stream};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::ipmi::Session;
use crate::{Error, Result, Target};

/// A keep-alive (Get Device ID) goes this often, whatever SOL carries: BMCs close sessions
/// that send no IPMI request for a while (`ipmi_sim` after 30 s; SOL packets do not count),
/// and ipmitool keeps them alive the same way.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// No datagram at all from the BMC for this long (three keep-alives unanswered): it is gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(50);
/// Typed characters the session buffers before it stops taking more (back-pressure on typists).
const TYPED_LIMIT: usize = 64 * 1024;

/// What to do when another session already holds the BMC's SOL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeOver {
    /// Fail with [`SolError::AlreadyActive`].
    No,
    /// Deactivate the other session's SOL and take it.
    Yes,
}

/// Why SOL could not be opened or went away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolError {
    /// Another session holds SOL; it can be taken over.
    #[error("SOL is already active in another session on the BMC at {address}")]
    AlreadyActive { address: String },
    /// The BMC refused SOL for another reason (disabled, encryption, limits).
    #[error("the BMC at {address} refused SOL: {reason}")]
    Refused { address: String, reason: String },
    /// The BMC could not be reached, refused the log-in or broke the protocol.
    #[error(transparent)]
    Bmc(#[from] Error),
}

/// Something that happened on the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleEvent {
    /// Characters the machine printed, in order.
    Output(Vec<u8>),
    /// The BMC saw a BREAK on the machine's serial line.
    BreakDetected,
    /// The BMC dropped characters from the machine (its buffer overflowed).
    Overrun,
    /// The console ended; no events follow.
    Closed(Closed),
}

/// Why a console ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// We closed it.
    ByUs,
    /// The BMC deactivated SOL (another session took it over, or the BMC's own reasons).
    Deactivated,
    /// The BMC stopped answering.
    Lost(String),
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::ByUs => f.write_str("closed"),
            Closed::Deactivated => f.write_str("the BMC deactivated SOL (taken over?)"),
            Closed::Lost(reason) => write!(f, "the BMC stopped answering: {reason}"),
        }
    }
}

enum Input {
    Bytes(Vec<u8>),
    Break,
}

/// An open SOL console. Dropping it deactivates SOL and closes the session.
pub struct SolConsole {
    input: mpsc::Sender<Input>,
    events: mpsc::UnboundedReceiver<ConsoleEvent>,
}

impl SolConsole {
    /// Characters for the machine. Waits while the BMC is behind by more than 64 KiB.
    pub async fn send(&self, bytes: Vec<u8>) -> bool {
        self.input.send(Input::Bytes(bytes)).await.is_ok()
    }

    /// A serial BREAK (SysRq on a Linux console).
    pub async fn send_break(&self) -> bool {
        self.input.send(Input::Break).await.is_ok()
    }

    /// The next event; `None` after [`ConsoleEvent::Closed`].
    pub async fn next(&mut self) -> Option<ConsoleEvent> {
        self.events.recv().await
    }
}

/// Opens SOL instance 1 on the BMC at `target`, in an RMCP+ session with cipher suite `suite`
/// (1, 2 or 3).
pub async fn open(target: &Target, suite: u8, take_over: TakeOver) -> Result<SolConsole, SolError> {
    let address = target.address.clone();
    let suite = CipherSuite::from_id(suite).ok_or_else(|| SolError::Refused {
        address: address.clone(),
        reason: format!("cipher suite {suite} is not supported (1, 2 and 3 are)"),
    })?;
    let limit = target.timeout;
    let blocking_target = target.clone();
    let work = tokio::task::spawn_blocking(move || activate(&blocking_target, suite, take_over));
    let (socket, codec, activated, retry) = match tokio::time::timeout(limit * 2, work).await {
        Ok(Ok(result)) => result?,
        Ok(Err(join)) => {
            return Err(Error::Protocol {
                address,
                message: format!("driver thread failed: {join}"),
            }
            .into())
        }
        Err(_) => {
            return Err(Error::Timeout {
                address,
                seconds: (limit * 2).as_secs().max(1),
            }
            .into())
        }
    };
    let protocol = |message: String| Error::Protocol {
        address: address.clone(),
        message,
    };
    socket
        .set_nonblocking(true)
        .map_err(|e| protocol(e.to_string()))?;
    let socket = UdpSocket::from_std(socket).map_err(|e| protocol(e.to_string()))?;
    let (input_tx, input_rx) = mpsc::channel(64);
    // Unbounded: the session must go on acknowledging the BMC whatever its reader does (a
    // reader that waits on the session's input would otherwise deadlock with it); the reader
    // (the console's hub) drains it without waiting on anything else.
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let stream = Stream::new(retry, activated.max_characters());
    tokio::spawn(run(socket, codec, stream, input_rx, events_tx, address));
    Ok(SolConsole {
        input: input_tx,
        events: events_rx,
    })
}

type Activation = (std::net::UdpSocket, SessionCodec, Activated, RetryPolicy);

/// Opens the session and activates SOL (blocking).
fn activate(
    target: &Target,
    suite: CipherSuite,
    take_over: TakeOver,
) -> Result<Activation, SolError> {
    let mut session = Session::open(target, suite)?;
    let address = session.address().to_string();
    // Asked before activation: once SOL is active the BMC's packets may come between a request
    // and its answer on this blocking socket.
    let retry = session
        .raw(sol::retry_parameter_request())
        .ok()
        .and_then(|(code, data)| (code == 0).then(|| RetryPolicy::parse(&data)).flatten())
        .unwrap_or_default();
    let (encrypt, authenticate) = match suite {
        CipherSuite::Suite1 => (false, false),
        CipherSuite::Suite2 => (false, true),
        CipherSuite::Suite3 => (true, true),
    };
    let activated = match take_sol(&mut session, &address, encrypt, authenticate, take_over) {
        Ok(activated) => activated,
        Err(error) => {
            session.close();
            return Err(error);
        }
    };
    let (socket, codec) = session
        .into_rmcp()
        .into_session()
        .ok_or_else(|| SolError::Refused {
            address: address.clone(),
            reason: "SOL needs an IPMI 2.0 (RMCP+) session".into(),
        })?;
    Ok((socket, codec, activated, retry))
}

/// Activates SOL in `session`, deactivating another session's first when taking over.
fn take_sol(
    session: &mut Session,
    address: &str,
    encrypt: bool,
    authenticate: bool,
    take_over: TakeOver,
) -> Result<Activated, SolError> {
    let attempt = |session: &mut Session| -> Result<std::result::Result<Activated, ActivateRefusal>, SolError> {
        let (code, data) = session.raw(sol::activate_request(1, encrypt, authenticate))?;
        if code != 0 {
            return Ok(Err(ActivateRefusal::from_completion_code(code)));
        }
        Activated::parse(&data)
            .map(Ok)
            .ok_or_else(|| SolError::Bmc(session.protocol("short Activate Payload answer")))
    };
    match attempt(session)? {
        Ok(activated) => Ok(activated),
        Err(ActivateRefusal::AlreadyActive) if take_over == TakeOver::Yes => {
            let (code, _) = session.raw(sol::deactivate_request(1))?;
            if code != 0 && code != 0x80 {
                return Err(SolError::Refused {
                    address: address.to_string(),
                    reason: format!("Deactivate Payload failed with completion code {code:#04x}"),
                });
            }
            attempt(session)?.map_err(|refusal| refusal_error(address, refusal))
        }
        Err(refusal) => Err(refusal_error(address, refusal)),
    }
}

fn refusal_error(address: &str, refusal: ActivateRefusal) -> SolError {
    match refusal {
        ActivateRefusal::AlreadyActive => SolError::AlreadyActive {
            address: address.to_string(),
        },
        other => SolError::Refused {
            address: address.to_string(),
            reason: other.to_string(),
        },
    }
}

fn request(message: Message) -> Request {
    Request::new(message, RequestTargetAddress::Bmc(LogicalUnit::Zero))
}

/// The session task: until the console is dropped, the BMC deactivates SOL or goes silent.
async fn run(
    socket: UdpSocket,
    mut codec: SessionCodec,
    mut stream: Stream,
    mut input: mpsc::Receiver<Input>,
    events: mpsc::UnboundedSender<ConsoleEvent>,
    address: String,
) {
    let closed = exchange(
        &socket,
        &mut codec,
        &mut stream,
        &mut input,
        &events,
        &address,
    )
    .await;
    // Deactivate Payload only when we end a SOL we hold: after a loss SOL may be another
    // session's now, and a BMC that does not check who asks (`ipmi_sim`) would end theirs.
    // Closing the session releases whatever it still held. Best effort: a BMC that is gone
    // does not answer, and nobody waits for it.
    let goodbye = match closed {
        Closed::ByUs => vec![sol::deactivate_request(1), close_session(&codec)],
        Closed::Lost(_) => vec![close_session(&codec)],
        Closed::Deactivated => Vec::new(),
    };
    for message in goodbye {
        if let Ok(datagram) = codec.seal_request(&request(message)) {
            let _ = socket.send(&datagram).await;
        }
    }
    let _ = events.send(ConsoleEvent::Closed(closed));
}

fn close_session(codec: &SessionCodec) -> Message {
    Message::new_raw(
        sol::NETFN_APP,
        0x3C,
        codec.session_id().to_le_bytes().to_vec(),
    )
}

async fn exchange(
    socket: &UdpSocket,
    codec: &mut SessionCodec,
    stream: &mut Stream,
    input: &mut mpsc::Receiver<Input>,
    events: &mpsc::UnboundedSender<ConsoleEvent>,
    address: &str,
) -> Closed {
    // Room for the largest SOL payload a BMC may announce (64 KiB) and the session's framing.
    let mut buffer = vec![0u8; 65536 + 128];
    let mut last_heard = Instant::now();
    let mut last_keepalive = Instant::now();
    loop {
        let now = Instant::now();
        if now.duration_since(last_heard) > SILENCE_LIMIT {
            return Closed::Lost(format!(
                "nothing from {address} for {} s",
                SILENCE_LIMIT.as_secs()
            ));
        }
        let mut wake = last_keepalive + KEEPALIVE;
        if let Some(deadline) = stream.deadline() {
            wake = wake.min(deadline);
        }
        let accepting = stream.unsent() < TYPED_LIMIT;
        tokio::select! {
            received = socket.recv(&mut buffer) => {
                let Ok(length) = received else {
                    return Closed::Lost(format!("receive failed: {}", received.err().map(|e| e.to_string()).unwrap_or_default()));
                };
                let Ok(message) = codec.open(&mut buffer[..length]) else {
                    // Not ours, or damaged: dropped (a BMC resends what is not acknowledged).
                    continue;
                };
                last_heard = Instant::now();
                if message.ty != PayloadType::Sol {
                    continue; // The answer to a keep-alive or to a close.
                }
                let Ok(packet) = Packet::decode(&message.payload) else {
                    continue;
                };
                let incoming = stream.receive(&packet);
                if !incoming.data.is_empty()
                    && events.send(ConsoleEvent::Output(incoming.data)).is_err()
                {
                    return Closed::ByUs;
                }
                if incoming.break_detected {
                    let _ = events.send(ConsoleEvent::BreakDetected);
                }
                if incoming.overrun {
                    let _ = events.send(ConsoleEvent::Overrun);
                }
                if incoming.deactivated {
                    return Closed::Deactivated;
                }
            }
            typed = input.recv(), if accepting => {
                match typed {
                    Some(Input::Bytes(bytes)) => stream.write(&bytes),
                    Some(Input::Break) => stream.send_break(),
                    None => return Closed::ByUs,
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                if Instant::now() >= last_keepalive + KEEPALIVE {
                    // And an empty SOL packet: does this session still hold SOL?
                    stream.probe();
                    // Get Device ID: any answer proves the BMC and the session alive.
                    if let Ok(datagram) = codec.seal_request(&request(Message::new_raw(sol::NETFN_APP, 0x01, vec![]))) {
                        let _ = socket.send(&datagram).await;
                    }
                    last_keepalive = Instant::now();
                }
            }
        }
        loop {
            match stream.poll_transmit(Instant::now()) {
                Ok(Some(packet)) => {
                    let Ok(datagram) = codec.seal(PayloadType::Sol, packet.encode()) else {
                        return Closed::Lost("the session's sequence numbers are used up".into());
                    };
                    if let Err(error) = socket.send(&datagram).await {
                        return Closed::Lost(format!("send failed: {error}"));
                    }
                }
                Ok(None) => break,
                Err(error) => return Closed::Lost(error.to_string()),
            }
        }
    }
}
