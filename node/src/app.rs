//! The one API screens use: a [`Node`] handle. Commands go in ([`Command`]: log in, scan, set
//! a quantity, pay, refund, open and close a shift, …); a watchable [`View`] comes out
//! (session, cart with totals and live stock, last receipt, watched stock, peers, HQ backlog,
//! the last error in words a cashier understands), plus a stream of [`NodeEvent`]s.
//!
//! ```no_run
//! use kasir_node::app::{Command, Node, NodeOptions};
//! use kasir_node::schema::{Decimal, payment::Tender};
//!
//! # fn main() -> kasir_node::Result<()> {
//! let node = Node::open("lane.db", NodeOptions::default())?;
//! node.execute(Command::Login { username: "siti".into(), pin: "1234".into() })?;
//! node.execute(Command::Scan { code: "8998866200301".into() })?;
//! println!("{}", node.view().cart.totals.total_amount);
//! let receipt = node.pay(vec![Tender::cash(Decimal::from(50_000))])?;
//! println!("{}", receipt.to_text(42));
//! # Ok(()) }
//! ```
//!
//! Behind the handle, the till engine (`kasir_core::Till`) lives on a thread of its own and is
//! never reached otherwise: no SQL and no Automerge type crosses this API. When the lane joins
//! the store LAN ([`Node::join_lan`]), replication runs on another thread with its own handle on
//! the lane file (`kasir_core::Replica`), so a sale or a scan never waits behind a peer: the
//! till's writes go first, and nothing on the till's thread awaits the network.

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kasir_core::auth::{Approval, AuthParams, NewUser, UserRow};
use kasir_core::cart::ParkedCart;
use kasir_core::catalog::{CategoryView, ProductView};
use kasir_core::customers::{CustomerView, NewCustomer};
use kasir_core::docs::Origin;
use kasir_core::lane::{LaneEvent, PeerStatus};
use kasir_core::live::LiveEvent;
use kasir_core::members::{Member, Ticket};
use kasir_core::receipt::Receipt;
use kasir_core::returns::{ReturnItem, ReturnRecord};
use kasir_core::schema::Decimal;
use kasir_core::schema::checkout::{Discount, Totals};
use kasir_core::schema::domain::{
    Category, Customer, CustomerId, MovementId, Product, Sale, SaleUnit, ShiftId, StockMovement,
};
use kasir_core::schema::payment::Tender;
use kasir_core::schema::roles::{Permission, Role};
use kasir_core::schema::txn_number::LaneNo;
use kasir_core::shift::{CashMove, ShiftReport};
use kasir_core::{
    Counts, Diagnostics, Env, NodeError, Priority, Replica, Till, TillOptions, WriteGate,
};
use tokio::sync::{broadcast, oneshot, watch};

use crate::error::{Error, Result};

mod commands;
use crate::lan::{LanConfig, LanHandle, TillLink};

/// How a node opens its lane.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Clock and randomness (the system's by default).
    pub env: Env,
    /// PIN hashing and lockout.
    pub auth: AuthParams,
    /// Housekeeping (document compaction, WAL checkpoint) after this many sales, when the till
    /// is idle.
    pub maintenance_every: u32,
    /// A CPU core is kept for the till's thread: replication and the LAN's threads keep off
    /// it, when the machine has two or more ([`crate::cpu`]). On for a till; off where one
    /// process runs several lanes (the demo store, tests), which would all share that one core.
    pub own_core: bool,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            env: crate::env::system(),
            auth: AuthParams::default(),
            maintenance_every: 50,
            own_core: true,
        }
    }
}

