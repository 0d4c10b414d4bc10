//! The iroh driver of the lane core: one lane on the store LAN (or loopback in tests).
//!
//! All policy lives in `kasir_core::lane::LaneCore` (admission, dialing, duplicate
//! connections, announcements, replication); this module only executes what it asks for and
//! feeds it what happened. Three pieces:
//!
//! - the **replication thread** owns the core and the lane's [`Replica`] handle (its own
//!   connection to the lane file). It blocks on its input channel until the core's next
//!   deadline, hands each input to the core, and executes the outputs: frames go into per-
//!   connection queues (never awaited, so a slow peer stalls nobody), dials and gossip become
//!   tasks on the runtime, closes happen at once. Merges happen here, not on the till's
//!   thread, and their writes yield to the till's (`kasir_core::handles`);
//! - **tasks on the tokio runtime**: the iroh endpoint and its router (ALPN
//!   [`kasir_core::wire::SYNC_ALPN`] for frames, [`ENROLL_ALPN`] for tickets, iroh-gossip for
//!   announcements), one task per connection reading length-prefixed frames and one writing
//!   them, the gossip subscription, mDNS discovery;
//! - the **till's thread** (`crate::app`), reached for what only the till may write
//!   (redeeming an enrollment ticket) and told of live changes for the screens.
//!
//! Relays are off (`presets::Minimal`); addresses come from the static peer list,
//! announcements, enrollment, connections and, when enabled, mDNS under a per-store service
//! name.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use iroh::Endpoint;
use iroh::address_lookup::memory::MemoryLookup;
use iroh::endpoint::{Connection, presets};
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
/// iroh's identity and address types, as a lane's configuration names them.
pub use iroh::{EndpointAddr, EndpointId, SecretKey};
use iroh_gossip::api::{Event as GossipEvent, GossipSender};
use iroh_gossip::net::Gossip;
use iroh_gossip::proto::TopicId;
use kasir_core::Replica;
use kasir_core::lane::{ConnId, Input, LaneConfig as CoreConfig, LaneCore, LaneEvent, Output};
use kasir_core::live::LiveEvent;
use kasir_core::members::Ticket;
use kasir_core::sync::PeerId;
use kasir_core::wire::{MAX_MESSAGE_BYTES, SYNC_ALPN};
use n0_future::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// The ALPN on which a new till redeems its enrollment ticket.
pub const ENROLL_ALPN: &[u8] = b"kasir/enroll/1";

/// Reads the lane's identity from `path`, creating it (mode 0600) on first start.
pub fn load_or_create_key(path: &Path) -> Result<SecretKey> {
    let key_error = |detail: String| Error::KeyFile {
        path: path.to_path_buf(),
        detail,
    };
    if path.exists() {
        let bytes = std::fs::read(path).map_err(|e| key_error(e.to_string()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| key_error(format!("{} bytes, not a lane key", b.len())))?;
        return Ok(SecretKey::from_bytes(&bytes));
    }
    let key = SecretKey::generate();
    std::fs::write(path, key.to_bytes()).map_err(|e| key_error(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| key_error(e.to_string()))?;
    }
    Ok(key)
}

/// A peer lane as `NODE_ID@IP:PORT` (what `kasir-node` prints on start).
pub fn parse_peer(s: &str) -> std::result::Result<EndpointAddr, String> {
    let (id, addr) = s
        .split_once('@')
        .ok_or_else(|| format!("peer {s:?}: expected NODE_ID@IP:PORT"))?;
    let id: EndpointId = id
        .parse()
        .map_err(|e| format!("peer {s:?}: node id: {e}"))?;
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("peer {s:?}: address: {e}"))?;
    Ok(EndpointAddr::new(id).with_ip_addr(addr))
}

/// The address of lane `id` listening on `addrs` (what a static peer list holds).
pub fn endpoint_addr(id: EndpointId, addrs: &[SocketAddr]) -> EndpointAddr {
    addrs
        .iter()
        .fold(EndpointAddr::new(id), |a, ip| a.with_ip_addr(*ip))
}

pub fn peer_of(id: &EndpointId) -> PeerId {
    PeerId(id.to_string())
}

