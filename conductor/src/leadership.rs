//! Which of several baas instances on one PostgreSQL database runs the background duties (and
//! answers DHCP): the one holding a session-level advisory lock. The lock lives as long as the
//! leader's connection: when the leader dies, PostgreSQL releases it and the next instance to
//! ask (each asks every second) takes over, picking up from the database where the leader left
//! off. On SQLite there is one instance, always the leader.

use std::time::Duration;

use lab::{Engine, Lab};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use tokio::sync::watch;

/// The advisory-lock key of leadership ("baaslead" in ASCII).
const LEADER_LOCK: i64 = 0x6261_6173_6c65_6164;
/// How often a follower asks for the lock, and the leader checks it still holds it.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Whether this instance runs the background duties now.
#[derive(Clone)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
    /// The sending side when nobody campaigns (one instance): held so the channel stays open.
    _fixed: Option<std::sync::Arc<watch::Sender<bool>>>,
}

impl Leadership {
    /// The leadership of the lab's instances: always this one on SQLite; on PostgreSQL, elected.
    pub fn of(lab: &Lab) -> Leadership {
        match lab.engine() {
            Engine::Sqlite => Leadership::always(),
            Engine::Postgres => Leadership::elect(lab.database_url().to_owned()),
        }
    }

    /// The only instance: always leading.
    pub fn always() -> Leadership {
        let (sender, leading) = watch::channel(true);
        Leadership {
            leading,
            _fixed: Some(std::sync::Arc::new(sender)),
        }
    }

    /// Campaigns for the lock on the database at `url`, for as long as the process runs.
    pub fn elect(url: String) -> Leadership {
        let (sender, leading) = watch::channel(false);
        tokio::spawn(campaign(url, sender));
        Leadership {
            leading,
            _fixed: None,
        }
    }

    /// Returns once this instance leads (at once when it does already).
    pub async fn wait(&mut self) {
        // An error means the campaign ended, which it never does while the process runs.
        let _ = self.leading.wait_for(|leading| *leading).await;
    }

    /// Returns once this instance no longer leads.
    pub async fn lost(&mut self) {
        let _ = self.leading.wait_for(|leading| !*leading).await;
    }
}

async fn campaign(url: String, leading: watch::Sender<bool>) {
    loop {
        let mut conn = match PgConnection::connect(&url).await {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(%error, "leadership: cannot reach the database");
                tokio::time::sleep(HEARTBEAT).await;
                continue;
            }
        };
        let won = loop {
            match sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                .bind(LEADER_LOCK)
                .fetch_one(&mut conn)
                .await
            {
                Ok(true) => break true,
                Ok(false) => tokio::time::sleep(HEARTBEAT).await,
                Err(error) => {
                    tracing::warn!(%error, "leadership: asking for the lock failed");
                    break false;
                }
            }
        };
        if !won {
            tokio::time::sleep(HEARTBEAT).await;
            continue;
        }
        tracing::info!("this instance now runs the background duties and DHCP");
        leading.send_replace(true);
        // The lock is as alive as this connection: a failed check means it may be gone.
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            if sqlx::query("SELECT 1").execute(&mut conn).await.is_err() {
                break;
            }
        }
        leading.send_replace(false);
        tracing::warn!("lost the database connection that held the leadership; standing by");
    }
}
