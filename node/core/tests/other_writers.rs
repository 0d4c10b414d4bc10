//! Documents other Automerge writers can share (issue #10): a record written in any shape a
//! valid writer may use is projected; one that truly cannot be read is kept, listed with its
//! key and reason, and logged, never silently skipped; a later edit that fixes it brings it in.
//! With `KASIR_TEST_AUTOMERGE_JS` naming `node/core/tests/js` (with its `node_modules`, as
//! `.ci/run` installs them), the same both ways with the official JavaScript library.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ScalarValue};
use kasir_core::Till;
use kasir_core::docs::DocId;
use kasir_core::schema::Decimal;

const SEP: char = '\u{1f}';

/// A catalog shard as a JavaScript writer makes it: strings as Text, amounts as integers,
/// flags as booleans — plus two records nobody can read as a product.
fn foreign_shard(shard: DocId, n: usize) -> (Vec<String>, AutoCommit) {
    let mut doc = AutoCommit::new();
    let mut skus = Vec::new();
    let mut i = 0;
    while skus.len() < n {
        let sku = format!("FX-{i:04}");
        i += 1;
        if DocId::catalog_for(&sku) != shard {
            continue;
        }
        let name = doc
            .put_object(ROOT, format!("{sku}{SEP}name"), ObjType::Text)
            .unwrap();
        doc.splice_text(&name, 0, 0, &format!("Produk {sku}"))
            .unwrap();
        doc.put(ROOT, format!("{sku}{SEP}price"), 2_500_i64)
            .unwrap();
        doc.put(ROOT, format!("{sku}{SEP}active"), true).unwrap();
        skus.push(sku);
    }
    // A price as a float (money is never a float) and a product without a name.
    doc.put(ROOT, format!("{}{SEP}name", skus[0]), "Kopi")
        .unwrap();
    doc.put(
        ROOT,
        format!("{}{SEP}price", skus[0]),
        ScalarValue::F64(2_500.5),
    )
    .unwrap();
    doc.delete(ROOT, format!("{}{SEP}name", skus[1])).unwrap();
    doc.commit();
    (skus, doc)
}

#[test]
fn text_integer_and_boolean_fields_are_read_and_unreadable_records_are_kept_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = common::bare_lane(dir.path(), 1);
    let shard = DocId::Catalog(7);
    let (skus, mut foreign) = foreign_shard(shard, 30);
    let out = till.merge_remote(&shard.name(), &foreign.save()).unwrap();
    assert_eq!(out.products, 28, "{out:?}");
    let p = till.product(&skus[5]).unwrap().unwrap();
    assert_eq!(p.name, format!("Produk {}", skus[5]));
    assert_eq!(p.price, Decimal::from(2_500));
    assert!(p.is_active);
    assert!(till.product(&skus[0]).unwrap().is_none());
    assert!(till.product(&skus[1]).unwrap().is_none());

    let listed = till.unreadable_records().unwrap();
    let reasons: BTreeMap<&str, &str> = listed
        .iter()
        .map(|u| (u.key.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        BTreeMap::from([
            (
                skus[0].as_str(),
                "price: expected a number as text or an integer, found a floating-point number"
            ),
            (skus[1].as_str(), "name: missing"),
        ])
    );
    assert!(listed.iter().all(|u| u.doc == "catalog/07"));
    let logged: i64 = till
        .connection()
        .query_row(
            "SELECT count(*) FROM system_logs WHERE message = 'unreadable record kept'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(logged, 2);
    // The records stay in the document: both sides still converge on the same heads.
    assert_eq!(
        till.document_heads("catalog/07").unwrap(),
        foreign.get_heads()
    );
    assert_eq!(till.diagnostics().unwrap().unreadable_records, 2);

    // The writer fixes one: it comes in and leaves the list.
    foreign
        .put(ROOT, format!("{}{SEP}price", skus[0]), "2500.50")
        .unwrap();
    foreign.commit();
    till.merge_remote(&shard.name(), &foreign.save()).unwrap();
    assert_eq!(
        till.product(&skus[0]).unwrap().unwrap().price,
        Decimal::new(250_050, 2)
    );
    let left: Vec<String> = till
        .unreadable_records()
        .unwrap()
        .into_iter()
        .map(|u| u.key)
        .collect();
    assert_eq!(left, vec![skus[1].clone()]);
}

#[test]
fn a_ledger_record_that_is_not_a_sale_is_listed_and_the_rest_of_the_day_still_counts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::clock();
    let mut seller = common::store(dir.path(), clock.clone());
    common::cashier_on_shift(&mut seller);
    seller.scan("8998866200301").unwrap();
    let r = seller
        .pay(&[kasir_core::schema::payment::Tender::cash(common::d(5_000))])
        .unwrap();
    let day = format!(
        "ledger/{}/001",
        kasir_core::Clock::now(&*clock).format("%Y-%m-%d")
    );
    let mut doc = AutoCommit::load(&seller.export_document(&day).unwrap()).unwrap();
    doc.put(ROOT, format!("s{SEP}bogus"), "{\"not\": \"a sale\"}")
        .unwrap();
    doc.commit();

    let mut other = common::store_lane(dir.path(), clock, 2);
    let out = other.merge_remote(&day, &doc.save()).unwrap();
    assert_eq!(out.new_sales, 1);
    assert!(other.sale_by_number(&r.number).is_ok());
    let listed = other.unreadable_records().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, format!("s{SEP}bogus"));
    assert!(listed[0].reason.contains("missing field"), "{listed:?}");
}

