//! The `baas` command-line client against the real `baas serve`, as a CI pipeline runs it:
//! log in (the token file is 0600), find and reserve a machine, upload an image with an
//! interrupted run that the next run resumes, deploy it with `--wait` while the real agent
//! writes it, read the events, release, and log out (the token is revoked). Every `--json`
//! output is parsed, and failures exit with their distinct codes.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::LabBeside;

const MAC: &str = "52:54:00:c1:10:01";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The agent binary `cargo test --workspace` builds beside this test's own executable.
fn agent_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let agent = dir.join("baas-agent");
    assert!(
        agent.exists(),
        "{} is missing: build it with `cargo build -p baas-agent` (cargo test --workspace does)",
        agent.display()
    );
    agent
}

struct Cli {
    server: String,
    config: std::path::PathBuf,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baas"));
        command
            .args(args)
            .env("BAAS_SERVER", &self.server)
            .env("BAAS_CLI_CONFIG", &self.config)
            .env_remove("BAAS_TOKEN")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a command with `line` on its standard input (a password).
    fn with_stdin(&self, args: &[&str], line: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs a command that must succeed with `--json`; returns what it printed, parsed.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let output = self.run(&all);
        assert!(
            output.status.success(),
            "baas {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "baas {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }
}

fn boot_script(server: &str) -> String {
    boot_script_of(server, MAC)
}

fn boot_script_of(server: &str, mac: &str) -> String {
    let url = format!("{server}/boot/{mac}.ipxe");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async { reqwest::get(&url).await.unwrap().text().await.unwrap() })
}

/// `baas serve` on a free port with the data under `data` (and a stand-in management kernel
/// under `dir`); returns the running server and its URL once it listens.
fn serve(dir: &std::path::Path, data: &std::path::Path) -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kernel = dir.join("vmlinuz");
    std::fs::write(&kernel, b"kernel").unwrap();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_baas"))
            .arg("serve")
            .env_remove("BAAS_CONFIG")
            .env("BAAS_DATA_DIR", data)
            .env("BAAS_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("BAAS_ADMIN_PASSWORD", "admin-password-1")
            .env("BAAS_TFTP_ADDR", "off")
            .env("BAAS_DHCP_MODE", "off")
            .env("BAAS_MGMT_KERNEL", &kernel)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "baas did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, format!("http://127.0.0.1:{port}"))
}

/// Logs the client in as admin (password on standard input).
fn log_in_as_admin(cli: &Cli) {
    log_in(cli, "admin", "admin-password-1");
}

/// Logs the client in (password on standard input).
fn log_in(cli: &Cli, username: &str, password: &str) {
    let login = cli.with_stdin(
        &["login", "--username", username, "--password-stdin"],
        password,
    );
    assert!(login.status.success(), "{login:?}");
}

#[test]
fn reserving_by_tag_books_the_first_free_machine_and_then_says_when_one_frees_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let beside = LabBeside::open(&data);
        beside.add_tagged_machine("gpu-a", "52:54:00:00:10:01", "gpu");
        beside.add_tagged_machine("gpu-b", "52:54:00:00:10:02", "gpu, big");
        beside.add_tagged_machine("cpu-a", "52:54:00:00:10:03", "cpu");
    }
    let (_server, server) = serve(dir.path(), &data);
    let cli = Cli {
        server,
        config: dir.path().join("cli/cli.toml"),
    };
    log_in_as_admin(&cli);
    let first = cli.json(&["reserve", "--tag", "gpu", "--for", "2h"]);
    let second = cli.json(&["reserve", "--tag", "gpu", "--for", "1h"]);
    let names = [
        &first["reservations"][0]["machine_name"],
        &second["reservations"][0]["machine_name"],
    ];
    assert!(names.contains(&&serde_json::json!("gpu-a")), "{names:?}");
    assert!(names.contains(&&serde_json::json!("gpu-b")), "{names:?}");
    // Both taken: a conflict (exit code 4) naming the first to free up for that long.
    let third = cli.run(&["reserve", "--tag", "gpu", "--for", "1h"]);
    assert_eq!(third.status.code(), Some(4), "{third:?}");
    let why = String::from_utf8_lossy(&third.stderr);
    assert!(
        why.contains(second["reservations"][0]["machine_name"].as_str().unwrap()),
        "{why}"
    );
    // Neither a machine nor a tag: a usage error.
    let neither = cli.run(&["reserve", "--for", "1h"]);
    assert_eq!(neither.status.code(), Some(2), "{neither:?}");
}

