//! `/boot/{mac}.ipxe`: inventory machines get a script for their firmware, unknown MACs that
//! baas' DHCP answered are recorded as discovered and can be adopted, and every request becomes a boot event.

mod common;

use axum::body::Body;
use common::{TestServer, ADMIN_PASSWORD};

#[tokio::test]
async fn scripts_follow_the_inventory_and_unknown_machines_are_discovered_then_adopted() {
    let server = TestServer::start().await;
    let uefi = server.add_machine("node1", "52:54:00:00:00:01", None).await;
    let mut anyone = server.client();

    // Any MAC notation; UEFI machines leave iPXE, with a failure, to their firmware's next
    // boot entry.
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
    assert!(reply.body.trim_end().ends_with("exit 1"), "{}", reply.body);
    assert_eq!(reply.headers["content-type"], "text/plain; charset=utf-8");

    // An unknown BIOS machine: told to boot its disk.
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

    // baas' DHCP never answered that MAC, so anyone could have made it up: nothing recorded.
    let mut admin = server.logged_in("admin", ADMIN_PASSWORD).await;
    let discovered = admin.post_form("/api/admin/discovered", "").await.json();
    assert_eq!(discovered.as_array().unwrap().len(), 0, "{discovered}");
    // The same fetch from the address baas' DHCP answered that MAC at: recorded.
    server
        .boot_clients
        .learn("10.0.0.9".parse().unwrap(), "52:54:00:aa:bb:02");
    let reply = server
        .client_at("10.0.0.9:1234")
        .get("/boot/5254.00aa.bb02.ipxe?arch=i386&platform=pcbios")
        .await;
    assert_eq!(reply.status, 200);
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
    // The machine page's job panel says jobs would wait for a management OS.
    let jobs = admin
        .post_form("/api/jobs/panel", &format!("machine_id={id}"))
        .await
        .json();
    assert_eq!(jobs["management_os_configured"], false, "{jobs}");
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

#[tokio::test]
async fn a_boot_job_and_the_enlist_policy_hand_out_the_management_os_with_a_fresh_token() {
    let files = tempfile::tempdir().unwrap();
    let (kernel, initrd) = (
        files.path().join("vmlinuz"),
        files.path().join("initrd.img"),
    );
    std::fs::write(&kernel, b"kernel bytes").unwrap();
    std::fs::write(&initrd, vec![7u8; 300_000]).unwrap();
    let server = TestServer::start_with(|config| {
        config.management_os = Some(server::config::ManagementOs {
            kernel: kernel.clone(),
            initrd: Some(initrd.clone()),
            cmdline: "console=ttyS0".into(),
        })
    })
    .await;
    let node = server.add_machine("node1", "52:54:00:00:00:01", None).await;
    let mut admin = server.logged_in("admin", ADMIN_PASSWORD).await;
    // DHCP gave node1 10.0.0.7 and the unknown machine 10.0.0.77; the scripts are asked from there.
    server
        .boot_clients
        .learn("10.0.0.7".parse().unwrap(), "52:54:00:00:00:01");
    server
        .boot_clients
        .learn("10.0.0.77".parse().unwrap(), "52:54:00:00:00:77");
    let mut anyone = server.client_at("10.0.0.7:1234");
    let mut stranger = server.client_at("10.0.0.77:1234");
    let mut elsewhere = server.client_at("10.0.0.66:1234");
    let script = |reply: common::Reply| {
        assert_eq!(reply.status, 200);
        reply.body
    };

    let job = admin
        .post_form("/api/boot_job", &format!("machine_id={node}"))
        .await;
    assert_eq!(job.status, 200, "{}", job.body);
    assert_eq!(job.json()["state"], "queued");
    let job_id = job.json()["id"].as_i64().unwrap();

    // Asked from anywhere else, the script carries no token and the job keeps waiting.
    let stolen = script(elsewhere.get("/boot/52:54:00:00:00:01.ipxe").await);
    assert!(!stolen.contains("baas.token"), "{stolen}");
    assert!(
        stolen.contains("52:54:00:00:00:01 asked from 10.0.0.66, but its address is 10.0.0.7"),
        "{stolen}"
    );
    let jobs = admin
        .post_form("/api/jobs/panel", &format!("machine_id={node}"))
        .await
        .json();
    assert_eq!(jobs["recent"][0]["state"], "queued", "{jobs}");

    let first = script(anyone.get("/boot/52:54:00:00:00:01.ipxe").await);
    assert!(
        first.contains(&format!("node1: management OS for boot job {job_id}")),
        "{first}"
    );
    assert!(
        first.contains(
            "kernel mgmt/kernel initrd=initrd console=ttyS0 baas.url=http://127.0.0.1:3000 baas.token="
        ),
        "{first}"
    );
    assert!(
        first.contains("baas.purpose=job baas.mac=52:54:00:00:00:01 || goto failed"),
        "{first}"
    );
    assert!(first.contains("initrd mgmt/initrd"), "{first}");
    let token = |script: &str| {
        script
            .split("baas.token=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .to_string()
    };
    // Fetched again (a reboot): a new one-time token.
    let second = script(anyone.get("/boot/52:54:00:00:00:01.ipxe").await);
    assert_ne!(token(&first), token(&second));
    assert!(token(&second).len() >= 43);

    // The files the script names, open to the machine like the script.
    let fetched = anyone.get("/boot/mgmt/kernel").await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, "kernel bytes");
    let fetched = anyone.get("/boot/mgmt/initrd").await;
    assert_eq!(fetched.headers["content-length"], "300000");
    assert_eq!(anyone.get("/boot/mgmt/other").await.status, 404);

    let jobs = admin
        .post_form("/api/jobs/panel", &format!("machine_id={node}"))
        .await
        .json();
    assert_eq!(jobs["recent"][0]["state"], "netbooting", "{jobs}");
    assert_eq!(jobs["management_os_configured"], true);
    let cancelled = admin
        .post_form("/api/cancel_boot_job", &format!("job_id={job_id}"))
        .await;
    assert_eq!(cancelled.json()["state"], "cancelled");
    let after = script(anyone.get("/boot/52:54:00:00:00:01.ipxe").await);
    assert!(after.contains("node1 has nothing scheduled"), "{after}");

    // Enlisting: unknown machines boot the management OS too, once an admin says so.
    let unknown = script(stranger.get("/boot/52:54:00:00:00:77.ipxe").await);
    assert!(unknown.contains("is not in the inventory"), "{unknown}");
    let bad = admin
        .post_form("/api/admin/set_discovery_policy", "policy=maybe")
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("policy"), "{}", bad.body);
    let saved = admin
        .post_form("/api/admin/set_discovery_policy", "policy=enlist")
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let not_it = script(elsewhere.get("/boot/52:54:00:00:00:77.ipxe").await);
    assert!(!not_it.contains("baas.token"), "{not_it}");
    let enlisted = script(stranger.get("/boot/52:54:00:00:00:77.ipxe").await);
    assert!(enlisted.contains("baas.purpose=enlist"), "{enlisted}");
    assert!(enlisted.contains("is new here"), "{enlisted}");
    let overview = admin.post_form("/api/admin/discovery", "").await.json();
    assert_eq!(overview["policy"], "enlist", "{overview}");
}

