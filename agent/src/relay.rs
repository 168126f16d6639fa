//! The relay: in a batch, the agents stream the image to each other in a pipeline instead of
//! each pulling it from baas. Each agent keeps a window of the compressed stream it has received
//! and serves it to the agents baas sends to it (`GET /relay/image` with a grant and a Range),
//! while it writes its own disk. Everyone still checks the SHA-256 of the stream and of the
//! written disk, so a bad relay can only cost time, never a wrong disk.
//!
//! Both halves of the agent-to-agent protocol live here: the server a relay runs ([`Relay`]),
//! and the client a child streams with ([`fetch`]). Plain HTTP/1.1 over std's sockets: one
//! request per connection, nothing more, so that a read times out when the parent stalls.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use lab::agent_protocol::{check_relay_grant, OrderImage, RelayPlan, RelayRequest, Upstream};

use crate::client::Client;
use crate::Failure;

/// The largest request head a child may send.
const MAX_HEAD: usize = 8 << 10;
/// A child that reads nothing for this long is dropped.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more are refused (a pipeline sends one or two children).
const MAX_CONNECTIONS: usize = 32;

/// What a relay holds and who may read it.
struct Held {
    /// Received pieces of the stream, oldest first, each with the offset of its first byte.
    pieces: VecDeque<(u64, Arc<Vec<u8>>)>,
    /// The offset of the first byte still held, and of the first byte not yet received.
    base: u64,
    end: u64,
    held: usize,
    capacity: usize,
    total: u64,
    /// The grant key and this agent's job, once baas has said them.
    key: Option<Vec<u8>>,
    job_id: i64,
    stored_sha256: String,
    /// The download failed: nothing more will come.
    failed: bool,
}

/// One agent's relay: a window of the stream it received, served to its children.
pub struct Relay {
    held: Mutex<Held>,
    arrived: Condvar,
    /// Open connections, and those of them that showed a valid grant (the children).
    connections: AtomicUsize,
    children: AtomicUsize,
    served: AtomicUsize,
    port: u16,
}

