//! The TFTP server against real clients: curl (blksize), tftp-hpa (no options), atftp
//! (windowsize, RFC 7440); path escapes, writes and garbage datagrams refused while the server
//! keeps serving.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use netboot::{TftpConfig, TftpServer, TransferReport};

/// A file with varied content, large enough that blocks wrap the window several times.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 253) as u8).collect()
}

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        // Under ./dev test, which installs every client, not running is a failure.
        assert_ne!(
            std::env::var("BAAS_TEST_STRICT").as_deref(),
            Ok("1"),
            "{tool} is not installed"
        );
        eprintln!("SKIPPED part: {tool} is not installed (./dev test installs it)");
    }
    found
}

struct Fixture {
    server: TftpServer,
    reports: Arc<Mutex<Vec<TransferReport>>>,
    root: tempfile::TempDir,
    out: tempfile::TempDir,
    content: Vec<u8>,
}

async fn start() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let content = payload(3 * 1024 * 1024 + 123);
    std::fs::write(root.path().join("ipxe.efi"), &content).unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::fs::write(root.path().join("sub/undionly.kpxe"), b"bios").unwrap();
    // A secret beside the root, which no path may reach.
    std::fs::write(root.path().parent().unwrap().join("secret"), b"no").ok();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let server = TftpServer::start(
        TftpConfig::new("127.0.0.1:0".parse().unwrap(), root.path()),
        move |report| sink.lock().unwrap().push(report),
    )
    .await
    .unwrap();
    Fixture {
        server,
        reports,
        root,
        out: tempfile::tempdir().unwrap(),
        content,
    }
}

/// Runs a blocking client off the runtime (the server runs on it).
async fn run(program: &str, args: Vec<String>) -> std::process::Output {
    let program = program.to_string();
    tokio::task::spawn_blocking(move || Command::new(program).args(args).output().unwrap())
        .await
        .unwrap()
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("tftp://{addr}/{path}")
}

/// Sends one read request and returns the answer's opcode and (for errors) error code.
async fn raw_read_request(addr: SocketAddr, path: &str) -> Option<(u16, u16)> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(3)))
            .unwrap();
        let mut request = vec![0, 1];
        request.extend_from_slice(path.as_bytes());
        request.extend_from_slice(b"\0octet\0");
        socket.send_to(&request, addr).unwrap();
        let mut answer = [0u8; 600];
        let (n, _) = socket.recv_from(&mut answer).ok()?;
        (n >= 4).then(|| {
            (
                u16::from_be_bytes([answer[0], answer[1]]),
                u16::from_be_bytes([answer[2], answer[3]]),
            )
        })
    })
    .await
    .unwrap()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[tokio::test]
async fn curl_tftp_hpa_and_atftp_fetch_the_exact_bytes_with_their_options() {
    let f = start().await;
    let addr = f.server.local_addr;
    if have("curl") {
        for blksize in ["512", "1468", "8192"] {
            let target = f.out.path().join(format!("curl-{blksize}"));
            let output = run(
                "curl",
                vec![
                    "-sS".into(),
                    "--tftp-blksize".into(),
                    blksize.into(),
                    "-o".into(),
                    target.display().to_string(),
                    url(addr, "ipxe.efi"),
                ],
            )
            .await;
            assert!(
                output.status.success(),
                "curl blksize {blksize}: {output:?}"
            );
            assert!(
                read(&target) == f.content,
                "curl blksize {blksize}: bytes differ"
            );
        }
    }
    if have("tftp") {
        let target = f.out.path().join("hpa");
        let output = run(
            "tftp",
            vec![
                "-m".into(),
                "binary".into(),
                "127.0.0.1".into(),
                addr.port().to_string(),
                "-c".into(),
                "get".into(),
                "sub/undionly.kpxe".into(),
                target.display().to_string(),
            ],
        )
        .await;
        assert!(output.status.success(), "tftp-hpa: {output:?}");
        assert_eq!(read(&target), b"bios");
    }
    if have("atftp") {
        for window in ["1", "4", "16"] {
            let target = f.out.path().join(format!("atftp-{window}"));
            let output = run(
                "atftp",
                vec![
                    "--option".into(),
                    "blksize 1468".into(),
                    "--option".into(),
                    format!("windowsize {window}"),
                    "-g".into(),
                    "-r".into(),
                    "ipxe.efi".into(),
                    "-l".into(),
                    target.display().to_string(),
                    "127.0.0.1".into(),
                    addr.port().to_string(),
                ],
            )
            .await;
            assert!(
                output.status.success(),
                "atftp windowsize {window}: {output:?}"
            );
            assert!(
                read(&target) == f.content,
                "atftp windowsize {window}: bytes differ"
            );
        }
    }
    let reports = f.reports.lock().unwrap();
    assert!(reports
        .iter()
        .any(|r| r.path.ends_with("ipxe.efi") && r.size == Some(f.content.len() as u64)));
    assert!(reports.iter().all(|r| r.refused.is_none()), "{reports:?}");
    drop(f.root);
}

