//! The conductor: everything baas does beyond its database. The lab decides (who may, what
//! state follows); the conductor acts — it drives a machine's BMC, keeps the power readings,
//! runs the background duties on the leading instance, and makes outbound requests under the
//! egress policy. Server functions and the REST API reach it through one [`Conductor`] (the
//! pages through Leptos context); neither drives a BMC itself.
//!
//! - [`bmc_control`]: authorize → drive the BMC → audit → update the power cache.
//! - [`virtual_media`]: attach and detach ISOs through the BMC.
//! - [`power_cache`]: the last power state read from each BMC.
//! - [`consoles`]: machines' serial consoles, shared by their viewers and recorded.
//! - [`duties`]: the background duties and the loops that run them while this instance leads.
//! - [`job_runner`], [`notifier`]: the two duties with logic of their own.
//! - [`leadership`]: which instance runs the duties.
//! - [`session`]: whose browser session a request carries (read alike by pages and the API).
//! - [`egress_client`]: HTTP to places users name (imports, webhooks).

pub mod bmc_control;
pub mod consoles;
pub mod duties;
pub mod egress_client;
pub mod job_runner;
pub mod leadership;
pub mod notifier;
pub mod power_cache;
pub mod session;
pub mod virtual_media;

pub use bmc_control::BmcSettings;
pub use leadership::Leadership;
pub use power_cache::PowerCache;

use lab::{ErrorKind, Lab};

/// The lab with the means to act on it: cheap to clone, one per server.
#[derive(Clone)]
pub struct Conductor {
    lab: Lab,
    power: PowerCache,
    settings: BmcSettings,
    consoles: consoles::Consoles,
}

impl Conductor {
    pub fn new(lab: Lab, settings: BmcSettings) -> Conductor {
        let consoles = consoles::Consoles::new(
            lab.clone(),
            consoles::ConsoleSettings {
                dir: settings.console_dir.clone(),
                log_bytes: settings.console_log_bytes,
                timeout: settings.timeout,
            },
        );
        Conductor {
            lab,
            power: PowerCache::default(),
            settings,
            consoles,
        }
    }

    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The power readings shared by the pages, the API and the refresher.
    pub fn power_cache(&self) -> &PowerCache {
        &self.power
    }

    /// Deletes a machine with its history (admins), and its console recordings.
    pub async fn delete_machine(&self, actor: &lab::Actor, machine_id: i64) -> Result<()> {
        let jobs = self.lab.machine_job_ids(machine_id).await?;
        self.lab.delete_machine(actor, machine_id).await?;
        self.consoles.forget(machine_id, &jobs);
        Ok(())
    }

    /// The machines' serial consoles open on this instance.
    pub fn consoles(&self) -> &consoles::Consoles {
        &self.consoles
    }

    pub fn settings(&self) -> &BmcSettings {
        &self.settings
    }
}

/// Why an action on a machine did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lab refused or failed (not allowed, no such machine, database).
    #[error(transparent)]
    Lab(#[from] lab::Error),
    /// The machine has no BMC to act through.
    #[error("{0} has no BMC configured")]
    NoBmc(String),
    /// The BMC failed, refused or did not answer.
    #[error("{0}")]
    Upstream(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Lab(error) => error.kind(),
            Error::NoBmc(_) => ErrorKind::Conflict,
            Error::Upstream(_) => ErrorKind::Upstream,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
