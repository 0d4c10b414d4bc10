//! Everything one lane sends another, and its one bounded decoder.
//!
//! Two message families, both decoded by the same [`Reader`] with the same typed
//! [`DecodeError`]s and limits, so nothing a peer sends can allocate without bound, panic, or
//! be half-read:
//! - [`WireMessage`]: frames of the direct lane-to-lane connection (ALPN [`SYNC_ALPN`]):
//!   manifests, Automerge sync messages, acks;
//! - [`Announce`]: a lane's periodic gossip message (at most [`MAX_ANNOUNCE`] bytes, since
//!   gossip caps messages at 4 KiB): who it is, where it listens, the heads of the documents it
//!   changed lately.
//!
//! Document names are [`DocName`]s, checked when made (1–64 bytes of `[a-z0-9/-]`), so
//! encoding never truncates or fails.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The ALPN of kasir's direct lane-to-lane connections.
pub const SYNC_ALPN: &[u8] = b"kasir/sync/1";
/// Largest frame accepted or produced (a whole day's ledger fits many times over).
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// Largest announcement (gossip caps messages at 4 KiB).
pub const MAX_ANNOUNCE: usize = 4000;
/// Longest document name.
pub const MAX_NAME: usize = 64;
/// Most documents in one manifest (a decade of days × lanes, and then some).
pub const MAX_MANIFEST: usize = 200_000;
/// Documents named in one announcement.
pub const ANNOUNCE_DOCS: usize = 40;
/// Addresses in one announcement.
pub const ANNOUNCE_ADDRS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what} of {len} bytes is over the limit of {max}")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what}: {count} entries, at most {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("truncated message")]
    Truncated,
    #[error("unknown message type {0}")]
    UnknownType(u8),
    #[error("unknown announcement version {0}")]
    UnknownVersion(u8),
    #[error("bad document name")]
    BadName,
    #[error("bad address")]
    BadAddress,
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// A document's name as it travels: 1–[`MAX_NAME`] bytes of `[a-z0-9/-]`
/// (`catalog/07`, `ledger/2026-11-24/003`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocName(pub(crate) String);

impl DocName {
    pub fn new(name: impl Into<String>) -> Result<DocName, DecodeError> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= MAX_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'/' || b == b'-');
        if ok {
            Ok(DocName(name))
        } else {
            Err(DecodeError::BadName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DocName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A SHA-256 digest of a document's heads.
pub type Digest = [u8; 32];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireMessage {
    /// Every document the sender has, with a digest of its heads.
    Manifest(Vec<(DocName, Digest)>),
    /// One Automerge sync protocol message for one document.
    Sync { doc: DocName, data: Vec<u8> },
    /// "I have nothing more to send you for this document; these are my heads."
    Ack { doc: DocName, digest: Digest },
    /// The sender's [`Announce`] (encoded), sent straight to each connected peer as well as
    /// over gossip: the leader's lease must not depend on the gossip tree (a lane whose only
    /// gossip neighbour died hears the others here).
    Announce(Vec<u8>),
}

impl WireMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            WireMessage::Manifest(docs) => {
                w.u8(1);
                w.u32(docs.len());
                for (name, digest) in docs {
                    w.name(name);
                    w.bytes(digest);
                }
            }
            WireMessage::Sync { doc, data } => {
                w.u8(2);
                w.name(doc);
                w.u32(data.len());
                w.bytes(data);
            }
            WireMessage::Ack { doc, digest } => {
                w.u8(3);
                w.name(doc);
                w.bytes(digest);
            }
            WireMessage::Announce(a) => {
                w.u8(4);
                w.u32(a.len());
                w.bytes(a);
            }
        }
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<WireMessage, DecodeError> {
        let mut r = Reader::new(bytes, "message", MAX_MESSAGE_BYTES)?;
        let msg = match r.u8()? {
            1 => {
                let n = r.count("manifest", MAX_MANIFEST)?;
                let mut docs = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    docs.push((r.name()?, r.digest()?));
                }
                WireMessage::Manifest(docs)
            }
            2 => {
                let doc = r.name()?;
                let n = r.u32()?;
                WireMessage::Sync {
                    doc,
                    data: r.take(n)?.to_vec(),
                }
            }
            3 => WireMessage::Ack {
                doc: r.name()?,
                digest: r.digest()?,
            },
            4 => {
                let n = r.count("announcement bytes", MAX_ANNOUNCE)?;
                WireMessage::Announce(r.take(n)?.to_vec())
            }
            t => return Err(DecodeError::UnknownType(t)),
        };
        r.finish()?;
        Ok(msg)
    }
}

