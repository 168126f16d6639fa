//! The agent API's door: only signed requests of enrolled agents pass, a captured request
//! cannot be replayed or altered, and an agent sees and touches its own job only — never with
//! no key, a wrong key, a replayed request or another machine's key.

mod common;

use axum::body::Body;
use common::TestServer;
use ed25519_dalek::SigningKey;
use lab::agent_protocol::{authorization, authorization_at, new_key, SCHEME};

/// An agent's key and the requests it signs.
struct Key(SigningKey);

impl Key {
    fn new() -> Key {
        Key(new_key())
    }

    fn public(&self) -> String {
        hex::encode(self.0.verifying_key().as_bytes())
    }

    /// The authorization header for a request, at time `ts` with `nonce`.
    fn sign(&self, method: &str, path: &str, body: &[u8], ts: i64, nonce: &str) -> String {
        authorization_at(&self.0, method, path, body, ts, nonce)
    }

    fn now(&self, method: &str, path: &str, body: &[u8]) -> String {
        authorization(&self.0, method, path, body)
    }
}

async fn call(
    client: &mut common::Client,
    method: &str,
    path: &str,
    authorization: &str,
    body: &[u8],
) -> common::Reply {
    client
        .request(
            method,
            path,
            &[
                ("authorization", authorization),
                ("content-type", "application/json"),
            ],
            Body::from(body.to_vec()),
        )
        .await
}

