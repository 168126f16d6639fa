//! Test support: an OpenIPMI `ipmi_sim` BMC to drive the IPMI driver against (feature `testing`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Bmc, Ipmi, Target};

const HOOK: &str = r#"#!/bin/sh
# chassis_control hook: ipmi_sim runs "<hook> <mc> get power|boot" and "<hook> <mc> set <param> <value> ...".
STATE="$(dirname "$0")/state"
mkdir -p "$STATE"
mc=$1; shift; op=$1; shift
case $op in
get)
  for p in "$@"; do
    case $p in
      power) echo "power:$(cat "$STATE/power" 2>/dev/null || echo 0)";;
      boot) echo "boot:$(cat "$STATE/boot" 2>/dev/null || echo default)";;
      *) exit 1;;
    esac
  done;;
set)
  while [ $# -gt 0 ]; do
    p=$1; v=$2; shift 2
    case $p in
      power) echo "$v" > "$STATE/power";;
      shutdown) echo 0 > "$STATE/power";;
      boot) echo "$v" > "$STATE/boot";;
    esac
    echo "$p $v" >> "$STATE/events.log"
  done;;
*) exit 1;;
esac
exit 0
"#;

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
        let lan = format!(
            "name \"testbmc\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {port}\n    priv_limit admin\n\
             \x20   allowed_auths_callback none md2 md5 straight\n    allowed_auths_user none md2 md5 straight\n\
             \x20   allowed_auths_operator none md2 md5 straight\n    allowed_auths_admin none md2 md5 straight\n\
             \x20   guid a123456789abcdefa123456789abcdef\n  endlan\n  chassis_control \"{} 0x20\"\n\
             \x20 user 2 true \"admin\" \"password\" admin 10 none md2 md5 straight\n",
            hook.display()
        );
        std::fs::write(dir.path().join("lan.conf"), lan).unwrap();
        std::fs::write(
            dir.path().join("bmc.emu"),
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n",
        )
        .unwrap();
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
