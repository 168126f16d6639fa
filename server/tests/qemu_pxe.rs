//! A real PXE client: QEMU (software emulation) with its iPXE NIC ROM on a tap device in a
//! network namespace, dnsmasq there as the site's address-only DHCP server (with an IPv6 router
//! advertisement, which spares iPXE a 15 s wait), and the real `baas` binary in a second
//! namespace as ProxyDHCP, TFTP and HTTP. The BIOS VM must take its script URL from baas'
//! ProxyDHCP and fetch the script over HTTP; the UEFI VM (OVMF, EDK2's own PXE) must get
//! `ipxe.efi` named, ask port 4011, fetch it over baas' TFTP and chain to its script. A third
//! run has no dnsmasq: baas is the subnet's authoritative DHCP server and gives the VM, an
//! inventory machine, its fixed address with the script URL. Each test reads the boot events
//! baas recorded for the machine. The lab (namespaces, bridge, tap, dnsmasq, ipmi_sim, QEMU's
//! command line) is `end2end/vmlab.sh`'s, shared with the browser test and the benchmark.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{baas_in, have, skipped, Killed, LogLines};
use common::LabBeside;

/// Who hands out addresses on the VM's network.
#[derive(PartialEq)]
enum AddressServer {
    /// dnsmasq as the site's DHCP server; baas is ProxyDHCP.
    SiteDnsmasq,
    /// baas itself, authoritative for 10.99.0.0/24.
    Baas,
    /// An IPv6-only network: radvd as its router (autoconfiguration, "other configuration"),
    /// baas its authoritative DHCPv6 server, reached at `http://[fd99::2]:3000`; no DHCPv4.
    Ipv6Only,
    /// The same network with dnsmasq as the site's DHCPv6 server (addresses only); baas answers
    /// boot information beside it.
    Ipv6Site,
}

/// The lab network's first three octets: baas is .2, the bridge (and the BMC) .1.
const SUBNET: &str = "10.99.0";

/// A lab made by `end2end/vmlab.sh up` in a directory of its own, with what its `env` file says;
/// `vmlab.sh down` on drop (before the directory goes).
struct VmLab {
    env: std::collections::HashMap<String, String>,
    dir: tempfile::TempDir,
}

impl VmLab {
    fn script() -> std::path::PathBuf {
        repository().join("end2end/vmlab.sh")
    }

    /// `vmlab.sh up`; what it said when it failed.
    fn up(subnet: &str, addresses: &AddressServer) -> Result<VmLab, String> {
        let dir = tempfile::tempdir().unwrap();
        let mut up = Command::new(Self::script());
        up.arg("up").arg(dir.path()).args(["--subnet", subnet]);
        match addresses {
            AddressServer::SiteDnsmasq => {}
            AddressServer::Baas => {
                up.arg("--no-site-dhcp");
            }
            AddressServer::Ipv6Only => {
                up.arg("--ipv6-only");
            }
            AddressServer::Ipv6Site => {
                up.args(["--ipv6-only", "--site-dhcpv6"]);
            }
        }
        let out = up
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", Self::script().display()))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let env = std::fs::read_to_string(dir.path().join("env"))
            .unwrap()
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(VmLab { env, dir })
    }

