//! The files network-boot firmware fetches by name, by TFTP or by HTTP: the admin's directory
//! (the TFTP root, Debian's iPXE binaries by default) and the few files the server makes
//! itself (a GRUB image that knows the server's address), which take precedence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct NetbootFiles {
    /// The admin's directory.
    pub root: PathBuf,
    /// Made by the server: name → file.
    made: BTreeMap<String, PathBuf>,
}

impl NetbootFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        NetbootFiles {
            root: root.into(),
            made: BTreeMap::new(),
        }
    }

    /// Serves `file` as `name` (a plain file name), ahead of the root's file of that name.
    pub fn add_made(&mut self, name: &str, file: PathBuf) {
        self.made.insert(name.to_string(), file);
    }

    /// The file the server made under `name`, if it made one. `name` may carry the leading
    /// `/` some TFTP clients send.
    pub fn made(&self, name: &str) -> Option<&Path> {
        self.made
            .get(name.strip_prefix('/').unwrap_or(name))
            .map(PathBuf::as_path)
    }

    /// The names of the files the server made.
    pub fn made_names(&self) -> impl Iterator<Item = &str> {
        self.made.keys().map(String::as_str)
    }

    /// Where `name` is, for a plain file name (no path, not hidden): made, else in the root.
    /// Whether it exists is the caller's to find out.
    pub fn resolve(&self, name: &str) -> Option<PathBuf> {
        if let Some(made) = self.made(name) {
            return Some(made.to_path_buf());
        }
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && !name.contains(['/', '\\', '\0'])
            && name != "..";
        plain.then(|| self.root.join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_files_come_first_and_names_stay_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let made = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("ipxe.efi"), b"root").unwrap();
        std::fs::write(root.path().join("grub.efi"), b"shadowed").unwrap();
        std::fs::write(made.path().join("grub.efi"), b"made").unwrap();
        let mut files = NetbootFiles::new(root.path());
        files.add_made("grub.efi", made.path().join("grub.efi"));
        assert_eq!(
            std::fs::read(files.resolve("grub.efi").unwrap()).unwrap(),
            b"made"
        );
        assert_eq!(
            files.made("/grub.efi"),
            Some(made.path().join("grub.efi").as_path())
        );
        assert_eq!(
            files.resolve("ipxe.efi"),
            Some(root.path().join("ipxe.efi"))
        );
        for outside in ["../etc/passwd", "/etc/passwd", ".hidden", "", "a\\b"] {
            assert_eq!(files.resolve(outside), None, "{outside}");
        }
        assert_eq!(files.made_names().collect::<Vec<_>>(), ["grub.efi"]);
    }
}
