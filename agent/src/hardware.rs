//! The hardware report, read from /proc and /sys (no tools needed in the initramfs).

use std::fs;
use std::path::Path;

use lab::agent_protocol::{Disk, HardwareReport, Nic};

fn read(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn report() -> HardwareReport {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let cpu_count = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count() as u32;
    let memory_bytes = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0);
    let firmware = if Path::new("/sys/firmware/efi").exists() {
        "uefi"
    } else {
        "bios"
    };
    HardwareReport {
        cpu_model,
        cpu_count,
        memory_bytes,
        firmware: firmware.into(),
        vendor: read("/sys/class/dmi/id/sys_vendor"),
        product: read("/sys/class/dmi/id/product_name"),
        serial: read("/sys/class/dmi/id/product_serial"),
        disks: disks(),
        nics: nics(),
    }
}

/// Whole disks, by name: no partitions, loop, RAM, optical or device-mapper devices.
pub fn disks() -> Vec<Disk> {
    let mut names: Vec<String> = fs::read_dir("/sys/block")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    !["loop", "ram", "sr", "zram", "dm-", "md", "fd"]
                        .iter()
                        .any(|p| n.starts_with(p))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let base = Path::new("/sys/block").join(&name);
            Disk {
                path: format!("/dev/{name}"),
                size_bytes: read(base.join("size")).parse::<u64>().unwrap_or(0) * 512,
                model: read(base.join("device/model")),
                serial: read(base.join("device/serial")),
                rotational: read(base.join("queue/rotational")) == "1",
                removable: read(base.join("removable")) == "1",
            }
        })
        .collect()
}

fn nics() -> Vec<Nic> {
    let mut nics: Vec<Nic> = fs::read_dir("/sys/class/net")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "lo")
                .map(|name| {
                    let base = Path::new("/sys/class/net").join(&name);
                    Nic {
                        mac: read(base.join("address")),
                        driver: fs::read_link(base.join("device/driver"))
                            .ok()
                            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                            .unwrap_or_default(),
                        link: read(base.join("carrier")) == "1",
                        speed_mbps: read(base.join("speed")).parse::<i64>().unwrap_or(0).max(0)
                            as u64,
                        name,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    nics.sort_by(|a, b| a.name.cmp(&b.name));
    nics
}