/// What a screen can ask the till to do. Each is one action of a cashier, supervisor or
/// manager; its effect shows in the [`View`], its result comes back as an [`Outcome`].
#[derive(Debug, Clone)]
pub enum Command {
    /// First start of a lane: the store, this lane's number and the first manager.
    SetUp {
        config: Box<kasir_core::schema::domain::StoreConfig>,
        lane: LaneNo,
        manager: NewUser,
    },
    Login {
        username: String,
        pin: String,
    },
    Logout,
    /// A supervisor or manager approves one guarded action with their PIN.
    Approve {
        username: String,
        pin: String,
        permission: Permission,
    },
    OpenShift {
        float: Decimal,
    },
    CashMove {
        kind: CashMove,
        amount: Decimal,
        reason: String,
        approval: Option<Approval>,
    },
    XReport {
        approval: Option<Approval>,
    },
    CloseShift {
        counted: Decimal,
        approval: Option<Approval>,
    },
    /// What the scanner (or the keyboard wedge) read: a barcode, a scale label, a SKU.
    Scan {
        code: String,
    },
    AddSku {
        sku: String,
        quantity: Decimal,
    },
    /// A line's quantity as typed (`3`, `1,25`).
    SetQuantity {
        line: usize,
        typed: String,
    },
    RemoveLine {
        line: usize,
    },
    SetLineDiscount {
        line: usize,
        discount: Option<Discount>,
        approval: Option<Approval>,
    },
    SetTransactionDiscount {
        discount: Option<Discount>,
        approval: Option<Approval>,
    },
    OverridePrice {
        line: usize,
        price: Decimal,
        approval: Option<Approval>,
    },
    AttachCustomer {
        id: CustomerId,
    },
    DetachCustomer,
    RedeemPoints {
        points: i64,
    },
    VoidCart {
        approval: Option<Approval>,
    },
    /// The receipt of sale `number` printed again (a copy): logged with who printed it.
    Reprint {
        number: String,
    },
    /// Open the cash drawer without a sale, with the reason (a supervisor's act).
    NoSale {
        reason: String,
        approval: Option<Approval>,
    },
    ParkCart {
        label: String,
    },
    RecallCart {
        id: i64,
    },
    Pay {
        tenders: Vec<Tender>,
    },
    /// Refund by the transaction number on the receipt.
    Refund {
        number: String,
        items: Vec<ReturnItem>,
        method: kasir_core::schema::payment::PaymentMethod,
        reason: Option<String>,
        approval: Option<Approval>,
    },
    CreateCustomer(NewCustomer),
    ReceiveStock {
        sku: String,
        quantity: Decimal,
        notes: Option<String>,
        approval: Option<Approval>,
    },
    /// A stock count: the difference to what the till believes becomes one adjustment.
    CountStock {
        sku: String,
        counted: Decimal,
        notes: Option<String>,
        approval: Option<Approval>,
    },
    SetStorePrice {
        sku: String,
        price: Decimal,
        approval: Option<Approval>,
    },
    CreateUser {
        user: NewUser,
        approval: Option<Approval>,
    },
    SetUserActive {
        username: String,
        active: bool,
        approval: Option<Approval>,
    },
    /// Products, categories and customers from HQ (or a store's own import).
    ImportProducts(Vec<Product>),
    ImportCategories(Vec<Category>),
    ImportCustomers(Vec<Customer>),
    /// Sales committed elsewhere (another system's history, benchmarks).
    ImportSales(Vec<Sale>),
    /// An HQ adjustment or transfer, applied once chain-wide by its id.
    ApplyHqMovement(Box<StockMovement>),
    /// A one-time ticket enrolling a new till as lane `lane` (needs the LAN).
    IssueEnrollmentTicket {
        lane: LaneNo,
        valid_for: Duration,
    },
    /// Removes an enrolled lane (by node id) from the store.
    RemoveLane {
        node: String,
    },
    /// Connects the store to HQ: its address and the credential HQ issued for the store
    /// (`POST /api/stores/{id}/devices`). Entered on one lane, it reaches every lane; a new
    /// one replaces it. A manager's act.
    ConnectHq(kasir_core::hq::HqCredential),
    /// Products whose stock the screen shows live (besides the cart's).
    Watch {
        skus: Vec<String>,
    },
    /// The cashier read the error; clear it from the view.
    DismissError,
    /// Housekeeping now (normally done after sales, when idle).
    Maintenance,
}

/// What a [`Command`] returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    /// The cart line a scan or an added SKU went to.
    Line(usize),
    Approval(Approval),
    Shift(ShiftId),
    Report(Box<ShiftReport>),
    Receipt(Box<Receipt>),
    Return(Box<ReturnRecord>),
    Customer(Box<CustomerView>),
    Movement(Option<MovementId>),
    Parked(i64),
    User(i64),
    Count(usize),
    /// An HQ movement: whether it was new on this lane.
    Applied(bool),
    Ticket(Box<Ticket>),
    /// Documents compacted by housekeeping.
    Compacted(usize),
}

/// The store as the screens show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    pub code: String,
    pub name: String,
    pub lane: u16,
    pub tax_rate: Decimal,
    pub tax_inclusive: bool,
    pub cash_increment: Decimal,
    pub cashier_discount_limit_percent: Decimal,
    /// What one loyalty point is worth when redeemed.
    pub loyalty_point_value: Decimal,
}

/// Who is logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub user_id: i64,
    pub username: String,
    pub full_name: String,
    pub role: Role,
}