/// UEFI HTTP boot fetches by URL what PXE firmware fetches by TFTP: the binaries of the TFTP
/// root, with HEAD first (as EDK2 does), and nothing outside that directory.
#[tokio::test]
async fn network_boot_binaries_are_served_over_http_from_the_tftp_root_only() {
    let server = TestServer::start().await;
    let root = server.config.tftp_root.clone();
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let binary: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("ipxe.efi"), &binary).unwrap();
    std::fs::write(root.join(".hidden"), b"no").unwrap();
    std::fs::write(root.join("sub/inner.efi"), b"no").unwrap();
    std::fs::write(root.parent().unwrap().join("outside.efi"), b"no").unwrap();
    let mut machine = server.client_at("10.0.0.9:1234");

    let head = machine
        .request("HEAD", "/boot/firmware/ipxe.efi", &[], Body::empty())
        .await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.headers["content-length"],
        binary.len().to_string().as_str()
    );
    assert_eq!(head.headers["content-type"], "application/efi");
    let (status, _, bytes) = machine
        .request_bytes("GET", "/boot/firmware/ipxe.efi", &[])
        .await;
    assert_eq!(status, 200);
    assert!(bytes == binary, "the served bytes are not the file's");

    for path in [
        "/boot/firmware/..%2Foutside.efi",
        "/boot/firmware/.hidden",
        "/boot/firmware/sub%2Finner.efi",
        "/boot/firmware/missing.efi",
        "/boot/firmware/sub",
    ] {
        let reply = machine.request("GET", path, &[], Body::empty()).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
    }
}

