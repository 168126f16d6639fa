//! The HTTP listener and its connections. Every connection is hyper's (HTTP/1.1, h2c, upgrades)
//! through the router, except for one fast path that image bytes take.
//!
//! A bodiless HTTP/1.1 GET or HEAD for a file route ([`FILE_ROUTES`]) is read here and passed
//! through the same router, so sessions, tokens, authorization, Range, ETag and every layer
//! apply as to any request. When the answer carries a [`FileSpan`], its bytes go from the page
//! cache to the socket with `sendfile(2)`: no copy through user space, no wake-up per block, which
//! is what nginx does. The first request on a connection that is not such a GET hands the
//! connection — with whatever bytes it already sent — to hyper for good.
//!
//! baas speaks plain HTTP; a TLS deployment terminates TLS in a proxy in front, which then reads
//! from this path.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// Path prefixes whose GETs may be answered with a [`FileSpan`]: image content, virtual media,
/// the agent's image stream, and the boot plane's files (management OS, boot programs).
pub const FILE_ROUTES: &[&str] = &["/images/", "/media/", "/agent/v1/image", "/boot/"];

/// A response extension: the body is these bytes of this file, nothing else. The response
/// also carries an ordinary body with the same bytes, for connections the fast path does not
/// serve; it is never polled when the span is sent.
#[derive(Clone, Debug)]
pub struct FileSpan {
    pub file: Arc<std::fs::File>,
    pub start: u64,
    pub count: u64,
}

/// File spans sent with sendfile since start (for tests and diagnostics).
pub static SPANS_SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A request head larger than this is hyper's to judge.
const MAX_HEAD: usize = 16 << 10;
const MAX_HEADERS: usize = 64;
/// How long a connection may sit before sending (the rest of) a request head on the fast path.
const IDLE: Duration = Duration::from_secs(75);
/// How long a client may leave a span's bytes unread before the connection is dropped.
const STALLED: Duration = Duration::from_secs(120);
/// How long shutting down waits for connections to finish their requests.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` completes, then lets open connections finish
/// (up to [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(());
    // Each connection holds a receiver; the sender sees them all gone.
    let (all_done, done) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::error!(%error, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let (router, stopping, done) = (router.clone(), stopping.clone(), done.clone());
        tokio::spawn(async move {
            connection(stream, peer, router, stopping).await;
            drop(done);
        });
    }
    drop(stop);
    drop(done);
    let drained = tokio::time::timeout(DRAIN, all_done.closed()).await;
    if drained.is_err() {
        tracing::warn!("connections still open after {DRAIN:?}; stopping anyway");
    }
    Ok(())
}

fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// One connection: fast-path requests while they come, then hyper.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut stopping: watch::Receiver<()>,
) {
    let mut buffered = BytesMut::with_capacity(4096);
    loop {
        let head = tokio::select! {
            head = read_head(&mut stream, &mut buffered) => head,
            _ = stopping.changed() => return,
        };
        match head {
            Head::Closed => return,
            Head::Other => break,
            Head::File { request, len } => {
                buffered.advance(len);
                match answer(stream, *request, peer, &router).await {
                    Some(open) => stream = open,
                    None => return,
                }
            }
        }
    }
    hyper_connection(stream, buffered.freeze(), peer, router, stopping).await;
}

enum Head {
    /// The peer closed, or sent nothing in time.
    Closed,
    /// A request for hyper (or bytes that hyper will refuse properly).
    Other,
    /// A bodiless GET or HEAD for a file route, `len` bytes long.
    File {
        request: Box<Request<Body>>,
        len: usize,
    },
}

/// Reads until `buffered` holds a whole request head, or until it is clear that the request is
/// not for the fast path.
async fn read_head(stream: &mut TcpStream, buffered: &mut BytesMut) -> Head {
    loop {
        if !buffered.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Request::new(&mut headers);
            match parsed.parse(buffered) {
                Ok(httparse::Status::Complete(len)) => {
                    return match file_request(&parsed) {
                        Some(request) => Head::File {
                            request: Box::new(request),
                            len,
                        },
                        None => Head::Other,
                    };
                }
                Ok(httparse::Status::Partial) => {
                    // The request line alone may already rule the fast path out.
                    if let Some(path) = parsed.path {
                        if !is_file_route(parsed.method.unwrap_or(""), path) {
                            return Head::Other;
                        }
                    }
                    if buffered.len() > MAX_HEAD {
                        return Head::Other;
                    }
                }
                Err(_) => return Head::Other,
            }
        }
        match tokio::time::timeout(IDLE, stream.read_buf(buffered)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Head::Closed,
            Ok(Ok(_)) => {}
        }
    }
}