/// A lane's periodic gossip message: who it is (its 32-byte node id), where it listens, and
/// the heads digests of the documents it changed lately. At most [`MAX_ANNOUNCE`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub node: [u8; 32],
    /// Counts the sender's announcements: gossip drops a message identical to one it has seen,
    /// and a quiet lane's announcements would otherwise all be identical.
    pub seq: u64,
    pub addrs: Vec<SocketAddr>,
    pub docs: Vec<(DocName, Digest)>,
    /// The sender can reach HQ with the store's credential (a candidate for store leader).
    /// Version 1 announcements, from before leaders, carry no flag and read as `false`.
    pub hq: bool,
}

impl Announce {
    /// Encodes the first [`ANNOUNCE_ADDRS`] addresses and [`ANNOUNCE_DOCS`] documents (what
    /// fits the limit; the caller passes the most useful first).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(2);
        w.bytes(&self.node);
        w.u64(self.seq);
        let addrs = &self.addrs[..self.addrs.len().min(ANNOUNCE_ADDRS)];
        w.u8_len(addrs.len());
        for a in addrs {
            w.addr(a);
        }
        let docs = &self.docs[..self.docs.len().min(ANNOUNCE_DOCS)];
        w.u8_len(docs.len());
        for (name, digest) in docs {
            w.name(name);
            w.bytes(digest);
        }
        w.u8(u8::from(self.hq));
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<Announce, DecodeError> {
        let mut r = Reader::new(bytes, "announcement", MAX_ANNOUNCE)?;
        let version = match r.u8()? {
            v @ (1 | 2) => v,
            v => return Err(DecodeError::UnknownVersion(v)),
        };
        let node = r.digest()?;
        let seq = r.u64()?;
        let n = r.small_count("addresses", ANNOUNCE_ADDRS)?;
        let mut addrs = Vec::with_capacity(n);
        for _ in 0..n {
            addrs.push(r.addr()?);
        }
        let n = r.small_count("documents", ANNOUNCE_DOCS)?;
        let mut docs = Vec::with_capacity(n);
        for _ in 0..n {
            docs.push((r.name()?, r.digest()?));
        }
        let hq = version >= 2 && r.u8()? == 1;
        r.finish()?;
        Ok(Announce {
            node,
            seq,
            addrs,
            docs,
            hq,
        })
    }
}

#[derive(Debug, Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    /// A count the caller bounded below 256 ([`ANNOUNCE_ADDRS`], [`ANNOUNCE_DOCS`]).
    fn u8_len(&mut self, n: usize) {
        self.0.push(u8::try_from(n).unwrap_or(u8::MAX));
    }

    /// Lengths are bounded by [`MAX_MESSAGE_BYTES`], far below `u32::MAX`.
    fn u32(&mut self, n: usize) {
        self.0
            .extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }

    /// A [`DocName`] is at most [`MAX_NAME`] bytes by construction.
    fn name(&mut self, name: &DocName) {
        self.u8_len(name.0.len());
        self.bytes(name.0.as_bytes());
    }

    fn addr(&mut self, a: &SocketAddr) {
        match a.ip() {
            IpAddr::V4(ip) => {
                self.u8(4);
                self.bytes(&ip.octets());
            }
            IpAddr::V6(ip) => {
                self.u8(6);
                self.bytes(&ip.octets());
            }
        }
        self.bytes(&a.port().to_be_bytes());
    }
}

