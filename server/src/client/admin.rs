//! `baas users`, `groups`, `grants`, `machine add|rm`: the admin pages' work from a script, as
//! `rest/admin.rs` serves it. (`baas user …` on the server's own shell is `local_admin.rs`.)

use std::io::BufRead;

use clap::Subcommand;
use lab::model::{Grant, Group, MachineInput, NewUser, User};
use lab::rest_api::{NewGrant, NewGroup, Paged, UserChange};
use reqwest::Method;

use super::commands::machine_id;
use super::output::{show, when};
use super::{Client, ClientError, Failure, Result};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Every account (the default).
    List,
    /// Create an account. The password is read from stdin with --password-stdin, else
    /// generated and printed once.
    Add {
        username: String,
        #[arg(long, default_value = "")]
        display_name: String,
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        password_stdin: bool,
    },
    /// The account cannot log in; its sessions and tokens stop working at once.
    Disable { username: String },
    /// The account can log in again.
    Enable { username: String },
}

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Every group with its members (the default).
    List,
    /// Create a group.
    Add {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a group (its grants go with it).
    Rm { name: String },
    /// Put a user into a group.
    Join { group: String, username: String },
    /// Take a user out of a group.
    Leave { group: String, username: String },
}

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// The machine's grants (the default).
    List,
    /// Give a user or group a level on the machine: `user alice use`, `group gpu-team manage`.
    Add {
        /// `user` or `group`.
        kind: String,
        name: String,
        /// `view`, `use` or `manage`.
        level: String,
    },
    /// Take a grant back, by its id.
    Rm { grant: i64 },
}

/// `baas machine add`: the flags of the admin's machine form.
#[derive(Debug, clap::Args)]
pub struct NewMachine {
    name: String,
    /// One or more MAC addresses, comma separated.
    #[arg(long)]
    mac: String,
    /// `x86_64-bios`, `x86_64-uefi` or `arm64-uefi`.
    #[arg(long, default_value = "x86_64-uefi")]
    platform: String,
    /// `none`, `ipmi` or `redfish`.
    #[arg(long, default_value = "none")]
    bmc_kind: String,
    #[arg(long, default_value = "")]
    bmc_address: String,
    #[arg(long, default_value = "")]
    bmc_username: String,
    /// Read the BMC password from the first line of stdin.
    #[arg(long)]
    bmc_password_stdin: bool,
    #[arg(long, default_value = "")]
    location: String,
    /// Comma separated.
    #[arg(long, default_value = "")]
    tags: String,
    #[arg(long, default_value = "")]
    description: String,
}

pub(super) async fn users(
    client: &Client,
    json: bool,
    command: Option<UsersCommand>,
) -> Result<()> {
    match command.unwrap_or(UsersCommand::List) {
        UsersCommand::List => {
            let users: Paged<User> = client.get("/api/v1/users?limit=1000").await?;
            let rows = users
                .items
                .iter()
                .map(|u| {
                    vec![
                        u.id.to_string(),
                        u.username.clone(),
                        if u.is_admin { "admin" } else { "user" }.into(),
                        if u.disabled { "disabled" } else { "active" }.into(),
                        u.groups.join(", "),
                        when(u.created_at),
                    ]
                })
                .collect();
            show(
                json,
                &users,
                &["id", "user", "role", "status", "groups", "created"],
                rows,
            );
        }
        UsersCommand::Add {
            username,
            display_name,
            admin,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                (first_stdin_line()?, false)
            } else {
                (lab::secrets::random_token(15), true)
            };
            let new = NewUser {
                display_name: if display_name.is_empty() {
                    username.clone()
                } else {
                    display_name
                },
                username,
                password: password.clone(),
                is_admin: admin,
            };
            let user: User = client.call(Method::POST, "/api/v1/users", &new).await?;
            if json {
                let mut value = serde_json::to_value(&user).unwrap_or_default();
                if generated {
                    value["password"] = password.into();
                }
                println!("{value}");
            } else if generated {
                println!(
                    "created {} (id {}) with password: {password}",
                    user.username, user.id
                );
            } else {
                println!("created {} (id {})", user.username, user.id);
            }
        }
        UsersCommand::Disable { username } => set_disabled(client, json, &username, true).await?,
        UsersCommand::Enable { username } => set_disabled(client, json, &username, false).await?,
    }
    Ok(())
}

async fn set_disabled(client: &Client, json: bool, username: &str, disabled: bool) -> Result<()> {
    let id = user_id(client, username).await?;
    let change = UserChange {
        disabled: Some(disabled),
        password: None,
        image_quota_bytes: None,
    };
    client
        .act(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&change))
        .await?;
    let users: Paged<User> = client.get("/api/v1/users?limit=1000").await?;
    let user = users
        .items
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| ClientError::new(Failure::NotFound, format!("no user {username}")))?;
    let status = if user.disabled { "disabled" } else { "enabled" };
    show(
        json,
        &user,
        &["user", "status"],
        vec![vec![user.username.clone(), status.into()]],
    );
    Ok(())
}

