//! The iroh driver of the replication engine: one lane on the store LAN (or loopback in tests).
//!
//! One task owns the `Till` and its [`SyncEngine`]; everything reaches it as a message, so the
//! engine stays single-threaded and sans-IO. Three protocols share the lane's endpoint (relays
//! off, `presets::Minimal`):
//! - [`kasir_core::sync::ALPN`], members only: one QUIC connection per peer carrying
//!   length-prefixed [`kasir_core::sync::WireMessage`] frames in one bidirectional stream;
//! - [`ENROLL_ALPN`], open to anyone: a new till presents a one-time ticket's secret and, if the
//!   ticket is good, becomes a member of the store (the `members` document replicates that);
//! - iroh-gossip, members only, on a topic derived from the store code: every lane announces
//!   its addresses and the heads of its recently changed documents every
//!   [`LanConfig::status_every`]. Announcements re-introduce lanes after a partition or a
//!   restart and nudge documents that differ; the payloads themselves never go over gossip.
//!
//! Admission: the remote node id of every connection, dialed or accepted, on every protocol but
//! enrollment, is checked against the store's active members (the `members` document plus the
//! static list of the configuration). A removed lane's connections are closed at once.
//! Addresses come from the static peer list, from announcements, from enrollment and, when
//! enabled, from mDNS on the LAN under a per-store service name.
//! Either side of a pair may dial; when both do at once, both keep the connection dialed by
//! the lower node id.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use iroh::address_lookup::memory::MemoryLookup;
use iroh::endpoint::{Connection, presets};
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
use iroh::{Endpoint, EndpointAddr, EndpointId, SecretKey};
use iroh_gossip::api::{Event as GossipEvent, GossipSender};
use iroh_gossip::net::Gossip;
use iroh_gossip::proto::TopicId;
use n0_future::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use kasir_core::error::{NodeError, Result};
use kasir_core::live::LiveEvent;
use kasir_core::sync::{MAX_MESSAGE_BYTES, Output, PeerId, SyncEngine, SyncEvent};
use kasir_core::till::Till;

/// The ALPN on which a new till redeems its enrollment ticket.
pub const ENROLL_ALPN: &[u8] = b"kasir/enroll/1";
/// Largest announcement (gossip caps messages at 4 KiB).
const MAX_ANNOUNCE: usize = 4000;
/// Documents named in one announcement.
const ANNOUNCE_DOCS: usize = 40;

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

/// The gossip topic of a store's announcements.
pub fn store_topic(store_code: &str) -> TopicId {
    let digest: [u8; 32] = Sha256::digest(format!("kasir/store/{store_code}/announce/1")).into();
    TopicId::from_bytes(digest)
}

/// How a lane joins the LAN.
#[derive(Debug, Clone)]
pub struct LanConfig {
    pub secret_key: SecretKey,
    /// Where to listen, e.g. `127.0.0.1:0` in tests.
    pub bind: SocketAddr,
    /// Lanes admitted besides the store's `members` document (a static list from
    /// configuration). This lane's own id need not be listed.
    pub members: BTreeSet<EndpointId>,
    /// Lanes to connect to, with addresses (the static peer list). They are admitted too.
    pub peers: Vec<EndpointAddr>,
    /// Find the store's other lanes by mDNS on the LAN (service `kasir-<store code>`).
    /// Off in tests, which must stay on loopback.
    pub mdns: bool,
    /// How often peer status (lag, bytes) is reported, heads announced and lost peers redialed.
    pub status_every: Duration,
}

impl LanConfig {
    pub fn new(secret_key: SecretKey, bind: SocketAddr) -> LanConfig {
        LanConfig {
            secret_key,
            bind,
            members: BTreeSet::new(),
            peers: Vec::new(),
            mdns: false,
            status_every: Duration::from_secs(1),
        }
    }
}

/// One peer as the live view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub peer: PeerId,
    /// Its lane number, when the `members` document knows it.
    pub lane: Option<u16>,
    pub connected: bool,
    /// Documents not yet converged with it.
    pub pending_docs: usize,
    /// How long the oldest of those has waited.
    pub behind_for: Option<Duration>,
    /// Since its last message (`None`: never heard from).
    pub last_heard: Option<Duration>,
    /// Sync frames' bytes (payload and 4-byte length), both ways, since the lane started.
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// Everything a lane reports, in order: for the live view, logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaneEvent {
    /// From the replication engine: peer up/down, a document changed by a peer, a refused
    /// message.
    Sync(SyncEvent),
    /// A committed change on this lane: stock of a SKU (and from which lane), a sale stored.
    Live(LiveEvent),
    /// Every [`LanConfig::status_every`]: each known peer's state.
    Peers(Vec<PeerStatus>),
    /// A connection or message refused (not a member, removed, bad frame, bad ticket).
    Refused(String),
    /// A new till redeemed a ticket here and is now a member.
    Enrolled { node: String, lane: u16 },
    /// Live events were dropped because nobody drained them.
    LiveDropped(u64),
}

