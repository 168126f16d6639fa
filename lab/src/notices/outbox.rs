//! The delivery log: each notice's deliveries by email and webhook, claimed by the notifier so
//! two never send one twice, retried with doubling pauses until given up.

use super::*;

impl Lab {
    /// The delivery log of the actor's notices, newest first (the last 200).
    pub async fn deliveries(&self, actor: &Actor) -> Result<Vec<Delivery>> {
        let Some(user_id) = actor.user_id else {
            return Ok(Vec::new());
        };
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT d.id, d.notice_id, n.subject, d.channel, d.target, d.state, d.attempts,
                    d.next_attempt_at, d.last_error, d.sent_at, d.created_at
                 FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
                 WHERE n.user_id = $1 ORDER BY d.id DESC LIMIT 200",
        )
        .bind(user_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Delivery {
                id: r.id,
                notice_id: r.notice_id,
                subject: r.subject,
                channel: NoticeChannel::parse(&r.channel).unwrap_or(NoticeChannel::Email),
                target: r.target,
                state: DeliveryState::parse(&r.state).unwrap_or(DeliveryState::Failed),
                attempts: r.attempts,
                next_attempt_at: r.next_attempt_at,
                last_error: r.last_error,
                sent_at: r.sent_at,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Claims up to `limit` deliveries that are due, for one notifier to attempt now: each is
    /// someone else's again only if no outcome came back within two minutes.
    pub async fn claim_deliveries(&self, limit: i64) -> Result<Vec<Outgoing>> {
        let now = self.now();
        let mut tx = self.write().await?;
        let due: Vec<(i64, i64, String, String, i64, i64, String)> = sqlx::query_as(
            "SELECT d.id, d.notice_id, d.channel, d.target, d.attempts, n.user_id, u.username
             FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
                JOIN users u ON u.id = n.user_id
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1
             ORDER BY d.next_attempt_at, d.id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::new();
        for (delivery_id, notice_id, channel, target, attempts, user_id, username) in due {
            sqlx::query("UPDATE notice_deliveries SET next_attempt_at = $1 WHERE id = $2")
                .bind(now + CLAIM_SECONDS)
                .bind(delivery_id)
                .execute(&mut *tx)
                .await?;
            let notice: NoticeRow = sqlx::query_as(&format!("{SELECT_NOTICES} WHERE n.id = $1"))
                .bind(notice_id)
                .fetch_one(&mut *tx)
                .await?;
            let channel = NoticeChannel::parse(&channel).unwrap_or(NoticeChannel::Email);
            let webhook_secret = if channel == NoticeChannel::Webhook {
                let sealed: Option<Option<Vec<u8>>> = sqlx::query_scalar(
                    "SELECT webhook_secret FROM notice_preferences WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
                match sealed.flatten() {
                    Some(sealed) => {
                        Some(String::from_utf8(self.secrets.open(&sealed)?).map_err(|e| {
                            Error::Secret(format!("webhook secret unreadable: {e}"))
                        })?)
                    }
                    None => None,
                }
            } else {
                None
            };
            claimed.push(Outgoing {
                delivery_id,
                channel,
                target,
                attempts,
                notice: notice.into(),
                username,
                webhook_secret,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records one attempt's outcome: sent, or failed with the reason — retried after a growing
    /// pause until [`MAX_ATTEMPTS`], then given up. Returns the delivery's new state.
    pub async fn record_delivery(
        &self,
        delivery_id: i64,
        outcome: std::result::Result<(), String>,
    ) -> Result<DeliveryState> {
        let now = self.now();
        let attempts: i64 =
            sqlx::query_scalar::<_, i64>("SELECT attempts FROM notice_deliveries WHERE id = $1")
                .bind(delivery_id)
                .fetch_optional(&self.db)
                .await?
                .ok_or(Error::NotFound("delivery"))?
                + 1;
        let (state, error, next) = match &outcome {
            Ok(()) => (DeliveryState::Sent, String::new(), now),
            Err(reason) if attempts >= MAX_ATTEMPTS => (DeliveryState::Failed, reason.clone(), now),
            Err(reason) => (
                DeliveryState::Pending,
                reason.clone(),
                now + backoff_seconds(attempts),
            ),
        };
        sqlx::query(
            "UPDATE notice_deliveries SET state = $1, attempts = $2, last_error = $3,
                next_attempt_at = $4, sent_at = CASE WHEN $1 = 'sent' THEN $5 ELSE sent_at END
             WHERE id = $6",
        )
        .bind(state.as_str())
        .bind(attempts)
        .bind(validate::clip(&error, validate::MAX_TEXT))
        .bind(next)
        .bind(now)
        .bind(delivery_id)
        .execute(&self.db)
        .await?;
        Ok(state)
    }
}
