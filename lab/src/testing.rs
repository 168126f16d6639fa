//! Fixtures for tests of the lab and of the crates above it (the `testing` feature): a lab on a
//! fresh database of either engine, a machine, an admin and a user. One copy, so the server's
//! tests create their PostgreSQL databases exactly as the domain's do.

use crate::model::NewUser;
use crate::Actor;
use crate::{Lab, SecretBox};

/// A lab on a fresh database, its images in a temporary directory (kept alive by the
/// returned guard). SQLite in that directory; with `BAAS_TEST_ENGINE=postgres`, a new
/// database on the server `BAAS_TEST_POSTGRES` names (the throwaway one `./dev test` starts).
pub async fn lab() -> (Lab, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = if std::env::var("BAAS_TEST_ENGINE").as_deref() == Ok("postgres") {
        let server = std::env::var("BAAS_TEST_POSTGRES")
            .expect("BAAS_TEST_ENGINE=postgres needs BAAS_TEST_POSTGRES (./dev test sets both)");
        fresh_postgres_database(&server).await
    } else {
        format!("sqlite://{}", dir.path().join("lab.db").display())
    };
    let lab = Lab::open(&url, SecretBox::new([1; 32]), dir.path().join("images"))
        .await
        .expect("open lab");
    (lab, dir)
}

/// Creates an empty database on the PostgreSQL server at `server` and returns its URL.
pub async fn fresh_postgres_database(server: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    sqlx::any::install_default_drivers();
    let name = format!(
        "lab_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(server)
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let base = base.rsplit_once('/').map_or(base, |(base, _)| base);
    format!("{base}/{name}{query}")
}

/// An available x86_64-uefi machine without BMC.
pub fn machine_input(name: &str, mac: &str) -> crate::model::MachineInput {
    crate::model::MachineInput {
        name: name.into(),
        macs: mac.into(),
        platform: "x86_64-uefi".into(),
        bmc_kind: "none".into(),
        state: "available".into(),
        ..Default::default()
    }
}

pub fn admin() -> Actor {
    Actor::shell()
}

/// Creates a plain user and returns them as an actor.
pub async fn user(lab: &Lab, name: &str) -> Actor {
    let user = lab
        .create_user(
            &admin(),
            NewUser {
                username: name.into(),
                display_name: name.into(),
                password: "password123".into(),
                is_admin: false,
            },
        )
        .await
        .expect("create user");
    Actor::user(user.id, name, false, "127.0.0.1")
}
