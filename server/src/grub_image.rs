//! The arm64 network boot program: GRUB, made when baas starts by `grub-mkimage` from Debian's
//! arm64-efi modules, with this server's HTTP address built in (see `netboot::grub` for why
//! the image must carry it). Served by TFTP and HTTP under [`NAME`], ahead of any file of that
//! name in the TFTP root.

use std::path::{Path, PathBuf};

use netboot::grub::{embedded_config, GrubServer, GrubUrlError};
use netboot::NetbootFiles;

use crate::config::Config;

/// The boot program's name: the lab's default for arm64 UEFI (`lab::model::BootPrograms`).
pub const NAME: &str = "baas-grubnetaa64.efi";

/// What the image holds: the network (UEFI's NIC driver, HTTP, TFTP), Linux and EFI loaders,
/// gzip (for a management OS kernel given compressed; Debian's arm64 one is not), and what the
/// scripts use to find a disk's EFI loader. `grub-mkimage` adds their dependencies.
const MODULES: &[&str] = &[
    "normal",
    "configfile",
    "echo",
    "test",
    "sleep",
    "efinet",
    "net",
    "http",
    "tftp",
    "linux",
    "gzio",
    "chain",
    "search",
    "search_fs_file",
    "part_gpt",
    "part_msdos",
    "fat",
    "ext2",
    "reboot",
    "halt",
];

/// The files network-boot firmware may fetch: the TFTP root, and the GRUB image when it could be
/// made (a reason is logged when it could not: arm64 machines then need a program the admin
/// provides).
pub async fn netboot_files(config: &Config) -> NetbootFiles {
    let mut files = NetbootFiles::new(&config.tftp_root);
    let Some(modules) = config.grub_arm64_modules.clone() else {
        tracing::info!("no arm64 GRUB modules (mgmt/build.sh --arch arm64): no arm64 boot program of baas' own");
        return files;
    };
    let (url, out) = (config.public_url.clone(), config.data_dir.join("netboot"));
    let made = tokio::task::spawn_blocking(move || make(&modules, &url, &out)).await;
    match made {
        Ok(Ok(image)) => {
            tracing::info!(image = %image.display(), "arm64 network boot program (GRUB) made");
            files.add_made(NAME, image);
        }
        Ok(Err(reason)) => {
            tracing::warn!(%reason, "the arm64 network boot program (GRUB) could not be made")
        }
        Err(e) => tracing::error!(error = %e, "making the arm64 GRUB image"),
    }
    files
}

/// Why the GRUB image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GrubImageError {
    #[error(transparent)]
    Url(#[from] GrubUrlError),
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("running grub-mkimage (grub-common): {0}")]
    Run(std::io::Error),
    #[error("grub-mkimage failed: {0}")]
    Failed(String),
}

/// Makes `out_dir/NAME` (and, beside it, the configuration built in, for the admin to read).
pub fn make(modules: &Path, public_url: &str, out_dir: &Path) -> Result<PathBuf, GrubImageError> {
    let server = GrubServer::from_url(public_url)?;
    let file_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GrubImageError::File { path, source }
    };
    std::fs::create_dir_all(out_dir).map_err(file_error(out_dir))?;
    let config = out_dir.join("grub-embedded.cfg");
    std::fs::write(&config, embedded_config(&server)).map_err(file_error(&config))?;
    let image = out_dir.join(NAME);
    let partial = out_dir.join(format!(".{NAME}.partial"));
    let output = std::process::Command::new("grub-mkimage")
        .args(["-O", "arm64-efi", "-p", "/boot/grub"])
        .arg("-d")
        .arg(modules)
        .arg("-c")
        .arg(&config)
        .arg("-o")
        .arg(&partial)
        .args(MODULES)
        .output()
        .map_err(GrubImageError::Run)?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(GrubImageError::Failed(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    std::fs::rename(&partial, &image).map_err(file_error(&image))?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With Debian's arm64 modules at hand (`mgmt/build.sh --arch arm64` unpacks them; `./dev
    /// test` names them), the image is an EFI application for arm64 with baas' address in it.
    #[test]
    fn the_image_is_an_arm64_efi_program_carrying_the_servers_address() {
        let Some(modules) = std::env::var_os("BAAS_TEST_GRUB_ARM64_MODULES")
            .map(PathBuf::from)
            .filter(|dir| dir.join("linux.mod").is_file())
        else {
            assert!(
                std::env::var_os("BAAS_TEST_STRICT").is_none(),
                "no arm64 GRUB modules in BAAS_TEST_GRUB_ARM64_MODULES"
            );
            eprintln!("skipped: no arm64 GRUB modules (BAAS_TEST_GRUB_ARM64_MODULES)");
            return;
        };
        let out = tempfile::tempdir().unwrap();
        let image = make(&modules, "http://10.99.0.2:3000", out.path()).unwrap();
        let bytes = std::fs::read(&image).unwrap();
        assert_eq!(&bytes[..2], b"MZ", "a PE image");
        let pe = u32::from_le_bytes(bytes[0x3c..0x40].try_into().unwrap()) as usize;
        assert_eq!(&bytes[pe..pe + 4], b"PE\0\0");
        let machine = u16::from_le_bytes(bytes[pe + 4..pe + 6].try_into().unwrap());
        assert_eq!(machine, 0xaa64, "IMAGE_FILE_MACHINE_ARM64");
        let needle = b"set root=(http,10.99.0.2:3000)";
        assert!(bytes.windows(needle.len()).any(|w| w == needle));
        assert!(make(&modules, "https://10.99.0.2", out.path())
            .unwrap_err()
            .to_string()
            .contains("plain HTTP"));
    }
}
