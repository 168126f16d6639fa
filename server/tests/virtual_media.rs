//! Virtual media through baas against sushy-emulator: a reservation holder attaches an ISO from
//! the library, the emulator really downloads it from baas' token URL, detaching (or the end of
//! the reservation) ejects it and kills the URL; others are refused.

mod common;

use axum::body::Body;
use common::{TestServer, PASSWORD};
use lab::model::{Level, Subject};
use lab::Actor;
use sha2::{Digest, Sha256};

/// An ISO 9660 image of `blocks` 2 KiB blocks with varied content.
fn iso(blocks: usize) -> Vec<u8> {
    let mut iso: Vec<u8> = (0..blocks * 2048).map(|i| (i * 13 % 249) as u8).collect();
    iso[0x8000] = 1;
    iso[0x8001..0x8006].copy_from_slice(b"CD001");
    iso[0x8050..0x8054].copy_from_slice(&(blocks as u32).to_le_bytes());
    iso[0x8080..0x8082].copy_from_slice(&2048u16.to_le_bytes());
    iso
}

async fn nothing_inserted(redfish: &bmc::Redfish) -> bool {
    redfish
        .virtual_media()
        .await
        .unwrap()
        .iter()
        .all(|slot| !slot.inserted)
}

/// baas on a real loopback listener, because the BMC fetches the medium over HTTP.
async fn listening_server() -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = TestServer::start_with(|config| {
        config.public_url = format!("http://{address}");
    })
    .await;
    let router = server.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    server
}

#[tokio::test]
async fn a_holder_attaches_an_iso_the_bmc_downloads_it_and_detaching_ends_the_url() {
    let emulator = bmc::testing::RedfishEmulator::start();
    let redfish = emulator.ready().await;
    let server = listening_server().await;
    let shell = Actor::shell();
    let machine = server
        .lab
        .create_machine(
            &shell,
            lab::model::MachineInput {
                name: "redfish1".into(),
                macs: "52:54:00:00:00:05".into(),
                platform: "x86_64-uefi".into(),
                bmc_kind: "redfish".into(),
                bmc_address: format!("127.0.0.1:{}", emulator.port),
                bmc_username: "admin".into(),
                bmc_password: "password".into(),
                bmc_tls_pin: hex::encode(emulator.fingerprint),
                state: "available".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let holder_id = server.add_user("holder").await;
    let other_id = server.add_user("other").await;
    for user in [holder_id, other_id] {
        server
            .lab
            .grant(&shell, machine, Subject::User(user), Level::Use)
            .await
            .unwrap();
    }
    let holder_actor = Actor::user(holder_id, "holder", false, "test");
    let now = lab::now();
    let reservation = server
        .lab
        .reserve(&holder_actor, machine, now - 60, now + 3600, "")
        .await
        .unwrap();

    let mut holder = server.logged_in("holder", PASSWORD).await;
    let installer = iso(600);
    let reply = holder
        .request(
            "PUT",
            "/api/v1/images/installer?visibility=public",
            &[],
            Body::from(installer.clone()),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let image = reply.json()["id"].as_i64().unwrap();

    // Someone with a grant but no running reservation is refused, and nothing reaches the BMC.
    let mut other = server.logged_in("other", PASSWORD).await;
    let reply = other
        .post_form(
            "/api/media/attach",
            &format!("machine_id={machine}&image_id={image}"),
        )
        .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(emulator.downloads().is_empty());

    let reply = holder
        .post_form(
            "/api/media/attach",
            &format!("machine_id={machine}&image_id={image}"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let attachment = reply.json();
    assert_eq!(attachment["state"], "attached");
    assert!(
        attachment["bmc_answer"].as_str().unwrap().contains("Cd"),
        "{attachment}"
    );
    assert_eq!(attachment["expires_at"], reservation.end_at);

    // The emulator fetched the ISO from baas during InsertMedia: the same bytes.
    let downloads = emulator.downloads();
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    let fetched = std::fs::read(&downloads[0]).unwrap();
    assert_eq!(Sha256::digest(&fetched), Sha256::digest(&installer));
    assert!(downloads[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .ends_with(".iso"));

    // The BMC now shows the medium inserted, at a URL that works with Range.
    let slots = redfish.virtual_media().await.unwrap();
    let cd = slots.iter().find(|s| s.inserted).expect("an inserted slot");
    let url = cd.image.clone().unwrap();
    let path = url.split_once("://").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    assert!(path.starts_with("/media/"), "{url}");
    let mut anyone = server.client();
    let (status, _, body) = anyone
        .request_bytes("GET", path, &[("range", "bytes=32768-32773")])
        .await;
    assert_eq!((status.as_u16(), &body[1..6]), (206, &b"CD001"[..]));
    let forged = format!("/media/{}/installer-v1.iso", "A".repeat(43));
    let (status, _, _) = anyone.request_bytes("GET", &forged, &[]).await;
    assert_eq!(status.as_u16(), 404);

    // Deleting an attached image is refused.
    let reply = holder
        .request(
            "DELETE",
            &format!("/api/v1/images/{image}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(reply.status, 409, "{}", reply.body);

    // Detach: the BMC ejects, the URL is dead.
    let reply = holder
        .post_form(
            "/api/media/detach",
            &format!("attachment_id={}", attachment["id"]),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["state"], "detached");
    assert!(
        nothing_inserted(&redfish).await,
        "the BMC still has a medium inserted"
    );
    let (status, _, _) = anyone.request_bytes("GET", path, &[]).await;
    assert_eq!(status.as_u16(), 404);

    // Attached again, then the reservation ends: the housekeeping ejects it and kills the URL.
    let reply = holder
        .post_form(
            "/api/media/attach",
            &format!("machine_id={machine}&image_id={image}"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let second_url = redfish
        .virtual_media()
        .await
        .unwrap()
        .into_iter()
        .find_map(|s| s.image)
        .unwrap();
    let second_path = &second_url[second_url.find("/media/").unwrap()..];
    assert_ne!(second_path, path, "every attachment gets its own token");
    server
        .lab
        .release(&holder_actor, reservation.id)
        .await
        .unwrap();
    let settings = conductor::BmcSettings {
        timeout: std::time::Duration::from_secs(10),
        public_url: server.config.public_url.clone(),
        ..server.config.bmc_settings()
    };
    conductor::virtual_media::expire(&server.lab, &settings, None).await;
    assert!(
        nothing_inserted(&redfish).await,
        "the BMC still has a medium inserted"
    );
    let (status, _, _) = anyone.request_bytes("GET", second_path, &[]).await;
    assert_eq!(status.as_u16(), 404);
    let reply = holder
        .post_form("/api/media/panel", &format!("machine_id={machine}"))
        .await;
    let panel = reply.json();
    let answers: Vec<&str> = panel["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["bmc_answer"].as_str().unwrap())
        .collect();
    assert!(
        answers[0].starts_with("the reservation ended; ejected"),
        "{answers:?}"
    );
}
