//! What can go wrong in a lane, in words for the person at the till or the engineer at the
//! console: the engine's own errors (`kasir_core::NodeError`, already written for the cashier)
//! plus what the drivers add — the lane's key file, the network, a stopped lane.

use std::path::PathBuf;

use kasir_core::NodeError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] NodeError),
    #[error("{path}: {detail}; the lane's key file holds its 32-byte identity, nothing else")]
    KeyFile { path: PathBuf, detail: String },
    #[error("cannot listen on {addr}: {detail}")]
    Listen { addr: String, detail: String },
    #[error("the store network could not start: {0}")]
    Network(String),
    #[error("enrollment: {0}")]
    Enrollment(String),
    #[error("the lane has stopped")]
    Stopped,
    #[error("the lane is already on the store network")]
    AlreadyOnLan,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
