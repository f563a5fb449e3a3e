// Protocol matrix: connect-node (connect-es v2) with the checked-in generated TypeScript
// (sdk-ts/src/gen, compiled to .tmp/interop-gen by run.sh) against every protocol envd serves.
//
//   Connect JSON, Connect binary, gRPC-Web (binary) over HTTP/1.1 and over h2c (prior knowledge);
//   gRPC over h2c only (gRPC needs HTTP/2; connect-node has no HTTP/1.1 gRPC transport);
//   plus gzip-compressed requests and responses (Connect, gRPC, gRPC-Web), which connect-go
//   clients may send and the spec says envd SHOULD accept (§1.3).
//
// For each combination: a server stream (Start `echo hi`), a unary call (List, checked against a
// process started through the same transport), a unary error and a streaming error (both
// NotFound), so that error encoding (Connect JSON body, end-stream envelope, gRPC trailers,
// gRPC-Web trailer frame) is covered too.

import { Code, ConnectError, createClient } from '@connectrpc/connect'
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node'
import { Process, Signal } from '../../.tmp/interop-gen/process/process_pb.js'
import { assert, envdUrl, suite } from './lib/harness.mjs'

const baseUrl = envdUrl()
const t = suite('protocol-matrix')
const UNKNOWN_PID = 2 ** 31 - 2
// Compress every request message (compressMinBytes 0) and accept compressed responses.
const gzip = { sendCompression: compressionGzip, acceptCompression: [compressionGzip], compressMinBytes: 0 }

const combos = [
  ['connect+json', '1.1', () => createConnectTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: false })],
  ['connect+json', 'h2c', () => createConnectTransport({ baseUrl, httpVersion: '2', useBinaryFormat: false })],
  ['connect+proto', '1.1', () => createConnectTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: true })],
  ['connect+proto', 'h2c', () => createConnectTransport({ baseUrl, httpVersion: '2', useBinaryFormat: true })],
  ['grpc', 'h2c', () => createGrpcTransport({ baseUrl })],
  ['grpc-web', '1.1', () => createGrpcWebTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: true })],
  ['grpc-web', 'h2c', () => createGrpcWebTransport({ baseUrl, httpVersion: '2', useBinaryFormat: true })],
  ['connect+json+gzip', '1.1', () => createConnectTransport({ baseUrl, httpVersion: '1.1', ...gzip })],
  ['connect+proto+gzip', 'h2c', () => createConnectTransport({ baseUrl, httpVersion: '2', useBinaryFormat: true, ...gzip })],
  ['grpc+gzip', 'h2c', () => createGrpcTransport({ baseUrl, ...gzip })],
  ['grpc-web+gzip', '1.1', () => createGrpcWebTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: true, ...gzip })],
]

function expectCode(err, code) {
  assert.ok(err instanceof ConnectError, `expected ConnectError, got ${err}`)
  assert.equal(err.code, code, `code ${Code[err.code]} (${err.rawMessage}), want ${Code[code]}`)
  return true
}

