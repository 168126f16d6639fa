//! The client's commands: what `baas machines`, `baas reserve`, `baas deploy --wait` and the
//! others do, each a few calls to the REST API. Machines and images are named by name or id;
//! every command prints a table, or JSON with `--json`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use lab::model::{ApiToken, Image, Job, JobState, Machine, Reservation};
use lab::rest_api::{
    AnyReservation, BootDeviceRequest, CreatedToken, MachineDetail, NewJob, NewReservation,
    NewToken, Paged, PowerRequest, PowerStatus, ReservationChange, Whoami,
};
use reqwest::Method;

use super::output::{parse_duration, parse_time, show, when};
use super::{Client, ClientError, Failure, Result, Saved};

/// Where the client connects, beside every command.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The baas server, like http://baas.lab:3000 (default: the one `baas login` saved).
    #[arg(long, env = "BAAS_SERVER", global = true)]
    pub server: Option<String>,
    /// An API token (default: the one `baas login` saved).
    #[arg(long, env = "BAAS_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// JSON instead of a table, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Log in with your password and keep an API token for the next commands (0600 file).
    ///
    /// Example: baas login --server http://baas.lab:3000 --username alice
    Login {
        #[arg(long)]
        username: String,
        /// Read the password from stdin instead of asking.
        #[arg(long)]
        password_stdin: bool,
        /// Days until the token expires (default: 90).
        #[arg(long, default_value_t = 90)]
        valid_days: i64,
    },
    /// Revoke the saved token and forget it.
    Logout,
    /// Who the token belongs to.
    Whoami,
    /// List the machines you can see.
    ///
    /// Example: baas machines --tag gpu --free-from now --for 2h
    Machines {
        #[arg(long, default_value = "")]
        tag: String,
        /// available, maintenance or retired.
        #[arg(long, default_value = "")]
        state: String,
        /// Only machines free from this time (now, 2026-12-01T09:00 UTC, Unix seconds)…
        #[arg(long)]
        free_from: Option<String>,
        /// …for this long (2h, 1d, 1h30m).
        #[arg(long = "for", requires = "free_from")]
        free_for: Option<String>,
    },
    /// One machine: who holds it, its disk, hardware and latest job.
    Machine {
        #[command(subcommand)]
        command: MachineCommand,
    },
    /// Reserve a machine: from now for a while, or between two times. With --tag instead of a
    /// machine, the first free machine with that tag that you may use.
    ///
    /// Example: baas reserve node-07 --for 2h --note "kernel CI"
    /// Example: baas reserve --tag gpu --for 4h
    Reserve {
        #[arg(required_unless_present = "tag", conflicts_with = "tag")]
        machine: Option<String>,
        /// Any free machine with this tag.
        #[arg(long)]
        tag: Option<String>,
        #[arg(long = "for", conflicts_with = "until")]
        duration: Option<String>,
        #[arg(long, default_value = "now")]
        from: String,
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Move the end of a reservation: later by a duration, or to a time.
    ///
    /// Example: baas extend 42 --by 1h
    Extend {
        reservation: i64,
        #[arg(long, conflicts_with = "until")]
        by: Option<String>,
        #[arg(long)]
        until: Option<String>,
    },
    /// Give a reservation back now.
    Release { reservation: i64 },
    /// Your reservations (or one machine's with --machine).
    Reservations {
        #[arg(long)]
        machine: Option<String>,
    },
    /// The image library.
    Images {
        #[command(subcommand)]
        command: Option<ImageCommand>,
    },
    /// Write an image to a machine's disk (within your reservation).
    ///
    /// Example: baas deploy debian-12 node-07 --wait
    Deploy {
        /// An image name (its newest version), name:vN, or an id.
        image: String,
        machine: String,
        /// Save the current disk first as the next version of this image name.
        #[arg(long, default_value = "")]
        save_as: String,
        /// Follow the job until it ends; exit 0 only when the machine booted the image.
        #[arg(long)]
        wait: bool,
    },
    /// Save a machine's disk as the next version of an image name.
    Save {
        machine: String,
        name: String,
        #[arg(long)]
        wait: bool,
    },
    /// Jobs: the latest of every machine, or one machine's; `baas jobs show ID`, `cancel ID`.
    Jobs {
        #[arg(long)]
        machine: Option<String>,
        #[command(subcommand)]
        command: Option<JobCommand>,
    },
    /// Power a machine through its BMC, or read its state.
    ///
    /// Example: baas power node-07 cycle
    Power {
        machine: String,
        /// on, off, soft-off, cycle, reset or status.
        action: String,
    },
    /// Set a machine's next boot device (pxe, disk, cdrom, bios-setup).
    Bootdev {
        machine: String,
        device: String,
        /// Every boot from now on, not only the next.
        #[arg(long)]
        persistent: bool,
        #[arg(long)]
        uefi: bool,
    },
    /// Follow the lab's events (jobs of the machines you see) as they happen.
    Events {
        #[arg(long)]
        machine: Option<String>,
        /// Stop after this long (default: run until interrupted).
        #[arg(long = "for")]
        duration: Option<String>,
    },
    /// Your API tokens.
    Tokens,
}

