//! Two real `baas` binaries on one PostgreSQL database, with one shared image directory: the
//! database keeps them consistent, live events cross, the background duties run once and move
//! to the survivor when an instance dies, and uploads resume on either.
//!
//! Needs `BAAS_TEST_POSTGRES`, the URL of a PostgreSQL server the tests may create databases on
//! (`./dev test` starts a throwaway one and sets it).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{Killed, LogLines};
use futures_util::StreamExt;
use lab::model::{Level, Subject};
use lab::{Actor, Lab, SecretBox};
use sha2::{Digest, Sha256};

const ADMIN_PASSWORD: &str = "admin-password-1";
const LEADING: &str = "now runs the background duties";
const STANDING_BY: &str = "another instance leads; standing by";
const RELAYING: &str = "live events: carried to and from the other instances";

/// A new, empty database on the test server; its URL.
async fn fresh_database() -> String {
    let server = std::env::var("BAAS_TEST_POSTGRES").expect(
        "BAAS_TEST_POSTGRES must name a PostgreSQL server to create test databases on \
         (./dev test starts a throwaway one)",
    );
    lab::testing::fresh_postgres_database(&server).await
}

/// One running `baas serve`.
struct Instance {
    _process: Killed,
    logs: LogLines,
    base: String,
    /// Whether it said it leads before it said it listens.
    led_at_start: bool,
    /// Whether it said it stands by / carries live events before it said it listens.
    stood_by_at_start: bool,
    relayed_at_start: bool,
}

impl Instance {
    /// The instance once it listens, noting whether it said it leads before that.
    fn started(process: Killed, logs: LogLines, base: String) -> Instance {
        let (mut led_at_start, mut stood_by_at_start, mut relayed_at_start) = (false, false, false);
        loop {
            let line = logs
                .wait_for("", Duration::from_secs(60))
                .unwrap_or_else(|| panic!("{base} did not start"));
            led_at_start |= line.contains(LEADING);
            stood_by_at_start |= line.contains(STANDING_BY);
            relayed_at_start |= line.contains(RELAYING);
            if line.contains("baas listening on") {
                break;
            }
        }
        Instance {
            _process: process,
            logs,
            base,
            led_at_start,
            stood_by_at_start,
            relayed_at_start,
        }
    }

    /// Whether it says it stands by (another leads) within `within`, before saying it leads.
    fn stands_by_within(&self, within: Duration) -> bool {
        if self.led_at_start {
            return false;
        }
        if self.stood_by_at_start {
            return true;
        }
        loop {
            match self.logs.wait_for("", within) {
                Some(line) if line.contains(LEADING) => return false,
                Some(line) if line.contains(STANDING_BY) => return true,
                Some(_) => continue,
                None => return false,
            }
        }
    }

    /// Whether it carries live events to and from the other instances by `within` from now.
    fn relays_within(&self, within: Duration) -> bool {
        self.relayed_at_start || self.logs.wait_for(RELAYING, within).is_some()
    }

    /// Whether it leads the background duties by `within` from now (or did already).
    fn leads_within(&self, within: Duration) -> bool {
        self.led_at_start || self.logs.wait_for(LEADING, within).is_some()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Kills the process outright, as a crash would.
    fn kill(self) {
        drop(self);
    }
}

/// A lab of two instances: separate data directories holding the same secret key, one database,
/// one image directory.
struct Pair {
    database: String,
    images: tempfile::TempDir,
    data: [tempfile::TempDir; 2],
}

impl Pair {
    /// Instance `which` in the server namespace of `net`, answering DHCP on its interface as
    /// `settings` (mode, public URL, …) say; returns once it listens.
    fn start_on(
        &self,
        net: &common::process::VethPair,
        which: usize,
        settings: &[(&str, &str)],
    ) -> Instance {
        let data_dir = self.data[which].path().display().to_string();
        let images = self.images.path().display().to_string();
        let http = format!("127.0.0.1:{}", 3000 + which);
        let mut env = vec![
            ("DATABASE_URL", self.database.as_str()),
            ("BAAS_DATA_DIR", data_dir.as_str()),
            ("BAAS_IMAGE_DIR", images.as_str()),
            ("BAAS_HTTP_ADDR", http.as_str()),
            ("BAAS_TFTP_ADDR", "off"),
            ("BAAS_DHCP_INTERFACES", net.server_if.as_str()),
        ];
        env.extend_from_slice(settings);
        let (process, logs) = common::process::baas_in(&net.server, &env);
        Instance::started(process, logs, format!("http://{http} in {}", net.server))
    }

