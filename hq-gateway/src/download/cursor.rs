//! Where a store's cursor download stands, and how the cursor is written on the wire
//! (`1:<store>:<catalog>:<store>:<customers>`, plus the round under way: its bounds, table, last
//! id, rows sent and total).

use crate::error::{ApiError, ApiResult};

/// The tables of a cursor download, in the order a round sends them.
pub(super) const ROUND: [&str; 4] = ["categories", "products", "customers", "stock_movements"];

/// The change counters a cursor follows: catalog, the store's, customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Versions {
    pub catalog: i64,
    pub store: i64,
    pub customers: i64,
}

/// Where a store's cursor download stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cursor {
    pub store: i64,
    /// Everything stamped at or below these was sent (-1: nothing yet, not even unstamped
    /// rows).
    pub from: Versions,
    /// A round under way: its upper bounds, the table (index in [`ROUND`]) and last id sent,
    /// and rows sent of the total it began with.
    pub round: Option<Round>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Round {
    pub to: Versions,
    pub table: usize,
    pub after: i64,
    pub sent: u64,
    pub total: u64,
}

impl Cursor {
    pub fn start(store: i64) -> Cursor {
        let none = Versions {
            catalog: -1,
            store: -1,
            customers: -1,
        };
        Cursor {
            store,
            from: none,
            round: None,
        }
    }

    pub fn encode(&self) -> String {
        let f = self.from;
        let mut s = format!("1:{}:{}:{}:{}", self.store, f.catalog, f.store, f.customers);
        if let Some(r) = self.round {
            let t = r.to;
            s.push_str(&format!(
                ":{}:{}:{}:{}:{}:{}:{}",
                t.catalog, t.store, t.customers, r.table, r.after, r.sent, r.total
            ));
        }
        s
    }

    /// Reads a cursor of `store` (`0`: from the beginning).
    pub fn parse(raw: &str, store: i64) -> ApiResult<Cursor> {
        let bad = |why: &str| {
            ApiError::field(
                "cursor",
                format!("{why}: pass 0, or the cursor of this store's previous download"),
            )
        };
        let raw = raw.trim();
        if raw == "0" {
            return Ok(Cursor::start(store));
        }
        let parts: Vec<i64> = raw
            .split(':')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| bad("not a cursor"))?;
        let v = |a: i64, b: i64, c: i64| Versions {
            catalog: a,
            store: b,
            customers: c,
        };
        let cursor = match parts[..] {
            [1, s, c, st, u] => Cursor {
                store: s,
                from: v(c, st, u),
                round: None,
            },
            [1, s, c, st, u, tc, tst, tu, table, after, sent, total] => Cursor {
                store: s,
                from: v(c, st, u),
                round: Some(Round {
                    to: v(tc, tst, tu),
                    table: usize::try_from(table).map_err(|_| bad("not a cursor"))?,
                    after,
                    sent: u64::try_from(sent).map_err(|_| bad("not a cursor"))?,
                    total: u64::try_from(total).map_err(|_| bad("not a cursor"))?,
                }),
            },
            _ => return Err(bad("not a cursor")),
        };
        if cursor.store != store {
            return Err(bad("this cursor belongs to another store"));
        }
        let f = cursor.from;
        if [f.catalog, f.store, f.customers].iter().any(|x| *x < -1) {
            return Err(bad("not a cursor"));
        }
        if let Some(r) = cursor.round {
            let t = r.to;
            if t.catalog < f.catalog
                || t.store < f.store
                || t.customers < f.customers
                || r.table > ROUND.len()
                || r.after < 0
                || r.sent > r.total
            {
                return Err(bad("not a cursor"));
            }
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_it_was_written() {
        let mut c = Cursor::start(7);
        assert_eq!(Cursor::parse("0", 7).unwrap(), c);
        assert_eq!(Cursor::parse(&c.encode(), 7).unwrap(), c);
        c.round = Some(Round {
            to: Versions {
                catalog: 12,
                store: 3,
                customers: 0,
            },
            table: 1,
            after: 4411,
            sent: 5000,
            total: 12_345,
        });
        assert_eq!(Cursor::parse(&c.encode(), 7).unwrap(), c);
        let pattern = regex_lite(&c.encode());
        assert!(pattern, "{}", c.encode());
    }

    /// The documented pattern of `cursor` admits what the gateway writes.
    fn regex_lite(s: &str) -> bool {
        let parts: Vec<&str> = s.split(':').collect();
        (parts.len() == 6 || parts.len() == 12)
            && parts[0] == "1"
            && parts[1..].iter().all(|p| {
                p.trim_start_matches('-')
                    .chars()
                    .all(|c| c.is_ascii_digit())
            })
    }

    #[test]
    fn a_cursor_of_another_store_or_out_of_shape_is_refused() {
        let c = Cursor::start(7).encode();
        assert!(Cursor::parse(&c, 8).is_err());
        for bad in [
            "",
            "1",
            "x",
            "1:7:0:0",
            "2:7:0:0:0",
            "1:7:-2:0:0",
            "1:7:5:0:0:4:0:0:0:0:0:0",
        ] {
            assert!(Cursor::parse(bad, 7).is_err(), "{bad}");
        }
    }
}