type TillJob = Box<dyn FnOnce(&mut Till) + Send>;

enum Command {
    /// Runs something on the till (a sale, a query); its changes are offered to the peers.
    Run(TillJob),
    Dial(EndpointAddr),
    Redeem {
        secret: [u8; 16],
        node: EndpointId,
        addr: Option<SocketAddr>,
        reply: oneshot::Sender<std::result::Result<u16, String>>,
    },
    Shutdown(oneshot::Sender<()>),
}

enum NetEvent {
    Up {
        peer: PeerId,
        conn_id: u64,
        dialer: EndpointId,
        writer: mpsc::Sender<Vec<u8>>,
        conn: Connection,
    },
    Down(PeerId, u64),
    Frame(PeerId, Vec<u8>),
    Announce(EndpointId, bytes::Bytes),
    Discovered(EndpointAddr),
    Refused(String),
}

/// The members this lane admits right now, shared with the accept handlers.
type Allowed = Arc<RwLock<BTreeSet<EndpointId>>>;

fn is_allowed(allowed: &Allowed, id: &EndpointId) -> bool {
    allowed.read().map(|a| a.contains(id)).unwrap_or(false)
}

static CONN_IDS: AtomicU64 = AtomicU64::new(1);

/// A running lane. Dropping it does not stop it; call [`Lane::shutdown`].
#[derive(Debug, Clone)]
pub struct Lane {
    commands: mpsc::Sender<Command>,
    endpoint: Endpoint,
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
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())
    }

    /// Connects to a peer lane (a member; anything else is refused and reported).
    pub async fn dial(&self, addr: EndpointAddr) -> Result<()> {
        self.commands
            .send(Command::Dial(addr))
            .await
            .map_err(|_| stopped())
    }

    /// The addresses this lane listens on (what a ticket carries).
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.addr.ip_addrs().copied().collect()
    }

    /// UDP bytes this lane's endpoint sent over IPv4 since it started: everything on the wire,
    /// QUIC and gossip included.
    pub fn udp_bytes_sent(&self) -> u64 {
        self.endpoint.metrics().socket.send_ipv4.get()
    }

    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

fn stopped() -> NodeError {
    NodeError::Invalid("the lane has stopped".into())
}

/// Redeems `ticket` at the lane that issued it, as the node of `secret_key`. Returns the lane
/// number the ticket was issued for. Call before [`start`]ing the new lane with that key.
pub async fn enroll(secret_key: &SecretKey, ticket: &kasir_core::members::Ticket) -> Result<u16> {
    let issuer: EndpointId = ticket
        .issuer
        .parse()
        .map_err(|e| NodeError::Invalid(format!("ticket issuer: {e}")))?;
    let bind: SocketAddr = if ticket.addrs.iter().all(|a| a.ip().is_loopback()) {
        "127.0.0.1:0"
    } else {
        "0.0.0.0:0"
    }
    .parse()
    .map_err(|_| NodeError::Invalid("bind address".into()))?;
    let endpoint = Endpoint::builder(presets::Minimal)
        .secret_key(secret_key.clone())
        .clear_ip_transports()
        .bind_addr(bind)
        .map_err(|e| NodeError::Invalid(format!("bind: {e}")))?
        .bind()
        .await
        .map_err(|e| NodeError::Invalid(format!("cannot start an endpoint: {e}")))?;
    let mut addr = EndpointAddr::new(issuer);
    for a in &ticket.addrs {
        addr = addr.with_ip_addr(*a);
    }
    let result = async {
        let conn =
            tokio::time::timeout(Duration::from_secs(10), endpoint.connect(addr, ENROLL_ALPN))
                .await
                .map_err(|_| "the issuing lane did not answer within 10 s".to_string())?
                .map_err(|e| format!("cannot reach the issuing lane: {e}"))?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        send.write_all(&ticket.secret)
            .await
            .map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())?;
        let reply = tokio::time::timeout(Duration::from_secs(10), recv.read_to_end(256))
            .await
            .map_err(|_| "no answer from the issuing lane".to_string())?
            .map_err(|e| e.to_string())?;
        conn.close(0u32.into(), b"done");
        match reply.split_first() {
            Some((0, lane)) if lane.len() == 2 => Ok(u16::from_be_bytes([lane[0], lane[1]])),
            Some((_, why)) => Err(String::from_utf8_lossy(why).into_owned()),
            None => Err("empty answer".into()),
        }
    }
    .await;
    endpoint.close().await;
    result.map_err(|e| NodeError::Invalid(format!("enrollment: {e}")))
}

