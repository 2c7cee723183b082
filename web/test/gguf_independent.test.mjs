// Cross-checks our GGUF writer/reader against an independent GGUF parser (@huggingface/gguf).
//
// Where the GGUF files come from (never written by JS, so this is not JS testing JS):
//  1. The Catch2 test "[gguf]" (tests/test_gguf.cpp, "sample file + JSON sidecar") writes
//     <test_tmp>/gguf_sample.gguf with our C++ GgufWriter (every metadata type incl. nested and
//     empty arrays, F32/F16/Q8_0/Q4_0 tensors with odd shapes) and <test_tmp>/gguf_sample.json,
//     what our C++ reader saw: keys with type / subType / value / array length, tensor names,
//     types, ggml-order dims, offsets, the data-section offset. <test_tmp> is $MBLIP_TEST_TMP,
//     else build/native/test_tmp, else the newest build/*/test_tmp holding both files. Run
//     `mblip_tests "[gguf]"` first; without the files this part is skipped with a visible message.
//  2. When build/native/bin/mblip-convert exists, it converts the golden tiny-mt5 checkpoint to a
//     temporary q8_0 GGUF; the independent parser must find the documented metadata keys
//     (docs/model-file.md) and well-formed tensor infos, and, when build/native/bin/mblip exists,
//     the same tensors as `mblip info --json`. $MBLIP_CONVERT_BIN / $MBLIP_CLI_BIN override the paths.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gguf } from "@huggingface/gguf";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const golden = process.env.MBLIP_GOLDEN_DIR || path.resolve(repo, "..", "shared", "golden");
const TYPE_NAMES = { 0: "f32", 1: "f16", 2: "q4_0", 8: "q8_0" };
const BLOCK = { 0: [1, 4], 1: [1, 2], 2: [32, 18], 8: [32, 34] }; // elements, bytes per block

function findSampleDir() {
  const has = (d) => d && fs.existsSync(path.join(d, "gguf_sample.gguf")) && fs.existsSync(path.join(d, "gguf_sample.json"));
  const first = [process.env.MBLIP_TEST_TMP, path.join(repo, "build", "native", "test_tmp")].find(has);
  if (first) return first;
  const buildDir = path.join(repo, "build");
  if (!fs.existsSync(buildDir)) return null;
  const cands = fs.readdirSync(buildDir).map((d) => path.join(buildDir, d, "test_tmp")).filter(has);
  cands.sort((a, b) => fs.statSync(path.join(b, "gguf_sample.gguf")).mtimeMs - fs.statSync(path.join(a, "gguf_sample.gguf")).mtimeMs);
  return cands[0] ?? null;
}

async function parse(file) {
  return gguf(file, { allowLocalFile: true, typedMetadata: true });
}

const HEADER_KEYS = new Set(["version", "tensor_count", "kv_count"]);

// Independent well-formedness checks of tensor infos from the spec.
function checkTensorInfos(infos, dataOffset, fileSize, alignment) {
  const spans = [];
  for (const t of infos) {
    assert.ok(t.n_dims >= 1 && t.n_dims <= 4, `${t.name}: n_dims ${t.n_dims}`);
    assert.ok(t.dtype in BLOCK, `${t.name}: type ${t.dtype}`);
    assert.equal(t.offset % BigInt(alignment), 0n, `${t.name}: offset not aligned`);
    const n = t.shape.reduce((a, b) => a * b, 1n);
    const [be, bb] = BLOCK[t.dtype];
    assert.equal(t.shape[0] % BigInt(be), 0n, `${t.name}: row not a block multiple`);
    const bytes = (n / BigInt(be)) * BigInt(bb);
    assert.ok(dataOffset + t.offset + bytes <= BigInt(fileSize), `${t.name}: past end of file`);
    spans.push([t.offset, t.offset + bytes, t.name]);
  }
  spans.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], `${spans[i - 1][2]} overlaps ${spans[i][2]}`);
}

