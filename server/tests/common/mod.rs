//! An in-process baas for tests: a fresh database, the real router, and a cookie-keeping client.

#![allow(dead_code)]

pub mod process;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use lab::Lab;
use server::config::Config;
use tower::ServiceExt;

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "user-password-1";

pub struct TestServer {
    pub router: Router,
    /// What drives the BMCs, shared with the router (its power cache too).
    pub conductor: conductor::Conductor,
    /// What the server believes DHCP saw: tests teach it with `learn`.
    pub boot_clients: server::boot_clients::BootClients,
    pub lab: Lab,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

pub fn config_in(dir: &std::path::Path, session_ttl_seconds: i64) -> Config {
    Config {
        http_addr: "127.0.0.1:3000".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        database_url: format!("sqlite://{}", dir.join("baas.db").display()),
        session_ttl_seconds,
        secure_cookies: false,
        site_root: dir.join("site"),
        image_dir: dir.join("images"),
        public_url: "http://127.0.0.1:3000".into(),
        bmc_timeout: std::time::Duration::from_secs(5),
        console_log_bytes: 1 << 20,
        console_idle_seconds: 600,
        job_timeouts: Default::default(),
        tftp_addr: None,
        tftp_root: dir.join("tftp"),
        dhcp_addr: None,
        pxe_addr: None,
        dhcp_interfaces: Vec::new(),
        boot_server_ip: Some(std::net::Ipv4Addr::LOCALHOST),
        dhcp6: None,
        dhcp_authoritative: None,
        management_os: None,
        management_os_arm64: None,
        grub_arm64_modules: None,
    }
}

/// An available machine without BMC.
pub fn machine_input(name: &str, mac: &str, platform: &str) -> lab::model::MachineInput {
    lab::model::MachineInput {
        name: name.into(),
        macs: mac.into(),
        platform: platform.into(),
        bmc_kind: "none".into(),
        state: "available".into(),
        ..Default::default()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with_ttl(3600).await
    }

    pub async fn start_with_ttl(session_ttl_seconds: i64) -> TestServer {
        Self::start_with(|config| config.session_ttl_seconds = session_ttl_seconds).await
    }

    /// A server whose configuration `adjust` changes first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_in(dir.path(), 3600);
        adjust(&mut config);
        let lab = server::open_lab(&config).await.unwrap();
        lab.bootstrap_admin(Some(ADMIN_PASSWORD)).await.unwrap();
        let conductor = conductor::Conductor::new(lab.clone(), config.bmc_settings());
        let boot_clients = server::boot_clients::BootClients::default();
        let files = server::grub_image::netboot_files(&config).await;
        let router =
            server::http::router_with(conductor.clone(), &config, boot_clients.clone(), files)
                .await
                .unwrap();
        TestServer {
            router,
            conductor,
            boot_clients,
            lab,
            config,
            dir,
        }
    }

    /// The same data directory served by a new router, as after a restart.
    pub async fn restart(&self) -> Router {
        let lab = server::open_lab(&self.config).await.unwrap();
        let conductor = conductor::Conductor::new(lab, self.config.bmc_settings());
        server::http::router(conductor, &self.config).await.unwrap()
    }

    pub fn client(&self) -> Client {
        Client {
            router: self.router.clone(),
            cookie: None,
            peer: None,
        }
    }

    /// A client whose requests come from `peer` (as a real connection's would).
    pub fn client_at(&self, peer: &str) -> Client {
        Client {
            peer: Some(peer.parse().unwrap()),
            ..self.client()
        }
    }

    pub async fn logged_in(&self, username: &str, password: &str) -> Client {
        let mut client = self.client();
        let response = client
            .post_form(
                "/api/login",
                &format!("username={username}&password={password}"),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "log-in of {username}: {}",
            response.body
        );
        client
    }

