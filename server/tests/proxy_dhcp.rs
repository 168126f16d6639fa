//! The real `baas` binary as ProxyDHCP in a network namespace, asked by a real DHCP client
//! (busybox udhcpc sending PXE options 60/93/94/97) from a second namespace over a veth pair.
//! The client must receive the offer (it selects the proxy's server), and baas must have named
//! `ipxe.efi` for that MAC. A second test floods baas with relayed DISCOVERs from one MAC
//! (perfdhcp) while udhcpc asks: the flooder gets only its share, the other client its offer.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::{baas_in, have, sh, Killed, LogLines, VethPair};

/// baas (ProxyDHCP, real binary) in one namespace at 10.231.0.1, a client namespace over a veth
/// whose end has the MAC 52:54:00:be:ef:01 (and, for relayed traffic, 10.231.0.9).
struct Pair {
    log: LogLines,
    /// The namespace baas runs in.
    server: String,
    client: String,
    client_if: String,
    // Dropped in order: baas first, then its namespaces.
    _baas: Killed,
    _net: VethPair,
    _data: tempfile::TempDir,
}

impl Pair {
    /// baas in proxy mode, answering on the veth it was told about.
    fn start(tag: &str) -> Option<Pair> {
        Pair::start_with(tag, true)
    }

    /// baas as a first start leaves it (no DHCP setting at all) or, with `name_interface`,
    /// told to answer ProxyDHCP on its end of the veth.
    fn start_with(tag: &str, name_interface: bool) -> Option<Pair> {
        Pair::start_prepared(tag, name_interface, |_| {})
    }

    /// As [`Pair::start_with`], with the lab's database prepared by `prepare` before baas starts.
    fn start_prepared(
        tag: &str,
        name_interface: bool,
        prepare: impl FnOnce(&common::LabBeside),
    ) -> Option<Pair> {
        if !have("ip") || !have("udhcpc") {
            return None;
        }
        let net = VethPair::create(tag, "10.231.0.1/24", "52:54:00:be:ef:01")?;
        let data = tempfile::tempdir().unwrap();
        prepare(&common::LabBeside::open(&data.path().join("data")));
        let data_dir = data.path().join("data").display().to_string();
        let mut settings = vec![
            ("BAAS_HTTP_ADDR", "127.0.0.1:3000"),
            ("BAAS_DATA_DIR", data_dir.as_str()),
            ("BAAS_TFTP_ADDR", "off"),
            ("BAAS_PUBLIC_URL", "http://10.231.0.1:3000"),
        ];
        if name_interface {
            settings.push(("BAAS_DHCP_MODE", "proxy"));
            settings.push(("BAAS_DHCP_INTERFACES", net.server_if.as_str()));
        }
        let (baas, log) = baas_in(&net.server, &settings);
        let pair = Pair {
            log,
            server: net.server.clone(),
            client: net.client.clone(),
            client_if: net.client_if.clone(),
            _baas: baas,
            _net: net,
            _data: data,
        };
        let expected = if name_interface {
            "ProxyDHCP listening"
        } else {
            "DHCP off: no lab network named"
        };
        assert!(
            pair.log
                .wait_for(expected, Duration::from_secs(20))
                .is_some(),
            "baas did not log '{expected}'"
        );
        Some(pair)
    }

    /// udhcpc's PXE DISCOVER (x86_64 EFI): what it printed.
    fn pxe_discover(&self) -> String {
        self.pxe_discover_as(7)
    }

