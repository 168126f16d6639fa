//! The serial console through the real server: `ipmi_sim` serves SOL from a serial port this
//! test plays, the server listens on loopback, and clients connect to the console's WebSocket
//! as the browser and the CLI do. The holder types, a manager watches and takes the keyboard, a
//! viewer is refused, the recording is there afterwards, and the socket closes when the
//! holder's reservation ends.

mod common;

use std::time::Duration;

use bmc::testing::Simulator;
use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use lab::model::{AuditFilter, Level, Subject};
use lab::Actor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The server's router on a real loopback port.
async fn listen(server: &TestServer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let router = server.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    address
}

async fn token(server: &TestServer, user: i64, name: &str) -> String {
    let actor = Actor::user(user, name, false, "test");
    server
        .lab
        .create_api_token(&actor, "console", None)
        .await
        .unwrap()
        .1
}

async fn connect(address: &str, machine: i64, token: &str) -> Result<Socket, u16> {
    let mut request = format!("ws://{address}/api/v1/machines/{machine}/console")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("connect: {other}"),
    }
}

/// A machine whose BMC (`ipmi_sim`) serves SOL from a serial port the test plays, in a
/// baas listening on loopback.
struct SolMachine {
    sim: Simulator,
    serial: TcpStream,
    server: TestServer,
    address: String,
    machine: i64,
}

async fn sol_machine(name: &str, mac: &str) -> SolMachine {
    let port_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start_with_serial(port_listener.local_addr().unwrap().port());
    sim.ready().await;
    let (serial, _) = port_listener.accept().await.unwrap();
    let server = TestServer::start().await;
    let address = listen(&server).await;
    let bmc_address = format!("127.0.0.1:{}", sim.port);
    let machine = server
        .add_machine(name, mac, Some((&bmc_address, "admin", "password")))
        .await;
    SolMachine {
        sim,
        serial,
        server,
        address,
        machine,
    }
}

/// Reads frames until the bytes seen contain `needle` (binary) or a state frame has
/// `"keyboard"`/`"state"` equal to it (text); returns the bytes seen.
async fn until(socket: &mut Socket, needle: &str) -> Vec<u8> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no {needle:?} within 40 s; saw {:?}",
                    String::from_utf8_lossy(&seen)
                )
            });
        match frame {
            Some(Ok(Message::Binary(bytes))) => {
                seen.extend_from_slice(&bytes);
                // Only the end can hold a needle that was not there before.
                let tail = &seen[seen.len().saturating_sub(bytes.len() + needle.len())..];
                if String::from_utf8_lossy(tail).contains(needle) {
                    return seen;
                }
            }
            Some(Ok(Message::Text(text))) => {
                let state: serde_json::Value = serde_json::from_str(&text).unwrap();
                if state["keyboard"] == needle || state["state"] == needle {
                    return seen;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("socket ended before {needle:?}: {other:?}"),
        }
    }
}

async fn serial_until(serial: &mut TcpStream, needle: &[u8]) {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let n = tokio::time::timeout(Duration::from_secs(10), serial.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("the machine never got {needle:?}; got {seen:?}"))
            .unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buffer[..n]);
    }
}

