//! Serial-over-LAN against OpenIPMI's `ipmi_sim`: the test plays the machine's serial port (a
//! TCP server `ipmi_sim` connects to, as it does to QEMU's), so every byte each way is known.

use std::time::Duration;

use bmc::sol::{self, Closed, ConsoleEvent, SolConsole, SolError, TakeOver};
use bmc::testing::Simulator;
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A simulator with SOL to a serial port this test holds, and the port's connection.
async fn machine_with_serial() -> (Simulator, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sim = Simulator::start_with_serial(port);
    sim.ready().await;
    let (serial, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("ipmi_sim connects to the serial port")
        .unwrap();
    (sim, serial)
}

async fn open(sim: &Simulator, take_over: TakeOver) -> Result<SolConsole, SolError> {
    sol::open(&sim.target("password"), 3, take_over).await
}

/// Reads console output until `needle` has appeared; returns all of it.
async fn read_until(console: &mut SolConsole, needle: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.windows(needle.len()).any(|w| w == needle) {
        match tokio::time::timeout_at(deadline, console.next()).await {
            Ok(Some(ConsoleEvent::Output(bytes))) => seen.extend(bytes),
            Ok(Some(ConsoleEvent::Closed(why))) => panic!("closed ({why}) before {needle:?}"),
            Ok(Some(_)) => {}
            Ok(None) => panic!("console ended"),
            Err(_) => panic!(
                "no {:?} within 20 s; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    seen
}

async fn read_serial_until(serial: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let n = tokio::time::timeout(Duration::from_secs(10), serial.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("the machine never got {needle:?}; got {seen:?}"))
            .unwrap();
        assert!(n > 0, "serial port closed");
        seen.extend_from_slice(&buffer[..n]);
    }
    seen
}

#[tokio::test]
async fn what_the_machine_prints_arrives_and_what_is_typed_reaches_it() {
    let (sim, mut serial) = machine_with_serial().await;
    let mut console = open(&sim, TakeOver::No).await.unwrap();
    serial
        .write_all(b"[    0.000000] Linux version 6.1\r\n")
        .await
        .unwrap();
    read_until(&mut console, b"Linux version 6.1").await;

    serial.write_all(b"login: ").await.unwrap();
    read_until(&mut console, b"login: ").await;

    assert!(console.send(b"echo SOL-TYPED-$((6*7))\r".to_vec()).await);
    read_serial_until(&mut serial, b"echo SOL-TYPED-$((6*7))\r").await;
    serial.write_all(b"SOL-TYPED-42\r\n").await.unwrap();
    read_until(&mut console, b"SOL-TYPED-42").await;
}

#[tokio::test]
async fn a_one_mebibyte_burst_arrives_whole_and_in_order() {
    let (sim, mut serial) = machine_with_serial().await;
    let mut console = open(&sim, TakeOver::No).await.unwrap();
    // Printable, not repeating within a packet, ending in a marker.
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
    let mut received = Vec::with_capacity(burst.len());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while received.len() < burst.len() {
        match tokio::time::timeout_at(deadline, console.next()).await {
            Ok(Some(ConsoleEvent::Output(bytes))) => received.extend(bytes),
            Ok(Some(ConsoleEvent::Overrun)) => panic!("the BMC dropped characters"),
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) => panic!("console ended"),
            Err(_) => panic!("{} of {} bytes within 120 s", received.len(), burst.len()),
        }
    }
    let _serial = writer.await.unwrap();
    assert_eq!(received.len(), burst.len());
    assert_eq!(
        sha2::Sha256::digest(&received),
        sha2::Sha256::digest(&burst),
        "every byte, in order"
    );
}

#[tokio::test]
async fn a_second_session_is_told_sol_is_taken_and_may_take_it_over() {
    let (sim, mut serial) = machine_with_serial().await;
    let mut first = open(&sim, TakeOver::No).await.unwrap();
    serial.write_all(b"first\r\n").await.unwrap();
    read_until(&mut first, b"first").await;

    let refused = open(&sim, TakeOver::No).await.err().expect("refused");
    assert!(
        matches!(refused, SolError::AlreadyActive { .. }),
        "{refused}"
    );

    let mut second = open(&sim, TakeOver::Yes).await.unwrap();
    serial.write_all(b"second\r\n").await.unwrap();
    read_until(&mut second, b"second").await;
    // The first session learns it lost SOL (the BMC says so, or stops acknowledging);
    // typing into it makes it find out at once either way.
    first.send(b"x".to_vec()).await;
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match first.next().await {
                Some(ConsoleEvent::Closed(why)) => return why,
                Some(_) => {}
                None => return Closed::ByUs,
            }
        }
    });
    let why = ended.await.expect("the first session ends");
    assert!(
        matches!(why, Closed::Deactivated | Closed::Lost(_)),
        "{why:?}"
    );
}

#[tokio::test]
async fn break_reaches_the_machine() {
    let (sim, mut serial) = machine_with_serial().await;
    let console = open(&sim, TakeOver::No).await.unwrap();
    assert!(console.send_break().await);
    assert!(console.send(b"after-break".to_vec()).await);
    let seen = read_serial_until(&mut serial, b"after-break").await;
    // A TCP serial line has no BREAK condition: ipmi_sim sends telnet's (IAC BRK).
    assert_eq!(
        seen, b"\xff\xf3after-break",
        "BREAK, then the characters after it"
    );
}

#[tokio::test]
async fn a_bmc_without_sol_refuses_clearly() {
    let sim = Simulator::start();
    sim.ready().await;
    let error = open(&sim, TakeOver::No).await.err().expect("refused");
    assert!(matches!(error, SolError::Refused { .. }), "{error:?}");
    assert!(error.to_string().contains("refused SOL"), "{error}");
}

#[tokio::test]
async fn a_bmc_that_vanishes_mid_session_ends_the_console() {
    let (sim, mut serial) = machine_with_serial().await;
    let mut console = open(&sim, TakeOver::No).await.unwrap();
    serial.write_all(b"alive\r\n").await.unwrap();
    read_until(&mut console, b"alive").await;
    drop(sim);
    let started = std::time::Instant::now();
    console.send(b"anyone there?".to_vec()).await;
    let why = loop {
        match tokio::time::timeout(Duration::from_secs(10), console.next()).await {
            Ok(Some(ConsoleEvent::Closed(why))) => break why,
            Ok(Some(_)) => {}
            Ok(None) => panic!("ended without a reason"),
            Err(_) => panic!("still open 10 s after the BMC went away"),
        }
    };
    assert!(matches!(why, Closed::Lost(_)), "{why:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
