//! What the agent's tests share: a real baas HTTP server on a runtime of its own (so a test can
//! stop it the way a process ends), raw disk images, and the boot script's token.
#![allow(dead_code)] // each test binary uses its part

use std::net::SocketAddr;

use lab::model::{NewUpload, NewUser};
use lab::{Actor, Ending, Lab};

pub struct Baas {
    pub lab: Lab,
    pub url: String,
    config: server::config::Config,
    /// The HTTP side runs on a runtime of its own, so a test can stop it the way a process
    /// ends: every connection and in-memory state gone, the database and images kept.
    server: Option<tokio::runtime::Runtime>,
    pub _dir: tempfile::TempDir,
}

impl Baas {
    /// Stops the server and starts a new one on the same port and data.
    pub fn restart(&mut self, down_for: std::time::Duration) {
        if let Some(runtime) = self.server.take() {
            runtime.shutdown_background();
        }
        std::thread::sleep(down_for);
        self.server = Some(serve(&self.config));
    }
}

impl Drop for Baas {
    fn drop(&mut self) {
        if let Some(runtime) = self.server.take() {
            runtime.shutdown_background();
        }
    }
}

/// The HTTP server for `config` on a fresh runtime.
fn serve(config: &server::config::Config) -> tokio::runtime::Runtime {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = config.clone();
    let (up, ready) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let lab = server::open_lab(&config).await.unwrap();
        let conductor = conductor::Conductor::new(lab, config.bmc_settings());
        let router = server::http::router(conductor, &config).await.unwrap();
        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .unwrap();
        up.send(()).unwrap();
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    ready.recv().unwrap();
    runtime
}

/// baas on a loopback port, with a (dummy) management OS configured so boot jobs are served.
pub async fn start_baas() -> Baas {
    start_baas_on("127.0.0.1").await
}

/// baas on a free port of `ip`.
pub async fn start_baas_on(ip: &str) -> Baas {
    let dir = tempfile::tempdir().unwrap();
    let addr = std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap();
    let kernel = dir.path().join("vmlinuz");
    std::fs::write(&kernel, b"kernel").unwrap();
    // The configuration a lab admin would write, read the way `baas serve` reads it.
    let data = dir.path().display().to_string();
    let config = server::config::Config::load_with(None, |name| match name {
        "BAAS_HTTP_ADDR" => Some(addr.to_string()),
        "BAAS_DATA_DIR" => Some(data.clone()),
        "BAAS_MGMT_KERNEL" => Some(kernel.display().to_string()),
        "BAAS_TFTP_ADDR" | "BAAS_DHCP_MODE" => Some("off".into()),
        _ => None,
    })
    .unwrap();
    // The test's own view of the same database.
    let lab = server::open_lab(&config).await.unwrap();
    let server = Some(tokio::task::block_in_place(|| serve(&config)));
    Baas {
        lab,
        url: format!("http://{addr}"),
        config,
        server,
        _dir: dir,
    }
}

/// A raw disk image of `len` bytes (MBR signature, varied content).
pub fn raw_disk(len: usize) -> Vec<u8> {
    let mut disk: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
    disk[510] = 0x55;
    disk[511] = 0xaa;
    disk
}

pub fn token_of(script: &str) -> String {
    script
        .split_whitespace()
        .find_map(|w| w.strip_prefix("baas.token="))
        .unwrap_or_else(|| panic!("no token in the boot script:\n{script}"))
        .to_string()
}

/// A new user alice's public image of `bytes` (stored as given); returns its id.
pub async fn alices_public_image(baas: &Baas, bytes: &[u8]) -> i64 {
    let alice = baas
        .lab
        .create_user(
            &Actor::shell(),
            NewUser {
                username: "alice".into(),
                display_name: "Alice".into(),
                password: "password123".into(),
                is_admin: false,
            },
        )
        .await
        .unwrap();
    let alice = Actor::user(alice.id, "alice", false, "127.0.0.1");
    let upload = baas
        .lab
        .create_upload(
            &alice,
            NewUpload {
                name: "disk".into(),
                visibility: "public".into(),
                length: Some(bytes.len() as i64),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    baas.lab
        .append_upload(&alice, &upload.id, 0, bytes, Ending::Whole)
        .await
        .unwrap()
        .image_id
        .unwrap()
}