#[derive(Debug, Subcommand)]
pub enum MachineCommand {
    /// Show one machine.
    Show { machine: String },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List the images you can see (the newest version of each).
    List,
    /// Upload a file as the next version of a name; an interrupted upload resumes when run again.
    ///
    /// Example: baas images upload debian-12.img.zst --name debian-12
    Upload {
        file: PathBuf,
        #[arg(long)]
        name: String,
        /// private, group or public.
        #[arg(long, default_value = "private")]
        visibility: String,
        /// Bytes per second at most (0: no limit).
        #[arg(long, default_value_t = 0)]
        max_rate: u64,
    },
    /// Delete an image version.
    Rm { image: String },
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// One job with its phases.
    Show { job: i64 },
    /// Cancel an active job.
    Cancel { job: i64 },
}

/// Runs `command` against the server `connection` names.
pub async fn run(connection: Connection, command: ClientCommand) -> Result<()> {
    let saved = Saved::load();
    let server = connection
        .server
        .clone()
        .or_else(|| saved.as_ref().map(|s| s.server.clone()))
        .ok_or_else(|| {
            ClientError::new(
                Failure::Usage,
                "no server: give --server URL or set BAAS_SERVER (or run `baas login --server URL`)",
            )
        })?;
    let token = connection.token.clone().or_else(|| {
        saved
            .as_ref()
            .filter(|s| s.server.trim_end_matches('/') == server.trim_end_matches('/'))
            .map(|s| s.token.clone())
    });
    let json = connection.json;
    if let ClientCommand::Login {
        username,
        password_stdin,
        valid_days,
    } = &command
    {
        return login(&server, username, *password_stdin, *valid_days, json).await;
    }
    let client = Client::new(&server, token)?;
    match command {
        ClientCommand::Login { .. } => unreachable!("handled above"),
        ClientCommand::Logout => {
            if let Some(id) = saved.and_then(|s| s.token_id) {
                client
                    .act::<()>(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
                    .await?;
            }
            Saved::forget();
            println!("logged out; the token is revoked");
        }
        ClientCommand::Whoami => {
            let me: Whoami = client.get("/api/v1/whoami").await?;
            let role = if me.is_admin { "admin" } else { "user" };
            show(
                json,
                &me,
                &["user", "role"],
                vec![vec![me.username.clone(), role.into()]],
            );
        }
        ClientCommand::Machines {
            tag,
            state,
            free_from,
            free_for,
        } => {
            let mut query = vec![("tag", tag), ("state", state), ("limit", "1000".into())];
            if let Some(from) = free_from {
                let from = parse_time(&from)?;
                let length = parse_duration(free_for.as_deref().unwrap_or("1h"))?;
                query.push(("free_from", from.to_string()));
                query.push(("free_until", (from + length).to_string()));
            }
            let page: Paged<Machine> = client.get(&with_query("/api/v1/machines", &query)).await?;
            let rows = page.items.iter().map(machine_row).collect();
            show(
                json,
                &page,
                &["id", "name", "state", "tags", "holder", "until"],
                rows,
            );
        }
        ClientCommand::Machine {
            command: MachineCommand::Show { machine },
        } => {
            let id = machine_id(&client, &machine).await?;
            let detail: MachineDetail = client.get(&format!("/api/v1/machines/{id}")).await?;
            let m = &detail.machine;
            let mut rows = vec![
                vec!["name".into(), m.name.clone()],
                vec!["state".into(), m.state.to_string()],
                vec!["macs".into(), m.macs.join(", ")],
                vec!["platform".into(), m.platform.to_string()],
                vec!["bmc".into(), format!("{} {}", m.bmc_kind, m.bmc_address)],
                vec!["tags".into(), m.tags.join(", ")],
                vec!["held by".into(), holder(m)],
                vec!["disk holds".into(), detail.disk.clone()],
            ];
            if let Some(hardware) = &detail.hardware {
                rows.push(vec!["hardware".into(), hardware.summary()]);
            }
            if let Some(job) = &detail.latest_job {
                rows.push(vec!["latest job".into(), job_line(job)]);
            }
            show(json, &detail, &["", ""], rows);
        }
        ClientCommand::Reserve {
            machine,
            tag,
            duration,
            from,
            until,
            note,
        } => {
            let start_at = parse_time(&from)?;
            let end_at = match (duration, until) {
                (Some(duration), _) => start_at + parse_duration(&duration)?,
                (None, Some(until)) => parse_time(&until)?,
                (None, None) => {
                    return Err(ClientError::new(
                        Failure::Usage,
                        "say how long: --for 2h or --until TIME",
                    ))
                }
            };
            let reservation: Reservation = match (machine, tag) {
                (Some(machine), _) => {
                    let machine_id = machine_id(&client, &machine).await?;
                    let new = NewReservation {
                        machine_id,
                        start_at,
                        end_at,
                        note,
                    };
                    client
                        .call(Method::POST, "/api/v1/reservations", &new)
                        .await?
                }
                (None, tag) => {
                    let new = AnyReservation {
                        tag: tag.unwrap_or_default(),
                        start_at,
                        end_at,
                        note,
                    };
                    client
                        .call(Method::POST, "/api/v1/reservations/any", &new)
                        .await?
                }
            };
            show_reservations(json, &reservation, std::slice::from_ref(&reservation));
        }
        ClientCommand::Extend {
            reservation,
            by,
            until,
        } => {
            let path = format!("/api/v1/reservations/{reservation}");
            let end_at = match (by, until) {
                (Some(by), _) => {
                    let current: Reservation = client.get(&path).await?;
                    current.end_at + parse_duration(&by)?
                }
                (None, Some(until)) => parse_time(&until)?,
                (None, None) => {
                    return Err(ClientError::new(
                        Failure::Usage,
                        "say how: --by 1h or --until TIME",
                    ))
                }
            };
            let change = ReservationChange {
                start_at: None,
                end_at: Some(end_at),
            };
            let changed: Reservation = client.call(Method::PATCH, &path, &change).await?;
            show_reservations(json, &changed, std::slice::from_ref(&changed));
        }
        ClientCommand::Release { reservation } => {
            client
                .act::<()>(
                    Method::DELETE,
                    &format!("/api/v1/reservations/{reservation}"),
                    None,
                )
                .await?;
            if !json {
                println!("reservation {reservation} released");
            }
        }
        ClientCommand::Reservations { machine } => {
            let path = match machine {
                Some(machine) => format!(
                    "/api/v1/reservations?machine={}",
                    machine_id(&client, &machine).await?
                ),
                None => "/api/v1/reservations".into(),
            };
            let page: Paged<Reservation> = client.get(&path).await?;
            show_reservations(json, &page, &page.items);
        }
        ClientCommand::Images { command } => match command.unwrap_or(ImageCommand::List) {
            ImageCommand::List => {
                let images: Paged<Image> = client.get("/api/v1/images?limit=1000").await?;
                let rows = images.items.iter().map(image_row).collect();
                show(
                    json,
                    &images,
                    &["id", "name", "version", "format", "size", "owner"],
                    rows,
                );
            }
            ImageCommand::Upload {
                file,
                name,
                visibility,
                max_rate,
            } => {
                let image =
                    super::upload::upload(&client, &file, &name, &visibility, max_rate, json)
                        .await?;
                show(
                    json,
                    &image,
                    &["id", "name", "version", "format", "size", "owner"],
                    vec![image_row(&image)],
                );
            }
            ImageCommand::Rm { image } => {
                let id = image_id(&client, &image).await?;
                client
                    .act::<()>(Method::DELETE, &format!("/api/v1/images/{id}"), None)
                    .await?;
                if !json {
                    println!("image {id} deleted");
                }
            }
        },
        ClientCommand::Deploy {
            image,
            machine,
            save_as,
            wait,
        } => {
            let new = NewJob {
                machine_id: machine_id(&client, &machine).await?,
                kind: "deploy".into(),
                image_id: Some(image_id(&client, &image).await?),
                save_as,
                at: None,
            };
            start_job(&client, &new, wait, json).await?;
        }
        ClientCommand::Save {
            machine,
            name,
            wait,
        } => {
            let new = NewJob {
                machine_id: machine_id(&client, &machine).await?,
                kind: "save".into(),
                image_id: None,
                save_as: name,
                at: None,
            };
            start_job(&client, &new, wait, json).await?;
        }
        ClientCommand::Jobs { machine, command } => match command {
            Some(JobCommand::Show { job }) => {
                let job: Job = client.get(&format!("/api/v1/jobs/{job}")).await?;
                let rows = job
                    .phases
                    .iter()
                    .map(|p| vec![p.state.to_string(), when(p.at), p.detail.clone()])
                    .collect();
                show(json, &job, &["phase", "at", "detail"], rows);
            }
            Some(JobCommand::Cancel { job }) => {
                let job: Job = client
                    .call(Method::DELETE, &format!("/api/v1/jobs/{job}"), &())
                    .await?;
                show(json, &job, &["job"], vec![vec![job_line(&job)]]);
            }
            None => {
                let path = match machine {
                    Some(machine) => format!(
                        "/api/v1/jobs?machine={}",
                        machine_id(&client, &machine).await?
                    ),
                    None => "/api/v1/jobs".into(),
                };
                let page: Paged<Job> = client.get(&path).await?;
                let rows = page
                    .items
                    .iter()
                    .map(|j| {
                        vec![
                            j.id.to_string(),
                            j.machine.clone(),
                            j.kind.to_string(),
                            j.state.to_string(),
                            j.image
                                .as_ref()
                                .map(|i| format!("{} v{}", i.name, i.version))
                                .unwrap_or_default(),
                            when(j.created_at),
                        ]
                    })
                    .collect();
                show(
                    json,
                    &page,
                    &["id", "machine", "kind", "state", "image", "created"],
                    rows,
                );
            }
        },
        ClientCommand::Power { machine, action } => {
            let id = machine_id(&client, &machine).await?;
            let path = format!("/api/v1/machines/{id}/power");
            if action != "status" {
                client
                    .act(
                        Method::POST,
                        &path,
                        Some(&PowerRequest {
                            action: action.clone(),
                        }),
                    )
                    .await?;
            }
            if action == "status" || json {
                let status: PowerStatus = client.get(&path).await?;
                show(
                    json,
                    &status,
                    &["power", "read at"],
                    vec![vec![status.state.clone(), when(status.checked_at)]],
                );
            } else {
                println!("{machine}: power {action} sent");
            }
        }
        ClientCommand::Bootdev {
            machine,
            device,
            persistent,
            uefi,
        } => {
            let id = machine_id(&client, &machine).await?;
            let request = BootDeviceRequest {
                device: device.clone(),
                persistent,
                uefi,
            };
            client
                .act(
                    Method::PUT,
                    &format!("/api/v1/machines/{id}/boot-device"),
                    Some(&request),
                )
                .await?;
            if !json {
                println!("{machine}: next boot from {device}");
            }
        }
        ClientCommand::Events { machine, duration } => {
            let mut query = Vec::new();
            if let Some(machine) = machine {
                query.push(("machine", machine_id(&client, &machine).await?.to_string()));
            }
            if let Some(duration) = duration {
                query.push(("max_seconds", parse_duration(&duration)?.to_string()));
            }
            events(&client, &with_query("/api/v1/events", &query), json).await?;
        }
        ClientCommand::Tokens => {
            let tokens: Paged<ApiToken> = client.get("/api/v1/tokens").await?;
            let rows = tokens
                .items
                .iter()
                .map(|t| {
                    vec![
                        t.id.to_string(),
                        t.name.clone(),
                        when(t.created_at),
                        t.expires_at.map(when).unwrap_or_else(|| "never".into()),
                        t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                    ]
                })
                .collect();
            show(
                json,
                &tokens,
                &["id", "name", "created", "expires", "last used"],
                rows,
            );
        }
    }
    Ok(())
}

async fn login(
    server: &str,
    username: &str,
    password_stdin: bool,
    valid_days: i64,
    json: bool,
) -> Result<()> {
    if !password_stdin {
        eprint!("password for {username}: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| ClientError::new(Failure::Other, format!("reading the password: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']);
    let mut client = Client::new(server, None)?;
    client.log_in(username, password).await?;
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "cli".into());
    let created: CreatedToken = client
        .call(
            Method::POST,
            "/api/v1/tokens",
            &NewToken {
                name: format!("baas login ({host})"),
                valid_days: Some(valid_days),
            },
        )
        .await?;
    let saved = Saved {
        server: client.server.clone(),
        token: created.token.clone(),
        token_id: Some(created.id),
    };
    let path = saved.store()?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "server": saved.server, "token_id": created.id, "expires_at": created.expires_at, "saved_to": path })
        );
    } else {
        println!(
            "logged in to {} as {username}; token kept in {}",
            saved.server,
            path.display()
        );
    }
    Ok(())
}

