//! The live view: what each committed transaction changed on this lane, for a store manager's
//! screen and the headless binary's log.
//!
//! A lane that watches ([`Till::watch_live`]) adds two TEMP triggers to its connection: one
//! notes every SKU whose stock changed, one every sale stored (this lane's own or a peer's).
//! They write to TEMP tables inside the same transaction, so a rolled-back transaction leaves
//! nothing behind and only committed changes are reported. After each commit the till turns
//! those rows into [`LiveEvent`]s, tagged with where the change came from: this lane, or the
//! lane (or HQ) whose ledger a merge brought in. Nothing is stored on disk; a lane that does
//! not watch pays nothing.

use kasir_schema::Decimal;
use rusqlite::Connection;

use crate::db;
use crate::docs::Origin;
use crate::error::Result;
use crate::till::Till;

/// Most events kept for a consumer that does not drain them; older ones are dropped (and
/// counted), so a stalled screen can never grow a lane's memory without bound.
pub const MAX_BUFFERED: usize = 65_536;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    /// The stock of a SKU is now `stock`, because of a record from `from`.
    StockChanged {
        sku: String,
        stock: Decimal,
        from: Origin,
    },
    /// A sale was stored on this lane: rung up here, or arrived from lane `lane`.
    Sale {
        lane: u16,
        number: String,
        total: Decimal,
    },
}

#[derive(Debug, Default)]
pub(crate) struct LiveBuffer {
    pub(crate) events: Vec<LiveEvent>,
    pub(crate) dropped: u64,
    /// Where the changes of the transaction being written come from (`None`: this lane).
    pub(crate) origin: Option<Origin>,
}

const WATCH_SQL: &str = "
    CREATE TEMP TABLE IF NOT EXISTS live_stock (sku TEXT PRIMARY KEY, stock INTEGER NOT NULL);
    CREATE TEMP TABLE IF NOT EXISTS live_sales (
        seq INTEGER PRIMARY KEY, lane_no INTEGER NOT NULL, number TEXT NOT NULL,
        total INTEGER NOT NULL);
    CREATE TEMP TRIGGER IF NOT EXISTS live_stock_changed
        AFTER UPDATE OF stock_quantity ON main.products
        WHEN new.stock_quantity IS NOT old.stock_quantity
        BEGIN
            INSERT OR REPLACE INTO live_stock (sku, stock) VALUES (new.sku, new.stock_quantity);
        END;
    CREATE TEMP TRIGGER IF NOT EXISTS live_sale_stored
        AFTER INSERT ON main.transactions
        BEGIN
            INSERT INTO live_sales (lane_no, number, total)
            VALUES (new.lane_no, new.transaction_number, new.total_amount);
        END;";

/// Moves what the last committed transaction noted into `buffer`.
pub(crate) fn collect(conn: &Connection, buffer: &mut LiveBuffer, own: Origin) -> Result<()> {
    let from = buffer.origin.unwrap_or(own);
    let mut events = Vec::new();
    {
        let mut q =
            conn.prepare_cached("SELECT lane_no, number, total FROM temp.live_sales ORDER BY seq")?;
        let rows = q.query_map([], |r| {
            Ok(LiveEvent::Sale {
                lane: r.get(0)?,
                number: r.get(1)?,
                total: db::money_out(r.get(2)?),
            })
        })?;
        for e in rows {
            events.push(e?);
        }
        let mut q = conn.prepare_cached("SELECT sku, stock FROM temp.live_stock ORDER BY sku")?;
        let rows = q.query_map([], |r| {
            Ok(LiveEvent::StockChanged {
                sku: r.get(0)?,
                stock: db::qty_out(r.get(1)?),
                from,
            })
        })?;
        for e in rows {
            events.push(e?);
        }
    }
    if events.is_empty() {
        return Ok(());
    }
    conn.execute_batch("DELETE FROM temp.live_sales; DELETE FROM temp.live_stock;")?;
    buffer.events.extend(events);
    if buffer.events.len() > MAX_BUFFERED {
        let excess = buffer.events.len() - MAX_BUFFERED / 2;
        buffer.events.drain(..excess);
        buffer.dropped += excess as u64;
    }
    Ok(())
}

impl Till {
    /// Starts reporting committed changes as [`LiveEvent`]s (see [`Till::take_live_events`]).
    pub fn watch_live(&mut self) -> Result<()> {
        self.conn.execute_batch(WATCH_SQL)?;
        self.live.get_or_insert_with(LiveBuffer::default);
        Ok(())
    }

    /// The events committed since the last call, oldest first, and how many were dropped
    /// because nobody took them in time.
    pub fn take_live_events(&mut self) -> (Vec<LiveEvent>, u64) {
        match &mut self.live {
            Some(b) => (
                std::mem::take(&mut b.events),
                std::mem::take(&mut b.dropped),
            ),
            None => (Vec::new(), 0),
        }
    }
}
