//! Redfish over HTTPS with reqwest: finds the computer system behind the service root, powers it
//! with the reset types the BMC advertises, sets the boot override, and inserts and ejects
//! virtual media wherever the BMC keeps it (under the system, or under its managers).
//!
//! BMC certificates are usually self-signed, so besides ordinary verification a machine can pin
//! its BMC's certificate by SHA-256 fingerprint.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{
    Bmc, BootDevice, BootOverride, DeviceInfo, Error, PowerAction, PowerState, Result, Target,
};

/// How the BMC's TLS certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// Against the public web PKI roots.
    Verify,
    /// Exactly this certificate (SHA-256 of its DER encoding), whoever signed it.
    Pinned([u8; 32]),
}

/// A BMC spoken to over Redfish, with HTTP Basic authentication.
#[derive(Clone)]
pub struct Redfish {
    target: Target,
    base: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for Redfish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redfish")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Redfish {
    /// `target.address` is `host[:port]` (HTTPS) or a full `https://` / `http://` URL.
    pub fn new(target: Target, tls: Tls) -> Result<Redfish> {
        let address = target.address.trim_end_matches('/');
        let base = if address.starts_with("https://") || address.starts_with("http://") {
            address.to_string()
        } else {
            format!("https://{address}")
        };
        let builder = reqwest::Client::builder()
            .timeout(target.timeout)
            .redirect(reqwest::redirect::Policy::limited(3));
        let builder = match tls {
            Tls::Verify => builder,
            Tls::Pinned(fingerprint) => builder.use_preconfigured_tls(pinned_config(fingerprint)),
        };
        let client = builder.build().map_err(|e| Error::Protocol {
            address: base.clone(),
            message: format!("HTTP client: {e}"),
        })?;
        Ok(Redfish {
            target,
            base,
            client,
        })
    }

    async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        self.request_within(method, path, body, self.target.timeout)
            .await
    }

    async fn request_within(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        timeout: std::time::Duration,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .client
            .request(method.clone(), &url)
            .timeout(timeout)
            .basic_auth(&self.target.username, Some(&self.target.password))
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Authentication {
                address: self.base.clone(),
                username: self.target.username.clone(),
            });
        }
        let text = response.text().await.map_err(|e| self.transport_error(e))?;
        if !status.is_success() {
            let excerpt: String = text.chars().take(200).collect();
            return Err(self.protocol(format!("{method} {path} answered {status}: {excerpt}")));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| self.protocol(format!("{method} {path}: not JSON ({e})")))
    }

    /// The path of the (first) computer system, from the service root's links.
    async fn system_path(&self) -> Result<String> {
        let root = self.request(Method::GET, "/redfish/v1/", None).await?;
        let systems = link(&root, "Systems")
            .ok_or_else(|| self.protocol("service root lists no Systems".into()))?;
        let collection = self.request(Method::GET, &systems, None).await?;
        links(&collection["Members"])
            .into_iter()
            .next()
            .ok_or_else(|| self.protocol("the Systems collection is empty".into()))
    }

    /// The BMC's virtual media devices: the system's own collection (newer BMCs, sushy) and those
    /// of the managers that manage it (older BMCs), whichever exist.
    pub async fn virtual_media(&self) -> Result<Vec<MediaSlot>> {
        let system_path = self.system_path().await?;
        let system = self.request(Method::GET, &system_path, None).await?;
        let mut collections: Vec<String> = link(&system, "VirtualMedia").into_iter().collect();
        for manager in links(&system["Links"]["ManagedBy"]) {
            if let Ok(body) = self.request(Method::GET, &manager, None).await {
                collections.extend(link(&body, "VirtualMedia"));
            }
        }
        let mut slots = Vec::new();
        for collection in collections {
            let body = self.request(Method::GET, &collection, None).await?;
            for member in links(&body["Members"]) {
                let body = self.request(Method::GET, &member, None).await?;
                slots.push(MediaSlot::from_json(&member, &body));
            }
        }
        Ok(slots)
    }

    /// Inserts the image at `url` into the first CD/DVD slot, write-protected. The BMC usually
    /// fetches (part of) the image before answering, hence the longer `timeout`.
    pub async fn insert_media(&self, url: &str, timeout: std::time::Duration) -> Result<MediaSlot> {
        let slots = self.virtual_media().await?;
        let slot = slots
            .iter()
            .find(|s| s.takes_cd())
            .or_else(|| slots.first())
            .cloned()
            .ok_or_else(|| self.protocol("the BMC offers no virtual media device".into()))?;
        let body = json!({ "Image": url, "Inserted": true, "WriteProtected": true });
        self.request_within(Method::POST, &slot.insert_target, Some(body), timeout)
            .await?;
        Ok(slot)
    }

    /// Ejects whatever is inserted in any slot; returns the slots it ejected.
    pub async fn eject_media(&self) -> Result<Vec<MediaSlot>> {
        let mut ejected = Vec::new();
        for slot in self.virtual_media().await? {
            if slot.inserted || slot.image.is_some() {
                self.request(Method::POST, &slot.eject_target, Some(json!({})))
                    .await?;
                ejected.push(slot);
            }
        }
        Ok(ejected)
    }

    fn transport_error(&self, error: reqwest::Error) -> Error {
        if error.is_timeout() {
            Error::Timeout {
                address: self.base.clone(),
                seconds: self.target.timeout.as_secs().max(1),
            }
        } else if error.is_connect() {
            Error::Unreachable {
                address: self.base.clone(),
                reason: error_chain(&error),
            }
        } else {
            self.protocol(error_chain(&error))
        }
    }

    fn protocol(&self, message: String) -> Error {
        Error::Protocol {
            address: self.base.clone(),
            message,
        }
    }
}