/// One cart line with what the screen shows beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLineView {
    pub sku: String,
    pub name: String,
    pub unit: SaleUnit,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub discount: Option<Discount>,
    /// The line's total after its discount.
    pub total: Decimal,
    pub price_overridden: bool,
    /// The store's stock of the product right now (every lane's sales included).
    pub stock: Decimal,
    /// Fewer in stock than on this line (sold elsewhere meanwhile, or miscounted).
    pub short: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CartView {
    pub lines: Vec<CartLineView>,
    /// Totals as the receipt will show them (tax, discounts, before cash rounding).
    pub totals: Totals,
    /// What cash payment would take after the store's cash rounding.
    pub cash_due: Decimal,
    pub customer: Option<CustomerView>,
    pub redeem_points: i64,
}

/// A product's stock as this lane knows it, updated live as any lane sells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockView {
    pub sku: String,
    pub name: String,
    pub stock: Decimal,
    pub min_stock: Decimal,
    /// Who moved it last, if seen since start (this lane, another lane, or HQ).
    pub last_moved_by: Option<Origin>,
}

/// A peer lane as the status bar and the manager's screen show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    pub lane: Option<u16>,
    pub node: String,
    pub connected: bool,
    /// Documents not yet the same on both lanes, and for how long.
    pub behind_docs: usize,
    pub behind_for: Option<Duration>,
    pub last_heard: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LanView {
    /// The lane is on the store network.
    pub running: bool,
    pub node: Option<String>,
    pub peers: Vec<PeerView>,
    /// Peers connected right now.
    pub connected: usize,
    /// The lane that forwards to HQ (once the store has a leader).
    pub leader: Option<u16>,
}

/// Everything a till screen shows, as of one moment. Published after every command and every
/// change that arrived from another lane; watch it with [`Node::watch`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct View {
    /// Grows with every published view.
    pub seq: u64,
    pub store: Option<StoreInfo>,
    pub session: Option<SessionInfo>,
    pub shift: Option<ShiftId>,
    pub cart: CartView,
    pub parked: usize,
    pub last_receipt: Option<Receipt>,
    /// The last command's error, as a sentence for the cashier.
    pub last_error: Option<String>,
    /// Products the screen asked to watch ([`Command::Watch`]).
    pub watched: Vec<StockView>,
    pub lan: LanView,
    /// Records not yet confirmed by HQ.
    pub hq_backlog: i64,
    /// The HQ side: leader, last upload, last error (once the lane is on the LAN).
    pub hq: crate::hq::HqStatus,
}

/// Everything a lane reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// A committed change: stock of a SKU and who moved it, a sale stored.
    Live(LiveEvent),
    /// From the LAN: peers up and down, documents changed by peers, peer status, refusals.
    Lan(LaneEvent),
    /// A new till redeemed a ticket here and is now a member.
    Enrolled { node: String, lane: u16 },
    /// Live events were dropped because nobody drained them.
    LiveDropped(u64),
    /// Something the till could not finish in the background (housekeeping, a sale's
    /// projections); it retries, and says so here.
    Warning(String),
}

type Job = Box<dyn FnOnce(&mut Engine) + Send>;

enum Message {
    Job(Job),
    Stop,
}

/// A handle on one lane. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: std_mpsc::Sender<Message>,
    view: watch::Receiver<Arc<View>>,
    events: broadcast::Sender<NodeEvent>,
    path: PathBuf,
    options: NodeOptions,
    lan: tokio::sync::Mutex<Option<LanHandle>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    hq: Mutex<Option<watch::Receiver<crate::hq::HqStatus>>>,
    /// The core kept for the till's thread, when there is one ([`NodeOptions::own_core`]).
    till_core: Option<usize>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("path", &self.path).finish()
    }
}

