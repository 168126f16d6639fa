//! Server functions: the UI's API. Each checks its caller through the lab, so a request made by
//! hand is held to the same rules as a click.

pub mod admin;
pub mod batches;
pub mod bmc;
pub mod images;
pub mod jobs;
pub mod machines;
pub mod media;
pub mod notices;
pub mod reservations;
pub mod session;