impl Bmc for Redfish {
    async fn power_state(&self) -> Result<PowerState> {
        let system = self.system_path().await?;
        let body = self.request(Method::GET, &system, None).await?;
        match body["PowerState"].as_str() {
            Some("On" | "PoweringOff") => Ok(PowerState::On),
            Some("Off" | "PoweringOn") => Ok(PowerState::Off),
            other => Err(self.protocol(format!("unknown PowerState {other:?}"))),
        }
    }

    async fn power(&self, action: PowerAction) -> Result<()> {
        let system = self.system_path().await?;
        let body = self.request(Method::GET, &system, None).await?;
        let reset = &body["Actions"]["#ComputerSystem.Reset"];
        let target = reset["target"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{system}/Actions/ComputerSystem.Reset"));
        let allowed: Vec<&str> = reset["ResetType@Redfish.AllowableValues"]
            .as_array()
            .map(|values| values.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let reset_type = choose_reset_type(action, &allowed).ok_or_else(|| {
            self.protocol(format!(
                "the BMC allows none of the reset types for {} ({allowed:?})",
                action.as_str()
            ))
        })?;
        self.request(
            Method::POST,
            &target,
            Some(json!({ "ResetType": reset_type })),
        )
        .await
        .map(|_| ())
    }

    async fn set_boot(&self, boot: BootOverride) -> Result<()> {
        let system = self.system_path().await?;
        let target = match boot.device {
            BootDevice::Pxe => "Pxe",
            BootDevice::Disk => "Hdd",
            BootDevice::Cdrom => "Cd",
            BootDevice::BiosSetup => "BiosSetup",
        };
        let body = json!({ "Boot": {
            "BootSourceOverrideTarget": target,
            "BootSourceOverrideEnabled": if boot.persistent { "Continuous" } else { "Once" },
            "BootSourceOverrideMode": if boot.uefi { "UEFI" } else { "Legacy" },
        }});
        self.request(Method::PATCH, &system, Some(body))
            .await
            .map(|_| ())
    }

    async fn device_info(&self) -> Result<DeviceInfo> {
        let root = self.request(Method::GET, "/redfish/v1/", None).await?;
        let system = self.system_path().await?;
        let body = self.request(Method::GET, &system, None).await?;
        let text = |value: &Value| value.as_str().unwrap_or("unknown").to_string();
        Ok(DeviceInfo {
            protocol: format!("Redfish {}", text(&root["RedfishVersion"])),
            vendor: text(&body["Manufacturer"]),
            model: text(&body["Model"]),
            firmware: text(&body["BiosVersion"]),
        })
    }
}

/// One virtual media device (a virtual CD drive, say) as the BMC describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSlot {
    pub path: String,
    pub id: String,
    pub media_types: Vec<String>,
    pub inserted: bool,
    pub image: Option<String>,
    insert_target: String,
    eject_target: String,
}

impl MediaSlot {
    fn from_json(path: &str, body: &Value) -> MediaSlot {
        let action = |name: &str| {
            body["Actions"][format!("#VirtualMedia.{name}")]["target"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{path}/Actions/VirtualMedia.{name}"))
        };
        MediaSlot {
            path: path.to_string(),
            id: body["Id"].as_str().unwrap_or_default().to_string(),
            media_types: body["MediaTypes"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            inserted: body["Inserted"].as_bool().unwrap_or(false),
            image: body["Image"]
                .as_str()
                .filter(|image| !image.is_empty())
                .map(str::to_string),
            insert_target: action("InsertMedia"),
            eject_target: action("EjectMedia"),
        }
    }

    fn takes_cd(&self) -> bool {
        self.media_types.iter().any(|t| t == "CD" || t == "DVD")
    }
}

/// The first reset type the BMC allows for `action`, in order of preference. A BMC that lists
/// no allowed values gets the first preference.
fn choose_reset_type(action: PowerAction, allowed: &[&str]) -> Option<&'static str> {
    let preferences: &[&'static str] = match action {
        PowerAction::On => &["On", "ForceOn"],
        PowerAction::Off => &["ForceOff"],
        PowerAction::SoftOff => &["GracefulShutdown"],
        PowerAction::Cycle => &["PowerCycle", "ForceRestart"],
        PowerAction::Reset => &["ForceRestart", "GracefulRestart"],
    };
    if allowed.is_empty() {
        return preferences.first().copied();
    }
    preferences.iter().copied().find(|p| allowed.contains(p))
}

/// The `@odata.id`s of a list of links (`Members`, `Links.ManagedBy`).
fn links(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|list| {
            list.iter()
                .filter_map(|m| m["@odata.id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn link(body: &Value, name: &str) -> Option<String> {
    body[name]["@odata.id"].as_str().map(str::to_string)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn pinned_config(fingerprint: [u8; 32]) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCertificate {
        fingerprint,
        provider: provider.clone(),
    });
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder_with_protocol_versions(rustls::DEFAULT_VERSIONS)
        })
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// Accepts exactly one certificate, by fingerprint; signatures are still checked, so only the
/// holder of that certificate's key can complete the handshake.
#[derive(Debug)]
struct PinnedCertificate {
    fingerprint: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity.as_ref()).as_slice() == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the BMC's certificate does not match the pinned fingerprint".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_types_follow_what_the_bmc_allows() {
        let sushy = [
            "On",
            "ForceOn",
            "ForceOff",
            "GracefulShutdown",
            "GracefulRestart",
            "ForceRestart",
            "Nmi",
        ];
        assert_eq!(choose_reset_type(PowerAction::On, &sushy), Some("On"));
        assert_eq!(
            choose_reset_type(PowerAction::Cycle, &sushy),
            Some("ForceRestart")
        );
        assert_eq!(
            choose_reset_type(PowerAction::SoftOff, &sushy),
            Some("GracefulShutdown")
        );
        assert_eq!(
            choose_reset_type(PowerAction::Cycle, &[]),
            Some("PowerCycle")
        );
        assert_eq!(choose_reset_type(PowerAction::Off, &["On"]), None);
    }
}