/// Creates the job and, with `wait`, follows it to its end, showing phases and a progress bar.
async fn start_job(client: &Client, new: &NewJob, wait: bool, json: bool) -> Result<()> {
    let job: Job = client.call(Method::POST, "/api/v1/jobs", new).await?;
    if !wait {
        show(json, &job, &["job"], vec![vec![job_line(&job)]]);
        return Ok(());
    }
    if !json {
        eprintln!("job {} created: {}", job.id, job_line(&job));
    }
    let path = format!("/api/v1/jobs/{}", job.id);
    let mut shown_phases = 0;
    let mut errors_in_a_row = 0;
    loop {
        let job: Job = match client.get(&path).await {
            Ok(job) => {
                errors_in_a_row = 0;
                job
            }
            // baas restarting: the job goes on; so does the waiting, for a while.
            Err(error) if error.failure == Failure::Server && errors_in_a_row < 60 => {
                errors_in_a_row += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(error) => return Err(error),
        };
        if !json {
            for phase in job.phases.iter().skip(shown_phases) {
                eprintln!(
                    "\r{:<11} {}  {}",
                    phase.state.to_string(),
                    when(phase.at),
                    phase.detail
                );
            }
            shown_phases = job.phases.len();
            if job.progress.total > 0 && !job.state.is_final() {
                super::output::progress(
                    &job.state.to_string(),
                    job.progress.done as u64,
                    job.progress.total as u64,
                    job.progress.bytes_per_second as u64,
                );
            }
        }
        if job.state.is_final() {
            if json {
                println!("{}", serde_json::to_string_pretty(&job).unwrap_or_default());
            }
            return match job.state {
                JobState::Booted => Ok(()),
                state => Err(ClientError::new(
                    Failure::Other,
                    format!(
                        "job {} ended {state}: {} {}",
                        job.id, job.failed_step, job.reason
                    ),
                )),
            };
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Prints the server-sent events of `path` as they come: one line (or JSON object) each.
async fn events(client: &Client, path: &str, json: bool) -> Result<()> {
    use futures_util::StreamExt;
    let response = client
        .send(
            client
                .request(Method::GET, path)
                .header("accept", "text/event-stream"),
        )
        .await?;
    let mut stream = response.bytes_stream();
    let mut pending = String::new();
    let (mut event, mut data, mut id) = (String::new(), String::new(), String::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ClientError::new(Failure::Server, format!("the event stream broke: {e}"))
        })?;
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line = pending[..end].trim_end_matches('\r').to_string();
            pending.drain(..=end);
            if let Some(value) = line.strip_prefix("event:") {
                event = value.trim().to_string();
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.trim());
            } else if let Some(value) = line.strip_prefix("id:") {
                id = value.trim().to_string();
            } else if line.is_empty() && !data.is_empty() {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "id": id, "event": event, "data": serde_json::from_str::<serde_json::Value>(&data).unwrap_or(serde_json::Value::String(data.clone())) })
                    );
                } else {
                    println!("{id:>6} {event:<8} {data}");
                }
                data.clear();
                event.clear();
            }
        }
    }
    Ok(())
}

