//! `/boot/{mac}.ipxe`: inventory machines get a script for their firmware, unknown MACs are
//! recorded as discovered and can be adopted, and every request becomes a boot event.

mod common;

use axum::body::Body;
use common::{TestServer, ADMIN_PASSWORD};

#[tokio::test]
async fn scripts_follow_the_inventory_and_unknown_machines_are_discovered_then_adopted() {
    let server = TestServer::start().await;
    let uefi = server.add_machine("node1", "52:54:00:00:00:01", None).await;
    let mut anyone = server.client();

    // Any MAC notation; UEFI machines leave iPXE to their firmware's next boot entry.
    let reply = anyone
        .request(
            "GET",
            "/boot/52-54-00-00-00-01.ipxe?arch=x86_64&platform=efi",
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.starts_with("#!ipxe\n"), "{}", reply.body);
    assert!(reply.body.contains("node1 has nothing scheduled"));
    assert!(reply.body.trim_end().ends_with("exit"), "{}", reply.body);
    assert_eq!(reply.headers["content-type"], "text/plain; charset=utf-8");

    // An unknown BIOS machine: recorded, told to boot its disk.
    let reply = anyone
        .request(
            "GET",
            "/boot/5254.00aa.bb02.ipxe?arch=i386&platform=pcbios",
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.contains("sanboot --no-describe --drive 0x80"),
        "{}",
        reply.body
    );
    for bad in ["/boot/not-a-mac.ipxe", "/boot/52:54:00:00:00:01.txt"] {
        let reply = anyone.request("GET", bad, &[], Body::empty()).await;
        assert!(
            reply.status == 400 || reply.status == 404,
            "{bad}: {}",
            reply.status
        );
    }

    let mut admin = server.logged_in("admin", ADMIN_PASSWORD).await;
    let discovered = admin.post_form("/api/admin/discovered", "").await.json();
    let list = discovered.as_array().unwrap();
    assert_eq!(list.len(), 1, "{discovered}");
    assert_eq!(list[0]["mac"], "52:54:00:aa:bb:02");
    assert_eq!(list[0]["architecture"], "i386");

    let reply = admin
        .post_form(
            "/api/admin/adopt",
            "mac=52:54:00:aa:bb:02&name=node2&platform=",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let adopted = reply.json();
    assert_eq!(adopted["platform"], "x86_64-bios");
    let id = adopted["id"].as_i64().unwrap();
    let page = admin
        .post_form("/api/machine", &format!("id={id}"))
        .await
        .json();
    let events = page["boot_events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["kind"], "script");
    let page = admin
        .post_form("/api/machine", &format!("id={uefi}"))
        .await
        .json();
    assert_eq!(page["boot_events"].as_array().unwrap().len(), 1);

    // Adopted: the next boot is the inventory's.
    let reply = anyone
        .request("GET", "/boot/52:54:00:aa:bb:02.ipxe", &[], Body::empty())
        .await;
    assert!(
        reply.body.contains("node2 has nothing scheduled"),
        "{}",
        reply.body
    );
    assert!(admin
        .post_form("/api/admin/discovered", "")
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
}
