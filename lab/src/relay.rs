//! The relay's plan: from which agent each agent of a batch streams the image.
//!
//! The agents form a pipeline in the order they join (each asks when it starts its download):
//! the first streams from baas, every later one from the agent that joined just before it. A
//! pipeline rather than a tree because every agent has one uplink: in a tree of fan-out k an
//! inner agent splits its uplink k ways, in a pipeline each link carries the image exactly once,
//! so N machines take about the time of one plus a hop's delay each (Kadeploy's Kastafior does
//! the same). Joining in arrival order copes with machines that boot at different speeds: no
//! agent waits for a slower one before it.
//!
//! When an upstream fails (it died, stalled, or no longer holds the bytes), its child asks again
//! naming it, and gets the nearest agent before it that is still streaming, or baas. Each
//! child's grant for its upstream is an HMAC under that upstream's key (sealed in its job), so
//! a relay serves only the batch's image, only to the agents baas sent, only while its job runs.

use crate::agent_protocol::{relay_grant, RelayPlan, RelayRequest, Upstream};
use crate::agents::Agent;
use crate::model::{JobKind, JobState};
use crate::secrets::random_token;
use crate::{Error, Lab, Result};

/// How long a grant lasts: longer than any stream of a sane image through one relay; a child
/// asks again after a failure anyway.
const GRANT_SECONDS: i64 = 3600;
/// An upstream whose job has not moved or reported for this long is passed over.
const QUIET_SECONDS: i64 = 30;

/// A job before this one in the pipeline.
#[derive(sqlx::FromRow)]
struct PipelineJob {
    id: i64,
    relay_address: String,
    state: String,
    progress_at: Option<i64>,
    state_at: i64,
    relay_key: Vec<u8>,
}