#[tokio::test]
async fn only_the_enrolled_agent_of_a_machine_sees_its_job_and_no_request_works_twice() {
    let files = tempfile::tempdir().unwrap();
    let kernel = files.path().join("vmlinuz");
    std::fs::write(&kernel, b"kernel").unwrap();
    let server = TestServer::start_with(|config| {
        config.management_os = Some(server::config::ManagementOs {
            kernel: kernel.clone(),
            initrd: None,
            cmdline: String::new(),
        })
    })
    .await;
    let shell = lab::Actor::shell();
    let mut tokens = Vec::new();
    for (index, mac) in ["52:54:00:00:00:01", "52:54:00:00:00:02"]
        .into_iter()
        .enumerate()
    {
        let machine = server.add_machine(&format!("node{index}"), mac, None).await;
        server
            .lab
            .request_management_boot(&shell, machine)
            .await
            .unwrap();
        let address = format!("10.0.0.{}", index + 1);
        server.boot_clients.learn(address.parse().unwrap(), mac);
        let script = server
            .client_at(&format!("{address}:1234"))
            .get(&format!("/boot/{mac}.ipxe"))
            .await
            .body;
        let token = script
            .split_whitespace()
            .find_map(|w| w.strip_prefix("baas.token="))
            .unwrap()
            .to_string();
        tokens.push((mac, address, token));
    }
    let (mac, address, token) = tokens[0].clone();
    let mut from_node = server.client_at(&format!("{address}:40000"));
    let key = Key::new();
    let enrol = serde_json::json!({ "token": token, "mac": mac }).to_string();

    // No signature, a garbage one, a signature by another key, a stale time: refused.
    let reply = from_node
        .request(
            "POST",
            "/agent/v1/enrol",
            &[("content-type", "application/json")],
            Body::from(enrol.clone()),
        )
        .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    let other = Key::new();
    let forged = key
        .now("POST", "/agent/v1/enrol", enrol.as_bytes())
        .replace(&key.public(), &other.public());
    let stale = key.sign(
        "POST",
        "/agent/v1/enrol",
        enrol.as_bytes(),
        lab::now() - 600,
        "0123456789abcdef",
    );
    for authorization in [
        format!("{SCHEME} key=00, ts=1, nonce=x, sig=00"),
        forged,
        stale,
    ] {
        let reply = call(
            &mut from_node,
            "POST",
            "/agent/v1/enrol",
            &authorization,
            enrol.as_bytes(),
        )
        .await;
        assert_eq!(reply.status, 401, "{authorization}: {}", reply.body);
    }
    // A body other than the signed one: refused.
    let signed = key.now("POST", "/agent/v1/enrol", enrol.as_bytes());
    let altered = enrol.replace(&token, "someone-elses-token");
    let reply = call(
        &mut from_node,
        "POST",
        "/agent/v1/enrol",
        &signed,
        altered.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    // The right token from another address: refused.
    let reply = call(
        &mut server.client_at("10.0.0.66:40000"),
        "POST",
        "/agent/v1/enrol",
        &key.now("POST", "/agent/v1/enrol", enrol.as_bytes()),
        enrol.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);

    let signed = key.now("POST", "/agent/v1/enrol", enrol.as_bytes());
    let reply = call(
        &mut from_node,
        "POST",
        "/agent/v1/enrol",
        &signed,
        enrol.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["machine"], "node0");
    // The same request again (a replay): refused, whatever it carries.
    let reply = call(
        &mut from_node,
        "POST",
        "/agent/v1/enrol",
        &signed,
        enrol.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);

    // The enrolled key sees its own job; each request works once.
    let signed = key.now("GET", "/agent/v1/job", b"");
    let reply = call(&mut from_node, "GET", "/agent/v1/job", &signed, b"").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["kind"], "boot");
    let own_job = reply.json()["job_id"].as_i64().unwrap();
    let reply = call(&mut from_node, "GET", "/agent/v1/job", &signed, b"").await;
    assert_eq!(
        reply.status, 401,
        "a replayed request passed: {}",
        reply.body
    );
    // Nor after a restart: the book of nonces is in the database, not only in memory.
    let mut after_restart = common::Client {
        router: server.restart().await,
        cookie: None,
        peer: Some(format!("{address}:40001").parse().unwrap()),
    };
    let reply = call(&mut after_restart, "GET", "/agent/v1/job", &signed, b"").await;
    assert_eq!(
        reply.status, 401,
        "a request captured before a restart was replayed after it: {}",
        reply.body
    );
    let fresh = key.now("GET", "/agent/v1/job", b"");
    let reply = call(&mut after_restart, "GET", "/agent/v1/job", &fresh, b"").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // A key that never enrolled sees nothing.
    let reply = call(
        &mut from_node,
        "GET",
        "/agent/v1/job",
        &other.now("GET", "/agent/v1/job", b""),
        b"",
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);

    // The second machine's agent sees its own job, not the first one's; no image for either.
    let (mac2, address2, token2) = tokens[1].clone();
    let mut from_node2 = server.client_at(&format!("{address2}:40000"));
    let key2 = Key::new();
    let enrol2 = serde_json::json!({ "token": token2, "mac": mac2 }).to_string();
    let reply = call(
        &mut from_node2,
        "POST",
        "/agent/v1/enrol",
        &key2.now("POST", "/agent/v1/enrol", enrol2.as_bytes()),
        enrol2.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = call(
        &mut from_node2,
        "GET",
        "/agent/v1/job",
        &key2.now("GET", "/agent/v1/job", b""),
        b"",
    )
    .await;
    assert_ne!(reply.json()["job_id"].as_i64().unwrap(), own_job);
    let reply = call(
        &mut from_node2,
        "GET",
        "/agent/v1/image",
        &key2.now("GET", "/agent/v1/image", b""),
        b"",
    )
    .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    // Its reports can only ever name its own job (a plain boot, done once the agent enrolled):
    // the first machine's job is untouched.
    let progress = br#"{"phase":"writing","done":1,"total":2}"#;
    let reply = call(
        &mut from_node2,
        "POST",
        "/agent/v1/progress",
        &key2.now("POST", "/agent/v1/progress", progress),
        progress,
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let first = server.lab.job(&shell, own_job).await.unwrap();
    assert_eq!(first.state, lab::model::JobState::Booted, "{first:?}");
    assert!(first
        .phases
        .iter()
        .all(|p| p.state != lab::model::JobState::Writing));
}