impl Node {
    /// Opens the lane's database at `path` (created when missing) and starts its till thread.
    pub fn open(path: impl AsRef<Path>, options: NodeOptions) -> Result<Node> {
        let path = path.as_ref().to_path_buf();
        let till = Till::open(
            &path,
            TillOptions {
                env: options.env.clone(),
                auth: options.auth,
            },
        )?;
        let (jobs, rx) = std_mpsc::channel();
        let (view_tx, view) = watch::channel(Arc::new(View::default()));
        let (events, _) = broadcast::channel(16_384);
        let mut engine = Engine {
            till,
            view: view_tx,
            events: events.clone(),
            lan: None,
            lan_view: LanView::default(),
            last_receipt: None,
            last_error: None,
            watched: Vec::new(),
            moved_by: std::collections::HashMap::new(),
            backlog: 0,
            backlog_at: None,
            hq: None,
            seq: 0,
            sales_since_maintenance: 0,
            maintenance_every: options.maintenance_every,
            unsettled: false,
        };
        engine.publish();
        let till_core = if options.own_core {
            crate::cpu::choose()
        } else {
            None
        };
        let thread = std::thread::Builder::new()
            .name("kasir-till".into())
            .spawn(move || engine.run(rx))
            .map_err(|e| Error::Network(format!("till thread: {e}")))?;
        Ok(Node {
            inner: Arc::new(Inner {
                jobs,
                view,
                events,
                path,
                options,
                lan: tokio::sync::Mutex::new(None),
                thread: Mutex::new(Some(thread)),
                hq: Mutex::new(None),
                till_core,
            }),
        })
    }