impl Relay {
    /// Listens on every address on a free port (IPv6 and IPv4 when the system has both) and
    /// serves children from a window of `capacity` bytes of a stream of `total` bytes.
    pub fn start(total: u64, capacity: usize, stored_sha256: &str) -> std::io::Result<Arc<Relay>> {
        let listener = TcpListener::bind("[::]:0").or_else(|_| TcpListener::bind("0.0.0.0:0"))?;
        let relay = Arc::new(Relay {
            held: Mutex::new(Held {
                pieces: VecDeque::new(),
                base: 0,
                end: 0,
                held: 0,
                capacity: capacity.max(1 << 20),
                total,
                key: None,
                job_id: 0,
                stored_sha256: stored_sha256.to_string(),
                failed: false,
            }),
            arrived: Condvar::new(),
            connections: AtomicUsize::new(0),
            children: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
            port: listener.local_addr()?.port(),
        });
        let serving = relay.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let relay = serving.clone();
                std::thread::spawn(move || relay.serve(stream));
            }
        });
        Ok(relay)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// From now on, children with a grant of `key` for job `job_id` are served.
    pub fn authorise(&self, key: Vec<u8>, job_id: i64) {
        if let Ok(mut held) = self.held.lock() {
            held.key = Some(key);
            held.job_id = job_id;
        }
    }

    /// Adds the stream's bytes from `offset` (each byte once, in order).
    pub fn publish(&self, offset: u64, bytes: &[u8]) {
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        if offset != held.end || bytes.is_empty() {
            return;
        }
        held.end += bytes.len() as u64;
        held.held += bytes.len();
        held.pieces.push_back((offset, Arc::new(bytes.to_vec())));
        while held.held > held.capacity && held.pieces.len() > 1 {
            if let Some((_, piece)) = held.pieces.pop_front() {
                held.held -= piece.len();
            }
            held.base = held.pieces.front().map(|(at, _)| *at).unwrap_or(held.end);
        }
        drop(held);
        self.arrived.notify_all();
    }

    /// The download failed: children are cut off rather than left waiting.
    pub fn fail(&self) {
        if let Ok(mut held) = self.held.lock() {
            held.failed = true;
        }
        self.arrived.notify_all();
    }

    /// Children being served now.
    pub fn children(&self) -> usize {
        self.children.load(Ordering::SeqCst)
    }

    /// Children served the stream to its end so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    fn serve(&self, mut stream: TcpStream) {
        if self.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            let _ = refuse(&mut stream, 503, "this relay serves enough children");
        } else {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            match self.answer(stream) {
                Ok(true) => {
                    self.served.fetch_add(1, Ordering::SeqCst);
                }
                Ok(false) => {}
                Err(e) => eprintln!("baas-agent: relay to {peer}: {e}"),
            }
        }
        self.connections.fetch_sub(1, Ordering::SeqCst);
    }

    /// Answers one request; true when the stream was served to its end.
    fn answer(&self, stream: TcpStream) -> std::io::Result<bool> {
        // The whole head within HEAD_TIMEOUT: a read may wait at most what is left of it.
        stream.set_read_timeout(Some(HEAD_TIMEOUT))?;
        stream.set_write_timeout(Some(CHILD_TIMEOUT))?;
        let mut reader = BufReader::new(Deadline {
            stream: stream.try_clone()?,
            until: std::time::Instant::now() + HEAD_TIMEOUT,
        });
        let mut writer = stream;
        let head = match read_head(&mut reader) {
            Ok(head) => head,
            Err(e) => return refuse(&mut writer, 400, &e.to_string()).map(|()| false),
        };
        let mut lines = head.lines();
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if method != "GET" || path != "/relay/image" {
            return refuse(&mut writer, 404, "only GET /relay/image is served here")
                .map(|()| false);
        }
        let (mut grant, mut from) = (String::new(), 0u64);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "authorization" => {
                    grant = value
                        .strip_prefix("Bearer ")
                        .unwrap_or("")
                        .trim()
                        .to_string()
                }
                "range" => {
                    let Some(start) = value
                        .strip_prefix("bytes=")
                        .and_then(|r| r.strip_suffix('-'))
                        .and_then(|n| n.parse().ok())
                    else {
                        return refuse(&mut writer, 416, "only ranges bytes=N- are served")
                            .map(|()| false);
                    };
                    from = start;
                }
                _ => {}
            }
        }
        let (total, base) = {
            let held = self.lock()?;
            let Some(key) = held.key.as_ref() else {
                drop(held);
                return refuse(&mut writer, 503, "this relay is not serving yet").map(|()| false);
            };
            if let Err(why) =
                check_relay_grant(key, &grant, held.job_id, &held.stored_sha256, unix_now())
            {
                drop(held);
                return refuse(&mut writer, 403, why).map(|()| false);
            }
            (held.total, held.base)
        };
        if from > total || from < base {
            return refuse(
                &mut writer,
                416,
                &format!("byte {from} is not held here (held from {base})"),
            )
            .map(|()| false);
        }
        // A child from here on: the relay's agent stays while it is served.
        let _child = Counted::new(&self.children);
        let last = total.saturating_sub(1);
        write!(
            writer,
            "HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {}\r\nContent-Range: bytes {from}-{last}/{total}\r\n\
             Connection: close\r\n\r\n",
            total - from
        )?;
        let mut at = from;
        while at < total {
            let (piece, start) = {
                let mut held = self.lock()?;
                loop {
                    if at < held.base {
                        return Err(std::io::Error::other(format!(
                            "the child fell behind the window (at byte {at}, held from {})",
                            held.base
                        )));
                    }
                    if at < held.end {
                        break;
                    }
                    if held.failed {
                        return Err(std::io::Error::other("this relay's own download failed"));
                    }
                    held = self
                        .arrived
                        .wait_timeout(held, Duration::from_secs(1))
                        .map_err(|_| std::io::Error::other("relay lock poisoned"))?
                        .0;
                }
                let index = held.pieces.partition_point(|(offset, _)| *offset <= at) - 1;
                let (offset, piece) = &held.pieces[index];
                (piece.clone(), (at - offset) as usize)
            };
            writer.write_all(&piece[start..])?;
            at += (piece.len() - start) as u64;
        }
        writer.flush()?;
        Ok(true)
    }

    fn lock(&self) -> std::io::Result<std::sync::MutexGuard<'_, Held>> {
        self.held
            .lock()
            .map_err(|_| std::io::Error::other("relay lock poisoned"))
    }
}

