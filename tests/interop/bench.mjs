// Benchmarks against a running envd (not part of CI; tests/interop/bench.sh starts envd and runs
// this). Prints numbers only; it asserts just enough to make sure it measured real work.
//
//   ENVD_URL=http://127.0.0.1:PORT node tests/interop/bench.mjs [--runs N] [--bytes N]
//
// 1. `echo hi` round trip through the published e2b SDK's `commands.run` (debug mode), `--runs`
//    times (default 1000) after a short warm-up: median, p90, p99, mean, max; plus the same
//    `bash -l -c 'echo hi'` spawned locally as a baseline.
//    Then process.Start of /bin/echo directly (no shell), `--runs` times, to show envd's own cost.
// 2. stdout throughput: Start `head -c BYTES /dev/zero` (default 200 MiB) through connect-node with
//    the generated sdk-ts/src/gen types, once with Connect JSON and once with Connect binary
//    (HTTP/1.1, as the SDKs use), counting the bytes received.
//
// Needs .tmp/interop-gen (run.sh and bench.sh compile it: node_modules/.bin/tsc -p tests/interop).

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { createClient } from '@connectrpc/connect'
import { createConnectTransport } from '@connectrpc/connect-node'

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    bytes: { type: 'string', default: String(200 * 1024 * 1024) },
    warmup: { type: 'string', default: '20' },
  },
})
const RUNS = Number(args.runs)
const BYTES = Number(args.bytes)
const WARMUP = Number(args.warmup)

const base = process.env.ENVD_URL?.replace(/\/$/, '')
if (!base) {
  console.error('ENVD_URL is not set; use tests/interop/bench.sh')
  process.exit(2)
}
// The SDK reads these at construction time.
process.env.E2B_DEBUG = 'true'
process.env.E2B_SANDBOX_URL = base

const { Sandbox } = await import('e2b')
const { Process } = await import('../../.tmp/interop-gen/process/process_pb.js').catch(() => {
  console.error('missing .tmp/interop-gen; run: node_modules/.bin/tsc -p tests/interop/tsconfig.json')
  process.exit(2)
})

// CPU seconds used so far by envd (ENVD_PID, set by bench.sh) and by this client, so a
// throughput number can be attributed to the server or to the client.
const TICKS = 100 // USER_HZ on Linux
function envdCpu() {
  const pid = process.env.ENVD_PID
  if (!pid) return NaN
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(f[11]) + Number(f[12])) / TICKS // utime + stime
  } catch {
    return NaN
  }
}
function clientCpu() {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

function pct(sorted, p) {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, i)]
}
const ms = (x) => `${x.toFixed(2)} ms`

// --- 1. echo hi round trip ---
const sbx = await Sandbox.create()
for (let i = 0; i < WARMUP; i++) await sbx.commands.run('echo hi')
const lat = []
const t0 = performance.now()
for (let i = 0; i < RUNS; i++) {
  const s = performance.now()
  const r = await sbx.commands.run('echo hi')
  lat.push(performance.now() - s)
  if (r.stdout !== 'hi\n') throw new Error(`unexpected stdout ${JSON.stringify(r.stdout)}`)
}
const wall = performance.now() - t0
lat.sort((a, b) => a - b)
const mean = lat.reduce((a, b) => a + b, 0) / lat.length
console.log(`e2b-js commands.run('echo hi') x${RUNS} (sequential, bash -l -c per run):`)
console.log(
  `  median ${ms(pct(lat, 50))}  p90 ${ms(pct(lat, 90))}  p99 ${ms(pct(lat, 99))}  mean ${ms(mean)}  min ${ms(lat[0])}  max ${ms(lat.at(-1))}  (${(RUNS / (wall / 1000)).toFixed(1)} runs/s)`,
)

