//! The real `baas` binary as ProxyDHCP in a network namespace, asked by a real DHCP client
//! (busybox udhcpc sending PXE options 60/93/94/97) from a second namespace over a veth pair.
//! The client must receive the offer (it selects the proxy's server), and baas must have named
//! `ipxe.efi` for that MAC. A second test floods baas with relayed DISCOVERs from one MAC
//! (perfdhcp) while udhcpc asks: the flooder gets only its share, the other client its offer.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::{have, sh, Killed, LogLines, Namespaces};

/// baas (ProxyDHCP, real binary) in one namespace at 10.231.0.1, a client namespace over a veth
/// whose end has the MAC 52:54:00:be:ef:01 (and, for relayed traffic, 10.231.0.9).
struct Pair {
    log: LogLines,
    client: String,
    client_if: String,
    _baas: Killed,
    _namespaces: Namespaces,
    _data: tempfile::TempDir,
}

impl Pair {
    fn start(tag: &str) -> Option<Pair> {
        if !have("ip") || !have("udhcpc") {
            eprintln!("SKIPPED: needs ip and udhcpc (./dev test installs them)");
            return None;
        }
        let id = format!("{tag}{}", std::process::id() % 100_000);
        let (server, client, client_if) = (
            format!("baas-s{id}"),
            format!("baas-c{id}"),
            format!("vc{id}"),
        );
        let namespaces = Namespaces(vec![server.clone(), client.clone()]);
        let made = sh(&format!(
            "ip netns add {server} && ip netns add {client} && ip link add vs{id} type veth peer name {client_if} && \
             ip link set vs{id} netns {server} && ip link set {client_if} netns {client} && \
             ip -n {server} addr add 10.231.0.1/24 dev vs{id} && ip -n {server} link set vs{id} up && ip -n {server} link set lo up && \
             ip -n {client} link set {client_if} address 52:54:00:be:ef:01 && ip -n {client} link set {client_if} up && ip -n {client} link set lo up"
        ));
        if !made {
            eprintln!("SKIPPED: cannot create network namespaces here (needs root)");
            return None;
        }
        let data = tempfile::tempdir().unwrap();
        let mut baas = Command::new("ip")
            .args([
                "netns",
                "exec",
                &server,
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
        let log = LogLines::follow(baas.stderr.take().unwrap());
        let pair = Pair {
            log,
            client,
            client_if,
            _baas: Killed(baas),
            _namespaces: namespaces,
            _data: data,
        };
        assert!(
            pair.log
                .wait_for("ProxyDHCP listening", Duration::from_secs(20))
                .is_some(),
            "baas did not start its ProxyDHCP"
        );
        Some(pair)
    }

    /// udhcpc's PXE DISCOVER (x86_64 EFI): what it printed.
    fn pxe_discover(&self) -> String {
        let uuid = "00".repeat(17);
        let answer = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.client,
                "udhcpc",
                "-i",
                &self.client_if,
            ])
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
        String::from_utf8_lossy(&answer.stderr).into_owned()
    }
}

#[test]
fn a_pxe_discover_from_udhcpc_gets_a_proxy_offer_naming_ipxe_efi() {
    let Some(pair) = Pair::start("p") else { return };
    // udhcpc takes the proxy's address-less offer (it names the server it selects) and then,
    // as expected of a proxy, never gets a lease.
    let said = pair.pxe_discover();
    assert!(
        said.contains("select for 0.0.0.0, server 10.231.0.1"),
        "the client did not receive the proxy offer:\n{said}"
    );
    let answered = pair
        .log
        .wait_for("DHCP answered", Duration::from_secs(10))
        .expect("baas logged no answer to the PXE DISCOVER");
    assert!(answered.contains("52:54:00:be:ef:01"), "{answered}");
    assert!(answered.contains("ipxe.efi"), "{answered}");
}

/// `received packets: N` from perfdhcp's statistics.
fn perfdhcp_received(output: &str) -> Option<u64> {
    output
        .lines()
        .find_map(|line| line.trim().strip_prefix("received packets: "))
        .and_then(|n| n.trim().parse().ok())
}

#[test]
fn a_discover_flood_from_one_mac_gets_its_share_and_does_not_starve_another_client() {
    if !have("perfdhcp") {
        eprintln!("SKIPPED: perfdhcp (kea-admin) is not installed (./dev test installs it)");
        return;
    }
    let Some(pair) = Pair::start("f") else { return };
    // perfdhcp works as a relay: it needs an address, and sends from port 67.
    assert!(sh(&format!(
        "ip -n {} addr add 10.231.0.9/24 dev {}",
        pair.client, pair.client_if
    )));
    let vendor_class: String = b"PXEClient:Arch:00000:UNDI:002001"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let seconds = 6;
    let flood = Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.client,
            "perfdhcp",
            "-4",
            "-l",
            &pair.client_if,
        ])
        .args(["-r", "2000", "-p", &seconds.to_string(), "-R", "1", "-i"])
        .args(["-b", "mac=00:0c:01:02:03:04"])
        .args([
            "-o",
            &format!("60,{vendor_class}"),
            "-o",
            "93,0000",
            "-o",
            "94,010201",
        ])
        .arg("10.231.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // In the middle of the flood, another client asks and is answered.
    let said = pair.pxe_discover();
    assert!(
        said.contains("select for 0.0.0.0, server 10.231.0.1"),
        "the other client got no offer during the flood:\n{said}"
    );
    let flood = flood.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&flood.stdout);
    let answered = perfdhcp_received(&report).expect("perfdhcp printed no statistics");
    // A burst of 20, then 2 a second.
    let share = 20 + 2 * seconds + 4;
    assert!(
        (20..=share).contains(&answered),
        "the flooder got {answered} offers, its share is at most {share}:\n{report}"
    );
    eprintln!("flood: {answered} offers for one MAC in {seconds} s at 2000 DISCOVERs/s");
}