/// A socket whose reads fail once `until` has passed.
struct Deadline {
    stream: TcpStream,
    until: std::time::Instant,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self
            .until
            .checked_duration_since(std::time::Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request head took too long",
                )
            })?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// Holds one count up for as long as it lives.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Counted(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Reads a request or response head (up to the empty line), bounded by [`MAX_HEAD`].
fn read_head(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let read = reader
            .take((MAX_HEAD - head.len()) as u64)
            .read_until(b'\n', &mut head)?;
        if read == 0 {
            return Err(std::io::Error::other(if head.len() >= MAX_HEAD {
                "the head is too long"
            } else {
                "the connection closed before the head ended"
            }));
        }
        if head[before..] == *b"\r\n" || head[before..] == *b"\n" {
            break;
        }
    }
    String::from_utf8(head).map_err(|_| std::io::Error::other("the head is not text"))
}

fn refuse(writer: &mut TcpStream, status: u16, why: &str) -> std::io::Result<()> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Service Unavailable",
    };
    write!(
        writer,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{why}",
        why.len()
    )
}

/// Streams a relay's image from byte `offset`: the body, or why not. Reads time out after
/// `stall` without a byte, so a parent that died without a word is noticed.
pub fn fetch(url: &str, grant: &str, offset: u64, stall: Duration) -> Result<impl Read, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// relays are known"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let address: SocketAddr = authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut all| all.next())
        .ok_or_else(|| format!("{authority} is not an address"))?;
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .map_err(|e| format!("connecting to the relay {authority}: {e}"))?;
    let _ = stream.set_nodelay(true);
    stream
        .set_read_timeout(Some(stall))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(stall))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    write!(
        writer,
        "GET {} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {grant}\r\n\
         Range: bytes={offset}-\r\nConnection: close\r\n\r\n",
        if path.is_empty() { "/" } else { path }
    )
    .map_err(|e| format!("asking the relay {authority}: {e}"))?;
    let mut reader = BufReader::with_capacity(256 << 10, stream);
    let head = read_head(&mut reader).map_err(|e| format!("the relay {authority}: {e}"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length: u64 = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    if status != 206 {
        let mut why = String::new();
        let _ = reader.take(length.min(512)).read_to_string(&mut why);
        return Err(format!("the relay {authority} answered {status}: {why}"));
    }
    Ok(reader.take(length))
}

/// A deploy's place in the relay: its own relay, and the agent it streams from (none: baas).
pub struct Link<'a> {
    client: &'a Client,
    pub relay: Arc<Relay>,
    upstream: Option<Upstream>,
    /// Upstreams that failed this agent; baas never names them again.
    avoid: Vec<i64>,
}

