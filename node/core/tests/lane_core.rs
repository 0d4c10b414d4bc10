//! The lane core's policy on virtual time (issue #10): dialing and redialing, the
//! duplicate-connection rule, announcements, admission and removal — first input by input,
//! then whole stores over the in-memory LAN.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use kasir_core::lane::{
    CloseReason, Input, LaneConfig, LaneCore, LaneEvent, LaneStore, Output, REDIAL_AFTER,
    StorePolicy,
};
use kasir_core::memlan::{LaneTill, MemLan};
use kasir_core::memnet::LinkConfig;
use kasir_core::schema::Decimal;
use kasir_core::schema::payment::Tender;
use kasir_core::sync::PeerId;
use kasir_core::wire::Announce;
use kasir_core::{Till, demo};

const SEC: Duration = Duration::from_secs(1);

/// A node id for lane `n` (64 hex characters, as iroh's are).
fn node(n: u8) -> PeerId {
    PeerId(format!("{n:02x}").repeat(32))
}

fn lane(dir: &std::path::Path, n: u32) -> Till {
    let mut till = common::bare_lane(dir, n);
    till.enroll_self(&node(u8::try_from(n).unwrap()).0).unwrap();
    till.login("maya", "9999").unwrap();
    till
}

fn dials(out: &[Output]) -> Vec<PeerId> {
    out.iter()
        .filter_map(|o| match o {
            Output::Dial { peer, .. } => Some(peer.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_member_is_dialed_at_start_redialed_after_ten_seconds_or_a_failure_and_strangers_never() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = lane(dir.path(), 1);
    let mut config = LaneConfig::new(node(1));
    config.static_peers = vec![(node(2), vec!["127.0.0.1:7002".parse().unwrap()])];
    config.static_members = BTreeSet::from([node(3)]);
    let mut core = LaneCore::new(config);
    let t0 = Duration::from_secs(100);

    let out = core.handle(
        Input::Started {
            addrs: vec!["127.0.0.1:7001".parse().unwrap()],
        },
        t0,
        &mut till,
    );
    assert_eq!(dials(&out), vec![node(2)]);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Admitted(a) if *a == BTreeSet::from([node(2), node(3)])))
    );
    // Node 3 has no known address: nobody dials it. Node 2's dial is under way: not again.
    for k in 1..10 {
        let out = core.handle(Input::Tick, t0 + SEC * k, &mut till);
        assert!(dials(&out).is_empty(), "tick {k}: {out:?}");
    }
    let out = core.handle(Input::Tick, t0 + REDIAL_AFTER, &mut till);
    assert_eq!(
        dials(&out),
        vec![node(2)],
        "redialed after {REDIAL_AFTER:?}"
    );
    // A failed dial is retried at the next status tick, not ten seconds later.
    core.handle(
        Input::DialFailed {
            peer: node(2),
            reason: "timed out".into(),
        },
        t0 + REDIAL_AFTER + SEC / 2,
        &mut till,
    );
    let out = core.handle(Input::Tick, t0 + REDIAL_AFTER + SEC, &mut till);
    assert_eq!(dials(&out), vec![node(2)]);
    // Discovery gives node 3 an address: dialed at once. A stranger found the same way is not.
    let out = core.handle(
        Input::Discovered {
            peer: node(3),
            addrs: vec!["127.0.0.1:7003".parse().unwrap()],
        },
        t0 + REDIAL_AFTER + SEC,
        &mut till,
    );
    assert_eq!(dials(&out), vec![node(3)]);
    let out = core.handle(
        Input::Discovered {
            peer: node(9),
            addrs: vec!["127.0.0.1:7009".parse().unwrap()],
        },
        t0 + REDIAL_AFTER + SEC,
        &mut till,
    );
    assert!(dials(&out).is_empty());
    // A stranger that connects is closed and reported.
    let out = core.handle(
        Input::Connected {
            peer: node(9),
            conn: 77,
            dialer: node(9),
            remote: None,
        },
        t0 + REDIAL_AFTER + SEC,
        &mut till,
    );
    assert!(out.contains(&Output::Close {
        peer: node(9),
        conn: 77,
        reason: CloseReason::NotAMember
    }));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(LaneEvent::Refused(r)) if r.contains("non-member")))
    );
}