/// A management OS build for `arch` in `dir`: a kernel file holding `<arch> kernel`, an initrd
/// holding `<arch> initrd`.
fn management_os(dir: &std::path::Path, arch: &str, cmdline: &str) -> server::config::ManagementOs {
    let write = |what: &str| {
        let path = dir.join(format!("{arch}-{what}"));
        std::fs::write(&path, format!("{arch} {what}")).unwrap();
        path
    };
    server::config::ManagementOs {
        kernel: write("kernel"),
        initrd: Some(write("initrd")),
        cmdline: cmdline.into(),
    }
}

/// An arm64 machine boots the arm64 build of the management OS, from its own URLs; with only
/// the x86-64 build configured, its boot job waits and it is sent to its disk, never to the
/// x86-64 kernel.
#[tokio::test]
async fn an_arm64_machine_gets_the_arm64_management_os_and_never_the_x86_64_one() {
    let files = tempfile::tempdir().unwrap();
    let x86 = management_os(files.path(), "x86-64", "console=ttyS0");
    let arm64 = management_os(files.path(), "arm64", "console=ttyAMA0");
    for with_arm64 in [false, true] {
        let server = TestServer::start_with(|config| {
            config.management_os = Some(x86.clone());
            config.management_os_arm64 = with_arm64.then(|| arm64.clone());
        })
        .await;
        let input = lab::model::MachineInput {
            platform: "arm64-uefi".into(),
            ..common::machine_input("arm1", "52:54:00:00:0a:01", "x86_64-uefi")
        };
        let node = server
            .lab
            .create_machine(&lab::Actor::shell(), input)
            .await
            .unwrap()
            .id;
        let mut admin = server.logged_in("admin", ADMIN_PASSWORD).await;
        let job = admin
            .post_form("/api/boot_job", &format!("machine_id={node}"))
            .await;
        assert_eq!(job.status, 200, "{}", job.body);
        server
            .boot_clients
            .learn("10.0.0.7".parse().unwrap(), "52:54:00:00:0a:01");
        let mut machine = server.client_at("10.0.0.7:1234");
        let script = machine
            .get("/boot/52:54:00:00:0a:01.ipxe?arch=arm64&platform=efi")
            .await
            .body;
        if with_arm64 {
            assert!(
                script.contains("kernel mgmt/arm64/kernel initrd=initrd console=ttyAMA0 baas.url="),
                "{script}"
            );
            assert!(script.contains("initrd mgmt/arm64/initrd"), "{script}");
            let kernel = machine.get("/boot/mgmt/arm64/kernel").await;
            assert_eq!(kernel.status, 200);
            assert_eq!(kernel.body, "arm64 kernel");
            let initrd = machine.get("/boot/mgmt/arm64/initrd").await;
            assert_eq!(initrd.body, "arm64 initrd");
            let jobs = admin
                .post_form("/api/jobs/panel", &format!("machine_id={node}"))
                .await
                .json();
            assert_eq!(jobs["management_os_configured"], true, "{jobs}");
        } else {
            assert!(!script.contains("mgmt/"), "{script}");
            assert!(script.contains("booting from its disk"), "{script}");
            let jobs = admin
                .post_form("/api/jobs/panel", &format!("machine_id={node}"))
                .await
                .json();
            assert_eq!(jobs["recent"][0]["state"], "queued", "{jobs}");
            // The machine page says there is nothing for it to boot, though x86-64 has a build.
            assert_eq!(jobs["management_os_configured"], false, "{jobs}");
            let missing = machine.get("/boot/mgmt/arm64/kernel").await;
            assert_eq!(missing.status, 404);
        }
    }
}