fn endpoint_of(p: &PeerId) -> Option<EndpointId> {
    p.0.parse().ok()
}

/// The store's mDNS service name: `kasir-` and 8 hex digits of the code's SHA-256. DNS-SD
/// service names are at most 15 letters, digits and hyphens (RFC 6335), and a store code may
/// be 50 characters with `_`.
pub fn mdns_service(store_code: &str) -> String {
    let digest: [u8; 32] = Sha256::digest(format!("kasir/store/{store_code}/mdns/1")).into();
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("kasir-{hex}")
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
    /// Find the store's other lanes by mDNS on the LAN (service `kasir-<8 hex digits of the store code's hash>`, [`mdns_service`]).
    /// Off in tests, which must stay on loopback.
    pub mdns: bool,
    /// How often peer status is reported, heads announced and lost peers redialed.
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

/// What the replication thread needs from the till's side.
pub(crate) trait TillLink: Send + Sync + 'static {
    /// Redeems an enrollment ticket on the till (the only handle that writes records of its
    /// own); answers the lane number or why not.
    fn redeem(&self, secret: [u8; 16], node: String) -> oneshot::Receiver<Result<u16, String>>;
    /// Something happened on the LAN (for the screens and the event stream).
    fn lane_event(&self, event: LaneEvent);
    /// Merges committed on the replica changed these things.
    fn live(&self, events: Vec<LiveEvent>, dropped: u64);
}

/// One connection as the replication thread holds it.
pub(crate) struct ConnHandle {
    conn: Connection,
    writer: mpsc::UnboundedSender<Vec<u8>>,
}

pub(crate) enum LanInput {
    Core(Input),
    /// A connection is up: its handle, then the core's input.
    Up(ConnId, ConnHandle, Input),
    Shutdown,
}

/// Where the till's thread offers the documents it changed (never blocks, never drops: the
/// replication thread takes these before anything else).
#[derive(Debug, Clone)]
pub(crate) struct LocalChanges(mpsc::UnboundedSender<Vec<kasir_core::wire::DocName>>);

impl LocalChanges {
    pub fn send(&self, docs: Vec<kasir_core::wire::DocName>) {
        let _ = self.0.send(docs);
    }
}

/// A running lane on the LAN. Stops when [`LanHandle::shutdown`] is called.
#[derive(Debug)]
pub(crate) struct LanHandle {
    tx: mpsc::Sender<LanInput>,
    local: LocalChanges,
    endpoint: Endpoint,
    router: Router,
    thread: Option<JoinHandle<()>>,
    addr: EndpointAddr,
    /// The LAN's own runtime (see [`start`]).
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for LanHandle {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Puts the calling thread in the idle scheduling class (`SCHED_IDLE`): it runs only when no
/// normal thread wants the CPU, and the till's thread preempts it the moment it wakes (a scan,
/// a payment, the end of an fsync) — with a lower nice value alone it waits for the running
/// thread's time slice (a few ms under Linux's EEVDF). Replication and the LAN's network
/// threads run so; where the class is unavailable they fall back to nice +10. Either way
/// failing to lower it only costs that preference. On a till the normal-class threads (the
/// till, the screen) are idle most of the time, so replication is never starved for long.
/// When a core is kept for the till's thread (`till_core`), the calling thread also keeps off
/// it ([`crate::cpu`]). (Normal class there instead, tried on 2026-12-01: the till's thread
/// then waited up to 5 ms for a CPU now and then; BENCHMARKS.md.)
fn yield_to_the_till(till_core: Option<usize>) {
    if let Some(core) = till_core {
        crate::cpu::keep_off(core);
    }
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
    };
    let idle = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    );
    if idle.is_err() {
        let _ = thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(
            ThreadPriorityValue::try_from(24u8).unwrap_or_default(),
        ));
    }
}

