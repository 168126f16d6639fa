//! Batches from the portal: deploy one image to every machine of a reservation (or of the set
//! it was booked with), follow the batch, cancel it, retry its failed machines.

use lab::model::Batch;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::jobs::DeployableImage;
use crate::error::AppError;

/// A reservation (or set) the caller can deploy to now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployTarget {
    /// The reservation's id (the set's first for a set).
    pub reservation: i64,
    /// `node-01, node-02, node-03 until 2026-12-07 18:00 UTC`.
    pub label: String,
    pub machines: usize,
}

/// The batch form: what can be deployed where, and the caller's recent batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchFormData {
    pub targets: Vec<DeployTarget>,
    pub images: Vec<DeployableImage>,
    pub recent: Vec<Batch>,
}

#[server(endpoint = "batches/form")]
pub async fn batch_form() -> Result<BatchFormData, AppError> {
    use crate::auth::{actor, lab};
    let (actor, lab) = (actor().await?, lab()?);
    let now = lab::now();
    let mut targets: Vec<DeployTarget> = Vec::new();
    let mut sets: std::collections::BTreeMap<i64, Vec<lab::model::Reservation>> =
        Default::default();
    for r in lab.my_reservations(&actor).await? {
        if r.state == lab::model::ReservationState::Active && r.start_at <= now && r.end_at > now {
            sets.entry(r.set_id.unwrap_or(r.id)).or_default().push(r);
        }
    }
    for (id, members) in sets {
        let until = members.iter().map(|r| r.end_at).min().unwrap_or(now);
        let names: Vec<String> = members.iter().map(|r| r.machine_name.clone()).collect();
        targets.push(DeployTarget {
            reservation: id,
            label: format!(
                "{} until {}",
                names.join(", "),
                lab::model::format_utc(until)
            ),
            machines: members.len(),
        });
    }
    targets.sort_by_key(|t| std::cmp::Reverse(t.machines));
    let images = crate::api::jobs::deployable_images(&lab, &actor).await?;
    let recent = lab.my_batches(&actor).await?;
    Ok(BatchFormData {
        targets,
        images,
        recent,
    })
}

/// Deploys the image to every machine of the reservation (or its set); `transfer` is `auto`,
/// `relay` or `direct`.
#[server(endpoint = "batches/create")]
pub async fn create_batch(
    reservation: i64,
    image_id: i64,
    transfer: String,
) -> Result<Batch, AppError> {
    use crate::auth::{actor, lab};
    let transfer = match transfer.as_str() {
        "" | "auto" => None,
        text => Some(
            lab::model::Transfer::parse(text)
                .ok_or_else(|| AppError::invalid("transfer", "must be auto, relay or direct"))?,
        ),
    };
    Ok(lab()?
        .create_batch(
            &actor().await?,
            image_id,
            lab::batches::BatchTargets::Reservation(reservation),
            transfer,
        )
        .await?)
}

#[server(endpoint = "batches/show")]
pub async fn show_batch(id: i64) -> Result<Batch, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.batch(&actor().await?, id).await?)
}

#[server(endpoint = "batches/cancel")]
pub async fn cancel_batch(id: i64) -> Result<Batch, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.cancel_batch(&actor().await?, id).await?)
}

#[server(endpoint = "batches/retry")]
pub async fn retry_batch(id: i64) -> Result<Batch, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.retry_batch(&actor().await?, id).await?)
}