    /// Runs `f` on the till's thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> T + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std_mpsc::sync_channel(1);
        let job: Job = Box::new(move |e| {
            let answer = f(e);
            // The view reflects the command before its caller hears back.
            e.after();
            let _ = tx.send(answer);
            // A sale's projections are written once the receipt is on its way.
            e.settle();
        });
        self.inner
            .jobs
            .send(Message::Job(job))
            .map_err(|_| Error::Stopped)?;
        rx.recv().map_err(|_| Error::Stopped)
    }

    /// [`Node::call`] for a query: the last sale's projections are written first if a merge
    /// held them up (`Engine::settle_now`), so that what it reads includes that sale.
    fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> T + Send + 'static,
    ) -> Result<T> {
        self.call(move |e| {
            e.settle_now();
            f(e)
        })
    }

    /// Carries out a command and waits for it. Its error (if any) is also in the view.
    pub fn execute(&self, command: Command) -> Result<Outcome> {
        self.call(move |e| e.execute(command))?
    }

    /// Carries out a command without waiting; its error shows in [`View::last_error`].
    pub fn submit(&self, command: Command) {
        let job: Job = Box::new(move |e| {
            let _ = e.execute(command);
            e.after();
            e.settle();
        });
        let _ = self.inner.jobs.send(Message::Job(job));
    }

    /// Takes payment for the open cart ([`Command::Pay`]) and returns the receipt.
    pub fn pay(&self, tenders: Vec<Tender>) -> Result<Receipt> {
        match self.execute(Command::Pay { tenders })? {
            Outcome::Receipt(r) => Ok(*r),
            other => Err(unexpected(&other)),
        }
    }

    /// Approves `permission` with a supervisor's or manager's PIN ([`Command::Approve`]).
    pub fn approve(&self, username: &str, pin: &str, permission: Permission) -> Result<Approval> {
        match self.execute(Command::Approve {
            username: username.into(),
            pin: pin.into(),
            permission,
        })? {
            Outcome::Approval(a) => Ok(a),
            other => Err(unexpected(&other)),
        }
    }

    /// The CPU core kept free of replication for the till's thread, if any
    /// ([`NodeOptions::own_core`]).
    pub fn till_core(&self) -> Option<usize> {
        self.inner.till_core
    }

    /// The latest view.
    pub fn view(&self) -> Arc<View> {
        self.inner.view.borrow().clone()
    }

    /// A receiver that wakes when a new view is published.
    pub fn watch(&self) -> watch::Receiver<Arc<View>> {
        self.inner.view.clone()
    }

    /// Every event from now on (a receiver that falls behind by 16k events loses the oldest).
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.events.subscribe()
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    // Queries: answered on the till's thread from the lane's projections, the last sale's
    // included (`Node::query`).

    pub fn is_set_up(&self) -> Result<bool> {
        self.query(|e| e.till.is_set_up())
    }

    pub fn product(&self, sku: &str) -> Result<Option<ProductView>> {
        let sku = sku.to_string();
        Ok(self.query(move |e| e.till.product(&sku))??)
    }

    /// Products by name (substring, trigram index), SKU prefix or barcode, for search-as-you-type.
    pub fn search_products(&self, query: &str, limit: usize) -> Result<Vec<ProductView>> {
        let q = query.to_string();
        Ok(self.query(move |e| e.till.search_products(&q, limit))??)
    }

    /// The first `limit` products for sale, by SKU.
    pub fn active_products(&self, limit: usize) -> Result<Vec<ProductView>> {
        Ok(self.query(move |e| e.till.active_products(limit))??)
    }

    /// Customers by phone (any format), member code or name.
    pub fn find_customers(&self, query: &str, limit: usize) -> Result<Vec<CustomerView>> {
        let q = query.to_string();
        Ok(self.query(move |e| e.till.find_customers(&q, limit))??)
    }

    pub fn customer(&self, id: CustomerId) -> Result<Option<CustomerView>> {
        Ok(self.query(move |e| e.till.customer(id))??)
    }

    pub fn categories(&self) -> Result<Vec<CategoryView>> {
        Ok(self.query(|e| e.till.categories())??)
    }

    pub fn parked_carts(&self) -> Result<Vec<ParkedCart>> {
        Ok(self.query(|e| e.till.parked_carts())??)
    }

    /// A committed sale by the transaction number on its receipt (a refund's first step).
    pub fn sale(&self, number: &str) -> Result<kasir_core::schema::domain::Sale> {
        let n = number.to_string();
        Ok(self.query(move |e| e.till.sale_by_number(&n))??)
    }

    /// What can still be returned of each line of a sale: (line, quantity).
    pub fn returnable(&self, number: &str) -> Result<Vec<(u16, Decimal)>> {
        let n = number.to_string();
        Ok(self.query(move |e| e.till.returnable(&n))??)
    }

    pub fn users(&self) -> Result<Vec<UserRow>> {
        Ok(self.query(|e| e.till.users())??)
    }

    /// Every lane the store enrolled, removed ones included.
    pub fn lanes(&self) -> Result<Vec<Member>> {
        Ok(self.query(|e| e.till.lan_members())??)
    }

    /// Products sold below zero (oversold while lanes were apart, or miscounted).
    pub fn oversold(&self) -> Result<Vec<ProductView>> {
        Ok(self.query(|e| e.till.oversold_products())??)
    }

    /// The lane's books for a health screen and for comparing lanes.
    pub fn diagnostics(&self) -> Result<Diagnostics> {
        Ok(self.query(|e| e.till.diagnostics())??)
    }

    /// Documents and row counts without the conservation checks, for comparing lanes often.
    pub fn counts(&self) -> Result<Counts> {
        Ok(self.query(|e| e.till.counts())??)
    }

    /// The store code, once set up.
    pub fn store_code(&self) -> Result<Option<String>> {
        self.call(|e| e.till.store_code())
    }

    /// Joins the store LAN: starts the endpoint and the replication thread with a second
    /// handle on the lane file. Needs a tokio runtime. Returns this lane's node id.
    pub async fn join_lan(&self, config: LanConfig) -> Result<String> {
        let mut slot = self.inner.lan.lock().await;
        if slot.is_some() {
            return Err(Error::AlreadyOnLan);
        }
        let node = config.secret_key.public().to_string();
        let gate = WriteGate::new();
        let gate_for_hq = gate.clone();
        let (store, node_for_till, gate_for_till) = (
            self.call(|e| e.till.store_code())?,
            node.clone(),
            gate.clone(),
        );
        let store = store.ok_or(Error::Engine(NodeError::NotInitialized))?;
        self.call(move |e| -> Result<()> {
            e.till.share_writes(gate_for_till, Priority::Till);
            e.till.enroll_self(&node_for_till)?;
            e.till.watch_live()?;
            e.lan_view.running = true;
            e.lan_view.node = Some(node_for_till);
            e.publish();
            Ok(())
        })??;
        let replica = Replica::open(
            &self.inner.path,
            TillOptions {
                env: self.inner.options.env.clone(),
                auth: self.inner.options.auth,
            },
            gate,
        )?;
        let mut replica = replica;
        replica.watch_live()?;
        // The replication thread folds and checkpoints the lane file (most of it is merged
        // sales); the till's housekeeping keeps to the ledger file.
        replica.keep_lane_file();
        // The HQ driver's own handle: its writes (confirmations) wait for the till's.
        let hq_till = kasir_core::handles::open_background(
            &self.inner.path,
            TillOptions {
                env: self.inner.options.env.clone(),
                auth: self.inner.options.auth,
            },
            gate_for_hq,
        )?;
        let (hq_status, hq_watch) = watch::channel(crate::hq::HqStatus::default());
        self.inner
            .hq
            .lock()
            .map(|mut w| *w = Some(hq_watch.clone()))
            .ok();
        self.call(move |e| e.hq = Some(hq_watch))?;
        let link: Arc<dyn TillLink> = Arc::new(Link {
            jobs: self.inner.jobs.clone(),
            events: self.inner.events.clone(),
            notices: Arc::default(),
        });
        let hq = crate::lan::HqParts {
            till: hq_till,
            status: hq_status,
        };
        let handle =
            crate::lan::start(replica, hq, &store, config, link, self.inner.till_core).await?;
        let (local, addrs) = (handle.local_sender(), handle.listen_addrs());
        self.call(move |e| {
            e.lan = Some(LanLink {
                local,
                node: e.lan_view.node.clone().unwrap_or_default(),
                addrs,
            });
        })?;
        *slot = Some(handle);
        Ok(node)
    }

    /// The HQ side as of now: leader, backlog is in the view; last upload, last error here.
    pub fn hq_status(&self) -> crate::hq::HqStatus {
        self.inner
            .hq
            .lock()
            .ok()
            .and_then(|w| w.as_ref().map(|r| r.borrow().clone()))
            .unwrap_or_default()
    }

    /// Records not yet confirmed by HQ, counted now.
    pub fn hq_backlog(&self) -> Result<i64> {
        Ok(self.call(|e| e.till.outbox_waiting())??)
    }

    /// This lane's addresses on the LAN (what a ticket carries), when it has joined.
    pub async fn lan_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.inner
            .lan
            .lock()
            .await
            .as_ref()
            .map(LanHandle::listen_addrs)
            .unwrap_or_default()
    }

    /// UDP bytes this lane sent on the LAN since it joined.
    pub async fn udp_bytes_sent(&self) -> u64 {
        self.inner
            .lan
            .lock()
            .await
            .as_ref()
            .map_or(0, LanHandle::udp_bytes_sent)
    }

    /// Leaves the LAN (if joined) and stops the till thread. Other clones stop working.
    pub async fn shutdown(&self) {
        if let Some(mut lan) = self.inner.lan.lock().await.take() {
            lan.shutdown().await;
        }
        self.stop_till();
    }

    fn stop_till(&self) {
        let _ = self.inner.jobs.send(Message::Stop);
        if let Some(t) = self.inner.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }

    /// Stops the till thread (for a node that never joined the LAN, without a runtime).
    pub fn close(&self) {
        self.stop_till();
    }
}