impl std::fmt::Debug for LanInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LanInput::Core(i) => write!(f, "Core({i:?})"),
            LanInput::Up(c, _, _) => write!(f, "Up({c})"),
            LanInput::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl LanHandle {
    /// Where the till's thread offers what it changed.
    pub fn local_sender(&self) -> LocalChanges {
        self.local.clone()
    }

    /// Addresses this lane listens on (what a ticket carries).
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.addr.ip_addrs().copied().collect()
    }

    /// UDP bytes this lane's endpoint sent over IPv4 since it started: everything on the wire,
    /// QUIC and gossip included.
    pub fn udp_bytes_sent(&self) -> u64 {
        self.endpoint.metrics().socket.send_ipv4.get()
    }

    pub async fn shutdown(&mut self) {
        let _ = self.tx.send(LanInput::Shutdown).await;
        let (router, endpoint) = (self.router.clone(), self.endpoint.clone());
        if let Some(rt) = &self.runtime {
            let _ = rt
                .spawn(async move {
                    let _ = router.shutdown().await;
                    endpoint.close().await;
                })
                .await;
        }
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Redeems `ticket` at the lane that issued it, as the node of `secret_key`. Returns the lane
/// number the ticket was issued for. Call before the new lane joins the LAN with that key.
pub async fn enroll(secret_key: &SecretKey, ticket: &Ticket) -> Result<u16> {
    let issuer: EndpointId = ticket
        .issuer
        .parse()
        .map_err(|e| Error::Enrollment(format!("ticket issuer: {e}")))?;
    let bind: SocketAddr = if ticket.addrs.iter().all(|a| a.ip().is_loopback()) {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        SocketAddr::from(([0, 0, 0, 0], 0))
    };
    let endpoint = Endpoint::builder(presets::Minimal)
        .secret_key(secret_key.clone())
        .clear_ip_transports()
        .bind_addr(bind)
        .map_err(|e| Error::Listen {
            addr: bind.to_string(),
            detail: e.to_string(),
        })?
        .bind()
        .await
        .map_err(|e| Error::Network(e.to_string()))?;
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
    result.map_err(Error::Enrollment)
}

/// The members the accept handlers admit, kept by the replication thread from the core's
/// `Admitted` outputs.
type Admitted = Arc<RwLock<BTreeSet<EndpointId>>>;

fn is_admitted(admitted: &Admitted, id: &EndpointId) -> bool {
    admitted.read().map(|a| a.contains(id)).unwrap_or(false)
}

static CONN_IDS: AtomicU64 = AtomicU64::new(1);

/// Starts a lane on the LAN: binds the endpoint, starts the replication thread with `replica`.
/// The LAN runs on a runtime of its own (two worker threads) and a replication thread, all at a
/// lower CPU priority than the till's thread and off the core kept for it, if any: network
/// work and merges yield to the cashier.
/// What the HQ driver needs: its own handle on the lane file, and where it reports.
pub(crate) struct HqParts {
    pub till: kasir_core::Till,
    pub status: tokio::sync::watch::Sender<crate::hq::HqStatus>,
}

pub(crate) async fn start(
    replica: Replica,
    hq: HqParts,
    store: &str,
    config: LanConfig,
    till: Arc<dyn TillLink>,
    till_core: Option<usize>,
) -> Result<LanHandle> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("kasir-net")
        .on_thread_start(move || yield_to_the_till(till_core))
        .build()
        .map_err(|e| Error::Network(format!("LAN runtime: {e}")))?;
    let store = store.to_string();
    let started = runtime
        .spawn(async move { start_on_runtime(replica, hq, &store, config, till, till_core).await })
        .await
        .map_err(|e| Error::Network(format!("LAN start: {e}")));
    match started {
        Ok(Ok(mut handle)) => {
            handle.runtime = Some(runtime);
            Ok(handle)
        }
        Ok(Err(e)) | Err(e) => {
            runtime.shutdown_background();
            Err(e)
        }
    }
}

