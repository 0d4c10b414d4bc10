//! The HQ driver: HTTP to the gateway for the lane that leads (issue #12).
//!
//! Every lane runs it; what it does depends on what the lane core decided:
//! - **Reachability.** With the store's credential (the `settings` document, entered on any
//!   lane), a lane that does not lead checks HQ with the credential
//!   (`GET /api/sync/status/{store}`) every [`PROBE_EVERY`] while no lane leads and every
//!   [`PROBE_QUIET`] while another does; the leader's uploads count as checks. The answer goes
//!   to the lane core as [`Input::Hq`], which announces it: only lanes that can reach HQ are
//!   candidates for leader. HQ answering 401 or 403 means the credential was revoked or is
//!   wrong: the status says "HQ refused the store's credential" on every lane (each checks),
//!   and a new credential entered on any lane resumes forwarding.
//! - **Upload** (the leader): batches of up to [`BATCH_RECORDS`] of the store's waiting records
//!   (`Till::hq_batch`), gzip-compressed, `POST /api/sync/upload`, the answer settled with
//!   `Till::hq_confirm` (the confirmations replicate: the documents they changed are offered
//!   to the LAN at once). While records wait it sends the next batch right away; when none wait
//!   it sleeps until the lane's documents change (a sale here or merged from a peer) or a
//!   second passes; failures
//!   back off from 1 s to [`MAX_BACKOFF`] (10 s), with jitter. After a restart it resumes from the outbox, which
//!   is on disk.
//!
//! It works on a handle of its own on the lane file (like the replica: writes after the
//! till's), on the LAN's runtime, so a cashier never waits for HQ.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kasir_core::Till;
use kasir_core::hq::HqCredential;
use kasir_core::lane::{Input, Leader};
use kasir_core::schema::wire::SyncUploadResponse;
use tokio::sync::{Mutex, mpsc, watch};

use crate::lan::LanInput;

/// Records per upload (HQ takes up to 5,000 transactions per request).
pub const BATCH_RECORDS: usize = 1_000;
/// How often a lane that does not lead checks that HQ answers, while no lane leads.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);
/// … and while another lane leads: a store of 4 lanes costs HQ one request every 10 s for its
/// non-leaders (8,000 lanes: 200 requests/s instead of 1,200).
pub const PROBE_QUIET: Duration = Duration::from_secs(30);
/// How often the leader asks HQ what changed (catalog, prices, customers, HQ movements).
pub const DOWNLOAD_EVERY: Duration = Duration::from_secs(5);
/// The longest wait between two attempts after failures (HQ back is noticed within it).
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Rows per page of a download (a store back after a week offline catches up in pages).
pub const DOWNLOAD_PAGE_ROWS: u32 = 2_000;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The HQ side of a lane, as the status bar and the headless binary show it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HqStatus {
    /// A credential was entered (on this or another lane).
    pub configured: bool,
    /// HQ's last answer to this lane was a success.
    pub reachable: bool,
    /// This lane leads the store (forwards to HQ).
    pub leading: bool,
    /// The leader's lane number (as this lane sees it), and since when.
    pub leader: Option<u16>,
    pub leader_since: Option<DateTime<Utc>>,
    /// The last batch HQ confirmed (this lane as leader), and how many records it held.
    pub last_upload: Option<DateTime<Utc>>,
    pub uploaded: u64,
    /// The last download from HQ this lane applied (as leader), and what it changed.
    pub last_download: Option<DateTime<Utc>>,
    pub downloaded: u64,
    /// A download of more than one page under way: rows received of the rows it began with.
    pub download_progress: Option<(u64, u64)>,
    /// The last error, in words (cleared by the next success).
    pub last_error: Option<String>,
}

/// What the driver needs besides its own handle on the lane.
pub(crate) struct HqDriver {
    pub till: Till,
    pub leader: watch::Receiver<Option<Leader>>,
    /// Rung when the lane's documents changed (a sale here, a merge): records may wait.
    pub changed: Arc<tokio::sync::Notify>,
    pub lan: mpsc::Sender<LanInput>,
    pub status: watch::Sender<HqStatus>,
}

