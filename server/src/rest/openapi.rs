//! The API described: an OpenAPI 3.1 document generated from the handlers' annotations and the
//! types they carry (`GET /api/v1/openapi.json`), and a page that shows it
//! (`GET /api/v1/docs`), self-contained so it works without the internet.

use super::ApiError;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The error answers an API route may give, each in the `{kind, error, fields}` shape.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Failures {
    #[response(status = 400, description = "Malformed: not JSON, a missing header")]
    BadRequest(#[to_schema] ApiError),
    #[response(status = 401, description = "No valid token or session")]
    Unauthenticated(#[to_schema] ApiError),
    #[response(
        status = 403,
        description = "Not allowed (or not now: outside one's reservation)"
    )]
    Forbidden(#[to_schema] ApiError),
    #[response(status = 404, description = "No such thing the caller may see")]
    NotFound(#[to_schema] ApiError),
    #[response(
        status = 409,
        description = "The lab's state says no: a clash, an active job"
    )]
    Conflict(#[to_schema] ApiError),
    #[response(
        status = 413,
        description = "Over the caller's quota, or a body too large"
    )]
    TooLarge(#[to_schema] ApiError),
    #[response(status = 422, description = "A value is wrong; `fields` names each")]
    Invalid(#[to_schema] ApiError),
    #[response(status = 429, description = "Too many attempts")]
    Throttled(#[to_schema] ApiError),
    #[response(status = 500, description = "The server failed")]
    Internal(#[to_schema] ApiError),
    #[response(status = 502, description = "A BMC or an image source failed")]
    Upstream(#[to_schema] ApiError),
    #[response(status = 507, description = "The image store is full")]
    NoSpace(#[to_schema] ApiError),
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A personal API token (account page, or `baas login`)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "baas_session",
                "The browser's session after logging in",
            ))),
        );
        components.add_security_scheme(
            "agent",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Baas-Agent key=…, ts=…, nonce=…, sig=…`: an ed25519 signature over method, \
                 path and query, time, nonce and the body's SHA-256 (see the README)",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "baas",
        description = "Boot as a service: the lab's machines, reservations, images and jobs, \
                       and the doors the network boot and the agent use. Times are Unix seconds.",
    ),
    security(("token" = []), ("session" = [])),
    modifiers(&Security),
    components(schemas(ApiError, lab::ErrorKind, lab::FieldError)),
    paths(
        super::caller::whoami,
        super::events::events,
        super::machines::list,
        super::machines::show,
        super::machines::boot_events,
        super::machines::power_state,
        super::machines::power,
        super::machines::boot_device,
        super::machines::bmc_test,
        super::console::live,
        super::console::machine_log,
        super::console::job_log,
        super::reservations::list,
        super::reservations::create,
        super::reservations::create_any,
        super::reservations::show,
        super::reservations::change,
        super::reservations::end,
        super::reservations::calendar,
        super::reservations::notices,
        super::batches::list,
        super::batches::create,
        super::batches::show,
        super::batches::cancel,
        super::batches::retry,
        super::jobs::list,
        super::jobs::create,
        super::jobs::show,
        super::jobs::cancel,
        super::media::list,
        super::media::attach,
        super::media::detach,
        super::admin::users,
        super::admin::create_user,
        super::admin::change_user,
        super::admin::groups,
        super::admin::create_group,
        super::admin::delete_group,
        super::admin::add_member,
        super::admin::remove_member,
        super::admin::create_machine,
        super::admin::update_machine,
        super::admin::delete_machine,
        super::admin::grants,
        super::admin::grant,
        super::admin::revoke,
        super::admin::limits,
        super::admin::settings,
        super::admin::change_settings,
        super::tokens::change_password,
        super::uploads::change_image,
        super::admin::audit,
        super::admin::discovered,
        super::admin::adopt,
        super::tokens::list,
        super::tokens::create,
        super::tokens::revoke,
        super::uploads::list_images,
        super::uploads::get_image,
        super::uploads::put_whole_image,
        super::uploads::delete_image,
        super::uploads::tus_options,
        super::uploads::create_upload,
        super::uploads::upload_status,
        super::uploads::upload_offset,
        super::uploads::append_upload,
        super::uploads::cancel_upload,
        super::imports::start_import,
        super::content::image_content,
        super::content::media_content,
        super::boot::boot_script,
        super::boot::grub_config,
        super::boot::management_os_file,
        super::boot::arm64_management_os_file,
        super::boot::firmware_file,
        super::agents::enrol,
        super::agents::heartbeat,
        super::agents::job,
        super::agents::image,
        super::agents::progress,
        super::agents::result,
        super::agents::relay,
        super::agents::save_target,
        super::agents::save_piece,
        document,
        docs,
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`: this document. Open to all, like a login page: it describes,
/// it grants nothing.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "documentation", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `GET /api/v1/docs`: the document as a page.
#[utoipa::path(get, path = "/api/v1/docs", tag = "documentation", security(()),
    responses((status = 200, description = "The API reference page", content_type = "text/html", body = String)))]
pub async fn docs() -> Response {
    // Its one script and one style sheet are inline: they carry this answer's nonce.
    let nonce = lab::secrets::random_token(16);
    let page = DOCS_PAGE
        .replacen("<script>", &format!("<script nonce=\"{nonce}\">"), 1)
        .replacen("<style>", &format!("<style nonce=\"{nonce}\">"), 1);
    let mut response = Html(page).into_response();
    if let Ok(policy) = HeaderValue::from_str(&app::content_security_policy(&nonce)) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// A page that reads the document and lists every operation with its parameters, body and
/// answers, and every schema. No outside assets: the lab may have no internet.
const DOCS_PAGE: &str = include_str!("docs.html");

#[cfg(test)]
mod tests {
    use super::*;

    /// Each (method, path) of the document, as `server::rest::served()` spells them.
    fn documented() -> std::collections::BTreeSet<(String, String)> {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut operations = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "put", "post", "delete", "options", "head", "patch"]
                    .contains(&method.as_str())
                {
                    operations.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        operations
    }

    #[test]
    fn every_route_is_documented_and_every_documented_operation_is_a_route() {
        let routes: std::collections::BTreeSet<(String, String)> = super::super::served()
            .iter()
            .map(|(method, path)| (method.to_string(), path.to_string()))
            .collect();
        let documented = documented();
        let missing: Vec<_> = routes.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routes).collect();
        assert!(
            missing.is_empty(),
            "routes missing from the OpenAPI document: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "documented operations that are no route: {extra:?}"
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_with_unique_operation_ids_and_every_schema_it_refers_to() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(
                schemas.contains_key(name),
                "{name} is referred to but not defined"
            );
        }
        let mut ids = std::collections::BTreeSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                if let Some(id) = operation["operationId"].as_str() {
                    assert!(ids.insert(id.to_string()), "operationId {id} is used twice");
                }
            }
        }
        for name in [
            "Machine",
            "Reservation",
            "Job",
            "Image",
            "AppError",
            "HardwareReport",
        ] {
            assert!(schemas.contains_key(name), "no schema {name}");
        }
    }
}
