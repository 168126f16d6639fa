//! GRUB as a network boot program, for the machines no iPXE binary is at hand for (arm64: Debian
//! packages no arm64 iPXE, but ships GRUB's arm64 modules), as MAAS boots arm64.
//!
//! Three texts, all protocol and no policy:
//! - the configuration built into the GRUB image ([`embedded_config`]): where baas is. GRUB's
//!   own idea of its server comes from the firmware's DHCP acknowledgement, which under
//!   ProxyDHCP names the site's DHCP server (Debian's GRUB 2.06 does not read the proxy offer),
//!   so the image carries baas' address instead, and is made when baas starts;
//! - the first configuration it fetches, `/boot/grub/grub.cfg` ([`first_config`]): the same for
//!   every machine, it asks for the machine's own script by MAC;
//! - that script ([`Script::grub`]), what the lab decided for the machine.

use crate::ipxe::Script;

/// Where GRUB reaches baas over HTTP: the device `(http,host:port)` and the path under it that
/// the public URL starts with (`""` or e.g. `/baas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubServer {
    pub device: String,
    pub base: String,
}

/// Why a public URL gives GRUB no server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrubUrlError {
    #[error("GRUB fetches over plain HTTP only, and '{0}' is not an http:// URL")]
    NotHttp(String),
    #[error("'{0}' has no host GRUB can reach")]
    Host(String),
    #[error("the path of '{0}' is not one GRUB can ask for")]
    Path(String),
}

impl GrubServer {
    /// From baas' public URL. GRUB speaks plain HTTP only: an `https://` URL has no GRUB server.
    pub fn from_url(url: &str) -> Result<GrubServer, GrubUrlError> {
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(GrubUrlError::NotHttp(url.into()));
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let plain = |text: &str| {
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._:[]".contains(c))
        };
        if !plain(authority) {
            return Err(GrubUrlError::Host(url.into()));
        }
        if !path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~/".contains(c))
        {
            return Err(GrubUrlError::Path(url.into()));
        }
        // GRUB reads `host:port`, `[v6]:port` and a bare host (port 80).
        Ok(GrubServer {
            device: format!("(http,{authority})"),
            base: path.to_string(),
        })
    }
}

/// The configuration built into baas' GRUB image: baas is its root, and the place of its first
/// configuration (`$prefix/grub.cfg`, which GRUB's normal mode reads next). GRUB runs it with
/// its rescue parser, which knows no comments and stops at the first line it cannot run.
pub fn embedded_config(server: &GrubServer) -> String {
    format!(
        "set root={device}\n\
         set prefix={device}{base}/boot/grub\n\
         echo \"baas: network boot through {device}\"\n",
        device = server.device,
        base = server.base
    )
}

/// `/boot/grub/grub.cfg`: asks baas for the script of the machine by its MAC, as GRUB writes it
/// (`aa:bb:cc:dd:ee:ff`); should that script not load, says so and leaves the machine to its
/// firmware after a minute.
pub fn first_config(server: &GrubServer) -> String {
    format!(
        "set timeout=0\n\
         source {base}/boot/${{net_default_mac}}.grub\n\
         echo \"baas: no boot script for ${{net_default_mac}} from {device}\"\n\
         sleep 60\n\
         exit\n",
        base = server.base,
        device = server.device
    )
}

/// Where UEFI operating systems keep their loader on the EFI system partition: the removable
/// media path every installer writes (or that a disk image carries), then the distributions'
/// own.
const EFI_LOADERS: [&str; 5] = [
    "/EFI/BOOT/BOOTAA64.EFI",
    "/EFI/debian/grubaa64.efi",
    "/EFI/ubuntu/grubaa64.efi",
    "/EFI/redhat/grubaa64.efi",
    "/EFI/fedora/grubaa64.efi",
];

