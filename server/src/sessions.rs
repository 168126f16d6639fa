//! Where log-in sessions live: beside the lab's tables, in whichever engine holds them. On
//! PostgreSQL every instance reads the same sessions, so a user's session works on all of them.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use lab::{Engine, Lab};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::sqlx::postgres::PgPoolOptions;
use tower_sessions_sqlx_store::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The session table, on the lab's engine.
#[derive(Clone, Debug)]
pub enum Sessions {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Sessions {
    /// Opens the session table in the lab's database, creating it if missing.
    pub async fn open(lab: &Lab) -> anyhow::Result<Sessions> {
        let url = lab.database_url();
        let sessions = match lab.engine() {
            Engine::Sqlite => {
                let options =
                    SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(15));
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await?;
                let store = SqliteStore::new(pool)
                    .with_table_name("sessions")
                    .map_err(anyhow::Error::msg)?;
                store.migrate().await?;
                Sessions::Sqlite(store)
            }
            Engine::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .test_before_acquire(false)
                    .connect(url)
                    .await?;
                let store = PostgresStore::new(pool)
                    .with_schema_name("public")
                    .and_then(|store| store.with_table_name("sessions"))
                    .map_err(anyhow::Error::msg)?;
                // Instances starting together race to create the table; the loser tries again.
                if store.migrate().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    store.migrate().await?;
                }
                Sessions::Postgres(store)
            }
        };
        Ok(sessions)
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(store) => store.create(record).await,
            Sessions::Postgres(store) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(store) => store.save(record).await,
            Sessions::Postgres(store) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Sessions::Sqlite(store) => store.load(id).await,
            Sessions::Postgres(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(store) => store.delete(id).await,
            Sessions::Postgres(store) => store.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(store) => store.delete_expired().await,
            Sessions::Postgres(store) => store.delete_expired().await,
        }
    }
}
