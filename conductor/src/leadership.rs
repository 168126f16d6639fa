//! Which of several baas instances on one PostgreSQL database runs the background duties (and
//! answers DHCP): the one holding a session-level advisory lock. The lock lives as long as the
//! leader's connection: when the leader dies, PostgreSQL releases it and the next instance to
//! ask (each asks every second) takes over, picking up from the database where the leader left
//! off. On SQLite there is one instance, always the leader.
//!
//! Each election takes a new epoch in the database ([`lab::leadership`]): the duties act under
//! it, so a leader replaced a moment ago (it learns so within a second) cannot act twice with
//! its successor.

use std::time::Duration;

use lab::leadership::Fence;
use lab::{Engine, Lab};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use tokio::sync::watch;

/// The advisory-lock key of leadership ("baaslead" in ASCII).
const LEADER_LOCK: i64 = 0x6261_6173_6c65_6164;
/// How often a follower asks for the lock, and the leader checks it still holds it.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Whether this instance runs the background duties now, and under which epoch.
#[derive(Clone)]
pub struct Leadership {
    role: watch::Receiver<Role>,
    /// The sending side when nobody campaigns (one instance): held so the channel stays open.
    _fixed: Option<std::sync::Arc<watch::Sender<Role>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Standing,
    /// Leading; elected under a fence, or alone (no fence needed).
    Leading(Option<Fence>),
}

impl Leadership {
    /// The leadership of the lab's instances: always this one on SQLite; on PostgreSQL, elected.
    pub fn of(lab: &Lab) -> Leadership {
        match lab.engine() {
            Engine::Sqlite => Leadership::always(),
            Engine::Postgres => Leadership::elect(lab.clone()),
        }
    }

    /// The only instance: always leading.
    pub fn always() -> Leadership {
        let (sender, role) = watch::channel(Role::Leading(None));
        Leadership {
            role,
            _fixed: Some(std::sync::Arc::new(sender)),
        }
    }

    /// Campaigns for the lock on the lab's database, for as long as the process runs.
    pub fn elect(lab: Lab) -> Leadership {
        let (sender, role) = watch::channel(Role::Standing);
        tokio::spawn(campaign(lab, sender));
        Leadership { role, _fixed: None }
    }

    /// Returns once this instance leads (at once when it does already).
    pub async fn wait(&mut self) {
        // An error means the campaign ended, which it never does while the process runs.
        let _ = self
            .role
            .wait_for(|role| matches!(role, Role::Leading(_)))
            .await;
    }

    /// Returns once this instance no longer leads.
    pub async fn lost(&mut self) {
        let _ = self.role.wait_for(|role| *role == Role::Standing).await;
    }

    /// The epoch the duties act under now: `None` alone (nobody to fence off) — and, while
    /// standing by, a fence no claim can pass.
    pub fn fence(&self) -> Option<Fence> {
        match *self.role.borrow() {
            Role::Leading(fence) => fence,
            Role::Standing => Some(Fence::NONE),
        }
    }
}

async fn campaign(lab: Lab, role: watch::Sender<Role>) {
    let holder = format!(
        "{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "baas".into()),
        std::process::id()
    );
    loop {
        let mut conn = match PgConnection::connect(lab.database_url()).await {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(%error, "leadership: cannot reach the database");
                tokio::time::sleep(HEARTBEAT).await;
                continue;
            }
        };
        let mut said = false;
        let won = loop {
            match sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                .bind(LEADER_LOCK)
                .fetch_one(&mut conn)
                .await
            {
                Ok(true) => break true,
                Ok(false) => {
                    if !std::mem::replace(&mut said, true) {
                        tracing::info!("another instance leads; standing by");
                    }
                    tokio::time::sleep(HEARTBEAT).await
                }
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
        // A new epoch before any duty runs: from here on the previous leader's claims fail.
        let fence = match lab.take_leadership(&holder).await {
            Ok(fence) => fence,
            Err(error) => {
                tracing::warn!(%error, "leadership: recording the new epoch failed");
                drop(conn);
                tokio::time::sleep(HEARTBEAT).await;
                continue;
            }
        };
        tracing::info!(
            epoch = fence.epoch(),
            "this instance now runs the background duties and DHCP"
        );
        role.send_replace(Role::Leading(Some(fence)));
        // The lock is as alive as this connection: a failed check means it may be gone.
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            if sqlx::query("SELECT 1").execute(&mut conn).await.is_err() {
                break;
            }
        }
        role.send_replace(Role::Standing);
        tracing::warn!("lost the database connection that held the leadership; standing by");
    }
}
