//! The real `baas` binary as ProxyDHCP in a network namespace, asked by a real DHCP client
//! (busybox udhcpc sending PXE options 60/93/94/97) from a second namespace over a veth pair.
//! The client must receive the offer (it selects the proxy's server), and baas must have named
//! `ipxe.efi` for that MAC.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::{have, sh, Killed, LogLines, Namespaces};

#[test]
fn a_pxe_discover_from_udhcpc_gets_a_proxy_offer_naming_ipxe_efi() {
    if !have("ip") || !have("udhcpc") {
        return;
    }
    let id = std::process::id() % 100_000;
    let (server, client, client_if) = (
        format!("baas-s{id}"),
        format!("baas-c{id}"),
        format!("vc{id}"),
    );
    let _namespaces = Namespaces(vec![server.clone(), client.clone()]);
    let made = sh(&format!(
        "ip netns add {server} && ip netns add {client} && ip link add vs{id} type veth peer name {client_if} && \
         ip link set vs{id} netns {server} && ip link set {client_if} netns {client} && \
         ip -n {server} addr add 10.231.0.1/24 dev vs{id} && ip -n {server} link set vs{id} up && ip -n {server} link set lo up && \
         ip -n {client} link set {client_if} address 52:54:00:be:ef:01 && ip -n {client} link set {client_if} up && ip -n {client} link set lo up"
    ));
    if !made {
        eprintln!("SKIPPED: cannot create network namespaces here (needs root)");
        return;
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
    let _baas = Killed(baas);
    assert!(
        log.wait_for("ProxyDHCP listening", Duration::from_secs(20))
            .is_some(),
        "baas did not start its ProxyDHCP"
    );

    let uuid = "00".repeat(17);
    let answer = Command::new("ip")
        .args(["netns", "exec", &client, "udhcpc", "-i", &client_if])
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
    let said = String::from_utf8_lossy(&answer.stderr);
    assert!(
        said.contains("select for 0.0.0.0, server 10.231.0.1"),
        "the client did not receive the proxy offer:\n{said}"
    );

    let answered = log
        .wait_for("DHCP answered", Duration::from_secs(10))
        .expect("baas logged no answer to the PXE DISCOVER");
    assert!(answered.contains("52:54:00:be:ef:01"), "{answered}");
    assert!(answered.contains("ipxe.efi"), "{answered}");
}
