//! Test support: an OpenIPMI `ipmi_sim` BMC to drive the IPMI driver against (feature `testing`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
            .replace("@HOOK@", &hook.display().to_string());
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