/// Reads a message front to back; every length is checked against what is left, every count
/// against its limit.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str, max: usize) -> Result<Reader<'a>, DecodeError> {
        if bytes.len() > max {
            return Err(DecodeError::TooLarge {
                what,
                len: bytes.len(),
                max,
            });
        }
        Ok(Reader { bytes, pos: 0 })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| DecodeError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| DecodeError::Truncated)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn digest(&mut self) -> Result<Digest, DecodeError> {
        self.array()
    }

    fn count(&mut self, what: &'static str, max: usize) -> Result<usize, DecodeError> {
        let count = self.u32()?;
        if count > max {
            return Err(DecodeError::TooMany { what, count, max });
        }
        Ok(count)
    }

    fn small_count(&mut self, what: &'static str, max: usize) -> Result<usize, DecodeError> {
        let count = usize::from(self.u8()?);
        if count > max {
            return Err(DecodeError::TooMany { what, count, max });
        }
        Ok(count)
    }

    fn name(&mut self) -> Result<DocName, DecodeError> {
        let n = usize::from(self.u8()?);
        let s = std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::BadName)?;
        DocName::new(s)
    }

    fn addr(&mut self) -> Result<SocketAddr, DecodeError> {
        let ip = match self.u8()? {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>()?)),
            _ => return Err(DecodeError::BadAddress),
        };
        let port = u16::from_be_bytes(self.array()?);
        Ok(SocketAddr::new(ip, port))
    }

    fn finish(self) -> Result<(), DecodeError> {
        match self.bytes.len() - self.pos {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(s: &str) -> DocName {
        DocName::new(s).unwrap()
    }

    fn announce() -> Announce {
        Announce {
            node: [3; 32],
            seq: 42,
            addrs: vec![
                "127.0.0.1:4000".parse().unwrap(),
                "[fe80::1]:4000".parse().unwrap(),
            ],
            docs: (0..ANNOUNCE_DOCS)
                .map(|i| (name(&format!("ledger/2026-11-24/{:03}", i + 1)), [7; 32]))
                .collect(),
            hq: true,
        }
    }

    #[test]
    fn document_names_are_checked_when_made() {
        for ok in [
            "catalog/07",
            "ledger/2026-11-24/003",
            "members",
            &"a".repeat(64),
        ] {
            assert_eq!(name(ok).as_str(), ok);
        }
        for bad in [
            "",
            "Catalog/07",
            "../etc",
            "a b",
            "katalog\u{e9}",
            &"a".repeat(65),
        ] {
            assert_eq!(DocName::new(bad), Err(DecodeError::BadName), "{bad:?}");
        }
    }

    #[test]
    fn messages_round_trip() {
        let long = name(&"x".repeat(MAX_NAME));
        for m in [
            WireMessage::Manifest(vec![
                (name("ledger/2026-11-23/001"), [7; 32]),
                (long.clone(), [0; 32]),
            ]),
            WireMessage::Sync {
                doc: name("customers/12"),
                data: vec![1, 2, 3],
            },
            WireMessage::Ack {
                doc: long,
                digest: [9; 32],
            },
            WireMessage::Announce(announce().encode()),
        ] {
            assert_eq!(WireMessage::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn announcements_round_trip_and_fit_in_a_gossip_message() {
        let a = announce();
        let bytes = a.encode();
        assert!(bytes.len() <= MAX_ANNOUNCE, "{}", bytes.len());
        assert_eq!(Announce::decode(&bytes).unwrap(), a);
        // The longest names still fit.
        let mut big = announce();
        big.docs = (0..ANNOUNCE_DOCS)
            .map(|i| (name(&format!("{i:064}")), [1; 32]))
            .collect();
        big.addrs = vec!["[2001:db8::1]:65535".parse().unwrap(); ANNOUNCE_ADDRS];
        assert!(big.encode().len() <= MAX_ANNOUNCE, "{}", big.encode().len());
        assert_eq!(Announce::decode(&big.encode()).unwrap(), big);
        // A lane from before leaders (version 1, no HQ flag) is heard as no candidate.
        let mut old = a.encode();
        old[0] = 1;
        old.pop();
        let heard = Announce::decode(&old).unwrap();
        assert_eq!(heard, Announce { hq: false, ..a });
    }

    #[test]
    fn malformed_input_is_refused_with_what_was_wrong() {
        assert_eq!(WireMessage::decode(&[]), Err(DecodeError::Truncated));
        assert_eq!(WireMessage::decode(&[9]), Err(DecodeError::UnknownType(9)));
        assert_eq!(
            WireMessage::decode(&[2, 3, b'.', b'.', b'/', 0, 0, 0, 0]),
            Err(DecodeError::BadName)
        );
        let mut ok = WireMessage::Sync {
            doc: name("categories"),
            data: vec![1],
        }
        .encode();
        ok.push(0);
        assert_eq!(WireMessage::decode(&ok), Err(DecodeError::Trailing(1)));
        assert!(matches!(
            WireMessage::decode(&[1, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(DecodeError::TooMany {
                what: "manifest",
                ..
            })
        ));
        assert!(matches!(
            WireMessage::decode(&vec![0; MAX_MESSAGE_BYTES + 1]),
            Err(DecodeError::TooLarge { .. })
        ));
        assert_eq!(Announce::decode(&[3]), Err(DecodeError::UnknownVersion(3)));
        let mut a = announce().encode();
        a[1 + 32 + 8] = 9; // address count
        assert!(matches!(
            Announce::decode(&a),
            Err(DecodeError::TooMany {
                what: "addresses",
                ..
            })
        ));
        let mut a = announce().encode();
        a[1 + 32 + 8 + 1] = 5; // address family
        assert_eq!(Announce::decode(&a), Err(DecodeError::BadAddress));
        assert!(matches!(
            Announce::decode(&vec![1; MAX_ANNOUNCE + 1]),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = WireMessage::decode(&bytes);
            let _ = Announce::decode(&bytes);
        }

        #[test]
        fn mutated_messages_never_panic(flip in 0usize..4096, value in any::<u8>(), cut in 1usize..4096) {
            let mut bytes = WireMessage::Manifest(vec![(name("ledger/2026-11-23/001"), [7; 32])]).encode();
            let i = flip % bytes.len();
            bytes[i] = value;
            bytes.truncate(cut);
            let _ = WireMessage::decode(&bytes);
            let mut bytes = announce().encode();
            let i = flip % bytes.len();
            bytes[i] = value;
            bytes.truncate(cut);
            let _ = Announce::decode(&bytes);
        }
    }
}