async fn start_on_runtime(
    replica: Replica,
    hq: HqParts,
    store: &str,
    config: LanConfig,
    till: Arc<dyn TillLink>,
    till_core: Option<usize>,
) -> Result<LanHandle> {
    let lookup = MemoryLookup::new();
    for p in &config.peers {
        lookup.add_endpoint_info(p.clone());
    }
    let endpoint = Endpoint::builder(presets::Minimal)
        .secret_key(config.secret_key.clone())
        .address_lookup(lookup.clone())
        .clear_ip_transports()
        .bind_addr(config.bind)
        .map_err(|e| Error::Listen {
            addr: config.bind.to_string(),
            detail: e.to_string(),
        })?
        .bind()
        .await
        .map_err(|e| Error::Network(e.to_string()))?;
    let id = endpoint.id();
    let addr = endpoint.addr();
    let (tx, rx) = mpsc::channel::<LanInput>(4096);
    let (local_tx, local_rx) = mpsc::unbounded_channel();
    let admitted: Admitted = Arc::new(RwLock::new(BTreeSet::new()));

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
            SYNC_ALPN,
            SyncHandler {
                admitted: admitted.clone(),
                tx: tx.clone(),
            },
        )
        .accept(ENROLL_ALPN, EnrollHandler { till: till.clone() })
        .accept(
            iroh_gossip::ALPN,
            MembersOnly {
                admitted: admitted.clone(),
                inner: gossip.clone(),
                tx: tx.clone(),
            },
        )
        .spawn();

    if config.mdns {
        let mdns = iroh_mdns_address_lookup::MdnsAddressLookup::builder()
            .service_name(mdns_service(store))
            .build(id)
            .map_err(|e| Error::Network(format!("mDNS: {e}")))?;
        endpoint
            .address_lookup()
            .map_err(|e| Error::Network(format!("mDNS: {e}")))?
            .add(mdns.clone());
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut events = mdns.subscribe().await;
            while let Some(ev) = events.next().await {
                if let iroh_mdns_address_lookup::DiscoveryEvent::Discovered {
                    endpoint_info, ..
                } = ev
                {
                    let a = endpoint_info.into_endpoint_addr();
                    let input = Input::Discovered {
                        peer: peer_of(&a.id),
                        addrs: a.ip_addrs().copied().collect(),
                    };
                    if tx.send(LanInput::Core(input)).await.is_err() {
                        break;
                    }
                }
            }
        });
    }

    let gossip_sender = match gossip.subscribe(store_topic(store), Vec::new()).await {
        Ok(sub) => {
            let (sender, mut receiver) = sub.split();
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(Ok(ev)) = receiver.next().await {
                    if let GossipEvent::Received(m) = ev {
                        let input = Input::Announcement {
                            via: peer_of(&m.delivered_from),
                            bytes: m.content.to_vec(),
                        };
                        if tx.send(LanInput::Core(input)).await.is_err() {
                            break;
                        }
                    }
                }
            });
            Some(sender)
        }
        Err(e) => {
            till.lane_event(LaneEvent::Refused(format!("gossip: {e}")));
            None
        }
    };

    let mut core_config = CoreConfig::new(peer_of(&id));
    core_config.static_members = config.members.iter().map(peer_of).collect();
    core_config.static_peers = config
        .peers
        .iter()
        .map(|p| (peer_of(&p.id), p.ip_addrs().copied().collect()))
        .collect();
    core_config.status_every = config.status_every;
    let (leader_tx, leader_rx) = tokio::sync::watch::channel(None);
    let changed = Arc::new(tokio::sync::Notify::new());
    let mut driver = Driver {
        core: LaneCore::new(core_config),
        replica,
        conns: HashMap::new(),
        endpoint: endpoint.clone(),
        lookup,
        gossip: gossip_sender,
        admitted,
        runtime: tokio::runtime::Handle::current(),
        tx: tx.clone(),
        till,
        started: Instant::now(),
        store_policy: kasir_core::lane::StorePolicy::default(),
        leader: leader_tx,
        changed: changed.clone(),
        upkeep_at: None,
        upkeep_failed: None,
    };
    tokio::spawn(crate::hq::run(crate::hq::HqDriver {
        till: hq.till,
        leader: leader_rx,
        changed: changed.clone(),
        lan: tx.clone(),
        status: hq.status,
    }));
    let listen: Vec<SocketAddr> = addr.ip_addrs().copied().collect();
    let thread = std::thread::Builder::new()
        .name("kasir-lan".into())
        .spawn(move || {
            // Replication yields the CPU to the till: on a lane's small machine a merge or a
            // newcomer's bootstrap must not slow a sale down.
            yield_to_the_till(till_core);
            driver.run(rx, local_rx, listen)
        })
        .map_err(|e| Error::Network(format!("replication thread: {e}")))?;
    Ok(LanHandle {
        tx,
        local: LocalChanges(local_tx),
        endpoint,
        router,
        thread: Some(thread),
        addr,
        runtime: None,
    })
}

