//! Child processes for the tests that run the real binary and real peers: killed on drop, a
//! log to wait on, shell steps, network namespaces removed on drop.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// Runs a shell script; whether it succeeded.
pub fn sh(script: &str) -> bool {
    Command::new("sh")
        .args(["-c", script])
        .status()
        .is_ok_and(|s| s.success())
}

/// A test cannot run here. Under `./dev test` (`BAAS_TEST_STRICT=1`), which provides every
/// peer and runs as root, that is a failure: a green run means every test ran. Elsewhere (a
/// developer's `cargo test`) the test says why and passes.
pub fn skipped(reason: &str) {
    if std::env::var("BAAS_TEST_STRICT").as_deref() == Ok("1") {
        panic!("cannot run: {reason} (BAAS_TEST_STRICT=1: under ./dev test a skip is a failure)");
    }
    eprintln!("SKIPPED: {reason}");
}

/// Whether `tool` is on PATH; says so when it is not.
pub fn have(tool: &str) -> bool {
    let found = sh(&format!("command -v {tool} >/dev/null"));
    if !found {
        skipped(&format!("{tool} is not installed (./dev test installs it)"));
    }
    found
}

/// A child process, killed and reaped on drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines a process writes, read on a thread for its whole life (a closed pipe would break
/// its logging).
pub struct LogLines(Receiver<String>);

impl LogLines {
    pub fn follow(output: impl Read + Send + 'static) -> LogLines {
        let (lines, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        LogLines(log)
    }

    /// The next line containing `needle`, if one comes within `within`.
    pub fn wait_for(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.0.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

/// Network namespaces, deleted on drop (with the links inside them).
pub struct Namespaces(pub Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            sh(&format!("ip netns del {name} 2>/dev/null"));
        }
    }
}

/// The real `baas serve` in network namespace `namespace`, configured by `settings` (variable,
/// value) on top of an info log without colours (read from its stderr) and a known admin
/// password.
pub fn baas_in(namespace: &str, settings: &[(&str, &str)]) -> (Killed, LogLines) {
    let mut command = Command::new("ip");
    command
        .args([
            "netns",
            "exec",
            namespace,
            env!("CARGO_BIN_EXE_baas"),
            "serve",
        ])
        .env_remove("BAAS_CONFIG")
        .env("BAAS_ADMIN_PASSWORD", "admin-password-1")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (name, value) in settings {
        command.env(name, value);
    }
    let mut baas = command.spawn().expect("starting baas");
    let log = LogLines::follow(baas.stderr.take().expect("baas stderr"));
    (Killed(baas), log)
}

/// Two network namespaces joined by a veth pair: the server end has `server_address` (CIDR),
/// the client end the MAC `client_mac`. Removed on drop.
pub struct VethPair {
    pub server: String,
    pub client: String,
    pub server_if: String,
    pub client_if: String,
    _namespaces: Namespaces,
}

impl VethPair {
    /// `None` (with the reason printed) where namespaces cannot be made.
    pub fn create(tag: &str, server_address: &str, client_mac: &str) -> Option<VethPair> {
        let id = format!("{tag}{}", std::process::id() % 100_000);
        let (server, client) = (format!("baas-s{id}"), format!("baas-c{id}"));
        let (server_if, client_if) = (format!("vs{id}"), format!("vc{id}"));
        let namespaces = Namespaces(vec![server.clone(), client.clone()]);
        let made = sh(&format!(
            "ip netns add {server} && ip netns add {client} && ip link add {server_if} type veth peer name {client_if} && \
             ip link set {server_if} netns {server} && ip link set {client_if} netns {client} && \
             ip -n {server} addr add {server_address} dev {server_if} && ip -n {server} link set {server_if} up && ip -n {server} link set lo up && \
             ip -n {client} link set {client_if} address {client_mac} && ip -n {client} link set {client_if} up && ip -n {client} link set lo up"
        ));
        if !made {
            skipped(
                "setting up network namespaces and a veth pair failed (it needs root and iproute2)",
            );
            return None;
        }
        Some(VethPair {
            server,
            client,
            server_if,
            client_if,
            _namespaces: namespaces,
        })
    }
}

/// The udhcpc hook: configure the address it leased (a RELEASE is sent from it) and remove it
/// again.
const UDHCPC_HOOK: &str = "#!/bin/sh
case \"$1\" in
  deconfig) ip addr flush dev \"$interface\" ;;
  bound|renew) ip addr add \"$ip/$mask\" dev \"$interface\" && echo \"configured $ip\" >&2 ;;
esac
";

/// A udhcpc running in `namespace` with the address it was bound to, if any.
pub struct Client {
    pub process: Killed,
    pub address: Option<String>,
    pub said: LogLines,
}

/// Starts udhcpc and waits for its lease.
pub fn lease(namespace: &str, interface: &str, hook: &std::path::Path, extra: &[&str]) -> Client {
    let mut child = Command::new("ip")
        .args(["netns", "exec", namespace, "udhcpc", "-i", interface])
        .args(["-f", "-n", "-t", "4", "-T", "1"])
        .arg("-s")
        .arg(hook)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = LogLines::follow(child.stderr.take().unwrap());
    // The hook says "configured 10.232.0.100" once the address is on the interface.
    let address = said
        .wait_for("configured ", Duration::from_secs(30))
        .and_then(|line| line.split_whitespace().nth(1).map(str::to_string));
    Client {
        process: Killed(child),
        address,
        said,
    }
}

/// Writes the udhcpc hook (see [`lease`]) into `dir` and returns its path.
pub fn udhcpc_hook(dir: &std::path::Path) -> std::path::PathBuf {
    let hook = dir.join("udhcpc-hook");
    std::fs::write(&hook, UDHCPC_HOOK).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    hook
}