fn unexpected(o: &Outcome) -> Error {
    Error::Engine(NodeError::Corrupt(format!("unexpected answer {o:?}")))
}

/// How the replication thread reaches the till's thread. What it reports for the view (live
/// changes, peer status) is gathered here and handed over by one job at a time, however many
/// merges happened meanwhile, so the till's queue never fills with replication work.
struct Link {
    jobs: std_mpsc::Sender<Message>,
    events: broadcast::Sender<NodeEvent>,
    notices: Arc<Mutex<Notices>>,
}

#[derive(Debug, Default)]
struct Notices {
    live: Vec<LiveEvent>,
    peers: Option<Vec<PeerStatus>>,
    /// A job to take these is queued on the till's thread.
    scheduled: bool,
}

impl Link {
    fn notify(&self, add: impl FnOnce(&mut Notices)) {
        let mut n = self.notices.lock().unwrap_or_else(|e| e.into_inner());
        add(&mut n);
        if n.scheduled {
            return;
        }
        n.scheduled = true;
        let notices = self.notices.clone();
        let job: Job = Box::new(move |e| {
            let taken = {
                let mut n = notices.lock().unwrap_or_else(|e| e.into_inner());
                n.scheduled = false;
                std::mem::take(&mut *n)
            };
            e.stock_moved(&taken.live);
            if let Some(p) = &taken.peers {
                e.peers(p);
            }
            e.after();
        });
        let _ = self.jobs.send(Message::Job(job));
    }
}

impl TillLink for Link {
    fn redeem(&self, secret: [u8; 16], node: String) -> oneshot::Receiver<Result<u16, String>> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |e| {
            let r = e
                .till
                .redeem_enrollment_ticket(&secret, &node)
                .map_err(|x| x.to_string());
            if let Ok(lane) = &r {
                let _ = e.events.send(NodeEvent::Enrolled {
                    node: node.clone(),
                    lane: *lane,
                });
            } else if let Err(why) = &r {
                let _ = e.events.send(NodeEvent::Lan(LaneEvent::Refused(format!(
                    "enrollment by {node}: {why}"
                ))));
            }
            e.after();
            let _ = tx.send(r);
        });
        let _ = self.jobs.send(Message::Job(job));
        rx
    }

    fn lane_event(&self, event: LaneEvent) {
        if let LaneEvent::Peers(peers) = &event {
            let peers = peers.clone();
            self.notify(|n| n.peers = Some(peers));
        }
        let _ = self.events.send(NodeEvent::Lan(event));
    }

    fn live(&self, events: Vec<LiveEvent>, dropped: u64) {
        for ev in &events {
            let _ = self.events.send(NodeEvent::Live(ev.clone()));
        }
        if dropped > 0 {
            let _ = self.events.send(NodeEvent::LiveDropped(dropped));
        }
        self.notify(|n| n.live.extend(events));
    }
}

