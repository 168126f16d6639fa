//! The image library over HTTP: whole-body and resumable (tus) uploads with API tokens and
//! sessions, streaming with Range/ETag, imports by URL, and every bad-input case leaving nothing.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use base64::Engine;
use common::{TestServer, PASSWORD};
use sha2::{Digest, Sha256};

/// A raw disk image: MBR signature plus varied bytes.
fn raw_disk(len: usize) -> Vec<u8> {
    let mut disk: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    disk[510] = 0x55;
    disk[511] = 0xaa;
    disk
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn b64(value: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(value)
}

/// A user with an API token; returns the `Authorization` header value.
async fn token_for(server: &TestServer, name: &str) -> String {
    server.add_user(name).await;
    let actor = server
        .lab
        .user_by_name(&lab::Actor::shell(), name)
        .await
        .unwrap();
    let actor = lab::Actor::user(actor.id, name, false, "test");
    let (_, secret) = server
        .lab
        .create_api_token(&actor, "test", None)
        .await
        .unwrap();
    format!("Bearer {secret}")
}

/// Files left in the partial area and image files in the library directory.
fn files_on_disk(server: &TestServer) -> (usize, usize) {
    let count = |dir: std::path::PathBuf| {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter(|e| e.as_ref().unwrap().path().is_file())
                    .count()
            })
            .unwrap_or(0)
    };
    (
        count(server.config.image_dir.join(".partial")),
        count(server.config.image_dir.clone()),
    )
}