/// The replication thread's state.
struct Driver {
    core: LaneCore,
    replica: Replica,
    conns: HashMap<ConnId, ConnHandle>,
    endpoint: Endpoint,
    lookup: MemoryLookup,
    gossip: Option<GossipSender>,
    admitted: Admitted,
    runtime: tokio::runtime::Handle,
    tx: mpsc::Sender<LanInput>,
    till: Arc<dyn TillLink>,
    started: Instant,
    /// When what peers sent is stored.
    store_policy: kasir_core::lane::StorePolicy,
    /// The store's leader as the core sees it (for the HQ driver).
    leader: tokio::sync::watch::Sender<Option<kasir_core::lane::Leader>>,
    /// Rung when this lane's documents changed (the HQ driver sends what waits at once).
    changed: Arc<tokio::sync::Notify>,
    /// When the lane file's housekeeping is due ([`UPKEEP_AFTER`] after the first write since
    /// the last), if anything was written.
    upkeep_at: Option<Duration>,
    /// Why the last housekeeping failed, if it did.
    upkeep_failed: Option<String>,
}

/// How long after a write the replication thread folds and checkpoints the lane file
/// (`Replica::upkeep`): at most that often while the lane file changes, never while it does
/// not. The till's housekeeping ran every 50 sales; on a lane whose peers sell flat out that is
/// every few seconds, as this is.
const UPKEEP_AFTER: Duration = Duration::from_secs(2);

impl Driver {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn run(
        &mut self,
        mut rx: mpsc::Receiver<LanInput>,
        mut local: mpsc::UnboundedReceiver<Vec<kasir_core::wire::DocName>>,
        listen: Vec<SocketAddr>,
    ) {
        self.step(Input::Started { addrs: listen });
        loop {
            // What peers sent is applied in memory as it comes and stored in batches: soon on
            // a quiet LAN, at most every `StorePolicy::EVERY` under a steady stream.
            let store_in = self
                .replica
                .has_received()
                .then(|| self.store_policy.due().saturating_sub(self.now()));
            if store_in == Some(Duration::ZERO) {
                self.store_received();
                continue;
            }
            let upkeep_in = self.upkeep_at.map(|t| t.saturating_sub(self.now()));
            if upkeep_in == Some(Duration::ZERO) {
                self.upkeep();
                continue;
            }
            let wait = self
                .core
                .next_deadline()
                .map_or(Duration::from_secs(3600), |d| d.saturating_sub(self.now()))
                .min(store_in.unwrap_or(Duration::MAX))
                .min(upkeep_in.unwrap_or(Duration::MAX));
            // The till's own changes first, then the network, then the timer.
            let next = self.runtime.block_on(async {
                tokio::select! {
                    biased;
                    Some(docs) = local.recv() => Some(LanInput::Core(Input::LocalChange { docs })),
                    m = rx.recv() => Some(m.unwrap_or(LanInput::Shutdown)),
                    () = tokio::time::sleep(wait) => None,
                }
            });
            match next {
                None => self.step(Input::Tick),
                Some(LanInput::Shutdown) => break,
                Some(LanInput::Core(input)) => {
                    if let Input::Disconnected { conn, .. } = &input {
                        self.conns.remove(conn);
                    }
                    self.step(input);
                }
                Some(LanInput::Up(conn, handle, input)) => {
                    self.conns.insert(conn, handle);
                    self.step(input);
                }
            }
        }
        for (_, c) in self.conns.drain() {
            c.conn.close(0u32.into(), b"lane stopping");
        }
    }

