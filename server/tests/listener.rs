//! The HTTP listener over real TCP: image bytes leave by sendfile with the same status, headers
//! and ranges as any response; errors on file routes are answered in full; a connection moves
//! from the file path to hyper with every pipelined request intact; `Connection: close` ends it.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use common::TestServer;
use server::listener::SPANS_SENT;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn raw_disk(len: usize) -> Vec<u8> {
    let mut disk: Vec<u8> = (0..len).map(|i| (i * 13 % 251) as u8).collect();
    disk[510] = 0x55;
    disk[511] = 0xaa;
    disk
}

/// A server on a real port with one image of `disk`; returns the address, the image id and a
/// bearer token of its owner.
async fn serving(disk: &[u8]) -> (TestServer, std::net::SocketAddr, i64, String) {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let alice = server
        .lab
        .user_by_name(&lab::Actor::shell(), "alice")
        .await
        .unwrap();
    let actor = lab::Actor::user(alice.id, "alice", false, "test");
    let (_, secret) = server
        .lab
        .create_api_token(&actor, "test", None)
        .await
        .unwrap();
    let token = format!("Bearer {secret}");
    let reply = server
        .client()
        .request(
            "PUT",
            "/api/v1/images/listener-disk",
            &[("authorization", &token)],
            axum::body::Body::from(disk.to_vec()),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.json()["id"].as_i64().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = server.router.clone();
    tokio::spawn(server::listener::serve(
        listener,
        router,
        std::future::pending(),
    ));
    (server, addr, id, token)
}

struct Response {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Reads one response; `head_only` for a HEAD (no body whatever Content-Length says).
async fn read_response(reader: &mut BufReader<TcpStream>, head_only: bool) -> Response {
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("a status line, got {line:?}"))
        .parse()
        .unwrap();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        let field = line.trim_end();
        if field.is_empty() {
            break;
        }
        let (name, value) = field.split_once(':').unwrap();
        headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
    }
    let mut body = Vec::new();
    if !head_only && status != 304 {
        if let Some(length) = headers.get("content-length") {
            body.resize(length.parse().unwrap(), 0);
            reader.read_exact(&mut body).await.unwrap();
        } else if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
            loop {
                line.clear();
                reader.read_line(&mut line).await.unwrap();
                let size = usize::from_str_radix(line.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).await.unwrap();
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        }
    }
    Response {
        status,
        headers,
        body,
    }
}

async fn exchange(addr: std::net::SocketAddr, request: String, head_only: bool) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_response(&mut BufReader::new(stream), head_only).await
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: baas.test\r\n{extra}\r\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn image_bytes_leave_by_sendfile_with_ranges_etags_and_head_as_any_response() {
    let disk = raw_disk(5 << 20);
    let (_server, addr, id, token) = serving(&disk).await;
    let path = format!("/images/{id}/content");
    let auth = format!("authorization: {token}\r\n");
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(&disk)));

    let sent_before = SPANS_SENT.load(Ordering::Relaxed);
    let whole = exchange(addr, get(&path, &auth), false).await;
    assert_eq!(whole.status, 200);
    assert!(whole.body == disk, "the whole image, byte for byte");
    assert_eq!(whole.headers["content-length"], disk.len().to_string());
    assert_eq!(whole.headers["etag"], etag);
    assert_eq!(whole.headers["accept-ranges"], "bytes");
    assert!(whole.headers.contains_key("date"));
    assert_eq!(
        whole.headers["x-content-type-options"], "nosniff",
        "the router's layers ran"
    );

    let range = exchange(
        addr,
        get(&path, &format!("{auth}range: bytes=1000-1999\r\n")),
        false,
    )
    .await;
    assert_eq!(range.status, 206);
    assert_eq!(
        range.headers["content-range"],
        format!("bytes 1000-1999/{}", disk.len())
    );
    assert!(range.body == disk[1000..2000]);
    assert!(
        SPANS_SENT.load(Ordering::Relaxed) >= sent_before + 2,
        "both were sent by the kernel"
    );

    let stale = format!("{auth}range: bytes=0-9\r\nif-range: \"another\"\r\n");
    let stale = exchange(addr, get(&path, &stale), false).await;
    assert_eq!(
        stale.status, 200,
        "a Range for another version gets the whole image"
    );
    assert_eq!(stale.body.len(), disk.len());

    let head = format!("HEAD {path} HTTP/1.1\r\nhost: baas.test\r\n{auth}\r\n");
    let head = exchange(addr, head, true).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["content-length"], disk.len().to_string());

    let cached = exchange(
        addr,
        get(&path, &format!("{auth}if-none-match: {etag}\r\n")),
        false,
    )
    .await;
    assert_eq!(cached.status, 304);

    let outside = format!("{auth}range: bytes={}-\r\n", disk.len() + 10);
    let outside = exchange(addr, get(&path, &outside), false).await;
    assert_eq!(outside.status, 416);
    assert_eq!(
        outside.headers["content-range"],
        format!("bytes */{}", disk.len())
    );

    let anonymous = exchange(addr, get(&path, ""), false).await;
    assert_eq!(anonymous.status, 401);
    let error: serde_json::Value = serde_json::from_slice(&anonymous.body).unwrap();
    assert_eq!(
        error["kind"], "unauthenticated",
        "a JSON error body: {error}"
    );

    let forged = exchange(
        addr,
        get(&path, "authorization: Bearer baas_forged\r\n"),
        false,
    )
    .await;
    assert_eq!(forged.status, 401);
    assert!(forged.body.len() < 1000, "no image bytes");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_moves_from_the_file_path_to_hyper_with_every_pipelined_request_intact() {
    let disk = raw_disk(1 << 20);
    let (_server, addr, id, token) = serving(&disk).await;
    let path = format!("/images/{id}/content");
    let auth = format!("authorization: {token}\r\n");
    // Three requests in one write: a file range (fast path), a page (hyper from here on), and
    // a file range again (now hyper's, through the body that reads with pread).
    let pipelined = [
        get(&path, &format!("{auth}range: bytes=0-99\r\n")),
        get(&path, &format!("{auth}range: bytes=100-299\r\n")),
        get("/healthz", ""),
        get(&path, &format!("{auth}range: bytes=300-999\r\n")),
    ]
    .concat();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(pipelined.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(stream);
    let first = read_response(&mut reader, false).await;
    assert_eq!((first.status, first.body.as_slice()), (206, &disk[..100]));
    let second = read_response(&mut reader, false).await;
    assert_eq!(
        (second.status, second.body.as_slice()),
        (206, &disk[100..300])
    );
    let health = read_response(&mut reader, false).await;
    assert_eq!((health.status, health.body.as_slice()), (200, &b"ok"[..]));
    let last = read_response(&mut reader, false).await;
    assert_eq!((last.status, last.body.as_slice()), (206, &disk[300..1000]));
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_close_ends_the_connection_after_the_file() {
    let disk = raw_disk(1 << 20);
    let (_server, addr, id, token) = serving(&disk).await;
    let request = get(
        &format!("/images/{id}/content"),
        &format!("authorization: {token}\r\nconnection: close\r\n"),
    );
    let (head, everything) = until_closed(addr, &request).await;
    let text = head.to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(everything.ends_with(&disk[disk.len() - 1000..]));
}

/// Sends `request` on a new connection and reads until the server closes it: the raw head of
/// the first response, and every byte received.
async fn until_closed(addr: std::net::SocketAddr, request: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut everything = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut everything),
    )
    .await
    .expect("the server closes the connection")
    .unwrap();
    let head_end = everything
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap();
    let head = String::from_utf8_lossy(&everything[..head_end]).into_owned();
    (head, everything)
}

