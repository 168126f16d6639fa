//! Sessions (cookie flags, restart, expiry, disabling), cross-site refusal, and how bad input is
//! answered over HTTP: a 4xx with a JSON error naming the field, and nothing written.

mod common;

use common::{TestServer, ADMIN_PASSWORD, PASSWORD};
use lab::model::{Level, Subject};
use lab::Actor;

#[tokio::test]
async fn session_and_device_cookies_are_http_only_same_site_and_the_session_rotates_at_login() {
    let server = TestServer::start().await;
    let mut client = server.client();
    client.get("/login").await;
    let before = client.cookie.clone();
    let reply = client
        .post_form(
            "/api/login",
            &format!("username=admin&password={ADMIN_PASSWORD}"),
        )
        .await;
    assert_eq!(reply.status, 200);
    let set_cookie = |name: &str| {
        reply
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie set"))
    };
    // The browser is remembered as a known device of the account, out of scripts' reach too.
    let device = set_cookie("baas_device");
    assert!(device.contains("HttpOnly"), "{device}");
    assert!(device.contains("SameSite=Strict"), "{device}");
    assert!(!device.contains("Secure"), "{device}");
    let set_cookie = set_cookie("baas_session");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "plain-HTTP default must not set Secure: {set_cookie}"
    );
    assert_ne!(
        before, client.cookie,
        "a session id from before log-in must not survive it"
    );
    assert_eq!(
        client.post_form("/api/me", "").await.json()["username"],
        "admin"
    );
}

#[tokio::test]
async fn sessions_survive_a_server_restart() {
    let server = TestServer::start().await;
    let client = server.logged_in("admin", ADMIN_PASSWORD).await;
    let mut after_restart = common::Client {
        router: server.restart().await,
        cookie: client.cookie.clone(),
        peer: None,
    };
    assert_eq!(
        after_restart.post_form("/api/me", "").await.json()["username"],
        "admin"
    );
}

#[tokio::test]
async fn idle_sessions_expire() {
    let server = TestServer::start_with_ttl(1).await;
    let mut client = server.logged_in("admin", ADMIN_PASSWORD).await;
    assert_eq!(client.post_form("/api/dashboard", "").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let reply = client.post_form("/api/dashboard", "").await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.json()["kind"], "unauthenticated");
    assert_eq!(client.get("/").await.location(), Some("/login"));
}