    /// Adds an available x86_64-uefi machine; `bmc` is (address, username, password) of an IPMI BMC.
    pub async fn add_machine(&self, name: &str, mac: &str, bmc: Option<(&str, &str, &str)>) -> i64 {
        let (bmc_kind, address, username, password) = match bmc {
            Some((address, username, password)) => ("ipmi", address, username, password),
            None => ("none", "", "", ""),
        };
        let input = lab::model::MachineInput {
            bmc_kind: bmc_kind.into(),
            bmc_address: address.into(),
            bmc_username: username.into(),
            bmc_password: password.into(),
            location: "lab".into(),
            ..machine_input(name, mac, "x86_64-uefi")
        };
        self.lab
            .create_machine(&lab::Actor::shell(), input)
            .await
            .unwrap()
            .id
    }

    /// A machine whose IPMI BMC is `sim` (its default `admin`/`password` account).
    pub async fn add_simulated_machine(
        &self,
        name: &str,
        mac: &str,
        sim: &bmc::testing::Simulator,
    ) -> i64 {
        let address = format!("127.0.0.1:{}", sim.port);
        self.add_machine(name, mac, Some((&address, "admin", "password")))
            .await
    }

    pub async fn add_user(&self, name: &str) -> i64 {
        self.lab
            .create_user(
                &lab::Actor::shell(),
                lab::model::NewUser {
                    username: name.into(),
                    display_name: name.into(),
                    password: PASSWORD.into(),
                    is_admin: false,
                },
            )
            .await
            .unwrap()
            .id
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone)]
pub struct Client {
    pub router: Router,
    pub cookie: Option<String>,
    /// The connection's peer address, when the test gives one.
    pub peer: Option<std::net::SocketAddr>,
}

impl Client {
    pub async fn send(&mut self, mut request: Request<Body>) -> Reply {
        if let Some(peer) = self.peer {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        // Like a browser: each cookie set replaces the one of its name, the others stay.
        for set_cookie in headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let pair = set_cookie.split(';').next().unwrap_or_default().trim();
            let name = pair.split('=').next().unwrap_or_default();
            let mut pairs: Vec<String> = self
                .cookie
                .iter()
                .flat_map(|c| c.split("; "))
                .filter(|p| p.split('=').next() != Some(name))
                .map(str::to_string)
                .collect();
            pairs.push(pair.to_string());
            self.cookie = Some(pairs.join("; "));
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    fn builder(&self, method: &str, path: &str) -> axum::http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1:3000");
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        builder
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let request = self.builder("GET", path).body(Body::empty()).unwrap();
        self.send(request).await
    }

    /// Any request; `headers` are added to the host and cookie headers.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Reply {
        let mut builder = self.builder(method, path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(body).unwrap()).await
    }

    /// The raw response, for bodies that are not text.
    pub async fn request_bytes(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut builder = self.builder(method, path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(builder.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, bytes)
    }

    pub async fn post_form(&mut self, path: &str, body: &str) -> Reply {
        self.post_form_with(path, body, &[]).await
    }

    pub async fn post_form_with(
        &mut self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = self
            .builder("POST", path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(Body::from(body.to_string())).unwrap())
            .await
    }
}

/// The lab database of a `baas` process a test started, opened beside it (SQLite allows it),
/// to set the inventory up before the start and to read what the boot services recorded.
pub struct LabBeside {
    pub runtime: tokio::runtime::Runtime,
    pub lab: Lab,
}

impl LabBeside {
    pub fn open(data_dir: &std::path::Path) -> LabBeside {
        let config = config_in(data_dir, 3600);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let lab = runtime.block_on(server::open_lab(&config)).unwrap();
        LabBeside { runtime, lab }
    }

    /// Adds a machine without BMC; `ip_address` may be empty.
    pub fn add_machine(&self, name: &str, mac: &str, platform: &str, ip_address: &str) -> i64 {
        let input = lab::model::MachineInput {
            ip_address: ip_address.into(),
            ..machine_input(name, mac, platform)
        };
        let created = self
            .runtime
            .block_on(self.lab.create_machine(&lab::Actor::shell(), input));
        created.unwrap().id
    }