/// The raw head of the first response to `request` on a new connection.
async fn raw_head(addr: std::net::SocketAddr, request: &str) -> String {
    until_closed(addr, request).await.0
}

/// GRUB matches `Content-Length: ` exactly and ignores a lower-case field (then waits for the
/// end of a file that never comes): header names go out as most servers write them, on the
/// file fast path and on hyper's.
#[tokio::test(flavor = "multi_thread")]
async fn header_names_go_out_in_title_case_on_both_paths() {
    let disk = raw_disk(1 << 16);
    let (_server, addr, id, token) = serving(&disk).await;
    let file = raw_head(
        addr,
        &get(
            &format!("/images/{id}/content"),
            &format!("authorization: {token}\r\nconnection: close\r\n"),
        ),
    )
    .await;
    assert!(file.contains("\r\nContent-Length: 65536\r\n"), "{file}");
    assert!(file.contains("\r\nContent-Type: "), "{file}");
    let hyper = raw_head(addr, &get("/healthz", "connection: close\r\n")).await;
    assert!(hyper.starts_with("HTTP/1.1 200"), "{hyper}");
    assert!(hyper.contains("\r\nContent-Length: 2\r\n"), "{hyper}");
}

/// Whether the kernel holds a socket for the connection between these two ports (either end),
/// in any state (open, waiting for a FIN, TIME-WAIT).
fn kernel_knows(server_port: u16, client_port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port =
            |field: &str| u16::from_str_radix(field.rsplit(':').next().unwrap(), 16).unwrap();
        let (local, remote) = (port(fields[1]), port(fields[2]));
        (local, remote) == (server_port, client_port)
            || (local, remote) == (client_port, server_port)
    })
}

/// GRUB reuses its ports on the next boot (it counts from 21550 every time) and leaves files
/// open: an answer to GRUB must leave no server socket for that port, or the machine's next SYN
/// on it fails. GRUB gets its whole file, then a reset, and the kernel keeps nothing for the
/// pair although GRUB never closed its end. Other clients keep their connection.
#[tokio::test(flavor = "multi_thread")]
async fn answers_to_grub_leave_no_connection_state_behind() {
    let disk = raw_disk(1 << 12);
    let (_server, addr, _, _) = serving(&disk).await;
    let mut loader = TcpStream::connect(addr).await.unwrap();
    let client_port = loader.local_addr().unwrap().port();
    loader
        .write_all(
            b"GET /boot/grub/grub.cfg HTTP/1.1\r\nHost: baas\r\nUser-Agent: GRUB 2.06\r\n\r\n",
        )
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut block = [0u8; 4096];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), loader.read(&mut block))
            .await
            .expect("the answer arrives and the connection ends")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&block[..n]),
        }
    }
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
    assert!(
        text.contains("source /boot/${net_default_mac}.grub"),
        "{text}"
    );
    // The loader still holds its socket (as GRUB does): the server's end must be gone anyway.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while kernel_knows(addr.port(), client_port) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !kernel_knows(addr.port(), client_port),
        "a socket for port {client_port} outlived the answer"
    );
    drop(loader);

    // iPXE (or any other client) keeps its connection open for the next request.
    let mut ipxe = TcpStream::connect(addr).await.unwrap();
    let client_port = ipxe.local_addr().unwrap().port();
    ipxe.write_all(
        b"GET /boot/grub/grub.cfg HTTP/1.1\r\nHost: baas\r\nUser-Agent: iPXE/1.0\r\n\r\n",
    )
    .await
    .unwrap();
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), ipxe.read(&mut block))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&block[..n]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.contains("Connection: close"), "{text}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        kernel_knows(addr.port(), client_port),
        "iPXE's connection stays open"
    );
}