impl Script {
    /// The script as GRUB runs it. Kernel and initrd are paths on baas (the root the image
    /// set). A local disk is booted by starting the EFI loader found on the disks: GRUB's
    /// `exit` returns success to the firmware, which EDK2 answers with its boot menu, not with
    /// the next boot entry.
    pub fn grub(&self) -> String {
        match self {
            Script::LocalDisk { note, .. } => {
                let mut script = format!("echo {}\n", quoted(&format!("baas: {note}")));
                for loader in EFI_LOADERS {
                    script.push_str(&format!(
                        "if search --no-floppy --file --set=esp {loader}; then\n  \
                         chainloader ($esp){loader}\n  boot\nfi\n"
                    ));
                }
                script.push_str("echo 'baas: no EFI boot loader on the disks'\nsleep 60\nexit\n");
                script
            }
            Script::Kernel {
                kernel,
                initrd,
                cmdline,
                note,
            } => {
                let arguments: Vec<String> = cmdline.split_whitespace().map(quoted).collect();
                let mut script = format!(
                    "echo {}\nlinux {} {}\n",
                    quoted(&format!("baas: {note}")),
                    quoted(kernel),
                    arguments.join(" ")
                );
                if let Some(initrd) = initrd {
                    script.push_str(&format!("initrd {}\n", quoted(initrd)));
                }
                script.push_str("boot\necho 'baas: the kernel did not start'\nsleep 60\nexit\n");
                script
            }
        }
    }
}

/// One word for GRUB's parser, taken literally: single quotes (no `$` expansion, no `;`),
/// control characters dropped, a quote written as `'\''`.
fn quoted(text: &str) -> String {
    let text: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(4096)
        .collect();
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grub_server_comes_from_the_public_url_with_its_port_and_path() {
        assert_eq!(
            GrubServer::from_url("http://10.99.0.2:3000").unwrap(),
            GrubServer {
                device: "(http,10.99.0.2:3000)".into(),
                base: String::new()
            }
        );
        assert_eq!(
            GrubServer::from_url("http://boot.lab.example/baas/").unwrap(),
            GrubServer {
                device: "(http,boot.lab.example)".into(),
                base: "/baas".into()
            }
        );
        assert_eq!(
            GrubServer::from_url("http://[fd00::2]:3000")
                .unwrap()
                .device,
            "(http,[fd00::2]:3000)"
        );
        assert!(GrubServer::from_url("https://10.0.0.2")
            .unwrap_err()
            .to_string()
            .contains("plain HTTP"));
        assert!(GrubServer::from_url("http://a b/").is_err());
        assert!(GrubServer::from_url("http://host/$(evil)").is_err());
    }

    #[test]
    fn the_image_points_grub_at_baas_and_the_first_config_asks_by_mac() {
        let server = GrubServer::from_url("http://10.99.0.2:3000/lab").unwrap();
        let embedded = embedded_config(&server);
        assert!(embedded.contains("set root=(http,10.99.0.2:3000)\n"));
        assert!(embedded.contains("set prefix=(http,10.99.0.2:3000)/lab/boot/grub\n"));
        let first = first_config(&server);
        assert!(first.contains("source /lab/boot/${net_default_mac}.grub\n"));
    }

    #[test]
    fn a_kernel_script_quotes_every_argument_so_nothing_expands() {
        let script = Script::Kernel {
            kernel: "/boot/mgmt/arm64/kernel".into(),
            initrd: Some("/boot/mgmt/arm64/initrd".into()),
            cmdline: "console=ttyAMA0 baas.url=http://10.0.0.2:3000 x=$evil;reboot it's".into(),
            note: "arm1: management OS for boot job 7".into(),
        }
        .grub();
        assert_eq!(
            script,
            "echo 'baas: arm1: management OS for boot job 7'\n\
             linux '/boot/mgmt/arm64/kernel' 'console=ttyAMA0' 'baas.url=http://10.0.0.2:3000' 'x=$evil;reboot' 'it'\\''s'\n\
             initrd '/boot/mgmt/arm64/initrd'\n\
             boot\necho 'baas: the kernel did not start'\nsleep 60\nexit\n"
        );
    }

    #[test]
    fn a_local_disk_script_chainloads_the_disks_efi_loader() {
        let script = Script::LocalDisk {
            uefi: true,
            note: "arm1 has nothing scheduled\n; reboot".into(),
        }
        .grub();
        assert!(script.starts_with("echo 'baas: arm1 has nothing scheduled; reboot'\n"));
        assert!(script.contains(
            "if search --no-floppy --file --set=esp /EFI/BOOT/BOOTAA64.EFI; then\n  chainloader ($esp)/EFI/BOOT/BOOTAA64.EFI\n  boot\nfi\n"
        ));
        assert!(script.ends_with("exit\n"));
    }
}