pub(super) async fn groups(
    client: &Client,
    json: bool,
    command: Option<GroupsCommand>,
) -> Result<()> {
    match command.unwrap_or(GroupsCommand::List) {
        GroupsCommand::List => {
            let groups: Paged<Group> = client.get("/api/v1/groups?limit=1000").await?;
            let rows = groups
                .items
                .iter()
                .map(|g| {
                    let members: Vec<&str> =
                        g.members.iter().map(|m| m.username.as_str()).collect();
                    vec![
                        g.id.to_string(),
                        g.name.clone(),
                        members.join(", "),
                        g.description.clone(),
                    ]
                })
                .collect();
            show(
                json,
                &groups,
                &["id", "group", "members", "description"],
                rows,
            );
        }
        GroupsCommand::Add { name, description } => {
            let group: Group = client
                .call(
                    Method::POST,
                    "/api/v1/groups",
                    &NewGroup { name, description },
                )
                .await?;
            show(
                json,
                &group,
                &["id", "group"],
                vec![vec![group.id.to_string(), group.name.clone()]],
            );
        }
        GroupsCommand::Rm { name } => {
            let id = group_id(client, &name).await?;
            client
                .act::<()>(Method::DELETE, &format!("/api/v1/groups/{id}"), None)
                .await?;
            if !json {
                println!("deleted group {name}");
            }
        }
        GroupsCommand::Join { group, username } => {
            membership(client, json, &group, &username, Method::PUT).await?
        }
        GroupsCommand::Leave { group, username } => {
            membership(client, json, &group, &username, Method::DELETE).await?
        }
    }
    Ok(())
}

async fn membership(
    client: &Client,
    json: bool,
    group: &str,
    username: &str,
    method: Method,
) -> Result<()> {
    let id = group_id(client, group).await?;
    let joining = method == Method::PUT;
    client
        .act::<()>(
            method,
            &format!("/api/v1/groups/{id}/members/{username}"),
            None,
        )
        .await?;
    if !json {
        let how = if joining { "is in" } else { "has left" };
        println!("{username} {how} {group}");
    }
    Ok(())
}

pub(super) async fn grants(
    client: &Client,
    json: bool,
    machine: String,
    command: Option<GrantsCommand>,
) -> Result<()> {
    let id = machine_id(client, &machine).await?;
    let path = format!("/api/v1/machines/{id}/grants");
    let grants: Vec<Grant> = match command.unwrap_or(GrantsCommand::List) {
        GrantsCommand::List => client.get::<Paged<Grant>>(&path).await?.items,
        GrantsCommand::Add { kind, name, level } => {
            let new = NewGrant {
                subject_kind: kind,
                subject_name: name,
                level,
            };
            client.call(Method::POST, &path, &new).await?
        }
        GrantsCommand::Rm { grant } => {
            client
                .act::<()>(Method::DELETE, &format!("/api/v1/grants/{grant}"), None)
                .await?;
            client.get::<Paged<Grant>>(&path).await?.items
        }
    };
    let rows = grants
        .iter()
        .map(|g| {
            vec![
                g.id.to_string(),
                g.subject_name.clone(),
                g.level.as_str().into(),
            ]
        })
        .collect();
    show(json, &grants, &["id", "who", "level"], rows);
    Ok(())
}

pub(super) async fn add_machine(client: &Client, json: bool, new: NewMachine) -> Result<()> {
    let bmc_password = if new.bmc_password_stdin {
        first_stdin_line()?
    } else {
        String::new()
    };
    let input = MachineInput {
        name: new.name,
        macs: new.mac,
        platform: new.platform,
        bmc_kind: new.bmc_kind,
        bmc_address: new.bmc_address,
        bmc_username: new.bmc_username,
        bmc_password,
        location: new.location,
        tags: new.tags,
        description: new.description,
        state: "available".into(),
        ..Default::default()
    };
    let machine: lab::model::Machine = client
        .call(Method::POST, "/api/v1/machines", &input)
        .await?;
    show(
        json,
        &machine,
        &["id", "name"],
        vec![vec![machine.id.to_string(), machine.name.clone()]],
    );
    Ok(())
}

pub(super) async fn remove_machine(client: &Client, json: bool, machine: String) -> Result<()> {
    let id = machine_id(client, &machine).await?;
    client
        .act::<()>(Method::DELETE, &format!("/api/v1/machines/{id}"), None)
        .await?;
    if !json {
        println!("deleted machine {machine}");
    }
    Ok(())
}

/// A user's id from their name.
async fn user_id(client: &Client, username: &str) -> Result<i64> {
    let users: Paged<User> = client.get("/api/v1/users?limit=1000").await?;
    users
        .items
        .iter()
        .find(|u| u.username == username)
        .map(|u| u.id)
        .ok_or_else(|| ClientError::new(Failure::NotFound, format!("no user {username}")))
}

/// A group's id from its name.
async fn group_id(client: &Client, name: &str) -> Result<i64> {
    let groups: Paged<Group> = client.get("/api/v1/groups?limit=1000").await?;
    groups
        .items
        .iter()
        .find(|g| g.name == name)
        .map(|g| g.id)
        .ok_or_else(|| ClientError::new(Failure::NotFound, format!("no group {name}")))
}

fn first_stdin_line() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| ClientError::new(Failure::Other, format!("reading stdin: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
