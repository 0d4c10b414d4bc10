//! Store membership: which lanes (iroh node ids) belong to the store, and the one-time tickets
//! that enroll a new till.
//!
//! Members are records of the replicated `members` document, so a lane enrolled on one lane is
//! admitted by every lane of the store, and a removal reaches them all. A ticket is issued by a
//! manager on a running lane: it names the store, the lane number the new till will take, the
//! issuing lane's node id and addresses, and a 128-bit secret. Only the secret's SHA-256 is
//! stored (table `enrollment_tickets`, local to the issuing lane); redeeming it once, before it
//! expires, adds the redeeming node to the members. Lane numbers stay unique among active
//! members, since two tills with one number would mint the same transaction numbers (I5).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use kasir_schema::roles::Permission;
use kasir_schema::txn_number::LaneNo;
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::db;
use crate::docs::{self, DocId};
use crate::error::{NodeError, Result};
use crate::till::Till;

/// An enrolled lane as the `members` document records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The lane's iroh node id (hex).
    pub node_id: String,
    pub lane: u16,
    pub added_at: String,
    /// Who let it in: "ticket issued by <user>" or "setup".
    pub added_by: String,
    /// When it was removed, if it was.
    pub removed_at: Option<String>,
}

impl Member {
    pub fn is_active(&self) -> bool {
        self.removed_at.is_none()
    }
}

/// What a new till needs to join: printed on the issuing lane, typed or pasted on the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub store: String,
    pub lane: LaneNo,
    /// The issuing lane's node id (hex); the new till connects to it to redeem the ticket.
    pub issuer: String,
    pub addrs: Vec<SocketAddr>,
    pub secret: [u8; 16],
}

const TICKET_PREFIX: &str = "kasir-enroll/1/";

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addrs: Vec<String> = self.addrs.iter().map(ToString::to_string).collect();
        write!(
            f,
            "{TICKET_PREFIX}{}/{:03}/{}/{}/{}",
            self.store,
            self.lane.get(),
            self.issuer,
            addrs.join(","),
            hex(&self.secret)
        )
    }
}

impl FromStr for Ticket {
    type Err = NodeError;

    fn from_str(s: &str) -> Result<Ticket> {
        let bad = |what: &str| {
            NodeError::Invalid(format!(
                "not an enrollment ticket ({what}); copy the whole line the issuing lane printed, \
                 starting with {TICKET_PREFIX}"
            ))
        };
        let rest = s
            .trim()
            .strip_prefix(TICKET_PREFIX)
            .ok_or_else(|| bad("prefix"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [store, lane, issuer, addrs, secret] = parts[..] else {
            return Err(bad("wrong number of parts"));
        };
        if store.is_empty()
            || store.len() > 20
            || !store
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad("store code"));
        }
        let lane = lane
            .parse::<u32>()
            .ok()
            .and_then(|n| LaneNo::new(n).ok())
            .ok_or_else(|| bad("lane number"))?;
        if issuer.len() != 64 || !issuer.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("issuer id"));
        }
        let addrs = addrs
            .split(',')
            .filter(|a| !a.is_empty())
            .map(|a| a.parse::<SocketAddr>().map_err(|_| bad("address")))
            .collect::<Result<Vec<_>>>()?;
        if addrs.is_empty() || addrs.len() > 16 {
            return Err(bad("addresses"));
        }
        let secret = unhex(secret)
            .and_then(|v| <[u8; 16]>::try_from(v).ok())
            .ok_or_else(|| bad("secret"))?;
        Ok(Ticket {
            store: store.to_string(),
            lane,
            issuer: issuer.to_ascii_lowercase(),
            addrs,
            secret,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn secret_hash(secret: &[u8; 16]) -> String {
    hex(&Sha256::digest(secret))
}

fn member_fields(m: &Member) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("lane", Some(m.lane.to_string())),
        ("added_at", Some(m.added_at.clone())),
        ("added_by", Some(m.added_by.clone())),
        ("removed_at", m.removed_at.clone()),
    ]
}