fn is_file_route(method: &str, path: &str) -> bool {
    matches!(method, "GET" | "HEAD") && FILE_ROUTES.iter().any(|route| path.starts_with(route))
}

/// The request, when it is one the fast path takes: HTTP/1.1, GET or HEAD on a file route, no
/// body, no upgrade, and a head that `http` accepts.
fn file_request(parsed: &httparse::Request) -> Option<Request<Body>> {
    let (method, path) = (parsed.method?, parsed.path?);
    if parsed.version != Some(1) || !is_file_route(method, path) {
        return None;
    }
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(field.value).ok()?;
        headers.append(name, value);
    }
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if has_body || headers.contains_key(header::UPGRADE) {
        return None;
    }
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(path)
        .version(http::Version::HTTP_11)
        .body(Body::empty())
        .ok()?;
    *request.headers_mut() = headers;
    Some(request)
}

/// Answers one fast-path request; gives the connection back when it stays open.
async fn answer(
    stream: TcpStream,
    mut request: Request<Body>,
    peer: SocketAddr,
    router: &Router,
) -> Option<TcpStream> {
    let head_only = request.method() == Method::HEAD;
    let reuses_ports = reuses_ports(&request);
    let close = wants_close(request.headers()) || reuses_ports;
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let span = parts.extensions.get::<FileSpan>().cloned().filter(|span| {
        // Only when nothing on the way changed the bytes (an encoding) or their length.
        !parts.headers.contains_key(header::CONTENT_ENCODING)
            && parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|length| length.to_str().ok()?.parse::<u64>().ok())
                == Some(span.count)
    });
    let no_body = head_only
        || parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    let stream = match span {
        Some(span) => {
            let head = response_head(&parts, Framing::AsIs, close);
            let span = (!no_body).then_some(span);
            send_span(stream, head, span).await?
        }
        None => {
            let mut stream = stream;
            write_response(&mut stream, &parts, body, no_body, close)
                .await
                .ok()?;
            stream
        }
    };
    if reuses_ports {
        tokio::spawn(reset_when_delivered(stream));
        return None;
    }
    (!close).then_some(stream)
}

/// GRUB numbers its TCP connections from port 21550 at every boot and leaves some of them
/// open (a configuration file it sourced): a connection baas still holds for that port — open,
/// or closed and waiting for GRUB's FIN — makes the same machine's next SYN on it fail, and
/// GRUB then finds no configuration. Its boot-plane requests are answered with
/// `Connection: close` and [`reset_when_delivered`]. GRUB keeps what its TCP stack
/// acknowledged even after a reset; other clients (iPXE, UEFI HTTP boot) pick fresh ports and
/// are answered as any client.
fn reuses_ports(request: &Request<Body>) -> bool {
    request.uri().path().starts_with("/boot/")
        && request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|agent| agent.to_str().ok())
            .is_some_and(|agent| agent.starts_with("GRUB"))
}

/// Resets the connection once the peer has acknowledged every byte (or after [`STALLED`]), so
/// that no state for its port is left behind.
async fn reset_when_delivered(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let unacknowledged = |stream: &TcpStream| {
        let mut queued: libc::c_int = 0;
        // SIOCOUTQ (= TIOCOUTQ): bytes sent but not yet acknowledged, and bytes not yet sent.
        // SAFETY: a valid socket; the kernel writes one int.
        let done = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        done == 0 && queued > 0
    };
    let deadline = tokio::time::Instant::now() + STALLED;
    let mut pause = Duration::from_millis(2);
    while unacknowledged(&stream) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
    // A zero linger time makes close send a reset instead of a FIN.
    let reset = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a `linger` of the size given, read during the call only.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&reset as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    drop(stream);
}

fn wants_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("close"))
}

/// How a response body is framed on the wire when it is written here.
#[derive(Clone, Copy, PartialEq)]
enum Framing {
    /// The head says it already (Content-Length), or there is no body.
    AsIs,
    /// A Content-Length of this many bytes is added.
    Length(u64),
    Chunked,
}

