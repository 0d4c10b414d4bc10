// The official JavaScript Automerge library on kasir documents (node/core/tests/other_writers.rs).
//
//   node interop.mjs read DIR        every DIR/*.am: its heads and its contents, one JSON line each
//   node interop.mjs write DIR N     N products written as a JavaScript program would (plain
//                                    strings, which become Text; numbers; booleans), one file per
//                                    catalog shard: DIR/catalog-NN.am
import * as A from "@automerge/automerge";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const SEP = "\u001f";
const [cmd, dir, n] = process.argv.slice(2);

function plain(v) {
  if (v instanceof A.ImmutableString) return { str: String(v) };
  if (typeof v === "string") return { text: v };
  if (typeof v === "number") return { num: v };
  if (typeof v === "boolean") return { bool: v };
  return { other: String(v) };
}

// FNV-1a of the SKU's UTF-8 bytes, modulo 64: the shard every lane files a product in.
function shard(sku) {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(sku)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 64;
}

if (cmd === "read") {
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".am")).sort()) {
    const doc = A.load(readFileSync(join(dir, f)));
    const contents = {};
    for (const [k, v] of Object.entries(doc)) contents[k] = plain(v);
    console.log(JSON.stringify({ file: f, heads: A.getHeads(doc), contents }));
  }
} else if (cmd === "write") {
  const docs = new Map();
  for (let i = 0; i < Number(n); i++) {
    const sku = `JS-${String(i).padStart(4, "0")}`;
    const s = shard(sku);
    let d = docs.get(s) ?? A.init();
    d = A.change(d, (x) => {
      x[`${sku}${SEP}name`] = `Produk JavaScript ${i}`;
      x[`${sku}${SEP}price`] = 1000 + i;
      x[`${sku}${SEP}unit`] = i % 25 === 0 ? "kg" : "pcs";
      x[`${sku}${SEP}active`] = true;
      x[`${sku}${SEP}barcode`] = `JSBC${i}`;
    });
    docs.set(s, d);
  }
  for (const [s, d] of docs) {
    writeFileSync(join(dir, `catalog-${String(s).padStart(2, "0")}.am`), A.save(d));
  }
  console.log(JSON.stringify({ docs: docs.size }));
} else {
  console.error("usage: node interop.mjs read DIR | write DIR N");
  process.exit(2);
}
