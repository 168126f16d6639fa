//! A real PXE client: QEMU (software emulation) with its iPXE NIC ROM on a tap device in a
//! network namespace, dnsmasq there as the site's address-only DHCP server (with an IPv6 router
//! advertisement, which spares iPXE a 15 s wait), and the real `baas` binary in a second
//! namespace as ProxyDHCP, TFTP and HTTP. The BIOS VM must take its script URL from baas'
//! ProxyDHCP and fetch the script over HTTP; the UEFI VM (OVMF, EDK2's own PXE) must get
//! `ipxe.efi` named, ask port 4011, fetch it over baas' TFTP and chain to its script.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{have, sh, Killed, LogLines, Namespaces};

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// dnsmasq as the site's DHCP, baas in its own namespace, a tap for the VM. Torn down on drop
/// (fields drop in order: processes first, then the namespaces).
struct PxeLab {
    _baas: Killed,
    _dnsmasq: Killed,
    _namespaces: Namespaces,
    lab: String,
    log: LogLines,
    dir: tempfile::TempDir,
}

impl PxeLab {
    fn start() -> Option<PxeLab> {
        if !["ip", "qemu-system-x86_64", "dnsmasq"]
            .into_iter()
            .all(have)
        {
            return None;
        }
        let id = format!(
            "{}x{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let (lab, srv) = (&format!("pxelab{id}"), &format!("pxesrv{id}"));
        let namespaces = Namespaces(vec![lab.clone(), srv.clone()]);
        let made = sh(&format!(
            "set -e; ip netns add {lab}; ip netns add {srv}; ip -n {lab} link set lo up; ip -n {srv} link set lo up; \
             ip -n {lab} link add br0 type bridge; ip -n {lab} link set br0 type bridge forward_delay 0 stp_state 0; \
             ip -n {lab} tuntap add dev tap0 mode tap; ip -n {lab} link set tap0 master br0; \
             ip -n {lab} link add vsrv type veth peer name eth0 netns {srv}; ip -n {lab} link set vsrv master br0; \
             ip -n {lab} addr add 10.99.0.1/24 dev br0; ip -n {lab} addr add fd99::1/64 dev br0; \
             ip -n {srv} addr add 10.99.0.2/24 dev eth0; \
             ip -n {lab} link set tap0 up; ip -n {lab} link set vsrv up; ip -n {lab} link set br0 up; ip -n {srv} link set eth0 up"
        ));
        if !made {
            eprintln!(
                "SKIPPED: cannot create network namespaces and tap devices here (needs root)"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let dnsmasq = Killed(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    lab,
                    "dnsmasq",
                    "--no-daemon",
                    "--conf-file=/dev/null",
                ])
                .args(["--port=0", "--interface=br0", "--bind-interfaces"])
                .args([
                    "--dhcp-range=10.99.0.100,10.99.0.150,255.255.255.0,1h",
                    "--enable-ra",
                ])
                .args(["--dhcp-range=::,constructor:br0,ra-only,64,1h"])
                .arg(format!(
                    "--dhcp-leasefile={}",
                    dir.path().join("leases").display()
                ))
                .arg(format!(
                    "--pid-file={}",
                    dir.path().join("dnsmasq.pid").display()
                ))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut baas = Command::new("ip")
            .args(["netns", "exec", srv, env!("CARGO_BIN_EXE_baas"), "serve"])
            .env("BAAS_HTTP_ADDR", "0.0.0.0:3000")
            .env("BAAS_PUBLIC_URL", "http://10.99.0.2:3000")
            .env("BAAS_DATA_DIR", dir.path().join("data"))
            .env("BAAS_ADMIN_PASSWORD", "admin-password-1")
            .env("BAAS_DHCP_MODE", "proxy")
            .env("BAAS_TFTP_ADDR", "0.0.0.0:69")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("BAAS_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = LogLines::follow(baas.stderr.take().unwrap());
        let pxe = PxeLab {
            _baas: Killed(baas),
            _dnsmasq: dnsmasq,
            _namespaces: namespaces,
            lab: lab.clone(),
            log,
            dir,
        };
        assert!(
            pxe.wait_for("baas listening", Duration::from_secs(20))
                .is_some(),
            "baas did not start"
        );
        Some(pxe)
    }

    /// The next log line of baas containing `needle`.
    fn wait_for(&self, needle: &str, within: Duration) -> Option<String> {
        self.log.wait_for(needle, within)
    }

    /// Network-boots a VM on the tap device.
    fn boot(&self, firmware: &[String], nic: &str) -> Killed {
        Killed(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.lab,
                    "qemu-system-x86_64",
                    "-accel",
                    "tcg",
                    "-m",
                    "256",
                ])
                .args([
                    "-nodefaults",
                    "-nographic",
                    "-monitor",
                    "none",
                    "-serial",
                    "null",
                ])
                .args(firmware)
                .args(["-boot", "n", "-no-reboot"])
                .args(["-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no"])
                .args(["-device", nic])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

#[test]
fn a_bios_vm_gets_its_script_url_from_baas_proxydhcp_and_fetches_the_script() {
    let Some(pxe) = PxeLab::start() else { return };
    let started = Instant::now();
    let _vm = pxe.boot(&[], "e1000,netdev=n0,mac=52:54:00:12:34:56");
    let offered = pxe
        .wait_for("DHCP answered", Duration::from_secs(90))
        .expect("the VM's iPXE never got a ProxyDHCP answer");
    assert!(offered.contains("52:54:00:12:34:56"), "{offered}");
    assert!(
        offered.contains("http://10.99.0.2:3000/boot/52:54:00:12:34:56.ipxe"),
        "iPXE must get its script URL: {offered}"
    );
    let served = pxe
        .wait_for("boot script served", Duration::from_secs(60))
        .expect("the VM never fetched its boot script");
    assert!(served.contains("52:54:00:12:34:56"), "{served}");
    eprintln!(
        "BIOS VM: QEMU start to boot script in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_uefi_vm_chains_from_edk2_pxe_through_port_4011_and_tftp_to_its_script() {
    let code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
    if !std::path::Path::new(code).exists()
        || !std::path::Path::new("/usr/lib/ipxe/ipxe.efi").exists()
    {
        eprintln!(
            "SKIPPED: OVMF (ovmf) or ipxe.efi (ipxe) is not installed (./dev test installs them)"
        );
        return;
    }
    let Some(pxe) = PxeLab::start() else { return };
    let vars = pxe.dir.path().join("OVMF_VARS.fd");
    std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars).unwrap();
    let firmware = vec![
        "-drive".to_string(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={code}"),
        "-drive".to_string(),
        format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
    ];
    let started = Instant::now();
    // `romfile=` (empty): no iPXE ROM, so EDK2's own PXE client does the first stage.
    let _vm = pxe.boot(
        &firmware,
        "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:57,romfile=",
    );
    let mac = "52:54:00:12:34:57";
    let offer = pxe
        .wait_for("DHCP answered", Duration::from_secs(120))
        .expect("EDK2 never got a ProxyDHCP offer");
    assert!(
        offer.contains(mac) && offer.contains("boot=ipxe.efi"),
        "{offer}"
    );
    let ack = pxe
        .wait_for("kind=ack", Duration::from_secs(60))
        .expect("EDK2's port 4011 request got no ACK");
    assert!(ack.contains(mac) && ack.contains("ipxe.efi"), "{ack}");
    let sent = pxe
        .wait_for("TFTP sending", Duration::from_secs(60))
        .expect("EDK2 never fetched ipxe.efi over TFTP");
    assert!(sent.contains("ipxe.efi"), "{sent}");
    let served = pxe
        .wait_for("boot script served", Duration::from_secs(120))
        .expect("iPXE (EFI) never fetched its boot script");
    assert!(served.contains(mac), "{served}");
    eprintln!(
        "UEFI VM: QEMU start to boot script in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