for (const [protocol, http, make] of combos) {
  const name = `${protocol} over ${http}`
  const client = createClient(Process, make())

  await t.test(`${name}: server stream Start(echo hi)`, async () => {
    const kinds = []
    let pid = 0
    let stdout = ''
    let end
    for await (const res of client.start(
      { process: { cmd: '/bin/echo', args: ['hi'], envs: {} }, stdin: false },
      { timeoutMs: 10_000 },
    )) {
      const ev = res.event?.event
      assert.ok(ev && ev.case, `event without a case: ${JSON.stringify(res)}`)
      kinds.push(ev.case)
      if (ev.case === 'start') pid = ev.value.pid
      if (ev.case === 'data' && ev.value.output.case === 'stdout') {
        stdout += Buffer.from(ev.value.output.value).toString()
      }
      if (ev.case === 'end') end = ev.value
    }
    assert.equal(kinds[0], 'start', `first event ${kinds[0]}`)
    assert.ok(pid > 0, `pid ${pid}`)
    assert.equal(kinds.at(-1), 'end', `events ${kinds.join(',')}`)
    assert.equal(stdout, 'hi\n')
    assert.equal(end.exitCode, 0)
    assert.equal(end.exited, true)
    assert.equal(end.status, 'exit status 0')
  })

  await t.test(`${name}: unary List sees a process started over it`, async () => {
    const tag = `matrix-${protocol}-${http}-${process.pid}`
    const abort = new AbortController()
    let pid = 0
    try {
      for await (const res of client.start(
        { process: { cmd: '/bin/sleep', args: ['30'], envs: { A: 'b' }, cwd: '/tmp' }, tag },
        { signal: abort.signal },
      )) {
        assert.equal(res.event?.event.case, 'start')
        pid = res.event.event.value.pid
        break
      }
    } finally {
      abort.abort()
    }
    try {
      const list = await client.list({}, { timeoutMs: 5000 })
      const p = list.processes.find((x) => x.pid === pid)
      assert.ok(p, `pid ${pid} not in ${JSON.stringify(list.processes.map((x) => x.pid))}`)
      assert.equal(p.tag, tag)
      assert.equal(p.config?.cmd, '/bin/sleep')
      assert.deepEqual(p.config?.args, ['30'])
      assert.deepEqual(p.config?.envs, { A: 'b' })
      assert.equal(p.config?.cwd, '/tmp')
    } finally {
      await client.sendSignal({ process: { selector: { case: 'pid', value: pid } }, signal: Signal.SIGKILL })
    }
  })

  await t.test(`${name}: unary error SendSignal(unknown pid) -> not_found`, async () => {
    await assert.rejects(
      client.sendSignal({ process: { selector: { case: 'pid', value: UNKNOWN_PID } }, signal: Signal.SIGKILL }),
      (err) => expectCode(err, Code.NotFound),
    )
  })

  await t.test(`${name}: stream error Connect(unknown pid) -> not_found`, async () => {
    await assert.rejects(async () => {
      for await (const _ of client.connect({ process: { selector: { case: 'pid', value: UNKNOWN_PID } } })) {
        // No event is expected before the error.
      }
    }, (err) => expectCode(err, Code.NotFound))
  })
}

// Keepalive events (spec §3.4): with `Keepalive-Ping-Interval: 1` an idle stream gets one about
// every second after the start event (the SDKs send 50, too slow to test).
await t.test('connect+json over 1.1: keepalive events at the requested interval', async () => {
  const client = createClient(Process, createConnectTransport({ baseUrl, httpVersion: '1.1' }))
  const kinds = []
  for await (const res of client.start(
    { process: { cmd: '/bin/sleep', args: ['2.5'], envs: {} } },
    { headers: { 'Keepalive-Ping-Interval': '1' }, timeoutMs: 10_000 },
  )) {
    kinds.push(res.event?.event.case)
  }
  assert.equal(kinds[0], 'start')
  assert.equal(kinds.at(-1), 'end')
  const n = kinds.filter((k) => k === 'keepalive').length
  assert.ok(n >= 2 && n <= 3, `expected 2-3 keepalives in 2.5 s, got ${kinds.join(',')}`)
})

// Browsers run the JS SDK, so a CORS preflight for an RPC must succeed without a token (§1.5).
await t.test('CORS preflight for /process.Process/Start', async () => {
  const res = await fetch(`${baseUrl}/process.Process/Start`, {
    method: 'OPTIONS',
    headers: {
      origin: 'http://sdk.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers':
        'authorization,connect-protocol-version,connect-timeout-ms,content-type,e2b-sandbox-id,e2b-sandbox-port,keepalive-ping-interval,x-access-token',
    },
  })
  assert.ok(res.status >= 200 && res.status < 300, `status ${res.status}`)
  assert.equal(res.headers.get('access-control-allow-origin'), '*')
  assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/)
  const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase()
  for (const h of ['keepalive-ping-interval', 'x-access-token', 'connect-timeout-ms']) {
    assert.ok(allowed === '*' || allowed.includes(h), `${h} not allowed: ${allowed}`)
  }
})

t.done()
