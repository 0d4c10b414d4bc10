//! The iroh driver of the replication engine: one lane on the store LAN (or loopback in tests).
//!
//! One task owns the `Till` and its [`SyncEngine`]; everything reaches it as a message, so the
//! engine stays single-threaded and sans-IO. Per peer there is one QUIC connection on ALPN
//! [`crate::sync::ALPN`] carrying length-prefixed [`crate::sync::WireMessage`] frames in one
//! bidirectional stream. Only enrolled lanes are admitted: the remote node id of every
//! connection, dialed or accepted, is checked against the members list, and anything else is
//! closed and logged. Relays are off (`presets::Minimal`); peers are given by address.
//! To avoid two connections per pair, the lane with the lower node id dials.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use iroh::endpoint::{Connection, presets};
use iroh::{Endpoint, EndpointAddr, EndpointId, SecretKey};
use tokio::sync::{mpsc, oneshot};

use crate::error::{NodeError, Result};
use crate::sync::{MAX_MESSAGE_BYTES, Output, PeerId, SyncEngine, SyncEvent};
use crate::till::Till;

/// Reads the lane's identity from `path`, creating it (mode 0600) on first start.
pub fn load_or_create_key(path: &Path) -> Result<SecretKey> {
    if path.exists() {
        let bytes = std::fs::read(path).map_err(|e| NodeError::DatabaseOpen {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| NodeError::ForeignDatabase {
            path: path.to_path_buf(),
            detail: "not a 32-byte lane key".into(),
        })?;
        return Ok(SecretKey::from_bytes(&bytes));
    }
    let key = SecretKey::generate();
    std::fs::write(path, key.to_bytes()).map_err(|e| NodeError::DatabaseOpen {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(key)
}

pub fn peer_of(id: &EndpointId) -> PeerId {
    PeerId(id.to_string())
}

/// How a lane joins the LAN.
#[derive(Debug, Clone)]
pub struct LanConfig {
    pub secret_key: SecretKey,
    /// Where to listen, e.g. `127.0.0.1:0` in tests.
    pub bind: std::net::SocketAddr,
    /// The store's enrolled lanes (their node ids). This lane's own id need not be listed.
    pub members: BTreeSet<EndpointId>,
}

type TillJob = Box<dyn FnOnce(&mut Till) + Send>;

enum Command {
    /// Runs something on the till (a sale, a query); its changes are offered to the peers.
    Run(TillJob),
    Dial(EndpointAddr),
    Shutdown(oneshot::Sender<()>),
}

enum NetEvent {
    Up(PeerId, mpsc::Sender<Vec<u8>>),
    Down(PeerId),
    Frame(PeerId, Vec<u8>),
    Refused(String),
}

/// A running lane. Dropping it does not stop it; call [`Lane::shutdown`].
#[derive(Debug, Clone)]
pub struct Lane {
    commands: mpsc::Sender<Command>,
    pub id: EndpointId,
    pub addr: EndpointAddr,
}

impl Lane {
    /// Runs `f` on the lane's till and returns its result; the documents it changed are offered
    /// to every connected peer right after.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Till) -> T + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let job: TillJob = Box::new(move |till| {
            let _ = tx.send(f(till));
        });
        self.commands
            .send(Command::Run(job))
            .await
            .map_err(|_| NodeError::Invalid("the lane has stopped".into()))?;
        rx.await
            .map_err(|_| NodeError::Invalid("the lane has stopped".into()))
    }

    /// Connects to a peer lane (only lanes with a higher node id are dialed; the others dial us).
    pub async fn dial(&self, addr: EndpointAddr) -> Result<()> {
        self.commands
            .send(Command::Dial(addr))
            .await
            .map_err(|_| NodeError::Invalid("the lane has stopped".into()))
    }

    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// What the lane saw, for tests and the live view.
#[derive(Debug, Clone, Default)]
pub struct LaneLog {
    pub events: Vec<SyncEvent>,
    pub refused: Vec<String>,
}

/// Starts a lane: binds the endpoint, accepts members, runs the engine. Returns a handle and
/// a receiver of everything the lane reports.
pub async fn start(
    till: Till,
    config: LanConfig,
) -> Result<(Lane, mpsc::UnboundedReceiver<LaneLog>)> {
    let endpoint = Endpoint::builder(presets::Minimal)
        .secret_key(config.secret_key.clone())
        .alpns(vec![crate::sync::ALPN.to_vec()])
        .clear_ip_transports()
        .bind_addr(config.bind)
        .map_err(|e| NodeError::Invalid(format!("listen address {}: {e}", config.bind)))?
        .bind()
        .await
        .map_err(|e| NodeError::Invalid(format!("cannot start the LAN endpoint: {e}")))?;
    let id = endpoint.id();
    let addr = endpoint.addr();
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (net_tx, net_rx) = mpsc::channel::<NetEvent>(4096);
    let (log_tx, log_rx) = mpsc::unbounded_channel();
    let members = config.members.clone();
    // Accept loop.
    {
        let endpoint = endpoint.clone();
        let net_tx = net_tx.clone();
        let members = members.clone();
        tokio::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let net_tx = net_tx.clone();
                let members = members.clone();
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    let remote = conn.remote_id();
                    if !members.contains(&remote) {
                        conn.close(1u32.into(), b"not a member of this store");
                        let _ = net_tx
                            .send(NetEvent::Refused(format!("incoming from {remote}")))
                            .await;
                        return;
                    }
                    let Ok((send, recv)) = conn.accept_bi().await else {
                        return;
                    };
                    run_connection(conn, send, recv, net_tx).await;
                });
            }
        });
    }
    let handle = Lane {
        commands: cmd_tx,
        id,
        addr,
    };
    tokio::spawn(engine_loop(
        till, endpoint, members, cmd_rx, net_rx, net_tx, log_tx,
    ));
    Ok((handle, log_rx))
}

