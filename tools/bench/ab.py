#!/usr/bin/env python3
"""ab.py — A/B thread-scaling benchmark for a shared, noisy machine.

  tools/bench/ab.py [--node] [--want N] [--budget S] [--max-interference F]
                    [--models "A B"] [--threads "1 2"] [-p 128] [-n 32] LABEL=PATH ...

PATH is a `wisp` binary (native: `PATH bench MODEL -p P -n N -t T -r 1 --json`) or, with
--node, a source tree whose tools/bench/node-bench.mjs runs the wasm mt build. Runs are
interleaved (model, threads, label) so slow phases of the machine hit every variant, and a
run is kept only if the rest of the machine used less than --max-interference (default 5%)
of all CPUs during it: /proc/stat busy time minus the run's own rusage. Before each run it
waits (up to 20 s) for a quiet second. Prints medians of the kept runs and t/t1 ratios.
MODELS are names in build/models-big/ (without .gguf).
"""
import argparse
import json
import os
import statistics as st
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HZ = os.sysconf('SC_CLK_TCK')
NCPU = os.cpu_count() or 1


def busy_s():
    v = [int(x) for x in open('/proc/stat').readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / HZ  # all but idle and iowait


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('variants', nargs='+')
    ap.add_argument('--node', action='store_true')
    ap.add_argument('--want', type=int, default=5)
    ap.add_argument('--budget', type=float, default=3600)
    ap.add_argument('--max-interference', type=float, default=0.05)
    ap.add_argument('--models', default='smollm2-135m-synth-q4_0 qwen2.5-0.5b-synth-q8_0')
    ap.add_argument('--threads', default='1 2')
    ap.add_argument('-p', default='128')
    ap.add_argument('-n', default='32')
    a = ap.parse_args()
    variants = [v.split('=', 1) for v in a.variants]
    models, threads = a.models.split(), [int(t) for t in a.threads.split()]
    res, tried = {}, {}
    t_end = time.time() + a.budget

    def need(k):
        return len(res.get(k, {}).get('tg', [])) < a.want

    while time.time() < t_end and any(need((m, l, t)) for m in models for l, _ in variants for t in threads):
        for m in models:
            for t in threads:
                for lab, path in variants:
                    k = (m, lab, t)
                    if not need(k) or time.time() >= t_end:
                        continue
                    for _ in range(20):  # wait for a quiet second
                        b0 = busy_s()
                        time.sleep(1.0)
                        if busy_s() - b0 < 0.1 * NCPU:
                            break
                    model = os.path.join(ROOT, 'build/models-big', m + '.gguf')
                    if a.node:
                        # AB_NODE_FLAGS: extra node flags, e.g. --experimental-wasm-relaxed-simd
                        cmd = ['node', *os.environ.get('AB_NODE_FLAGS', '').split(),
                               os.path.join(path, 'tools/bench/node-bench.mjs'), model, '-t', str(t), '-n', a.n,
                               '-r', '1', '--json']
                        env = dict(os.environ, NODE_PATH='/usr/share/nodejs')
                    else:
                        cmd = [path, 'bench', model, '-p', a.p, '-n', a.n, '-t', str(t), '-r', '1', '--json']
                        env = None
                    b0, w0 = busy_s(), time.time()
                    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=path if a.node else None)
                    out = p.stdout.read()
                    _, status, ru = os.wait4(p.pid, 0)
                    wall = time.time() - w0
                    others = max(0.0, (busy_s() - b0) - (ru.ru_utime + ru.ru_stime))
                    tried[k] = tried.get(k, 0) + 1
                    if status != 0 or others / (NCPU * wall) > a.max_interference:
                        continue
                    d = json.loads(out)
                    r = res.setdefault(k, {'pp': [], 'tg': []})
                    for x in d['runs']:
                        r['pp'].append(x['prefill_tok_s'])
                        r['tg'].append(x['decode_tok_s'])
    print(f'kept runs: the rest of the machine used < {a.max_interference * 100:.0f}% of {NCPU} CPUs; '
          f'medians (kept/tried)')
    for m in models:
        for lab, _ in variants:
            line, med = f'{m:28s} {lab:8s}', {}
            for t in threads:
                r = res.get((m, lab, t))
                if not r or not r['tg']:
                    line += f' | t{t}: no kept run ({tried.get((m, lab, t), 0)} tried)'
                    continue
                med[t] = (st.median(r['pp']), st.median(r['tg']))
                line += f' | t{t} pp {med[t][0]:7.2f} tg {med[t][1]:6.2f} ({len(r["tg"])}/{tried[(m, lab, t)]})'
            for t in threads:
                if t != 1 and 1 in med and t in med:
                    line += f' | t{t}/t1 pp {med[t][0] / med[1][0]:.2f} tg {med[t][1] / med[1][1]:.2f}'
            print(line, flush=True)


if __name__ == '__main__':
    main()