/// Starts a lane: binds the endpoint, admits members, runs the engine. Returns a handle and the
/// receiver of everything the lane reports.
pub async fn start(
    mut till: Till,
    config: LanConfig,
) -> Result<(Lane, mpsc::UnboundedReceiver<LaneEvent>)> {
    let store = till.store_code().ok_or_else(|| {
        NodeError::Invalid("the lane must be set up before it joins the LAN".into())
    })?;
    let lookup = MemoryLookup::new();
    for p in &config.peers {
        lookup.add_endpoint_info(p.clone());
    }
    let endpoint = Endpoint::builder(presets::Minimal)
        .secret_key(config.secret_key.clone())
        .address_lookup(lookup.clone())
        .clear_ip_transports()
        .bind_addr(config.bind)
        .map_err(|e| NodeError::Invalid(format!("listen address {}: {e}", config.bind)))?
        .bind()
        .await
        .map_err(|e| NodeError::Invalid(format!("cannot start the LAN endpoint: {e}")))?;
    let id = endpoint.id();
    let addr = endpoint.addr();
    till.enroll_self(&id.to_string())?;
    till.watch_live()?;

    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (net_tx, net_rx) = mpsc::channel::<NetEvent>(4096);
    let (log_tx, log_rx) = mpsc::unbounded_channel();
    let mut static_members = config.members.clone();
    static_members.extend(config.peers.iter().map(|p| p.id));
    let allowed: Allowed = Arc::new(RwLock::new(BTreeSet::new()));

    // A store's lanes all fit in one active view (the default of 5 would leave lanes of a
    // bigger store without gossip neighbours until the next shuffle).
    let membership = iroh_gossip::proto::HyparviewConfig {
        active_view_capacity: 32,
        passive_view_capacity: 64,
        ..Default::default()
    };
    let gossip = Gossip::builder()
        .membership_config(membership)
        .spawn(endpoint.clone());
    let router = Router::builder(endpoint.clone())
        .accept(
            kasir_core::sync::ALPN,
            SyncHandler {
                allowed: allowed.clone(),
                net_tx: net_tx.clone(),
            },
        )
        .accept(
            ENROLL_ALPN,
            EnrollHandler {
                commands: cmd_tx.clone(),
            },
        )
        .accept(
            iroh_gossip::ALPN,
            MembersOnly {
                allowed: allowed.clone(),
                inner: gossip.clone(),
                net_tx: net_tx.clone(),
            },
        )
        .spawn();

    if config.mdns {
        let mdns = iroh_mdns_address_lookup::MdnsAddressLookup::builder()
            .service_name(format!("kasir-{store}"))
            .build(id)
            .map_err(|e| NodeError::Invalid(format!("mDNS: {e}")))?;
        endpoint
            .address_lookup()
            .map_err(|e| NodeError::Invalid(format!("mDNS: {e}")))?
            .add(mdns.clone());
        let net_tx = net_tx.clone();
        tokio::spawn(async move {
            let mut events = mdns.subscribe().await;
            while let Some(ev) = events.next().await {
                if let iroh_mdns_address_lookup::DiscoveryEvent::Discovered {
                    endpoint_info, ..
                } = ev
                {
                    let addr = endpoint_info.into_endpoint_addr();
                    if net_tx.send(NetEvent::Discovered(addr)).await.is_err() {
                        break;
                    }
                }
            }
        });
    }

    let handle = Lane {
        commands: cmd_tx,
        endpoint: endpoint.clone(),
        id,
        addr,
    };
    let mut driver = Driver {
        till,
        engine: SyncEngine::new(),
        endpoint,
        router,
        lookup,
        started: Instant::now(),
        static_members,
        allowed,
        lanes_by_node: BTreeMap::new(),
        conns: BTreeMap::new(),
        stats: BTreeMap::new(),
        dialing: BTreeMap::new(),
        recent_docs: VecDeque::new(),
        net_tx,
        log: log_tx,
        gossip: None,
        store,
        status_every: config.status_every,
        announced: 0,
    };
    driver.refresh_members();
    let topic = store_topic(&driver.store);
    let bootstrap: Vec<EndpointId> = driver
        .allowed_now()
        .into_iter()
        .filter(|m| *m != id)
        .collect();
    match gossip.subscribe(topic, bootstrap).await {
        Ok(sub) => {
            let (sender, mut receiver) = sub.split();
            driver.gossip = Some(sender);
            let net_tx = driver.net_tx.clone();
            tokio::spawn(async move {
                while let Some(Ok(ev)) = receiver.next().await {
                    if let GossipEvent::Received(m) = ev
                        && net_tx
                            .send(NetEvent::Announce(m.delivered_from, m.content))
                            .await
                            .is_err()
                    {
                        break;
                    }
                }
            });
        }
        Err(e) => driver.emit(LaneEvent::Refused(format!("gossip: {e}"))),
    }
    for p in config.peers {
        driver.dial(p);
    }
    tokio::spawn(driver.run(cmd_rx, net_rx));
    Ok((handle, log_rx))
}

