//! Power and boot control through baas against a real IPMI BMC (OpenIPMI's ipmi_sim): the holder
//! of a running reservation may press the buttons, a user without one may not, and every action
//! lands in the audit log. The BMC password never appears in any answer.

mod common;

use bmc::testing::Simulator;
use common::{TestServer, PASSWORD};
use lab::model::{AuditFilter, Level, Subject};
use lab::Actor;

#[tokio::test]
async fn reservation_holders_control_power_and_boot_others_are_refused() {
    let sim = Simulator::start();
    sim.ready().await;
    let server = TestServer::start().await;
    let shell = Actor::shell();
    let machine = server
        .add_simulated_machine("node1", "52:54:00:00:00:01", &sim)
        .await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    for user in [alice, bob] {
        server
            .lab
            .grant(&shell, machine, Subject::User(user), Level::Use)
            .await
            .unwrap();
    }
    let now = lab::now();
    server
        .lab
        .reserve(
            &Actor::user(alice, "alice", false, "test"),
            machine,
            now,
            now + 3600,
            "",
        )
        .await
        .unwrap();

    let mut alice = server.logged_in("alice", PASSWORD).await;
    let on = alice
        .post_form("/api/bmc/power", &format!("machine_id={machine}&action=on"))
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    assert_eq!(sim.state("power"), "1");
    let state = alice
        .post_form("/api/bmc/power_state", &format!("machine_id={machine}"))
        .await;
    assert_eq!(state.json()["state"], "on");
    let boot = alice
        .post_form(
            "/api/bmc/boot_device",
            &format!("machine_id={machine}&device=pxe&uefi=on"),
        )
        .await;
    assert_eq!(boot.status, 200, "{}", boot.body);
    assert_eq!(sim.state("boot"), "pxe");
    let test = alice
        .post_form("/api/bmc/test", &format!("machine_id={machine}"))
        .await;
    assert!(
        test.json().as_str().unwrap().contains("BMC answered"),
        "{}",
        test.body
    );
    let bad = alice
        .post_form(
            "/api/bmc/power",
            &format!("machine_id={machine}&action=explode"),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["fields"][0]["field"], "action");

    // The REST API drives the same BMC through the same path.
    let json = [("content-type", "application/json")];
    let rest = |path: &str| format!("/api/v1/machines/{machine}/{path}");
    let off = alice
        .request("POST", &rest("power"), &json, r#"{"action":"off"}"#.into())
        .await;
    assert_eq!(off.status, 204, "{}", off.body);
    assert_eq!(sim.state("power"), "0");
    let state = alice.request("GET", &rest("power"), &[], "".into()).await;
    assert_eq!(state.json()["state"], "off", "{}", state.body);
    let disk = alice
        .request(
            "PUT",
            &rest("boot-device"),
            &json,
            r#"{"device":"disk"}"#.into(),
        )
        .await;
    assert_eq!(disk.status, 204, "{}", disk.body);
    // ipmi_sim names "boot from the default hard drive" `default`.
    assert_eq!(sim.state("boot"), "default");
    let answer = alice
        .request("POST", &rest("bmc-test"), &[], "".into())
        .await;
    assert!(
        !answer.json()["answer"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{}",
        answer.body
    );
    let on = alice
        .request("POST", &rest("power"), &json, r#"{"action":"on"}"#.into())
        .await;
    assert_eq!(
        (on.status.as_u16(), sim.state("power").as_str()),
        (204, "1")
    );

    let mut bob = server.logged_in("bob", PASSWORD).await;
    let refused = bob
        .post_form(
            "/api/bmc/power",
            &format!("machine_id={machine}&action=off"),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.json()["error"]
        .as_str()
        .unwrap()
        .contains("during your own reservation"));
    assert_eq!(
        sim.state("power"),
        "1",
        "a refused request must not reach the BMC"
    );

    let page = alice
        .post_form("/api/machine", &format!("id={machine}"))
        .await;
    assert!(!page.body.contains("\"password\""), "{}", page.body);
    assert_eq!(page.json()["can_control_power"], true);

    let audit = server
        .lab
        .audit_log(
            &shell,
            &AuditFilter {
                action: "bmc.".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    // Newest first: the REST API's four actions, then the page's three; reads are not audited.
    assert_eq!(
        actions,
        [
            "bmc.power",
            "bmc.test",
            "bmc.boot_device",
            "bmc.power",
            "bmc.test",
            "bmc.boot_device",
            "bmc.power"
        ],
        "{audit:?}"
    );
    assert!(audit
        .iter()
        .all(|e| e.actor_name == "alice" && e.target == "machine:node1"));
}

#[tokio::test]
async fn a_wrong_bmc_password_comes_back_as_a_clear_upstream_error() {
    let sim = Simulator::start();
    sim.ready().await;
    let server = TestServer::start().await;
    let bmc_address = format!("127.0.0.1:{}", sim.port);
    let machine = server
        .add_machine(
            "node2",
            "52:54:00:00:00:02",
            Some((&bmc_address, "admin", "wrong-password")),
        )
        .await;
    let mut admin = server.logged_in("admin", common::ADMIN_PASSWORD).await;
    let reply = admin
        .post_form("/api/bmc/power", &format!("machine_id={machine}&action=on"))
        .await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    let message = reply.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("refused the log-in of admin"), "{message}");
    assert!(
        message.starts_with("node2: power failed: BMC at 127.0.0.1:"),
        "the error names the machine, the action and the BMC: {message}"
    );
    assert!(!message.contains("wrong-password"));
    assert_eq!(sim.state("power"), "");
}

#[tokio::test]
async fn power_state_is_served_from_a_cache_that_the_refresher_keeps_fresh() {
    use bmc::Bmc;
    let sim = Simulator::start();
    let behind_our_back = sim.ready().await;
    let server = TestServer::start().await;
    let machine = server
        .add_simulated_machine("node3", "52:54:00:00:00:03", &sim)
        .await;
    let mut admin = server.logged_in("admin", common::ADMIN_PASSWORD).await;
    let read = |reply: common::Reply| {
        (
            reply.json()["state"].as_str().unwrap().to_string(),
            reply.json()["checked_at"].as_i64().unwrap(),
        )
    };

    let on = admin
        .post_form("/api/bmc/power", &format!("machine_id={machine}&action=on"))
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    let (state, first_read) = read(
        admin
            .post_form("/api/bmc/power_state", &format!("machine_id={machine}"))
            .await,
    );
    assert_eq!(
        state, "on",
        "an action drops the cached reading, so the next read asks the BMC"
    );

    // Someone else switches the machine off at the BMC: the page keeps the cached reading and its time.
    behind_our_back.power(bmc::PowerAction::Off).await.unwrap();
    let (state, cached_at) = read(
        admin
            .post_form("/api/bmc/power_state", &format!("machine_id={machine}"))
            .await,
    );
    assert_eq!((state.as_str(), cached_at), ("on", first_read));

    // The background refresher notices.
    conductor::duties::refresh_power(&server.conductor).await;
    let (state, _) = read(
        admin
            .post_form("/api/bmc/power_state", &format!("machine_id={machine}"))
            .await,
    );
    assert_eq!(state, "off");
}

/// An instance that does not refresh power states (a follower: the leader refreshes its own)
/// serves its reading while it is young and asks the BMC itself once it is a minute old.
#[tokio::test]
async fn an_instance_asks_the_bmc_itself_when_its_reading_is_a_minute_old() {
    use bmc::Bmc;
    use conductor::power_cache::FRESH_SECONDS;
    let sim = Simulator::start();
    let behind_our_back = sim.ready().await;
    let server = TestServer::start().await;
    let machine = server
        .add_simulated_machine("node4", "52:54:00:00:00:04", &sim)
        .await;
    let mut admin = server.logged_in("admin", common::ADMIN_PASSWORD).await;
    async fn reading(admin: &mut common::Client, machine: i64) -> (String, i64) {
        let reply = admin
            .post_form("/api/bmc/power_state", &format!("machine_id={machine}"))
            .await;
        (
            reply.json()["state"].as_str().unwrap().to_string(),
            reply.json()["checked_at"].as_i64().unwrap(),
        )
    }
    behind_our_back.power(bmc::PowerAction::On).await.unwrap();
    let young = lab::now() - FRESH_SECONDS + 10;
    server
        .conductor
        .power_cache()
        .put(machine, bmc::PowerState::Off, young);
    assert_eq!(
        reading(&mut admin, machine).await,
        ("off".to_string(), young)
    );

    let old = lab::now() - FRESH_SECONDS - 1;
    server
        .conductor
        .power_cache()
        .put(machine, bmc::PowerState::Off, old);
    let asked_at = lab::now();
    let (state, checked_at) = reading(&mut admin, machine).await;
    assert_eq!(state, "on", "a minute-old reading was served");
    assert!(checked_at >= asked_at);
}

#[tokio::test]
async fn a_redfish_bmc_is_driven_through_its_pinned_certificate_and_refused_without_one() {
    let emulator = bmc::testing::RedfishEmulator::start();
    emulator.ready().await;
    let server = TestServer::start().await;
    let address = format!("127.0.0.1:{}", emulator.port);
    let input = lab::model::MachineInput {
        name: "redfish1".into(),
        macs: "52:54:00:00:00:04".into(),
        platform: "x86_64-uefi".into(),
        bmc_kind: "redfish".into(),
        bmc_address: address,
        bmc_username: "admin".into(),
        bmc_password: "password".into(),
        state: "available".into(),
        ..Default::default()
    };
    let machine = server
        .lab
        .create_machine(&Actor::shell(), input)
        .await
        .unwrap()
        .id;
    let mut admin = server.logged_in("admin", common::ADMIN_PASSWORD).await;
    let reply = admin
        .post_form("/api/bmc/power", &format!("machine_id={machine}&action=on"))
        .await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    let message = reply.json()["error"].as_str().unwrap().to_lowercase();
    assert!(message.contains("certificate"), "{message}");
}

/// A UDP link between baas and a BMC that drops every datagram for `blackout` after the first
/// one it sees, then relays both ways. Counts what it let through after the blackout.
struct FlakyLink {
    pub address: String,
    relayed_after_blackout: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FlakyLink {
    async fn to(bmc_port: u16, blackout: std::time::Duration) -> FlakyLink {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let front = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let back = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        back.connect(("127.0.0.1", bmc_port)).await.unwrap();
        let address = front.local_addr().unwrap().to_string();
        let front = Arc::new(front);
        let relayed = Arc::new(AtomicUsize::new(0));
        let client = Arc::new(tokio::sync::Mutex::new(None));
        {
            let (front, back, client) = (front.clone(), back.clone(), client.clone());
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 2048];
                while let Ok(len) = back.recv(&mut buffer).await {
                    if let Some(peer) = *client.lock().await {
                        let _ = front.send_to(&buffer[..len], peer).await;
                    }
                }
            });
        }
        {
            let relayed = relayed.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 2048];
                let mut first_seen = None;
                while let Ok((len, peer)) = front.recv_from(&mut buffer).await {
                    let first = *first_seen.get_or_insert_with(std::time::Instant::now);
                    if first.elapsed() < blackout {
                        continue;
                    }
                    relayed.fetch_add(1, Ordering::SeqCst);
                    *client.lock().await = Some(peer);
                    let _ = back.send(&buffer[..len]).await;
                }
            });
        }
        FlakyLink {
            address,
            relayed_after_blackout: relayed,
        }
    }

    fn relayed_after_blackout(&self) -> usize {
        self.relayed_after_blackout
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// With a 1 s bound, a packet waits 250 ms: a dropped first try fails after 250 ms, the retries
/// start 250 ms and 500 ms later. A 1 s blackout from the first packet loses the first try (and
/// usually the second); only a retry can get through.
#[tokio::test]
async fn idempotent_bmc_calls_are_retried_through_an_outage_and_power_actions_never_are() {
    let sim = Simulator::start();
    sim.ready().await;
    let server =
        TestServer::start_with(|config| config.bmc_timeout = std::time::Duration::from_secs(1))
            .await;
    // A machine whose BMC is `ipmi_sim` behind its own flaky link.
    let behind_a_flaky_link = |name: &'static str, mac: &'static str| {
        let server = &server;
        let port = sim.port;
        async move {
            let link = FlakyLink::to(port, std::time::Duration::from_millis(1000)).await;
            let machine = server
                .add_machine(name, mac, Some((&link.address, "admin", "password")))
                .await;
            (machine, link)
        }
    };
    let (reader, _status_link) = behind_a_flaky_link("flaky1", "52:54:00:00:00:21").await;
    let mut admin = server.logged_in("admin", common::ADMIN_PASSWORD).await;
    let state = admin
        .post_form("/api/bmc/power_state", &format!("machine_id={reader}"))
        .await;
    assert_eq!(
        state.status, 200,
        "the status read was not retried: {}",
        state.body
    );
    assert_eq!(state.json()["state"], "off");
    let (booter, _boot_link) = behind_a_flaky_link("flaky2", "52:54:00:00:00:22").await;
    let boot = admin
        .post_form(
            "/api/bmc/boot_device",
            &format!("machine_id={booter}&device=pxe&uefi=on"),
        )
        .await;
    assert_eq!(
        boot.status, 200,
        "the boot device was not retried: {}",
        boot.body
    );
    assert_eq!(sim.state("boot"), "pxe");

    let (powered, power_link) = behind_a_flaky_link("flaky3", "52:54:00:00:00:23").await;
    let on = admin
        .post_form("/api/bmc/power", &format!("machine_id={powered}&action=on"))
        .await;
    assert_eq!(on.status, 502, "{}", on.body);
    let message = on.json()["error"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("flaky3: power failed: BMC at"),
        "{message}"
    );
    // Long enough for any retry to have passed the blackout and reached the BMC.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        power_link.relayed_after_blackout(),
        0,
        "a power action was sent again behind the user's back"
    );
    assert_ne!(sim.state("power"), "1");
}