    /// Stores what peers sent (one batch) and tells the core.
    fn store_received(&mut self) {
        use kasir_core::lane::LaneStore;
        let now = self.now();
        let stored = match LaneStore::store_received(&mut self.replica) {
            Ok(records) => {
                self.store_policy.stored(now, records);
                Ok(LaneStore::take_changed(&mut self.replica))
            }
            Err(e) => {
                self.store_policy.stored(now, 0);
                Err(e.to_string())
            }
        };
        self.step(Input::Stored(stored));
    }

    /// The lane file's housekeeping (`Replica::upkeep`), on this thread rather than the till's.
    fn upkeep(&mut self) {
        self.upkeep_at = None;
        // Written to stderr when it starts failing or fails differently, not every time.
        let failed = self.replica.upkeep().err().map(|e| e.to_string());
        if failed.is_some() && failed != self.upkeep_failed {
            eprintln!(
                "kasir-lan: housekeeping of the lane file: {}",
                failed.as_deref().unwrap_or_default()
            );
        }
        self.upkeep_failed = failed;
    }

    /// Hands one input to the core and executes what it asks for.
    fn step(&mut self, input: Input) {
        // Documents this lane changed or stored, if the input says.
        let changed = match &input {
            Input::LocalChange { docs } | Input::Stored(Ok(docs)) => Some(docs.len()),
            _ => None,
        };
        if changed.is_some() {
            self.changed.notify_one();
        }
        if changed.is_some_and(|n| n > 0) {
            let now = self.now();
            self.upkeep_at.get_or_insert(now + UPKEEP_AFTER);
        }
        let now = self.now();
        let outputs = self.core.handle(input, now, &mut self.replica);
        for o in outputs {
            self.execute(o);
        }
        let (live, dropped) = self.replica.take_live_events();
        if !live.is_empty() || dropped > 0 {
            self.till.live(live, dropped);
        }
    }

    fn execute(&mut self, output: Output) {
        match output {
            Output::Send { peer, frame } => {
                if let Some(c) = self.core.conn_with(&peer).and_then(|c| self.conns.get(&c)) {
                    let _ = c.writer.send(frame);
                }
            }
            Output::Dial { peer, addrs } => {
                let Some(id) = endpoint_of(&peer) else {
                    return;
                };
                let mut addr = EndpointAddr::new(id);
                for a in addrs {
                    addr = addr.with_ip_addr(a);
                }
                if !addr.is_empty() {
                    self.lookup.add_endpoint_info(addr.clone());
                }
                let (endpoint, tx) = (self.endpoint.clone(), self.tx.clone());
                self.runtime.spawn(async move {
                    let me = endpoint.id();
                    let dialed = async {
                        let conn = endpoint
                            .connect(addr, SYNC_ALPN)
                            .await
                            .map_err(|e| e.to_string())?;
                        let (send, recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
                        Ok::<_, String>((conn, send, recv))
                    }
                    .await;
                    match dialed {
                        Ok((conn, send, recv)) => run_connection(conn, me, send, recv, tx).await,
                        Err(reason) => {
                            let _ = tx
                                .send(LanInput::Core(Input::DialFailed { peer, reason }))
                                .await;
                        }
                    }
                });
            }
            Output::Close { conn, reason, .. } => {
                if let Some(c) = self.conns.remove(&conn) {
                    c.conn.close(reason.code().into(), reason.text().as_bytes());
                }
            }
            Output::Announce(bytes) => {
                if let Some(g) = self.gossip.clone() {
                    self.runtime.spawn(async move {
                        let _ = g.broadcast(bytes::Bytes::from(bytes)).await;
                    });
                }
            }
            Output::JoinGossip(peers) => {
                let ids: Vec<EndpointId> = peers.iter().filter_map(endpoint_of).collect();
                if let (Some(g), false) = (self.gossip.clone(), ids.is_empty()) {
                    self.runtime.spawn(async move {
                        let _ = g.join_peers(ids).await;
                    });
                }
            }
            Output::Admitted(set) => {
                if let Ok(mut a) = self.admitted.write() {
                    *a = set.iter().filter_map(endpoint_of).collect();
                }
            }
            Output::Event(e) => {
                if let LaneEvent::Leader(l) = &e {
                    self.leader.send_replace(l.clone());
                }
                self.till.lane_event(e);
            }
        }
    }
}

#[derive(Debug, Clone)]
struct SyncHandler {
    admitted: Admitted,
    tx: mpsc::Sender<LanInput>,
}

/// Closes (and reports) a connection from a node that is not an admitted member.
async fn admit(
    admitted: &Admitted,
    tx: &mpsc::Sender<LanInput>,
    conn: &Connection,
    what: &str,
) -> bool {
    let remote = conn.remote_id();
    if is_admitted(admitted, &remote) {
        return true;
    }
    let reason = kasir_core::lane::CloseReason::NotAMember;
    conn.close(reason.code().into(), reason.text().as_bytes());
    let _ = tx
        .send(LanInput::Core(Input::Refused(format!(
            "{what} connection from non-member {remote}"
        ))))
        .await;
    false
}

impl ProtocolHandler for SyncHandler {
    async fn accept(&self, conn: Connection) -> std::result::Result<(), AcceptError> {
        let remote = conn.remote_id();
        if !admit(&self.admitted, &self.tx, &conn, "sync").await {
            return Ok(());
        }
        let Ok((send, recv)) = conn.accept_bi().await else {
            return Ok(());
        };
        run_connection(conn, remote, send, recv, self.tx.clone()).await;
        Ok(())
    }
}

/// Gossip, for members only.
#[derive(Debug, Clone)]
struct MembersOnly {
    admitted: Admitted,
    inner: Gossip,
    tx: mpsc::Sender<LanInput>,
}

impl ProtocolHandler for MembersOnly {
    async fn accept(&self, conn: Connection) -> std::result::Result<(), AcceptError> {
        if !admit(&self.admitted, &self.tx, &conn, "gossip").await {
            return Ok(());
        }
        self.inner.accept(conn).await
    }

