//! Every page and every server function, tried as anonymous, as a user without permission on the
//! machine, as a user with permission, and as admin. The lists of routes and server functions
//! come from the app itself: a new one without an entry here fails the test.

mod common;

use std::collections::BTreeSet;

use common::{TestServer, ADMIN_PASSWORD, PASSWORD};
use lab::model::{Level, Subject};
use lab::Actor;

#[derive(Clone, Copy, Debug)]
enum Role {
    Anonymous,
    Stranger,
    Permitted,
    Admin,
}

const ROLES: [Role; 4] = [
    Role::Anonymous,
    Role::Stranger,
    Role::Permitted,
    Role::Admin,
];

/// Ids the matrix acts on, made before it runs.
struct Fixture {
    machine: i64,
    /// Machines without jobs, one per role, for the delete case.
    doomed_machines: Vec<i64>,
    /// A machine the use holder has a reservation on, for the API's job creation.
    job_machine: i64,
    reservation: i64,
    release_by_role: Vec<i64>,
    cancel_by_role: Vec<i64>,
    other_user: i64,
    group: i64,
    spare_groups: Vec<i64>,
    grants: Vec<i64>,
    slot_base: i64,
    image: i64,
    spare_images: Vec<i64>,
    uploads: Vec<String>,
    spare_uploads: Vec<String>,
    tokens: Vec<i64>,
    /// One open boot job per role, on the spare machines.
    boot_jobs: Vec<i64>,
    /// A reservation of the permitted user running now, on a machine without jobs, for the
    /// batch form; and a batch of theirs for each side (server functions, REST), on machines
    /// they hold now.
    batch_reservations: [i64; 2],
    batches: [i64; 2],
    /// A live virtual-media attachment for each detach case (Redfish machines the use holder
    /// holds no reservation on now).
    media: [i64; 2],
}

fn machine_form(name: &str, mac: &str) -> String {
    format!(
        "input[name]={name}&input[macs]={mac}&input[platform]=x86_64-uefi&input[bmc_kind]=none&input[bmc_address]=\
         &input[bmc_username]=&input[bmc_password]=&input[location]=lab&input[tags]=&input[description]=&input[state]=available"
    )
}

fn datetime(unix: i64) -> String {
    lab::model::to_datetime_local(unix)
}