async fn run_connection(
    conn: Connection,
    mut send: iroh::endpoint::SendStream,
    mut recv: iroh::endpoint::RecvStream,
    net_tx: mpsc::Sender<NetEvent>,
) {
    let peer = peer_of(&conn.remote_id());
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(1024);
    if net_tx
        .send(NetEvent::Up(peer.clone(), out_tx))
        .await
        .is_err()
    {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            let len = u32::try_from(frame.len()).unwrap_or(u32::MAX).to_be_bytes();
            if send.write_all(&len).await.is_err() || send.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    loop {
        let mut len = [0u8; 4];
        if recv.read_exact(&mut len).await.is_err() {
            break;
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > MAX_MESSAGE_BYTES {
            let _ = net_tx
                .send(NetEvent::Refused(format!("{}: frame of {n} bytes", peer.0)))
                .await;
            conn.close(2u32.into(), b"frame too large");
            break;
        }
        let mut frame = vec![0u8; n];
        if recv.read_exact(&mut frame).await.is_err() {
            break;
        }
        if net_tx
            .send(NetEvent::Frame(peer.clone(), frame))
            .await
            .is_err()
        {
            break;
        }
    }
    writer.abort();
    let _ = net_tx.send(NetEvent::Down(peer)).await;
}

async fn engine_loop(
    mut till: Till,
    endpoint: Endpoint,
    members: BTreeSet<EndpointId>,
    mut commands: mpsc::Receiver<Command>,
    mut net: mpsc::Receiver<NetEvent>,
    net_tx: mpsc::Sender<NetEvent>,
    log: mpsc::UnboundedSender<LaneLog>,
) {
    let started = Instant::now();
    let mut engine = SyncEngine::new();
    let mut writers: BTreeMap<PeerId, mpsc::Sender<Vec<u8>>> = BTreeMap::new();
    loop {
        let deadline = engine
            .next_deadline()
            .map_or(Duration::from_secs(3600), |d| {
                d.saturating_sub(started.elapsed())
            });
        let outputs = tokio::select! {
            cmd = commands.recv() => match cmd {
                None => break,
                Some(Command::Shutdown(done)) => {
                    endpoint.close().await;
                    let _ = done.send(());
                    break;
                }
                Some(Command::Dial(addr)) => {
                    let remote = addr.id;
                    if remote > endpoint.id() && members.contains(&remote) {
                        let endpoint = endpoint.clone();
                        let net_tx = net_tx.clone();
                        tokio::spawn(async move {
                            match endpoint.connect(addr, crate::sync::ALPN).await {
                                Ok(conn) => match conn.open_bi().await {
                                    Ok((send, recv)) => run_connection(conn, send, recv, net_tx).await,
                                    Err(e) => {
                                        let _ = net_tx.send(NetEvent::Refused(format!("stream to {remote}: {e}"))).await;
                                    }
                                },
                                Err(e) => {
                                    let _ = net_tx.send(NetEvent::Refused(format!("dial {remote}: {e}"))).await;
                                }
                            }
                        });
                    }
                    Vec::new()
                }
                Some(Command::Run(job)) => {
                    job(&mut till);
                    let docs = till.take_changed_documents();
                    engine.local_change(&docs, &mut till, started.elapsed())
                }
            },
            ev = net.recv() => match ev {
                None => break,
                Some(NetEvent::Up(peer, writer)) => {
                    writers.insert(peer.clone(), writer);
                    engine.connected(peer, &mut till, started.elapsed())
                }
                Some(NetEvent::Down(peer)) => {
                    writers.remove(&peer);
                    engine.disconnected(&peer)
                }
                Some(NetEvent::Frame(peer, bytes)) => {
                    let mut out = engine.received(&peer, &bytes, &mut till, started.elapsed());
                    let docs = till.take_changed_documents();
                    out.extend(engine.local_change(&docs, &mut till, started.elapsed()));
                    out
                }
                Some(NetEvent::Refused(why)) => {
                    let _ = log.send(LaneLog { events: Vec::new(), refused: vec![why] });
                    Vec::new()
                }
            },
            () = tokio::time::sleep(deadline) => engine.tick(&mut till, started.elapsed()),
        };
        let mut events = Vec::new();
        for o in outputs {
            match o {
                Output::Send { to, message } => {
                    if let Some(w) = writers.get(&to) {
                        // Backpressure: wait for room rather than drop.
                        let _ = w.send(message.encode()).await;
                    }
                }
                Output::Event(e) => events.push(e),
            }
        }
        if !events.is_empty() {
            let _ = log.send(LaneLog {
                events,
                refused: Vec::new(),
            });
        }
    }
}