/// Where the JavaScript tool lives, when the environment says so; a set variable with a broken
/// tool is an error, not a skip.
fn js_tool() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("KASIR_TEST_AUTOMERGE_JS")?);
    assert!(
        dir.join("node_modules/@automerge/automerge").is_dir(),
        "KASIR_TEST_AUTOMERGE_JS={} has no node_modules/@automerge/automerge: run npm ci there",
        dir.display()
    );
    Some(dir)
}

fn node(tool: &Path, args: &[&str]) -> String {
    let out = Command::new("node")
        .arg(tool.join("interop.mjs"))
        .args(args)
        .output()
        .expect("node (Node.js) must be installed for the JavaScript interop test");
    assert!(
        out.status.success(),
        "node interop.mjs {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_official_javascript_library_reads_a_lanes_documents_and_its_writes_reach_the_lane() {
    let Some(tool) = js_tool() else {
        eprintln!("skipped: set KASIR_TEST_AUTOMERGE_JS to node/core/tests/js (see .ci/run)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = common::clock();
    // A lane with a catalog, stock, a customer, sales and a return: every kind of document.
    let mut till: Till = common::store(dir.path(), clock.clone());
    common::cashier_on_shift(&mut till);
    for code in ["8998866200301", "036000291452"] {
        till.scan(code).unwrap();
    }
    till.pay(&[kasir_core::schema::payment::Tender::cash(common::d(50_000))])
        .unwrap();
    let out_dir = dir.path().join("docs");
    std::fs::create_dir(&out_dir).unwrap();
    let mut expected = BTreeMap::new();
    for name in till.document_names().unwrap() {
        let bytes = till.export_document(&name).unwrap();
        let file = format!("{}.am", name.replace('/', "_"));
        std::fs::write(out_dir.join(&file), &bytes).unwrap();
        let doc = AutoCommit::load(&bytes).unwrap();
        let contents: BTreeMap<String, serde_json::Value> = automerge::ReadDoc::keys(&doc, ROOT)
            .map(|k| {
                let v = kasir_core::docs::get_str(&doc, &k).unwrap();
                (k, serde_json::json!({ "str": v }))
            })
            .collect();
        let heads: Vec<String> = till
            .document_heads(&name)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        expected.insert(file, (heads, contents));
    }
    let mut seen = 0;
    for line in node(&tool, &["read", out_dir.to_str().unwrap()]).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = v["file"].as_str().unwrap();
        let (heads, contents) = &expected[file];
        let js_heads: Vec<String> = serde_json::from_value(v["heads"].clone()).unwrap();
        assert_eq!(&js_heads, heads, "{file}: heads");
        let js_contents: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(v["contents"].clone()).unwrap();
        assert_eq!(&js_contents, contents, "{file}: contents");
        seen += 1;
    }
    assert_eq!(seen, expected.len());
    assert!(
        seen >= 5,
        "catalog shards, a customer shard, a ledger, members: {seen}"
    );

    // The other way: 300 products written by JavaScript reach the lane, all of them.
    let js_dir = dir.path().join("js");
    std::fs::create_dir(&js_dir).unwrap();
    node(&tool, &["write", js_dir.to_str().unwrap(), "300"]);
    let before = till.diagnostics().unwrap().products;
    for entry in std::fs::read_dir(&js_dir).unwrap() {
        let path = entry.unwrap().path();
        let shard: u32 = path.file_stem().unwrap().to_str().unwrap()["catalog-".len()..]
            .parse()
            .unwrap();
        let name = DocId::Catalog(shard).name();
        till.merge_remote(&name, &std::fs::read(&path).unwrap())
            .unwrap();
    }
    assert_eq!(till.diagnostics().unwrap().products, before + 300);
    assert!(till.unreadable_records().unwrap().is_empty());
    let p = till.product("JS-0007").unwrap().unwrap();
    assert_eq!(p.name, "Produk JavaScript 7");
    assert_eq!(p.price, Decimal::from(1_007));
    assert_eq!(
        till.product("JS-0025").unwrap().unwrap().unit,
        kasir_core::schema::domain::SaleUnit::Kilogram
    );
    let found = till.search_products("JavaScript 29", 20).unwrap();
    assert!(found.iter().any(|p| p.sku == "JS-0029"), "{found:?}");
    assert!(found.iter().all(|p| p.name.contains("JavaScript 29")));
}