#[tokio::test]
async fn curl_style_put_with_a_token_adds_an_image_that_streams_back_with_ranges_and_etag() {
    let server = TestServer::start().await;
    let token = token_for(&server, "alice").await;
    let disk = raw_disk(3 << 20);
    let mut client = server.client();
    let path = format!(
        "/api/v1/images/debian-12?visibility=public&sha256={}",
        sha256(&disk)
    );
    let reply = client
        .request(
            "PUT",
            &path,
            &[
                ("authorization", &token),
                ("content-length", &disk.len().to_string()),
            ],
            Body::from(disk.clone()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let image = reply.json();
    assert_eq!(image["sha256"], sha256(&disk));
    assert_eq!(image["version"], 1);
    assert_eq!(image["format"], "raw");
    let id = image["id"].as_i64().unwrap();
    assert_eq!(reply.location(), Some(format!("/images/{id}").as_str()));

    let content = format!("/images/{id}/content");
    let (status, headers, body) = client
        .request_bytes("GET", &content, &[("authorization", &token)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, disk);
    assert_eq!(headers["content-length"], disk.len().to_string());
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", sha256(&disk)));

    let (status, headers, body) = client
        .request_bytes(
            "GET",
            &content,
            &[("authorization", &token), ("range", "bytes=1000-1999")],
        )
        .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &disk[1000..2000]);
    assert_eq!(
        headers["content-range"],
        format!("bytes 1000-1999/{}", disk.len())
    );
    let (status, _, body) = client
        .request_bytes(
            "GET",
            &content,
            &[("authorization", &token), ("range", "bytes=-10")],
        )
        .await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::PARTIAL_CONTENT, &disk[disk.len() - 10..])
    );
    let (status, headers, _) = client
        .request_bytes(
            "GET",
            &content,
            &[("authorization", &token), ("range", "bytes=99999999-")],
        )
        .await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(headers["content-range"], format!("bytes */{}", disk.len()));
    // A changed copy (If-Range with another tag) gets the whole image.
    let (status, _, body) = client
        .request_bytes(
            "GET",
            &content,
            &[
                ("authorization", &token),
                ("range", "bytes=0-9"),
                ("if-range", "\"other\""),
            ],
        )
        .await;
    assert_eq!((status, body.len()), (StatusCode::OK, disk.len()));
    let (status, _, body) = client
        .request_bytes(
            "GET",
            &content,
            &[("authorization", &token), ("if-none-match", &etag)],
        )
        .await;
    assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0));
    let (status, headers, body) = client
        .request_bytes("HEAD", &content, &[("authorization", &token)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-length"], disk.len().to_string());
    assert!(body.is_empty());

    // Public: another user streams it too; nobody without credentials does.
    let bob = token_for(&server, "bob").await;
    let (status, _, _) = client
        .request_bytes("GET", &content, &[("authorization", &bob)])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = server.client().request_bytes("GET", &content, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = client
        .request_bytes("GET", &content, &[("authorization", "Bearer baas_forged")])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The same name again is version 2; the list shows it and the whoami check works.
    let reply = client
        .request(
            "PUT",
            "/api/v1/images/debian-12",
            &[("authorization", &token)],
            Body::from(raw_disk(4096)),
        )
        .await;
    assert_eq!(reply.json()["version"], 2, "{}", reply.body);
    let reply = client
        .request(
            "GET",
            "/api/v1/images?mine=true",
            &[("authorization", &token)],
            Body::empty(),
        )
        .await;
    assert_eq!(reply.json()["items"].as_array().unwrap().len(), 1);
    assert_eq!(reply.json()["total"], 1);
    let reply = client
        .request(
            "GET",
            "/api/v1/whoami",
            &[("authorization", &token)],
            Body::empty(),
        )
        .await;
    assert_eq!(reply.json()["username"], "alice");
}

#[tokio::test]
async fn a_tus_upload_from_a_browser_session_resumes_at_the_committed_offset() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let mut client = server.logged_in("alice", PASSWORD).await;
    let disk = raw_disk(5 << 20);
    let metadata = format!(
        "name {},filename {},sha256 {}",
        b64("ubuntu"),
        b64("ubuntu.img"),
        b64(&sha256(&disk))
    );
    let length = disk.len().to_string();
    let origin = [("origin", "http://127.0.0.1:3000")];
    let reply = client
        .request(
            "POST",
            "/api/v1/uploads",
            &[
                origin[0],
                ("upload-length", &length),
                ("upload-metadata", &metadata),
                ("tus-resumable", "1.0.0"),
            ],
            Body::empty(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let location = reply.location().unwrap().to_string();
    let chunk = |from: usize, to: usize| Body::from(disk[from..to].to_vec());
    let patch_headers = |offset: &'static str| {
        vec![
            origin[0],
            ("content-type", "application/offset+octet-stream"),
            ("upload-offset", offset),
        ]
    };
    let reply = client
        .request("PATCH", &location, &patch_headers("0"), chunk(0, 2 << 20))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(reply.headers["upload-offset"], (2 << 20).to_string());

    // The connection "dropped": the client asks where to resume, and a stale offset is refused.
    let reply = client.request("HEAD", &location, &[], Body::empty()).await;
    assert_eq!(reply.headers["upload-offset"], "2097152");
    assert_eq!(reply.headers["upload-length"], length);
    let reply = client
        .request(
            "PATCH",
            &location,
            &patch_headers("1048576"),
            chunk(1 << 20, 2 << 20),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    // A PATCH from another site is refused before it touches anything.
    let reply = client
        .request(
            "PATCH",
            &location,
            &[
                ("origin", "http://evil.example"),
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", "2097152"),
            ],
            chunk(2 << 20, 3 << 20),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let reply = client
        .request(
            "PATCH",
            &location,
            &patch_headers("2097152"),
            chunk(2 << 20, 5 << 20),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let image_id = reply.headers["image-id"].to_str().unwrap().to_string();
    let (status, _, body) = client
        .request_bytes("GET", &format!("/images/{image_id}/content"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sha256(&body), sha256(&disk));
    let status = client
        .request("GET", &location, &[], Body::empty())
        .await
        .json();
    assert_eq!(status["state"], "done");

    // Someone else's upload is not found; a cancelled one is gone with its bytes.
    server.add_user("bob").await;
    let mut bob = server.logged_in("bob", PASSWORD).await;
    assert_eq!(
        bob.request("HEAD", &location, &[], Body::empty())
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let reply = client
        .request(
            "POST",
            "/api/v1/uploads",
            &[
                origin[0],
                ("upload-length", "100000"),
                ("upload-metadata", &format!("name {}", b64("tmp"))),
            ],
            Body::empty(),
        )
        .await;
    let cancel = reply.location().unwrap().to_string();
    client
        .request("PATCH", &cancel, &patch_headers("0"), chunk(0, 50_000))
        .await;
    let reply = client
        .request("DELETE", &cancel, &[origin[0]], Body::empty())
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(files_on_disk(&server), (0, 1));
}

#[tokio::test]
async fn bad_uploads_fail_clearly_and_leave_nothing_behind() {
    let server = TestServer::start().await;
    let token = token_for(&server, "alice").await;
    let mut client = server.client();
    let auth = ("authorization", token.as_str());
    let disk = raw_disk(1 << 20);

    let put = |path: &str| path.to_string();
    let cases: Vec<(String, Vec<u8>, u16, &str)> = vec![
        (
            put(&format!("/api/v1/images/d?sha256={}", "0".repeat(64))),
            disk.clone(),
            422,
            "not the expected",
        ),
        (
            put("/api/v1/images/noise"),
            vec![7u8; 70_000],
            422,
            "unknown format",
        ),
        (
            put("/api/v1/images/d?filename=d.raw.zst"),
            disk.clone(),
            422,
            "promises zstd",
        ),
        (
            put("/api/v1/images/d"),
            [&[0x28, 0xb5, 0x2f, 0xfd][..], &[1u8; 5000][..]].concat(),
            422,
            "does not decompress",
        ),
        (put("/api/v1/images/..%2Fetc"), disk.clone(), 422, "name"),
        (
            put("/api/v1/images/d?sha256=xyz"),
            disk.clone(),
            422,
            "sha256",
        ),
    ];
    for (path, body, status, message) in cases {
        let reply = client
            .request("PUT", &path, &[auth], Body::from(body))
            .await;
        assert_eq!(reply.status.as_u16(), status, "{path}: {}", reply.body);
        assert!(reply.body.contains(message), "{path}: {}", reply.body);
    }

    // A body that breaks off mid-way (the client went away).
    let broken = futures_util::stream::iter(vec![
        Ok::<_, std::io::Error>(bytes::Bytes::from(disk[..500_000].to_vec())),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ]);
    let reply = client
        .request(
            "PUT",
            "/api/v1/images/broken",
            &[auth],
            Body::from_stream(broken),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("broke off after 500000 bytes"),
        "{}",
        reply.body
    );

    // Declared longer than sent (truncated).
    let reply = client
        .request(
            "POST",
            "/api/v1/uploads",
            &[auth, ("upload-length", "abc")],
            Body::empty(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // Over quota, declared up front and discovered while streaming.
    let alice = server
        .lab
        .user_by_name(&lab::Actor::shell(), "alice")
        .await
        .unwrap();
    server
        .lab
        .set_image_quota(&lab::Actor::shell(), alice.id, Some(500_000))
        .await
        .unwrap();
    let reply = client
        .request(
            "POST",
            "/api/v1/uploads",
            &[
                auth,
                ("upload-length", "600000"),
                ("upload-metadata", &format!("name {}", b64("big"))),
            ],
            Body::empty(),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("over quota"));
    let reply = client
        .request(
            "PUT",
            "/api/v1/images/big",
            &[auth],
            Body::from(disk.clone()),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );

    assert_eq!(files_on_disk(&server), (0, 0), "nothing may remain");
    assert!(server
        .lab
        .images(&lab::Actor::shell(), &Default::default())
        .await
        .unwrap()
        .is_empty());
    let reply = client.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn a_full_disk_fails_the_upload_and_the_server_keeps_working() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        common::process::skipped("mounting a small tmpfs failed (it needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.path().to_path_buf());
    let image_dir = mount.path().join("images");
    let server = TestServer::start_with(|config| config.image_dir = image_dir.clone()).await;
    let token = token_for(&server, "alice").await;
    let mut client = server.client();
    let auth = ("authorization", token.as_str());

    let reply = client
        .request(
            "PUT",
            "/api/v1/images/huge",
            &[auth],
            Body::from(raw_disk(3 << 20)),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("no space left"), "{}", reply.body);
    assert_eq!(files_on_disk(&server), (0, 0));

    let small = raw_disk(512 << 10);
    let reply = client
        .request(
            "PUT",
            "/api/v1/images/small",
            &[auth],
            Body::from(small.clone()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.json()["sha256"], sha256(&small));
}

#[tokio::test]
async fn an_import_fetches_by_url_with_progress_and_a_dead_url_is_reported_at_once() {
    let disk = raw_disk(4 << 20);
    let served = disk.clone();
    let source = axum::Router::new().route(
        "/images/disk.img",
        axum::routing::get(move || {
            let body = served.clone();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, source).await });

    let server = TestServer::start().await;
    // The source is on loopback, which imports may only reach once an admin allows it.
    server
        .lab
        .set_import_networks(&lab::Actor::shell(), "127.0.0.0/8")
        .await
        .unwrap();
    let token = token_for(&server, "alice").await;
    let mut client = server.client();
    let auth = ("authorization", token.as_str());
    let json = ("content-type", "application/json");
    let request = serde_json::json!({
        "url": format!("http://{address}/images/disk.img"),
        "name": "imported",
        "sha256": sha256(&disk),
    });
    let reply = client
        .request(
            "POST",
            "/api/v1/imports",
            &[auth, json],
            Body::from(request.to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let upload = reply.json();
    assert_eq!(upload["length"], disk.len());
    let status_path = format!("/api/v1/uploads/{}", upload["id"].as_str().unwrap());
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        status = client
            .request("GET", &status_path, &[auth], Body::empty())
            .await
            .json();
        if status["state"] != "receiving" && status["state"] != "processing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status["state"], "done", "{status}");
    let image_id = status["image_id"].as_i64().unwrap();
    let image = client
        .request(
            "GET",
            &format!("/api/v1/images/{image_id}"),
            &[auth],
            Body::empty(),
        )
        .await
        .json();
    assert_eq!(image["sha256"], sha256(&disk));
    assert_eq!(image["source"], format!("http://{address}/images/disk.img"));

    let missing = serde_json::json!({ "url": format!("http://{address}/nothing"), "name": "x" });
    let reply = client
        .request(
            "POST",
            "/api/v1/imports",
            &[auth, json],
            Body::from(missing.to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    assert!(reply.body.contains("404"), "{}", reply.body);
    let not_http = serde_json::json!({ "url": "file:///etc/passwd", "name": "x" });
    let reply = client
        .request(
            "POST",
            "/api/v1/imports",
            &[auth, json],
            Body::from(not_http.to_string()),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert_eq!(files_on_disk(&server), (0, 1));
}

/// An admin sets the internal networks imports may reach (Settings → Imports by URL).
async fn allow_networks(admin: &mut common::Client, networks: &str) -> common::Reply {
    let body = format!("allowed_networks={}", networks.replace('/', "%2F"));
    admin
        .post_form("/api/admin/set_import_networks", &body)
        .await
}

/// An image server on `ip` (any port) that serves `/disk.img` and redirects `/elsewhere` to
/// `target`. Returns its address.
async fn source_at(ip: &str, target: Option<String>) -> std::net::SocketAddr {
    let body = raw_disk(64 << 10);
    let mut source = axum::Router::new().route(
        "/disk.img",
        axum::routing::get(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    if let Some(target) = target {
        source = source.route(
            "/elsewhere",
            axum::routing::get(move || {
                let target = target.clone();
                async move { axum::response::Redirect::temporary(&target) }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, source).await });
    address
}

#[tokio::test]
async fn imports_refuse_internal_destinations_by_address_name_and_redirect_unless_allowed() {
    let inside = source_at("127.0.0.1", None).await;
    // A server on another loopback address that an admin will allow, redirecting inside.
    let gateway = source_at("127.0.0.2", Some(format!("http://{inside}/disk.img"))).await;
    let server = TestServer::start().await;
    let token = token_for(&server, "alice").await;
    let client = server.client();
    let import = |url: String| {
        let mut client = client.clone();
        let token = token.clone();
        async move {
            let request = serde_json::json!({ "url": url, "name": "probe" });
            client
                .request(
                    "POST",
                    "/api/v1/imports",
                    &[
                        ("authorization", token.as_str()),
                        ("content-type", "application/json"),
                    ],
                    Body::from(request.to_string()),
                )
                .await
        }
    };
    let refused = |reply: &common::Reply, needle: &str| {
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
        assert_eq!(reply.json()["fields"][0]["field"], "url", "{}", reply.body);
        assert!(
            reply.body.contains(needle),
            "{needle} not in {}",
            reply.body
        );
    };

    refused(
        &import(format!("http://{inside}/disk.img")).await,
        "loopback",
    );
    let by_name = format!("http://localhost:{}/disk.img", inside.port());
    refused(&import(by_name.clone()).await, "loopback");
    refused(
        &import(format!(
            "http://[::ffff:127.0.0.1]:{}/disk.img",
            inside.port()
        ))
        .await,
        "loopback",
    );
    refused(
        &import("http://169.254.169.254/latest/meta-data".into()).await,
        "link-local",
    );
    refused(&import("http://10.0.0.1/disk.img".into()).await, "private");
    refused(
        &import("http://[fd00::1]/disk.img".into()).await,
        "unique-local",
    );

    // Allowing the gateway's address alone does not open what it redirects to.
    let mut admin = server.logged_in("admin", common::ADMIN_PASSWORD).await;
    let saved = allow_networks(&mut admin, "127.0.0.2/32").await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let reply = import(format!("http://{gateway}/elsewhere")).await;
    refused(&reply, "redirected: 127.0.0.1 is a loopback address");
    let direct = import(format!("http://{gateway}/disk.img")).await;
    assert_eq!(direct.status, StatusCode::ACCEPTED, "{}", direct.body);

    // A bad network is named; the whole loopback network, once allowed, is reachable by name.
    let bad = allow_networks(&mut admin, "127.0.0.0/40").await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.json()["fields"][0]["field"], "allowed_networks");
    let saved = allow_networks(&mut admin, "127.0.0.0/8").await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let reply = import(by_name).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
}
