//! Test support (feature `testing`): real BMC peers to drive the drivers against — OpenIPMI's
//! `ipmi_sim` and sushy-tools' Redfish emulator.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest;

use crate::{Bmc, Ipmi, Target};

/// The simulator's files, shared with the browser tests (end2end/), which start their own.
const HOOK: &str = include_str!("../testdata/ipmi_sim/chassis.sh");
const LAN_CONF: &str = include_str!("../testdata/ipmi_sim/lan.conf.in");
const BMC_EMU: &str = include_str!("../testdata/ipmi_sim/bmc.emu");

/// A running `ipmi_sim` with one admin user (`admin`/`password`) on a free loopback UDP port;
/// its chassis hook keeps power and boot device in files a test can read. Killed on drop.
pub struct Simulator {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Simulator {
    pub fn start() -> Simulator {
        Simulator::start_with(None)
    }

    /// With Serial-over-LAN to the machine's serial port at `127.0.0.1:serial_port`, a TCP
    /// server the test runs (as QEMU's `-serial tcp:…,server=on` would be); `ipmi_sim`
    /// connects to it. No `history=`: with a history buffer `ipmi_sim` reads the port whether
    /// or not its SOL buffer has room and drops what does not fit, without back-pressure.
    pub fn start_with_serial(serial_port: u16) -> Simulator {
        Simulator::start_with(Some(serial_port))
    }

    fn start_with(serial_port: Option<u16>) -> Simulator {
        let binary = which("ipmi_sim")
            .expect("ipmi_sim not found: install Debian's openipmi (./dev test does)");
        let dir = tempfile::tempdir().unwrap();
        let port = free_udp_port();
        let hook = dir.path().join("chassis.sh");
        std::fs::write(&hook, HOOK).unwrap();
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let lan = LAN_CONF
            .replace("@PORT@", &port.to_string())
            .replace("@HOOK@", &hook.display().to_string())
            .replace(
                "@SOL@",
                &serial_port.map_or(String::new(), |port| {
                    format!("  sol \"tcp:127.0.0.1:{port}\" 115200")
                }),
            );
        std::fs::write(dir.path().join("lan.conf"), lan).unwrap();
        std::fs::write(dir.path().join("bmc.emu"), BMC_EMU).unwrap();
        std::fs::create_dir(dir.path().join("simstate")).unwrap();
        let child = Command::new(binary)
            .args(["-c", "lan.conf", "-f", "bmc.emu", "-s", "simstate", "-n"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Simulator { child, dir, port }
    }

    pub fn target(&self, password: &str) -> Target {
        Target {
            address: format!("127.0.0.1:{}", self.port),
            username: "admin".into(),
            password: password.into(),
            timeout: Duration::from_secs(3),
        }
    }

    /// A state file of the hook: `power` (0/1), `boot`, `events.log`.
    pub fn state(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("state").join(name))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Waits until the simulator answers a session at all.
    pub async fn ready(&self) -> Ipmi {
        let driver = Ipmi::new(self.target("password"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match driver.device_info().await {
                Ok(_) => return driver,
                Err(e) if Instant::now() > deadline => panic!("ipmi_sim did not come up: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/bin", "/usr/sbin"])
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `sushy-emulator` (sushy-tools, fake driver) over HTTPS with a fresh self-signed
/// certificate, Basic auth `admin`/`password`, and one system that starts powered off.
/// Found through `BAAS_SUSHY_EMULATOR`, the venv `./dev` makes, or PATH. Killed on drop.
pub struct RedfishEmulator {
    child: Child,
    _dir: tempfile::TempDir,
    pub port: u16,
    /// SHA-256 of the emulator's certificate (DER), for pinning.
    pub fingerprint: [u8; 32],
}

impl Drop for RedfishEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedfishEmulator {
    pub fn start() -> RedfishEmulator {
        let emulator = sushy_emulator().expect(
            "sushy-emulator not found: ./dev installs sushy-tools into ~/.cache/baas/sushy-venv (or set BAAS_SUSHY_EMULATOR)",
        );
        let python = emulator.with_file_name("python");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let run = |program: &Path, args: &[&str]| {
            let output = Command::new(program)
                .args(args)
                .current_dir(path)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{program:?} {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            output.stdout
        };
        run(
            Path::new("openssl"),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
        );
        run(
            Path::new("openssl"),
            &[
                "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
            ],
        );
        let der = std::fs::read(path.join("cert.der")).unwrap();
        let fingerprint: [u8; 32] = sha2::Sha256::digest(&der).into();
        let htpasswd = run(
            &python,
            &["-c", "import bcrypt; print('admin:' + bcrypt.hashpw(b'password', bcrypt.gensalt()).decode())"],
        );
        std::fs::write(path.join("htpasswd"), htpasswd).unwrap();
        std::fs::create_dir(path.join("state")).unwrap();
        std::fs::create_dir(path.join("tmp")).unwrap();
        let config = format!(
            "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\nSUSHY_EMULATOR_LISTEN_PORT = {port}\nSUSHY_EMULATOR_FAKE_DRIVER = True\n\
             SUSHY_EMULATOR_STATE_DIR = '{state}'\nSUSHY_EMULATOR_AUTH_FILE = '{auth}'\n\
             SUSHY_EMULATOR_FAKE_SYSTEMS = [{{'uuid': '27946b59-9e44-4fa7-8e91-f3527a1ef094', 'name': 'node-1', \
             'power_state': 'Off', 'nics': [{{'mac': '52:54:00:12:34:56', 'ip': '10.99.0.10'}}]}}]\n",
            state = path.join("state").display(),
            auth = path.join("htpasswd").display(),
        );
        std::fs::write(path.join("emulator.conf"), config).unwrap();
        let child = Command::new(&emulator)
            .args([
                "--config",
                "emulator.conf",
                "--ssl-certificate",
                "cert.pem",
                "--ssl-key",
                "key.pem",
            ])
            .current_dir(path)
            .env("TMPDIR", path.join("tmp"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        RedfishEmulator {
            child,
            _dir: dir,
            port,
            fingerprint,
        }
    }

    pub fn target(&self, password: &str) -> Target {
        Target {
            address: format!("127.0.0.1:{}", self.port),
            username: "admin".into(),
            password: password.into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Files the emulator downloaded for virtual media (InsertMedia fetches the image into a
    /// fresh temporary directory under its TMPDIR).
    pub fn downloads(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for dir in std::fs::read_dir(self._dir.path().join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if dir.path().is_dir() {
                for file in std::fs::read_dir(dir.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    if file.path().is_file() {
                        files.push(file.path());
                    }
                }
            }
        }
        files
    }

    /// Waits until the emulator answers, and returns a driver pinned to its certificate.
    pub async fn ready(&self) -> crate::Redfish {
        let driver = crate::Redfish::new(
            self.target("password"),
            crate::Tls::Pinned(self.fingerprint),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match driver.device_info().await {
                Ok(_) => return driver,
                Err(e) if Instant::now() > deadline => {
                    panic!("sushy-emulator did not come up: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

fn sushy_emulator() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BAAS_SUSHY_EMULATOR") {
        return Some(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache"));
    Some(cache.join("baas/sushy-venv/bin/sushy-emulator"))
        .filter(|p| p.is_file())
        .or_else(|| which("sushy-emulator"))
}
