#!/usr/bin/env python3
"""test_cli.py WISP_BINARY — the CLI's contracts: subcommands, JSON keys, greedy output
equal to llama.cpp's reference, and one-line errors with a non-zero exit status."""
import json, os, subprocess, sys, tempfile

wisp = sys.argv[1]
fx = os.environ.get("WISP_FIXTURES") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
ci = os.environ.get("CI") == "true"
checks = failures = 0

def check(cond, msg):
    global checks, failures
    checks += 1
    if not cond:
        failures += 1
        print("CHECK failed:", msg, file=sys.stderr)

def run(*args):
    p = subprocess.run([wisp, *args], capture_output=True)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

model = os.path.join(fx, "models", "stories260K.gguf")
vocab = os.path.join(fx, "tokenizer-tests", "ggml-vocab-qwen2.gguf")
refp = os.path.join(fx, "reference", "stories260K.json")
for f in (model, vocab, refp):
    if not os.path.exists(f):
        print(("FAIL" if ci else "*** SKIP") + ": fixture %s is missing" % f, file=sys.stderr)
        sys.exit(1 if ci else 0)
ref = json.load(open(refp))["prompts"][0]

# info
rc, out, err = run("info", model, "--json")
check(rc == 0, "info rc %d %s" % (rc, err))
info = json.loads(out)
check(info["arch"] == "llama" and info["n_vocab"] == 512 and info["n_layer"] == 5 and info["n_params"] == 292800,
      "info facts %r" % info)
check(info["kv_bytes"] == 2 * 2 * 5 * 4 * 8 * info["kv_ctx"], "kv bytes %r" % info)

# tokenize: JSON keys, BOS rule, vocab-only files, --special
rc, out, err = run("tokenize", model, ref["prompt"], "--json")
t = json.loads(out)
check(rc == 0 and set(t) == {"ids", "pieces"}, "tokenize keys %r" % t)
check(t["ids"] == ref["tokens_with_bos"], "tokenize ids %r" % t["ids"])
rc, out, err = run("tokenize", model, ref["prompt"], "--json", "--no-bos")
check(json.loads(out)["ids"] == ref["tokens_no_bos"], "tokenize --no-bos")
check(json.loads(out)["pieces"] == ref["pieces"], "tokenize pieces")
rc, out, err = run("tokenize", vocab, "<|im_start|>user", "--json", "--special")
check(rc == 0 and json.loads(out)["ids"] == [151644, 872], "vocab-only tokenize --special: %s %s" % (out, err))
rc, out, err = run("tokenize", vocab, "<|im_start|>user", "--json")
check(rc == 0 and json.loads(out)["ids"][0] != 151644, "specials are text without --special")

# generate: greedy equals llama.cpp's continuation
rc, out, err = run("generate", model, "-p", ref["prompt"], "-n", "32", "--temp", "0", "--json")
g = json.loads(out)
check(rc == 0 and set(g) == {"prompt_ids", "ids", "text", "prefill_tok_s", "decode_tok_s"}, "generate keys %r" % g)
check(g["prompt_ids"] == ref["eval_input_ids"], "generate prompt ids")
check(g["ids"] == ref["generated_ids"][:32], "generate greedy ids %r" % g["ids"])
check(ref["generated_text"].startswith(g["text"]), "generate text %r" % g["text"])
rc2, out2, _ = run("generate", model, "-p", ref["prompt"], "-n", "24", "--temp", "0.9", "--top-k", "40",
                   "--top-p", "0.95", "--min-p", "0.05", "--repeat-penalty", "1.1", "--seed", "7", "--json", "-t", "2")
rc3, out3, _ = run("generate", model, "-p", ref["prompt"], "-n", "24", "--temp", "0.9", "--top-k", "40",
                   "--top-p", "0.95", "--min-p", "0.05", "--repeat-penalty", "1.1", "--seed", "7", "--json")
check(rc2 == 0 and rc3 == 0 and json.loads(out2)["ids"] == json.loads(out3)["ids"],
      "same seed gives the same tokens (threads 2 vs 1)")

# logits: one position per input token, top-K sorted, logprob <= 0
ids = ref["eval_input_ids"]
rc, out, err = run("logits", model, "--ids", ",".join(map(str, ids)), "--top", "5", "--json")
l = json.loads(out)
check(rc == 0 and l["ids"] == ids and len(l["positions"]) == len(ids), "logits shape")
last = l["positions"][-1]
check(last["pos"] == len(ids) - 1 and len(last["top"]) == 5, "logits last position")
check(all(a["logit"] >= b["logit"] for a, b in zip(last["top"], last["top"][1:])), "top sorted")
check(last["top"][0]["id"] == ref["steps"][0]["top"][0]["id"], "top-1 equals llama.cpp's")
check(abs(last["top"][0]["logprob"] - ref["steps"][0]["top"][0]["logp"]) < 1e-3, "top-1 logprob")
rc, out, err = run("logits", model, "-p", ref["prompt"], "--top", "3", "--json")
check(rc == 0 and json.loads(out)["ids"] == ref["tokens_with_bos"], "logits -p adds BOS per add_bos")

# perplexity over a small text
with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
    f.write(" ".join([ref["prompt"] + ref["generated_text"]] * 4))
rc, out, err = run("perplexity", model, f.name, "-c", "64")
check(rc == 0 and out.startswith("perplexity: "), "perplexity: %s %s" % (out, err))
ppl = float(out.split()[1])
check(1.0 < ppl < 20.0, "perplexity of the model's own greedy text is low: %f" % ppl)
os.unlink(f.name)

# errors: non-zero exit, exactly one line on stderr naming the problem
with tempfile.NamedTemporaryFile("wb", suffix=".gguf", delete=False) as f:
    f.write(open(model, "rb").read()[:5000])
for args, needle in [(("info", "/nonexistent.gguf"), "/nonexistent.gguf"),
                     (("info", f.name), f.name),
                     (("generate", model, "-p", "x", "--temp", "-1"), "temperature"),
                     (("generate", model, "-p", "x", "-n", "5000"), "context"),
                     (("tokenize", model, b"\xff\xfe"), "UTF-8"),
                     (("logits", model, "--ids", "1,99999"), "ids"),
                     (("frobnicate",), "unknown command")]:
    rc, out, err = run(*args)
    lines = [x for x in err.splitlines() if x.strip()]
    check(rc != 0, "%r should fail" % (args,))
    check(len(lines) >= 1 and needle in lines[0], "%r: stderr %r should name %r" % (args, err, needle))
    check(len(lines) == 1 or args == ("frobnicate",), "%r: one error line, got %r" % (args, lines))
os.unlink(f.name)

print("test_cli: %d checks, %d passed, %d failed" % (checks, checks - failures, failures))
sys.exit(1 if failures else 0)
