//! The real `baas` binary as ProxyDHCP in a network namespace, asked by a real DHCP client
//! (busybox udhcpc sending PXE options 60/93/94/97) from a second namespace over a veth pair.
//! The client must receive the offer (it selects the proxy's server), and baas must have named
//! `ipxe.efi` for that MAC.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn sh(script: &str) -> bool {
    Command::new("sh")
        .args(["-c", script])
        .status()
        .is_ok_and(|s| s.success())
}

fn have(tool: &str) -> bool {
    sh(&format!("command -v {tool} >/dev/null"))
}

/// Two namespaces joined by a veth pair; removed on drop.
struct Lab {
    server: String,
    client: String,
    client_if: String,
}

impl Lab {
    fn create() -> Option<Lab> {
        let id = std::process::id() % 100_000;
        let lab = Lab {
            server: format!("baas-s{id}"),
            client: format!("baas-c{id}"),
            client_if: format!("vc{id}"),
        };
        let (s, c, ci) = (&lab.server, &lab.client, &lab.client_if);
        let made = sh(&format!(
            "ip netns add {s} && ip netns add {c} && ip link add vs{id} type veth peer name {ci} && \
             ip link set vs{id} netns {s} && ip link set {ci} netns {c} && \
             ip -n {s} addr add 10.231.0.1/24 dev vs{id} && ip -n {s} link set vs{id} up && ip -n {s} link set lo up && \
             ip -n {c} link set {ci} address 52:54:00:be:ef:01 && ip -n {c} link set {ci} up && ip -n {c} link set lo up"
        ));
        made.then_some(lab)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        sh(&format!(
            "ip netns del {} 2>/dev/null; ip netns del {} 2>/dev/null",
            self.server, self.client
        ));
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_pxe_discover_from_udhcpc_gets_a_proxy_offer_naming_ipxe_efi() {
    for tool in ["ip", "udhcpc"] {
        if !have(tool) {
            eprintln!("SKIPPED: {tool} is not installed (./dev test installs it)");
            return;
        }
    }
    let Some(lab) = Lab::create() else {
        eprintln!("SKIPPED: cannot create network namespaces here (needs root)");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let mut baas = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.server,
            env!("CARGO_BIN_EXE_baas"),
            "serve",
        ])
        .env("BAAS_HTTP_ADDR", "127.0.0.1:3000")
        .env("BAAS_DATA_DIR", data.path())
        .env("BAAS_ADMIN_PASSWORD", "admin-password-1")
        .env("BAAS_TFTP_ADDR", "off")
        .env("BAAS_DHCP_MODE", "proxy")
        .env("BAAS_PUBLIC_URL", "http://10.231.0.1:3000")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("BAAS_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The log goes to stderr.
    let stdout = baas.stderr.take().unwrap();
    let _baas = Killed(baas);
    let (lines, log) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let wait_for = |needle: &str, within: Duration| -> Option<String> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    };
    assert!(
        wait_for("ProxyDHCP listening", Duration::from_secs(20)).is_some(),
        "baas did not start its ProxyDHCP"
    );

    let uuid = "00".repeat(17);
    let client = Command::new("ip")
        .args(["netns", "exec", &lab.client, "udhcpc", "-i", &lab.client_if])
        .args(["-f", "-q", "-n", "-t", "2", "-T", "1", "-s", "/bin/true"])
        .args(["-V", "PXEClient:Arch:00007:UNDI:003016"])
        .args([
            "-x",
            "0x5d:0007",
            "-x",
            "0x5e:010310",
            "-x",
            &format!("0x61:{uuid}"),
        ])
        .output()
        .unwrap();
    // udhcpc takes the proxy's address-less offer (it names the server it selects) and then,
    // as expected of a proxy, never gets a lease.
    let said = String::from_utf8_lossy(&client.stderr);
    assert!(
        said.contains("select for 0.0.0.0, server 10.231.0.1"),
        "the client did not receive the proxy offer:\n{said}"
    );

    let answered = wait_for("ProxyDHCP answered", Duration::from_secs(10))
        .expect("baas logged no answer to the PXE DISCOVER");
    assert!(answered.contains("52:54:00:be:ef:01"), "{answered}");
    assert!(answered.contains("ipxe.efi"), "{answered}");
}
