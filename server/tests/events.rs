//! The event stream: a caller hears the job changes of the machines they may see and nothing
//! else, and a client that reconnects with `Last-Event-ID` gets exactly what it missed.

mod common;

use common::{TestServer, PASSWORD};
use lab::model::{Level, Subject};
use lab::Actor;

/// The `id:` and `data:` lines of an event-stream body.
fn events(body: &str) -> Vec<(u64, serde_json::Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let id = block.lines().find_map(|l| l.strip_prefix("id: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((id.parse().ok()?, serde_json::from_str(data).ok()?))
        })
        .collect()
}

#[tokio::test]
async fn callers_hear_the_jobs_of_machines_they_see_and_resume_where_they_left_off() {
    let server = TestServer::start().await;
    let shell = Actor::shell();
    let hers = server.add_machine("node1", "52:54:00:00:00:01", None).await;
    let other = server.add_machine("node2", "52:54:00:00:00:02", None).await;
    let alice = server.add_user("alice").await;
    server
        .lab
        .grant(&shell, hers, Subject::User(alice), Level::Use)
        .await
        .unwrap();
    let mut alice = server.logged_in("alice", PASSWORD).await;
    for machine in [other, hers, other] {
        let job = server
            .lab
            .request_management_boot(&shell, machine)
            .await
            .unwrap();
        server.lab.cancel_job(&shell, job.id).await.unwrap();
    }

    let reply = alice
        .request(
            "GET",
            "/api/v1/events?max_seconds=0",
            &[("last-event-id", "0")],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    let heard = events(&reply.body);
    assert_eq!(heard.len(), 2, "{}", reply.body);
    assert!(heard
        .iter()
        .all(|(_, e)| e["machine_id"] == hers && e["kind"] == "job"));

    // Reconnecting after the first: only the second again.
    let reply = alice
        .request(
            "GET",
            "/api/v1/events?max_seconds=0",
            &[("last-event-id", &heard[0].0.to_string())],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(events(&reply.body), heard[1..]);

    // A live listener hears a new change as it happens.
    let router = server.router.clone();
    let cookie = alice.cookie.clone().unwrap();
    let before = server.lab.events().listeners();
    let listening = tokio::spawn(async move {
        let mut client = common::Client {
            router,
            cookie: Some(cookie),
            peer: None,
        };
        client
            .get(&format!("/api/v1/events?machine={hers}&max_seconds=2"))
            .await
    });
    // The change is made once the stream listens (it subscribes before it answers).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while server.lab.events().listeners() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the stream never listened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let job = server
        .lab
        .request_management_boot(&shell, hers)
        .await
        .unwrap();
    let live = events(&listening.await.unwrap().body);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].1["job_id"], job.id);
}