/// Every record of the `members` document, read or with why not.
pub(crate) fn read_members(
    doc: &automerge::AutoCommit,
) -> Vec<(String, std::result::Result<Member, String>)> {
    docs::record_keys(doc)
        .into_iter()
        .map(|id| {
            let f = docs::get_fields(doc, &id);
            let r = docs::FieldReader(&f);
            let m = (|| {
                if !valid_node_id(&id) {
                    return Err(format!("{id:?} is not a node id"));
                }
                let lane = r.opt_integer("lane")?.ok_or("lane: missing")?;
                Ok(Member {
                    lane: u16::try_from(lane)
                        .ok()
                        .filter(|l| (1..=999).contains(l))
                        .ok_or(format!("lane: {lane} is not a lane number"))?,
                    added_at: r.text("added_at")?,
                    added_by: r.text("added_by")?,
                    removed_at: r.opt_text("removed_at")?,
                    node_id: id.to_ascii_lowercase(),
                })
            })();
            (id, m)
        })
        .collect()
}

fn valid_node_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Till {
    /// Every lane the store has enrolled, removed ones included, by lane number.
    /// (Records that cannot be read are left out; merges list them as unreadable.)
    pub fn lan_members(&mut self) -> Result<Vec<Member>> {
        let doc = self.doc(DocId::Members)?;
        let mut out: Vec<Member> = read_members(doc)
            .into_iter()
            .filter_map(|(_, m)| m.ok())
            .collect();
        out.sort_by(|a, b| (a.lane, &a.node_id).cmp(&(b.lane, &b.node_id)));
        Ok(out)
    }

    /// Records this lane itself as a member (at start of the LAN; does nothing when it already
    /// is one). A lane removed by a manager stays removed.
    pub fn enroll_self(&mut self, node_id: &str) -> Result<()> {
        let lane = self.lane()?.get();
        if self.lan_members()?.iter().any(|m| m.node_id == node_id) {
            return Ok(());
        }
        self.put_member(Member {
            node_id: node_id.to_string(),
            lane,
            added_at: db::ts(self.now()),
            added_by: "setup".into(),
            removed_at: None,
        })
    }

    /// Issues a one-time ticket enrolling a new till as lane `lane` (managers only). `issuer`
    /// and `addrs` are this lane's node id and the addresses it listens on.
    pub fn issue_enrollment_ticket(
        &mut self,
        lane: LaneNo,
        valid_for: Duration,
        issuer: &str,
        addrs: &[SocketAddr],
    ) -> Result<Ticket> {
        self.authorize(Permission::ManageLanes, None)?;
        let user = self.session()?.user_id;
        let store = self
            .setup
            .as_ref()
            .ok_or(NodeError::NotInitialized)?
            .config
            .code
            .clone();
        if let Some(m) = self
            .lan_members()?
            .into_iter()
            .find(|m| m.is_active() && m.lane == lane.get())
        {
            return Err(NodeError::Invalid(format!(
                "lane {:03} is already enrolled (node {}); remove it first or pick another number",
                lane.get(),
                &m.node_id[..8.min(m.node_id.len())]
            )));
        }
        if addrs.is_empty() {
            return Err(NodeError::Invalid(
                "the ticket needs at least one address of this lane".into(),
            ));
        }
        let secret: [u8; 16] = self.env.random_bytes();
        let now = self.now();
        let valid =
            chrono::Duration::from_std(valid_for).map_err(|e| NodeError::Invalid(e.to_string()))?;
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO enrollment_tickets (secret_sha256, lane_no, issued_by, issued_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    secret_hash(&secret),
                    lane.get(),
                    user,
                    db::ts(now),
                    db::ts(now + valid)
                ],
            )?;
            Till::log(
                tx,
                "info",
                "enrollment ticket issued",
                serde_json::json!({ "lane": lane.get(), "valid_seconds": valid_for.as_secs() }),
                Some(user),
                None,
                now,
            )
        })?;
        Ok(Ticket {
            store: store.to_string(),
            lane,
            issuer: issuer.to_string(),
            addrs: addrs.to_vec(),
            secret,
        })
    }

    /// Redeems a ticket for `node_id` (on the issuing lane, when the new till connects): once,
    /// before it expires. Returns the lane number the ticket was issued for. Every refusal is
    /// logged.
    pub fn redeem_enrollment_ticket(&mut self, secret: &[u8; 16], node_id: &str) -> Result<u16> {
        let now = self.now();
        let hash = secret_hash(secret);
        let row: Option<(u16, i64, String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT lane_no, issued_by, expires_at, redeemed_at FROM enrollment_tickets
                 WHERE secret_sha256 = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let refusal = match &row {
            _ if !valid_node_id(node_id) => Some("bad node id"),
            None => Some("unknown ticket"),
            Some((_, _, _, Some(_))) => Some("ticket already used"),
            Some((_, _, expires, None)) if db::parse_ts(expires)? <= now => Some("ticket expired"),
            Some((lane, ..))
                if self
                    .lan_members()?
                    .iter()
                    .any(|m| m.is_active() && m.lane == *lane) =>
            {
                Some("lane number taken meanwhile")
            }
            Some(_) => None,
        };
        if let Some(why) = refusal {
            self.write(|tx, _| {
                Till::log(
                    tx,
                    "warning",
                    "enrollment refused",
                    serde_json::json!({ "node": node_id, "reason": why }),
                    None,
                    None,
                    now,
                )
            })?;
            return Err(NodeError::Invalid(format!("enrollment refused: {why}")));
        }
        let Some((lane, issued_by, ..)) = row else {
            return Err(NodeError::Invalid("enrollment refused".into()));
        };
        let issuer: String = self
            .conn
            .query_row(
                "SELECT username FROM users WHERE id = ?1",
                [issued_by],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_else(|| format!("user {issued_by}"));
        let member = Member {
            node_id: node_id.to_ascii_lowercase(),
            lane,
            added_at: db::ts(now),
            added_by: format!("ticket issued by {issuer}"),
            removed_at: None,
        };
        self.write(|tx, docs| {
            let n = tx.execute(
                "UPDATE enrollment_tickets SET redeemed_at = ?2, redeemed_by_node = ?3
                 WHERE secret_sha256 = ?1 AND redeemed_at IS NULL",
                params![hash, db::ts(now), node_id],
            )?;
            if n != 1 {
                return Err(NodeError::Invalid(
                    "enrollment refused: ticket already used".into(),
                ));
            }
            docs.edit(tx, DocId::Members, |doc| {
                docs::put_fields(doc, &member.node_id, &member_fields(&member))
            })?;
            Till::log(
                tx,
                "info",
                "lane enrolled",
                serde_json::json!({ "node": node_id, "lane": lane }),
                Some(issued_by),
                None,
                now,
            )
        })?;
        Ok(lane)
    }

    /// Removes a lane from the store (managers only): every lane refuses it from then on.
    pub fn remove_member(&mut self, node_id: &str) -> Result<()> {
        self.authorize(Permission::ManageLanes, None)?;
        let user = self.session()?.user_id;
        let mut member = self
            .lan_members()?
            .into_iter()
            .find(|m| m.node_id.eq_ignore_ascii_case(node_id) && m.is_active())
            .ok_or_else(|| NodeError::NotFound {
                what: format!("enrolled lane {node_id}"),
                hint: Some("list the lanes to see their node ids".into()),
            })?;
        let now = self.now();
        member.removed_at = Some(db::ts(now));
        self.write(|tx, docs| {
            docs.edit(tx, DocId::Members, |doc| {
                docs::put_fields(doc, &member.node_id, &member_fields(&member))
            })?;
            Till::log(
                tx,
                "warning",
                "lane removed",
                serde_json::json!({ "node": member.node_id, "lane": member.lane }),
                Some(user),
                None,
                now,
            )
        })
    }

    fn put_member(&mut self, m: Member) -> Result<()> {
        self.write(|tx, docs| {
            docs.edit(tx, DocId::Members, |doc| {
                docs::put_fields(doc, &m.node_id, &member_fields(&m))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            store: "JKT01".into(),
            lane: LaneNo::new(4).unwrap(),
            issuer: "ab".repeat(32),
            addrs: vec![
                "192.168.1.10:7001".parse().unwrap(),
                "[fe80::1]:7001".parse().unwrap(),
            ],
            secret: [7; 16],
        }
    }

    #[test]
    fn tickets_round_trip_as_text() {
        let t = ticket();
        let text = t.to_string();
        assert!(text.starts_with("kasir-enroll/1/JKT01/004/"));
        assert_eq!(text.parse::<Ticket>().unwrap(), t);
    }

    #[test]
    fn damaged_tickets_are_refused_with_a_hint() {
        let text = ticket().to_string();
        for bad in [
            String::new(),
            "hello".into(),
            text.replace("/004/", "/000/"),
            text.replace("/004/", "/x/"),
            text[..text.len() - 2].to_string(),
            text.replace("192.168.1.10:7001", "nowhere"),
            format!("{text}/extra"),
            text.replace("JKT01", "J K"),
        ] {
            let e = bad.parse::<Ticket>().unwrap_err().to_string();
            assert!(e.contains("not an enrollment ticket"), "{bad}: {e}");
        }
    }
}