#[test]
fn announcements_go_out_every_status_tick_and_gossip_is_rejoined_every_tenth() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = lane(dir.path(), 1);
    let mut config = LaneConfig::new(node(1));
    config.status_every = Duration::from_millis(500);
    config.static_peers = vec![(node(2), vec!["127.0.0.1:7002".parse().unwrap()])];
    let mut core = LaneCore::new(config);
    let addr = "127.0.0.1:7001".parse().unwrap();
    core.handle(
        Input::Started { addrs: vec![addr] },
        Duration::ZERO,
        &mut till,
    );
    // The till sells: the ledger document is announced with its heads from then on.
    till.open_shift(Decimal::from(1)).unwrap();
    let docs = till.take_changed_documents();
    core.handle(Input::LocalChange { docs }, Duration::ZERO, &mut till);
    let mut seqs = Vec::new();
    let mut joins = 0;
    let mut t = Duration::ZERO;
    for _ in 0..20 {
        t = core.next_deadline().unwrap();
        assert_eq!(t.as_millis() % 500, 0, "status ticks fall every 500 ms");
        for o in core.handle(Input::Tick, t, &mut till) {
            match o {
                Output::Announce(bytes) => {
                    let a = Announce::decode(&bytes).unwrap();
                    assert_eq!(a.addrs, vec![addr]);
                    assert!(a.docs.iter().any(|(d, _)| d.as_str() == "members"));
                    seqs.push(a.seq);
                }
                Output::JoinGossip(peers) => {
                    assert_eq!(peers, vec![node(2)]);
                    joins += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!(t, Duration::from_secs(10));
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>());
    assert_eq!(joins, 2, "at the 1st and the 11th tick");
}

/// `n` lanes of store JKT01 (lane 1 with 60 products, 20 in stock each); every lane knows
/// only lane 1's address, all are static members of each other.
fn store(dir: &std::path::Path, n: u8, seed: u64, link: LinkConfig) -> MemLan<Till> {
    store_of(dir, n, seed, link, |t| t)
}

/// [`store`] with each lane's till wrapped by `wrap`.
fn store_of<S: LaneStore>(
    dir: &std::path::Path,
    n: u8,
    seed: u64,
    link: LinkConfig,
    wrap: impl Fn(Till) -> S,
) -> MemLan<S>
where
    S::Error: std::fmt::Display,
{
    let mut lan = MemLan::new(seed, link);
    for k in 1..=n {
        let mut till = lane(dir, u32::from(k));
        if k == 1 {
            let products = demo::products(60, 3);
            till.import_products(&products).unwrap();
            for p in &products {
                till.receive_stock(&p.sku, Decimal::from(20), None, None)
                    .unwrap();
            }
        }
        till.open_shift(Decimal::from(100_000)).unwrap();
        lan.add(wrap(till), config_of(k, n));
    }
    lan
}

/// Lane `k`'s configuration in a store of `n` lanes: all static members, lane 1's address
/// known.
fn config_of(k: u8, n: u8) -> LaneConfig {
    let mut config = LaneConfig::new(node(k));
    config.static_members = (1..=n).map(node).collect();
    if k > 1 {
        config.static_peers = vec![(node(1), vec![MemLan::<Till>::addr_of(0)])];
    }
    config
}

fn sell(lan: &mut MemLan<Till>, i: usize, sku: &str) {
    let till = &mut lan.lanes[i].store;
    let q = if till.product(sku).unwrap().unwrap().unit
        == kasir_core::schema::domain::SaleUnit::Kilogram
    {
        Decimal::new(250, 3)
    } else {
        Decimal::ONE
    };
    till.add_sku(sku, q).unwrap();
    till.pay(&[Tender::cash(Decimal::from(10_000_000))])
        .unwrap();
    lan.local_change(i);
}

fn sales(t: &Till) -> i64 {
    t.connection()
        .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn lanes_that_know_one_address_find_each_other_through_announcements_and_converge() {
    for seed in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let mut lan = store(dir.path(), 5, seed, LinkConfig::hostile());
        assert!(lan.settle(Duration::from_secs(120)), "catalog spread");
        for round in 0..6 {
            for i in 0..5 {
                sell(&mut lan, i, &format!("P{:06}", (round * 5 + i) % 60));
            }
            lan.run_for(Duration::from_millis(300));
        }
        assert!(
            lan.settle(Duration::from_secs(120)),
            "seed {seed}: no convergence"
        );
        // A full mesh: everyone connected to everyone, directly.
        for l in &lan.lanes {
            for other in &lan.lanes {
                if other.id != l.id {
                    assert!(l.core.is_connected(&other.id), "seed {seed}");
                }
            }
        }
        let first = lan.lanes[0].store.document_manifest().unwrap();
        for l in &lan.lanes {
            assert_eq!(sales(&l.store), 30);
            assert_eq!(l.store.document_manifest().unwrap(), first);
            assert!(l.store.stock_discrepancies().unwrap().is_empty());
        }
    }
}

#[test]
fn both_sides_dialing_at_once_keep_the_connection_the_lower_id_dialed() {
    let dir = tempfile::tempdir().unwrap();
    let mut lan: MemLan<Till> = MemLan::new(7, LinkConfig::lan());
    for k in [1u8, 2] {
        let mut config = LaneConfig::new(node(k));
        config.static_members = BTreeSet::from([node(1), node(2)]);
        lan.add(lane(dir.path(), u32::from(k)), config);
    }
    // Neither knows where the other is, until both discover each other at the same moment.
    for (i, k) in [(0, 2u8), (1, 1u8)] {
        lan.input(
            i,
            Input::Discovered {
                peer: node(k),
                addrs: vec![MemLan::<Till>::addr_of(usize::from(k) - 1)],
            },
        );
    }
    lan.run_for(SEC * 3);
    let (a, b) = (&lan.lanes[0].core, &lan.lanes[1].core);
    let kept = a.conn_with(&node(2)).unwrap();
    assert_eq!(
        Some(kept),
        b.conn_with(&node(1)),
        "both keep the same connection"
    );
    // Lane 1 (the lower id) dialed first, so its connection got the lower number.
    assert_eq!(kept, 1);
    assert!(lan.settle(Duration::from_secs(30)));
}

#[test]
fn a_stranger_is_refused_and_a_removed_lane_is_closed_out_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut lan = store(dir.path(), 3, 11, LinkConfig::lan());
    // A stranger with the store's catalog code dials lane 1 and learns nothing.
    let mut stranger = LaneConfig::new(node(9));
    stranger.static_peers = vec![(node(1), vec![MemLan::<Till>::addr_of(0)])];
    let s = lan.add(lane(dir.path(), 9), stranger);
    assert!(lan.settle(Duration::from_secs(60)));
    assert!(lan.lanes[0].events.iter().any(
        |e| matches!(e, LaneEvent::Refused(r) if r.contains("non-member") && r.contains(&node(9).0))
    ));
    assert_eq!(lan.lanes[s].store.document_manifest().unwrap().len(), 1);
    assert_eq!(sales(&lan.lanes[s].store), 0);

    // Announcements have meshed the members by now.
    lan.run_for(SEC * 3);
    assert!(lan.lanes[1].core.is_connected(&node(3)));
    // The manager removes lane 3 on lane 1: lane 1 and lane 2 close it out.
    lan.lanes[0].store.remove_member(&node(3).0).unwrap();
    lan.local_change(0);
    assert!(lan.settle(Duration::from_secs(60)));
    for i in 0..2 {
        assert!(
            !lan.lanes[i].core.admitted().contains(&node(3)),
            "lane {}",
            i + 1
        );
        assert!(!lan.lanes[i].core.is_connected(&node(3)));
        assert!(
            lan.lanes[i].events.iter().any(
                |e| matches!(e, LaneEvent::Refused(r) if r.contains("removed from the store"))
            ),
            "lane {}: {:?}",
            i + 1,
            lan.lanes[i]
                .events
                .iter()
                .filter(|e| !matches!(e, LaneEvent::Peers(_) | LaneEvent::Sync(_)))
                .collect::<Vec<_>>()
        );
    }
    // Its sales reach nobody any more.
    sell(&mut lan, 2, "P000001");
    lan.run_for(SEC * 5);
    assert_eq!(sales(&lan.lanes[0].store), 0);
    assert_eq!(sales(&lan.lanes[1].store), 0);
    assert_eq!(sales(&lan.lanes[2].store), 1);
}

/// Which lane each lane sees leading (`None`: none), for the lanes that are up.
fn leaders(lan: &MemLan<Till>) -> Vec<Option<u16>> {
    lan.lanes
        .iter()
        .filter(|l| l.up)
        .map(|l| l.core.leader().map(|x| x.lane.unwrap_or(0)))
        .collect()
}

/// Runs in steps of 100 ms until `ok` holds; returns how long that took (at most `limit`).
fn until(lan: &mut MemLan<Till>, limit: Duration, ok: impl Fn(&MemLan<Till>) -> bool) -> Duration {
    let start = lan.now();
    while !ok(lan) {
        assert!(
            lan.now() - start < limit,
            "not within {limit:?}: {:?}",
            leaders(lan)
        );
        lan.run_for(Duration::from_millis(100));
    }
    lan.now() - start
}

#[test]
fn one_lane_leads_and_another_takes_over_within_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let mut lan = store(dir.path(), 3, 11, LinkConfig::lan());
    // Nobody can reach HQ: nobody leads.
    lan.run_for(SEC * 5);
    assert_eq!(leaders(&lan), vec![None, None, None]);
    for i in 0..3 {
        lan.input(i, Input::Hq { reachable: true });
    }
    until(&mut lan, SEC * 10, |l| leaders(l) == vec![Some(1); 3]);
    assert!(lan.lanes[0].core.is_leader());
    assert!(!lan.lanes[1].core.is_leader() && !lan.lanes[2].core.is_leader());
    lan.run_for(SEC * 5);
    assert_eq!(leaders(&lan), vec![Some(1); 3], "stable");
    // The leader dies (no goodbye): lane 2 leads once lane 1's lease runs out.
    lan.stop(0);
    let took = until(&mut lan, SEC * 10, |l| leaders(l) == vec![Some(2); 2]);
    assert!(took <= lan.lanes[1].core.lease() + SEC * 2, "{took:?}");
    assert!(lan.lanes[1].core.is_leader());
    // The leader loses HQ: lane 3 leads after lane 2's next announcement.
    lan.input(1, Input::Hq { reachable: false });
    let took = until(&mut lan, SEC * 10, |l| leaders(l) == vec![Some(3); 2]);
    assert!(took <= SEC * 2, "{took:?}");
    lan.input(1, Input::Hq { reachable: true });
    until(&mut lan, SEC * 10, |l| leaders(l) == vec![Some(2); 2]);
    // Cut off from each other, each side leads itself (harmless: HQ keeps each record
    // once); healed, they agree again.
    let (a, b) = (lan.lanes[1].id.clone(), lan.lanes[2].id.clone());
    lan.net.partition(&a, &b);
    until(&mut lan, SEC * 10, |l| leaders(l) == vec![Some(2), Some(3)]);
    lan.net.heal();
    until(&mut lan, SEC * 10, |l| leaders(l) == vec![Some(2); 2]);
    // Every change was reported as an event, with when it happened.
    let changes: Vec<Option<u16>> = lan.lanes[2]
        .events
        .iter()
        .filter_map(|e| match e {
            LaneEvent::Leader(l) => Some(l.as_ref().and_then(|l| l.lane)),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![Some(1), Some(2), Some(3), Some(2), Some(3), Some(2)]
    );
}

#[test]
fn a_lane_just_started_hears_a_lower_lane_before_it_would_lead() {
    let dir = tempfile::tempdir().unwrap();
    let mut lan = store(dir.path(), 2, 3, LinkConfig::lan());
    for i in 0..2 {
        lan.input(i, Input::Hq { reachable: true });
    }
    // Lane 2 never believes it leads: lane 1 is heard within lane 2's first lease.
    for _ in 0..100 {
        lan.run_for(Duration::from_millis(100));
        assert!(!lan.lanes[1].core.is_leader(), "{:?}", leaders(&lan));
    }
    assert_eq!(leaders(&lan), vec![Some(1); 2]);
}

/// A cash sale of `skus` on lane `i` of a LAN whose merges wait in memory: what waits is
/// stored first, as [`LaneTill`] requires before a write.
fn sell_later(lan: &mut MemLan<LaneTill>, i: usize, skus: &[&str]) {
    lan.store_received(i);
    let till = lan.lanes[i].store.till_mut();
    for sku in skus {
        till.add_sku(sku, Decimal::ONE).unwrap();
    }
    till.pay(&[Tender::cash(Decimal::from(10_000_000))])
        .unwrap();
    lan.local_change(i);
}

#[test]
fn merges_wait_in_memory_as_the_node_keeps_them_and_a_crash_loses_only_what_was_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut lan = store_of(dir.path(), 2, 5, LinkConfig::lan(), LaneTill::new);
    assert!(lan.settle(Duration::from_secs(60)), "catalog spread");
    assert!(lan.lanes.iter().all(|l| !l.store.has_received()));
    sell_later(&mut lan, 0, &["P000001"]);
    // Event by event until lane 2 holds the sale in memory only.
    let far = lan.now() + Duration::from_secs(5);
    while !lan.lanes[1].store.has_received() {
        assert!(lan.step_until(far), "the sale never reached lane 2");
    }
    assert_eq!(sales(&lan.lanes[1].store), 0, "stored before its time");
    // A quiet LAN stores it at once: the next event is that store.
    let stores = lan.lanes[1].stores;
    assert!(lan.step_until(far));
    assert_eq!(lan.lanes[1].stores, stores + 1);
    assert_eq!(sales(&lan.lanes[1].store), 1);

    // A second sale reaches lane 2's memory, and lane 2 crashes before storing it.
    sell_later(&mut lan, 0, &["P000002"]);
    while !lan.lanes[1].store.has_received() {
        assert!(lan.step_until(far), "the second sale never reached lane 2");
    }
    lan.stop(1);
    let stores = lan.lanes[1].stores;
    lan.store_received(1);
    assert_eq!(
        lan.lanes[1].stores, stores,
        "a stopped lane stored what it held"
    );
    // Restarted from its files (the crashed till is dropped with what it held), it has the
    // first sale only, and gets the second from lane 1 again.
    lan.restart(
        1,
        LaneTill::new(lane_reopened(dir.path(), 2)),
        config_of(2, 2),
    );
    assert_eq!(sales(&lan.lanes[1].store), 1);
    assert!(
        lan.settle(Duration::from_secs(60)),
        "no convergence after the restart"
    );
    assert_eq!(sales(&lan.lanes[1].store), 2);
    assert_eq!(
        lan.lanes[1].store.document_manifest().unwrap(),
        lan.lanes[0].store.document_manifest().unwrap()
    );
}