/// A failed exchange with HQ.
enum Failure {
    /// 401/403: the credential is revoked or wrong.
    Refused(String),
    /// Anything else: HQ down, slow, a network error, a 5xx.
    Unreachable(String),
}

impl Failure {
    fn words(&self) -> String {
        match self {
            Failure::Refused(w) => format!("HQ refused the store's credential ({w})"),
            Failure::Unreachable(w) => format!("HQ unreachable: {w}"),
        }
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap_or_default()
}

fn classify(status: reqwest::StatusCode, body: &str) -> Failure {
    let said = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(200).collect());
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        Failure::Refused(format!("{status}: {said}"))
    } else {
        Failure::Unreachable(format!("{status}: {said}"))
    }
}

/// Sends a request to HQ; its body when HQ answered 2xx.
async fn exchange(req: reqwest::RequestBuilder, cred: &HqCredential) -> Result<String, Failure> {
    let req = req.bearer_auth(&cred.token);
    // A kept-alive connection HQ closed (it restarted) fails the first request on it: once
    // more, on a new connection, before HQ counts as unreachable.
    let again = req.try_clone();
    let r = match req.send().await {
        Ok(r) => r,
        Err(e) => match again {
            Some(again) if e.is_request() || e.is_connect() => again.send().await,
            _ => Err(e),
        }
        .map_err(|e| Failure::Unreachable(e.to_string()))?,
    };
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    if status.is_success() {
        Ok(text)
    } else {
        Err(classify(status, &text))
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

/// Runs the driver until the LAN stops (its channel closes).
pub(crate) async fn run(driver: HqDriver) {
    let HqDriver {
        till,
        mut leader,
        changed,
        lan,
        status,
    } = driver;
    let till = Arc::new(Mutex::new(till));
    let http = http_client();
    let mut backoff = Duration::ZERO;
    let mut last_probe: Option<Instant> = None;
    let mut last_download: Option<Instant> = None;
    // Records HQ refused in the last batch, for the status.
    let mut refused: Option<String> = None;
    let mut reachable_told: Option<bool> = None;
    let mut jitter = rand::random::<u64>();
    // Errors go to stderr when they change (never with the credential).
    let mut last_words: Option<String> = None;
    loop {
        if lan.is_closed() {
            return;
        }
        let lead = leader.borrow().clone();
        let me = lead.as_ref().is_some_and(|l| l.me);
        status.send_modify(|s| {
            s.leading = me;
            let lane = lead.as_ref().and_then(|l| l.lane);
            if s.leader != lane || lead.is_none() {
                s.leader_since = lead.as_ref().map(|_| Utc::now());
            }
            s.leader = lane;
        });
        let cred = blocking(&till, |t| t.hq_credential()).await.ok().flatten();
        let Some(cred) = cred else {
            status.send_modify(|s| {
                s.configured = false;
                s.last_error = Some("no HQ credential: enter one with --hq and --hq-token".into());
            });
            tell(&lan, &mut reachable_told, false).await;
            wait(&mut leader, Duration::from_secs(1)).await;
            continue;
        };
        status.send_modify(|s| s.configured = true);
        // While another lane leads (only lanes that reach HQ are candidates, and a leader that
        // loses HQ steps down), this lane checks HQ every PROBE_QUIET; without a leader, every
        // PROBE_EVERY, so an election finds its candidates fast.
        let every = if lead.as_ref().is_some_and(|l| !l.me) {
            PROBE_QUIET
        } else {
            PROBE_EVERY
        };
        let probe_due =
            last_probe.is_none_or(|t| t.elapsed() >= every) || reachable_told != Some(true);
        if me && last_download.is_none_or(|t: Instant| t.elapsed() >= DOWNLOAD_EVERY) {
            match download(&till, &http, &cred, &lan, &status).await {
                Ok(n) => {
                    last_download = Some(Instant::now());
                    status.send_modify(|s| {
                        s.last_download = Some(Utc::now());
                        s.downloaded += n as u64;
                    });
                }
                Err(f) => {
                    // Counted like an upload's failure below, on the next exchange.
                    status.send_modify(|s| s.last_error = Some(f.words()));
                }
            }
        }
        let outcome = if me {
            match upload(&till, &http, &cred, &lan, &mut refused).await {
                // Nothing waits: check HQ now and then all the same (a revoked credential
                // must show while the store is quiet).
                Ok(0) if probe_due => {
                    last_probe = Some(Instant::now());
                    probe(&till, &http, &cred).await.map(|()| Some(0))
                }
                Ok(0) => {
                    wait_for_work(&mut leader, &changed, Duration::from_secs(1)).await;
                    continue;
                }
                r => {
                    last_probe = Some(Instant::now());
                    r.map(Some)
                }
            }
        } else if probe_due {
            last_probe = Some(Instant::now());
            probe(&till, &http, &cred).await.map(|()| None)
        } else {
            // Nothing to do until the next check: the last answer stands.
            wait(&mut leader, Duration::from_secs(1)).await;
            continue;
        };
        match outcome {
            Ok(sent) => {
                backoff = Duration::ZERO;
                last_words = None;
                tell(&lan, &mut reachable_told, true).await;
                status.send_modify(|s| {
                    s.reachable = true;
                    s.last_error = refused.take();
                    if let Some(n) = sent.filter(|n| *n > 0) {
                        s.last_upload = Some(Utc::now());
                        s.uploaded += n as u64;
                    }
                });
                // More waiting: the next batch at once (a backlog drains at full speed).
                if sent.is_some_and(|n| n > 0) {
                    continue;
                }
                if me {
                    wait_for_work(&mut leader, &changed, Duration::from_secs(1)).await;
                } else {
                    wait(&mut leader, Duration::from_secs(1)).await;
                }
            }
            Err(f) => {
                let words = f.words();
                if last_words.as_deref() != Some(words.as_str()) {
                    eprintln!("kasir hq: {words}");
                    last_words = Some(words.clone());
                }
                status.send_modify(|s| {
                    s.reachable = false;
                    s.last_error = Some(words);
                });
                tell(&lan, &mut reachable_told, false).await;
                backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                jitter = jitter
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let spread = Duration::from_millis((jitter >> 33) % 1000);
                wait(&mut leader, backoff + spread).await;
            }
        }
    }
}

/// Tells the lane core whether HQ can be reached (only when that changes).
async fn tell(lan: &mpsc::Sender<LanInput>, told: &mut Option<bool>, reachable: bool) {
    if *told != Some(reachable) {
        *told = Some(reachable);
        let _ = lan.send(LanInput::Core(Input::Hq { reachable })).await;
    }
}

/// The leader's idle wait: for `d` at most, until the lane's documents change (a sale made or
/// merged: send it now) or the leader changes. A burst of changes while a batch is on its way
/// is one wake-up (`Notify` keeps one permit).
async fn wait_for_work(
    leader: &mut watch::Receiver<Option<Leader>>,
    changed: &tokio::sync::Notify,
    d: Duration,
) {
    tokio::select! {
        _ = leader.changed() => {}
        () = changed.notified() => {}
        () = tokio::time::sleep(d) => {}
    }
}

/// Sleeps for `d`, or until the leader changes.
async fn wait(leader: &mut watch::Receiver<Option<Leader>>, d: Duration) {
    let _ = tokio::time::timeout(d, leader.changed()).await;
}

/// Runs `f` on the driver's handle off the runtime's threads.
async fn blocking<T: Send + 'static>(
    till: &Arc<Mutex<Till>>,
    f: impl FnOnce(&mut Till) -> kasir_core::Result<T> + Send + 'static,
) -> kasir_core::Result<T> {
    let till = till.clone();
    tokio::task::spawn_blocking(move || {
        let mut t = till.blocking_lock();
        f(&mut t)
    })
    .await
    .unwrap_or_else(|e| Err(kasir_core::NodeError::Corrupt(format!("HQ driver: {e}"))))
}

async fn probe(
    till: &Arc<Mutex<Till>>,
    http: &reqwest::Client,
    cred: &HqCredential,
) -> Result<(), Failure> {
    let store = blocking(till, |t| Ok(t.store_code()))
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    exchange(
        http.get(format!("{}/api/sync/status/{store}", cred.url)),
        cred,
    )
    .await
    .map(|_| ())
}

/// Sends one batch; returns how many outbox entries it settled (0: nothing waits).
async fn upload(
    till: &Arc<Mutex<Till>>,
    http: &reqwest::Client,
    cred: &HqCredential,
    lan: &mpsc::Sender<LanInput>,
    refused: &mut Option<String>,
) -> Result<usize, Failure> {
    let batch = blocking(till, |t| t.hq_batch(BATCH_RECORDS))
        .await
        .map_err(|e| Failure::Unreachable(format!("the outbox cannot be read: {e}")))?;
    let Some(batch) = batch else {
        return Ok(0);
    };
    let body = serde_json::to_vec(&batch.request)
        .map_err(|e| Failure::Unreachable(format!("upload: {e}")))?;
    let req = http
        .post(format!("{}/api/sync/upload", cred.url))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(&body));
    let text = exchange(req, cred).await?;
    let answer: SyncUploadResponse = serde_json::from_str(&text)
        .map_err(|e| Failure::Unreachable(format!("HQ's answer does not read: {e}")))?;
    let entries = batch.entries.len();
    let (settled, changed) = blocking(till, move |t| {
        let settled = t.hq_confirm(&batch, &answer.processed)?;
        Ok((settled, t.take_changed_documents()))
    })
    .await
    .map_err(|e| Failure::Unreachable(format!("HQ's answer cannot be stored: {e}")))?;
    if !changed.is_empty() {
        let _ = lan
            .send(LanInput::Core(Input::LocalChange { docs: changed }))
            .await;
    }
    if settled.confirmed + settled.refused.len() == 0 {
        return Err(Failure::Unreachable(format!(
            "HQ answered none of the {entries} records sent"
        )));
    }
    if let Some((what, why)) = settled.refused.first() {
        *refused = Some(format!(
            "HQ refused {} record(s) of the last batch (they stay in the backlog), e.g. {what}: {why}",
            settled.refused.len()
        ));
    }
    Ok(settled.confirmed + settled.refused.len())
}

