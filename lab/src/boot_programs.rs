//! Which network boot program each machine gets: the lab's table by platform (admins change it
//! on the Settings page) and a machine's own (its `boot_program`), read by the DHCP answers.
//!
//! The DHCP services ask for every PXE or HTTP boot request and must never wait on the database,
//! so they read a book held in memory. A change made here renews this instance's book before
//! it returns; the server renews it periodically too, for changes another instance made.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::audit::record;
use crate::error::FieldErrors;
use crate::model::{BootPrograms, Platform};
use crate::settings::put_setting;
use crate::{validate, Actor, Lab, Result};

const KEYS: [&str; 4] = [
    "boot.program.x86_64_bios",
    "boot.program.x86_64_uefi",
    "boot.program.arm64_uefi",
    "boot.program.unknown",
];

/// What the DHCP services read: the lab's table and the machines that name their own program,
/// by MAC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootProgramBook {
    pub lab: BootPrograms,
    by_mac: HashMap<String, String>,
}

impl BootProgramBook {
    /// The program for the machine with `mac` (`aa:bb:…`), booting as `platform` (`None`: an
    /// architecture code baas does not know).
    pub fn choose(&self, mac: &str, platform: Option<Platform>) -> &str {
        match self.by_mac.get(mac) {
            Some(own) => own,
            None => self.lab.for_platform(platform),
        }
    }
}

impl BootProgramBook {
    /// Every program the book names, the table's and the machines' own, sorted, once each.
    pub fn named(&self) -> Vec<&str> {
        let table = [
            &self.lab.x86_64_bios,
            &self.lab.x86_64_uefi,
            &self.lab.arm64_uefi,
            &self.lab.unknown,
        ];
        let mut named: Vec<&str> = table
            .into_iter()
            .chain(self.by_mac.values())
            .map(String::as_str)
            .collect();
        named.sort_unstable();
        named.dedup();
        named
    }
}

/// The book a lab holds; cheap to clone, shared by every clone of the lab. Reloads take turns
/// (`reloading`): a slow periodic reload that read before an admin's change cannot store its
/// older book after the change's own reload.
#[derive(Clone, Default)]
pub(crate) struct SharedBook(
    Arc<RwLock<Arc<BootProgramBook>>>,
    Arc<tokio::sync::Mutex<()>>,
);

