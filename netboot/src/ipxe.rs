//! iPXE scripts. Only the text: which script a machine gets is the lab's decision.

/// What a script tells iPXE to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// Leave network boot and boot the machine's own disk. Legacy BIOS boots the first disk
    /// through `sanboot`; UEFI firmware moves on to its next boot entry when iPXE exits.
    LocalDisk { uefi: bool, note: String },
}

impl Script {
    pub fn render(&self) -> String {
        match self {
            Script::LocalDisk { uefi, note } => {
                let note = printable(note);
                if *uefi {
                    format!("#!ipxe\necho baas: {note}\nexit\n")
                } else {
                    format!(
                        "#!ipxe\necho baas: {note}\nsanboot --no-describe --drive 0x80 || exit\n"
                    )
                }
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
        assert_eq!(uefi, "#!ipxe\necho baas: x_{evil}\nexit\n");
    }
}
