//! The handle on the lab's database: connection pool, migrations, secret box.
//!
//! One code base runs on two engines: SQLite (the embedded default, one instance) and PostgreSQL
//! (several instances sharing one lab). Queries are written once in the SQL both accept and run
//! through sqlx's `Any` driver; what differs per engine (schema files, how a write transaction
//! is serialized) is chosen here.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyTypeInfoKind};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Any, AnyPool, ConnectOptions, Connection, Executor, ValueRef};

use crate::images::ImageStore;
use crate::secrets::SecretBox;
use crate::Result;

/// Holds an exclusive lock on `<database file>.migrate-lock` until dropped (waiting for it).
async fn lock_migrations(database_url: &str) -> Result<std::fs::File> {
    let options = SqliteConnectOptions::from_str(database_url)?;
    let mut path = options.get_filename().as_os_str().to_owned();
    path.push(".migrate-lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| crate::Error::Storage(format!("{}: {e}", path.display())))?;
    tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
        .await
        .map_err(|e| crate::Error::Storage(format!("waiting for the migration lock: {e}")))?
        .map_err(|e| crate::Error::Storage(format!("the migration lock: {e}")))
}

/// The lab. Cheap to clone; every clone shares the pool.
#[derive(Clone)]
pub struct Lab {
    pub(crate) db: AnyPool,
    engine: Engine,
    database_url: Arc<str>,
    pub(crate) secrets: SecretBox,
    pub(crate) images: Arc<ImageStore>,
    pub(crate) events: crate::events::Events,
    pub(crate) clock: crate::clock::Clock,
    pub(crate) boot_book: crate::boot_programs::SharedBook,
}

impl Lab {
    /// Opens (creating if missing) the database at `database_url` and brings its schema up to
    /// date; images are stored under `image_dir`.
    pub async fn open(
        database_url: &str,
        secrets: SecretBox,
        image_dir: impl Into<std::path::PathBuf>,
    ) -> Result<Lab> {
        sqlx::any::install_default_drivers();
        let engine = Engine::of(database_url)?;
        let db = match engine {
            Engine::Sqlite => {
                // sqlx takes no lock on SQLite: processes opening a new or older database at
                // once (the server starting, `baas user` beside it) take turns here, so the
                // switch to WAL and each migration happen once and neither fails on the other.
                let _migrating = lock_migrations(database_url).await?;
                // Creates the file and switches it to WAL once; both persist in the file.
                SqliteConnectOptions::from_str(database_url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .connect()
                    .await?
                    .close()
                    .await?;
                let db = AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 15000; \
                                 PRAGMA synchronous = NORMAL;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(database_url)
                    .await?;
                sqlx::migrate!("../migrations").run(&db).await?;
                db
            }
            Engine::Postgres => {
                // No ping before each use: on PostgreSQL it is a round trip per statement, and a
                // connection that broke fails its statement instead.
                let db = AnyPoolOptions::new()
                    .max_connections(16)
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(database_url)
                    .await?;
                // sqlx holds an advisory lock while migrating: instances starting together
                // apply each migration once.
                sqlx::migrate!("../migrations/postgres").run(&db).await?;
                db
            }
        };
        let images = ImageStore::open(image_dir.into())?;
        let lab = Lab {
            db,
            engine,
            database_url: database_url.into(),
            secrets,
            images: Arc::new(images),
            events: Default::default(),
            clock: crate::clock::Clock::system(),
            boot_book: Default::default(),
        };
        lab.reload_boot_program_book().await?;
        Ok(lab)
    }

    /// A write transaction, serialized with every other one from its start, on either engine.
    ///
    /// On SQLite it holds the write lock from `BEGIN IMMEDIATE`: a plain `BEGIN` reads first and
    /// upgrades at its first write, and when another connection committed in between, the
    /// upgrade fails at once with "database is locked" (the busy timeout does not apply to it).
    /// On PostgreSQL a transaction-scoped advisory lock gives every instance the same guarantee:
    /// what a write transaction read is still true when it writes.
    pub(crate) async fn write(&self) -> Result<sqlx::Transaction<'static, Any>> {
        match self.engine {
            Engine::Sqlite => Ok(self.db.begin_with("BEGIN IMMEDIATE").await?),
            Engine::Postgres => {
                let mut tx = self.db.begin().await?;
                sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
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

    /// The pool, for tests and tools that read the lab's tables directly.
    pub fn pool(&self) -> &AnyPool {
        &self.db
    }

    /// The engine the lab's database runs on.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Where the lab's database is, for components that keep their own tables beside the lab's
    /// (sessions) or listen to it (events across instances).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }
}

/// The advisory-lock key that serializes write transactions on PostgreSQL ("baas" in ASCII).
const WRITE_LOCK: i64 = 0x6261_6173;

/// The database engine behind a `DATABASE_URL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// `sqlite://…`: the embedded default, one instance.
    Sqlite,
    /// `postgres://…` or `postgresql://…`: shared by several instances.
    Postgres,
}

impl Engine {
    /// The engine a database URL names.
    pub fn of(database_url: &str) -> Result<Engine> {
        let scheme = database_url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Engine::Sqlite),
            "postgres" | "postgresql" => Ok(Engine::Postgres),
            _ => Err(crate::Error::invalid(
                "DATABASE_URL",
                "must start with sqlite:// or postgres://",
            )),
        }
    }
}

/// A yes/no column as read back: PostgreSQL answers a boolean, SQLite the 0 or 1 it stored
/// (sqlx's `Any` driver reports SQLite values by storage class, so `bool` alone would refuse it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(flag: Flag) -> bool {
        flag.0
    }
}

