//! The lab's state and the rules over it: users and groups, machines and who may do what with
//! them, reservations that never overlap, the image library, and an audit log of every change.
//!
//! Knows nothing of HTTP or the UI: the web app, the REST API, the CLI and the network services
//! all call [`Lab`] with an [`Actor`], and every authorization decision is made here.

pub mod agent_protocol;
pub mod egress;
pub mod error;
pub mod model;
pub mod rest_api;

#[cfg(feature = "db")]
mod actor;
#[cfg(feature = "db")]
pub mod agents;
#[cfg(feature = "db")]
mod audit;

#[cfg(feature = "db")]
pub mod batches;
#[cfg(feature = "db")]
mod bmc_access;
#[cfg(feature = "db")]
pub mod boot;
#[cfg(feature = "db")]
pub mod boot_programs;
pub mod clock;
#[cfg(feature = "db")]
pub mod consoles;
#[cfg(feature = "db")]
pub mod events;
#[cfg(feature = "db")]
mod groups;
#[cfg(feature = "db")]
mod images;
#[cfg(feature = "db")]
pub mod jobs;
#[cfg(feature = "db")]
pub mod leadership;
#[cfg(feature = "db")]
pub mod leases;
#[cfg(feature = "db")]
mod machines;
#[cfg(feature = "db")]
mod media;
#[cfg(feature = "db")]
pub mod notices;
#[cfg(feature = "db")]
pub mod password;
#[cfg(feature = "db")]
mod permissions;
#[cfg(feature = "db")]
pub mod relay;
#[cfg(feature = "db")]
pub mod reservations;
#[cfg(feature = "db")]
mod resets;
#[cfg(all(test, feature = "db"))]
mod schema_drift;
#[cfg(feature = "db")]
pub mod secrets;
#[cfg(feature = "db")]
mod settings;
#[cfg(feature = "db")]
mod store;
#[cfg(all(feature = "db", any(test, feature = "testing")))]
pub mod testing;
#[cfg(feature = "db")]
pub mod throttle;
#[cfg(feature = "db")]
mod tokens;
#[cfg(feature = "db")]
mod users;
#[cfg(feature = "db")]
pub mod validate;

#[cfg(feature = "db")]
pub use actor::Actor;

#[cfg(feature = "db")]
pub use bmc_access::BmcAccess;
pub use clock::Clock;
pub use error::{Error, ErrorKind, FieldError, FieldErrors, Result, INTERNAL_MESSAGE};
#[cfg(feature = "db")]
pub use images::{Ending, ImageFile, UPLOAD_IDLE_SECONDS};
#[cfg(feature = "db")]
pub use machines::BmcCredentials;
#[cfg(feature = "db")]
pub use media::{MediaGrant, MediaRelease, MEDIA_MAX_SECONDS};
#[cfg(feature = "db")]
pub use reservations::{ReservationEnd, ACT_ON_ENDS_WITHIN_SECONDS};
#[cfg(feature = "db")]
pub use secrets::SecretBox;
#[cfg(feature = "db")]
pub use store::{now, Engine, Lab};
#[cfg(feature = "db")]
pub use throttle::LoginClient;
#[cfg(feature = "db")]
pub use users::Bootstrap;