#[test]
fn reserving_a_set_by_tag_books_all_of_it_or_nothing_and_names_the_set_to_deploy_to() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let beside = LabBeside::open(&data);
        for n in 1..=3 {
            beside.add_tagged_machine(
                &format!("rack-{n}"),
                &format!("52:54:00:00:11:0{n}"),
                "rack",
            );
        }
    }
    let (_server, server) = serve(dir.path(), &data);
    let cli = Cli {
        server,
        config: dir.path().join("cli/cli.toml"),
    };
    log_in_as_admin(&cli);
    // More than there are: refused, and nothing is booked.
    let four = cli.run(&["reserve", "--tag", "rack", "--count", "4", "--for", "2h"]);
    assert_eq!(four.status.code(), Some(4), "{four:?}");
    assert!(
        String::from_utf8_lossy(&four.stderr).contains("not that many"),
        "{four:?}"
    );
    let set = cli.run(&["reserve", "--tag", "rack", "--count", "3", "--for", "2h"]);
    assert!(set.status.success(), "{set:?}");
    let out = String::from_utf8_lossy(&set.stdout);
    for n in 1..=3 {
        assert!(out.contains(&format!("rack-{n}")), "{out}");
    }
    assert!(out.contains("--reservation"), "{out}");
    // All three are taken now: one more is refused, saying from when one is free.
    let one = cli.run(&["reserve", "--tag", "rack", "--for", "1h"]);
    assert_eq!(one.status.code(), Some(4), "{one:?}");
    assert!(
        String::from_utf8_lossy(&one.stderr).contains("0 of the 3 machines tagged rack"),
        "{one:?}"
    );
    // --count without --tag is a usage error.
    let usage = cli.run(&["reserve", "rack-1", "--count", "2", "--for", "1h"]);
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");
}

#[test]
fn an_admin_script_adds_users_a_group_a_machine_and_grants_and_the_user_then_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_server, server) = serve(dir.path(), &data);
    let admin = Cli {
        server: server.clone(),
        config: dir.path().join("admin/cli.toml"),
    };
    log_in_as_admin(&admin);

    // A user with a generated password, another from stdin, a group with both.
    let erin = admin.json(&["users", "add", "erin", "--display-name", "Erin"]);
    let password = erin["password"].as_str().unwrap().to_string();
    assert_eq!(erin["username"], "erin");
    let frank = admin.with_stdin(
        &["users", "add", "frank", "--password-stdin", "--json"],
        "frank-password-1",
    );
    assert!(frank.status.success(), "{frank:?}");
    assert_eq!(
        admin.json(&["groups", "add", "kernel-team"])["name"],
        "kernel-team"
    );
    assert!(admin
        .run(&["groups", "join", "kernel-team", "erin"])
        .status
        .success());
    assert!(admin
        .run(&["groups", "join", "kernel-team", "frank"])
        .status
        .success());
    let groups = admin.json(&["groups"]);
    assert_eq!(
        groups["items"][0]["members"].as_array().unwrap().len(),
        2,
        "{groups}"
    );

    // A machine, the group's grant on it, read back; a bad level names the field.
    let machine = admin.json(&[
        "machine",
        "add",
        "rack2-n1",
        "--mac",
        "52:54:00:c1:20:01",
        "--tags",
        "gpu",
    ]);
    assert_eq!(machine["name"], "rack2-n1");
    let granted = admin.json(&["grants", "rack2-n1", "add", "group", "kernel-team", "use"]);
    assert_eq!(granted[0]["subject_name"], "group:kernel-team", "{granted}");
    assert_eq!(granted[0]["level"], "use");
    let bad = admin.run(&["grants", "rack2-n1", "add", "group", "kernel-team", "own"]);
    assert_eq!(bad.status.code(), Some(6), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("level"),
        "{bad:?}"
    );

    // Erin logs in with the generated password and sees the machine; disabled, she cannot.
    let user = Cli {
        server,
        config: dir.path().join("erin/cli.toml"),
    };
    log_in(&user, "erin", &password);
    assert_eq!(user.json(&["machines"])["items"][0]["name"], "rack2-n1");
    assert_eq!(user.run(&["users"]).status.code(), Some(3), "not an admin");
    assert_eq!(admin.json(&["users", "disable", "erin"])["disabled"], true);
    assert_eq!(user.run(&["machines"]).status.code(), Some(3), "disabled");
    let users = admin.json(&["users"]);
    let erin = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "erin")
        .unwrap();
    assert_eq!(erin["disabled"], true);

    // The grant goes, then the machine.
    let grant = granted[0]["id"].as_i64().unwrap().to_string();
    let left = admin.json(&["grants", "rack2-n1", "rm", &grant]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");
    assert!(admin.run(&["machine", "rm", "rack2-n1"]).status.success());
    assert_eq!(
        admin.run(&["machine", "show", "rack2-n1"]).status.code(),
        Some(5)
    );
}