impl<'a> Link<'a> {
    /// Starts this agent's relay and joins the batch's pipeline.
    pub fn join(client: &'a Client, job_id: i64, image: &OrderImage) -> Result<Link<'a>, Failure> {
        let relay = Relay::start(
            image.stored_size,
            window_capacity(image.stored_size),
            &image.stored_sha256,
        )
        .map_err(|e| Failure::new("relay", format!("listening for the batch's agents: {e}")))?;
        let mut link = Link {
            client,
            relay,
            upstream: None,
            avoid: Vec::new(),
        };
        let plan = link.ask()?;
        let key = hex::decode(&plan.key)
            .map_err(|_| Failure::new("relay", "baas sent a relay key that is not hex"))?;
        link.relay.authorise(key, job_id);
        eprintln!(
            "baas-agent: relaying on port {}; streaming from {}",
            link.relay.port(),
            link.source()
        );
        Ok(link)
    }

    /// Where the stream comes from now.
    pub fn source(&self) -> String {
        match &self.upstream {
            Some(up) => format!("the agent of job {} ({})", up.job_id, up.url),
            None => "baas".into(),
        }
    }

    /// Opens the stream at `offset` from the upstream agent; `None`: from baas.
    pub fn open(&mut self, offset: u64) -> Option<Result<Box<dyn Read + Send>, String>> {
        let up = self.upstream.as_ref()?;
        // Deeper agents wait longer, so that the one right below a stalled agent notices
        // first, and reconnects, before the ones below it give up on it.
        let stall = STALL + STALL_PER_HOP * up.depth.min(MAX_STALL_HOPS);
        Some(fetch(&up.url, &up.grant, offset, stall).map(|r| Box::new(r) as Box<dyn Read + Send>))
    }

    /// The upstream failed (`why`): baas names the next one up the pipeline, or itself.
    pub fn upstream_failed(&mut self, why: &str) -> Result<(), Failure> {
        if let Some(up) = self.upstream.take() {
            eprintln!(
                "baas-agent: the relay of job {} failed ({why}); asking baas for another",
                up.job_id
            );
            self.avoid.push(up.job_id);
        }
        self.ask()?;
        eprintln!("baas-agent: streaming from {}", self.source());
        Ok(())
    }

    fn ask(&mut self) -> Result<RelayPlan, Failure> {
        let plan: RelayPlan = self.client.expect(
            "relay",
            "POST",
            "/agent/v1/relay",
            Some(&RelayRequest {
                port: self.relay.port(),
                avoid: self.avoid.clone(),
            }),
        )?;
        self.upstream = plan.upstream.clone();
        Ok(plan)
    }
}

/// How long a child waits for a byte from its upstream, plus this per hop of depth, counted for
/// at most MAX_STALL_HOPS hops: 40 s at most, well inside the job's progress timeout (2 min).
const STALL: Duration = Duration::from_secs(8);
const STALL_PER_HOP: Duration = Duration::from_secs(2);
const MAX_STALL_HOPS: u32 = 16;

/// The window a relay keeps: the whole stream when it fits in a quarter of the free memory
/// (the management OS runs from RAM), else that quarter, at least 64 MiB.
fn window_capacity(stream: u64) -> usize {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(256 << 20);
    stream.min((available / 4).max(64 << 20)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use lab::agent_protocol::relay_grant;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn relay_of(bytes: &[u8], capacity: usize) -> Arc<Relay> {
        let relay = Relay::start(bytes.len() as u64, capacity, "feed").unwrap();
        relay.authorise(KEY.to_vec(), 7);
        relay
    }

    fn url(relay: &Relay) -> String {
        format!("http://127.0.0.1:{}/relay/image", relay.port())
    }

    #[test]
    fn a_child_with_a_grant_streams_what_the_relay_receives_as_it_arrives() {
        let stream: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let relay = relay_of(&stream, 64 << 20);
        let grant = relay_grant(KEY, 7, 8, "feed", unix_now() + 60);
        let feeding = {
            let (relay, stream) = (relay.clone(), stream.clone());
            std::thread::spawn(move || {
                for (i, piece) in stream.chunks(100_000).enumerate() {
                    relay.publish((i * 100_000) as u64, piece);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        let mut body = Vec::new();
        fetch(&url(&relay), &grant, 0, Duration::from_secs(5))
            .unwrap()
            .read_to_end(&mut body)
            .unwrap();
        feeding.join().unwrap();
        assert_eq!(body, stream);
        // Resumed from the middle, by Range.
        let mut tail = Vec::new();
        fetch(&url(&relay), &grant, 2_500_000, Duration::from_secs(5))
            .unwrap()
            .read_to_end(&mut tail)
            .unwrap();
        assert_eq!(tail, stream[2_500_000..]);
        assert_eq!(relay.served(), 2);
        assert_eq!(relay.children(), 0);
    }

    #[test]
    fn a_relay_refuses_a_missing_forged_expired_or_foreign_grant() {
        let relay = relay_of(b"abc", 1 << 20);
        relay.publish(0, b"abc");
        let stall = Duration::from_secs(5);
        let refused = |grant: &str| match fetch(&url(&relay), grant, 0, stall) {
            Err(why) => why,
            Ok(_) => panic!("served with {grant:?}"),
        };
        assert!(refused("").contains("403"));
        let other_key = relay_grant(
            b"another key, another relay......",
            7,
            8,
            "feed",
            unix_now() + 60,
        );
        assert!(refused(&other_key).contains("403"));
        assert!(refused(&relay_grant(KEY, 7, 8, "feed", unix_now() - 1)).contains("403"));
        assert!(
            refused(&relay_grant(KEY, 9, 8, "feed", unix_now() + 60)).contains("403"),
            "another parent's grant"
        );
        assert!(
            refused(&relay_grant(KEY, 7, 8, "beef", unix_now() + 60)).contains("403"),
            "another image's grant"
        );
        let mut body = String::new();
        fetch(
            &url(&relay),
            &relay_grant(KEY, 7, 8, "feed", unix_now() + 60),
            0,
            stall,
        )
        .unwrap()
        .read_to_string(&mut body)
        .unwrap();
        assert_eq!(body, "abc");
    }

    #[test]
    fn a_connection_without_a_granted_request_is_no_child_to_wait_for() {
        let relay = relay_of(b"abc", 1 << 20);
        let silent = TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            relay.children(),
            0,
            "a silent connection keeps no agent waiting"
        );
        drop(silent);
        assert!(fetch(&url(&relay), "nonsense", 0, Duration::from_secs(5)).is_err());
        assert_eq!(relay.children(), 0);
    }

    #[test]
    fn bytes_that_left_the_window_are_refused_so_the_child_goes_up_the_pipeline() {
        let relay = relay_of(&[0u8; 4 << 20], 1 << 20);
        for i in 0..4u64 {
            relay.publish(i << 20, &[i as u8; 1 << 20]);
        }
        let grant = relay_grant(KEY, 7, 8, "feed", unix_now() + 60);
        match fetch(&url(&relay), &grant, 0, Duration::from_secs(5)) {
            Err(why) => assert!(why.contains("416") && why.contains("not held"), "{why}"),
            Ok(_) => panic!("served bytes it no longer holds"),
        }
        let mut tail = Vec::new();
        fetch(&url(&relay), &grant, 3 << 20, Duration::from_secs(5))
            .unwrap()
            .read_to_end(&mut tail)
            .unwrap();
        assert_eq!(tail, vec![3u8; 1 << 20]);
    }

    #[test]
    fn a_child_of_a_relay_whose_download_failed_is_cut_off_and_a_silent_one_times_out() {
        let relay = relay_of(&[0u8; 1000], 1 << 20);
        relay.publish(0, &[1u8; 100]);
        let grant = relay_grant(KEY, 7, 8, "feed", unix_now() + 60);
        let mut reader = fetch(&url(&relay), &grant, 0, Duration::from_millis(500)).unwrap();
        let mut first = [0u8; 100];
        reader.read_exact(&mut first).unwrap();
        // Nothing more arrives: the child's read times out instead of waiting for ever.
        let mut more = [0u8; 1];
        assert!(reader.read(&mut more).is_err());
        let mut reader = fetch(&url(&relay), &grant, 0, Duration::from_secs(5)).unwrap();
        reader.read_exact(&mut first).unwrap();
        relay.fail();
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        assert!(
            rest.is_empty(),
            "the stream ends short, and the child's checks notice"
        );
    }
}