/// The timeout counts from the last request, not from log-in: a session in use stays open
/// past it, and closes once left idle that long.
#[tokio::test]
async fn a_session_in_use_stays_open_past_its_idle_timeout() {
    let server = TestServer::start_with_ttl(3).await;
    let mut client = server.logged_in("admin", ADMIN_PASSWORD).await;
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let reply = client.post_form("/api/dashboard", "").await;
        assert_eq!(
            reply.status, 200,
            "a session in use was closed: {}",
            reply.body
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    assert_eq!(client.post_form("/api/dashboard", "").await.status, 401);
}

#[tokio::test]
async fn disabling_a_user_ends_their_open_session() {
    let server = TestServer::start().await;
    let id = server.add_user("alice").await;
    let mut alice = server.logged_in("alice", PASSWORD).await;
    assert_eq!(alice.post_form("/api/dashboard", "").await.status, 200);
    let mut admin = server.logged_in("admin", ADMIN_PASSWORD).await;
    let reply = admin
        .post_form(
            "/api/admin/set_user_disabled",
            &format!("user_id={id}&disabled=true"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(alice.post_form("/api/dashboard", "").await.status, 401);
    let again = server
        .client()
        .post_form("/api/login", &format!("username=alice&password={PASSWORD}"))
        .await;
    assert_eq!(again.status, 401);
}

#[tokio::test]
async fn a_password_change_ends_the_users_other_sessions_but_not_this_one() {
    let server = TestServer::start().await;
    let id = server.add_user("alice").await;
    let mut laptop = server.logged_in("alice", PASSWORD).await;
    let mut phone = server.logged_in("alice", PASSWORD).await;
    let reply = laptop
        .post_form(
            "/api/change_password",
            &format!("current_password={PASSWORD}&new_password=a-new-password-9"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(laptop.post_form("/api/dashboard", "").await.status, 200);
    assert_eq!(phone.post_form("/api/dashboard", "").await.status, 401);
    assert_eq!(phone.get("/").await.location(), Some("/login"));
    assert_eq!(phone.get("/api/v1/whoami").await.status, 401);

    let mut admin = server.logged_in("admin", ADMIN_PASSWORD).await;
    let reply = admin
        .post_form(
            "/api/admin/reset_password",
            &format!("user_id={id}&new_password=reset-by-admin-7"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(laptop.post_form("/api/dashboard", "").await.status, 401);
    assert_eq!(admin.post_form("/api/dashboard", "").await.status, 200);
}

#[tokio::test]
async fn cross_site_state_changes_are_refused_even_with_a_valid_session() {
    let server = TestServer::start().await;
    let mut admin = server.logged_in("admin", ADMIN_PASSWORD).await;
    let forged = admin
        .post_form_with(
            "/api/admin/create_group",
            "name=evil&description=",
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(forged.json()["error"], "cross-site request refused");
    let fetch_metadata = admin
        .post_form_with(
            "/api/admin/create_group",
            "name=evil&description=",
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(fetch_metadata.status, 403);
    assert!(
        server.lab.groups(&Actor::shell()).await.unwrap().is_empty(),
        "nothing may be written"
    );
    let same_origin = admin
        .post_form_with(
            "/api/admin/create_group",
            "name=good&description=",
            &[("origin", "http://127.0.0.1:3000")],
        )
        .await;
    assert_eq!(same_origin.status, 200, "{}", same_origin.body);
}

#[tokio::test]
async fn failed_logins_do_not_tell_whether_the_user_exists() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let unknown = server
        .client()
        .post_form("/api/login", "username=nobody&password=whatever-1")
        .await;
    let wrong = server
        .client()
        .post_form("/api/login", "username=alice&password=whatever-1")
        .await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.body, wrong.body);
}

/// Strangers guessing the admin's password from many addresses lock the account for unknown
/// browsers (who are told how long to wait), never for the browser the admin logged in from.
#[tokio::test]
async fn strangers_cannot_lock_the_admin_out_of_a_browser_they_logged_in_from() {
    let server = TestServer::start().await;
    let mut admins_browser = server.client_at("192.0.2.10:50000");
    let reply = admins_browser
        .post_form(
            "/api/login",
            &format!("username=admin&password={ADMIN_PASSWORD}"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    admins_browser.post_form("/api/logout", "").await;

    // Twenty-six: the account's lock is then a minute long, not a second that may pass.
    for n in 0..26 {
        let reply = server
            .client_at(&format!("198.51.100.{n}:40000"))
            .post_form("/api/login", "username=admin&password=guess-guess")
            .await;
        assert!(matches!(reply.status.as_u16(), 401 | 429), "{}", reply.body);
    }
    let new_browser = server
        .client_at("192.0.2.11:50000")
        .post_form(
            "/api/login",
            &format!("username=admin&password={ADMIN_PASSWORD}"),
        )
        .await;
    assert_eq!(new_browser.status, 429, "{}", new_browser.body);
    assert!(
        new_browser.body.contains("try again in"),
        "the wait is not said: {}",
        new_browser.body
    );
    let reply = admins_browser
        .post_form(
            "/api/login",
            &format!("username=admin&password={ADMIN_PASSWORD}"),
        )
        .await;
    assert_eq!(
        reply.status, 200,
        "the admin was locked out: {}",
        reply.body
    );
}

/// Every answer has a Content-Security-Policy. A page's lets only scripts and styles with that
/// page's own nonce run inline (each render a new one), never `unsafe-inline`; other answers
/// may run nothing.
#[tokio::test]
async fn pages_carry_a_strict_policy_with_a_fresh_nonce_for_their_own_scripts() {
    let server = TestServer::start().await;
    let mut client = server.client();
    let policy_of = |reply: &common::Reply| {
        reply.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string()
    };
    let nonce_of = |policy: &str| {
        policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("no nonce in {policy}"))
            .to_string()
    };
    let login = client.get("/login").await;
    assert_eq!(login.status, 200);
    let policy = policy_of(&login);
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    for directive in [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} missing: {policy}");
    }
    let nonce = nonce_of(&policy);
    let inline_scripts: Vec<&str> = login
        .body
        .split("<script")
        .skip(1)
        .filter(|tag| !tag.split('>').next().unwrap_or_default().contains("src="))
        .collect();
    assert!(
        !inline_scripts.is_empty(),
        "the page has no inline script to check"
    );
    for script in inline_scripts {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(
            tag.contains(&format!("nonce=\"{nonce}\"")),
            "an inline script without the page's nonce: <script{tag}>"
        );
    }
    assert!(
        !login.body.contains(" style=\""),
        "an inline style attribute"
    );
    let again = nonce_of(&policy_of(&client.get("/login").await));
    assert_ne!(nonce, again, "the nonce was reused");

    let docs = client.get("/api/v1/docs").await;
    let nonce = nonce_of(&policy_of(&docs));
    assert!(docs.body.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(docs.body.contains(&format!("<style nonce=\"{nonce}\">")));
    let json = client.get("/api/v1/whoami").await;
    assert!(
        policy_of(&json).starts_with("default-src 'none'"),
        "{}",
        policy_of(&json)
    );
}

/// `/admin/./users` and the like name no page: they do not slip past the page rules.
#[tokio::test]
async fn odd_page_paths_are_not_found_rather_than_unguarded() {
    let server = TestServer::start().await;
    let mut anonymous = server.client();
    for path in [
        "/admin/./users",
        "/machines/../admin/users",
        "/admin//users",
        "/admin/users/.",
    ] {
        let reply = anonymous.get(path).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
    }
    assert_eq!(
        anonymous.get("/admin/users").await.location(),
        Some("/login")
    );
}

#[tokio::test]
async fn bad_input_gets_a_json_error_naming_the_field_and_writes_nothing() {
    let server = TestServer::start().await;
    let mut admin = server.logged_in("admin", ADMIN_PASSWORD).await;

    let bad_mac = "input[name]=node1&input[macs]=52:54:00:zz:00:01&input[platform]=x86_64-uefi&input[bmc_kind]=none\
        &input[bmc_address]=&input[bmc_username]=&input[bmc_password]=&input[location]=&input[tags]=&input[description]=&input[state]=available";
    let reply = admin.post_form("/api/admin/create_machine", bad_mac).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    let json = reply.json();
    assert_eq!(json["kind"], "invalid");
    assert_eq!(json["fields"][0]["field"], "macs");
    assert!(server
        .lab
        .machines(&Actor::shell())
        .await
        .unwrap()
        .is_empty());

    let long_name = format!(
        "username={}&display_name=&password=long-enough-1",
        "x".repeat(100)
    );
    let reply = admin.post_form("/api/admin/create_user", &long_name).await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["fields"][0]["field"], "username");

    let reply = admin.post_form("/api/machine", "id=not-a-number").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.json()["kind"], "bad_request");

    let reply = admin.post_form("/api/no_such_function", "").await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.json()["error"], "no such API function");

    let reply = admin.post_form("/api/machine", "id=999999").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"], "machine not found");
}

#[tokio::test]
async fn reversed_and_overlapping_bookings_are_explained() {
    let server = TestServer::start().await;
    let shell = Actor::shell();
    let machine = server.add_machine("node1", "52:54:00:00:00:01", None).await;
    for name in ["alice", "bob"] {
        let id = server.add_user(name).await;
        server
            .lab
            .grant(&shell, machine, Subject::User(id), Level::Use)
            .await
            .unwrap();
    }
    let t = lab::now() + 3600;
    let at = lab::model::to_datetime_local;
    let mut alice = server.logged_in("alice", PASSWORD).await;
    let reversed = alice
        .post_form(
            "/api/reserve",
            &format!(
                "machine_id={machine}&start={}&end={}&note=",
                at(t + 3600),
                at(t)
            ),
        )
        .await;
    assert_eq!(reversed.status, 422);
    assert_eq!(reversed.json()["fields"][0]["field"], "end");
    let garbled = alice
        .post_form(
            "/api/reserve",
            &format!("machine_id={machine}&start=soon&end=later&note="),
        )
        .await;
    assert_eq!(garbled.status, 422);
    assert_eq!(garbled.json()["fields"][0]["field"], "start");

    let ok = alice
        .post_form(
            "/api/reserve",
            &format!(
                "machine_id={machine}&start={}&end={}&note=",
                at(t),
                at(t + 7200)
            ),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let mut bob = server.logged_in("bob", PASSWORD).await;
    let clash = bob
        .post_form(
            "/api/reserve",
            &format!(
                "machine_id={machine}&start={}&end={}&note=",
                at(t + 3600),
                at(t + 9000)
            ),
        )
        .await;
    assert_eq!(clash.status, 409);
    assert!(
        clash.json()["error"]
            .as_str()
            .unwrap()
            .contains("already reserved by alice"),
        "{}",
        clash.body
    );
}