#[derive(Debug, Clone)]
struct SyncHandler {
    allowed: Allowed,
    net_tx: mpsc::Sender<NetEvent>,
}

/// Closes (and reports) a connection from a node that is not an active member.
async fn admit(
    allowed: &Allowed,
    net_tx: &mpsc::Sender<NetEvent>,
    conn: &Connection,
    what: &str,
) -> bool {
    let remote = conn.remote_id();
    if is_allowed(allowed, &remote) {
        return true;
    }
    conn.close(1u32.into(), b"not a member of this store");
    let _ = net_tx
        .send(NetEvent::Refused(format!(
            "{what} connection from non-member {remote}"
        )))
        .await;
    false
}

impl ProtocolHandler for SyncHandler {
    async fn accept(&self, conn: Connection) -> std::result::Result<(), AcceptError> {
        let remote = conn.remote_id();
        if !admit(&self.allowed, &self.net_tx, &conn, "sync").await {
            return Ok(());
        }
        let Ok((send, recv)) = conn.accept_bi().await else {
            return Ok(());
        };
        run_connection(conn, remote, send, recv, self.net_tx.clone()).await;
        Ok(())
    }
}

/// Gossip, for members only.
#[derive(Debug, Clone)]
struct MembersOnly {
    allowed: Allowed,
    inner: Gossip,
    net_tx: mpsc::Sender<NetEvent>,
}

impl ProtocolHandler for MembersOnly {
    async fn accept(&self, conn: Connection) -> std::result::Result<(), AcceptError> {
        if !admit(&self.allowed, &self.net_tx, &conn, "gossip").await {
            return Ok(());
        }
        self.inner.accept(conn).await
    }

    async fn shutdown(&self) {
        ProtocolHandler::shutdown(&self.inner).await;
    }
}

#[derive(Debug, Clone)]
struct EnrollHandler {
    commands: mpsc::Sender<Command>,
}

impl ProtocolHandler for EnrollHandler {
    async fn accept(&self, conn: Connection) -> std::result::Result<(), AcceptError> {
        let node = conn.remote_id();
        let addr = remote_ip(&conn);
        let Ok(Ok((mut send, mut recv))) =
            tokio::time::timeout(Duration::from_secs(5), conn.accept_bi()).await
        else {
            return Ok(());
        };
        let mut secret = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), recv.read_exact(&mut secret)).await;
        let answer = if matches!(read, Ok(Ok(()))) {
            let (reply, rx) = oneshot::channel();
            let sent = self
                .commands
                .send(Command::Redeem {
                    secret,
                    node,
                    addr,
                    reply,
                })
                .await;
            match (sent, rx.await) {
                (Ok(()), Ok(r)) => r,
                _ => Err("the lane is stopping".into()),
            }
        } else {
            Err("no ticket received".into())
        };
        let bytes = match answer {
            Ok(lane) => {
                let mut b = vec![0u8];
                b.extend_from_slice(&lane.to_be_bytes());
                b
            }
            Err(why) => {
                let mut b = vec![1u8];
                b.extend_from_slice(&why.as_bytes()[..why.len().min(200)]);
                b
            }
        };
        let _ = send.write_all(&bytes).await;
        let _ = send.finish();
        // Let the answer reach the new till before the connection goes away.
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
        Ok(())
    }
}

/// The remote side's IP address on the path in use, if known.
fn remote_ip(conn: &Connection) -> Option<SocketAddr> {
    let paths = conn.paths();
    let selected = paths
        .iter()
        .find(|p| p.is_selected())
        .map(|p| p.remote_addr().clone());
    match selected {
        Some(iroh::TransportAddr::Ip(a)) => Some(a),
        _ => None,
    }
}