/// Asks HQ what changed since the store's cursor and applies it, page by page (each page's
/// cursor stored with it, so a leader that stops mid-way, or the next leader, goes on from the
/// last page applied); returns the records changed. The status shows the progress of a
/// download of more than one page.
async fn download(
    till: &Arc<Mutex<Till>>,
    http: &reqwest::Client,
    cred: &HqCredential,
    lan: &mpsc::Sender<LanInput>,
    status: &watch::Sender<HqStatus>,
) -> Result<usize, Failure> {
    let mut changed_records = 0;
    loop {
        let (store, cursor) = blocking(till, |t| Ok((t.store_code(), t.hq_cursor()?)))
            .await
            .map_err(|e| Failure::Unreachable(format!("the cursor cannot be read: {e}")))?;
        let url = format!(
            "{}/api/sync/download/{}?limit={DOWNLOAD_PAGE_ROWS}&cursor={}",
            cred.url,
            store.unwrap_or_default(),
            cursor.unwrap_or_else(|| "0".into())
        );
        let text = exchange(http.get(url), cred).await?;
        let answer: kasir_core::schema::wire::SyncDownloadResponse = serde_json::from_str(&text)
            .map_err(|e| Failure::Unreachable(format!("HQ's download does not read: {e}")))?;
        let Some(next) = answer.cursor.clone() else {
            return Err(Failure::Unreachable(
                "HQ's download carries no cursor (a gateway older than this lane?)".into(),
            ));
        };
        let more = answer.has_more;
        let progress = answer.progress;
        let (applied, changed) = blocking(till, move |t| {
            let a = t.hq_apply_download(&answer.data, &next)?;
            Ok((a, t.take_changed_documents()))
        })
        .await
        .map_err(|e| Failure::Unreachable(format!("HQ's download cannot be applied: {e}")))?;
        for s in &applied.skipped {
            eprintln!("kasir hq: download: {s}");
        }
        if !changed.is_empty() {
            let _ = lan
                .send(LanInput::Core(Input::LocalChange { docs: changed }))
                .await;
        }
        changed_records +=
            applied.products + applied.categories + applied.customers + applied.movements;
        status.send_modify(|s| {
            s.download_progress = progress.filter(|_| more).map(|p| (p.sent, p.total));
        });
        if !more {
            return Ok(changed_records);
        }
    }
}