/// What the till's thread knows of the LAN.
struct LanLink {
    local: crate::lan::LocalChanges,
    node: String,
    addrs: Vec<std::net::SocketAddr>,
}

/// The till's thread: the engine and what the view needs beyond it.
/// How soon the till tries again to write a sale's projections that found a merge writing
/// the lane file (`Engine::settle`).
const SETTLE_RETRY: Duration = Duration::from_millis(1);

struct Engine {
    till: Till,
    view: watch::Sender<Arc<View>>,
    events: broadcast::Sender<NodeEvent>,
    lan: Option<LanLink>,
    lan_view: LanView,
    last_receipt: Option<Receipt>,
    last_error: Option<String>,
    watched: Vec<String>,
    moved_by: std::collections::HashMap<String, Origin>,
    backlog: i64,
    backlog_at: Option<Instant>,
    /// What the HQ driver reports (once on the LAN).
    hq: Option<watch::Receiver<crate::hq::HqStatus>>,
    seq: u64,
    sales_since_maintenance: u32,
    maintenance_every: u32,
    /// The last sale's projections wait for a merge in progress to end (`Engine::settle`).
    unsettled: bool,
}

impl Engine {
    fn run(&mut self, rx: std_mpsc::Receiver<Message>) {
        loop {
            // While the last sale's projections wait for a merge to end, look again every
            // millisecond; otherwise housekeeping once a second.
            let wait = if self.unsettled {
                SETTLE_RETRY
            } else {
                Duration::from_secs(1)
            };
            let message = match rx.recv_timeout(wait) {
                Ok(m) => m,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    if self.unsettled {
                        self.settle();
                    } else {
                        self.idle();
                    }
                    continue;
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
            };
            match message {
                Message::Stop => break,
                Message::Job(job) => job(self),
            }
            // Housekeeping only when nobody is waiting.
            if self.sales_since_maintenance >= self.maintenance_every
                && self.till.cart().is_empty()
                && !self.unsettled
            {
                self.idle();
            }
        }
        // What is still unprojected is durable in the ledger file: written now if the file
        // is free, else at the next start (`Till::open`).
        if self.unsettled {
            self.settle();
        }
    }

    /// After every job: offer what changed to the peers, report live changes, publish.
    fn after(&mut self) {
        let docs = self.till.take_changed_documents();
        if let (Some(lan), false) = (&self.lan, docs.is_empty()) {
            lan.local.send(docs);
        }
        let (live, dropped) = self.till.take_live_events();
        for ev in &live {
            let _ = self.events.send(NodeEvent::Live(ev.clone()));
        }
        if dropped > 0 {
            let _ = self.events.send(NodeEvent::LiveDropped(dropped));
        }
        self.note_moves(&live);
        self.publish();
    }

    /// Writes the projections of the sale just committed (stock, the sale's rows, loyalty, the
    /// outbox) and publishes the view again. When a merge is writing the lane file, it does not
    /// wait for it (the sale is durable already, and the cashier may be scanning the next
    /// customer's items): the till keeps its place at the file and `Engine::run` tries again
    /// every millisecond until it is written. What reads them first waits for them
    /// (`Engine::settle_now`).
    fn settle(&mut self) {
        self.project(false);
    }

    /// [`Engine::settle`], waiting for a merge in progress if it must: before a command or a
    /// read that reads the projections (a customer's points, a sale's rows, the counts).
    fn settle_now(&mut self) {
        if self.unsettled {
            self.project(true);
        }
    }

    fn project(&mut self, wait: bool) {
        let done = if wait {
            self.till.project_pending().map(Some)
        } else {
            self.till.try_project_pending()
        };
        match done {
            Ok(None) => self.unsettled = true,
            Ok(Some(0)) => self.unsettled = false,
            Ok(Some(_)) => {
                self.unsettled = false;
                self.after();
            }
            Err(e) => {
                // The sale is durable; its projections are retried with the next write and
                // at the next start.
                self.unsettled = false;
                let _ = self
                    .events
                    .send(NodeEvent::Warning(format!("projecting the last sale: {e}")));
            }
        }
    }