#[test]
fn under_a_stream_merges_are_stored_in_batches_at_the_policy_s_pace() {
    let dir = tempfile::tempdir().unwrap();
    let mut lan = store_of(dir.path(), 2, 6, LinkConfig::lan(), LaneTill::new);
    assert!(lan.settle(Duration::from_secs(60)), "catalog spread");
    let stores = lan.lanes[1].stores;
    // Bursts of 5 sales every 20 ms for 1.6 s: a batch of one burst holds more records than
    // `StorePolicy::QUIET_BATCH`, a stream.
    let bursts = 80;
    let start = lan.now();
    for k in 0..bursts {
        for j in 0..5 {
            sell_later(&mut lan, 0, &[format!("P{:06}", (k * 5 + j) % 60).as_str()]);
        }
        lan.run_for(Duration::from_millis(20));
    }
    let span = lan.now() - start;
    assert!(lan.settle(Duration::from_secs(60)), "no convergence");
    assert_eq!(sales(&lan.lanes[1].store), i64::from(bursts * 5));
    let batches = lan.lanes[1].stores - stores;
    // At most one store per `StorePolicy::EVERY` under the stream (a few more while it
    // starts and ends), far fewer than one per burst.
    let most = u64::try_from(span.as_millis() / StorePolicy::EVERY.as_millis()).unwrap() + 4;
    assert!(
        batches <= most,
        "{batches} stores for {bursts} bursts in {span:?} (at most {most})"
    );
    assert!(
        batches >= 10,
        "{batches} stores: the stream was never stored on the way"
    );
}

fn lane_reopened(dir: &std::path::Path, n: u32) -> Till {
    let mut till = common::reopen_lane(dir, n);
    till.login("maya", "9999").unwrap();
    till
}