/// A reservation ends (the lab's clock moved past it): its machine, left on by the holder, is
/// powered off at the real BMC by the system, and the BMC's answer is audited.
#[tokio::test]
async fn a_machine_left_on_is_powered_off_when_its_reservation_ends() {
    let sim = Simulator::start();
    sim.ready().await;
    let server = TestServer::start().await;
    let shell = Actor::shell();
    let machine = server
        .add_simulated_machine("node1", "52:54:00:00:00:01", &sim)
        .await;
    let alice = server.add_user("alice").await;
    server
        .lab
        .grant(&shell, machine, Subject::User(alice), Level::Use)
        .await
        .unwrap();
    let clock = lab::Clock::manual(lab::now());
    let lab = server.lab.clone().with_clock(clock.clone());
    let now = lab.now();
    lab.reserve(
        &Actor::user(alice, "alice", false, "test"),
        machine,
        now - 60,
        now + 3600,
        "",
    )
    .await
    .unwrap();
    let mut alice = server.logged_in("alice", PASSWORD).await;
    let on = alice
        .post_form("/api/bmc/power", &format!("machine_id={machine}&action=on"))
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    assert_eq!(sim.state("power"), "1");

    let settings = conductor::BmcSettings {
        timeout: std::time::Duration::from_secs(10),
        public_url: server.config.public_url.clone(),
        ..server.config.bmc_settings()
    };
    let conductor = conductor::Conductor::new(lab.clone(), settings);
    conductor::duties::wrap_up_reservations(&conductor, None).await;
    assert_eq!(sim.state("power"), "1", "still reserved: left alone");

    clock.advance(3600);
    conductor::duties::wrap_up_reservations(&conductor, None).await;
    assert_eq!(
        sim.state("power"),
        "0",
        "powered off at the reservation's end"
    );
    let audit = lab
        .audit_log(
            &shell,
            &AuditFilter {
                action: "bmc.power".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let off = &audit[0];
    assert_eq!(off.actor_name, "baas", "the system acted");
    assert_eq!(off.detail, "ok", "{off:?}");
}