#[tokio::test]
async fn the_holder_types_a_manager_watches_and_takes_over_and_the_recording_stays() {
    let SolMachine {
        sim: _sim,
        mut serial,
        server,
        address,
        machine,
    } = sol_machine("node1", "52:54:00:00:00:01").await;
    let shell = Actor::shell();
    let alice = server.add_user("alice").await;
    let mary = server.add_user("mary").await;
    let victor = server.add_user("victor").await;
    for (user, level) in [
        (alice, Level::Use),
        (mary, Level::Manage),
        (victor, Level::View),
    ] {
        server
            .lab
            .grant(&shell, machine, Subject::User(user), level)
            .await
            .unwrap();
    }
    let now = lab::now();
    let reservation = server
        .lab
        .reserve(
            &Actor::user(alice, "alice", false, "test"),
            machine,
            now,
            now + 3600,
            "",
        )
        .await
        .unwrap();
    let (alice_token, mary_token, victor_token) = (
        token(&server, alice, "alice").await,
        token(&server, mary, "mary").await,
        token(&server, victor, "victor").await,
    );

    // The holder connects and gets the keyboard; what the machine prints arrives.
    let mut holder = connect(&address, machine, &alice_token).await.unwrap();
    until(&mut holder, "live").await;
    serial
        .write_all(b"[    1.234567] Run /init as init process\r\nlogin: ")
        .await
        .unwrap();
    until(&mut holder, "login: ").await;
    holder
        .send(Message::Binary(b"root\r".to_vec().into()))
        .await
        .unwrap();
    serial_until(&mut serial, b"root\r").await;

    // A viewer of the machine does not see the console.
    assert_eq!(
        connect(&address, machine, &victor_token).await.err(),
        Some(403)
    );

    // A manager gets the scrollback, watches read-only, then takes the keyboard.
    let mut manager = connect(&address, machine, &mary_token).await.unwrap();
    let scrollback = until(&mut manager, "login: ").await;
    assert!(String::from_utf8_lossy(&scrollback).contains("Run /init"));
    manager
        .send(Message::Binary(b"x".to_vec().into()))
        .await
        .unwrap();
    until(&mut manager, "read-only").await;
    manager
        .send(Message::Text(r#"{"type":"take_keyboard"}"#.into()))
        .await
        .unwrap();
    until(&mut manager, "yours").await;
    until(&mut holder, "other").await;
    manager
        .send(Message::Binary(b"whoami\r".to_vec().into()))
        .await
        .unwrap();
    serial_until(&mut serial, b"whoami\r").await;
    serial.write_all(b"root\r\n# ").await.unwrap();
    until(&mut holder, "root\r\n# ").await;

    // The recording has it all, whole or by range.
    let mut client = server.client();
    let mut request = axum::http::Request::get(format!("/api/v1/machines/{machine}/console/log"))
        .header("authorization", format!("Bearer {alice_token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let log = client.send(request).await;
    assert_eq!(log.status, 200);
    assert!(
        log.body.contains("Run /init as init process"),
        "{}",
        log.body
    );
    assert!(log.body.contains("root\r\n# "));
    request = axum::http::Request::get(format!("/api/v1/machines/{machine}/console/log"))
        .header("authorization", format!("Bearer {alice_token}"))
        .header("range", "bytes=-3")
        .body(axum::body::Body::empty())
        .unwrap();
    let tail = client.send(request).await;
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, "\n# ");

    let audit = server
        .lab
        .audit_log(
            &Actor::shell(),
            &AuditFilter {
                action: "console".into(),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let actions: Vec<String> = audit
        .iter()
        .map(|e| format!("{} {}", e.actor_name, e.action))
        .collect();
    for expected in [
        "alice console.open",
        "mary console.open",
        "mary console.take_keyboard",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }

    // The holder's reservation ends: their socket closes with the reason.
    server
        .lab
        .release(&Actor::user(alice, "alice", false, "test"), reservation.id)
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(Ok(frame)) = holder.next().await {
            if let Message::Text(text) = frame {
                if text.contains("reservation of this machine ended") {
                    return true;
                }
            }
        }
        false
    })
    .await
    .expect("closed within 15 s");
    assert!(ended, "told why");
}

/// A pseudo-terminal: the master side for the test, the slave side for the command.
fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills in two new descriptors, owned by the files made of them below.
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty");
    // SAFETY: both descriptors were just opened and are not owned elsewhere.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    }
}

#[tokio::test]
async fn baas_console_attaches_a_terminal_types_and_quits_with_tilde_dot() {
    let SolMachine {
        sim: _sim,
        mut serial,
        server,
        address,
        machine,
    } = sol_machine("node-07", "52:54:00:00:00:07").await;
    let alice = server.add_user("alice").await;
    server
        .lab
        .grant(&Actor::shell(), machine, Subject::User(alice), Level::Use)
        .await
        .unwrap();
    let now = lab::now();
    server
        .lab
        .reserve(
            &Actor::user(alice, "alice", false, "test"),
            machine,
            now,
            now + 3600,
            "",
        )
        .await
        .unwrap();
    let token = token(&server, alice, "alice").await;

    let (master, slave) = pty();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_baas"))
        .args([
            "console",
            "node-07",
            "--server",
            &format!("http://{address}"),
        ])
        .env("BAAS_TOKEN", &token)
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut terminal_out = tokio::fs::File::from_std(master.try_clone().unwrap());
    let mut terminal_in = tokio::fs::File::from_std(master);
    let mut screen = Vec::new();
    let mut read_screen = async |needle: &str, screen: &mut Vec<u8>| {
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(screen).contains(needle) {
            let n = tokio::time::timeout(Duration::from_secs(15), terminal_out.read(&mut buffer))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {needle:?} on the terminal; it shows {:?}",
                        String::from_utf8_lossy(screen)
                    )
                })
                .unwrap();
            screen.extend_from_slice(&buffer[..n]);
        }
    };
    read_screen("connected to node-07", &mut screen).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    serial.write_all(b"busybox# ").await.unwrap();
    read_screen("busybox# ", &mut screen).await;
    terminal_in.write_all(b"echo $((6*7))\r").await.unwrap();
    serial_until(&mut serial, b"echo $((6*7))\r").await;
    serial.write_all(b"42\r\nbusybox# ").await.unwrap();
    read_screen("42\r\n", &mut screen).await;
    terminal_in.write_all(b"~.").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("~. ends the command")
        .unwrap();
    assert!(status.success(), "{status}");
    read_screen("detached", &mut screen).await;
}

