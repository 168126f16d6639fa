//! The handle on the lab's database: connection pool, migrations, secret box, log-in throttle.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::images::ImageStore;
use crate::secrets::SecretBox;
use crate::throttle::LoginThrottle;
use crate::Result;

/// The lab. Cheap to clone; every clone shares the pool.
#[derive(Clone)]
pub struct Lab {
    pub(crate) db: SqlitePool,
    pub(crate) secrets: SecretBox,
    pub(crate) throttle: Arc<LoginThrottle>,
    pub(crate) images: Arc<ImageStore>,
    pub(crate) events: crate::events::Events,
    pub(crate) clock: crate::clock::Clock,
}

impl Lab {
    /// Opens (creating if missing) the database at `database_url` and brings its schema up to
    /// date; images are stored under `image_dir`.
    pub async fn open(
        database_url: &str,
        secrets: SecretBox,
        image_dir: impl Into<std::path::PathBuf>,
    ) -> Result<Lab> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(15));
        let db = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations").run(&db).await?;
        let images = ImageStore::open(image_dir.into())?;
        Ok(Lab {
            db,
            secrets,
            throttle: Arc::new(LoginThrottle::default()),
            images: Arc::new(images),
            events: Default::default(),
            clock: crate::clock::Clock::system(),
        })
    }

    /// A write transaction, holding SQLite's write lock from its start. A plain `BEGIN` reads
    /// first and upgrades at its first write; when another connection committed in between, the
    /// upgrade fails at once with "database is locked" (the busy timeout does not apply to it).
    pub(crate) async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.db.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The same lab reading time from `clock` (tests move a manual one).
    pub fn with_clock(mut self, clock: crate::clock::Clock) -> Lab {
        self.clock = clock;
        self
    }

    /// The lab's current UNIX time in seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Change announcements, for the live pages and the API's event stream.
    pub fn events(&self) -> &crate::events::Events {
        &self.events
    }

    /// The pool, for components that keep their own tables beside the lab's (sessions).
    pub fn pool(&self) -> &SqlitePool {
        &self.db
    }
}

/// Current UNIX time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether a database error is a uniqueness violation (names, MACs, grants).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::model::NewUser;
    use crate::Actor;

    /// A lab on a fresh database in a temporary directory (kept alive by the returned guard).
    pub async fn lab() -> (Lab, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("lab.db").display());
        let lab = Lab::open(&url, SecretBox::new([1; 32]), dir.path().join("images"))
            .await
            .expect("open lab");
        (lab, dir)
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
}

#[cfg(test)]
mod tests {
    use super::testing::{admin, lab};

    /// A write transaction that read first still writes after another connection committed: it
    /// held the write lock, so the other write waited for it instead of slipping in between.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_transaction_that_reads_first_is_not_refused_by_a_concurrent_commit() {
        let (lab, _dir) = lab().await;
        let mut tx = lab.write().await.unwrap();
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM groups")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let other = {
            let lab = lab.clone();
            tokio::spawn(async move { lab.create_group(&admin(), "racers", "").await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        sqlx::query("INSERT INTO groups (name, description) VALUES ('first', '')")
            .execute(&mut *tx)
            .await
            .expect("the write after the read must not be refused");
        tx.commit().await.unwrap();
        other
            .await
            .unwrap()
            .expect("the other write waits its turn");
        let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM groups")
            .fetch_one(&lab.db)
            .await
            .unwrap();
        assert_eq!(after, before + 2);
    }
}
