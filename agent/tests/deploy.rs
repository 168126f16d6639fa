//! The real `baas-agent` binary against a real baas HTTP server: it enrols with the token of a
//! served boot script, streams the image, writes it to a disk (a file here), verifies it and
//! reports; baas then records the disk's content and ends the job when the machine next
//! network-boots to its disk. A corrupted image is never reported as written.

use std::process::Command;

use lab::jobs::JobRequest;
use lab::model::{JobKind, JobState, NewUser};
use lab::Actor;

mod common;
use common::{alices_public_image, raw_disk, start_baas, token_of, Baas};

const MAC: &str = "52:54:00:12:34:56";

/// alice's image of `bytes` (stored as given), and a machine at 127.0.0.1 (its fixed address
/// vouches for the boot script's requester) with a deploy job of it; returns (machine, job).
async fn deploy_job(baas: &Baas, bytes: &[u8]) -> (i64, i64) {
    let shell = Actor::shell();
    let image_id = alices_public_image(baas, bytes).await;
    let machine = baas
        .lab
        .create_machine(
            &shell,
            lab::model::MachineInput {
                name: "node1".into(),
                macs: MAC.into(),
                platform: "x86_64-bios".into(),
                bmc_kind: "none".into(),
                state: "available".into(),
                ip_address: "127.0.0.1".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let job = baas
        .lab
        .create_job(
            &shell,
            &JobRequest {
                machine_id: machine.id,
                kind: JobKind::Deploy,
                image_id: Some(image_id),
                save_as: String::new(),
                at: None,
            },
        )
        .await
        .unwrap();
    (machine.id, job.id)
}

/// What iPXE would do: fetch the machine's boot script over HTTP.
async fn boot_script(baas: &Baas) -> String {
    let url = format!("{}/boot/{MAC}.ipxe", baas.url);
    tokio::task::spawn_blocking(move || {
        let output = Command::new("curl").args(["-sf", &url]).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    })
    .await
    .unwrap()
}

/// Runs the agent binary to completion; returns (success, its stderr).
async fn run_agent(baas: &Baas, token: &str, disk: &std::path::Path) -> (bool, String) {
    let command = agent_command(baas, token, disk);
    finish(command).await
}

async fn finish(mut command: Command) -> (bool, String) {
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn agent_command(baas: &Baas, token: &str, disk: &std::path::Path) -> Command {
    agent_command_via(&baas.url, token, disk)
}

/// The agent told to reach baas at `url`.
fn agent_command_via(url: &str, token: &str, disk: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_baas-agent"));
    command.args([
        "--url",
        url,
        "--token",
        token,
        "--mac",
        MAC,
        "--disk",
        &disk.display().to_string(),
        "--no-reboot",
        "--cmdline",
        "/dev/null",
    ]);
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_writes_a_zstd_image_verifies_it_and_the_machine_boots_its_disk() {
    let baas = start_baas().await;
    let raw = raw_disk(24 << 20);
    let compressed = zstd::encode_all(&raw[..], 3).unwrap();
    let (machine, job) = deploy_job(&baas, &compressed).await;

    let script = boot_script(&baas).await;
    assert!(script.contains(&format!("baas.mac={MAC}")), "{script}");
    let target = tempfile::tempdir().unwrap();
    let disk = target.path().join("disk.img");
    let (ok, log) = run_agent(&baas, &token_of(&script), &disk).await;
    assert!(ok, "the agent failed:\n{log}");
    assert!(
        std::fs::read(&disk).unwrap() == raw,
        "the disk does not hold the image"
    );

    let shell = Actor::shell();
    let after = baas.lab.job(&shell, job).await.unwrap();
    assert_eq!(after.state, JobState::Rebooting, "{after:?}\n{log}");
    let seen: Vec<JobState> = after.phases.iter().map(|p| p.state).collect();
    for phase in [
        JobState::Netbooting,
        JobState::Enrolled,
        JobState::Writing,
        JobState::Verifying,
    ] {
        assert!(
            seen.contains(&phase),
            "{phase} missing from {:?}\n{log}",
            after.phases
        );
    }
    // The hardware report arrived with the heartbeat.
    let hardware = baas
        .lab
        .machine_hardware(&shell, machine)
        .await
        .unwrap()
        .expect("a hardware report");
    assert!(
        hardware.cpu_count >= 1 && hardware.memory_bytes > 0,
        "{hardware:?}"
    );

    // The machine's next network boot goes to its disk: the job now watches what the
    // written system prints (the job runner judges it; see conductor's job_runner).
    let script = boot_script(&baas).await;
    assert!(!script.contains("baas.token"), "{script}");
    assert_eq!(
        baas.lab.job(&shell, job).await.unwrap().state,
        JobState::Booting
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_image_fails_the_job_and_is_never_reported_as_written() {
    let baas = start_baas().await;
    let raw = raw_disk(4 << 20);
    let (machine, job) = deploy_job(&baas, &raw).await;
    // The stored bytes change behind the library's back: what arrives is not what was checked in.
    let image = baas
        .lab
        .job(&Actor::shell(), job)
        .await
        .unwrap()
        .image
        .unwrap();
    let path = baas
        ._dir
        .path()
        .join("images")
        .join(format!("{}.img", image.id));
    let mut stored = std::fs::read(&path).unwrap();
    stored[1 << 20] ^= 0xff;
    std::fs::write(&path, &stored).unwrap();

    let script = boot_script(&baas).await;
    let target = tempfile::tempdir().unwrap();
    let (ok, log) = run_agent(&baas, &token_of(&script), &target.path().join("disk.img")).await;
    assert!(!ok, "the agent claimed success:\n{log}");
    let after = baas.lab.job(&Actor::shell(), job).await.unwrap();
    assert_eq!(after.state, JobState::Failed);
    assert_eq!(after.failed_step, "download", "{after:?}");
    assert!(after.reason.contains("SHA-256"), "{}", after.reason);
    let disk = baas
        .lab
        .machine_disk(&Actor::shell(), machine)
        .await
        .unwrap();
    assert_eq!(disk, ("unknown".to_string(), None));
}

/// A TCP proxy in front of `to` that flips one byte at offset `flip` of what the server sends on
/// any connection (the image stream is the only answer that long); returns its URL.
async fn byte_flipping_proxy(to: &str, flip: u64) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = to.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let (mut client_in, mut client_out) = client.into_split();
            let (mut server_in, mut server_out) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_in, &mut server_out).await;
                let _ = server_out.shutdown().await;
            });
            tokio::spawn(async move {
                let (mut sent, mut buffer) = (0u64, vec![0u8; 64 << 10]);
                while let Ok(n) = server_in.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    if (sent..sent + n as u64).contains(&flip) {
                        buffer[(flip - sent) as usize] ^= 0x01;
                    }
                    sent += n as u64;
                    if client_out.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

/// One bit flipped on the wire, between baas and the agent: the agent writes what arrived, its
/// checks fail, the job fails with the reason and the disk is not counted as the image.
#[tokio::test(flavor = "multi_thread")]
async fn a_byte_flipped_in_transit_fails_the_deploy_and_the_disk_is_not_the_image() {
    let baas = start_baas().await;
    let raw = raw_disk(4 << 20);
    let (machine, job) = deploy_job(&baas, &raw).await;
    let script = boot_script(&baas).await;
    let proxy = byte_flipping_proxy(&baas.url, 2 << 20).await;
    let target = tempfile::tempdir().unwrap();
    let disk = target.path().join("disk.img");
    let (ok, log) = finish(agent_command_via(&proxy, &token_of(&script), &disk)).await;
    assert!(!ok, "the agent claimed success:\n{log}");
    let after = baas.lab.job(&Actor::shell(), job).await.unwrap();
    assert_eq!(after.state, JobState::Failed, "{after:?}\n{log}");
    assert!(after.reason.contains("SHA-256"), "{}", after.reason);
    let disk_content = baas
        .lab
        .machine_disk(&Actor::shell(), machine)
        .await
        .unwrap();
    assert_eq!(disk_content, ("unknown".to_string(), None));
    // The agent wrote what arrived (the check is at the stream's end): all of it but one byte
    // is the image.
    let written = std::fs::read(&disk).unwrap();
    assert_eq!(written.len(), raw.len());
    let differ: Vec<usize> = (0..raw.len()).filter(|&i| raw[i] != written[i]).collect();
    assert_eq!(differ.len(), 1, "{differ:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_baas_restart_mid_write_is_ridden_out_and_the_deploy_resumes_where_it_broke() {
    let mut baas = start_baas().await;
    let raw = raw_disk(64 << 20);
    let (_, job) = deploy_job(&baas, &raw).await;
    let script = boot_script(&baas).await;
    let target = tempfile::tempdir().unwrap();
    let disk = target.path().join("disk.img");
    // 16 MiB/s: about four seconds of writing, with a restart in the middle.
    let mut command = agent_command(&baas, &token_of(&script), &disk);
    command.args(["--max-rate", &(16u64 << 20).to_string()]);
    let agent = tokio::spawn(finish(command));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = baas.lab.job(&Actor::shell(), job).await.unwrap();
        if now.state == JobState::Writing && now.progress.done > 8 << 20 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the write never started: {now:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::task::block_in_place(|| baas.restart(std::time::Duration::from_secs(2)));
    let (ok, log) = agent.await.unwrap();
    assert!(ok, "the agent did not ride out the restart:\n{log}");
    assert!(
        log.contains("resuming"),
        "the stream was not resumed:\n{log}"
    );
    assert!(
        std::fs::read(&disk).unwrap() == raw,
        "the disk does not hold the image"
    );
    let after = baas.lab.job(&Actor::shell(), job).await.unwrap();
    assert_eq!(after.state, JobState::Rebooting, "{after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_that_saves_first_keeps_the_old_disk_as_the_next_image_version() {
    let baas = start_baas().await;
    let shell = Actor::shell();
    // A user who may do anything: the saved disk becomes an image in their library.
    let owner = baas
        .lab
        .create_user(
            &shell,
            NewUser {
                username: "olga".into(),
                display_name: "Olga".into(),
                password: "password123".into(),
                is_admin: true,
            },
        )
        .await
        .unwrap();
    let olga = Actor::user(owner.id, "olga", true, "127.0.0.1");
    // The new image, and a disk holding something else before the deploy.
    let new_image = raw_disk(12 << 20);
    let (machine, first_job) =
        deploy_job(&baas, &zstd::encode_all(&new_image[..], 3).unwrap()).await;
    baas.lab.cancel_job(&shell, first_job).await.unwrap();
    let image_id = baas
        .lab
        .job(&shell, first_job)
        .await
        .unwrap()
        .image
        .unwrap()
        .id;
    let target = tempfile::tempdir().unwrap();
    let disk = target.path().join("disk.img");
    let mut old: Vec<u8> = (0..(20usize << 20))
        .map(|i| (i / 4096 % 251) as u8)
        .collect();
    (old[510], old[511]) = (0x55, 0xaa);
    std::fs::write(&disk, &old).unwrap();

    let job = baas
        .lab
        .create_job(
            &olga,
            &JobRequest {
                machine_id: machine,
                kind: JobKind::Deploy,
                image_id: Some(image_id),
                save_as: "node1-before".into(),
                at: None,
            },
        )
        .await
        .unwrap();
    let script = boot_script(&baas).await;
    let (ok, log) = run_agent(&baas, &token_of(&script), &disk).await;
    assert!(ok, "the agent failed:\n{log}");
    assert!(std::fs::read(&disk).unwrap() == new_image);
    let after = baas.lab.job(&shell, job.id).await.unwrap();
    assert_eq!(after.state, JobState::Rebooting, "{after:?}\n{log}");
    let states: Vec<JobState> = after.phases.iter().map(|p| p.state).collect();
    assert!(
        states.contains(&JobState::Saving) && states.contains(&JobState::Writing),
        "{states:?}"
    );
    let saved = after.saved_image.expect("the saved version");
    assert_eq!((saved.name.as_str(), saved.version), ("node1-before", 1));
    let (size, sha) = baas.lab.raw_digest(saved.id).await.unwrap();
    assert_eq!(size, old.len() as u64);
    assert_eq!(
        sha,
        hex_sha256(&old),
        "the saved version is not the disk as it was"
    );
    let image = baas.lab.image(&olga, saved.id).await.unwrap();
    assert_eq!(image.owner.username, "olga");
    assert_eq!(image.compression, lab::model::Compression::Zstd);
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
