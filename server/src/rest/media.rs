//! Virtual media (`/api/v1/machines/{id}/media`, `/api/v1/media/{id}`): attach an ISO from the
//! library to a machine's Redfish BMC during one's reservation, list what was attached, detach.
//! The same path as the machine page's media panel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lab::model::MediaAttachment;
use lab::rest_api::{MediaRequest, Paged};

use super::{ApiResult, Body, Caller, Id, Page, Params};
use crate::state::AppState;

#[utoipa::path(get, operation_id = "list_media", path = "/api/v1/machines/{id}/media", tag = "machines", params(("id" = i64, Path), Page), responses((status = 200, description = "Its attachments, newest first", body = Paged<MediaAttachment>), super::Failures))]
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    Params(page): Params<Page>,
) -> ApiResult<Json<Paged<MediaAttachment>>> {
    Ok(Json(
        page.of(state.lab.media_attachments(&actor, id).await?),
    ))
}

#[utoipa::path(post, operation_id = "attach_media", path = "/api/v1/machines/{id}/media", tag = "machines", params(("id" = i64, Path)), request_body = MediaRequest, responses((status = 201, description = "Inserted", body = MediaAttachment), super::Failures))]
pub async fn attach(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    Body(request): Body<MediaRequest>,
) -> ApiResult<(StatusCode, Json<MediaAttachment>)> {
    let attachment = state
        .conductor
        .attach_media(&actor, id, request.image_id)
        .await?;
    Ok((StatusCode::CREATED, Json(attachment)))
}

#[utoipa::path(delete, operation_id = "detach_media", path = "/api/v1/media/{id}", tag = "machines", params(("id" = i64, Path, description = "The attachment")), responses((status = 200, description = "Ejected; its URL is dead", body = MediaAttachment), super::Failures))]
pub async fn detach(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<MediaAttachment>> {
    Ok(Json(state.conductor.detach_media(&actor, id).await?))
}