async fn run_connection(
    conn: Connection,
    dialer: EndpointId,
    mut send: iroh::endpoint::SendStream,
    mut recv: iroh::endpoint::RecvStream,
    net_tx: mpsc::Sender<NetEvent>,
) {
    let peer = peer_of(&conn.remote_id());
    let conn_id = CONN_IDS.fetch_add(1, Ordering::Relaxed);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(1024);
    if net_tx
        .send(NetEvent::Up {
            peer: peer.clone(),
            conn_id,
            dialer,
            writer: out_tx,
            conn: conn.clone(),
        })
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
    let _ = net_tx.send(NetEvent::Down(peer, conn_id)).await;
}

struct PeerConn {
    conn_id: u64,
    dialer: EndpointId,
    writer: mpsc::Sender<Vec<u8>>,
    conn: Connection,
}

#[derive(Default)]
struct PeerStats {
    last_heard: Option<Instant>,
    bytes_sent: u64,
    bytes_received: u64,
}

/// The engine task's state.
struct Driver {
    till: Till,
    engine: SyncEngine,
    endpoint: Endpoint,
    router: Router,
    lookup: MemoryLookup,
    started: Instant,
    static_members: BTreeSet<EndpointId>,
    allowed: Allowed,
    lanes_by_node: BTreeMap<EndpointId, u16>,
    conns: BTreeMap<PeerId, PeerConn>,
    stats: BTreeMap<PeerId, PeerStats>,
    /// Dials under way, and when they started (one at a time per peer).
    dialing: BTreeMap<EndpointId, Instant>,
    /// Documents changed lately, newest last (what announcements name).
    recent_docs: VecDeque<kasir_core::wire::DocName>,
    net_tx: mpsc::Sender<NetEvent>,
    log: mpsc::UnboundedSender<LaneEvent>,
    gossip: Option<GossipSender>,
    store: String,
    status_every: Duration,
    /// Announcements sent so far.
    announced: u64,
}