    async fn new() -> Pair {
        Pair {
            database: fresh_database().await,
            images: tempfile::tempdir().unwrap(),
            data: [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()],
        }
    }

    /// Starts instance `which` (0 or 1) with `settings` on top of the shared ones; returns once
    /// it answers HTTP.
    fn start(&self, which: usize, settings: &[(&str, &str)]) -> Instance {
        let data_dir = self.data[which].path();
        if which == 1 {
            // Secrets sealed by one instance must open on the other.
            std::fs::copy(
                self.data[0].path().join("secret.key"),
                data_dir.join("secret.key"),
            )
            .expect("instance 0 starts first and creates the key");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_baas"));
        command
            .arg("serve")
            .env_remove("BAAS_CONFIG")
            .env("DATABASE_URL", &self.database)
            .env("BAAS_DATA_DIR", data_dir)
            .env("BAAS_IMAGE_DIR", self.images.path())
            .env("BAAS_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("BAAS_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("BAAS_TFTP_ADDR", "off")
            .env("BAAS_DHCP_MODE", "off")
            .env("BAAS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "info,sqlx=warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in settings {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starting baas");
        let logs = LogLines::follow(child.stderr.take().unwrap());
        Instance::started(Killed(child), logs, format!("http://127.0.0.1:{port}"))
    }

    /// The lab as the tests set it up: the same database, key and images as the instances.
    async fn lab(&self) -> Lab {
        let secrets = SecretBox::load_or_create(&self.data[0].path().join("secret.key")).unwrap();
        Lab::open(&self.database, secrets, self.images.path())
            .await
            .expect("open the shared lab")
    }
}

/// A user who may use `machine`, with an API token; returns the `Authorization` value.
async fn user_with_token(lab: &Lab, name: &str, machine: i64) -> (Actor, String) {
    let actor = lab::testing::user(lab, name).await;
    let user_id = actor.user_id.unwrap();
    lab.grant(&Actor::shell(), machine, Subject::User(user_id), Level::Use)
        .await
        .unwrap();
    let (_, secret) = lab.create_api_token(&actor, "test", None).await.unwrap();
    (actor, format!("Bearer {secret}"))
}

async fn add_machine(lab: &Lab, name: &str, mac: &str) -> i64 {
    let input = lab::testing::machine_input(name, mac);
    lab.create_machine(&Actor::shell(), input).await.unwrap().id
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_conflicting_reservations_over_two_instances_have_exactly_one_winner() {
    let pair = Pair::new().await;
    let instances = [pair.start(0, &[]), pair.start(1, &[])];
    let lab = pair.lab().await;
    let machine = add_machine(&lab, "contested", "52:54:00:00:0f:01").await;
    let mut tokens = Vec::new();
    for n in 0..10 {
        tokens.push(user_with_token(&lab, &format!("racer{n}"), machine).await.1);
    }
    let now = lab::now();
    let client = client();
    let started = Instant::now();
    let attempts: Vec<_> = (0..1000)
        .map(|i| {
            // Every slot overlaps every other: all start within the first hour, all last 2 h.
            let start = now + 3600 + (i % 60) * 60;
            let body = serde_json::json!({
                "machine_id": machine,
                "start_at": start,
                "end_at": start + 7200,
            });
            let request = client
                .post(instances[i as usize % 2].url("/api/v1/reservations"))
                .header("authorization", &tokens[i as usize % tokens.len()])
                .json(&body)
                .send();
            tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for attempt in attempts {
        let status = attempt.await.unwrap().expect("every request is answered");
        *statuses.entry(status).or_default() += 1;
    }
    println!(
        "1000 conflicting reservations over two instances in {:.2} s: {statuses:?}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(statuses.get(&201), Some(&1), "{statuses:?}");
    assert_eq!(statuses.get(&409), Some(&999), "{statuses:?}");
    let active: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM reservations WHERE machine_id = $1 AND state = 'active'",
    )
    .bind(machine)
    .fetch_one(lab.pool())
    .await
    .unwrap();
    assert_eq!(active, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_on_one_instance_reaches_a_stream_on_the_other_within_a_second() {
    let pair = Pair::new().await;
    let (a, b) = (pair.start(0, &[]), pair.start(1, &[]));
    let lab = pair.lab().await;
    let machine = add_machine(&lab, "watched", "52:54:00:00:0f:02").await;
    let (alice, token) = user_with_token(&lab, "alice", machine).await;
    lab.reserve(&alice, machine, lab::now(), lab::now() + 3600, "")
        .await
        .unwrap();
    let client = client();

    // A session made on one instance works on the other.
    let login = client
        .post(a.url("/api/login"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("baas_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let me: serde_json::Value = client
        .get(b.url("/api/v1/whoami"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "admin", "the session from A on B: {me}");

    let mut stream = client
        .get(b.url("/api/v1/events?max_seconds=20"))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // B's stream listens (it subscribes before it answers); both instances carry live events.
    assert!(a.relays_within(Duration::from_secs(10)) && b.relays_within(Duration::from_secs(10)));
    let made = Instant::now();
    let created = client
        .post(a.url("/api/v1/jobs"))
        .header("authorization", &token)
        .json(&serde_json::json!({"machine_id": machine, "kind": "inventory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let job: serde_json::Value = created.json().await.unwrap();
    let mut body = String::new();
    let heard = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("B's stream heard nothing within 5 s")
            .unwrap()
            .expect("the stream ended early");
        body.push_str(&String::from_utf8_lossy(&chunk));
        if body.contains(&format!("\"job_id\":{}", job["id"])) {
            break made.elapsed();
        }
    };
    println!(
        "a job made on A was heard on B after {:.1} ms",
        heard.as_secs_f64() * 1000.0
    );
    assert!(
        heard < Duration::from_secs(1),
        "heard after {heard:?}: {body}"
    );
    assert!(
        body.contains(&format!("\"machine_id\":{machine}")),
        "{body}"
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_instance_dies_is_ended_by_the_other_within_its_timeout() {
    let pair = Pair::new().await;
    let timeouts = [("BAAS_JOB_NETBOOT_TIMEOUT_SECONDS", "6")];
    let first = pair.start(0, &timeouts);
    assert!(
        first.leads_within(Duration::from_secs(10)),
        "the only instance leads"
    );
    let second = pair.start(1, &timeouts);
    assert!(
        second.stands_by_within(Duration::from_secs(10)),
        "two leaders at once"
    );
    let lab = pair.lab().await;
    let machine = add_machine(&lab, "orphan", "52:54:00:00:0f:03").await;
    let (alice, _) = user_with_token(&lab, "alice", machine).await;
    lab.reserve(&alice, machine, lab::now(), lab::now() + 3600, "")
        .await
        .unwrap();
    let job = lab
        .create_job(
            &alice,
            &lab::jobs::JobRequest {
                machine_id: machine,
                kind: lab::model::JobKind::Inventory,
                image_id: None,
                save_as: String::new(),
                at: None,
            },
        )
        .await
        .unwrap();

    // The leader starts it (no BMC: it waits for someone to power the machine).
    let deadline = Instant::now() + Duration::from_secs(10);
    let powering = loop {
        let job = lab.job(&alice, job.id).await.unwrap();
        if job.state == lab::model::JobState::Powering {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "the leader never started the job"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    first.kill();
    let killed = Instant::now();
    assert!(
        second.leads_within(Duration::from_secs(10)),
        "the survivor takes over"
    );
    let took_over = killed.elapsed();

    let deadline = Instant::now() + Duration::from_secs(20);
    let ended = loop {
        let job = lab.job(&alice, job.id).await.unwrap();
        if job.state.is_final() {
            break job;
        }
        assert!(Instant::now() < deadline, "nobody ended the job: {job:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "leader killed; survivor led after {:.1} s; job ended {} s after it began powering: {}",
        took_over.as_secs_f64(),
        ended.ended_at.unwrap_or_default() - powering.state_at,
        ended.reason
    );
    assert_eq!(ended.state, lab::model::JobState::Failed);
    assert!(
        ended.reason.contains("did not network-boot within 6 s"),
        "{}",
        ended.reason
    );
    assert!(
        took_over < Duration::from_secs(5),
        "took over after {took_over:?}"
    );
    assert!(ended.ended_at.unwrap_or_default() - powering.state_at <= 6 + 5);
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_started_on_one_instance_resumes_on_the_other_and_both_serve_its_bytes() {
    let pair = Pair::new().await;
    let (a, b) = (pair.start(0, &[]), pair.start(1, &[]));
    let lab = pair.lab().await;
    let machine = add_machine(&lab, "unused", "52:54:00:00:0f:04").await;
    let (_, token) = user_with_token(&lab, "alice", machine).await;
    let mut disk: Vec<u8> = (0..5 << 20).map(|i: usize| (i * 7 % 251) as u8).collect();
    disk[510] = 0x55;
    disk[511] = 0xaa;
    let client = client();
    use base64::Engine as _;
    let name = base64::engine::general_purpose::STANDARD.encode("shared-disk");
    let created = client
        .post(a.url("/api/v1/uploads"))
        .header("authorization", &token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", disk.len().to_string())
        .header("upload-metadata", format!("name {name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let patch = |instance: &Instance, offset: usize, bytes: Vec<u8>| {
        client
            .patch(instance.url(&location))
            .header("authorization", &token)
            .header("tus-resumable", "1.0.0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .body(bytes)
            .send()
    };
    let first = patch(&a, 0, disk[..2 << 20].to_vec()).await.unwrap();
    assert_eq!(first.status(), 204);

    // The client lost A: B tells where the upload stands and takes the rest.
    let head = client
        .head(b.url(&location))
        .header("authorization", &token)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["upload-offset"], (2 << 20).to_string());
    let stale = patch(&b, 1 << 20, disk[1 << 20..2 << 20].to_vec())
        .await
        .unwrap();
    assert_eq!(stale.status(), 409, "a stale offset is refused on B too");
    let rest = patch(&b, 2 << 20, disk[2 << 20..].to_vec()).await.unwrap();
    assert_eq!(rest.status(), 204);
    let image_id = rest.headers()["image-id"].to_str().unwrap().to_string();

    let want = hex::encode(Sha256::digest(&disk));
    for instance in [&a, &b] {
        let body = client
            .get(instance.url(&format!("/images/{image_id}/content")))
            .header("authorization", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(body.status(), 200);
        let mut hasher = Sha256::new();
        let mut bytes = body.bytes_stream();
        while let Some(chunk) = bytes.next().await {
            hasher.update(chunk.unwrap());
        }
        assert_eq!(
            hex::encode(hasher.finalize()),
            want,
            "served by {}",
            instance.base
        );
    }
    let image: serde_json::Value = client
        .get(b.url(&format!("/api/v1/images/{image_id}")))
        .header("authorization", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(image["sha256"], want, "{image}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_agent_request_replayed_to_the_other_instance_is_refused() {
    let pair = Pair::new().await;
    let (a, b) = (pair.start(0, &[]), pair.start(1, &[]));
    let lab = pair.lab().await;
    let key = lab::agent_protocol::new_key();
    sqlx::query(
        "INSERT INTO agents (public_key, mac, enrolled_at, last_seen) VALUES ($1, $2, 0, 0)",
    )
    .bind(hex::encode(key.verifying_key().as_bytes()))
    .bind("02:00:00:00:0f:05")
    .execute(lab.pool())
    .await
    .unwrap();
    let body = serde_json::to_vec(&lab::agent_protocol::Heartbeat::default()).unwrap();
    let signed = lab::agent_protocol::authorization(&key, "POST", "/agent/v1/heartbeat", &body);
    let client = client();
    let send = |instance: &Instance| {
        client
            .post(instance.url("/agent/v1/heartbeat"))
            .header("authorization", &signed)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    assert_eq!(send(&a).await.unwrap().status(), 204);
    let replayed = send(&b).await.unwrap();
    assert_eq!(replayed.status(), 401);
    assert!(replayed
        .text()
        .await
        .unwrap()
        .contains("nonce was used before"));
}

/// udhcpc's PXE DISCOVER (x86_64 EFI) from the client namespace: what it printed.
fn pxe_discover(net: &common::process::VethPair) -> String {
    let answer = Command::new("ip")
        .args(["netns", "exec", &net.client, "udhcpc", "-i", &net.client_if])
        .args(["-f", "-q", "-n", "-t", "2", "-T", "1", "-s", "/bin/true"])
        .args(["-V", "PXEClient:Arch:00007:UNDI:003016"])
        .args(["-x", "0x5d:0007", "-x", "0x5e:010310"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&answer.stderr).into_owned()
}

/// A PXE DISCOVER gets the proxy's offer, and `instance` says it answered.
fn discover_answered_by(net: &common::process::VethPair, instance: &Instance) {
    let said = pxe_discover(net);
    assert!(
        said.contains("select for 0.0.0.0, server 10.232.0.1"),
        "{said}"
    );
    assert!(
        instance
            .logs
            .wait_for("DHCP answered", Duration::from_secs(5))
            .is_some(),
        "{} did not answer",
        instance.base
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_lab_network_answer_dhcp_once_and_the_survivor_takes_over() {
    use common::process::{have, VethPair};
    if !have("ip") || !have("udhcpc") {
        return;
    }
    let Some(net) = VethPair::create("so", "10.232.0.1/24", "52:54:00:be:ef:02") else {
        return;
    };
    let pair = Pair::new().await;
    let start = |which: usize| {
        pair.start_on(
            &net,
            which,
            &[
                ("BAAS_PUBLIC_URL", "http://10.232.0.1:3000"),
                ("BAAS_DHCP_MODE", "proxy"),
                // The standby says so for each datagram it lets go.
                ("RUST_LOG", "info,netboot::dhcp::server=debug"),
            ],
        )
    };
    let first = start(0);
    assert!(first.leads_within(Duration::from_secs(10)));
    std::fs::copy(
        pair.data[0].path().join("secret.key"),
        pair.data[1].path().join("secret.key"),
    )
    .unwrap();
    let second = start(1);

    // Both listen on the lab network; only the leader answers, so the client hears one server.
    discover_answered_by(&net, &first);
    // The standby heard the same DISCOVER and let it go, without answering before that.
    let standby = loop {
        match second.logs.wait_for("DHCP", Duration::from_secs(10)) {
            Some(line) if line.contains("DHCP standby: not answering") => break true,
            Some(line) if line.contains("DHCP answered") => {
                panic!("the standby answered too: {line}")
            }
            Some(_) => continue,
            None => break false,
        }
    };
    assert!(standby, "the standby never heard the DISCOVER");

    first.kill();
    let killed = Instant::now();
    assert!(second.leads_within(Duration::from_secs(10)));
    discover_answered_by(&net, &second);
    println!(
        "the standby answered PXE {:.1} s after the leader was killed",
        killed.elapsed().as_secs_f64()
    );
}

/// Authoritative DHCP on two instances: a lease the leader gave survives the leader's death,
/// so the survivor gives the next client another address, and the first client gets its own
/// back; no address is ever out twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_dhcp_address_is_handed_out_twice_across_a_change_of_leader() {
    use common::process::{have, lease, sh, udhcpc_hook, VethPair};
    if !have("ip") || !have("udhcpc") {
        return;
    }
    let Some(net) = VethPair::create("sa", "10.233.0.1/24", "52:54:00:be:ef:12") else {
        return;
    };
    let pair = Pair::new().await;
    let scratch = tempfile::tempdir().unwrap();
    let hook = udhcpc_hook(scratch.path());
    let start = |which: usize| {
        pair.start_on(
            &net,
            which,
            &[
                ("BAAS_PUBLIC_URL", "http://10.233.0.1:3000"),
                ("BAAS_DHCP_MODE", "authoritative"),
                ("BAAS_DHCP_SUBNET", "10.233.0.0/24"),
                ("BAAS_DHCP_POOL", "10.233.0.100-10.233.0.101"),
                ("BAAS_DHCP_LEASE_SECONDS", "600"),
            ],
        )
    };
    let first = start(0);
    assert!(first.leads_within(Duration::from_secs(10)));
    std::fs::copy(
        pair.data[0].path().join("secret.key"),
        pair.data[1].path().join("secret.key"),
    )
    .unwrap();
    let second = start(1);
    assert!(second.stands_by_within(Duration::from_secs(10)));
    let (client, client_if) = (&net.client, &net.client_if);

    // The leader leases the first pool address; the client goes away without a release.
    let one = lease(client, client_if, &hook, &[]);
    assert_eq!(one.address.as_deref(), Some("10.233.0.100"));
    drop(one);

    first.kill();
    assert!(second.leads_within(Duration::from_secs(10)));
    // Another machine asks the new leader: the other address, not the one still leased.
    sh(&format!(
        "ip -n {client} addr flush dev {client_if} && ip -n {client} link set {client_if} address 52:54:00:be:ef:13"
    ));
    let two = lease(client, client_if, &hook, &[]);
    assert_eq!(two.address.as_deref(), Some("10.233.0.101"));
    drop(two);
    // The first machine comes back asking for its address: it is still its own.
    sh(&format!(
        "ip -n {client} addr flush dev {client_if} && ip -n {client} link set {client_if} address 52:54:00:be:ef:12"
    ));
    let again = lease(client, client_if, &hook, &["-r", "10.233.0.100"]);
    assert_eq!(again.address.as_deref(), Some("10.233.0.100"));
    drop(again);

    let leases = pair.lab().await.dhcp_leases(&Actor::shell()).await.unwrap();
    let mut held: Vec<(String, String)> = leases
        .into_iter()
        .filter(|l| l.state == "bound")
        .map(|l| (l.address, l.mac))
        .collect();
    held.sort();
    assert_eq!(
        held,
        [
            ("10.233.0.100".to_string(), "52:54:00:be:ef:12".to_string()),
            ("10.233.0.101".to_string(), "52:54:00:be:ef:13".to_string()),
        ]
    );
}
