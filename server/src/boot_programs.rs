//! The DHCP services' boot program choice answered by the lab's book (`lab::boot_programs`):
//! the glue between `netboot`'s protocol and the lab's table and machines.

use std::time::Duration;

use lab::model::Platform;
use lab::Lab;
use netboot::dhcp::{ChooseBootFile, Firmware};

/// How often the book is read again for changes another instance (or `baas` at a shell) made;
/// this instance's own changes renew it at once.
const RELOAD_EVERY: Duration = Duration::from_secs(15);

pub struct LabBootPrograms(pub Lab);

impl ChooseBootFile for LabBootPrograms {
    fn boot_file(&self, mac: &str, firmware: Option<Firmware>) -> String {
        let platform = firmware.map(|firmware| match firmware {
            Firmware::Bios => Platform::X86_64Bios,
            Firmware::X86_64Efi => Platform::X86_64Uefi,
            Firmware::Arm64Efi => Platform::Arm64Uefi,
        });
        self.0.boot_program_book().choose(mac, platform).to_string()
    }
}

/// Reads the book again every [`RELOAD_EVERY`] for as long as the server runs.
pub async fn keep_reloading(lab: Lab) {
    loop {
        tokio::time::sleep(RELOAD_EVERY).await;
        if let Err(error) = lab.reload_boot_program_book().await {
            tracing::warn!(%error, "the boot program table could not be read again; the last one stays");
        }
    }
}