impl Lab {
    /// Joins the agent's deploy to its batch's pipeline (the first time: its place and its relay
    /// address, `address` as baas sees the agent with the `port` it serves on) and names its
    /// upstream: the nearest agent before it that is still streaming and not in `avoid`.
    pub async fn agent_relay(
        &self,
        agent: &Agent,
        address: &str,
        request: &RelayRequest,
    ) -> Result<RelayPlan> {
        let job_id = agent.job_id.ok_or(Error::NotFound("job"))?;
        let job = self.load_job(job_id).await?;
        let batch_id = job
            .batch_id
            .ok_or_else(|| Error::NotNow("this job is not part of a batch".into()))?;
        if job.kind != JobKind::Deploy || !job.state.agent_at_work() {
            return Err(Error::NotNow(format!(
                "job {job_id} is {}; the relay is for deploys being written",
                job.state
            )));
        }
        if !self.relays(batch_id).await? {
            return Err(Error::NotNow(format!(
                "batch {batch_id} streams directly from baas"
            )));
        }
        if request.port == 0 {
            return Err(Error::invalid("port", "name the port the relay serves on"));
        }
        // Canonical: an IPv4 agent seen on a dual-stack socket is `::ffff:a.b.c.d`, which a
        // management OS without IPv6 could not reach.
        let ip = crate::validate::canonical_ip(address)
            .ok_or_else(|| Error::NotNow("baas cannot tell the agent's address".into()))?;
        let relay_address = std::net::SocketAddr::new(ip, request.port).to_string();

        let mut tx = self.write().await?;
        let (position, sealed): (Option<i64>, Option<Vec<u8>>) =
            sqlx::query_as("SELECT relay_position, relay_key FROM boot_jobs WHERE id = $1")
                .bind(job_id)
                .fetch_one(&mut *tx)
                .await?;
        let (position, key) = match (position, sealed) {
            (Some(position), Some(sealed)) => {
                sqlx::query("UPDATE boot_jobs SET relay_address = $1 WHERE id = $2")
                    .bind(&relay_address)
                    .bind(job_id)
                    .execute(&mut *tx)
                    .await?;
                (position, self.secrets.open(&sealed)?)
            }
            _ => {
                let key = random_token(32).into_bytes();
                let position: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(relay_position), 0) + 1 FROM boot_jobs WHERE batch_id = $1",
                )
                .bind(batch_id)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE boot_jobs SET relay_address = $1, relay_position = $2, relay_key = $3
                     WHERE id = $4",
                )
                .bind(&relay_address)
                .bind(position)
                .bind(self.secrets.seal(&key)?)
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
                (position, key)
            }
        };
        tx.commit().await?;

        let now = self.now();
        let ahead: Vec<PipelineJob> = sqlx::query_as(
            "SELECT id, relay_address, state, progress_at,
                    COALESCE(state_at, created_at) AS state_at, relay_key
             FROM boot_jobs
             WHERE batch_id = $1 AND relay_position < $2 AND relay_address <> ''
               AND relay_key IS NOT NULL
             ORDER BY relay_position DESC",
        )
        .bind(batch_id)
        .bind(position)
        .fetch_all(&self.db)
        .await?;
        let streaming: Vec<PipelineJob> = ahead
            .into_iter()
            .filter(|job| {
                let heard = job.progress_at.unwrap_or(job.state_at).max(job.state_at);
                matches!(
                    JobState::parse(&job.state),
                    Some(JobState::Enrolled | JobState::Writing | JobState::Verifying)
                ) && now - heard <= QUIET_SECONDS
                    && !request.avoid.contains(&job.id)
            })
            .collect();
        let image_sha256: Option<String> = match &job.image {
            Some(image) => {
                sqlx::query_scalar("SELECT sha256 FROM images WHERE id = $1")
                    .bind(image.id)
                    .fetch_optional(&self.db)
                    .await?
            }
            None => None,
        };
        let upstream = match (streaming.first(), image_sha256) {
            (Some(parent), Some(sha256)) => {
                let parent_key = self.secrets.open(&parent.relay_key)?;
                Some(Upstream {
                    job_id: parent.id,
                    url: format!("http://{}/relay/image", parent.relay_address),
                    grant: relay_grant(
                        &parent_key,
                        parent.id,
                        job_id,
                        &sha256,
                        now + GRANT_SECONDS,
                    ),
                    depth: (streaming.len() - 1) as u32,
                })
            }
            _ => None,
        };
        tracing::info!(
            job = job_id,
            batch = batch_id,
            position,
            upstream = upstream.as_ref().map(|u| u.job_id),
            "relay plan"
        );
        Ok(RelayPlan {
            key: hex::encode(&key),
            upstream,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent_protocol::check_relay_grant;
    use crate::batches::BatchTargets;
    use crate::images::tests::{new_upload, upload_whole};
    use crate::jobs::tests::{netboot_as, raw_disk};
    use crate::model::Transfer;
    use crate::testing::{admin, lab, machine_input};

    /// A batch of three machines (`transfer`), each netbooted and its agent enrolled from
    /// 10.0.9.(1+i); returns the agents and the image's stored SHA-256.
    async fn enrolled_batch(lab: &Lab, transfer: Transfer) -> (Vec<Agent>, String) {
        let mut machines = Vec::new();
        for i in 0..3 {
            machines.push(
                lab.create_machine(
                    &admin(),
                    machine_input(&format!("node-{i}"), &format!("52:54:00:00:09:0{i}")),
                )
                .await
                .unwrap()
                .id,
            );
        }
        let alice = crate::testing::user(lab, "alice").await;
        let raw = raw_disk(1 << 20);
        let image = upload_whole(
            lab,
            &alice,
            crate::model::NewUpload {
                visibility: "public".into(),
                ..new_upload("debian", Some(raw.len()))
            },
            &raw,
        )
        .await
        .unwrap();
        lab.create_batch(
            &admin(),
            image,
            BatchTargets::Machines(machines),
            Some(transfer),
        )
        .await
        .unwrap();
        let mut agents = Vec::new();
        for i in 0..3 {
            let (mac, address) = (format!("52:54:00:00:09:0{i}"), format!("10.0.9.{}", 1 + i));
            let token = netboot_as(lab, &mac, &address).await;
            agents.push(
                lab.enrol_agent(&token, &mac, &format!("key-{i}"), &address)
                    .await
                    .unwrap(),
            );
        }
        let sha = lab
            .agent_order(&agents[0])
            .await
            .unwrap()
            .image
            .unwrap()
            .stored_sha256;
        (agents, sha)
    }

    fn join(port: u16, avoid: &[i64]) -> RelayRequest {
        RelayRequest {
            port,
            avoid: avoid.to_vec(),
        }
    }

    #[tokio::test]
    async fn agents_stream_from_the_one_that_joined_before_them_with_a_grant_it_checks() {
        let (lab, _dir) = lab().await;
        let (agents, sha) = enrolled_batch(&lab, Transfer::Relay).await;
        let jobs: Vec<i64> = agents.iter().map(|a| a.job_id.unwrap()).collect();
        assert!(lab.agent_order(&agents[0]).await.unwrap().relay);

        let first = lab
            .agent_relay(&agents[0], "10.0.9.1", &join(7001, &[]))
            .await
            .unwrap();
        assert_eq!(first.upstream, None, "the first streams from baas");
        let second = lab
            .agent_relay(&agents[1], "10.0.9.2", &join(7002, &[]))
            .await
            .unwrap();
        let up = second.upstream.clone().unwrap();
        assert_eq!(up.job_id, jobs[0]);
        assert_eq!(up.url, "http://10.0.9.1:7001/relay/image");
        assert_eq!(up.depth, 0);
        // The grant opens the first agent's relay, for the second's job, for this image only.
        let key = hex::decode(&first.key).unwrap();
        let now = crate::now();
        assert_eq!(
            check_relay_grant(&key, &up.grant, jobs[0], &sha, now),
            Ok(jobs[1])
        );
        assert!(check_relay_grant(&key, &up.grant, jobs[1], &sha, now).is_err());
        assert!(check_relay_grant(&key, &up.grant, jobs[0], "beef", now).is_err());
        let other_key = hex::decode(&second.key).unwrap();
        assert!(check_relay_grant(&other_key, &up.grant, jobs[0], &sha, now).is_err());
        assert!(
            check_relay_grant(&key, &up.grant, jobs[0], &sha, now + 2 * GRANT_SECONDS).is_err()
        );

        // The third streams from the second; told the second failed it, from the first; told
        // both failed it, from baas.
        let third = lab
            .agent_relay(&agents[2], "10.0.9.3", &join(7003, &[]))
            .await
            .unwrap();
        let up = third.upstream.unwrap();
        assert_eq!((up.job_id, up.depth), (jobs[1], 1));
        let again = lab
            .agent_relay(&agents[2], "10.0.9.3", &join(7003, &[jobs[1]]))
            .await
            .unwrap();
        assert_eq!(again.upstream.unwrap().job_id, jobs[0]);
        assert_eq!(again.key, third.key, "a job keeps its key");
        let alone = lab
            .agent_relay(&agents[2], "10.0.9.3", &join(7003, &jobs[..2]))
            .await
            .unwrap();
        assert_eq!(alone.upstream, None);

        // An agent whose job ended is no one's upstream any more.
        lab.job_event(jobs[1], crate::jobs::JobEvent::Cancel, "test")
            .await
            .unwrap();
        let after = lab
            .agent_relay(&agents[2], "10.0.9.3", &join(7003, &[]))
            .await
            .unwrap();
        assert_eq!(after.upstream.unwrap().job_id, jobs[0]);
        match lab.agent_relay(&agents[0], "10.0.9.1", &join(0, &[])).await {
            Err(Error::Invalid(fields)) => assert!(fields.to_string().contains("port")),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_direct_batch_has_no_relay() {
        let (lab, _dir) = lab().await;
        let (agents, _) = enrolled_batch(&lab, Transfer::Direct).await;
        assert!(!lab.agent_order(&agents[0]).await.unwrap().relay);
        assert!(matches!(
            lab.agent_relay(&agents[0], "10.0.9.1", &join(7001, &[]))
                .await,
            Err(Error::NotNow(_))
        ));
    }
}