    fn idle(&mut self) {
        if self.sales_since_maintenance > 0 && self.till.cart().is_empty() {
            self.sales_since_maintenance = 0;
            if let Err(e) = self.till.maintenance() {
                let _ = self
                    .events
                    .send(NodeEvent::Warning(format!("housekeeping: {e}")));
            }
        }
        if self
            .backlog_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.publish();
        }
    }

    fn note_moves(&mut self, live: &[LiveEvent]) {
        for ev in live {
            if let LiveEvent::StockChanged { sku, from, .. } = ev {
                self.moved_by.insert(sku.clone(), *from);
            }
        }
    }

    fn stock_moved(&mut self, live: &[LiveEvent]) {
        self.note_moves(live);
    }

    fn peers(&mut self, peers: &[PeerStatus]) {
        self.lan_view.peers = peers
            .iter()
            .map(|p| PeerView {
                lane: p.lane,
                node: p.peer.0.clone(),
                connected: p.connected,
                behind_docs: p.pending_docs,
                behind_for: p.behind_for,
                last_heard: p.last_heard,
            })
            .collect();
        self.lan_view.connected = peers.iter().filter(|p| p.connected).count();
    }

    /// Builds the view from the till and publishes it.
    fn publish(&mut self) {
        let hq = self
            .hq
            .as_ref()
            .map(|r| r.borrow().clone())
            .unwrap_or_default();
        if self
            .backlog_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.backlog = self.till.outbox_waiting().unwrap_or(self.backlog);
            self.backlog_at = Some(Instant::now());
        }
        self.seq += 1;
        let view = View {
            seq: self.seq,
            store: self.store_info(),
            session: self.till.session().ok().map(|s| SessionInfo {
                user_id: s.user_id,
                username: s.username.clone(),
                full_name: s.full_name.clone(),
                role: s.role,
            }),
            shift: self.till.current_shift().ok().flatten(),
            cart: self.cart_view(),
            parked: self.till.parked_count().unwrap_or(0),
            last_receipt: self.last_receipt.clone(),
            last_error: self.last_error.clone(),
            watched: self
                .watched
                .iter()
                .filter_map(|sku| {
                    let p = self.till.product(sku).ok().flatten()?;
                    Some(StockView {
                        last_moved_by: self.moved_by.get(sku).copied(),
                        sku: p.sku,
                        name: p.name,
                        stock: p.stock,
                        min_stock: p.min_stock,
                    })
                })
                .collect(),
            lan: LanView {
                leader: hq.leader,
                ..self.lan_view.clone()
            },
            hq_backlog: self.backlog,
            hq,
        };
        self.view.send_replace(Arc::new(view));
    }

    fn store_info(&self) -> Option<StoreInfo> {
        let c = self.till.config().ok()?;
        Some(StoreInfo {
            code: c.code.to_string(),
            name: c.name.clone(),
            lane: self.till.lane().ok()?.get(),
            tax_rate: c.tax.rate.percent(),
            tax_inclusive: matches!(c.tax.mode, kasir_core::schema::tax::PriceMode::TaxInclusive),
            cash_increment: c.cash_increment.get(),
            cashier_discount_limit_percent: c.cashier_discount_limit_percent,
            loyalty_point_value: c.loyalty_point_value,
        })
    }

    fn cart_view(&self) -> CartView {
        let cart = self.till.cart();
        let Ok(totals) = self.till.cart_totals() else {
            return CartView::default();
        };
        let lines = cart
            .lines
            .iter()
            .zip(&totals.lines)
            .map(|(l, t)| {
                let stock = self
                    .till
                    .product(&l.sku)
                    .ok()
                    .flatten()
                    .map_or(Decimal::ZERO, |p| p.stock);
                CartLineView {
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    unit: l.unit,
                    quantity: l.quantity.get(),
                    unit_price: l.unit_price,
                    discount: l.discount,
                    total: t.total_price,
                    price_overridden: l.price_override_by.is_some(),
                    short: stock < l.quantity.get(),
                    stock,
                }
            })
            .collect();
        let cash_due = self
            .till
            .config()
            .ok()
            .and_then(|c| {
                kasir_core::schema::money::round_half_up(
                    totals.total_amount,
                    c.cash_increment.get(),
                )
                .ok()
            })
            .unwrap_or(totals.total_amount);
        CartView {
            lines,
            cash_due,
            customer: cart
                .customer
                .and_then(|id| self.till.customer(id).ok().flatten()),
            redeem_points: cart.redeem_points,
            totals,
        }
    }
}