/// (server function path, request body for a role, expected status for each role in `ROLES`).
type Case = (&'static str, fn(&Fixture, usize) -> String, [u16; 4]);

fn server_function_cases() -> Vec<Case> {
    vec![
        ("/api/me", |_, _| String::new(), [200, 200, 200, 200]),
        (
            "/api/change_password",
            |_, _| "current_password=wrong-one&new_password=whatever-123".into(),
            [401, 422, 422, 422],
        ),
        ("/api/dashboard", |_, _| String::new(), [401, 200, 200, 200]),
        (
            "/api/machine",
            |f, _| format!("id={}", f.machine),
            [401, 404, 200, 200],
        ),
        (
            "/api/update_machine",
            |f, _| {
                format!(
                    "id={}&{}",
                    f.machine,
                    machine_form("node1", "52:54:00:00:00:01")
                )
            },
            [401, 404, 403, 200],
        ),
        (
            "/api/admin/create_machine",
            |_, role| machine_form(&format!("new{role}"), &format!("52:54:00:00:01:0{role}")),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/delete_machine",
            |f, role| format!("id={}", f.doomed_machines[role]),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/set_grant",
            |f, _| {
                format!(
                    "machine_id={}&subject_kind=group&subject_name=team&level=view",
                    f.machine
                )
            },
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/revoke_grant",
            |f, role| format!("grant_id={}", f.grants[role]),
            [401, 403, 403, 200],
        ),
        (
            "/api/reserve",
            |f, role| {
                let start = f.slot_base + role as i64 * 7200;
                format!(
                    "machine_id={}&start={}&end={}&note=",
                    f.machine,
                    datetime(start),
                    datetime(start + 3600)
                )
            },
            [401, 404, 200, 200],
        ),
        (
            "/api/reschedule",
            |f, role| {
                let start = f.slot_base - 20 * 3600;
                format!(
                    "id={}&start={}&end={}",
                    f.reservation,
                    datetime(start),
                    datetime(start + 3600 + role as i64 * 60)
                )
            },
            [401, 404, 200, 200],
        ),
        (
            "/api/release",
            |f, role| format!("id={}", f.release_by_role[role]),
            [401, 404, 200, 200],
        ),
        (
            "/api/cancel",
            |f, role| format!("id={}", f.cancel_by_role[role]),
            [401, 404, 403, 200],
        ),
        (
            "/api/my_reservations",
            |_, _| String::new(),
            [401, 200, 200, 200],
        ),
        (
            "/api/admin/users",
            |_, _| String::new(),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/create_user",
            |_, role| format!("username=created{role}&display_name=&password=long-enough-1"),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/set_user_disabled",
            |f, _| format!("user_id={}&disabled=false", f.other_user),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/reset_password",
            |f, _| format!("user_id={}&new_password=another-one-1", f.other_user),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/groups",
            |_, _| String::new(),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/create_group",
            |_, role| format!("name=group{role}&description="),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/delete_group",
            |f, role| format!("group_id={}", f.spare_groups[role]),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/set_group_member",
            |f, _| format!("group_id={}&username=other&member=true", f.group),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/audit",
            |_, _| "actor=&action=&target=".into(),
            [401, 403, 403, 200],
        ),
        ("/api/limits", |_, _| String::new(), [401, 200, 200, 200]),
        // The fixture machine has no BMC: admins learn that (409); a use holder outside their reservation gets 403.
        (
            "/api/bmc/power_state",
            |f, _| format!("machine_id={}", f.machine),
            [401, 404, 403, 409],
        ),
        (
            "/api/bmc/power",
            |f, _| format!("machine_id={}&action=on", f.machine),
            [401, 404, 403, 409],
        ),
        (
            "/api/bmc/boot_device",
            |f, _| format!("machine_id={}&device=pxe", f.machine),
            [401, 404, 403, 409],
        ),
        (
            "/api/bmc/test",
            |f, _| format!("machine_id={}", f.machine),
            [401, 404, 403, 409],
        ),
        (
            "/api/images",
            |_, _| "search=&format=&mine=false&all_versions=false".into(),
            [401, 200, 200, 200],
        ),
        (
            "/api/image",
            |f, _| format!("id={}", f.image),
            [401, 404, 200, 200],
        ),
        (
            "/api/update_image",
            |f, _| format!("id={}&description=d&visibility=private&group=", f.image),
            [401, 404, 200, 200],
        ),
        (
            "/api/delete_image",
            |f, role| format!("id={}", f.spare_images[4 + role]),
            [401, 404, 200, 200],
        ),
        ("/api/tokens", |_, _| String::new(), [401, 200, 200, 200]),
        (
            "/api/create_token",
            |_, _| "name=script&valid_days=30".into(),
            [401, 200, 200, 200],
        ),
        (
            "/api/revoke_token",
            |f, role| format!("id={}", f.tokens[role]),
            [401, 404, 200, 200],
        ),
        (
            "/api/admin/set_image_quota",
            |f, _| format!("user_id={}&quota_gib=10", f.other_user),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/set_default_image_quota",
            |_, _| "quota_gib=60".into(),
            [401, 403, 403, 200],
        ),
        (
            "/api/media/panel",
            |f, _| format!("machine_id={}", f.machine),
            [401, 404, 200, 200],
        ),
        // No BMC on the fixture machine: as for power, admins learn that, a holder outside
        // their reservation is refused.
        (
            "/api/media/attach",
            |f, _| format!("machine_id={}&image_id={}", f.machine, f.image),
            [401, 404, 403, 409],
        ),
        (
            "/api/media/detach",
            |f, _| format!("attachment_id={}", f.media[0]),
            [401, 404, 403, 200],
        ),
        (
            "/api/admin/discovered",
            |_, _| String::new(),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/discovery",
            |_, _| String::new(),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/set_discovery_policy",
            |_, _| "policy=ignore".into(),
            [401, 403, 403, 200],
        ),
        (
            "/api/batches/form",
            |_, _| String::new(),
            [401, 200, 200, 200],
        ),
        // The permitted user deploys to what they hold; the admin then meets its active job.
        (
            "/api/batches/create",
            |f, _| {
                format!(
                    "reservation={}&image_id={}&transfer=auto",
                    f.batch_reservations[0], f.image
                )
            },
            [401, 404, 200, 409],
        ),
        (
            "/api/batches/show",
            |f, _| format!("id={}", f.batches[0]),
            [401, 404, 200, 200],
        ),
        // Each cancel ends the job the retry before it started.
        (
            "/api/batches/cancel",
            |f, _| format!("id={}", f.batches[0]),
            [401, 404, 200, 200],
        ),
        (
            "/api/batches/retry",
            |f, _| format!("id={}", f.batches[0]),
            [401, 404, 200, 200],
        ),
        (
            "/api/jobs/panel",
            |f, _| format!("machine_id={}", f.machine),
            [401, 404, 200, 200],
        ),
        // Refused outside a reservation; an admin passes authorization and meets the image
        // check (nothing is created).
        (
            "/api/jobs/create",
            |f, _| format!("machine_id={}&kind=deploy&image_id=999999", f.machine),
            [401, 404, 403, 422],
        ),
        // A use holder outside their reservation may not boot the machine.
        (
            "/api/boot_job",
            |f, _| format!("machine_id={}", f.machine),
            [401, 404, 403, 200],
        ),
        (
            "/api/cancel_boot_job",
            |f, role| format!("job_id={}", f.boot_jobs[role]),
            [401, 404, 404, 200],
        ),
        (
            "/api/admin/adopt",
            |_, _| "mac=52:54:00:ff:ff:ff&name=adopted&platform=".into(),
            [401, 403, 403, 404],
        ),
        (
            "/api/admin/set_limits",
            |_, _| "max_duration_hours=72&max_advance_days=30".into(),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/import_networks",
            |_, _| String::new(),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/set_import_networks",
            |_, _| "allowed_networks=10.9.0.0%2F16".into(),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/boot_programs",
            |_, _| String::new(),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/set_boot_programs",
            |_, _| {
                "x86_64_bios=undionly.kpxe&x86_64_uefi=snponly.efi&arm64_uefi=ipxe-arm64.efi&unknown=ipxe.efi".into()
            },
            [401, 403, 403, 200],
        ),
        ("/api/notices", |_, _| String::new(), [401, 200, 200, 200]),
        (
            "/api/unread_notices",
            |_, _| String::new(),
            [200, 200, 200, 200],
        ),
        (
            "/api/mark_notices_read",
            |_, _| String::new(),
            [401, 200, 200, 200],
        ),
        (
            "/api/notice_preferences",
            |_, _| String::new(),
            [401, 200, 200, 200],
        ),
        (
            "/api/set_notice_preferences",
            |_, _| {
                "email_address=someone%40lab.example&portal=on&email=on&webhook_url=&webhook_secret=".into()
            },
            [401, 200, 200, 200],
        ),
        (
            "/api/deliveries",
            |_, _| String::new(),
            [401, 200, 200, 200],
        ),
        (
            "/api/reservation",
            |f, _| format!("id={}", f.reservation),
            [401, 404, 200, 200],
        ),
        // Authorized callers meet the amount's check (nothing changes).
        (
            "/api/extend_reservation",
            |f, _| format!("id={}&minutes=0", f.reservation),
            [401, 404, 422, 422],
        ),
        (
            "/api/admin/notice_settings",
            |_, _| String::new(),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/set_notice_settings",
            |_, _| {
                "smtp_host=&smtp_port=25&smtp_security=starttls&smtp_username=&smtp_password=&sender=&lead_minutes=60".into()
            },
            [401, 403, 403, 200],
        ),
        (
            "/api/calendar",
            |_, _| "tag=&from=&days=7".into(),
            [401, 200, 200, 200],
        ),
        (
            "/api/reserve_any",
            |f, role| {
                let start = f.slot_base + 200 * 3600 + role as i64 * 7200;
                format!(
                    "tag=pool&count=1&start={}&end={}&note=",
                    datetime(start),
                    datetime(start + 3600)
                )
            },
            [401, 404, 200, 200],
        ),
        (
            "/api/set_reset_policy",
            |f, _| format!("machine_id={}&image_id=", f.machine),
            [401, 404, 403, 200],
        ),
        (
            "/api/raw_images",
            |_, _| String::new(),
            [401, 200, 200, 200],
        ),
        (
            "/api/admin/default_reset_image",
            |_, _| String::new(),
            [401, 403, 403, 200],
        ),
        (
            "/api/admin/set_default_reset_image",
            |_, _| "image_id=".into(),
            [401, 403, 403, 200],
        ),
    ]
}

/// A reservation of the matrix machine in a slot of the role's own, after all the others.
/// Any free machine tagged `pool` (only the fixture's pool machine is), one slot per role.
fn rest_any_reservation_body(f: &Fixture, role: usize) -> Vec<u8> {
    let start = f.slot_base + 100 * 3600 + role as i64 * 7200;
    format!(
        r#"{{"tag":"pool","start_at":{start},"end_at":{},"note":"matrix"}}"#,
        start + 3600
    )
    .into_bytes()
}

fn rest_reservation_body(f: &Fixture, role: usize) -> Vec<u8> {
    let start = f.slot_base + 100 * 3600 + role as i64 * 7200;
    format!(
        r#"{{"machine_id":{},"start_at":{start},"end_at":{},"note":"matrix"}}"#,
        f.machine,
        start + 3600
    )
    .into_bytes()
}

/// An inventory job at a time inside the use holder's reservation of the jobs machine.
/// A batch of the second machine the permitted user holds now (the server functions' is the
/// first's).
fn rest_batch_body(f: &Fixture, _: usize) -> Vec<u8> {
    format!(
        r#"{{"image_id":{},"reservation":{}}}"#,
        f.image, f.batch_reservations[1]
    )
    .into_bytes()
}

fn rest_job_body(f: &Fixture, _: usize) -> Vec<u8> {
    format!(
        r#"{{"machine_id":{},"kind":"inventory","at":{}}}"#,
        f.job_machine,
        f.slot_base - 20 * 3600 + 600
    )
    .into_bytes()
}

/// A raw disk image small enough for the matrix.
fn tiny_disk() -> Vec<u8> {
    let mut disk = vec![0u8; 4096];
    disk[510] = 0x55;
    disk[511] = 0xaa;
    disk
}

/// (method, route as in `server::rest::served()`, concrete path for a role, headers, body,
/// expected status for each role).
type RestCase = (
    &'static str,
    &'static str,
    fn(&Fixture, usize) -> String,
    &'static [(&'static str, &'static str)],
    fn(&Fixture, usize) -> Vec<u8>,
    [u16; 4],
);

fn rest_cases() -> Vec<RestCase> {
    const PATCH: &[(&str, &str)] = &[
        ("content-type", "application/offset+octet-stream"),
        ("upload-offset", "0"),
    ];
    // "name tmp" in tus metadata (base64 of "tmp" is dG1w).
    const CREATE: &[(&str, &str)] = &[("upload-length", "1000"), ("upload-metadata", "name dG1w")];
    const JSON: &[(&str, &str)] = &[("content-type", "application/json")];
    vec![
        (
            "GET",
            "/api/v1/whoami",
            |_, _| "/api/v1/whoami".into(),
            &[],
            |_, _| Vec::new(),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/v1/events",
            |_, _| "/api/v1/events?max_seconds=0".into(),
            &[],
            |_, _| Vec::new(),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/v1/images",
            |_, _| "/api/v1/images".into(),
            &[],
            |_, _| Vec::new(),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/v1/images/{id}",
            |f, _| format!("/api/v1/images/{}", f.image),
            &[],
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        (
            "PUT",
            "/api/v1/images/{id}",
            |_, role| format!("/api/v1/images/put{role}"),
            &[],
            |_, _| tiny_disk(),
            [401, 201, 201, 201],
        ),
        (
            "DELETE",
            "/api/v1/images/{id}",
            |f, role| format!("/api/v1/images/{}", f.spare_images[role]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 204, 204],
        ),
        (
            "OPTIONS",
            "/api/v1/uploads",
            |_, _| "/api/v1/uploads".into(),
            &[],
            |_, _| Vec::new(),
            [204, 204, 204, 204],
        ),
        (
            "POST",
            "/api/v1/uploads",
            |_, _| "/api/v1/uploads".into(),
            CREATE,
            |_, _| Vec::new(),
            [401, 201, 201, 201],
        ),
        (
            "GET",
            "/api/v1/uploads/{id}",
            |f, role| format!("/api/v1/uploads/{}", f.uploads[role]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        (
            "HEAD",
            "/api/v1/uploads/{id}",
            |f, role| format!("/api/v1/uploads/{}", f.uploads[role]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        (
            "PATCH",
            "/api/v1/uploads/{id}",
            |f, role| format!("/api/v1/uploads/{}", f.uploads[role]),
            PATCH,
            |_, _| vec![1; 10],
            [401, 404, 204, 204],
        ),
        (
            "DELETE",
            "/api/v1/uploads/{id}",
            |f, role| format!("/api/v1/uploads/{}", f.spare_uploads[role]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 204, 204],
        ),
        // The API's description grants nothing: open to all.
        (
            "GET",
            "/api/v1/openapi.json",
            |_, _| "/api/v1/openapi.json".into(),
            &[],
            |_, _| Vec::new(),
            [200; 4],
        ),
        (
            "GET",
            "/api/v1/docs",
            |_, _| "/api/v1/docs".into(),
            &[],
            |_, _| Vec::new(),
            [200; 4],
        ),
        (
            "GET",
            "/api/v1/machines",
            |_, _| "/api/v1/machines?tag=&limit=10".into(),
            &[],
            |_, _| Vec::new(),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/v1/machines/{id}",
            |f, _| format!("/api/v1/machines/{}", f.machine),
            &[],
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        (
            "GET",
            "/api/v1/machines/{id}/boot-events",
            |f, _| format!("/api/v1/machines/{}/boot-events", f.machine),
            &[],
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        // The use holder's reservation has not begun; the machine has no BMC (admin).
        (
            "GET",
            "/api/v1/machines/{id}/power",
            |f, _| format!("/api/v1/machines/{}/power", f.machine),
            &[],
            |_, _| Vec::new(),
            [401, 404, 403, 409],
        ),
        (
            "POST",
            "/api/v1/machines/{id}/power",
            |f, _| format!("/api/v1/machines/{}/power", f.machine),
            JSON,
            |_, _| br#"{"action":"on"}"#.to_vec(),
            [401, 404, 403, 409],
        ),
        (
            "GET",
            "/api/v1/machines/{id}/console",
            |f, _| format!("/api/v1/machines/{}/console", f.machine),
            &[],
            |_, _| Vec::new(),
            // Use without a reservation: not now; the admin reaches the check for a BMC.
            [401, 404, 403, 409],
        ),
        (
            "GET",
            "/api/v1/machines/{id}/console/log",
            |f, _| format!("/api/v1/machines/{}/console/log", f.machine),
            &[],
            |_, _| Vec::new(),
            [401, 404, 403, 200],
        ),
        (
            "GET",
            "/api/v1/jobs/{id}/console",
            |f, role| format!("/api/v1/jobs/{}/console", f.boot_jobs[role]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 404, 200],
        ),
        (
            "PUT",
            "/api/v1/machines/{id}/boot-device",
            |f, _| format!("/api/v1/machines/{}/boot-device", f.machine),
            JSON,
            |_, _| br#"{"device":"pxe"}"#.to_vec(),
            [401, 404, 403, 409],
        ),
        (
            "POST",
            "/api/v1/machines/{id}/bmc-test",
            |f, _| format!("/api/v1/machines/{}/bmc-test", f.machine),
            &[],
            |_, _| Vec::new(),
            [401, 404, 403, 409],
        ),
        (
            "GET",
            "/api/v1/reservations",
            |f, _| format!("/api/v1/reservations?machine={}", f.machine),
            &[],
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        // Each role books its own slot, far from the others.
        (
            "POST",
            "/api/v1/reservations",
            |_, _| "/api/v1/reservations".into(),
            JSON,
            rest_reservation_body,
            [401, 404, 201, 201],
        ),
        (
            "POST",
            "/api/v1/reservations/any",
            |_, _| "/api/v1/reservations/any".into(),
            JSON,
            rest_any_reservation_body,
            [401, 404, 201, 201],
        ),
        (
            "GET",
            "/api/v1/calendar",
            |_, _| "/api/v1/calendar?tag=pool".into(),
            &[],
            |_, _| Vec::new(),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/v1/notices",
            |_, _| "/api/v1/notices?unread=true".into(),
            &[],
            |_, _| Vec::new(),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/v1/reservations/{id}",
            |f, _| format!("/api/v1/reservations/{}", f.reservation),
            &[],
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        (
            "PATCH",
            "/api/v1/reservations/{id}",
            |f, _| format!("/api/v1/reservations/{}", f.reservation),
            JSON,
            |f, _| format!(r#"{{"end_at":{}}}"#, f.slot_base - 19 * 3600 + 600).into_bytes(),
            [401, 404, 200, 200],
        ),
        // The server function /api/release takes release_by_role[role] first; the reverse
        // order here leaves each role one still active (the holder releases, the admin cancels).
        (
            "DELETE",
            "/api/v1/reservations/{id}",
            |f, role| format!("/api/v1/reservations/{}", f.release_by_role[3 - role]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 204, 204],
        ),
        (
            "GET",
            "/api/v1/batches",
            |_, _| "/api/v1/batches".into(),
            &[],
            |_, _| Vec::new(),
            [401, 200, 200, 200],
        ),
        // On a machine the permitted user holds now: the admin then meets its active job.
        (
            "POST",
            "/api/v1/batches",
            |_, _| "/api/v1/batches".into(),
            JSON,
            rest_batch_body,
            [401, 404, 201, 409],
        ),
        (
            "GET",
            "/api/v1/batches/{id}",
            |f, _| format!("/api/v1/batches/{}", f.batches[1]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        (
            "DELETE",
            "/api/v1/batches/{id}",
            |f, _| format!("/api/v1/batches/{}", f.batches[1]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        (
            "POST",
            "/api/v1/batches/{id}/retry",
            |f, _| format!("/api/v1/batches/{}/retry", f.batches[1]),
            JSON,
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        (
            "GET",
            "/api/v1/jobs",
            |_, _| "/api/v1/jobs".into(),
            &[],
            |_, _| Vec::new(),
            [401, 200, 200, 200],
        ),
        // Inside the use holder's reservation; the admin then finds that job active.
        (
            "POST",
            "/api/v1/jobs",
            |_, _| "/api/v1/jobs".into(),
            JSON,
            rest_job_body,
            [401, 404, 201, 409],
        ),
        (
            "GET",
            "/api/v1/jobs/{id}",
            |f, role| format!("/api/v1/jobs/{}", f.boot_jobs[role]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 404, 200],
        ),
        (
            "DELETE",
            "/api/v1/jobs/{id}",
            |f, role| format!("/api/v1/jobs/{}", f.boot_jobs[3 - role]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 404, 200],
        ),
        (
            "GET",
            "/api/v1/users",
            |_, _| "/api/v1/users".into(),
            &[],
            |_, _| Vec::new(),
            [401, 403, 403, 200],
        ),
        (
            "POST",
            "/api/v1/users",
            |_, _| "/api/v1/users".into(),
            JSON,
            |_, role| {
                format!(r#"{{"username":"restuser{role}","display_name":"","password":"a-long-password-1","is_admin":false}}"#)
                    .into_bytes()
            },
            [401, 403, 403, 201],
        ),
        (
            "PATCH",
            "/api/v1/users/{id}",
            |f, _| format!("/api/v1/users/{}", f.other_user),
            JSON,
            |_, _| br#"{"disabled":false}"#.to_vec(),
            [401, 403, 403, 204],
        ),
        (
            "GET",
            "/api/v1/groups",
            |_, _| "/api/v1/groups".into(),
            &[],
            |_, _| Vec::new(),
            [401, 403, 403, 200],
        ),
        (
            "POST",
            "/api/v1/groups",
            |_, _| "/api/v1/groups".into(),
            JSON,
            |_, role| format!(r#"{{"name":"restgroup{role}"}}"#).into_bytes(),
            [401, 403, 403, 201],
        ),
        // /api/admin/delete_group takes spare_groups[role]; the reverse order leaves one.
        (
            "DELETE",
            "/api/v1/groups/{id}",
            |f, role| format!("/api/v1/groups/{}", f.spare_groups[3 - role]),
            &[],
            |_, _| Vec::new(),
            [401, 403, 403, 204],
        ),
        (
            "PUT",
            "/api/v1/groups/{id}/members/{username}",
            |f, _| format!("/api/v1/groups/{}/members/other", f.group),
            &[],
            |_, _| Vec::new(),
            [401, 403, 403, 204],
        ),
        (
            "DELETE",
            "/api/v1/groups/{id}/members/{username}",
            |f, _| format!("/api/v1/groups/{}/members/other", f.group),
            &[],
            |_, _| Vec::new(),
            [401, 403, 403, 204],
        ),
        (
            "POST",
            "/api/v1/machines",
            |_, _| "/api/v1/machines".into(),
            JSON,
            |_, role| {
                format!(r#"{{"name":"restnode{role}","macs":"52:54:00:00:05:0{role}","platform":"x86_64-bios","bmc_kind":"none","state":"available"}}"#)
                    .into_bytes()
            },
            [401, 403, 403, 201],
        ),
        (
            "PUT",
            "/api/v1/machines/{id}",
            |f, _| format!("/api/v1/machines/{}", f.machine),
            JSON,
            |_, _| {
                br#"{"name":"node1","macs":"52:54:00:00:00:01","platform":"x86_64-uefi","bmc_kind":"none","location":"lab","state":"available"}"#
                    .to_vec()
            },
            [401, 404, 403, 200],
        ),
        (
            "DELETE",
            "/api/v1/machines/{id}",
            |f, role| format!("/api/v1/machines/{}", f.doomed_machines[3 - role]),
            &[],
            |_, _| Vec::new(),
            [401, 403, 403, 204],
        ),
        (
            "GET",
            "/api/v1/machines/{id}/media",
            |f, _| format!("/api/v1/machines/{}/media", f.machine),
            &[],
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        // Outside the use holder's reservation; the machine has no BMC (admin).
        (
            "POST",
            "/api/v1/machines/{id}/media",
            |f, _| format!("/api/v1/machines/{}/media", f.machine),
            JSON,
            |f, _| format!(r#"{{"image_id":{}}}"#, f.image).into_bytes(),
            [401, 404, 403, 409],
        ),
        (
            "DELETE",
            "/api/v1/media/{id}",
            |f, _| format!("/api/v1/media/{}", f.media[1]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 403, 200],
        ),
        (
            "GET",
            "/api/v1/machines/{id}/grants",
            |f, _| format!("/api/v1/machines/{}/grants", f.machine),
            &[],
            |_, _| Vec::new(),
            [401, 404, 403, 200],
        ),
        (
            "POST",
            "/api/v1/machines/{id}/grants",
            |f, _| format!("/api/v1/machines/{}/grants", f.machine),
            JSON,
            |_, _| br#"{"subject_kind":"group","subject_name":"team","level":"view"}"#.to_vec(),
            [401, 403, 403, 201],
        ),
        (
            "DELETE",
            "/api/v1/grants/{id}",
            |f, role| format!("/api/v1/grants/{}", f.grants[3 - role]),
            &[],
            |_, _| Vec::new(),
            [401, 403, 403, 204],
        ),
        (
            "GET",
            "/api/v1/settings/limits",
            |_, _| "/api/v1/settings/limits".into(),
            &[],
            |_, _| Vec::new(),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/v1/settings",
            |_, _| "/api/v1/settings".into(),
            &[],
            |_, _| Vec::new(),
            [401, 403, 403, 200],
        ),
        (
            "PATCH",
            "/api/v1/settings",
            |_, _| "/api/v1/settings".into(),
            JSON,
            |_, _| br#"{"max_duration_hours":72,"max_advance_days":30}"#.to_vec(),
            [401, 403, 403, 200],
        ),
        // Each signed-in role changes its own password; a wrong current one is named.
        (
            "POST",
            "/api/v1/account/password",
            |_, _| "/api/v1/account/password".into(),
            JSON,
            |_, _| br#"{"current_password":"wrong-one","new_password":"whatever-1234"}"#.to_vec(),
            [401, 422, 422, 422],
        ),
        // The image belongs to the use holder: a stranger cannot see it.
        (
            "PATCH",
            "/api/v1/images/{id}",
            |f, _| format!("/api/v1/images/{}", f.image),
            JSON,
            |_, _| br#"{"description":"changed by the matrix"}"#.to_vec(),
            [401, 404, 200, 200],
        ),
        (
            "GET",
            "/api/v1/audit",
            |_, _| "/api/v1/audit?action=machine.".into(),
            &[],
            |_, _| Vec::new(),
            [401, 403, 403, 200],
        ),
        (
            "GET",
            "/api/v1/discovered",
            |_, _| "/api/v1/discovered".into(),
            &[],
            |_, _| Vec::new(),
            [401, 403, 403, 200],
        ),
        // Nothing with this MAC asked to boot: the admin gets past authorization to a 404.
        (
            "POST",
            "/api/v1/discovered/{mac}/adopt",
            |_, _| "/api/v1/discovered/52:54:00:ff:ff:ff/adopt".into(),
            JSON,
            |_, _| br#"{"name":"adopted"}"#.to_vec(),
            [401, 403, 403, 404],
        ),
        (
            "GET",
            "/api/v1/tokens",
            |_, _| "/api/v1/tokens".into(),
            &[],
            |_, _| Vec::new(),
            [401, 200, 200, 200],
        ),
        (
            "POST",
            "/api/v1/tokens",
            |_, _| "/api/v1/tokens".into(),
            JSON,
            |_, _| br#"{"name":"matrix"}"#.to_vec(),
            [401, 201, 201, 201],
        ),
        (
            "DELETE",
            "/api/v1/tokens/{id}",
            |f, role| format!("/api/v1/tokens/{}", f.tokens[3 - role]),
            &[],
            |_, _| Vec::new(),
            [401, 404, 204, 204],
        ),
        // An authenticated import reaches the destination check, which refuses loopback.
        (
            "POST",
            "/api/v1/imports",
            |_, _| "/api/v1/imports".into(),
            JSON,
            |_, _| br#"{"url":"http://127.0.0.1:9/x.img","name":"x"}"#.to_vec(),
            [401, 422, 422, 422],
        ),
        (
            "GET",
            "/images/{id}/content",
            |f, _| format!("/images/{}/content", f.image),
            &[],
            |_, _| Vec::new(),
            [401, 404, 200, 200],
        ),
        // Machines cannot log in: boot scripts are open to all.
        (
            "GET",
            "/boot/{file}",
            |_, _| "/boot/52:54:00:00:00:01.ipxe".into(),
            &[],
            |_, _| Vec::new(),
            [200, 200, 200, 200],
        ),
        // GRUB's first configuration, the same for every machine.
        (
            "GET",
            "/boot/grub/grub.cfg",
            |_, _| "/boot/grub/grub.cfg".into(),
            &[],
            |_, _| Vec::new(),
            [200, 200, 200, 200],
        ),
        // Open to all machines too; this server has no management OS configured.
        (
            "GET",
            "/boot/mgmt/{file}",
            |_, _| "/boot/mgmt/kernel".into(),
            &[],
            |_, _| Vec::new(),
            [404, 404, 404, 404],
        ),
        (
            "GET",
            "/boot/mgmt/arm64/{file}",
            |_, _| "/boot/mgmt/arm64/initrd".into(),
            &[],
            |_, _| Vec::new(),
            [404, 404, 404, 404],
        ),
        // Firmware binaries are for machines, which cannot log in: anyone gets them (here the
        // test configuration's TFTP root has no such file).
        (
            "GET",
            "/boot/firmware/{file}",
            |_, _| "/boot/firmware/ipxe.efi".into(),
            &[],
            |_, _| Vec::new(),
            [404, 404, 404, 404],
        ),
        // The agent API answers signed requests of enrolled agents only: a session or an API
        // token opens nothing (server/tests/agent_api.rs proves keys, replays and machines).
        (
            "POST",
            "/agent/v1/enrol",
            |_, _| "/agent/v1/enrol".into(),
            JSON,
            |_, _| b"{}".to_vec(),
            [401; 4],
        ),
        (
            "POST",
            "/agent/v1/heartbeat",
            |_, _| "/agent/v1/heartbeat".into(),
            JSON,
            |_, _| b"{}".to_vec(),
            [401; 4],
        ),
        (
            "GET",
            "/agent/v1/job",
            |_, _| "/agent/v1/job".into(),
            &[],
            |_, _| Vec::new(),
            [401; 4],
        ),
        (
            "GET",
            "/agent/v1/image",
            |_, _| "/agent/v1/image".into(),
            &[],
            |_, _| Vec::new(),
            [401; 4],
        ),
        (
            "POST",
            "/agent/v1/progress",
            |_, _| "/agent/v1/progress".into(),
            JSON,
            |_, _| b"{}".to_vec(),
            [401; 4],
        ),
        (
            "POST",
            "/agent/v1/result",
            |_, _| "/agent/v1/result".into(),
            JSON,
            |_, _| b"{}".to_vec(),
            [401; 4],
        ),
        (
            "POST",
            "/agent/v1/relay",
            |_, _| "/agent/v1/relay".into(),
            JSON,
            |_, _| b"{}".to_vec(),
            [401; 4],
        ),
        (
            "POST",
            "/agent/v1/save",
            |_, _| "/agent/v1/save".into(),
            JSON,
            |_, _| b"{}".to_vec(),
            [401; 4],
        ),
        (
            "PATCH",
            "/agent/v1/save",
            |_, _| "/agent/v1/save?offset=0".into(),
            &[],
            |_, _| b"x".to_vec(),
            [401; 4],
        ),
        // Only a live attachment's token opens a medium, whoever asks.
        (
            "GET",
            "/media/{token}/{file}",
            |_, _| "/media/not-a-token/x.iso".into(),
            &[],
            |_, _| Vec::new(),
            [404, 404, 404, 404],
        ),
    ]
}

/// Server functions whose effect is the session itself; each call uses a fresh session.
fn session_cases() -> Vec<(&'static str, String, [u16; 4])> {
    vec![
        (
            "/api/login",
            format!("username=permitted&password={PASSWORD}"),
            [200, 200, 200, 200],
        ),
        ("/api/logout", String::new(), [200, 200, 200, 200]),
    ]
}

/// (page pattern, expected status for each role). 303 is the redirect to the log-in page.
fn page_cases() -> Vec<(&'static str, [u16; 4])> {
    vec![
        ("/", [303, 200, 200, 200]),
        ("/login", [200, 303, 303, 303]),
        ("/machines/:id", [303, 404, 200, 200]),
        ("/machines/:id/edit", [303, 404, 200, 200]),
        ("/reservations", [303, 200, 200, 200]),
        // The fixture reservation is the permitted user's.
        ("/reservations/:id/extend", [303, 404, 200, 200]),
        ("/calendar", [303, 200, 200, 200]),
        ("/batches/new", [303, 200, 200, 200]),
        // The fixture batch is the permitted user's.
        ("/batches/:id", [303, 404, 200, 200]),
        ("/notices", [303, 200, 200, 200]),
        ("/images", [303, 200, 200, 200]),
        ("/images/upload", [303, 200, 200, 200]),
        // The fixture image is private to the permitted user.
        ("/images/:id", [303, 404, 200, 200]),
        ("/account", [303, 200, 200, 200]),
        ("/admin/machines/new", [303, 403, 403, 200]),
        ("/admin/users", [303, 403, 403, 200]),
        ("/admin/groups", [303, 403, 403, 200]),
        ("/admin/audit", [303, 403, 403, 200]),
        ("/admin/settings", [303, 403, 403, 200]),
        ("/admin/discovered", [303, 403, 403, 200]),
    ]
}

async fn fixture(server: &TestServer) -> Fixture {
    let lab = &server.lab;
    let shell = Actor::shell();
    let _stranger = server.add_user("stranger").await;
    let permitted = server.add_user("permitted").await;
    let other_user = server.add_user("other").await;
    let machine = server.add_machine("node1", "52:54:00:00:00:01", None).await;
    lab.grant(&shell, machine, Subject::User(permitted), Level::Use)
        .await
        .unwrap();
    let mut spare_machine = Vec::new();
    let mut grants = Vec::new();
    let mut spare_groups = Vec::new();
    for i in 0..4 {
        let spare = server
            .add_machine(&format!("spare{i}"), &format!("52:54:00:00:02:0{i}"), None)
            .await;
        spare_machine.push(spare);
        lab.grant(&shell, spare, Subject::User(other_user), Level::View)
            .await
            .unwrap();
        spare_groups.push(
            lab.create_group(&shell, &format!("spare{i}"), "")
                .await
                .unwrap()
                .id,
        );
    }
    let mut doomed_machines = Vec::new();
    for i in 0..4 {
        doomed_machines.push(
            server
                .add_machine(&format!("doomed{i}"), &format!("52:54:00:00:03:0{i}"), None)
                .await,
        );
    }
    let pool_machine = lab
        .create_machine(
            &shell,
            lab::model::MachineInput {
                tags: "pool".into(),
                ..common::machine_input("pool1", "52:54:00:00:05:01", "x86_64-uefi")
            },
        )
        .await
        .unwrap()
        .id;
    lab.grant(&shell, pool_machine, Subject::User(permitted), Level::Use)
        .await
        .unwrap();
    let job_machine = server.add_machine("jobs", "52:54:00:00:04:01", None).await;
    lab.grant(&shell, job_machine, Subject::User(permitted), Level::Use)
        .await
        .unwrap();
    let mut boot_jobs = Vec::new();
    for spare in &spare_machine {
        grants.push(lab.grants(&shell, *spare).await.unwrap()[0].id);
        let job = lab.request_management_boot(&shell, *spare).await.unwrap();
        boot_jobs.push(job.id);
    }
    let group = lab.create_group(&shell, "team", "").await.unwrap().id;
    let permitted_actor = Actor::user(permitted, "permitted", false, "test");
    let slot_base = lab::now() + 24 * 3600;
    let reservation = lab
        .reserve(
            &permitted_actor,
            machine,
            slot_base - 20 * 3600,
            slot_base - 19 * 3600,
            "",
        )
        .await
        .unwrap()
        .id;
    lab.reserve(
        &permitted_actor,
        job_machine,
        slot_base - 20 * 3600,
        slot_base - 19 * 3600,
        "",
    )
    .await
    .unwrap();
    let mut release_by_role = Vec::new();
    let mut cancel_by_role = Vec::new();
    for i in 0..4 {
        let start = slot_base - 18 * 3600 + i * 4 * 3600;
        release_by_role.push(
            lab.reserve(&permitted_actor, machine, start, start + 3600, "")
                .await
                .unwrap()
                .id,
        );
        cancel_by_role.push(
            lab.reserve(&permitted_actor, machine, start + 3600, start + 7200, "")
                .await
                .unwrap()
                .id,
        );
    }
    let upload_as = |name: &str, length: Option<i64>| lab::model::NewUpload {
        name: name.into(),
        length,
        ..Default::default()
    };
    let image = lab
        .create_upload(&permitted_actor, upload_as("private-image", None))
        .await
        .unwrap();
    let image = lab
        .append_upload(
            &permitted_actor,
            &image.id,
            0,
            &tiny_disk()[..],
            lab::Ending::Whole,
        )
        .await
        .unwrap()
        .image_id
        .unwrap();
    let mut spare_images = Vec::new();
    let mut uploads = Vec::new();
    let mut spare_uploads = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..8 {
        let spare = lab
            .create_upload(&permitted_actor, upload_as(&format!("spare{i}"), None))
            .await
            .unwrap();
        spare_images.push(
            lab.append_upload(
                &permitted_actor,
                &spare.id,
                0,
                &tiny_disk()[..],
                lab::Ending::Whole,
            )
            .await
            .unwrap()
            .image_id
            .unwrap(),
        );
        if i >= 4 {
            continue;
        }
        tokens.push(
            lab.create_api_token(&permitted_actor, &format!("t{i}"), None)
                .await
                .unwrap()
                .0
                .id,
        );
        for list in [&mut uploads, &mut spare_uploads] {
            list.push(
                lab.create_upload(&permitted_actor, upload_as(&format!("up{i}"), Some(1000)))
                    .await
                    .unwrap()
                    .id,
            );
        }
    }
    // Attached through the lab alone: the matrix talks to no BMC until the admin detaches (the
    // eject then fails against a closed loopback port, and is recorded as the BMC's answer).
    let iso = {
        let mut iso = vec![0u8; 18 * 2048];
        iso[0x8000] = 1;
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        iso[0x8050..0x8054].copy_from_slice(&18u32.to_le_bytes());
        iso[0x8080..0x8082].copy_from_slice(&2048u16.to_le_bytes());
        iso
    };
    let upload = lab
        .create_upload(&permitted_actor, upload_as("matrix-iso", None))
        .await
        .unwrap();
    let iso = lab
        .append_upload(
            &permitted_actor,
            &upload.id,
            0,
            &iso[..],
            lab::Ending::Whole,
        )
        .await
        .unwrap()
        .image_id
        .unwrap();
    let mut media = [0; 2];
    for (n, attachment) in media.iter_mut().enumerate() {
        let input = lab::model::MachineInput {
            bmc_kind: "redfish".into(),
            bmc_address: "127.0.0.1:9".into(),
            bmc_username: "admin".into(),
            bmc_password: "password".into(),
            ..common::machine_input(
                &format!("media{n}"),
                &format!("52:54:00:00:06:0{n}"),
                "x86_64-uefi",
            )
        };
        let machine = lab.create_machine(&shell, input).await.unwrap().id;
        lab.grant(&shell, machine, Subject::User(permitted), Level::Use)
            .await
            .unwrap();
        let grant = lab.begin_attach(&shell, machine, iso).await.unwrap();
        lab.finish_attach(grant.attachment.id, Ok("inserted (test)".into()))
            .await
            .unwrap();
        *attachment = grant.attachment.id;
    }
    let now = lab::now();
    let mut held_now = Vec::new();
    for n in 0..4 {
        let machine = server
            .add_machine(&format!("batch{n}"), &format!("52:54:00:00:07:0{n}"), None)
            .await;
        lab.grant(&shell, machine, Subject::User(permitted), Level::Use)
            .await
            .unwrap();
        let reservation = lab
            .reserve(&permitted_actor, machine, now, now + 4 * 3600, "")
            .await
            .unwrap();
        held_now.push((machine, reservation.id));
    }
    let batch_reservations = [held_now[0].1, held_now[1].1];
    let mut batches = [0; 2];
    for (n, batch) in batches.iter_mut().enumerate() {
        *batch = lab
            .create_batch(
                &permitted_actor,
                image,
                lab::batches::BatchTargets::Machines(vec![held_now[n + 2].0]),
                None,
            )
            .await
            .unwrap()
            .id;
    }
    Fixture {
        batch_reservations,
        batches,
        media,
        tokens,
        boot_jobs,
        image,
        spare_images,
        uploads,
        spare_uploads,
        machine,
        doomed_machines,
        job_machine,
        reservation,
        release_by_role,
        cancel_by_role,
        other_user,
        group,
        spare_groups,
        grants,
        slot_base,
    }
}

async fn client_for(server: &TestServer, role: Role) -> common::Client {
    match role {
        Role::Anonymous => server.client(),
        Role::Stranger => server.logged_in("stranger", PASSWORD).await,
        Role::Permitted => server.logged_in("permitted", PASSWORD).await,
        Role::Admin => server.logged_in("admin", ADMIN_PASSWORD).await,
    }
}

#[tokio::test]
async fn every_route_and_server_function_answers_each_role_as_designed() {
    let server = TestServer::start().await;
    let fixture = fixture(&server).await;
    let mut failures = Vec::new();

    // Completeness: the app's own lists against this matrix.
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .collect();
    let covered: BTreeSet<String> = server_function_cases()
        .iter()
        .map(|(path, _, _)| path.to_string())
        .chain(session_cases().iter().map(|(path, _, _)| path.to_string()))
        .collect();
    assert!(
        registered.len() >= 20,
        "server functions were not registered: {registered:?}"
    );
    for missing in registered.difference(&covered) {
        failures.push(format!(
            "server function {missing} has no entry in the authorization matrix"
        ));
    }
    for stale in covered.difference(&registered) {
        failures.push(format!(
            "matrix entry {stale} is not a registered server function"
        ));
    }
    let pages: BTreeSet<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|route| axum_to_leptos_pattern(route.path()))
        .collect();
    let page_entries: BTreeSet<String> = page_cases()
        .iter()
        .map(|(path, _)| path.to_string())
        .collect();
    for missing in pages.difference(&page_entries) {
        failures.push(format!(
            "page {missing} has no entry in the authorization matrix"
        ));
    }
    for (pattern, _) in app::routes::PAGES {
        if !pages.contains(*pattern) {
            failures.push(format!(
                "access rule for {pattern} names no page of the app"
            ));
        }
    }

    let rest_routes: BTreeSet<(String, String)> = server::rest::served()
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    let rest_entries: BTreeSet<(String, String)> = rest_cases()
        .iter()
        .map(|(method, route, ..)| (method.to_string(), route.to_string()))
        .collect();
    for missing in rest_routes.difference(&rest_entries) {
        failures.push(format!(
            "API route {missing:?} has no entry in the authorization matrix"
        ));
    }
    for stale in rest_entries.difference(&rest_routes) {
        failures.push(format!("matrix entry {stale:?} is not an API route"));
    }

    for (index, role) in ROLES.iter().enumerate() {
        let mut client = client_for(&server, *role).await;
        for (path, body, expected) in server_function_cases() {
            let reply = client.post_form(path, &body(&fixture, index)).await;
            if reply.status.as_u16() != expected[index] {
                failures.push(format!(
                    "{role:?} POST {path}: expected {}, got {} {}",
                    expected[index], reply.status, reply.body
                ));
            } else if reply.status.as_u16() >= 400 {
                let json = reply.json();
                if json["error"].as_str().is_none_or(str::is_empty) {
                    failures.push(format!(
                        "{role:?} POST {path}: error without a message: {}",
                        reply.body
                    ));
                }
            }
        }
        for (pattern, expected) in page_cases() {
            let id = if pattern.starts_with("/images/") {
                fixture.image
            } else if pattern.starts_with("/reservations/") {
                fixture.reservation
            } else if pattern.starts_with("/batches/") {
                fixture.batches[0]
            } else {
                fixture.machine
            };
            let path = pattern.replace(":id", &id.to_string());
            let reply = client.get(&path).await;
            if reply.status.as_u16() != expected[index] {
                failures.push(format!(
                    "{role:?} GET {path}: expected {}, got {}",
                    expected[index], reply.status
                ));
            }
            if expected[index] == 303 {
                let target = if pattern == "/login" { "/" } else { "/login" };
                if reply.location() != Some(target) {
                    failures.push(format!(
                        "{role:?} GET {path}: redirected to {:?}, not {target}",
                        reply.location()
                    ));
                }
            }
        }
        for (method, _, path, headers, body, expected) in rest_cases() {
            let path = path(&fixture, index);
            let reply = client
                .request(
                    method,
                    &path,
                    headers,
                    axum::body::Body::from(body(&fixture, index)),
                )
                .await;
            if reply.status.as_u16() != expected[index] {
                failures.push(format!(
                    "{role:?} {method} {path}: expected {}, got {} {}",
                    expected[index], reply.status, reply.body
                ));
            } else if reply.status.as_u16() >= 400 && method != "HEAD" {
                let json = reply.json();
                if json["error"].as_str().is_none_or(str::is_empty) {
                    failures.push(format!("{role:?} {method} {path}: error without a message"));
                }
            }
        }
        let health = client.get("/healthz").await;
        if health.status != 200 {
            failures.push(format!("{role:?} GET /healthz: {}", health.status));
        }
    }

    for (index, role) in ROLES.iter().enumerate() {
        for (path, body, expected) in session_cases() {
            let mut client = client_for(&server, *role).await;
            let reply = client.post_form(path, &body).await;
            if reply.status.as_u16() != expected[index] {
                failures.push(format!(
                    "{role:?} POST {path}: expected {}, got {} {}",
                    expected[index], reply.status, reply.body
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix failures:\n{}",
        failures.join("\n")
    );
}

/// `/machines/{id}` (axum's syntax, as the route list gives it) → `/machines/:id`.
fn axum_to_leptos_pattern(path: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{name}"),
                None => segment.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}