/// Another tool takes SOL away from baas: the console marks the loss in the log, shows
/// "held elsewhere" instead of fighting for it, and a manager takes it back (audited).
#[tokio::test]
async fn sol_taken_by_another_tool_is_marked_shown_and_taken_back_by_a_manager() {
    let SolMachine {
        sim,
        mut serial,
        server,
        address,
        machine,
    } = sol_machine("node-09", "52:54:00:00:00:09").await;
    let mary = server.add_user("mary").await;
    server
        .lab
        .grant(&Actor::shell(), machine, Subject::User(mary), Level::Manage)
        .await
        .unwrap();
    let token = token(&server, mary, "mary").await;
    let mut manager = connect(&address, machine, &token).await.unwrap();
    until(&mut manager, "live").await;

    // ipmitool's `sol activate` elsewhere would ask the same: take it over.
    let mut other = bmc::sol::open(&sim.target("password"), 3, bmc::sol::TakeOver::Yes)
        .await
        .expect("the other tool takes SOL");
    serial.write_all(b"for the other tool\r\n").await.unwrap();
    until(&mut manager, "held-elsewhere").await;
    let log = server.conductor.consoles().machine_log(machine, None);
    assert!(
        String::from_utf8_lossy(&log).contains("[baas] console lost"),
        "the loss is marked in the recording: {}",
        String::from_utf8_lossy(&log)
    );
    // The other tool did get the machine's output meanwhile.
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("for the other tool") {
        match tokio::time::timeout(Duration::from_secs(10), other.next()).await {
            Ok(Some(bmc::sol::ConsoleEvent::Output(bytes))) => seen.extend(bytes),
            Ok(Some(_)) => {}
            other => panic!("the other tool's console: {other:?}"),
        }
    }

    manager
        .send(Message::Text(r#"{"type":"take_over_sol"}"#.into()))
        .await
        .unwrap();
    until(&mut manager, "live").await;
    serial.write_all(b"back with baas\r\n").await.unwrap();
    until(&mut manager, "back with baas").await;
    let audit = server
        .lab
        .audit_log(
            &Actor::shell(),
            &AuditFilter {
                action: "console.take_over_sol".into(),
                limit: 5,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
}

/// What the machine printed before a reservation began is not its holder's to read (the
/// previous holder's session); its managers see the whole recording.
#[tokio::test]
async fn a_holder_sees_the_console_from_the_start_of_their_reservation_only() {
    let SolMachine {
        sim: _sim,
        mut serial,
        server,
        address,
        machine,
    } = sol_machine("node-11", "52:54:00:00:00:11").await;
    let alice = server.add_user("alice").await;
    let mary = server.add_user("mary").await;
    for (user, level) in [(alice, Level::Use), (mary, Level::Manage)] {
        server
            .lab
            .grant(&Actor::shell(), machine, Subject::User(user), level)
            .await
            .unwrap();
    }
    let (alice_token, mary_token) = (
        token(&server, alice, "alice").await,
        token(&server, mary, "mary").await,
    );
    let mut manager = connect(&address, machine, &mary_token).await.unwrap();
    until(&mut manager, "live").await;
    serial
        .write_all(b"the previous holder's password: hunter2\r\n")
        .await
        .unwrap();
    until(&mut manager, "hunter2").await;

    let now = lab::now();
    server
        .lab
        .reserve(
            &Actor::user(alice, "alice", false, "test"),
            machine,
            now,
            now + 3600,
            "",
        )
        .await
        .unwrap();
    let mut holder = connect(&address, machine, &alice_token).await.unwrap();
    serial.write_all(b"alice's boot\r\n").await.unwrap();
    let seen = until(&mut holder, "alice's boot").await;
    assert!(
        !String::from_utf8_lossy(&seen).contains("hunter2"),
        "the holder's scrollback starts at their reservation: {}",
        String::from_utf8_lossy(&seen)
    );
    let get = |token: &str| {
        axum::http::Request::get(format!("/api/v1/machines/{machine}/console/log"))
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let mut client = server.client();
    let holders = client.send(get(&alice_token)).await;
    assert!(holders.body.contains("alice's boot"), "{}", holders.body);
    assert!(!holders.body.contains("hunter2"), "{}", holders.body);
    let managers = client.send(get(&mary_token)).await;
    assert!(managers.body.contains("hunter2") && managers.body.contains("alice's boot"));
}

/// A viewer that never reads does not hold up the others or the recording: a 1 MiB burst
/// reaches the reading viewer and the log whole.
#[tokio::test]
async fn a_viewer_that_never_reads_stalls_neither_the_others_nor_the_recording() {
    let SolMachine {
        sim: _sim,
        mut serial,
        server,
        address,
        machine,
    } = sol_machine("node-12", "52:54:00:00:00:12").await;
    let mary = server.add_user("mary").await;
    server
        .lab
        .grant(&Actor::shell(), machine, Subject::User(mary), Level::Manage)
        .await
        .unwrap();
    let token = token(&server, mary, "mary").await;
    let mut reader = connect(&address, machine, &token).await.unwrap();
    until(&mut reader, "live").await;
    // Connected, then never read again.
    let _stalled = connect(&address, machine, &token).await.unwrap();

    let mut burst: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| b'!' + ((i * 7 + i / 251) % 90) as u8)
        .collect();
    burst.extend_from_slice(b"\r\nEND-OF-BURST\r\n");
    let writer = {
        let burst = burst.clone();
        tokio::spawn(async move {
            serial.write_all(&burst).await.unwrap();
            serial
        })
    };
    let seen = until(&mut reader, "END-OF-BURST").await;
    let _serial = writer.await.unwrap();
    let start = seen
        .windows(64)
        .position(|w| w == &burst[..64])
        .expect("the burst's start");
    assert_eq!(
        &seen[start..start + burst.len()],
        &burst[..],
        "every byte, in order"
    );
    // The recording kept up too, within its size (1 MiB in these tests: the oldest dropped).
    let log = server.conductor.consoles().machine_log(machine, None);
    assert!(log.len() <= 1 << 20, "{} bytes recorded", log.len());
    let tail = &burst[burst.len() - (256 << 10)..];
    assert!(
        log.windows(tail.len()).any(|w| w == tail),
        "the recording holds the burst's last 256 KiB in order"
    );
}