// Baseline: the same shell spawned locally, without envd, so the numbers above can be read as
// "envd + SDK overhead = run - baseline". Login bash startup dominates on most machines.
const baseline = []
for (let i = 0; i < Math.min(RUNS, 100); i++) {
  const s = performance.now()
  const r = spawnSync('/bin/bash', ['-l', '-c', 'echo hi'], { encoding: 'utf8' })
  baseline.push(performance.now() - s)
  if (r.stdout !== 'hi\n') throw new Error('baseline bash failed')
}
baseline.sort((a, b) => a - b)
console.log(
  `  baseline: local spawnSync('/bin/bash', ['-l','-c','echo hi']) x${baseline.length}: median ${ms(pct(baseline, 50))}  p90 ${ms(pct(baseline, 90))}  p99 ${ms(pct(baseline, 99))}`,
)

// The same round trip without the login shell, so envd's own cost is visible on machines
// where `bash -l` is slow (profile scripts such as `pyenv init`): process.Start of /bin/echo
// through connect-node (Connect JSON, HTTP/1.1 keep-alive, as the e2b SDK), start + data + end.
{
  const client = createClient(
    Process,
    createConnectTransport({ baseUrl: base, httpVersion: '1.1' }),
  )
  const runEcho = async () => {
    let out = ''
    for await (const res of client.start({
      process: { cmd: '/bin/echo', args: ['hi'], envs: {} },
      stdin: false,
    })) {
      const ev = res.event?.event
      if (ev?.case === 'data' && ev.value.output.case === 'stdout') {
        out += new TextDecoder().decode(ev.value.output.value)
      }
    }
    if (out !== 'hi\n') throw new Error(`unexpected stdout ${JSON.stringify(out)}`)
  }
  for (let i = 0; i < WARMUP; i++) await runEcho()
  const direct = []
  for (let i = 0; i < RUNS; i++) {
    const s = performance.now()
    await runEcho()
    direct.push(performance.now() - s)
  }
  direct.sort((a, b) => a - b)
  console.log(
    `connect-node process.Start('/bin/echo hi') x${RUNS} (no shell): median ${ms(pct(direct, 50))}  p90 ${ms(pct(direct, 90))}  p99 ${ms(pct(direct, 99))}`,
  )
}

// --- 2. stdout throughput ---
async function throughput(label, useBinaryFormat) {
  const client = createClient(
    Process,
    createConnectTransport({ baseUrl: base, httpVersion: '1.1', useBinaryFormat }),
  )
  let got = 0
  let chunks = 0
  let exitCode
  const cpu0 = [envdCpu(), clientCpu()]
  const s = performance.now()
  for await (const res of client.start({
    process: { cmd: '/usr/bin/head', args: ['-c', String(BYTES), '/dev/zero'], envs: {} },
    stdin: false,
  })) {
    const ev = res.event?.event
    if (ev?.case === 'data' && ev.value.output.case === 'stdout') {
      got += ev.value.output.value.length
      chunks++
    } else if (ev?.case === 'end') {
      exitCode = ev.value.exitCode
    }
  }
  const secs = (performance.now() - s) / 1000
  const cpu = [envdCpu() - cpu0[0], clientCpu() - cpu0[1]]
  if (got !== BYTES || exitCode !== 0) {
    throw new Error(`${label}: received ${got} of ${BYTES} bytes, exit ${exitCode}`)
  }
  const mib = BYTES / 1024 / 1024
  console.log(
    `  ${label.padEnd(22)} ${mib.toFixed(0)} MiB in ${secs.toFixed(2)} s = ${(mib / secs).toFixed(1)} MiB/s  (${chunks} data events, avg ${(BYTES / chunks / 1024).toFixed(1)} KiB; CPU envd ${cpu[0].toFixed(1)} s, client ${cpu[1].toFixed(1)} s)`,
  )
}
console.log(`stdout throughput, head -c ${BYTES} /dev/zero via connect-node (HTTP/1.1):`)
await throughput('Connect JSON', false)
await throughput('Connect binary', true)