    /// Adds a machine with tags (comma-separated).
    pub fn add_tagged_machine(&self, name: &str, mac: &str, tags: &str) -> i64 {
        let input = lab::model::MachineInput {
            tags: tags.into(),
            ..machine_input(name, mac, "x86_64-uefi")
        };
        let created = self
            .runtime
            .block_on(self.lab.create_machine(&lab::Actor::shell(), input));
        created.unwrap().id
    }

    /// Adds a machine whose BMC is the IPMI one at `bmc` (user admin, password `password`).
    pub fn add_ipmi_machine(&self, name: &str, mac: &str, platform: &str, bmc: &str) -> i64 {
        self.add_ipmi_machine_booting(name, mac, platform, bmc, "")
    }

    /// The same with the machine's own network boot program (empty: the lab's).
    pub fn add_ipmi_machine_booting(
        &self,
        name: &str,
        mac: &str,
        platform: &str,
        bmc: &str,
        boot_program: &str,
    ) -> i64 {
        let input = lab::model::MachineInput {
            bmc_kind: "ipmi".into(),
            bmc_address: bmc.into(),
            bmc_username: "admin".into(),
            bmc_password: "password".into(),
            boot_program: boot_program.into(),
            ..machine_input(name, mac, platform)
        };
        let created = self
            .runtime
            .block_on(self.lab.create_machine(&lab::Actor::shell(), input));
        created.unwrap().id
    }

    /// Asks for the management OS at the machine's next network boot.
    pub fn request_boot_job(&self, machine_id: i64) {
        let job = self.runtime.block_on(
            self.lab
                .request_management_boot(&lab::Actor::shell(), machine_id),
        );
        job.unwrap();
    }

    /// A deploy job of `image` (uploaded as a new user's public image) for the machine.
    pub fn deploy_job(&self, machine_id: i64, image: &std::path::Path) -> i64 {
        let shell = lab::Actor::shell();
        let bytes = std::fs::read(image).unwrap();
        self.runtime.block_on(async {
            let owner = self
                .lab
                .create_user(
                    &shell,
                    lab::model::NewUser {
                        username: "imager".into(),
                        display_name: "Imager".into(),
                        password: "password123".into(),
                        is_admin: false,
                    },
                )
                .await
                .unwrap();
            let owner = lab::Actor::user(owner.id, "imager", false, "test");
            let upload = self
                .lab
                .create_upload(
                    &owner,
                    lab::model::NewUpload {
                        name: "test-disk".into(),
                        visibility: "public".into(),
                        length: Some(bytes.len() as i64),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let done = self
                .lab
                .append_upload(&owner, &upload.id, 0, &bytes[..], lab::Ending::Whole)
                .await
                .unwrap();
            let job = self
                .lab
                .create_job(
                    &shell,
                    &lab::jobs::JobRequest {
                        machine_id,
                        kind: lab::model::JobKind::Deploy,
                        image_id: done.image_id,
                        save_as: String::new(),
                        at: None,
                    },
                )
                .await
                .unwrap();
            job.id
        })
    }

    /// A job as it stands now.
    /// Sets an image's ready pattern, as its owner would.
    pub fn set_ready_pattern(&self, image_id: i64, pattern: &str) {
        self.runtime
            .block_on(
                self.lab
                    .set_ready_pattern(&lab::Actor::shell(), image_id, pattern),
            )
            .unwrap();
    }

    pub fn job(&self, job_id: i64) -> lab::model::Job {
        self.runtime
            .block_on(self.lab.job(&lab::Actor::shell(), job_id))
            .unwrap()
    }

    /// The machine's boot events, oldest first, as `kind: detail`.
    pub fn boot_events(&self, machine_id: i64) -> Vec<String> {
        let events = self
            .runtime
            .block_on(self.lab.boot_events(&lab::Actor::shell(), machine_id))
            .unwrap();
        events
            .into_iter()
            .rev()
            .map(|event| format!("{}: {}", event.kind, event.detail))
            .collect()
    }

    pub fn leases(&self) -> Vec<lab::model::DhcpLease> {
        self.runtime
            .block_on(self.lab.dhcp_leases(&lab::Actor::shell()))
            .unwrap()
    }
}
