#!/usr/bin/env python3
"""Joins a loopback capture with the latency benchmark's token dump (BENCH_DUMP): for each
token, when the SSE packet carrying it left the fake provider, when the WebSocket packet
carrying it left the server, when the client read it. See scripts/bench/stream-capture.sh.
Usage: stream_capture.py lo.pcap tokens [slow tokens to list]"""
import re, struct, sys, collections
cap, dump = sys.argv[1], sys.argv[2]
pat = re.compile(rb'\xe2\x9f\xa8(\d+)\xe2\x9f\xa9')
sse, ws = {}, {}
with open(cap, 'rb') as f:
    gh = f.read(24)
    magic = struct.unpack('<I', gh[:4])[0]
    nano = magic == 0xa1b23c4d
    link = struct.unpack('<I', gh[20:24])[0]
    while True:
        h = f.read(16)
        if len(h) < 16: break
        sec, frac, incl, orig = struct.unpack('<IIII', h)
        data = f.read(incl)
        t = sec * 1_000_000 + (frac // 1000 if nano else frac)
        off = 14 if link == 1 else (16 if link == 113 else 0)
        ip = data[off:]
        if not ip or ip[0] >> 4 != 4: continue
        ihl = (ip[0] & 15) * 4
        tcp = ip[ihl:]
        doff = (tcp[12] >> 4) * 4
        payload = tcp[doff:]
        if not payload: continue
        if b'chat.completion.chunk' in payload: d = sse
        elif b'message_part' in payload: d = ws
        else: continue
        for m in pat.finditer(payload):
            ts = int(m.group(1))
            d.setdefault(ts, t)
rows = []
for line in open(dump):
    c, i, w, a = map(int, line.split())
    rows.append((c, i, w, a))
seen = collections.Counter(r[2] for r in rows)
def pct(v, p):
    v = sorted(v); return v[min(len(v)-1, int(len(v)*p))] / 1000 if v else float('nan')
segs = {'fake (write→SSE packet)': [], 'server (SSE→WS packet)': [], 'client (WS packet→read)': [], 'total': []}
slow = []
missing = 0
for c, i, w, a in rows:
    # Two tokens written in the same microsecond cannot be told apart in the capture.
    if seen[w] > 1 or w not in sse or w not in ws:
        missing += 1; continue
    f_, s_, c_ = sse[w] - w, ws[w] - sse[w], a - ws[w]
    segs['fake (write→SSE packet)'].append(f_); segs['server (SSE→WS packet)'].append(s_)
    segs['client (WS packet→read)'].append(c_); segs['total'].append(a - w)
    if a - w > 10_000: slow.append((c, i, w, f_, s_, c_, a - w))
print(f"tokens={len(rows)} joined={len(rows)-missing} (unjoined/duplicate ts: {missing})")
for k, v in segs.items():
    print(f"{k:28} p50={pct(v,.5):7.2f} p90={pct(v,.9):7.2f} p99={pct(v,.99):7.2f} max={pct(v,1):7.2f} ms")
print(f"slow tokens (>10 ms total): {len(slow)}")
agg = collections.Counter()
for s in slow:
    parts = {'fake': s[3], 'server': s[4], 'client': s[5]}
    agg[max(parts, key=parts.get)] += 1
print("largest share of each slow token:", dict(agg))
t0 = min(r[2] for r in rows)
for s in sorted(slow, key=lambda s: s[2])[:int(sys.argv[3]) if len(sys.argv) > 3 else 40]:
    c, i, w, f_, s_, c_, tot = s
    print(f"chat={c:3} tok#{i:<3} written=+{(w-t0)/1000:8.2f}ms fake={f_/1000:6.2f} server={s_/1000:6.2f} client={c_/1000:6.2f} total={tot/1000:6.2f}")