/// The status line and header fields; `framing` says whether a Transfer-Encoding or a
/// Content-Length must be added.
fn response_head(parts: &http::response::Parts, framing: Framing, close: bool) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    );
    for (name, value) in &parts.headers {
        head.extend_from_slice(title_case(name.as_str()).as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(header::DATE) {
        let _ = write!(
            head,
            "Date: {}\r\n",
            httpdate::fmt_http_date(std::time::SystemTime::now())
        );
    }
    match framing {
        Framing::Length(length) => {
            let _ = write!(head, "Content-Length: {length}\r\n");
        }
        Framing::Chunked => head.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::AsIs => {}
    }
    if close {
        head.extend_from_slice(b"Connection: close\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// `content-length` → `Content-Length`. Names are case-insensitive, but some boot programs
/// match them exactly as most servers write them: GRUB reads `Content-Length: ` and ignores
/// a lower-case one, then waits for the end of a file that never comes.
fn title_case(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let c = if upper { c.to_ascii_uppercase() } else { c };
            upper = c == '-';
            c
        })
        .collect()
}

/// Writes a response that is not a file span (an error, a redirect, 304, 416): its body as the
/// router made it.
async fn write_response(
    stream: &mut TcpStream,
    parts: &http::response::Parts,
    mut body: Body,
    no_body: bool,
    close: bool,
) -> std::io::Result<()> {
    use http_body::Body as _;
    let framing = if no_body || parts.headers.contains_key(header::CONTENT_LENGTH) {
        Framing::AsIs
    } else {
        match body.size_hint().exact() {
            Some(length) => Framing::Length(length),
            None => Framing::Chunked,
        }
    };
    stream
        .write_all(&response_head(parts, framing, close))
        .await?;
    if no_body {
        return Ok(());
    }
    let chunked = framing == Framing::Chunked;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(std::io::Error::other)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers: not sent on this path
        };
        if data.is_empty() {
            continue;
        }
        if chunked {
            stream
                .write_all(format!("{:x}\r\n", data.len()).as_bytes())
                .await?;
            stream.write_all(&data).await?;
            stream.write_all(b"\r\n").await?;
        } else {
            stream.write_all(&data).await?;
        }
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n").await?;
    }
    stream.flush().await
}

/// Writes `head`, then the span's bytes with `sendfile(2)`, on a blocking thread with the socket
/// in blocking mode: a read of a file not in the page cache then waits on that thread, never on
/// the runtime's. Gives the connection back when all was sent.
async fn send_span(stream: TcpStream, head: Vec<u8>, span: Option<FileSpan>) -> Option<TcpStream> {
    let socket = stream.into_std().ok()?;
    let sent = tokio::task::spawn_blocking(move || -> std::io::Result<std::net::TcpStream> {
        let mut socket = socket;
        socket.set_nonblocking(false)?;
        socket.set_write_timeout(Some(STALLED))?;
        // Corked, the head and the span leave in full segments; profiled on loopback, 1 GiB
        // took 0.52 s corked against 0.63 s uncorked (nginx's `tcp_nopush` does the same).
        set_cork(&socket, true)?;
        socket.write_all(&head)?;
        if let Some(span) = span {
            sendfile_all(&socket, &span)?;
            SPANS_SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        set_cork(&socket, false)?;
        socket.set_write_timeout(None)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    })
    .await;
    match sent {
        Ok(Ok(socket)) => TcpStream::from_std(socket).ok(),
        Ok(Err(error)) => {
            tracing::debug!(%error, "sending a file span ended early");
            None
        }
        Err(_) => None,
    }
}

/// Holds partial segments back (`true`) until uncorked, which sends what is left.
fn set_cork(socket: &std::net::TcpStream, cork: bool) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::from(cork);
    // SAFETY: a valid descriptor and a c_int option value of the size given.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Every byte of `span` to `socket`, by the kernel.
fn sendfile_all(socket: &std::net::TcpStream, span: &FileSpan) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut offset = span.start as libc::off_t;
    let end = span.start + span.count;
    while (offset as u64) < end {
        // One call moves at most ~2 GiB; the socket's buffer usually takes less.
        let want = (end - offset as u64).min(1 << 30) as usize;
        // SAFETY: both descriptors are open for the duration of the call (the file is held by
        // the span, the socket by the caller); `offset` is a valid, exclusively borrowed off_t.
        let sent =
            unsafe { libc::sendfile(socket.as_raw_fd(), span.file.as_raw_fd(), &mut offset, want) };
        match sent {
            -1 => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            0 => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file ended before its span",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The rest of the connection, served by hyper; `read` is what the client sent that the fast
/// path did not consume.
async fn hyper_connection(
    stream: TcpStream,
    read: Bytes,
    peer: SocketAddr,
    router: Router,
    mut stopping: watch::Receiver<()>,
) {
    let io = TokioIo::new(Rewind { read, stream });
    let service = hyper_util::service::TowerToHyperService::new(tower::service_fn(
        move |request: Request<hyper::body::Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        },
    ));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // As the fast path writes them (see `title_case`).
    builder.http1().title_case_headers(true);
    // CONNECT protocol needed for HTTP/2 websockets (as axum::serve does).
    builder.http2().enable_connect_protocol();
    let mut conn = std::pin::pin!(builder.serve_connection_with_upgrades(io, service));
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stopping.changed() => {
            // Finish the request in progress, then close.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        tracing::trace!(%error, "HTTP connection ended with an error");
    }
}

/// A connection whose first bytes were already read.
struct Rewind {
    read: Bytes,
    stream: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