    async fn shutdown(&self) {
        ProtocolHandler::shutdown(&self.inner).await;
    }
}

#[derive(Clone)]
struct EnrollHandler {
    till: Arc<dyn TillLink>,
}

impl std::fmt::Debug for EnrollHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrollHandler")
    }
}

impl ProtocolHandler for EnrollHandler {
    async fn accept(&self, conn: Connection) -> std::result::Result<(), AcceptError> {
        let node = conn.remote_id();
        let Ok(Ok((mut send, mut recv))) =
            tokio::time::timeout(Duration::from_secs(5), conn.accept_bi()).await
        else {
            return Ok(());
        };
        let mut secret = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), recv.read_exact(&mut secret)).await;
        let answer = if matches!(read, Ok(Ok(()))) {
            match self.till.redeem(secret, node.to_string()).await {
                Ok(r) => r,
                Err(_) => Err("the lane is stopping".into()),
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

/// Runs one connection: reports it up, writes queued frames, reads frames until it ends.
async fn run_connection(
    conn: Connection,
    dialer: EndpointId,
    mut send: iroh::endpoint::SendStream,
    mut recv: iroh::endpoint::RecvStream,
    tx: mpsc::Sender<LanInput>,
) {
    let peer = peer_of(&conn.remote_id());
    let id = CONN_IDS.fetch_add(1, Ordering::Relaxed);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let up = Input::Connected {
        peer: peer.clone(),
        conn: id,
        dialer: peer_of(&dialer),
        remote: remote_ip(&conn),
    };
    let handle = ConnHandle {
        conn: conn.clone(),
        writer: out_tx,
    };
    if tx.send(LanInput::Up(id, handle, up)).await.is_err() {
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
            let _ = tx
                .send(LanInput::Core(Input::Refused(format!(
                    "{}: frame of {n} bytes",
                    peer.0
                ))))
                .await;
            conn.close(2u32.into(), b"frame too large");
            break;
        }
        let mut frame = vec![0u8; n];
        if recv.read_exact(&mut frame).await.is_err() {
            break;
        }
        let input = Input::Frame {
            peer: peer.clone(),
            bytes: frame,
        };
        if tx.send(LanInput::Core(input)).await.is_err() {
            break;
        }
    }
    writer.abort();
    let _ = tx
        .send(LanInput::Core(Input::Disconnected { peer, conn: id }))
        .await;
}