#[test]
fn a_ci_pipeline_logs_in_reserves_uploads_with_a_resume_deploys_with_wait_and_releases() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        // The inventory before the start: one machine, its fixed address vouching for it.
        let beside = LabBeside::open(&data);
        beside.add_machine("ci-node", MAC, "x86_64-bios", "127.0.0.1");
    }
    let (_server, server) = serve(dir.path(), &data);
    let cli = Cli {
        server: server.clone(),
        config: dir.path().join("cli/cli.toml"),
    };

    // Before logging in: an auth failure, exit code 3.
    let anonymous = cli.run(&["machines"]);
    assert_eq!(anonymous.status.code(), Some(3), "{anonymous:?}");
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("baas login"));
    log_in_as_admin(&cli);
    let mode = std::fs::metadata(&cli.config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the token file must be private");
    assert_eq!(cli.json(&["whoami"])["username"], "admin");

    // Find the machine and reserve it for two hours.
    let machines = cli.json(&["machines", "--free-from", "now", "--for", "2h"]);
    assert_eq!(machines["items"][0]["name"], "ci-node");
    let reservation = cli.json(&["reserve", "ci-node", "--for", "2h", "--note", "CI"]);
    let reservation_id = reservation["id"].as_i64().unwrap().to_string();
    // The same slot again is a conflict: exit code 4, the clash named.
    let again = cli.run(&["reserve", "ci-node", "--for", "1h"]);
    assert_eq!(again.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains(&format!("reservation {reservation_id}"))
    );
    let extended = cli.json(&["extend", &reservation_id, "--by", "30m"]);
    assert_eq!(
        extended["end_at"].as_i64().unwrap(),
        reservation["end_at"].as_i64().unwrap() + 1800
    );

    // Upload 24 MiB slowly, stop the first run after its first chunks, run it again.
    let mut disk: Vec<u8> = (0..24 << 20).map(|i: usize| (i * 13 % 251) as u8).collect();
    disk[510] = 0x55;
    disk[511] = 0xaa;
    let file = dir.path().join("ci-disk.img");
    std::fs::write(&file, &disk).unwrap();
    let file_arg = file.display().to_string();
    let upload = [
        "images",
        "upload",
        &file_arg,
        "--name",
        "ci-disk",
        "--max-rate",
        "8388608",
    ];
    let mut first = cli.command(&upload).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = first.kill();
    let first = first.wait_with_output().unwrap();
    assert!(
        !first.status.success(),
        "the first run was meant to be interrupted"
    );
    let resumed = cli.command(&upload).output().unwrap();
    assert!(resumed.status.success(), "{resumed:?}");
    let said = String::from_utf8_lossy(&resumed.stderr);
    assert!(said.contains("resuming the earlier upload at"), "{said}");
    let images = cli.json(&["images", "list"]);
    assert_eq!(images["items"][0]["name"], "ci-disk");
    assert_eq!(
        images["items"][0]["stored_size"].as_i64(),
        Some(disk.len() as i64)
    );

    // Someone follows the machine's events meanwhile, as a person reads them.
    let follower = cli
        .command(&["events", "--machine", "ci-node", "--for", "60s"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Deploy with --wait while the real agent, as the management OS runs it, writes the image.
    let mut deploy = cli
        .command(&["deploy", "ci-disk", "ci-node", "--wait", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let token = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let script = boot_script(&server);
            if let Some(token) = script
                .split_whitespace()
                .find_map(|w| w.strip_prefix("baas.token="))
            {
                break token.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no job reached the boot script: {script}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let target = dir.path().join("written.img");
    let agent = Command::new(agent_binary())
        .args(["--url", &server, "--token", &token, "--mac", MAC])
        .arg("--disk")
        .arg(&target)
        .args(["--no-reboot", "--cmdline", "/dev/null"])
        .output()
        .unwrap();
    assert!(
        agent.status.success(),
        "{}",
        String::from_utf8_lossy(&agent.stderr)
    );
    // The machine's next network boot goes to its disk. It has no console to watch: the job
    // ends saying the boot was not observed, and `--wait` exits 8.
    assert!(boot_script(&server).contains("sanboot"));
    let deployed = deploy.wait().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut deploy.stdout.take().unwrap(), &mut stdout).unwrap();
    assert_eq!(deployed.code(), Some(8), "deploy --wait: {stdout}");
    let job: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(job["state"], "boot-unobserved");
    let job_id = job["id"].as_i64().unwrap();
    let followed = wait_for_line(
        follower,
        &format!("job {job_id}: deploy of ci-disk v1 on ci-node: boot-unobserved"),
    );
    assert!(
        followed.lines().any(|line| line.contains(&format!(
            "job {job_id}: deploy of ci-disk v1 on ci-node: writing"
        ))),
        "the follower saw the write as a line a person reads:\n{followed}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), disk);

    // The events of that job, then the lists, then give the machine back and log out.
    let events = cli.run(&["events", "--machine", "ci-node", "--for", "1s"]);
    assert!(events.status.success());
    let jobs = cli.json(&["jobs", "--machine", "ci-node"]);
    assert_eq!(jobs["items"][0]["state"], "boot-unobserved");
    let failed_wait = cli.run(&["deploy", "no-such-image", "ci-node"]);
    assert_eq!(failed_wait.status.code(), Some(5));
    let release = cli.run(&["release", &reservation_id]);
    assert!(release.status.success());
    let mine = cli.json(&["reservations"]);
    assert_eq!(mine["items"][0]["state"], "released");
    assert!(cli.run(&["logout"]).status.success());
    assert!(!cli.config.exists());
    let after = cli.run(&["whoami"]);
    assert_eq!(
        after.status.code(),
        Some(3),
        "the token is gone: an auth error"
    );
    let completions = cli.run(&["completions", "bash"]);
    assert!(String::from_utf8_lossy(&completions.stdout).contains("baas"));
}

/// Reads `child`'s output until a line holds `needle` (then stops it), within 30 s; returns what
/// it printed.
#[test]
fn deploying_to_several_machines_follows_the_batch_as_lines_and_a_cancel_ends_it_with_the_failures_listed(
) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let beside = LabBeside::open(&data);
        for n in 0..3 {
            beside.add_tagged_machine(&format!("row-{n}"), &format!("52:54:00:00:12:0{n}"), "row");
        }
    }
    let (_server, server) = serve(dir.path(), &data);
    let cli = Cli {
        server,
        config: dir.path().join("cli/cli.toml"),
    };
    log_in_as_admin(&cli);
    let mut disk: Vec<u8> = (0..1 << 20).map(|i: usize| (i * 7 % 251) as u8).collect();
    disk[510] = 0x55;
    disk[511] = 0xaa;
    let file = dir.path().join("row.img");
    std::fs::write(&file, &disk).unwrap();
    let upload = cli.run(&[
        "images",
        "upload",
        &file.display().to_string(),
        "--name",
        "row",
    ]);
    assert!(upload.status.success(), "{upload:?}");
    let set = cli.json(&["reserve", "--tag", "row", "--count", "3", "--for", "1h"]);
    let set_id = set["set_id"].as_i64().unwrap().to_string();

    // The whole set, followed: the machines wait for their network boot...
    let deploy = cli
        .command(&["deploy", "row", "--reservation", &set_id, "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let listed = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let batches = cli.json(&["batches"]);
            if let Some(id) = batches["items"][0]["id"].as_i64() {
                break id;
            }
            assert!(Instant::now() < deadline, "no batch: {batches}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let shown = cli.json(&["batches", "show", &listed.to_string()]);
    assert_eq!(shown["transfer"], "relay", "three machines relay: {shown}");
    assert_eq!(shown["jobs"].as_array().unwrap().len(), 3);
    // ...until someone cancels the batch: --wait then exits 1, listing each machine.
    let cancelled = cli.run(&["batches", "cancel", &listed.to_string()]);
    assert!(cancelled.status.success(), "{cancelled:?}");
    let followed = deploy.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&followed.stderr);
    assert_eq!(followed.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("batch {listed}: row to 3 machines (relay)")),
        "{said}"
    );
    assert!(
        said.contains("3 machines: 0 booted, 0 failed, 0 running, 3 cancelled"),
        "{said}"
    );
    assert!(
        said.contains("3 of 3 machines did not boot the image"),
        "{said}"
    );
    for n in 0..3 {
        assert!(said.contains(&format!("row-{n} cancelled")), "{said}");
    }
    // Retried: the three are deployed to again, in the same batch.
    let retried = cli.json(&["batches", "retry", &listed.to_string()]);
    let states: Vec<&str> = retried["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["queued"; 3], "{retried}");
}

fn wait_for_line(mut child: std::process::Child, needle: &str) -> String {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut printed = String::new();
    while let Ok(line) = seen.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        printed.push_str(&line);
        printed.push('\n');
        if line.contains(needle) {
            let _ = child.kill();
            let _ = child.wait();
            return printed;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no line with {needle:?} within 30 s; printed:\n{printed}");
}

/// `baas login` at a terminal reads the password without echoing it, and logs in with it.
#[test]
fn a_password_typed_at_a_terminal_is_not_echoed() {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};

    let dir = tempfile::tempdir().unwrap();
    let (_server, server) = serve(dir.path(), &dir.path().join("data"));
    let cli = Cli {
        server,
        config: dir.path().join("cli/cli.toml"),
    };
    let (mut controller, terminal) = {
        let (mut controller, mut terminal) = (0, 0);
        // SAFETY: openpty writes two new descriptors, owned from here on.
        let opened = unsafe {
            libc::openpty(
                &mut controller,
                &mut terminal,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and nothing else owns them.
        unsafe {
            (
                std::fs::File::from(OwnedFd::from_raw_fd(controller)),
                OwnedFd::from_raw_fd(terminal),
            )
        }
    };
    let mut login = cli.command(&["login", "--username", "admin"]);
    login
        .stdin(Stdio::from(terminal.try_clone().unwrap()))
        .stdout(Stdio::from(terminal.try_clone().unwrap()))
        .stderr(Stdio::from(terminal));
    // As in a shell: the terminal is the session's controlling terminal (/dev/tty).
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut login, || {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut login = login.spawn().unwrap();
    // Everything the terminal shows, read on a thread until the login exits.
    let (shown_tx, shown_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut reader = controller.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 || shown_tx.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&shown).contains("password for admin:") {
        assert!(
            Instant::now() < deadline,
            "no prompt: {:?}",
            String::from_utf8_lossy(&shown)
        );
        if let Ok(bytes) = shown_rx.recv_timeout(Duration::from_millis(100)) {
            shown.extend(bytes);
        }
    }
    // The prompt may reach the screen a moment before echo is switched off (rpassword
    // writes it first); a person types after that moment, so the test waits for it too.
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: termios is plain data, filled in by tcgetattr on a descriptor we own;
        // on a pty's controller side Linux answers with the terminal side's modes.
        let echoing = unsafe {
            let mut modes: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(controller.as_raw_fd(), &mut modes), 0);
            modes.c_lflag & libc::ECHO != 0
        };
        if !echoing {
            break;
        }
        assert!(Instant::now() < deadline, "echo was never switched off");
        std::thread::sleep(Duration::from_millis(10));
    }
    controller.write_all(b"admin-password-1\n").unwrap();
    let status = loop {
        if let Some(status) = login.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the login did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    while let Ok(bytes) = shown_rx.recv_timeout(Duration::from_millis(200)) {
        shown.extend(bytes);
    }
    let shown = String::from_utf8_lossy(&shown);
    assert!(status.success(), "{shown}");
    assert!(shown.contains("logged in to"), "{shown}");
    assert!(
        !shown.contains("admin-password-1"),
        "the password was echoed: {shown}"
    );
}
