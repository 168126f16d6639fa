//! The public REST API with API tokens, as scripts use it: machines found by tag and free time,
//! reservations booked, moved and given back (a clash is a 409 naming the reservation in the
//! way), jobs created within a reservation, shown and cancelled, tokens created and revoked,
//! pagination, and every error as JSON with its status.

mod common;

use axum::body::Body;
use common::{Reply, TestServer};
use lab::model::{Level, Subject};
use lab::Actor;

/// A user with a token; returns (user id, `Authorization` header value).
async fn user_with_token(server: &TestServer, name: &str) -> (i64, String) {
    let id = server.add_user(name).await;
    let actor = Actor::user(id, name, false, "test");
    let (_, secret) = server
        .lab
        .create_api_token(&actor, "test", None)
        .await
        .unwrap();
    (id, format!("Bearer {secret}"))
}

async fn call(server: &TestServer, token: &str, method: &str, path: &str, body: &str) -> Reply {
    let mut client = server.client();
    let headers = [
        ("authorization", token),
        ("content-type", "application/json"),
    ];
    client
        .request(method, path, &headers, Body::from(body.to_string()))
        .await
}

/// Three machines alice and bob may use: two tagged gpu, one in maintenance.
async fn lab_with_machines(server: &TestServer, users: &[i64]) -> Vec<i64> {
    let shell = Actor::shell();
    let mut ids = Vec::new();
    for (name, mac, tags, state) in [
        ("gpu-1", "52:54:00:10:00:01", "gpu", "available"),
        ("gpu-2", "52:54:00:10:00:02", "gpu", "maintenance"),
        ("cpu-1", "52:54:00:10:00:03", "", "available"),
    ] {
        let input = lab::model::MachineInput {
            tags: tags.into(),
            state: state.into(),
            ..common::machine_input(name, mac, "x86_64-bios")
        };
        let machine = server.lab.create_machine(&shell, input).await.unwrap().id;
        for user in users {
            server
                .lab
                .grant(&shell, machine, Subject::User(*user), Level::Use)
                .await
                .unwrap();
        }
        ids.push(machine);
    }
    ids
}