    /// udhcpc's PXE DISCOVER from a client of `architecture` (option 93 and the vendor class).
    fn pxe_discover_as(&self, architecture: u16) -> String {
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
            .args([
                "-V",
                &format!("PXEClient:Arch:{architecture:05}:UNDI:003016"),
            ])
            .args([
                "-x",
                &format!("0x5d:{architecture:04x}"),
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

/// A machine that names its own boot program (a NIC whose iPXE driver misbehaves) gets it
/// instead of the lab's program for its firmware.
#[test]
fn a_machine_with_its_own_boot_program_is_offered_it() {
    let Some(pair) = Pair::start_prepared("o", true, |beside| {
        let input = lab::model::MachineInput {
            boot_program: "snponly.efi".into(),
            ..common::machine_input("odd-nic", "52:54:00:be:ef:01", "x86_64-uefi")
        };
        beside
            .runtime
            .block_on(beside.lab.create_machine(&lab::Actor::shell(), input))
            .unwrap();
    }) else {
        return;
    };
    let said = pair.pxe_discover();
    assert!(
        said.contains("server 10.231.0.1"),
        "no proxy offer:\n{said}"
    );
    let answered = pair
        .log
        .wait_for("DHCP answered", Duration::from_secs(10))
        .expect("baas logged no answer to the PXE DISCOVER");
    assert!(answered.contains("boot=snponly.efi"), "{answered}");
}

/// A client whose architecture code baas has no program kind for (2, Itanium) is still
/// answered, with the lab's default, and the log says why.
#[test]
fn an_unknown_architecture_is_offered_the_lab_default_and_logged() {
    // A default of its own, so the answer shows which entry of the table was used.
    let Some(pair) = Pair::start_prepared("u", true, |beside| {
        let programs = lab::model::BootPrograms {
            unknown: "snponly.efi".into(),
            ..Default::default()
        };
        beside
            .runtime
            .block_on(beside.lab.set_boot_programs(&lab::Actor::shell(), programs))
            .unwrap();
    }) else {
        return;
    };
    let said = pair.pxe_discover_as(2);
    assert!(
        said.contains("server 10.231.0.1"),
        "no proxy offer:\n{said}"
    );
    let warned = pair
        .log
        .wait_for("unknown architecture", Duration::from_secs(10))
        .expect("no log line about the unknown architecture");
    assert!(
        warned.contains("architecture=2") && warned.contains("snponly.efi"),
        "{warned}"
    );
    let answered = pair
        .log
        .wait_for("DHCP answered", Duration::from_secs(10))
        .expect("baas logged no answer");
    assert!(answered.contains("boot=snponly.efi"), "{answered}");
}

#[test]
fn a_first_start_answers_no_pxe_client_until_an_interface_is_named() {
    let Some(pair) = Pair::start_with("d", false) else {
        return;
    };
    let ignored_before = broadcasts_nobody_listened_to(&pair.server);
    let said = pair.pxe_discover();
    // The client did ask (twice), and its DISCOVERs reached baas' host, where no socket took
    // them: baas listens on no DHCP port at all.
    let asked = said.matches("broadcasting discover").count() as u64;
    assert!(asked >= 1, "the client never asked:\n{said}");
    assert!(
        !said.contains("select for"),
        "baas answered DHCP on a network nobody named:\n{said}"
    );
    let ignored = broadcasts_nobody_listened_to(&pair.server) - ignored_before;
    assert!(
        ignored >= asked,
        "{asked} DISCOVERs sent, {ignored} reached the host unheard"
    );
    let listening = Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.server,
            "ss",
            "-Hlun",
            "sport = :67 or sport = :4011",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listening.stdout).trim(),
        "",
        "a DHCP port is open"
    );
}

/// The kernel's count of broadcast UDP datagrams that arrived in namespace `netns` for a port
/// no socket listened on (`Udp: IgnoredMulti` in /proc/net/snmp).
fn broadcasts_nobody_listened_to(netns: &str) -> u64 {
    let snmp = Command::new("ip")
        .args(["netns", "exec", netns, "cat", "/proc/net/snmp"])
        .output()
        .unwrap();
    let snmp = String::from_utf8_lossy(&snmp.stdout);
    let mut udp = snmp.lines().filter(|line| line.starts_with("Udp:"));
    let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
    let column = names
        .split_whitespace()
        .position(|name| name == "IgnoredMulti")
        .expect("an IgnoredMulti column");
    values
        .split_whitespace()
        .nth(column)
        .unwrap()
        .parse()
        .unwrap()
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