impl SharedBook {
    fn get(&self) -> Arc<BootProgramBook> {
        match self.0.read() {
            Ok(book) => book.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn put(&self, book: BootProgramBook) {
        let book = Arc::new(book);
        match self.0.write() {
            Ok(mut held) => *held = book,
            Err(poisoned) => *poisoned.into_inner() = book,
        }
    }
}

fn field_of(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

impl Lab {
    /// The lab's boot programs by platform (the defaults where an admin set none).
    pub async fn boot_programs(&self) -> Result<BootPrograms> {
        let mut programs = BootPrograms::default();
        for key in KEYS {
            if let Some(name) = self.setting(key).await?.filter(|name| !name.is_empty()) {
                *slot(&mut programs, key) = name;
            }
        }
        Ok(programs)
    }

    /// Sets the lab's boot programs (admins). Each must be a plain file name of the TFTP root;
    /// a bad one is named by its field and nothing changes.
    pub async fn set_boot_programs(
        &self,
        actor: &Actor,
        programs: BootPrograms,
    ) -> Result<BootPrograms> {
        actor.require_admin()?;
        let mut wanted = programs.clone();
        let mut errors = FieldErrors::default();
        for key in KEYS {
            let value = slot(&mut wanted, key);
            *value = validate::file_name(&mut errors, field_of(key), value, true);
        }
        errors.into_result()?;
        let mut tx = self.write().await?;
        let mut detail = Vec::new();
        for key in KEYS {
            let value = slot(&mut wanted, key).clone();
            detail.push(format!("{}={value}", field_of(key)));
            put_setting(&mut tx, key, value).await?;
        }
        record(
            &mut tx,
            actor,
            "settings.boot_programs",
            "settings",
            &detail.join(" "),
        )
        .await?;
        tx.commit().await?;
        self.renew_boot_program_book().await;
        Ok(wanted)
    }

    /// The book the DHCP services read, as last loaded.
    pub fn boot_program_book(&self) -> Arc<BootProgramBook> {
        self.boot_book.get()
    }

    /// Loads the book again after a committed change; the change stands even when this fails
    /// (logged; the periodic reload catches up).
    pub(crate) async fn renew_boot_program_book(&self) {
        if let Err(error) = self.reload_boot_program_book().await {
            tracing::warn!(%error, "the boot program book could not be read again after a change");
        }
    }

    /// Loads the book again from the database: the lab's table and every machine's own program.
    pub async fn reload_boot_program_book(&self) -> Result<()> {
        let _turn = self.boot_book.1.lock().await;
        let lab = self.boot_programs().await?;
        let own: Vec<(String, String)> = sqlx::query_as(
            "SELECT a.mac, m.boot_program FROM machine_macs a JOIN machines m ON m.id = a.machine_id
             WHERE m.boot_program <> ''",
        )
        .fetch_all(&self.db)
        .await?;
        self.boot_book.put(BootProgramBook {
            lab,
            by_mac: own.into_iter().collect(),
        });
        Ok(())
    }
}

fn slot<'a>(programs: &'a mut BootPrograms, key: &str) -> &'a mut String {
    match field_of(key) {
        "x86_64_bios" => &mut programs.x86_64_bios,
        "x86_64_uefi" => &mut programs.x86_64_uefi,
        "arm64_uefi" => &mut programs.arm64_uefi,
        _ => &mut programs.unknown,
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{BootPrograms, Platform};
    use crate::testing::{admin, machine_input, user};
    use crate::Error;

    #[tokio::test]
    async fn the_lab_table_answers_by_platform_and_a_machine_with_its_own_program_gets_it() {
        let (lab, _dir) = crate::testing::lab().await;
        let book = lab.boot_program_book();
        assert_eq!(
            book.choose("52:54:00:00:00:01", Some(Platform::X86_64Bios)),
            "undionly.kpxe"
        );
        assert_eq!(
            book.choose("52:54:00:00:00:01", Some(Platform::X86_64Uefi)),
            "ipxe.efi"
        );
        assert_eq!(book.choose("52:54:00:00:00:01", None), "ipxe.efi");

        let admin = admin();
        let changed = lab
            .set_boot_programs(
                &admin,
                BootPrograms {
                    x86_64_uefi: " snponly.efi ".into(),
                    unknown: "undionly.kpxe".into(),
                    ..BootPrograms::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(changed.x86_64_uefi, "snponly.efi");
        assert_eq!(lab.boot_programs().await.unwrap(), changed);
        // The book follows at once: the next DHCP answer already uses the new table.
        let book = lab.boot_program_book();
        assert_eq!(
            book.choose("52:54:00:00:00:01", Some(Platform::X86_64Uefi)),
            "snponly.efi"
        );
        assert_eq!(book.choose("52:54:00:00:00:01", None), "undionly.kpxe");

        let mut input = machine_input("odd-nic", "52:54:00:00:00:02");
        input.boot_program = "ipxe-realtek.efi".into();
        let machine = lab.create_machine(&admin, input.clone()).await.unwrap();
        assert_eq!(machine.boot_program, "ipxe-realtek.efi");
        assert_eq!(
            lab.boot_program_book().named(),
            [
                "baas-grubnetaa64.efi",
                "ipxe-realtek.efi",
                "snponly.efi",
                "undionly.kpxe"
            ]
        );
        let book = lab.boot_program_book();
        assert_eq!(
            book.choose("52:54:00:00:00:02", Some(Platform::X86_64Uefi)),
            "ipxe-realtek.efi"
        );
        assert_eq!(
            book.choose("52:54:00:00:00:01", Some(Platform::X86_64Uefi)),
            "snponly.efi"
        );
        // Cleared on the form: the machine follows the lab's table again.
        input.boot_program = String::new();
        lab.update_machine(&admin, machine.id, input).await.unwrap();
        assert_eq!(
            lab.boot_program_book()
                .choose("52:54:00:00:00:02", Some(Platform::X86_64Uefi)),
            "snponly.efi"
        );
    }

    #[tokio::test]
    async fn boot_programs_are_file_names_of_the_tftp_root_set_by_admins_only() {
        let (lab, _dir) = crate::testing::lab().await;
        let admin = admin();
        let refused = lab
            .set_boot_programs(
                &admin,
                BootPrograms {
                    x86_64_bios: "../etc/passwd".into(),
                    arm64_uefi: String::new(),
                    ..BootPrograms::default()
                },
            )
            .await
            .unwrap_err();
        let Error::Invalid(errors) = refused else {
            panic!("{refused:?}")
        };
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["x86_64_bios", "arm64_uefi"], "{errors:?}");
        assert_eq!(
            lab.boot_programs().await.unwrap(),
            BootPrograms::default(),
            "nothing changed"
        );

        let user = user(&lab, "erin").await;
        assert!(matches!(
            lab.set_boot_programs(&user, BootPrograms::default()).await,
            Err(Error::Forbidden)
        ));

        let mut input = machine_input("bad-program", "52:54:00:00:00:03");
        input.boot_program = "/srv/tftp/ipxe.efi".into();
        let refused = lab.create_machine(&admin, input).await.unwrap_err();
        assert!(
            matches!(&refused, Error::Invalid(errors) if errors.0.iter().any(|e| e.field == "boot_program")),
            "{refused:?}"
        );
    }
}