fn names(reply: &Reply) -> Vec<String> {
    reply.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_script_finds_a_free_machine_reserves_extends_and_releases_it_and_a_clash_names_the_reservation(
) {
    let server = TestServer::start().await;
    let (alice, alice_token) = user_with_token(&server, "alice").await;
    let (bob, bob_token) = user_with_token(&server, "bob").await;
    let machines = lab_with_machines(&server, &[alice, bob]).await;
    let now = lab::now();

    let gpus = call(&server, &alice_token, "GET", "/api/v1/machines?tag=gpu", "").await;
    assert_eq!(gpus.status, 200, "{}", gpus.body);
    assert_eq!(names(&gpus), ["gpu-1", "gpu-2"]);
    let free = format!("/api/v1/machines?free_from={now}&free_until={}", now + 7200);
    assert_eq!(
        names(&call(&server, &alice_token, "GET", &free, "").await),
        ["cpu-1", "gpu-1"]
    );

    let booking = format!(
        r#"{{"machine_id":{},"start_at":{now},"end_at":{},"note":"CI run"}}"#,
        machines[0],
        now + 3600
    );
    let reserved = call(
        &server,
        &alice_token,
        "POST",
        "/api/v1/reservations",
        &booking,
    )
    .await;
    assert_eq!(reserved.status, 201, "{}", reserved.body);
    let id = reserved.json()["id"].as_i64().unwrap();
    // Taken now: the free list no longer has it; bob's booking of the same hour clashes.
    assert_eq!(
        names(&call(&server, &alice_token, "GET", &free, "").await),
        ["cpu-1"]
    );
    let clash = call(
        &server,
        &bob_token,
        "POST",
        "/api/v1/reservations",
        &booking,
    )
    .await;
    assert_eq!(clash.status, 409, "{}", clash.body);
    assert_eq!(clash.json()["kind"], "conflict");
    let message = clash.json()["error"].as_str().unwrap().to_string();
    assert!(
        message.contains("alice") && message.contains(&format!("reservation {id}")),
        "{message}"
    );

    // Extended by an hour; bob may not touch it; then it is given back.
    let path = format!("/api/v1/reservations/{id}");
    let extended = call(
        &server,
        &alice_token,
        "PATCH",
        &path,
        &format!(r#"{{"end_at":{}}}"#, now + 7200),
    )
    .await;
    assert_eq!(extended.status, 200, "{}", extended.body);
    assert_eq!(extended.json()["end_at"].as_i64(), Some(now + 7200));
    assert_eq!(
        call(&server, &bob_token, "DELETE", &path, "").await.status,
        403
    );
    let mine = call(&server, &alice_token, "GET", "/api/v1/reservations", "").await;
    assert_eq!(mine.json()["total"], 1);
    assert_eq!(
        call(&server, &alice_token, "DELETE", &path, "")
            .await
            .status,
        204
    );
    let again = call(&server, &alice_token, "DELETE", &path, "").await;
    assert_eq!(again.status, 409, "{}", again.body);
    let shown = call(&server, &alice_token, "GET", &path, "").await;
    assert_eq!(shown.json()["state"], "released");
    // Free again.
    assert_eq!(
        names(&call(&server, &alice_token, "GET", &free, "").await),
        ["cpu-1", "gpu-1"]
    );
}

#[tokio::test]
async fn jobs_are_created_within_a_reservation_listed_shown_and_cancelled() {
    let server = TestServer::start().await;
    let (alice, alice_token) = user_with_token(&server, "alice").await;
    let (bob, bob_token) = user_with_token(&server, "bob").await;
    let machines = lab_with_machines(&server, &[alice, bob]).await;
    let now = lab::now();
    let job = format!(r#"{{"machine_id":{},"kind":"inventory"}}"#, machines[0]);

    // Without a reservation: refused with the reason.
    let refused = call(&server, &alice_token, "POST", "/api/v1/jobs", &job).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let booking = format!(
        r#"{{"machine_id":{},"start_at":{now},"end_at":{}}}"#,
        machines[0],
        now + 3600
    );
    assert_eq!(
        call(
            &server,
            &alice_token,
            "POST",
            "/api/v1/reservations",
            &booking
        )
        .await
        .status,
        201
    );
    let created = call(&server, &alice_token, "POST", "/api/v1/jobs", &job).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_i64().unwrap();
    assert_eq!(created.json()["kind"], "inventory");
    // One active job a machine.
    assert_eq!(
        call(&server, &alice_token, "POST", "/api/v1/jobs", &job)
            .await
            .status,
        409
    );

    let listed = call(
        &server,
        &alice_token,
        "GET",
        &format!("/api/v1/jobs?machine={}", machines[0]),
        "",
    )
    .await;
    assert_eq!(listed.json()["total"], 1);
    let all = call(&server, &alice_token, "GET", "/api/v1/jobs", "").await;
    assert_eq!(all.json()["items"][0]["id"].as_i64(), Some(id));
    let shown = call(
        &server,
        &alice_token,
        "GET",
        &format!("/api/v1/jobs/{id}"),
        "",
    )
    .await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json()["phases"][0]["state"], "queued");

    // bob holds no reservation: he cannot cancel alice's job.
    assert_eq!(
        call(
            &server,
            &bob_token,
            "DELETE",
            &format!("/api/v1/jobs/{id}"),
            ""
        )
        .await
        .status,
        403
    );
    let cancelled = call(
        &server,
        &alice_token,
        "DELETE",
        &format!("/api/v1/jobs/{id}"),
        "",
    )
    .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.json()["state"], "cancelled");

    // Bad input names what is wrong.
    let bad_kind = format!(r#"{{"machine_id":{},"kind":"explode"}}"#, machines[0]);
    let reply = call(&server, &alice_token, "POST", "/api/v1/jobs", &bad_kind).await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["fields"][0]["field"], "kind");
    let deploy_without_image = format!(r#"{{"machine_id":{},"kind":"deploy"}}"#, machines[0]);
    assert_eq!(
        call(
            &server,
            &alice_token,
            "POST",
            "/api/v1/jobs",
            &deploy_without_image
        )
        .await
        .status,
        422
    );
    assert_eq!(
        call(&server, &alice_token, "GET", "/api/v1/jobs/999999", "")
            .await
            .status,
        404
    );
    assert_eq!(
        call(&server, &alice_token, "GET", "/api/v1/jobs/latest", "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn tokens_are_created_used_revoked_and_expire_and_errors_are_json() {
    let server = TestServer::start().await;
    let (alice, alice_token) = user_with_token(&server, "alice").await;

    // No token, a made-up one, a session-less call: 401 in the API's error shape.
    for token in ["", "Bearer baas_made_up", "Basic YWxpY2U6eA=="] {
        let reply = call(&server, token, "GET", "/api/v1/machines", "").await;
        assert_eq!(reply.status, 401, "{token}: {}", reply.body);
        assert_eq!(reply.json()["kind"], "unauthenticated", "{}", reply.body);
        assert!(!reply.json()["error"].as_str().unwrap().is_empty());
    }

    let created = call(
        &server,
        &alice_token,
        "POST",
        "/api/v1/tokens",
        r#"{"name":"ci","valid_days":7}"#,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = format!("Bearer {}", created.json()["token"].as_str().unwrap());
    let token_id = created.json()["id"].as_i64().unwrap();
    let whoami = call(&server, &secret, "GET", "/api/v1/whoami", "").await;
    assert_eq!(whoami.json()["username"], "alice");
    let listed = call(&server, &alice_token, "GET", "/api/v1/tokens", "").await;
    assert!(listed.body.contains(r#""name":"ci""#), "{}", listed.body);
    assert!(
        !listed
            .body
            .contains(created.json()["token"].as_str().unwrap()),
        "secrets are shown once"
    );

    assert_eq!(
        call(
            &server,
            &alice_token,
            "DELETE",
            &format!("/api/v1/tokens/{token_id}"),
            ""
        )
        .await
        .status,
        204
    );
    assert_eq!(
        call(&server, &secret, "GET", "/api/v1/whoami", "")
            .await
            .status,
        401
    );

    // A token past its expiry stops working.
    let (_, expiring) = server
        .lab
        .create_api_token(
            &Actor::user(alice, "alice", false, "test"),
            "short",
            Some(1),
        )
        .await
        .unwrap();
    let expiring = format!("Bearer {expiring}");
    assert_eq!(
        call(&server, &expiring, "GET", "/api/v1/whoami", "")
            .await
            .status,
        200
    );
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE name = 'short'")
        .bind(lab::now() - 1)
        .execute(server.lab.pool())
        .await
        .unwrap();
    assert_eq!(
        call(&server, &expiring, "GET", "/api/v1/whoami", "")
            .await
            .status,
        401
    );

    // Bodies: not JSON is a 400, JSON of the wrong shape a 422, a bad value a 422 naming it.
    let not_json = call(&server, &alice_token, "POST", "/api/v1/tokens", "name=ci").await;
    assert_eq!(not_json.status, 400, "{}", not_json.body);
    assert_eq!(not_json.json()["kind"], "bad_request");
    let wrong_shape = call(
        &server,
        &alice_token,
        "POST",
        "/api/v1/tokens",
        r#"{"name":7}"#,
    )
    .await;
    assert_eq!(wrong_shape.status, 422, "{}", wrong_shape.body);
    let too_long = call(
        &server,
        &alice_token,
        "POST",
        "/api/v1/tokens",
        r#"{"name":"x","valid_days":9999}"#,
    )
    .await;
    assert_eq!(too_long.status, 422);
    assert_eq!(too_long.json()["fields"][0]["field"], "valid_days");
}

#[tokio::test]
async fn lists_are_paginated_with_a_total_and_filters_are_checked() {
    let server = TestServer::start().await;
    let (alice, alice_token) = user_with_token(&server, "alice").await;
    lab_with_machines(&server, &[alice]).await;
    let page = call(&server, &alice_token, "GET", "/api/v1/machines?limit=2", "").await;
    assert_eq!(
        (page.json()["total"].as_i64(), page.json()["limit"].as_i64()),
        (Some(3), Some(2))
    );
    assert_eq!(names(&page), ["cpu-1", "gpu-1"]);
    let rest = call(
        &server,
        &alice_token,
        "GET",
        "/api/v1/machines?limit=2&offset=2",
        "",
    )
    .await;
    assert_eq!(names(&rest), ["gpu-2"]);
    let past = call(
        &server,
        &alice_token,
        "GET",
        "/api/v1/machines?offset=10",
        "",
    )
    .await;
    assert_eq!(
        (past.json()["total"].as_i64(), names(&past).len()),
        (Some(3), 0)
    );

    let backwards = call(
        &server,
        &alice_token,
        "GET",
        "/api/v1/machines?free_from=200&free_until=100",
        "",
    )
    .await;
    assert_eq!(backwards.status, 422);
    assert_eq!(backwards.json()["fields"][0]["field"], "free_until");
    let bad_state = call(
        &server,
        &alice_token,
        "GET",
        "/api/v1/machines?state=melted",
        "",
    )
    .await;
    assert_eq!(bad_state.json()["fields"][0]["field"], "state");
    assert_eq!(
        call(&server, &alice_token, "GET", "/api/v1/machines/424242", "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn an_admin_script_sets_up_users_groups_machines_grants_and_limits_and_reads_the_audit_log() {
    let server = TestServer::start().await;
    let admin_id = server
        .lab
        .user_by_name(&Actor::shell(), "admin")
        .await
        .unwrap()
        .id;
    let (_, admin) = {
        let actor = Actor::user(admin_id, "admin", true, "test");
        let (_, secret) = server
            .lab
            .create_api_token(&actor, "setup", None)
            .await
            .unwrap();
        (admin_id, format!("Bearer {secret}"))
    };
    let created = call(&server, &admin, "POST", "/api/v1/users", r#"{"username":"carol","display_name":"Carol","password":"carol-password-1","is_admin":false}"#).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let carol = created.json()["id"].as_i64().unwrap();
    let short = call(
        &server,
        &admin,
        "POST",
        "/api/v1/users",
        r#"{"username":"dan","display_name":"","password":"short","is_admin":false}"#,
    )
    .await;
    assert_eq!(short.status, 422);
    assert_eq!(short.json()["fields"][0]["field"], "password");

    let group = call(
        &server,
        &admin,
        "POST",
        "/api/v1/groups",
        r#"{"name":"kernel-team"}"#,
    )
    .await;
    assert_eq!(group.status, 201, "{}", group.body);
    let group_id = group.json()["id"].as_i64().unwrap();
    let path = format!("/api/v1/groups/{group_id}/members/carol");
    assert_eq!(call(&server, &admin, "PUT", &path, "").await.status, 204);
    let nobody = format!("/api/v1/groups/{group_id}/members/nobody");
    assert_eq!(call(&server, &admin, "PUT", &nobody, "").await.status, 404);

    let machine = call(&server, &admin, "POST", "/api/v1/machines", r#"{"name":"rack1-n1","macs":"52:54:00:20:00:01","platform":"x86_64-uefi","bmc_kind":"none","tags":"gpu","state":"available"}"#).await;
    assert_eq!(machine.status, 201, "{}", machine.body);
    let machine_id = machine.json()["id"].as_i64().unwrap();
    let bad_mac = call(&server, &admin, "POST", "/api/v1/machines", r#"{"name":"x","macs":"not-a-mac","platform":"x86_64-uefi","bmc_kind":"none","state":"available"}"#).await;
    assert_eq!(
        bad_mac.json()["fields"][0]["field"],
        "macs",
        "{}",
        bad_mac.body
    );
    let grants = format!("/api/v1/machines/{machine_id}/grants");
    let granted = call(
        &server,
        &admin,
        "POST",
        &grants,
        r#"{"subject_kind":"group","subject_name":"kernel-team","level":"use"}"#,
    )
    .await;
    assert_eq!(granted.status, 201, "{}", granted.body);
    assert_eq!(granted.json()[0]["subject_name"], "group:kernel-team");
    // Enum values are written the way they are read: lower case, both directions.
    assert_eq!(granted.json()[0]["level"], "use", "{}", granted.body);
    assert!(
        granted.json()[0]["subject"]["group"].is_i64(),
        "{}",
        granted.body
    );

    // Carol, through her group, sees the machine.
    let carol_token = {
        let actor = Actor::user(carol, "carol", false, "test");
        format!(
            "Bearer {}",
            server
                .lab
                .create_api_token(&actor, "t", None)
                .await
                .unwrap()
                .1
        )
    };
    let seen = call(&server, &carol_token, "GET", "/api/v1/machines?tag=gpu", "").await;
    assert_eq!(names(&seen), ["rack1-n1"]);
    assert_eq!(seen.json()["items"][0]["my_level"], "use", "{}", seen.body);
    assert_eq!(
        call(&server, &carol_token, "GET", "/api/v1/users", "")
            .await
            .status,
        403
    );

    let limits = call(
        &server,
        &admin,
        "PATCH",
        "/api/v1/settings",
        r#"{"max_duration_hours":8,"max_advance_days":14,"discovery_policy":"enlist"}"#,
    )
    .await;
    assert_eq!(limits.status, 200, "{}", limits.body);
    assert_eq!(limits.json()["discovery_policy"], "enlist");
    assert_eq!(limits.json()["limits"]["max_advance_days"], 14);
    let bad_networks = call(
        &server,
        &admin,
        "PATCH",
        "/api/v1/settings",
        r#"{"import_networks":"not a network"}"#,
    )
    .await;
    assert_eq!(
        bad_networks.json()["fields"][0]["field"],
        "allowed_networks",
        "{}",
        bad_networks.body
    );
    // The boot program table: a path is refused by its field; plain names are taken.
    let programs = |unknown: &str| {
        format!(
            r#"{{"boot_programs":{{"x86_64_bios":"undionly.kpxe","x86_64_uefi":"snponly.efi","arm64_uefi":"ipxe-arm64.efi","unknown":"{unknown}"}}}}"#
        )
    };
    let bad_program = call(
        &server,
        &admin,
        "PATCH",
        "/api/v1/settings",
        &programs("../../etc/shadow"),
    )
    .await;
    assert_eq!(bad_program.status, 422, "{}", bad_program.body);
    assert_eq!(bad_program.json()["fields"][0]["field"], "unknown");
    let set = call(
        &server,
        &admin,
        "PATCH",
        "/api/v1/settings",
        &programs("ipxe.efi"),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.json()["boot_programs"]["x86_64_uefi"], "snponly.efi");
    assert_eq!(
        call(&server, &carol_token, "GET", "/api/v1/settings", "")
            .await
            .status,
        403
    );
    assert_eq!(
        call(&server, &carol_token, "GET", "/api/v1/settings/limits", "")
            .await
            .json()["max_duration_hours"],
        8
    );
    let now = lab::now();
    let too_long = format!(
        r#"{{"machine_id":{machine_id},"start_at":{now},"end_at":{}}}"#,
        now + 9 * 3600
    );
    let refused = call(
        &server,
        &carol_token,
        "POST",
        "/api/v1/reservations",
        &too_long,
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);

    // Carol disabled: her token stops working.
    let patch = format!("/api/v1/users/{carol}");
    assert_eq!(
        call(&server, &admin, "PATCH", &patch, r#"{"disabled":true}"#)
            .await
            .status,
        204
    );
    assert_eq!(
        call(&server, &carol_token, "GET", "/api/v1/whoami", "")
            .await
            .status,
        401
    );

    let audit = call(
        &server,
        &admin,
        "GET",
        "/api/v1/audit?action=machine.&limit=5",
        "",
    )
    .await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(audit.body.contains("rack1-n1"), "{}", audit.body);
    let discovered = call(&server, &admin, "GET", "/api/v1/discovered", "").await;
    assert_eq!(discovered.json()["total"], 0);
}

#[tokio::test]
async fn the_calendar_and_the_notices_are_read_by_scripts_with_a_token() {
    let server = TestServer::start().await;
    let (alice, alice_token) = user_with_token(&server, "alice").await;
    let (bob, bob_token) = user_with_token(&server, "bob").await;
    let machines = lab_with_machines(&server, &[alice, bob]).await;
    let now = lab::now();
    let booking = format!(
        r#"{{"machine_id":{},"start_at":{now},"end_at":{},"note":""}}"#,
        machines[0],
        now + 900
    );
    let reserved = call(
        &server,
        &alice_token,
        "POST",
        "/api/v1/reservations",
        &booking,
    )
    .await;
    assert_eq!(reserved.status, 201, "{}", reserved.body);

    let window = format!(
        "/api/v1/calendar?tag=gpu&from={}&to={}",
        now - 3600,
        now + 3600
    );
    for (token, mine) in [(&alice_token, true), (&bob_token, false)] {
        let calendar = call(&server, token, "GET", &window, "").await;
        assert_eq!(calendar.status, 200, "{}", calendar.body);
        let rows = calendar.json();
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 2, "the two gpu machines");
        assert_eq!(rows[0]["machine_name"], "gpu-1");
        assert_eq!(rows[0]["bookings"][0]["username"], "alice");
        assert_eq!(rows[0]["bookings"][0]["mine"], mine);
        assert_eq!(rows[1]["bookings"].as_array().unwrap().len(), 0);
    }
    let backwards = format!("/api/v1/calendar?from={now}&to={}", now - 1);
    let refused = call(&server, &alice_token, "GET", &backwards, "").await;
    assert_eq!(refused.status, 422, "{}", refused.body);

    // Seven minutes later, eight are left: the ten-minute notice is due.
    let later = server.lab.clone().with_clock(lab::Clock::manual(now + 420));
    conductor::notifier::tick(&later, "http://baas.test")
        .await
        .unwrap();
    let notices = call(
        &server,
        &alice_token,
        "GET",
        "/api/v1/notices?unread=true",
        "",
    )
    .await;
    assert_eq!(notices.status, 200, "{}", notices.body);
    let notices = notices.json();
    assert_eq!(notices.as_array().unwrap().len(), 1);
    assert_eq!(notices[0]["machine_name"], "gpu-1");
    assert!(notices[0]["link"].as_str().unwrap().ends_with("/extend"));
    let none = call(&server, &bob_token, "GET", "/api/v1/notices", "").await;
    assert_eq!(none.json().as_array().unwrap().len(), 0);
}
