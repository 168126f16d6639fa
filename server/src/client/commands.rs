//! The client's commands: what `baas machines`, `baas reserve`, `baas deploy --wait` and the
//! others do, each a few calls to the REST API. Machines and images are named by name or id;
//! every command prints a table, or JSON with `--json`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use lab::model::{Image, Machine};
use lab::rest_api::Paged;

use super::{admin, batches, console, events, images, jobs, machines, reservations, session};
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
    /// Example: baas reserve --tag gpu --count 8 --for 4h
    Reserve {
        #[arg(required_unless_present = "tag", conflicts_with = "tag")]
        machine: Option<String>,
        /// Any free machine with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// With --tag: this many machines, all or none.
        #[arg(long)]
        count: Option<u32>,
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
    /// Write an image to a machine's disk (within your reservation), or to many at once.
    ///
    /// Example: baas deploy debian-12 node-07 --wait
    /// Example: baas deploy debian-12 node-01 node-02 node-03 --wait
    /// Example: baas deploy debian-12 --reservation 42 --wait
    Deploy {
        /// An image name (its newest version), name:vN, or an id.
        image: String,
        /// One machine, or several (a batch: one job each, all or none).
        #[arg(required_unless_present = "reservation")]
        machines: Vec<String>,
        /// Every machine of this reservation of yours, or of the set it was booked with.
        #[arg(long, conflicts_with = "machines")]
        reservation: Option<i64>,
        /// For several machines: auto (the machines relay the image to each other from three
        /// on), relay or direct.
        #[arg(long)]
        transfer: Option<String>,
        /// Save the current disk first as the next version of this image name (one machine).
        #[arg(long, default_value = "")]
        save_as: String,
        /// Follow the job (or batch) until it ends; exit 0 only when every machine booted the
        /// image.
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
    /// Batches: your recent ones; `baas batches show ID [--wait]`, `cancel ID`, `retry ID`.
    Batches {
        #[command(subcommand)]
        command: Option<BatchCommand>,
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
    /// A machine's serial console: attach the terminal (~. quits, ~B sends BREAK, ~? lists the
    /// escapes), or print its recording.
    ///
    /// Example: baas console node-07; baas console node-07 --log --job 42
    Console {
        machine: String,
        /// Watch without typing.
        #[arg(long)]
        read_only: bool,
        /// Print the recording instead of attaching.
        #[arg(long)]
        log: bool,
        /// With --log: go on printing what comes live.
        #[arg(long, requires = "log")]
        follow: bool,
        /// With --log: the part recorded while this job ran.
        #[arg(long, requires = "log")]
        job: Option<i64>,
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
    /// Accounts (admins): list, add, disable, enable.
    Users {
        #[command(subcommand)]
        command: Option<admin::UsersCommand>,
    },
    /// Groups (admins): list, add, rm, join, leave.
    Groups {
        #[command(subcommand)]
        command: Option<admin::GroupsCommand>,
    },
    /// Who may do what with a machine (admins and its managers): list, add, rm.
    Grants {
        machine: String,
        #[command(subcommand)]
        command: Option<admin::GrantsCommand>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MachineCommand {
    /// Show one machine.
    Show { machine: String },
    /// Add a machine to the inventory (admins).
    Add(admin::NewMachine),
    /// Delete a machine (admins).
    Rm { machine: String },
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
pub enum BatchCommand {
    /// One batch, each machine's job; with --wait, followed to its end.
    Show {
        batch: i64,
        #[arg(long)]
        wait: bool,
    },
    /// Cancel every active job of a batch.
    Cancel { batch: i64 },
    /// Deploy again to the machines of a batch that failed or were cancelled.
    Retry {
        batch: i64,
        #[arg(long)]
        wait: bool,
    },
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
        return session::login(&server, username, *password_stdin, *valid_days, json).await;
    }
    let client = Client::new(&server, token)?;
    match command {
        ClientCommand::Login { .. } => unreachable!("handled above"),
        ClientCommand::Logout => session::logout(&client, saved).await,
        ClientCommand::Whoami => session::whoami(&client, json).await,
        ClientCommand::Tokens => session::tokens(&client, json).await,
        ClientCommand::Machines {
            tag,
            state,
            free_from,
            free_for,
        } => machines::list(&client, json, tag, state, free_from, free_for).await,
        ClientCommand::Machine {
            command: MachineCommand::Add(new),
        } => admin::add_machine(&client, json, new).await,
        ClientCommand::Machine {
            command: MachineCommand::Rm { machine },
        } => admin::remove_machine(&client, json, machine).await,
        ClientCommand::Machine {
            command: MachineCommand::Show { machine },
        } => machines::show_one(&client, json, machine).await,
        ClientCommand::Users { command } => admin::users(&client, json, command).await,
        ClientCommand::Groups { command } => admin::groups(&client, json, command).await,
        ClientCommand::Grants { machine, command } => {
            admin::grants(&client, json, machine, command).await
        }
        ClientCommand::Power { machine, action } => {
            machines::power(&client, json, machine, action).await
        }
        ClientCommand::Console {
            machine,
            read_only,
            log,
            follow,
            job,
        } => {
            if log {
                console::log(&client, machine, job, follow).await
            } else {
                console::attach(&client, machine, read_only).await
            }
        }
        ClientCommand::Bootdev {
            machine,
            device,
            persistent,
            uefi,
        } => machines::boot_device(&client, json, machine, device, persistent, uefi).await,
        ClientCommand::Reserve {
            machine,
            tag,
            count,
            duration,
            from,
            until,
            note,
        } => {
            let what = match machine {
                Some(_) if count.is_some() => {
                    return Err(ClientError::new(
                        Failure::Usage,
                        "--count books machines by --tag, not a named one",
                    ))
                }
                Some(machine) => reservations::Booking::Machine(machine),
                None => reservations::Booking::Tagged {
                    tag: tag.unwrap_or_default(),
                    count: count.unwrap_or(1),
                },
            };
            reservations::reserve(&client, json, what, duration, from, until, note).await
        }
        ClientCommand::Extend {
            reservation,
            by,
            until,
        } => reservations::extend(&client, json, reservation, by, until).await,
        ClientCommand::Release { reservation } => {
            reservations::release(&client, json, reservation).await
        }
        ClientCommand::Reservations { machine } => reservations::list(&client, json, machine).await,
        ClientCommand::Images { command } => images::run(&client, json, command).await,
        ClientCommand::Deploy {
            image,
            mut machines,
            reservation,
            transfer,
            save_as,
            wait,
        } => {
            if machines.len() == 1 && reservation.is_none() && transfer.is_none() {
                let machine = machines.remove(0);
                jobs::deploy(&client, json, image, machine, save_as, wait).await
            } else if !save_as.is_empty() {
                Err(ClientError::new(
                    Failure::Usage,
                    "--save-as saves one machine's disk: deploy to one machine to use it",
                ))
            } else {
                batches::deploy(&client, json, image, machines, reservation, transfer, wait).await
            }
        }
        ClientCommand::Save {
            machine,
            name,
            wait,
        } => jobs::save(&client, json, machine, name, wait).await,
        ClientCommand::Batches { command } => batches::run(&client, json, command).await,
        ClientCommand::Jobs { machine, command } => {
            jobs::run(&client, json, machine, command).await
        }
        ClientCommand::Events { machine, duration } => {
            events::follow(&client, json, machine, duration).await
        }
    }
}

/// A machine's id from its name or id.
pub(super) async fn machine_id(client: &Client, machine: &str) -> Result<i64> {
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
pub(super) async fn image_id(client: &Client, image: &str) -> Result<i64> {
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

pub(super) fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
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