#[tokio::test]
async fn escapes_writes_and_garbage_are_refused_and_serving_goes_on() {
    let f = start().await;
    let addr = f.server.local_addr;
    if !have("curl") {
        return;
    }
    // Raw read requests: clients like curl tidy `..` away before sending, attackers do not.
    for (path, code) in [
        ("../secret", 2),
        ("sub/../../secret", 2),
        ("./../secret", 2),
        ("/../secret", 2),
        ("nothing-here", 1),
    ] {
        let answer = raw_read_request(addr, path).await;
        assert_eq!(
            answer,
            Some((5, code)),
            "{path}: expected TFTP ERROR {code}"
        );
    }
    // A write request (curl -T uploads over TFTP).
    let upload = f.out.path().join("upload");
    std::fs::write(&upload, b"data").unwrap();
    let output = run(
        "curl",
        vec![
            "-sS".into(),
            "-T".into(),
            upload.display().to_string(),
            url(addr, "new-file"),
        ],
    )
    .await;
    assert!(!output.status.success(), "a write was accepted");
    assert!(!f.root.path().join("new-file").exists());

    // Garbage and truncated datagrams at the listening port.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in [
        &b""[..],
        &b"\x00"[..],
        &b"\x00\x01"[..],
        &b"\x00\x01ipxe.efi"[..],
        &b"\x00\x09garbage\x00octet\x00"[..],
        &[0xff; 600][..],
    ] {
        socket.send_to(datagram, addr).unwrap();
    }
    let target = f.out.path().join("after");
    let output = run(
        "curl",
        vec![
            "-sS".into(),
            "--tftp-blksize".into(),
            "1468".into(),
            "-o".into(),
            target.display().to_string(),
            url(addr, "ipxe.efi"),
        ],
    )
    .await;
    assert!(output.status.success(), "serving stopped: {output:?}");
    assert!(read(&target) == f.content);

    let reports = f.reports.lock().unwrap();
    let refusals: Vec<(&str, &str)> = reports
        .iter()
        .filter_map(|r| r.refused.as_deref().map(|why| (r.path.as_str(), why)))
        .collect();
    assert!(
        refusals.contains(&("../secret", "outside the TFTP root")),
        "{refusals:?}"
    );
    assert!(
        refusals.contains(&("nothing-here", "file not found")),
        "{refusals:?}"
    );
    assert!(
        refusals.contains(&("new-file", "writes are refused")),
        "{refusals:?}"
    );
    assert!(
        f.server
            .counters
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 5
    );
}

/// A lossy RFC 7440 client, written out: windowsize 4, blksize 512, timeout 1 s. It ignores the
/// first window (the server must send it again after the timeout), then acknowledges windows
/// only up to their second block (the server must go on from the third), and sends a stale ACK
/// before each real one (which must move nothing). Returns the bytes received in order.
fn lossy_windowed_read(addr: SocketAddr, path: &str) -> Vec<u8> {
    use std::time::{Duration, Instant};
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = vec![0, 1];
    for field in [
        path,
        "octet",
        "blksize",
        "512",
        "windowsize",
        "4",
        "timeout",
        "1",
    ] {
        request.extend_from_slice(field.as_bytes());
        request.push(0);
    }
    socket.send_to(&request, addr).unwrap();
    let mut packet = [0u8; 600];
    let (n, transfer) = socket.recv_from(&mut packet).unwrap();
    assert_eq!(&packet[..2], &[0, 6], "an OACK answers the options");
    assert!(packet[..n].windows(11).any(|w| w == b"windowsize\0"));
    socket.connect(transfer).unwrap();
    let ack = |block: u16| {
        let mut ack = vec![0, 4];
        ack.extend_from_slice(&block.to_be_bytes());
        socket.send(&ack).unwrap();
    };
    ack(0);

    let mut received = Vec::new();
    let mut expected: u16 = 1;
    let mut ignored_first_window = false;
    let mut resent_after = None;
    loop {
        // One window: up to 4 blocks, the first of which is `expected`.
        let mut window = Vec::new();
        let started = Instant::now();
        while window.len() < 4 {
            let n = socket.recv(&mut packet).unwrap();
            assert_eq!(&packet[..2], &[0, 3], "DATA");
            let block = u16::from_be_bytes([packet[2], packet[3]]);
            window.push((block, packet[4..n].to_vec()));
            if n < 4 + 512 {
                break;
            }
        }
        if !ignored_first_window {
            ignored_first_window = true;
            continue;
        }
        if resent_after.is_none() {
            resent_after = Some(started.elapsed());
        }
        assert_eq!(
            window[0].0, expected,
            "each window starts at the first unacknowledged block"
        );
        let last = window.last().unwrap().1.len() < 512;
        // Keep at most two blocks of a full window: the rest is lost.
        let keep = if last { window.len() } else { 2 };
        for (block, data) in &window[..keep] {
            assert_eq!(*block, expected);
            received.extend_from_slice(data);
            expected = expected.wrapping_add(1);
        }
        ack(expected.wrapping_sub(keep as u16 + 1)); // stale: acknowledges nothing new
        ack(expected.wrapping_sub(1));
        if last {
            break;
        }
    }
    let waited = resent_after.unwrap();
    assert!(
        waited >= Duration::from_millis(800),
        "the ignored window came again after the 1 s timeout, not at once ({waited:?})"
    );
    received
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_is_sent_again_after_a_timeout_and_a_partial_ack_resumes_from_the_gap() {
    let f = start().await;
    // 40 blocks and a short one: several windows, two blocks kept of each.
    let content = payload(40 * 512 + 100);
    std::fs::write(f.root.path().join("lossy.bin"), &content).unwrap();
    let addr = f.server.local_addr;
    let received = tokio::task::spawn_blocking(move || lossy_windowed_read(addr, "lossy.bin"))
        .await
        .unwrap();
    assert_eq!(received.len(), content.len());
    assert!(received == content, "bytes differ");
}
