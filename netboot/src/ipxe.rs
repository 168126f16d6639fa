//! iPXE scripts. Only the text: which script a machine gets is the lab's decision.

/// What a script tells the boot program to do; rendered for iPXE here ([`Script::render`]),
/// for GRUB in [`crate::grub`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// Leave network boot and boot the machine's own disk. Legacy BIOS boots the first disk
    /// through `sanboot`; UEFI firmware moves on to its next boot entry when iPXE exits with a
    /// failure (an entry that returns success sends EDK2-based firmware to its boot menu).
    LocalDisk { uefi: bool, note: String },
    /// Boot a Linux kernel and initrd fetched over HTTP. URLs may be relative to the script's
    /// (under ProxyDHCP `${next-server}` names the address server, not baas).
    Kernel {
        kernel: String,
        initrd: Option<String>,
        cmdline: String,
        note: String,
    },
}

impl Script {
    pub fn render(&self) -> String {
        match self {
            Script::LocalDisk { uefi, note } => {
                let note = printable(note);
                if *uefi {
                    format!("#!ipxe\necho baas: {note}\nexit 1\n")
                } else {
                    format!(
                        "#!ipxe\necho baas: {note}\nsanboot --no-describe --drive 0x80 || exit\n"
                    )
                }
            }
            Script::Kernel {
                kernel,
                initrd,
                cmdline,
                note,
            } => {
                let note = printable(note);
                let cmdline = printable(cmdline);
                // The EFI stub finds the initrd by the image name iPXE gives it (the URL's last
                // segment), hence `initrd=<name>`.
                let (initrd_arg, initrd_line) = match initrd {
                    Some(url) => {
                        let name = url.rsplit('/').next().unwrap_or("initrd");
                        (
                            format!(" initrd={name}"),
                            format!("initrd {url} || goto failed\n"),
                        )
                    }
                    None => (String::new(), String::new()),
                };
                format!(
                    "#!ipxe\necho baas: {note}\nkernel {kernel}{initrd_arg} {cmdline} || goto failed\n\
                     {initrd_line}boot || goto failed\n:failed\necho baas: the kernel did not start\nexit 1\n"
                )
            }
        }
    }
}

/// Text safe inside an iPXE `echo`: no newlines, no `${…}` expansions.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '$' { '_' } else { c })
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_disk_scripts_follow_the_firmware() {
        let bios = Script::LocalDisk {
            uefi: false,
            note: "node1 boots from its disk".into(),
        }
        .render();
        assert!(bios.starts_with("#!ipxe\n"));
        assert!(bios.contains("sanboot --no-describe --drive 0x80"));
        let uefi = Script::LocalDisk {
            uefi: true,
            note: "x\n${evil}".into(),
        }
        .render();
        assert_eq!(uefi, "#!ipxe\necho baas: x_{evil}\nexit 1\n");
    }

    #[test]
    fn kernel_scripts_name_the_initrd_for_the_efi_stub_and_keep_the_command_line_on_one_line() {
        let script = Script::Kernel {
            kernel: "mgmt/kernel".into(),
            initrd: Some("mgmt/initrd".into()),
            cmdline: "baas.url=http://10.0.0.2:3000 baas.token=abc\nshell".into(),
            note: "management OS".into(),
        }
        .render();
        assert_eq!(
            script,
            "#!ipxe\necho baas: management OS\n\
             kernel mgmt/kernel initrd=initrd baas.url=http://10.0.0.2:3000 baas.token=abcshell || goto failed\n\
             initrd mgmt/initrd || goto failed\nboot || goto failed\n:failed\necho baas: the kernel did not start\nexit 1\n"
        );
        let no_initrd = Script::Kernel {
            kernel: "mgmt/kernel".into(),
            initrd: None,
            cmdline: "quiet".into(),
            note: "x".into(),
        }
        .render();
        assert!(no_initrd.contains("kernel mgmt/kernel quiet || goto failed\nboot"));
    }
}
