//! `baas machines`, `machine show`, `power`, `bootdev`: the machines and their BMCs.

use lab::model::Machine;
use lab::rest_api::{BootDeviceRequest, MachineDetail, Paged, PowerRequest, PowerStatus};
use reqwest::Method;

use super::commands::{machine_id, with_query};
use super::jobs::job_line;
use super::output::{parse_duration, parse_time, show, when};
use super::{Client, Result};

pub(super) async fn list(
    client: &Client,
    json: bool,
    tag: String,
    state: String,
    free_from: Option<String>,
    free_for: Option<String>,
) -> Result<()> {
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
    Ok(())
}

pub(super) async fn show_one(client: &Client, json: bool, machine: String) -> Result<()> {
    let id = machine_id(client, &machine).await?;
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
    Ok(())
}

pub(super) async fn power(
    client: &Client,
    json: bool,
    machine: String,
    action: String,
) -> Result<()> {
    let id = machine_id(client, &machine).await?;
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
    Ok(())
}

pub(super) async fn boot_device(
    client: &Client,
    json: bool,
    machine: String,
    device: String,
    persistent: bool,
    uefi: bool,
) -> Result<()> {
    let id = machine_id(client, &machine).await?;
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
    Ok(())
}

pub(super) fn holder(m: &Machine) -> String {
    m.holder
        .as_ref()
        .map(|h| format!("{} until {}", h.username, when(h.end_at)))
        .unwrap_or_else(|| "nobody".into())
}

pub(super) fn machine_row(m: &Machine) -> Vec<String> {
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