impl Driver {
    fn emit(&self, e: LaneEvent) {
        let _ = self.log.send(e);
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn allowed_now(&self) -> BTreeSet<EndpointId> {
        self.allowed.read().map(|a| a.clone()).unwrap_or_default()
    }

    /// Recomputes the admitted set from the `members` document and the static list; closes the
    /// connections of lanes no longer admitted.
    fn refresh_members(&mut self) {
        let members = match self.till.lan_members() {
            Ok(m) => m,
            Err(e) => {
                self.emit(LaneEvent::Refused(format!("members document: {e}")));
                return;
            }
        };
        let mut set = self.static_members.clone();
        self.lanes_by_node.clear();
        for m in &members {
            let Ok(id) = m.node_id.parse::<EndpointId>() else {
                continue;
            };
            if m.is_active() {
                set.insert(id);
                self.lanes_by_node.insert(id, m.lane);
            } else {
                set.remove(&id);
            }
        }
        set.remove(&self.endpoint.id());
        if let Ok(mut a) = self.allowed.write() {
            *a = set.clone();
        }
        let gone: Vec<PeerId> = self
            .conns
            .iter()
            .filter(|(_, c)| !set.contains(&c.conn.remote_id()))
            .map(|(p, _)| p.clone())
            .collect();
        for peer in gone {
            if let Some(c) = self.conns.remove(&peer) {
                c.conn.close(3u32.into(), b"removed from the store");
                self.emit(LaneEvent::Refused(format!(
                    "{}: removed from the store",
                    peer.0
                )));
            }
            for o in self.engine.disconnected(&peer) {
                if let Output::Event(e) = o {
                    self.emit(LaneEvent::Sync(e));
                }
            }
        }
    }

    fn dial(&mut self, addr: EndpointAddr) {
        let remote = addr.id;
        if remote == self.endpoint.id() {
            return;
        }
        if !is_allowed(&self.allowed, &remote) {
            self.emit(LaneEvent::Refused(format!(
                "not dialing non-member {remote}"
            )));
            return;
        }
        if self.conns.contains_key(&peer_of(&remote))
            || self
                .dialing
                .get(&remote)
                .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
        {
            return;
        }
        if !addr.is_empty() {
            self.lookup.add_endpoint_info(addr.clone());
        }
        self.dialing.insert(remote, Instant::now());
        let endpoint = self.endpoint.clone();
        let net_tx = self.net_tx.clone();
        let me = endpoint.id();
        tokio::spawn(async move {
            let result = async {
                let conn = endpoint
                    .connect(addr, kasir_core::sync::ALPN)
                    .await
                    .map_err(|e| format!("dial {remote}: {e}"))?;
                let (send, recv) = conn
                    .open_bi()
                    .await
                    .map_err(|e| format!("stream to {remote}: {e}"))?;
                run_connection(conn, me, send, recv, net_tx.clone()).await;
                Ok::<(), String>(())
            }
            .await;
            if let Err(e) = result {
                let _ = net_tx.send(NetEvent::Refused(e)).await;
            }
        });
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut net: mpsc::Receiver<NetEvent>,
    ) {
        let mut status = tokio::time::interval(self.status_every);
        status.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self
                .engine
                .next_deadline()
                .map_or(Duration::from_secs(3600), |d| d.saturating_sub(self.now()));
            let outputs = tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => break,
                    Some(Command::Shutdown(done)) => {
                        let _ = self.router.shutdown().await;
                        self.endpoint.close().await;
                        let _ = done.send(());
                        break;
                    }
                    Some(Command::Dial(addr)) => {
                        self.dial(addr);
                        Vec::new()
                    }
                    Some(Command::Run(job)) => {
                        job(&mut self.till);
                        self.after_commit()
                    }
                    Some(Command::Redeem { secret, node, addr, reply }) => {
                        let result = self
                            .till
                            .redeem_enrollment_ticket(&secret, &node.to_string())
                            .map_err(|e| e.to_string());
                        match &result {
                            Ok(lane) => {
                                self.emit(LaneEvent::Enrolled { node: node.to_string(), lane: *lane });
                                if let Some(a) = addr {
                                    self.lookup.add_endpoint_info(EndpointAddr::new(node).with_ip_addr(a));
                                }
                            }
                            Err(e) => self.emit(LaneEvent::Refused(format!("enrollment by {node}: {e}"))),
                        }
                        let _ = reply.send(result);
                        self.after_commit()
                    }
                },
                ev = net.recv() => match ev {
                    None => break,
                    Some(ev) => self.on_net(ev),
                },
                () = tokio::time::sleep(deadline) => self.engine.tick(&mut self.till, self.started.elapsed()),
                _ = status.tick() => {
                    self.on_status().await;
                    Vec::new()
                }
            };
            self.dispatch(outputs).await;
            let (live, dropped) = self.till.take_live_events();
            for e in live {
                self.emit(LaneEvent::Live(e));
            }
            if dropped > 0 {
                self.emit(LaneEvent::LiveDropped(dropped));
            }
        }
    }

    /// Offers what the last job or merge changed to every peer.
    fn after_commit(&mut self) -> Vec<Output> {
        let docs = self.till.take_changed_documents();
        if docs.iter().any(|d| d.as_str() == "members") {
            self.refresh_members();
        }
        for d in &docs {
            if let Some(i) = self.recent_docs.iter().position(|x| x == d) {
                self.recent_docs.remove(i);
            }
            self.recent_docs.push_back(d.clone());
            if self.recent_docs.len() > ANNOUNCE_DOCS {
                self.recent_docs.pop_front();
            }
        }
        let now = self.now();
        self.engine.local_change(&docs, &mut self.till, now)
    }

    fn on_net(&mut self, ev: NetEvent) -> Vec<Output> {
        let now = self.now();
        match ev {
            NetEvent::Up {
                peer,
                conn_id,
                dialer,
                writer,
                conn,
            } => {
                self.dialing.remove(&conn.remote_id());
                if !is_allowed(&self.allowed, &conn.remote_id()) {
                    conn.close(1u32.into(), b"not a member of this store");
                    return Vec::new();
                }
                if let Some(existing) = self.conns.get(&peer) {
                    // Both sides dialed: keep the connection dialed by the lower node id (the
                    // newer one when both were dialed by the same side).
                    let keep_new = dialer <= existing.dialer;
                    if !keep_new {
                        conn.close(4u32.into(), b"duplicate connection");
                        return Vec::new();
                    }
                    existing.conn.close(4u32.into(), b"duplicate connection");
                    let _ = self.engine.disconnected(&peer);
                }
                if let Some(a) = remote_ip(&conn) {
                    self.lookup
                        .add_endpoint_info(EndpointAddr::new(conn.remote_id()).with_ip_addr(a));
                }
                self.conns.insert(
                    peer.clone(),
                    PeerConn {
                        conn_id,
                        dialer,
                        writer,
                        conn,
                    },
                );
                self.stats.entry(peer.clone()).or_default().last_heard = Some(Instant::now());
                self.engine.connected(peer, &mut self.till, now)
            }
            NetEvent::Down(peer, conn_id) => {
                if self.conns.get(&peer).is_some_and(|c| c.conn_id == conn_id) {
                    self.conns.remove(&peer);
                    self.engine.disconnected(&peer)
                } else {
                    Vec::new()
                }
            }
            NetEvent::Frame(peer, bytes) => {
                let s = self.stats.entry(peer.clone()).or_default();
                s.last_heard = Some(Instant::now());
                s.bytes_received += bytes.len() as u64 + 4;
                let mut out = self.engine.received(&peer, &bytes, &mut self.till, now);
                out.extend(self.after_commit());
                out
            }
            NetEvent::Announce(from, bytes) => self.on_announce(from, &bytes),
            NetEvent::Discovered(addr) => {
                if is_allowed(&self.allowed, &addr.id)
                    && !self.conns.contains_key(&peer_of(&addr.id))
                {
                    self.dial(addr);
                }
                Vec::new()
            }
            NetEvent::Refused(why) => {
                self.emit(LaneEvent::Refused(why));
                Vec::new()
            }
        }
    }

    fn on_announce(&mut self, delivered_from: EndpointId, bytes: &[u8]) -> Vec<Output> {
        if !is_allowed(&self.allowed, &delivered_from) {
            self.emit(LaneEvent::Refused(format!(
                "announcement via non-member {delivered_from}"
            )));
            return Vec::new();
        }
        let a = match Announce::decode(bytes) {
            Ok(a) => a,
            Err(e) => {
                self.emit(LaneEvent::Refused(format!(
                    "announcement via {delivered_from}: {e}"
                )));
                return Vec::new();
            }
        };
        if a.node == self.endpoint.id() || !is_allowed(&self.allowed, &a.node) {
            return Vec::new();
        }
        let peer = peer_of(&a.node);
        if self.conns.contains_key(&peer) {
            let now = self.now();
            self.engine.announced(&peer, &a.docs, &mut self.till, now)
        } else {
            // A member we are not connected to: (re)introduce ourselves.
            let mut addr = EndpointAddr::new(a.node);
            for ip in &a.addrs {
                addr = addr.with_ip_addr(*ip);
            }
            self.dial(addr);
            Vec::new()
        }
    }

    async fn on_status(&mut self) {
        let now = self.now();
        // Redial members we know an address for and are not connected to.
        let missing: Vec<EndpointId> = self
            .allowed_now()
            .into_iter()
            .filter(|m| !self.conns.contains_key(&peer_of(m)))
            .collect();
        for m in missing {
            if self.lookup.get_endpoint_info(m).is_some() {
                self.dial(EndpointAddr::new(m));
            }
        }
        // Announce our addresses and recently changed documents; now and then ask to join the
        // members we know an address for, so a lane left without gossip neighbours rejoins.
        if let Some(g) = &self.gossip {
            if self.announced.is_multiple_of(10) {
                let known: Vec<EndpointId> = self
                    .allowed_now()
                    .into_iter()
                    .filter(|m| self.lookup.get_endpoint_info(*m).is_some())
                    .collect();
                let _ = g.join_peers(known).await;
            }
            let mut docs = Vec::new();
            for d in self.recent_docs.iter().rev() {
                if let Ok(h) = self.till.document_heads(d.as_str()) {
                    docs.push((d.clone(), kasir_core::sync::digest_of(&h)));
                }
            }
            self.announced += 1;
            let a = Announce {
                node: self.endpoint.id(),
                seq: self.announced,
                addrs: self.endpoint.addr().ip_addrs().copied().take(4).collect(),
                docs,
            };
            let _ = g.broadcast(bytes::Bytes::from(a.encode())).await;
        }
        // Per-peer status.
        let mut peers: BTreeSet<PeerId> = self.stats.keys().cloned().collect();
        peers.extend(self.allowed_now().iter().map(peer_of));
        let statuses = peers
            .into_iter()
            .map(|peer| {
                let s = self.stats.get(&peer);
                let node: Option<EndpointId> = peer.0.parse().ok();
                PeerStatus {
                    lane: node.and_then(|n| self.lanes_by_node.get(&n).copied()),
                    connected: self.conns.contains_key(&peer),
                    pending_docs: self.engine.pending_with(&peer),
                    behind_for: self.engine.behind_for(&peer, now),
                    last_heard: s.and_then(|s| s.last_heard).map(|t| t.elapsed()),
                    bytes_sent: s.map_or(0, |s| s.bytes_sent),
                    bytes_received: s.map_or(0, |s| s.bytes_received),
                    peer,
                }
            })
            .collect();
        self.emit(LaneEvent::Peers(statuses));
    }

    async fn dispatch(&mut self, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::Send { to, message } => {
                    if let Some(c) = self.conns.get(&to) {
                        let frame = message.encode();
                        let n = frame.len() as u64 + 4;
                        // Backpressure: wait for room rather than drop.
                        if c.writer.send(frame).await.is_ok() {
                            self.stats.entry(to).or_default().bytes_sent += n;
                        }
                    }
                }
                Output::Event(e) => self.emit(LaneEvent::Sync(e)),
            }
        }
    }
}