test("@huggingface/gguf reads the C++-written sample exactly as our reader does", async (t) => {
  const dir = findSampleDir();
  if (!dir) {
    t.skip("no gguf_sample.gguf/.json in $MBLIP_TEST_TMP or build/*/test_tmp: run `mblip_tests \"[gguf]\"` first");
    return;
  }
  t.diagnostic(`sample from ${dir}`);
  const file = path.join(dir, "gguf_sample.gguf");
  const side = JSON.parse(fs.readFileSync(path.join(dir, "gguf_sample.json"), "utf8"));
  const out = await parse(file);
  const md = out.typedMetadata;

  assert.equal(out.littleEndian, true);
  assert.equal(Number(md.version.value), side.version);
  assert.equal(out.tensorDataOffset, BigInt(side.tensor_data_offset));

  const theirKeys = Object.keys(md).filter((k) => !HEADER_KEYS.has(k)).sort();
  const ourKeys = Object.keys(side.metadata).sort();
  assert.deepEqual(theirKeys, ourKeys);
  assert.equal(Number(md.kv_count.value), ourKeys.length);

  for (const key of ourKeys) {
    const ours = side.metadata[key];
    const theirs = md[key];
    assert.equal(theirs.type, ours.type, `${key}: type`);
    if (ours.type === 9) {
      assert.equal(theirs.subType, ours.subType, `${key}: array element type`);
      assert.equal(theirs.value.length, ours.length, `${key}: array length`);
    } else if (ours.type === 10 || ours.type === 11) {
      assert.equal(String(theirs.value), ours.value, `${key}: 64-bit value`);
    } else {
      assert.equal(theirs.value, ours.value, `${key}: value`);
    }
  }
  // A few values spelled out (what the C++ test wrote).
  assert.equal(md["general.architecture"].value, "blip2-t5");
  assert.equal(md["general.alignment"].value, side.alignment);
  assert.deepEqual(md["test.arr_u8"].value, [0, 1, 254, 255]);
  assert.deepEqual(md["test.arr_str"].value, ["a", "", "\u2581piece"]);
  assert.deepEqual(md["test.arr_nested"].value, [[1, 2], [], [["deep"]]]);
  assert.equal(md["test.i64"].value, -(2n ** 63n));
  assert.equal(md["test.str"].value, "caf\u00e9 \u0000 nul");

  assert.equal(out.tensorInfos.length, side.tensors.length);
  assert.equal(Number(md.tensor_count.value), side.tensors.length);
  out.tensorInfos.forEach((ti, i) => {
    const ours = side.tensors[i];
    assert.equal(ti.name, ours.name);
    assert.equal(ti.dtype, ours.type, `${ti.name}: type`);
    assert.equal(ti.n_dims, ours.ggml_dims.length, `${ti.name}: n_dims`);
    assert.deepEqual(ti.shape.map(Number), ours.ggml_dims, `${ti.name}: dims`);
    assert.equal(ti.offset, BigInt(ours.offset), `${ti.name}: offset`);
  });
  checkTensorInfos(out.tensorInfos, out.tensorDataOffset, fs.statSync(file).size, side.alignment);
});

test("@huggingface/gguf reads a file converted by mblip-convert", async (t) => {
  const convert = process.env.MBLIP_CONVERT_BIN || path.join(repo, "build", "native", "bin", "mblip-convert");
  const model = path.join(golden, "models", "tiny-mt5");
  if (!fs.existsSync(convert) || !fs.existsSync(model)) {
    t.skip(`needs ${path.relative(repo, convert)} and ${model}`);
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mblip-gguf-"));
  try {
    const out = path.join(tmp, "x.gguf");
    execFileSync(convert, [model, out, "--weights", "q8_0"], { stdio: "pipe" });
    const parsed = await parse(out);
    const md = parsed.typedMetadata;
    assert.equal(md["general.architecture"].value, "blip2-t5");
    const alignment = md["general.alignment"] ? Number(md["general.alignment"].value) : 32;
    checkTensorInfos(parsed.tensorInfos, parsed.tensorDataOffset, fs.statSync(out).size, alignment);
    assert.ok(parsed.tensorInfos.some((ti) => ti.dtype === 8), "some tensor is q8_0");

    // Every required key documented in docs/model-file.md is present.
    const doc = fs.readFileSync(path.join(repo, "docs", "model-file.md"), "utf8");
    const required = [...doc.matchAll(/^\| `([a-z0-9_.]+)` \| [A-Z0-9[\]]+ \| yes/gm)].map((m) => m[1]);
    assert.ok(required.length > 40, "parsed the key table");
    for (const key of required) assert.ok(key in md, `missing metadata key ${key}`);
    assert.equal(md["tokenizer.sentencepiece.model"].subType, 0, "tokenizer model is an UINT8 array");

    const cli = process.env.MBLIP_CLI_BIN || path.join(repo, "build", "native", "bin", "mblip");
    if (!fs.existsSync(cli)) {
      t.diagnostic("build/native/bin/mblip absent: skipped the `mblip info --json` comparison");
      return;
    }
    const info = JSON.parse(execFileSync(cli, ["info", out, "--json"], { encoding: "utf8" }));
    assert.equal(info.gguf_version, Number(md.version.value));
    assert.equal(info.tensors.length, parsed.tensorInfos.length);
    parsed.tensorInfos.forEach((ti, i) => {
      const ours = info.tensors[i];
      assert.equal(ours.name, ti.name);
      assert.equal(ours.type, TYPE_NAMES[ti.dtype], `${ti.name}: type`);
      assert.deepEqual(ours.shape, ti.shape.map(Number).reverse(), `${ti.name}: HF shape = reversed ggml dims`);
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