/// A machine's id from its name or id.
async fn machine_id(client: &Client, machine: &str) -> Result<i64> {
    if let Ok(id) = machine.parse::<i64>() {
        return Ok(id);
    }
    let page: Paged<Machine> = client.get("/api/v1/machines?limit=1000").await?;
    page.items
        .iter()
        .find(|m| m.name == machine)
        .map(|m| m.id)
        .ok_or_else(|| {
            ClientError::new(
                Failure::NotFound,
                format!("no machine named '{machine}' that you can see"),
            )
        })
}

/// An image version's id from `name` (its newest version), `name:vN` or an id.
async fn image_id(client: &Client, image: &str) -> Result<i64> {
    if let Ok(id) = image.parse::<i64>() {
        return Ok(id);
    }
    let (name, version) = match image.rsplit_once(":v") {
        Some((name, version)) => match version.parse::<i64>() {
            Ok(version) => (name, Some(version)),
            Err(_) => (image, None),
        },
        None => (image, None),
    };
    let images: Paged<Image> = client
        .get(&with_query(
            "/api/v1/images",
            &[
                ("search", name.to_string()),
                ("all_versions", "true".into()),
                ("limit", "1000".into()),
            ],
        ))
        .await?;
    images
        .items
        .iter()
        .filter(|i| i.name == name && version.is_none_or(|v| i.version == v))
        .max_by_key(|i| i.version)
        .map(|i| i.id)
        .ok_or_else(|| {
            ClientError::new(
                Failure::NotFound,
                format!("no image '{image}' that you can see"),
            )
        })
}

fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| {
            format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect();
    match query.is_empty() {
        true => path.to_string(),
        false => format!("{path}?{}", query.join("&")),
    }
}

fn holder(m: &Machine) -> String {
    m.holder
        .as_ref()
        .map(|h| format!("{} until {}", h.username, when(h.end_at)))
        .unwrap_or_else(|| "nobody".into())
}

fn machine_row(m: &Machine) -> Vec<String> {
    vec![
        m.id.to_string(),
        m.name.clone(),
        m.state.to_string(),
        m.tags.join(","),
        m.holder
            .as_ref()
            .map(|h| h.username.clone())
            .unwrap_or_default(),
        m.holder
            .as_ref()
            .map(|h| when(h.end_at))
            .unwrap_or_default(),
    ]
}

fn image_row(i: &Image) -> Vec<String> {
    vec![
        i.id.to_string(),
        i.name.clone(),
        format!("v{}", i.version),
        format!("{} · {}", i.format, i.compression),
        super::output::bytes(i.stored_size as u64),
        i.owner.username.clone(),
    ]
}

fn job_line(job: &Job) -> String {
    let image = job
        .image
        .as_ref()
        .map(|i| format!(" of {} v{}", i.name, i.version))
        .unwrap_or_default();
    format!(
        "job {}: {}{image} on {}: {}",
        job.id, job.kind, job.machine, job.state
    )
}

fn show_reservations<T: serde::Serialize>(json: bool, value: &T, reservations: &[Reservation]) {
    let rows = reservations
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.machine_name.clone(),
                r.username.clone(),
                when(r.start_at),
                when(r.end_at),
                r.state.to_string(),
                r.note.clone(),
            ]
        })
        .collect();
    show(
        json,
        value,
        &["id", "machine", "user", "from", "until", "state", "note"],
        rows,
    );
}