/// A lane's periodic gossip message: who it is, where it listens, and the heads digests of the
/// documents it changed lately. At most [`MAX_ANNOUNCE`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub node: EndpointId,
    /// Counts the sender's announcements: gossip drops a message identical to one it has seen,
    /// and a quiet lane's announcements would otherwise all be identical.
    pub seq: u64,
    pub addrs: Vec<SocketAddr>,
    pub docs: Vec<(kasir_core::wire::DocName, [u8; 32])>,
}

impl Announce {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![1u8];
        out.extend_from_slice(self.node.as_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        let addrs: Vec<String> = self.addrs.iter().take(4).map(ToString::to_string).collect();
        out.push(u8::try_from(addrs.len()).unwrap_or(0));
        for a in &addrs {
            out.push(u8::try_from(a.len()).unwrap_or(0));
            out.extend_from_slice(a.as_bytes());
        }
        let docs = self.docs.iter().take(ANNOUNCE_DOCS);
        out.push(u8::try_from(docs.len()).unwrap_or(0));
        for (name, digest) in docs {
            let n = name.as_str().len().min(64);
            out.push(u8::try_from(n).unwrap_or(0));
            out.extend_from_slice(&name.as_str().as_bytes()[..n]);
            out.extend_from_slice(digest);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Announce, String> {
        if bytes.len() > MAX_ANNOUNCE {
            return Err(format!("{} bytes is over the limit", bytes.len()));
        }
        let mut pos = 0usize;
        let mut take = |n: usize| -> std::result::Result<&[u8], String> {
            let end = pos.checked_add(n).ok_or("truncated")?;
            let s = bytes.get(pos..end).ok_or("truncated")?;
            pos = end;
            Ok(s)
        };
        if take(1)? != [1] {
            return Err("unknown version".into());
        }
        let node_bytes: [u8; 32] = take(32)?.try_into().map_err(|_| "truncated")?;
        let node = EndpointId::from_bytes(&node_bytes).map_err(|_| "bad node id")?;
        let seq = u64::from_be_bytes(take(8)?.try_into().map_err(|_| "truncated")?);
        let n = usize::from(take(1)?[0]);
        if n > 4 {
            return Err("too many addresses".into());
        }
        let mut addrs = Vec::with_capacity(n);
        for _ in 0..n {
            let len = usize::from(take(1)?[0]);
            let s = std::str::from_utf8(take(len)?).map_err(|_| "bad address")?;
            addrs.push(s.parse().map_err(|_| "bad address")?);
        }
        let n = usize::from(take(1)?[0]);
        if n > ANNOUNCE_DOCS {
            return Err("too many documents".into());
        }
        let mut docs = Vec::with_capacity(n);
        for _ in 0..n {
            let len = usize::from(take(1)?[0]);
            let name = std::str::from_utf8(take(len)?).map_err(|_| "bad document name")?;
            let name = kasir_core::wire::DocName::new(name).map_err(|_| "unknown document")?;
            let digest: [u8; 32] = take(32)?.try_into().map_err(|_| "truncated")?;
            docs.push((name, digest));
        }
        if pos != bytes.len() {
            return Err("trailing bytes".into());
        }
        Ok(Announce {
            node,
            seq,
            addrs,
            docs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Announce {
        Announce {
            node: SecretKey::from_bytes(&[3; 32]).public(),
            seq: 42,
            addrs: vec![
                "127.0.0.1:4000".parse().unwrap(),
                "[::1]:4000".parse().unwrap(),
            ],
            docs: (0..ANNOUNCE_DOCS)
                .map(|i| {
                    (
                        kasir_core::wire::DocName::new(format!("ledger/2026-11-24/{:03}", i + 1))
                            .unwrap(),
                        [7; 32],
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn announcements_round_trip_and_fit_in_a_gossip_message() {
        let a = sample();
        let bytes = a.encode();
        assert!(bytes.len() <= MAX_ANNOUNCE, "{}", bytes.len());
        assert_eq!(Announce::decode(&bytes).unwrap(), a);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn mutated_announcements_never_panic(i in 0usize..4096, v in any::<u8>(), cut in 0usize..4096) {
            let mut bytes = sample().encode();
            let k = i % bytes.len();
            bytes[k] = v;
            bytes.truncate(cut.max(1));
            let _ = Announce::decode(&bytes);
        }

        #[test]
        fn random_announcements_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Announce::decode(&bytes);
        }
    }
}