/// baas' arm64 GRUB image reads `/boot/grub/grub.cfg`, which asks for `/boot/<mac>.grub`: the
/// lab's decision written for GRUB — the arm64 management OS by absolute paths on baas, or the
/// disk's own EFI loader — and the image itself is served by HTTP (and TFTP) when baas could
/// make it from GRUB's arm64 modules.
#[tokio::test]
async fn arm64_machines_running_baas_grub_get_grub_scripts_for_the_same_decisions() {
    let files = tempfile::tempdir().unwrap();
    let arm64 = management_os(files.path(), "arm64", "console=ttyAMA0");
    let modules = std::env::var_os("BAAS_TEST_GRUB_ARM64_MODULES")
        .map(std::path::PathBuf::from)
        .filter(|dir| dir.join("linux.mod").is_file());
    assert!(
        modules.is_some() || std::env::var_os("BAAS_TEST_STRICT").is_none(),
        "no arm64 GRUB modules in BAAS_TEST_GRUB_ARM64_MODULES"
    );
    let server = TestServer::start_with(|config| {
        config.management_os_arm64 = Some(arm64.clone());
        config.grub_arm64_modules = modules.clone();
    })
    .await;
    let mut anyone = server.client();
    let first = anyone.get("/boot/grub/grub.cfg").await;
    assert_eq!(first.status, 200);
    assert!(
        first
            .body
            .contains("source /boot/${net_default_mac}.grub\n"),
        "{}",
        first.body
    );
    if modules.is_some() {
        let image = anyone.get("/boot/firmware/baas-grubnetaa64.efi").await;
        assert_eq!(image.status, 200);
        assert_eq!(image.headers["content-type"], "application/efi");
        assert!(image.body.contains("set root=(http,127.0.0.1:3000)"));
    }

    let input = lab::model::MachineInput {
        platform: "arm64-uefi".into(),
        ..common::machine_input("arm1", "52:54:00:00:0a:02", "x86_64-uefi")
    };
    let node = server
        .lab
        .create_machine(&lab::Actor::shell(), input)
        .await
        .unwrap()
        .id;
    let mut machine = server.client_at("10.0.0.8:1234");
    let disk = machine.get("/boot/52:54:00:00:0a:02.grub").await;
    assert_eq!(disk.status, 200);
    assert!(
        disk.body
            .starts_with("echo 'baas: arm1 has nothing scheduled"),
        "{}",
        disk.body
    );
    assert!(
        disk.body
            .contains("chainloader ($esp)/EFI/BOOT/BOOTAA64.EFI"),
        "{}",
        disk.body
    );
    assert!(!disk.body.contains("#!ipxe"), "{}", disk.body);

    let mut admin = server.logged_in("admin", ADMIN_PASSWORD).await;
    let job = admin
        .post_form("/api/boot_job", &format!("machine_id={node}"))
        .await;
    assert_eq!(job.status, 200, "{}", job.body);
    server
        .boot_clients
        .learn("10.0.0.8".parse().unwrap(), "52:54:00:00:0a:02");
    let script = machine.get("/boot/52:54:00:00:0a:02.grub").await.body;
    assert!(
        script.contains("linux '/boot/mgmt/arm64/kernel' 'console=ttyAMA0' 'baas.url=http://127.0.0.1:3000' 'baas.token="),
        "{script}"
    );
    assert!(
        script.contains("initrd '/boot/mgmt/arm64/initrd'\nboot\n"),
        "{script}"
    );
    let kernel = machine.get("/boot/mgmt/arm64/kernel").await;
    assert_eq!(kernel.body, "arm64 kernel");
    // GRUB seeks by asking for a range (its gzip reader reads a kernel's trailer first).
    let tail = machine
        .request(
            "GET",
            "/boot/mgmt/arm64/kernel",
            &[("range", "bytes=6-")],
            Body::empty(),
        )
        .await;
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, "kernel");
    assert_eq!(tail.headers["content-range"], "bytes 6-11/12");
    // The boot event names the script served.
    let events = server
        .lab
        .boot_events(&lab::Actor::shell(), node)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "script"), "{events:?}");
}
