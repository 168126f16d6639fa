//! Live events across several baas instances on one PostgreSQL database: each instance sends
//! its announcements with `NOTIFY` and relays what it hears from the others to its own browsers
//! and API streams. PostgreSQL's own primitives coordinate them; there is no protocol of our
//! own between instances. (Which instance runs the duties is `conductor::leadership`.) On
//! SQLite there is one instance and nothing crosses.

use std::time::Duration;

use anyhow::Context;
use lab::{Engine, Lab};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPoolOptions};

/// The NOTIFY channel live events cross on.
const CHANNEL: &str = "baas_events";
/// How long to wait after the listener failed before listening again.
const RETRY: Duration = Duration::from_secs(1);

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
    tracing::info!("live events: carried to and from the other instances");
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
                        tokio::time::sleep(RETRY).await;
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