    /// A value of the lab's `env` file, like `VMLAB_SRV_NS`.
    fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in the lab's env"))
    }

    /// `vmlab.sh <command> DIR <args>`, which must succeed.
    fn run(&self, command: &str, args: &[&str]) {
        let status = Command::new(Self::script())
            .arg(command)
            .arg(self.dir.path())
            .args(args)
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "vmlab.sh {command} {args:?} failed");
    }

    /// QEMU on the lab's tap (`vmlab.sh vm … --foreground`: the child is QEMU), killed on drop.
    fn vm(&self, args: &[&str]) -> Killed {
        Killed(
            Command::new(Self::script())
                .arg("vm")
                .arg(self.dir.path())
                .args(args)
                .arg("--foreground")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for VmLab {
    fn drop(&mut self) {
        let down = Command::new(Self::script())
            .arg("down")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .status();
        if !down.is_ok_and(|s| s.success()) {
            eprintln!("vmlab.sh down {} failed", self.dir.path().display());
        }
    }
}

/// The VM, known to the inventory before baas starts.
#[derive(Default)]
struct Inventory<'a> {
    name: &'a str,
    mac: &'a str,
    platform: &'a str,
    ip_address: &'a str,
    /// With a boot job waiting, and this file as the management OS kernel.
    boot_job_kernel: Option<&'a str>,
    /// The management OS's initrd and command line (default: `ipxe.lkrn` told to autoboot).
    initrd: Option<&'a str>,
    cmdline: Option<&'a str>,
    /// Instead of a plain boot job, a deploy job of this image.
    deploy: Option<&'a std::path::Path>,
    /// More settings for baas.
    env: Vec<(&'a str, &'a str)>,
    /// The address of the machine's IPMI BMC; the test starts its job itself.
    bmc: Option<&'a str>,
    /// The machine's own network boot program (default: the lab's).
    boot_program: &'a str,
}

/// dnsmasq as the site's DHCP, baas in its own namespace, a tap for the VM. Torn down on drop
/// (fields drop in order: baas first, then the lab).
struct PxeLab {
    baas: Killed,
    /// Where baas runs and with what settings, to start it again.
    srv: String,
    settings: Vec<(String, String)>,
    log: LogLines,
    /// The lab database beside baas, and the VM's machine id there.
    beside: LabBeside,
    machine: i64,
    /// The VM's deploy job, when it has one.
    job: Option<i64>,
    vmlab: VmLab,
    /// baas' data directory (the lab database beside it lives there too).
    _dir: tempfile::TempDir,
}

impl PxeLab {
    fn start(addresses: AddressServer, vm: Inventory) -> Option<PxeLab> {
        let router = match addresses {
            AddressServer::Ipv6Only | AddressServer::Ipv6Site => "radvd",
            _ => "dnsmasq",
        };
        if !["ip", "qemu-system-x86_64", "dnsmasq", router]
            .into_iter()
            .all(have)
        {
            return None;
        }
        // With dnsmasq as the site's DHCP, or without any (baas is the subnet's DHCP server).
        let vmlab = match VmLab::up(SUBNET, &addresses) {
            Ok(vmlab) => vmlab,
            Err(why) => {
                skipped(&format!(
                    "the VM lab (end2end/vmlab.sh up) did not come up: {why}"
                ));
                return None;
            }
        };
        let srv = vmlab.var("VMLAB_SRV_NS").to_string();
        let dir = tempfile::tempdir().unwrap();
        let beside = LabBeside::open(&dir.path().join("data"));
        let machine = match vm.bmc {
            Some(bmc) => {
                beside.add_ipmi_machine_booting(vm.name, vm.mac, vm.platform, bmc, vm.boot_program)
            }
            None => beside.add_machine(vm.name, vm.mac, vm.platform, vm.ip_address),
        };
        let job = match (vm.boot_job_kernel, vm.deploy) {
            _ if vm.bmc.is_some() => None,
            (Some(_), Some(image)) => Some(beside.deploy_job(machine, image)),
            (Some(_), None) => {
                beside.request_boot_job(machine);
                None
            }
            _ => None,
        };
        let mode = match addresses {
            AddressServer::SiteDnsmasq => "proxy",
            AddressServer::Baas => "authoritative",
            AddressServer::Ipv6Only | AddressServer::Ipv6Site => "off",
        };
        let data_dir = dir.path().join("data").display().to_string();
        let ipv6 = matches!(addresses, AddressServer::Ipv6Only | AddressServer::Ipv6Site);
        let public_url = if ipv6 {
            format!("http://[{}]:3000", vmlab.var("VMLAB_SERVER_IP6"))
        } else {
            format!("http://{}:3000", vmlab.var("VMLAB_SERVER_IP"))
        };
        let prefix = vmlab.var("VMLAB_PREFIX6").to_string();
        let pool = format!(
            "{0}1000-{0}10ff",
            prefix
                .trim_end_matches("/64")
                .trim_end_matches(':')
                .to_string()
                + "::"
        );
        let mut env = vec![
            (
                "BAAS_HTTP_ADDR",
                if ipv6 { "[::]:3000" } else { "0.0.0.0:3000" },
            ),
            ("BAAS_PUBLIC_URL", &public_url),
            ("BAAS_DATA_DIR", &data_dir),
            ("BAAS_DHCP_MODE", mode),
            ("BAAS_DHCP_INTERFACES", "eth0"),
            ("BAAS_DHCP_SUBNET", vmlab.var("VMLAB_SUBNET")),
            ("BAAS_DHCP_ROUTER", vmlab.var("VMLAB_GATEWAY")),
            (
                "BAAS_TFTP_ADDR",
                if ipv6 { "[::]:69" } else { "0.0.0.0:69" },
            ),
            ("BAAS_MGMT_KERNEL", vm.boot_job_kernel.unwrap_or_default()),
            ("BAAS_MGMT_INITRD", vm.initrd.unwrap_or_default()),
            // ipxe.lkrn runs its command line as a script: network-boot again.
            ("BAAS_MGMT_CMDLINE", vm.cmdline.unwrap_or("autoboot ||")),
        ];
        if addresses == AddressServer::Ipv6Site {
            env.push(("BAAS_DHCP6_MODE", "proxy"));
        }
        if addresses == AddressServer::Ipv6Only {
            env.extend([
                ("BAAS_DHCP6_MODE", "authoritative"),
                ("BAAS_DHCP6_SUBNET", prefix.as_str()),
                ("BAAS_DHCP6_POOL", pool.as_str()),
            ]);
        }
        env.extend(vm.env.iter().copied());
        let (baas, log) = baas_in(&srv, &env);
        let settings = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let pxe = PxeLab {
            baas,
            srv,
            settings,
            log,
            beside,
            machine,
            job,
            vmlab,
            _dir: dir,
        };
        assert!(
            pxe.wait_for("baas listening", Duration::from_secs(20))
                .is_some(),
            "baas did not start"
        );
        Some(pxe)
    }

    /// The job once it ended (or as it stands after `within`), printing each new state with
    /// the seconds since `started`.
    fn follow_job(&self, job: i64, started: Instant, within: Duration) -> lab::model::Job {
        let mut seen = Vec::new();
        let deadline = Instant::now() + within;
        loop {
            let now = self.beside.job(job);
            let phase = now.state.to_string();
            if seen.last() != Some(&phase) {
                eprintln!("{:6.1} s  {phase}", started.elapsed().as_secs_f64());
                seen.push(phase);
            }
            if now.state.is_final() || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the job writes and has written more than `bytes`.
    fn wait_for_writing(&self, job: i64, bytes: i64) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let now = self.beside.job(job);
            if now.state == lab::model::JobState::Writing && now.progress.done > bytes {
                return;
            }
            assert!(
                !now.state.is_final() && Instant::now() < deadline,
                "the write never got going: {now:?}\nconsole:\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills baas (SIGKILL, like a crash) and starts it again on the same data after `down_for`.
    fn restart_baas(&mut self, down_for: Duration) {
        let _ = self.baas.0.kill();
        let _ = self.baas.0.wait();
        std::thread::sleep(down_for);
        let settings: Vec<(&str, &str)> = self
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (baas, log) = baas_in(&self.srv, &settings);
        self.baas = baas;
        self.log = log;
        assert!(
            self.wait_for("baas listening", Duration::from_secs(20))
                .is_some(),
            "baas did not start again"
        );
    }

    /// The next log line of baas containing `needle`.
    fn wait_for(&self, needle: &str, within: Duration) -> Option<String> {
        self.log.wait_for(needle, within)
    }

    /// Where the VM's first boot event starting with `prefix` is among all of them (oldest
    /// first, as `kind: detail`); fails the test, listing them, when there is none.
    fn boot_event(&self, prefix: &str) -> usize {
        let events = self.beside.boot_events(self.machine);
        events
            .iter()
            .position(|e| e.starts_with(prefix))
            .unwrap_or_else(|| panic!("no '{prefix}' boot event in {events:?}"))
    }

    /// What the VM printed on its serial console (iPXE and SeaBIOS write there).
    /// baas' data directory.
    fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }

    fn console(&self) -> String {
        let bytes = std::fs::read(self.vmlab.var("VMLAB_CONSOLE")).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// A BIOS VM with `disk` as its virtio disk that tries the network first, then the disk, and
    /// may reboot (the agent reboots it after a deploy; the test image powers it off).
    fn boot_with_disk(&self, disk: &std::path::Path, nic: &str, mac: &str) -> Killed {
        let disk = disk.display().to_string();
        self.vmlab
            .vm(&["--disk", &disk, "--boot", "nc", "--nic", nic, "--mac", mac])
    }

    /// Network-boots a VM (256 MiB, no reboot) on the tap device with `firmware` (vmlab.sh's:
    /// `bios`, `uefi`, or `uefi-http` for OVMF with its PXE switched off).
    fn boot(&self, firmware: &str, nic: &str, mac: &str) -> Killed {
        self.vmlab.vm(&[
            "--firmware",
            firmware,
            "--memory",
            "256",
            "--boot",
            "n",
            "--extra",
            "-no-reboot",
            "--nic",
            nic,
            "--mac",
            mac,
        ])
    }
}

#[test]
fn a_bios_vm_gets_its_script_url_from_baas_proxydhcp_and_fetches_the_script() {
    let vm = Inventory {
        name: "bios-vm",
        mac: "52:54:00:12:34:56",
        platform: "x86_64-bios",
        ip_address: "",
        boot_job_kernel: None,
        ..Default::default()
    };
    let Some(pxe) = PxeLab::start(AddressServer::SiteDnsmasq, vm) else {
        return;
    };
    let started = Instant::now();
    let _vm = pxe.boot("bios", "e1000", "52:54:00:12:34:56");
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
    assert_eq!(
        pxe.boot_event("dhcp: offer boot http://10.99.0.2:3000/boot/52:54:00:12:34:56.ipxe"),
        0
    );
    pxe.boot_event("script: boot from local disk");
}

/// The management OS does not exist yet (it comes with the agent); Debian's `ipxe.lkrn` is a
/// real bzImage kernel, so it stands in: it runs its command line as a script, and told
/// `autoboot` it network-boots again, which proves the kernel the script named was fetched and
/// started.
#[test]
fn a_vm_with_a_boot_job_fetches_and_starts_the_management_os_kernel() {
    let kernel = "/usr/lib/ipxe/ipxe.lkrn";
    if !std::path::Path::new(kernel).exists() {
        skipped(&format!("{kernel} (Debian's ipxe) is not installed"));
        return;
    }
    let vm = Inventory {
        name: "job-vm",
        mac: "52:54:00:12:34:59",
        platform: "x86_64-bios",
        ip_address: "",
        boot_job_kernel: Some(kernel),
        ..Default::default()
    };
    let Some(pxe) = PxeLab::start(AddressServer::SiteDnsmasq, vm) else {
        return;
    };
    let started = Instant::now();
    let _vm = pxe.boot("bios", "e1000", "52:54:00:12:34:59");
    let served = pxe
        .wait_for("boot script served", Duration::from_secs(90))
        .expect("the VM never fetched its boot script");
    assert!(served.contains("served=\"management OS\""), "{served}");
    let fetched = pxe
        .wait_for("management OS file served", Duration::from_secs(60))
        .expect("the VM never fetched the management OS kernel");
    assert!(fetched.contains("file=\"kernel\""), "{fetched}");
    // The kernel runs: it asks DHCP again.
    let again = pxe
        .wait_for("DHCP answered", Duration::from_secs(90))
        .unwrap_or_else(|| {
            panic!(
                "the kernel never started (no DHCP request after the fetch); console:\n{}",
                pxe.console()
            )
        });
    assert!(again.contains("52:54:00:12:34:59"), "{again}");
    eprintln!(
        "BIOS VM with a boot job: QEMU start to the kernel's own DHCP in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    pxe.boot_event("script: management OS for boot job");
}

#[test]
fn a_bios_vm_boots_with_baas_as_the_only_dhcp_server_at_its_fixed_address() {
    let vm = Inventory {
        name: "fixed-vm",
        mac: "52:54:00:12:34:58",
        platform: "x86_64-bios",
        ip_address: "10.99.0.21",
        boot_job_kernel: None,
        ..Default::default()
    };
    let Some(pxe) = PxeLab::start(AddressServer::Baas, vm) else {
        return;
    };
    let started = Instant::now();
    let _vm = pxe.boot("bios", "e1000", "52:54:00:12:34:58");
    let acked = pxe
        .wait_for("kind=ack", Duration::from_secs(90))
        .expect("the VM's iPXE never got an address from baas");
    assert!(acked.contains("leased=Some(10.99.0.21)"), "{acked}");
    let served = pxe
        .wait_for("boot script served", Duration::from_secs(90))
        .expect("the VM never fetched its boot script");
    assert!(served.contains("52:54:00:12:34:58"), "{served}");
    assert!(
        served.contains("10.99.0.21"),
        "fetched from its fixed address: {served}"
    );
    eprintln!(
        "BIOS VM, baas authoritative: QEMU start to boot script in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        pxe.boot_event(
            "dhcp: offer 10.99.0.21 boot http://10.99.0.2:3000/boot/52:54:00:12:34:58.ipxe"
        ),
        0
    );
    pxe.boot_event("dhcp: ack 10.99.0.21");
    pxe.boot_event("script: boot from local disk");
    let leases = pxe.beside.leases();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(
        (leases[0].address.as_str(), leases[0].state.as_str()),
        ("10.99.0.21", "bound")
    );
}

#[test]
fn a_uefi_vm_chains_from_edk2_pxe_through_port_4011_and_tftp_to_its_script() {
    let code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
    if !std::path::Path::new(code).exists()
        || !std::path::Path::new("/usr/lib/ipxe/ipxe.efi").exists()
    {
        skipped("OVMF (ovmf) or ipxe.efi (ipxe) is not installed (./dev test installs them)");
        return;
    }
    let vm = Inventory {
        name: "uefi-vm",
        mac: "52:54:00:12:34:57",
        platform: "x86_64-uefi",
        ip_address: "",
        boot_job_kernel: None,
        ..Default::default()
    };
    let Some(pxe) = PxeLab::start(AddressServer::SiteDnsmasq, vm) else {
        return;
    };
    let mac = "52:54:00:12:34:57";
    let started = Instant::now();
    // OVMF (vmlab.sh's --firmware uefi: OVMF_CODE_4M.fd, a copy of its variables); `romfile=`
    // (empty): no iPXE ROM, so EDK2's own PXE client does the first stage.
    let _vm = pxe.boot("uefi", "virtio-net-pci,romfile=", mac);
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
    // Every step is a boot event of the machine, in order: the TFTP transfer is tied to it by
    // the address its port-4011 request came from.
    let offer = pxe.boot_event("dhcp: offer boot ipxe.efi");
    let ack = pxe.boot_event("dhcp: ack boot ipxe.efi");
    let tftp = pxe.boot_event("tftp: sent ipxe.efi");
    let script = pxe.boot_event("script: boot from local disk");
    assert!(
        offer < ack && ack < tftp && tftp < script,
        "out of order: offer {offer}, ack {ack}, tftp {tftp}, script {script}"
    );
}

/// UEFI HTTP boot with no TFTP on the network: OVMF (its PXE switched off, so its HTTP boot
/// entry runs first) asks DHCP as `HTTPClient`, baas' ProxyDHCP answers with the URL of
/// `ipxe.efi`, OVMF downloads it from baas over HTTP, and iPXE fetches the machine's script.
#[test]
fn a_uefi_vm_http_boots_ipxe_from_baas_with_no_tftp_to_its_script() {
    let code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
    if !std::path::Path::new(code).exists()
        || !std::path::Path::new("/usr/lib/ipxe/ipxe.efi").exists()
    {
        skipped("OVMF (ovmf) or ipxe.efi (ipxe) is not installed (./dev test installs them)");
        return;
    }
    let mac = "52:54:00:12:34:5b";
    let vm = Inventory {
        name: "http-vm",
        mac,
        platform: "x86_64-uefi",
        env: vec![("BAAS_TFTP_ADDR", "off")],
        ..Default::default()
    };
    let Some(pxe) = PxeLab::start(AddressServer::SiteDnsmasq, vm) else {
        return;
    };
    let started = Instant::now();
    let _vm = pxe.boot("uefi-http", "virtio-net-pci,romfile=", mac);
    let offer = pxe
        .wait_for("DHCP answered", Duration::from_secs(180))
        .expect("OVMF's HTTP boot never got a ProxyDHCP offer");
    assert!(
        offer.contains(mac) && offer.contains("/boot/firmware/ipxe.efi"),
        "{offer}"
    );
    let fetched = pxe
        .wait_for(
            "network-boot file served over HTTP",
            Duration::from_secs(120),
        )
        .expect("OVMF never fetched ipxe.efi over HTTP");
    assert!(fetched.contains("ipxe.efi"), "{fetched}");
    let served = pxe
        .wait_for("boot script served", Duration::from_secs(120))
        .expect("iPXE (EFI) never fetched its boot script");
    assert!(served.contains(mac), "{served}");
    eprintln!(
        "UEFI HTTP boot: QEMU start to boot script in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The heart of baas on a real machine: a BIOS VM with a blank disk, a deploy job waiting for
/// it, baas as ProxyDHCP + TFTP + HTTP beside dnsmasq. The VM network-boots the management OS
/// that `mgmt/build.sh` built, its agent enrols, writes the zstd image, verifies it and reboots
/// the VM; the VM's next network boot is sent to its disk and the system on the disk prints its
/// random marker on the serial console. The machine has no BMC, so baas has no console to watch:
/// the job ends *boot-unobserved*, saying so, never *booted*.
#[test]
fn a_vm_is_reimaged_through_the_management_os_and_boots_the_written_image_from_its_disk() {
    let work = tempfile::tempdir().unwrap();
    let marker = format!("BAAS-DEPLOYED-{}", std::process::id());
    let (mgmt, image) = deploy_inputs(work.path(), &marker);
    let kernel = mgmt.join("vmlinuz");
    let compressed = work.path().join("test-disk.img.zst");
    let (kernel, initrd) = (
        kernel.display().to_string(),
        mgmt.join("initrd.img").display().to_string(),
    );
    let vm = Inventory {
        name: "deploy-vm",
        mac: "52:54:00:12:34:61",
        platform: "x86_64-bios",
        boot_job_kernel: Some(&kernel),
        initrd: Some(&initrd),
        cmdline: Some("console=ttyS0,115200"),
        deploy: Some(&compressed),
        ..Default::default()
    };
    let Some(pxe) = PxeLab::start(AddressServer::SiteDnsmasq, vm) else {
        return;
    };
    let job = pxe.job.expect("a deploy job");
    let blank = blank_disk(work.path().join("vm-disk.img"));
    let started = Instant::now();
    let _vm = pxe.boot_with_disk(&blank, "virtio-net-pci", "52:54:00:12:34:61");

    let finished = pxe.follow_job(job, started, Duration::from_secs(600));
    assert_eq!(
        finished.state,
        lab::model::JobState::BootUnobserved,
        "the job ended {:?}: {} {}\nphases: {:?}\nconsole:\n{}",
        finished.state,
        finished.failed_step,
        finished.reason,
        finished.phases,
        pxe.console()
    );
    for phase in [
        "netbooting",
        "enrolled",
        "writing",
        "verifying",
        "rebooting",
        "booting",
        "boot-unobserved",
    ] {
        assert!(
            finished.phases.iter().any(|p| p.state.as_str() == phase),
            "no {phase} phase in {:?}",
            finished.phases
        );
    }
    assert!(
        finished.reason.contains("no console"),
        "the reason says why the boot was not seen: {}",
        finished.reason
    );
    // The machine runs what was written: the image's system prints its marker.
    wait_for_marker(|| pxe.console(), &marker);
    eprintln!(
        "deploy: QEMU start to the written system's marker in {:.1} s; phases {:?}",
        started.elapsed().as_secs_f64(),
        finished
            .phases
            .iter()
            .map(|p| (p.state.as_str(), p.at - finished.phases[0].at))
            .collect::<Vec<_>>()
    );
    let written = std::fs::read(&blank).unwrap();
    let original = std::fs::read(&image).unwrap();
    assert!(
        written.starts_with(&original),
        "the disk does not hold the image"
    );
}

/// The checkout the tests run in. Read at run time: a binary built in another clone sharing the
/// target directory must use this one.
fn repository() -> std::path::PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("..")
}

/// A blank 64 MiB disk image at `path`.
fn blank_disk(path: std::path::PathBuf) -> std::path::PathBuf {
    std::fs::File::create(&path)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    path
}

/// Waits (up to three minutes) until `console` shows `marker`: the written system booted.
fn wait_for_marker(console: impl Fn() -> String, marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !console().contains(marker) {
        assert!(
            Instant::now() < deadline,
            "no {marker} on the console:\n{}",
            console()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The management OS (`mgmt/build.sh`) and a bootable test disk printing `marker`
/// (`mgmt/test-disk.sh`, raw and `.zst`) under `work`; returns (management OS dir, raw disk).
fn deploy_inputs(work: &std::path::Path, marker: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    deploy_inputs_as(work, marker, "marker", "amd64")
}

/// As [`deploy_inputs`], with the test disk's `mode` (`marker`, or `no-root`: a kernel that
/// panics for want of its root file system), for `arch` (`amd64` or `arm64`: then the
/// management OS directory also holds GRUB's arm64 modules).
fn deploy_inputs_as(
    work: &std::path::Path,
    marker: &str,
    mode: &str,
    arch: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = repository();
    let mgmt = work.join(format!("mgmt-{arch}"));
    let started = Instant::now();
    assert!(
        Command::new(root.join("mgmt/build.sh"))
            .arg(&mgmt)
            .args(["--arch", arch])
            .status()
            .unwrap()
            .success(),
        "mgmt/build.sh --arch {arch} failed"
    );
    let image = work.join("test-disk.img");
    assert!(
        Command::new(root.join("mgmt/test-disk.sh"))
            .arg(mgmt.join("vmlinuz"))
            .arg(&image)
            .arg(marker)
            .arg(mode)
            .arg(arch)
            .status()
            .unwrap()
            .success(),
        "mgmt/test-disk.sh failed"
    );
    eprintln!(
        "management OS and test disk ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    (mgmt, image)
}

/// A machine that dies mid-write: the agent is slowed (`baas.max_rate` on the management OS's
/// command line) so the VM can be killed while it writes; with no word from the agent for the
/// progress timeout, the job fails with that reason and the disk counts as unknown.
#[test]
fn a_vm_killed_mid_write_fails_its_deploy_with_the_reason_and_an_unknown_disk() {
    let work = tempfile::tempdir().unwrap();
    let (mgmt, image) = deploy_inputs(work.path(), "BAAS-NEVER-BOOTED");
    let compressed = work.path().join("test-disk.img.zst");
    let (kernel, initrd) = (
        mgmt.join("vmlinuz").display().to_string(),
        mgmt.join("initrd.img").display().to_string(),
    );
    let vm = Inventory {
        name: "doomed-vm",
        mac: "52:54:00:12:34:62",
        platform: "x86_64-bios",
        boot_job_kernel: Some(&kernel),
        initrd: Some(&initrd),
        // 2 MiB/s: the 48 MiB test disk takes about 24 s to write.
        cmdline: Some("console=ttyS0,115200 baas.max_rate=2097152"),
        deploy: Some(&compressed),
        env: vec![("BAAS_JOB_PROGRESS_TIMEOUT_SECONDS", "10")],
        ..Default::default()
    };
    let Some(pxe) = PxeLab::start(AddressServer::SiteDnsmasq, vm) else {
        return;
    };
    let job = pxe.job.expect("a deploy job");
    let blank = blank_disk(work.path().join("vm-disk.img"));
    let vm = pxe.boot_with_disk(&blank, "virtio-net-pci", "52:54:00:12:34:62");
    pxe.wait_for_writing(job, 4 << 20);
    let killed = Instant::now();
    drop(vm);
    let failed = pxe.follow_job(job, killed, Duration::from_secs(30));
    assert!(
        failed.state.is_final(),
        "the job outlived its progress timeout: {failed:?}"
    );
    eprintln!(
        "killed VM: job failed {:.1} s later: {}",
        killed.elapsed().as_secs_f64(),
        failed.reason
    );
    assert_eq!(
        (failed.state, failed.failed_step.as_str()),
        (lab::model::JobState::Failed, "writing")
    );
    assert!(
        failed
            .reason
            .contains("no word from the agent for 10 s while writing"),
        "{}",
        failed.reason
    );
    let disk = pxe
        .beside
        .runtime
        .block_on(
            pxe.beside
                .lab
                .machine_disk(&lab::Actor::shell(), pxe.machine),
        )
        .unwrap();
    assert_eq!(disk, ("unknown".to_string(), None));
    assert!(image.exists());
}

/// A deploy as a lab runs it: the VM's power and next-boot device belong to an IPMI BMC
/// (OpenIPMI's `ipmi_sim`, whose chassis hook starts QEMU at power-on and stops it at
/// power-off) and its Serial-over-LAN serves the VM's serial port. The job runner sets the next
/// boot to the network and powers the VM on, it network-boots the management OS, the agent
/// writes the test disk (`mode` as in `mgmt/test-disk.sh`) and reboots, and the job is judged
/// by the console.
struct IpmiDeploy {
    finished: lab::model::Job,
    /// The VM's serial output as QEMU logged it.
    console: String,
    /// What baas recorded of the console while the job ran.
    job_console: String,
    events: String,
    /// The VM's disk starts with the image's bytes.
    disk_holds_image: bool,
    /// The VM's boot events in baas (`kind: detail`), oldest first.
    boot_events: Vec<String>,
    started: Instant,
}

/// How the VM under IPMI boots from the network.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NetworkBoot {
    /// SeaBIOS and the NIC's iPXE ROM, TFTP on.
    BiosPxe,
    /// OVMF with its PXE switched off: UEFI HTTP boot, and TFTP off in baas.
    UefiHttp,
    /// An arm64 VM (`-M virt`, AAVMF): UEFI PXE to baas' GRUB image, GRUB over HTTP to the
    /// arm64 management OS.
    Arm64Pxe,
    /// The same VM with AAVMF's PXE switched off: UEFI HTTP boot of baas' GRUB image, and TFTP
    /// off in baas.
    Arm64Http,
    /// OVMF's PXE over IPv6 on an IPv6-only network (`AddressServer::Ipv6Only`): DHCPv6 and
    /// TFTP over IPv6 to `ipxe.efi`, iPXE's Information-request to its script, the management
    /// OS autoconfigured.
    UefiIpv6,
}

impl NetworkBoot {
    fn arm64(self) -> bool {
        matches!(self, NetworkBoot::Arm64Pxe | NetworkBoot::Arm64Http)
    }
}

impl IpmiDeploy {
    /// The job ended *booted*, on the ready pattern `marker`, with the image on the disk.
    fn assert_booted_on(&self, marker: &str) {
        let finished = &self.finished;
        assert_eq!(
            finished.state,
            lab::model::JobState::Booted,
            "the job ended {:?}: {} {}\nphases: {:?}\nBMC: {}\nboot events: {:?}\nconsole:\n{}\nrecorded:\n{}",
            finished.state,
            finished.failed_step,
            finished.reason,
            finished.phases,
            self.events,
            self.boot_events,
            self.console,
            self.job_console
        );
        assert!(
            finished.phases.last().unwrap().detail.contains(marker),
            "booted on the ready pattern: {:?}",
            finished.phases
        );
        assert!(self.disk_holds_image);
    }

    /// The firmware was handed the URL of `program` (UEFI HTTP boot), not a TFTP file name.
    fn assert_http_boot_of(&self, program: &str) {
        assert!(
            self.boot_events.iter().any(|e| e.starts_with("dhcp: ")
                && e.contains("boot http://")
                && e.contains(&format!("/boot/firmware/{program}"))),
            "no HTTP boot answer for {program} among {:?}",
            self.boot_events
        );
    }

    /// Prints how long the job took and when each phase began.
    fn report(&self, what: &str) {
        let phases = &self.finished.phases;
        eprintln!(
            "{what}: job to booted in {:.1} s; phases {:?}",
            self.started.elapsed().as_secs_f64(),
            phases
                .iter()
                .map(|p| (p.state.as_str(), p.at - phases[0].at))
                .collect::<Vec<_>>()
        );
    }
}

fn deploy_under_ipmi(
    name: &str,
    mac: &str,
    marker: &str,
    mode: &str,
    ready_pattern: &str,
    network_boot: NetworkBoot,
) -> Option<IpmiDeploy> {
    if !have("ipmi_sim") {
        return None;
    }
    let uefi_firmware = match network_boot {
        NetworkBoot::BiosPxe => None,
        NetworkBoot::UefiHttp | NetworkBoot::UefiIpv6 => {
            Some(("/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf"))
        }
        NetworkBoot::Arm64Pxe | NetworkBoot::Arm64Http => {
            Some(("/usr/share/AAVMF/AAVMF_CODE.fd", "qemu-efi-aarch64"))
        }
    };
    if let Some((file, package)) = uefi_firmware {
        if !std::path::Path::new(file).exists() {
            skipped(&format!(
                "{file} ({package}) is not installed (./dev test installs it)"
            ));
            return None;
        }
    }
    if network_boot.arm64() && !have("qemu-system-aarch64") {
        return None;
    }
    let arch = if network_boot.arm64() {
        "arm64"
    } else {
        "amd64"
    };
    let work = tempfile::tempdir().unwrap();
    let (mgmt, image) = deploy_inputs_as(work.path(), marker, mode, arch);
    let compressed = work.path().join("test-disk.img.zst");
    let (kernel, initrd) = (
        mgmt.join("vmlinuz").display().to_string(),
        mgmt.join("initrd.img").display().to_string(),
    );
    let grub_modules = mgmt.join("grub/arm64-efi").display().to_string();
    let arm64_env = vec![
        ("BAAS_MGMT_ARM64_KERNEL", kernel.as_str()),
        ("BAAS_MGMT_ARM64_INITRD", initrd.as_str()),
        ("BAAS_MGMT_ARM64_CMDLINE", "console=ttyAMA0,115200"),
        ("BAAS_GRUB_ARM64_MODULES", grub_modules.as_str()),
    ];
    let (firmware, platform, env) = match network_boot {
        NetworkBoot::BiosPxe => ("bios", "x86_64-bios", vec![]),
        NetworkBoot::UefiHttp => ("uefi-http", "x86_64-uefi", vec![("BAAS_TFTP_ADDR", "off")]),
        NetworkBoot::UefiIpv6 => ("uefi-ipv6", "x86_64-uefi", vec![]),
        NetworkBoot::Arm64Pxe => ("arm64-uefi", "arm64-uefi", arm64_env),
        NetworkBoot::Arm64Http => (
            "arm64-uefi-http",
            "arm64-uefi",
            [arm64_env, vec![("BAAS_TFTP_ADDR", "off")]].concat(),
        ),
    };
    let x86 = !network_boot.arm64();
    let port = bmc::testing::free_udp_port();
    let bmc_address = format!("{SUBNET}.1:{port}");
    let vm = Inventory {
        name,
        mac,
        platform,
        boot_job_kernel: x86.then_some(kernel.as_str()),
        initrd: x86.then_some(initrd.as_str()),
        cmdline: Some("console=ttyS0,115200"),
        bmc: Some(&bmc_address),
        env,
        // iPXE's SNP-only build for PXE over IPv6, as Ironic uses it: Debian's ipxe.efi, which
        // drives the NIC itself, leaves OVMF hanging when it exits back to it after an IPv6
        // boot (to let the disk boot), snponly.efi hands the firmware's driver back intact.
        boot_program: if network_boot == NetworkBoot::UefiIpv6 {
            "snponly.efi"
        } else {
            ""
        },
        ..Default::default()
    };
    let addresses = match network_boot {
        NetworkBoot::UefiIpv6 => AddressServer::Ipv6Only,
        _ => AddressServer::SiteDnsmasq,
    };
    let pxe = PxeLab::start(addresses, vm)?;
    // ipmi_sim beside the VM's network (where its tap is), answering baas on the bridge; its
    // chassis hook starts the VM (vmlab.sh's QEMU) at power-on, and its SOL serves the VM's
    // serial port.
    let vm_dir = std::path::PathBuf::from(pxe.vmlab.var("VMLAB_VM_DIR"));
    let disk = blank_disk(work.path().join("vm-disk.img"));
    pxe.vmlab.run(
        "bmc",
        &[
            "--mac",
            mac,
            "--disk",
            &disk.display().to_string(),
            "--port",
            &port.to_string(),
            "--firmware",
            firmware,
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let job = pxe.beside.deploy_job(pxe.machine, &compressed);
    if !ready_pattern.is_empty() {
        let image_id = pxe.beside.job(job).image.expect("a deploy's image").id;
        pxe.beside.set_ready_pattern(image_id, ready_pattern);
    }
    let finished = pxe.follow_job(job, started, Duration::from_secs(600));
    let console =
        String::from_utf8_lossy(&std::fs::read(vm_dir.join("console.log")).unwrap_or_default())
            .into_owned();
    let job_console = String::from_utf8_lossy(
        &std::fs::read(pxe.data_dir().join(format!("consoles/jobs/{job}.log"))).unwrap_or_default(),
    )
    .into_owned();
    let events = std::fs::read_to_string(vm_dir.join("events.log")).unwrap_or_default();
    let disk_holds_image = std::fs::read(&disk)
        .unwrap()
        .starts_with(&std::fs::read(&image).unwrap());
    Some(IpmiDeploy {
        finished,
        console,
        job_console,
        events,
        disk_holds_image,
        boot_events: pxe.beside.boot_events(pxe.machine),
        started,
    })
}

#[test]
fn a_vm_under_ipmi_power_control_is_powered_on_netbooted_deployed_and_booted_as_its_console_shows()
{
    let marker = format!("BAAS-IPMI-DEPLOYED-{}", std::process::id());
    // The image says it is up with its marker: booted comes after the marker, not before.
    let Some(run) = deploy_under_ipmi(
        "ipmi-vm",
        "52:54:00:12:34:63",
        &marker,
        "marker",
        &marker,
        NetworkBoot::BiosPxe,
    ) else {
        return;
    };
    run.assert_booted_on(&marker);
    let finished = &run.finished;
    assert!(
        run.events.contains("set boot pxe"),
        "the BMC was not told to boot from the network: {}",
        run.events
    );
    assert!(
        run.events.contains("started qemu"),
        "the BMC never powered the VM: {}",
        run.events
    );
    assert!(
        finished.phases[1]
            .detail
            .contains("powered on through the BMC"),
        "{:?}",
        finished.phases
    );
    assert!(
        finished
            .phases
            .iter()
            .any(|p| p.state.as_str() == "booting"),
        "{:?}",
        finished.phases
    );
    // baas recorded the console while the job ran: the management OS's boot and the written
    // system's marker after baas' own mark.
    let mark = run
        .job_console
        .find("the machine boots its disk")
        .expect("baas' mark");
    assert!(
        run.job_console[mark..].contains(&marker),
        "the marker after the mark in the recording:\n{}",
        run.job_console
    );
    assert!(
        run.job_console[..mark].contains("Linux version"),
        "the management OS's boot"
    );
    run.report("IPMI deploy");
}

/// The same deploy to *booted* on a UEFI machine that boots from the network by UEFI HTTP boot
/// alone, with no TFTP anywhere: OVMF's PXE is switched off and baas serves no TFTP. baas'
/// ProxyDHCP answers OVMF's `HTTPClient` request with the URL of `ipxe.efi`, OVMF downloads it
/// over HTTP, iPXE fetches the script and the management OS, the agent writes the test disk
/// (which boots under UEFI through its GRUB), and the written system's marker makes it booted.
#[test]
fn a_uefi_vm_that_only_http_boots_is_deployed_to_booted_with_no_tftp() {
    let marker = format!("BAAS-HTTP-BOOT-DEPLOYED-{}", std::process::id());
    let Some(run) = deploy_under_ipmi(
        "http-boot-vm",
        "52:54:00:12:34:67",
        &marker,
        "marker",
        &marker,
        NetworkBoot::UefiHttp,
    ) else {
        return;
    };
    run.assert_booted_on(&marker);
    // The firmware was handed the binary's URL (HTTP boot), not a TFTP file name.
    run.assert_http_boot_of("ipxe.efi");
    run.report("UEFI HTTP boot deploy");
}

/// PXE over IPv6 beside the site's DHCPv6 server: dnsmasq leases OVMF its address, baas (boot
/// information only) offers itself as the boot server — an Advertise without an address but
/// with vendor class `PXEClient` —, EDK2 asks baas' port 4011 for the boot file after taking
/// dnsmasq's address, fetches `ipxe.efi` over TFTP (IPv6), and iPXE's Information-request
/// gets its script's URL from baas. Each step is a boot event of the machine, in order.
#[test]
fn a_uefi_vm_beside_the_sites_dhcpv6_server_gets_its_boot_file_from_baas_port_4011() {
    if !std::path::Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd").exists() {
        skipped("OVMF (ovmf) is not installed (./dev test installs it)");
        return;
    }
    let mac = "52:54:00:12:34:6c";
    let vm = Inventory {
        name: "ipv6-proxy-vm",
        mac,
        platform: "x86_64-uefi",
        ..Default::default()
    };
    let Some(pxe) = PxeLab::start(AddressServer::Ipv6Site, vm) else {
        return;
    };
    let started = Instant::now();
    let _vm = pxe.boot("uefi-ipv6", "virtio-net-pci,romfile=", mac);
    let served = pxe
        .wait_for("boot script served", Duration::from_secs(240))
        .expect("iPXE never fetched its boot script over IPv6");
    assert!(served.contains(mac), "{served}");
    eprintln!(
        "UEFI VM beside the site's DHCPv6: QEMU start to boot script in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let advertise = pxe.boot_event("dhcp: advertise boot tftp://[fd99::2]/ipxe.efi");
    let boot_reply = pxe.boot_event("dhcp: boot reply boot tftp://[fd99::2]/ipxe.efi");
    let script_url =
        pxe.boot_event("dhcp: reply boot http://[fd99::2]:3000/boot/52:54:00:12:34:6c.ipxe");
    let script = pxe.boot_event("script: boot from local disk");
    assert!(
        advertise < boot_reply && boot_reply < script_url && script_url < script,
        "out of order: advertise {advertise}, port 4011 {boot_reply}, script URL {script_url}, script {script}"
    );
    // The boot program came by TFTP from baas (as in a run on an idle machine), or — seen once
    // with every VM test running at once — EDK2 gave up after the port-4011 answer and its
    // HTTPv6 entry fetched it from baas by URL instead. Either way from baas, after the offer.
    let events = pxe.beside.boot_events(pxe.machine);
    let fetched = events.iter().position(|e| {
        e.starts_with("tftp: sent ipxe.efi")
            || e.starts_with("dhcp: advertise boot http://[fd99::2]:3000/boot/firmware/ipxe.efi")
    });
    eprintln!(
        "the boot program's way: {:?}",
        fetched.map(|at| &events[at])
    );
    assert!(
        fetched.is_some_and(|at| boot_reply < at && at < script_url),
        "no boot program from baas between the offer and the script: {events:?}"
    );
    // The address came from dnsmasq: baas saw EDK2 ask dnsmasq for one of its range, between
    // its offer and the port-4011 request.
    let elsewhere = pxe.boot_event("dhcp: request to another server for fd99::1");
    assert!(
        advertise < elsewhere && elsewhere < boot_reply,
        "out of order: advertise {advertise}, request to dnsmasq {elsewhere}, port 4011 {boot_reply}"
    );
}

/// The same deploy to *booted* on an IPv6-only network: no DHCPv4 and no IPv4 address for the
/// machine; radvd is the router (address autoconfiguration, "ask DHCPv6 for the rest") and baas
/// the DHCPv6 server, reached at `http://[fd99::2]:3000`. OVMF's PXE over IPv6 leases an
/// address by DHCPv6 with `tftp://[fd99::2]/ipxe.efi` in the answer and fetches it over TFTP,
/// iPXE asks for its script URL by Information-request, the management OS autoconfigures the
/// same address iPXE had, its agent enrols over IPv6 (the token bound to that address), writes
/// the disk, and the written system's marker makes the job booted.
#[test]
fn a_uefi_vm_on_an_ipv6_only_network_is_deployed_to_booted() {
    let marker = format!("BAAS-IPV6-DEPLOYED-{}", std::process::id());
    let Some(run) = deploy_under_ipmi(
        "ipv6-vm",
        "52:54:00:12:34:6a",
        &marker,
        "marker",
        &marker,
        NetworkBoot::UefiIpv6,
    ) else {
        return;
    };
    run.assert_booted_on(&marker);
    let dhcp = |needle: &str| {
        run.boot_events
            .iter()
            .any(|e| e.starts_with("dhcp: ") && e.contains(needle))
    };
    assert!(
        dhcp("reply fd99::10") && dhcp("boot tftp://[fd99::2]/snponly.efi"),
        "EDK2 leased an address of the pool with the boot file's URL: {:?}",
        run.boot_events
    );
    // iPXE fetched its script from its autoconfigured address, and the management OS enrolled
    // from the same one.
    let slaac = "fd99::5054:ff:fe12:346a";
    assert!(
        run.finished
            .phases
            .iter()
            .any(|p| p.detail == format!("agent 1 enrolled from {slaac}")),
        "{:?}",
        run.finished.phases
    );
    assert!(
        dhcp("boot http://[fd99::2]:3000/boot/52:54:00:12:34:6a.ipxe"),
        "iPXE got its script URL by DHCPv6: {:?}",
        run.boot_events
    );
    run.report("IPv6-only deploy");
}

/// The same deploy to *booted* on an arm64 machine: `qemu-system-aarch64 -M virt` with AAVMF
/// (software emulation) under ipmi_sim, beside the site's DHCP server. AAVMF's PXE gets baas'
/// GRUB image (made at start from Debian's arm64 GRUB modules, carrying baas' address, since
/// Debian's GRUB reads only the site's DHCP answer) over TFTP, GRUB fetches the machine's script
/// over HTTP and the arm64 management OS, the arm64 agent writes the arm64 test disk and
/// reboots; the next network boot's GRUB script starts the disk's own EFI loader, and the
/// written system prints its marker.
#[test]
fn an_arm64_vm_network_boots_grub_and_is_deployed_to_booted() {
    let marker = format!("BAAS-ARM64-DEPLOYED-{}", std::process::id());
    let Some(run) = deploy_under_ipmi(
        "arm64-vm",
        "52:54:00:12:34:a2",
        &marker,
        "marker",
        &marker,
        NetworkBoot::Arm64Pxe,
    ) else {
        return;
    };
    run.assert_booted_on(&marker);
    // The firmware got baas' GRUB image by TFTP, and GRUB the machine's scripts.
    assert!(
        run.boot_events
            .iter()
            .any(|e| e.starts_with("dhcp: ") && e.contains("baas-grubnetaa64.efi")),
        "no GRUB image in the DHCP answers: {:?}",
        run.boot_events
    );
    assert!(
        run.boot_events
            .iter()
            .any(|e| e.starts_with("tftp: ") && e.contains("sent baas-grubnetaa64.efi")),
        "GRUB's image was not sent by TFTP: {:?}",
        run.boot_events
    );
    assert!(
        run.console.contains("baas: network boot through (http,"),
        "GRUB with baas' address:\n{}",
        run.console
    );
    assert!(
        run.console.contains("booting from its disk"),
        "the reboot's script sends the VM to its disk:\n{}",
        run.console
    );
    run.report("arm64 GRUB deploy");
}

/// arm64 by UEFI HTTP boot alone, with no TFTP anywhere: AAVMF's PXE is switched off and baas
/// serves no TFTP. baas' ProxyDHCP answers AAVMF's `HTTPClient` request (architecture 19) with
/// the URL of its GRUB image, AAVMF downloads it over HTTP, and from there the deploy goes as
/// by PXE, to *booted*.
#[test]
fn an_arm64_vm_that_only_http_boots_grub_is_deployed_to_booted_with_no_tftp() {
    let marker = format!("BAAS-ARM64-HTTP-DEPLOYED-{}", std::process::id());
    let Some(run) = deploy_under_ipmi(
        "arm64-http-vm",
        "52:54:00:12:34:a3",
        &marker,
        "marker",
        &marker,
        NetworkBoot::Arm64Http,
    ) else {
        return;
    };
    run.assert_booted_on(&marker);
    run.assert_http_boot_of("baas-grubnetaa64.efi");
    assert!(
        !run.boot_events.iter().any(|e| e.starts_with("tftp: ")),
        "{:?}",
        run.boot_events
    );
    run.report("arm64 UEFI HTTP boot deploy");
}

/// The written image's kernel cannot find its root file system and panics: the deploy fails at
/// "booting" with that console line as the reason, never *booted*.
#[test]
fn a_deploy_whose_kernel_cannot_mount_its_root_fails_with_the_console_line() {
    let marker = format!("BAAS-NO-ROOT-{}", std::process::id());
    let Some(run) = deploy_under_ipmi(
        "panic-vm",
        "52:54:00:12:34:65",
        &marker,
        "no-root",
        "",
        NetworkBoot::BiosPxe,
    ) else {
        return;
    };
    let finished = &run.finished;
    assert_eq!(
        (finished.state, finished.failed_step.as_str()),
        (lab::model::JobState::Failed, "booting"),
        "{} {}\nphases: {:?}\nrecorded:\n{}",
        finished.failed_step,
        finished.reason,
        finished.phases,
        run.job_console
    );
    assert!(
        finished.reason.contains("Unable to mount root fs")
            || finished.reason.contains("Kernel panic"),
        "the reason is the console line: {}",
        finished.reason
    );
    assert!(
        run.job_console.contains(&marker),
        "the written kernel ran (its command line shows the marker)"
    );
}

/// baas dies mid-write (SIGKILL) and comes back three seconds later: the agent retries its
/// reports (and would resume a broken image stream by Range; the agent tests prove that), and
/// the deploy ends (boot-unobserved: the VM has no BMC console) with the written system's
/// marker — no job is left running.
#[test]
fn a_baas_killed_and_restarted_mid_write_resumes_the_deploy_to_its_end() {
    let work = tempfile::tempdir().unwrap();
    let marker = format!("BAAS-SURVIVED-{}", std::process::id());
    let (mgmt, image) = deploy_inputs(work.path(), &marker);
    let compressed = work.path().join("test-disk.img.zst");
    let (kernel, initrd) = (
        mgmt.join("vmlinuz").display().to_string(),
        mgmt.join("initrd.img").display().to_string(),
    );
    let vm = Inventory {
        name: "restart-vm",
        mac: "52:54:00:12:34:64",
        platform: "x86_64-bios",
        boot_job_kernel: Some(&kernel),
        initrd: Some(&initrd),
        // 4 MiB/s: about 12 s of writing, with the restart in the middle.
        cmdline: Some("console=ttyS0,115200 baas.max_rate=4194304"),
        deploy: Some(&compressed),
        ..Default::default()
    };
    let Some(mut pxe) = PxeLab::start(AddressServer::SiteDnsmasq, vm) else {
        return;
    };
    let job = pxe.job.expect("a deploy job");
    let blank = blank_disk(work.path().join("vm-disk.img"));
    let _vm = pxe.boot_with_disk(&blank, "virtio-net-pci", "52:54:00:12:34:64");
    pxe.wait_for_writing(job, 8 << 20);
    pxe.restart_baas(Duration::from_secs(3));
    let finished = pxe.follow_job(job, Instant::now(), Duration::from_secs(300));
    assert_eq!(
        finished.state,
        lab::model::JobState::BootUnobserved,
        "{} {}\nphases: {:?}\nconsole:\n{}",
        finished.failed_step,
        finished.reason,
        finished.phases,
        pxe.console()
    );
    // The agent saw baas gone (its reports were retried) and carried on.
    assert!(
        pxe.console().contains("retrying"),
        "the agent never noticed the restart:\n{}",
        pxe.console()
    );
    wait_for_marker(|| pxe.console(), &marker);
    assert!(std::fs::read(&blank)
        .unwrap()
        .starts_with(&std::fs::read(&image).unwrap()));
}