impl sqlx::Type<Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <bool as sqlx::Type<Any>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        matches!(
            ty.kind(),
            AnyTypeInfoKind::Bool
                | AnyTypeInfoKind::SmallInt
                | AnyTypeInfoKind::Integer
                | AnyTypeInfoKind::BigInt
        )
    }
}

impl<'r> sqlx::Decode<'r, Any> for Flag {
    fn decode(
        value: sqlx::any::AnyValueRef<'r>,
    ) -> std::result::Result<Self, sqlx::error::BoxDynError> {
        if value.type_info().kind() == AnyTypeInfoKind::Bool {
            <bool as sqlx::Decode<Any>>::decode(value).map(Flag)
        } else {
            <i64 as sqlx::Decode<Any>>::decode(value).map(|n| Flag(n != 0))
        }
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
mod tests {
    use crate::testing::{admin, lab};

    /// Every pooled SQLite connection enforces foreign keys, waits for the write lock instead of
    /// failing, and syncs at checkpoints (WAL, synchronous NORMAL) rather than at each commit.
    #[tokio::test]
    async fn sqlite_connections_carry_the_lab_settings() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("lab.db").display());
        let lab = crate::Lab::open(&url, crate::SecretBox::new([1; 32]), dir.path().join("i"))
            .await
            .unwrap();
        let mut conn = lab.db.acquire().await.unwrap();
        for (pragma, want) in [
            ("foreign_keys", "1"),
            ("busy_timeout", "15000"),
            ("synchronous", "1"),
            ("journal_mode", "wal"),
        ] {
            let row = sqlx::query(&format!("PRAGMA {pragma}"))
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let value = sqlx::Row::try_get::<i64, _>(&row, 0)
                .map(|n| n.to_string())
                .or_else(|_| sqlx::Row::try_get::<String, _>(&row, 0))
                .unwrap();
            assert_eq!(value, want, "PRAGMA {pragma}");
        }
    }

    /// A lab whose Settings table stored the old arm64 default (a file Debian does not ship)
    /// boots arm64 machines with baas' GRUB image after the upgrade (migration 0021); a program
    /// an admin chose stays.
    #[tokio::test]
    async fn the_old_arm64_default_gives_way_to_baas_grub_and_a_chosen_program_stays() {
        for (stored, after) in [
            ("ipxe-arm64.efi", "baas-grubnetaa64.efi"),
            ("my-arm64.efi", "my-arm64.efi"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("lab.db");
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .connect_with(options)
                .await
                .unwrap();
            let mut before = sqlx::migrate!("../migrations");
            before.migrations = std::borrow::Cow::Owned(
                before
                    .migrations
                    .iter()
                    .filter(|migration| migration.version <= 20)
                    .cloned()
                    .collect(),
            );
            before.run(&pool).await.unwrap();
            sqlx::query("INSERT INTO settings (key, value) VALUES ('boot.program.arm64_uefi', ?)")
                .bind(stored)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let url = format!("sqlite://{}", path.display());
            let lab = crate::Lab::open(&url, crate::SecretBox::new([1; 32]), dir.path().join("i"))
                .await
                .unwrap();
            assert_eq!(lab.boot_programs().await.unwrap().arm64_uefi, after);
        }
    }

    /// Several instances (or the server and `baas user`) opening a new database at once: all of
    /// them open it, and each migration is applied once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn openers_of_a_new_database_at_once_apply_each_migration_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = match std::env::var("BAAS_TEST_ENGINE").as_deref() {
            Ok("postgres") => {
                crate::testing::fresh_postgres_database(
                    &std::env::var("BAAS_TEST_POSTGRES").unwrap(),
                )
                .await
            }
            _ => format!("sqlite://{}", dir.path().join("lab.db").display()),
        };
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let openers: Vec<_> = (0..4)
            .map(|n| {
                let (url, start) = (url.clone(), start.clone());
                let images = dir.path().join(format!("images-{n}"));
                tokio::spawn(async move {
                    start.wait().await;
                    crate::Lab::open(&url, crate::SecretBox::new([1; 32]), images).await
                })
            })
            .collect();
        let mut labs = Vec::new();
        for opener in openers {
            labs.push(
                opener
                    .await
                    .unwrap()
                    .expect("an instance failed to open the database"),
            );
        }
        let migrations = match labs[0].engine() {
            crate::Engine::Sqlite => sqlx::migrate!("../migrations").iter().count(),
            crate::Engine::Postgres => sqlx::migrate!("../migrations/postgres").iter().count(),
        };
        let (applied, distinct): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT version) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(&labs[0].db)
        .await
        .unwrap();
        assert_eq!((applied, distinct), (migrations as i64, migrations as i64));
    }

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
