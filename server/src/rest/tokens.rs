//! The caller's API tokens (`/api/v1/tokens…`): list, create (the secret is in the answer,
//! once), revoke. `baas login` creates one and `baas logout` revokes it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lab::model::ApiToken;
use lab::rest_api::{CreatedToken, NewToken, Paged, PasswordChange};

use super::{ApiResult, Body, Caller, Id, Page, Params};
use crate::state::AppState;

#[utoipa::path(get, operation_id = "list_tokens", path = "/api/v1/tokens", tag = "session", params(Page), responses((status = 200, description = "The caller's tokens", body = Paged<ApiToken>), super::Failures))]
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(page): Params<Page>,
) -> ApiResult<Json<Paged<ApiToken>>> {
    Ok(Json(page.of(state.lab.api_tokens(&actor).await?)))
}

#[utoipa::path(post, operation_id = "create_token", path = "/api/v1/tokens", tag = "session", request_body = NewToken, responses((status = 201, description = "Created; the secret is shown this once", body = CreatedToken), super::Failures))]
pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Body(new): Body<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let (token, secret) = state
        .lab
        .create_api_token(&actor, &new.name, new.valid_days)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: token.id,
            name: token.name,
            token: secret,
            expires_at: token.expires_at,
        }),
    ))
}

#[utoipa::path(delete, operation_id = "revoke_token", path = "/api/v1/tokens/{id}", tag = "session", params(("id" = i64, Path)), responses((status = 204, description = "Revoked"), super::Failures))]
pub async fn revoke(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    state.lab.revoke_api_token(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own password; their other sessions end (tokens stay valid until revoked).
#[utoipa::path(post, path = "/api/v1/account/password", tag = "session", request_body = PasswordChange, responses((status = 204, description = "Changed"), super::Failures))]
pub async fn change_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Body(change): Body<PasswordChange>,
) -> ApiResult<StatusCode> {
    state
        .lab
        .change_own_password(&actor, &change.current_password, &change.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
