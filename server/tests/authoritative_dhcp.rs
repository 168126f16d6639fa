//! The real `baas` binary as the authoritative DHCP server of a subnet in a network namespace,
//! with busybox udhcpc in a second namespace over a veth pair: an inventory machine gets its
//! fixed address, an unknown client one from the pool, a release frees it, and an address the
//! client finds in use (udhcpc's ARP check) is declined, quarantined and replaced. ISC dhclient,
//! rebooting with a lease from elsewhere, is told no (NAK) and then gets a pool address.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::{baas_in, have, lease, sh, udhcpc_hook, Killed, LogLines, VethPair};
use common::LabBeside;

#[test]
fn baas_as_the_subnets_dhcp_server_leases_fixed_and_pool_addresses_to_a_real_client() {
    if !have("ip") || !have("udhcpc") || !have("dhclient") {
        return;
    }
    let Some(net) = VethPair::create("a", "10.232.0.2/24", "52:54:00:be:ef:02") else {
        return;
    };
    let (server, server_if) = (&net.server, &net.server_if);
    let (client, client_if) = (&net.client, &net.client_if);
    let data = tempfile::tempdir().unwrap();
    let hook = udhcpc_hook(data.path());
    let beside = LabBeside::open(data.path());
    let node7 = beside.add_machine("node7", "52:54:00:be:ef:07", "x86_64-bios", "10.232.0.21");

    let data_dir = data.path().display().to_string();
    let (_baas, log) = baas_in(
        server,
        &[
            ("BAAS_DATA_DIR", &data_dir),
            ("BAAS_PUBLIC_URL", "http://10.232.0.2:3000"),
            ("BAAS_DHCP_MODE", "authoritative"),
            ("BAAS_DHCP_INTERFACES", server_if),
            ("BAAS_DHCP_SUBNET", "10.232.0.0/24"),
            ("BAAS_DHCP_POOL", "10.232.0.100-10.232.0.102"),
            ("BAAS_DHCP_ROUTER", "10.232.0.1"),
            ("BAAS_DHCP_LEASE_SECONDS", "600"),
            ("BAAS_TFTP_ADDR", "off"),
            ("BAAS_HTTP_ADDR", "127.0.0.1:3000"),
        ],
    );
    assert!(
        log.wait_for("DHCP (authoritative) listening", Duration::from_secs(20))
            .is_some(),
        "baas did not start its DHCP server"
    );

    // An unknown client gets the first pool address, and gives it back (SIGUSR2: release).
    let first = lease(client, client_if, &hook, &[]);
    assert_eq!(first.address.as_deref(), Some("10.232.0.100"));
    // udhcpc enters its bound state only after the hook returned; a signal before that sends
    // nothing, so ask until it says it sent the RELEASE.
    let sent = (0..10).any(|_| {
        sh(&format!("kill -USR2 {}", first.process.0.id()));
        first
            .said
            .wait_for("unicasting a release", Duration::from_millis(500))
            .is_some()
    });
    assert!(sent, "udhcpc never sent its RELEASE");
    let released = log
        .wait_for("released 10.232.0.100", Duration::from_secs(10))
        .expect("baas logged no release");
    assert!(released.contains("52:54:00:be:ef:02"), "{released}");

    // The inventory machine's MAC gets its fixed address and keeps it.
    sh(&format!(
        "ip -n {client} addr flush dev {client_if} && ip -n {client} link set {client_if} address 52:54:00:be:ef:07"
    ));
    drop(first);
    let fixed = lease(client, client_if, &hook, &[]);
    assert_eq!(fixed.address.as_deref(), Some("10.232.0.21"));
    drop(fixed);

    // dhclient reboots believing it holds 10.232.0.200 (INIT-REBOOT): NAK, then a fresh
    // DISCOVER and the pool's first address.
    sh(&format!(
        "ip -n {client} addr flush dev {client_if} && ip -n {client} link set {client_if} address 52:54:00:be:ef:03"
    ));
    let leases_file = data.path().join("dhclient.leases");
    std::fs::write(
        &leases_file,
        format!(
            "lease {{\n  interface \"{client_if}\";\n  fixed-address 10.232.0.200;\n  option subnet-mask 255.255.255.0;\n  \
             option dhcp-server-identifier 10.232.0.2;\n  renew 4 2037/01/01 00:00:01;\n  rebind 4 2037/01/01 00:00:01;\n  \
             expire 4 2037/01/01 00:00:01;\n}}\n"
        ),
    )
    .unwrap();
    let mut dhclient = Command::new("ip")
        .args([
            "netns",
            "exec",
            client,
            "dhclient",
            "-4",
            "-d",
            "-1",
            "-sf",
            "/bin/true",
        ])
        .arg("-lf")
        .arg(&leases_file)
        .arg("-pf")
        .arg(data.path().join("dhclient.pid"))
        .arg(client_if)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = LogLines::follow(dhclient.stderr.take().unwrap());
    let dhclient = Killed(dhclient);
    assert!(
        said.wait_for("DHCPNAK from 10.232.0.2", Duration::from_secs(20))
            .is_some(),
        "dhclient was not told no"
    );
    let bound = said
        .wait_for("bound to", Duration::from_secs(30))
        .expect("dhclient got no lease after the NAK");
    assert!(bound.contains("bound to 10.232.0.100"), "{bound}");
    assert!(log
        .wait_for("kind=nak", Duration::from_secs(5))
        .is_some_and(|line| line.contains("52:54:00:be:ef:03")));
    drop(dhclient);

    // Someone else answers ARP for the next free address: the client declines it and gets the
    // one after (udhcpc waits 10 s after a DECLINE).
    sh(&format!(
        "ip -n {client} addr flush dev {client_if} && ip -n {client} link set {client_if} address 52:54:00:be:ef:02 && \
         ip -n {server} addr add 10.232.0.101/24 dev {server_if}"
    ));
    let checked = lease(client, client_if, &hook, &["-a"]);
    assert_eq!(checked.address.as_deref(), Some("10.232.0.102"));
    drop(checked);
    assert!(
        log.wait_for("declined 10.232.0.101", Duration::from_secs(5))
            .is_some(),
        "baas logged no DECLINE"
    );

    // What the lab remembers: the bound leases, the quarantined address, the boot events.
    let leases: Vec<(String, String, String)> = beside
        .leases()
        .into_iter()
        .map(|l| (l.address, l.state, l.machine.unwrap_or_default()))
        .collect();
    assert_eq!(
        leases,
        [
            ("10.232.0.21".into(), "bound".into(), "node7".into()),
            ("10.232.0.100".into(), "bound".into(), String::new()),
            ("10.232.0.101".into(), "declined".into(), String::new()),
            ("10.232.0.102".into(), "bound".into(), String::new()),
        ]
    );
    let events = beside.boot_events(node7);
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("dhcp: offer 10.232.0.21")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("dhcp: ack 10.232.0.21")),
        "{events:?}"
    );
}
