//! Several baas instances on one PostgreSQL database: which of them runs the background duties,
//! and how live events cross between them. PostgreSQL's own primitives coordinate them; there
//! is no protocol of our own between instances.
//!
//! - **Leadership.** The instance holding a session-level advisory lock is the leader: it alone
//!   runs the job runner, reservation wrap-up, power refresh, media expiry, the notifier, upload
//!   recovery, and answers DHCP. The lock lives as long as the leader's connection: when the
//!   leader dies, PostgreSQL releases it and the next instance to ask (each asks every second)
//!   takes over, picking up from the database where the leader left off.
//! - **Events.** Each instance sends its announcements with `NOTIFY` and relays what it hears
//!   from the others to its own browsers and API streams.
//!
//! On SQLite there is one instance, always the leader, and nothing crosses.

use std::time::Duration;

use anyhow::Context;
use lab::{Engine, Lab};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnection, PgListener, PgPoolOptions};
use sqlx::Connection;
use tokio::sync::watch;

/// The advisory-lock key of leadership ("baaslead" in ASCII).
const LEADER_LOCK: i64 = 0x6261_6173_6c65_6164;
/// The NOTIFY channel live events cross on.
const CHANNEL: &str = "baas_events";
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

/// One change as it crosses between instances.
#[derive(Serialize, Deserialize)]
struct Crossing {
    /// The sending instance, so it does not relay its own.
    origin: String,
    kind: String,
    machine_id: i64,
    job_id: Option<i64>,
}

/// Carries this instance's live events to the others and theirs to it, until the process ends.
/// Does nothing on SQLite.
pub async fn carry_events(lab: Lab) -> anyhow::Result<()> {
    if lab.engine() != Engine::Postgres {
        return Ok(());
    }
    let Some(mut outbox) = lab.events().open_outbox() else {
        return Ok(());
    };
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(lab.database_url())
        .await
        .context("connecting for live events")?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    let origin = format!("{:016x}", rand::random::<u64>());
    loop {
        tokio::select! {
            change = outbox.recv() => {
                let Some(change) = change else { return Ok(()) };
                let crossing = Crossing {
                    origin: origin.clone(),
                    kind: change.kind.to_owned(),
                    machine_id: change.machine_id,
                    job_id: change.job_id,
                };
                let payload = serde_json::to_string(&crossing)?;
                if let Err(error) = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(%error, "live event not sent to the other instances");
                }
            }
            notification = listener.recv() => {
                // The listener reconnects by itself; what was sent meanwhile is lost, and
                // pages read everything again when their stream reconnects.
                let notification = match notification {
                    Ok(notification) => notification,
                    Err(error) => {
                        tracing::warn!(%error, "live events from other instances");
                        tokio::time::sleep(HEARTBEAT).await;
                        continue;
                    }
                };
                match serde_json::from_str::<Crossing>(notification.payload()) {
                    Ok(crossing) if crossing.origin != origin => {
                        lab.events().relay(&crossing.kind, crossing.machine_id, crossing.job_id);
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "a malformed live event was dropped"),
                }
            }
        }
    }
}
