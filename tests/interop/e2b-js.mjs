// The published `e2b` npm SDK, unmodified, driving envd in debug mode.
//
// Debug mode (E2B_DEBUG=true) skips the E2B control plane: `Sandbox.create()` returns a sandbox
// with id `debug_sandbox_id` and assumes envd version 99.99.99, so every client-side version gate
// is open (stdin, closeStdin, octet-stream uploads, includeEntry, ...). E2B_SANDBOX_URL points the
// SDK at our envd; without it the SDK would use http://localhost:49983.
//
// Run through tests/interop/run.sh, which starts envd and sets ENVD_URL / E2B_SANDBOX_URL.

import { randomUUID } from 'node:crypto'
import {
  AuthenticationError,
  CommandExitError,
  FileNotFoundError,
  FilesystemEventType,
  InvalidArgumentError,
  NotFoundError,
  Sandbox,
  TimeoutError,
} from 'e2b'
import { assert, envdUrl, probeFilesystem, suite, until } from './lib/harness.mjs'

const base = envdUrl()
assert.equal(process.env.E2B_DEBUG, 'true', 'E2B_DEBUG must be "true"')
assert.equal(process.env.E2B_SANDBOX_URL?.replace(/\/$/, ''), base, 'E2B_SANDBOX_URL must be ENVD_URL')

const t = suite('e2b-js')
const fsGate = await probeFilesystem(base)
const enc = new TextEncoder()
const dec = new TextDecoder()

const sbx = await Sandbox.create()

// Commands run under `bash -l`, so whatever the machine's login profile prints to stderr (a root
// ~/.profile sourcing a missing file, say) precedes every command's own stderr. Measure it once and
// strip it, so the stderr assertions stay exact about what the command itself wrote.
const loginNoise = (await sbx.commands.run('true')).stderr
const ownStderr = (s) => (loginNoise && s.startsWith(loginNoise) ? s.slice(loginNoise.length) : s)

await t.test('create: debug sandbox points at envd', async () => {
  assert.equal(sbx.sandboxId, 'debug_sandbox_id')
  assert.equal(sbx.envdApiUrl.replace(/\/$/, ''), base)
})

await t.test('connect(sandboxId): second handle runs commands', async () => {
  const other = await Sandbox.connect(sbx.sandboxId)
  const r = await other.commands.run('echo connected')
  assert.equal(r.stdout, 'connected\n')
})

await t.test('run foreground: echo hi', async () => {
  const r = await sbx.commands.run('echo hi')
  assert.equal(r.stdout, 'hi\n')
  assert.equal(ownStderr(r.stderr), '')
  assert.equal(r.exitCode, 0)
  assert.equal(r.error, undefined)
})

await t.test('run: user, cwd and envs reach the process', async () => {
  const r = await sbx.commands.run('echo "$FOO|$(pwd)|$(id -un)"', {
    user: 'root',
    cwd: '/tmp',
    envs: { FOO: 'bar baz' },
  })
  assert.equal(r.stdout, 'bar baz|/tmp|root\n')
})

await t.test('run: default user root, HOME/USER set, cwd is home', async () => {
  const r = await sbx.commands.run('echo "$(id -un)|$HOME|$USER|$(pwd)"')
  assert.equal(r.stdout, 'root|/root|root|/root\n')
})

await t.test('run: UTF-8 output survives', async () => {
  const r = await sbx.commands.run("printf 'h\\xc3\\xa9llo \\xe2\\x86\\x92\\n'")
  assert.equal(r.stdout, 'héllo →\n')
})

await t.test('run: missing cwd raises InvalidArgumentError', async () => {
  await assert.rejects(sbx.commands.run('pwd', { cwd: '/nonexistent/envd-interop' }), (err) => {
    assert.ok(err instanceof InvalidArgumentError, `got ${err?.name}: ${err?.message}`)
    assert.match(err.message, /does not exist/)
    return true
  })
})

await t.test('run: unknown user raises AuthenticationError', async () => {
  await assert.rejects(
    sbx.commands.run('id', { user: 'envd-interop-no-such-user' }),
    (err) => err instanceof AuthenticationError || assert.fail(`got ${err?.name}: ${err?.message}`),
  )
})

await t.test('run: non-zero exit raises CommandExitError', async () => {
  await assert.rejects(sbx.commands.run('echo out; echo err >&2; exit 3'), (err) => {
    assert.ok(err instanceof CommandExitError, `expected CommandExitError, got ${err?.name}`)
    assert.equal(err.exitCode, 3)
    assert.equal(err.stdout, 'out\n')
    assert.equal(ownStderr(err.stderr), 'err\n')
    assert.equal(err.error, 'exit status 3')
    return true
  })
})

await t.test('run: timeoutMs ends the command with TimeoutError', async () => {
  const marker = `timeout-${randomUUID()}`
  const started = Date.now()
  await assert.rejects(
    sbx.commands.run(`sleep 30 # ${marker}`, { timeoutMs: 1000 }),
    (err) => err instanceof TimeoutError && /deadline_exceeded/.test(err.message),
  )
  assert.ok(Date.now() - started < 10_000, 'timeout took too long')
  // The process is killed with the deadline (spec §3.3 Start step 7): it leaves the list.
  let last = await sbx.commands.list()
  for (let i = 0; i < 50 && last.some((p) => p.args.join(' ').includes(marker)); i++) {
    await new Promise((r) => setTimeout(r, 100))
    last = await sbx.commands.list()
  }
  assert.ok(!last.some((p) => p.args.join(' ').includes(marker)), 'timed-out process still listed')
})

await t.test('run background + wait()', async () => {
  const h = await sbx.commands.run('sleep 0.3; echo done', { background: true })
  assert.ok(Number.isInteger(h.pid) && h.pid > 0, `pid ${h.pid}`)
  assert.equal(h.exitCode, undefined)
  const r = await h.wait()
  assert.equal(r.stdout, 'done\n')
  assert.equal(r.exitCode, 0)
  assert.equal(h.exitCode, 0)
})

await t.test('run background: wait() raises CommandExitError', async () => {
  const h = await sbx.commands.run('exit 7', { background: true })
  await assert.rejects(h.wait(), (err) => err instanceof CommandExitError && err.exitCode === 7)
})

await t.test('streaming onStdout/onStderr callbacks', async () => {
  const out = []
  const err = []
  const r = await sbx.commands.run(
    'echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; printf "no newline"',
    { onStdout: (d) => out.push(d), onStderr: (d) => err.push(d) },
  )
  assert.equal(out.join(''), 'out1\nout2\nno newline')
  assert.equal(ownStderr(err.join('')), 'err1\n')
  assert.ok(out.length >= 2, `expected separate stdout chunks, got ${JSON.stringify(out)}`)
  assert.equal(r.stdout, 'out1\nout2\nno newline')
  assert.equal(ownStderr(r.stderr), 'err1\n')
})

await t.test('large output arrives complete and in order', async () => {
  const r = await sbx.commands.run('seq 1 20000')
  const lines = r.stdout.trimEnd().split('\n')
  assert.equal(lines.length, 20000)
  assert.equal(lines[0], '1')
  assert.equal(lines[19999], '20000')
})

await t.test('stdin: sendStdin to cat, then closeStdin', async () => {
  const out = []
  const h = await sbx.commands.run('cat', {
    background: true,
    stdin: true,
    onStdout: (d) => out.push(d),
  })
  await sbx.commands.sendStdin(h.pid, 'hello\n')
  await until(() => out.join('') === 'hello\n', 'cat to echo the first line')
  await h.sendStdin(enc.encode('world\n'))
  await until(() => out.join('') === 'hello\nworld\n', 'cat to echo the second line')
  await sbx.commands.closeStdin(h.pid)
  const r = await h.wait()
  assert.equal(r.exitCode, 0)
  assert.equal(r.stdout, 'hello\nworld\n')
})

await t.test('stdin disabled by default: cat sees EOF at once', async () => {
  const r = await sbx.commands.run('cat; echo eof-seen')
  assert.equal(r.stdout, 'eof-seen\n')
})

await t.test('kill: commands.kill(pid) and handle.kill()', async () => {
  const h = await sbx.commands.run('sleep 30', { background: true })
  assert.equal(await sbx.commands.kill(h.pid), true)
  await assert.rejects(h.wait(), (err) => {
    assert.ok(err instanceof CommandExitError, `expected CommandExitError, got ${err?.name}`)
    assert.equal(err.exitCode, -1)
    assert.equal(err.error, 'signal: killed')
    return true
  })
  const h2 = await sbx.commands.run('sleep 30', { background: true })
  assert.equal(await h2.kill(), true)
  await assert.rejects(h2.wait(), CommandExitError)
})

await t.test('kill: unknown pid returns false', async () => {
  assert.equal(await sbx.commands.kill(2 ** 31 - 2), false)
})

await t.test('list: shows a running command with its config', async () => {
  const marker = `list-${randomUUID()}`
  const h = await sbx.commands.run(`sleep 30 # ${marker}`, {
    background: true,
    cwd: '/tmp',
    envs: { MARK: marker },
  })
  try {
    const procs = await sbx.commands.list()
    const p = procs.find((x) => x.pid === h.pid)
    assert.ok(p, `pid ${h.pid} not in list ${JSON.stringify(procs.map((x) => x.pid))}`)
    assert.equal(p.cmd, '/bin/bash')
    assert.deepEqual(p.args, ['-l', '-c', `sleep 30 # ${marker}`])
    assert.equal(p.cwd, '/tmp')
    assert.deepEqual(p.envs, { MARK: marker })
  } finally {
    await h.kill()
  }
  await assert.rejects(h.wait(), CommandExitError)
  const after = await sbx.commands.list()
  assert.ok(!after.some((x) => x.pid === h.pid), 'killed process still listed')
})

await t.test('connect(pid): receives later output and the exit', async () => {
  const h = await sbx.commands.run('sleep 1; echo later; exit 4', { background: true })
  await h.disconnect()
  const out = []
  const c = await sbx.commands.connect(h.pid, { onStdout: (d) => out.push(d) })
  assert.equal(c.pid, h.pid)
  await assert.rejects(c.wait(), (err) => {
    assert.ok(err instanceof CommandExitError, `expected CommandExitError, got ${err?.name}`)
    assert.equal(err.exitCode, 4)
    return true
  })
  assert.equal(out.join(''), 'later\n')
})

await t.test('connect(pid) after exit returns the cached end at once', async () => {
  const h = await sbx.commands.run('exit 5', { background: true })
  await assert.rejects(h.wait(), CommandExitError)
  const started = Date.now()
  const c = await sbx.commands.connect(h.pid)
  await assert.rejects(c.wait(), (err) => err instanceof CommandExitError && err.exitCode === 5)
  assert.ok(Date.now() - started < 5000, 'connect to an exited process hung')
})

await t.test('connect(pid): two subscribers both get the output', async () => {
  const h = await sbx.commands.run('sleep 0.5; echo to-both', { background: true })
  const a = []
  const b = []
  const c1 = await sbx.commands.connect(h.pid, { onStdout: (d) => a.push(d) })
  const c2 = await sbx.commands.connect(h.pid, { onStdout: (d) => b.push(d) })
  await Promise.all([c1.wait(), c2.wait(), h.wait()])
  assert.equal(a.join(''), 'to-both\n')
  assert.equal(b.join(''), 'to-both\n')
  assert.equal(h.stdout, 'to-both\n')
})

await t.test('connect(pid) / sendStdin: unknown pid raises NotFoundError', async () => {
  await assert.rejects(sbx.commands.connect(2 ** 31 - 2), NotFoundError)
  await assert.rejects(sbx.commands.sendStdin(2 ** 31 - 2, 'x'), NotFoundError)
})

await t.test('pty: create, sendInput, resize (stty size), kill', async () => {
  const chunks = []
  const text = () => dec.decode(Buffer.concat(chunks.map((c) => Buffer.from(c))))
  const pty = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => chunks.push(d) })
  assert.ok(pty.pid > 0)
  await sbx.pty.sendInput(pty.pid, enc.encode('stty size; echo "term=$TERM"\n'))
  await until(() => /24 80/.test(text()) && /term=xterm-256color/.test(text()), '"24 80" from stty size')
  await sbx.pty.resize(pty.pid, { cols: 100, rows: 30 })
  await sbx.pty.sendInput(pty.pid, enc.encode('stty size\n'))
  await until(() => /30 100/.test(text()), '"30 100" after resize')
  assert.equal(await sbx.pty.kill(pty.pid), true)
  await assert.rejects(pty.wait(), (err) => err instanceof CommandExitError && err.exitCode === -1)
  const after = await sbx.commands.list()
  assert.ok(!after.some((x) => x.pid === pty.pid), 'killed pty still listed')
})

await t.test('pty: connect(pid) and exit via input', async () => {
  const first = []
  const pty = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => first.push(d) })
  await pty.disconnect()
  const chunks = []
  const c = await sbx.pty.connect(pty.pid, { onData: (d) => chunks.push(d) })
  await sbx.pty.sendInput(pty.pid, enc.encode('echo via-connect; exit 3\n'))
  await assert.rejects(c.wait(), (err) => err instanceof CommandExitError && err.exitCode === 3)
  assert.match(dec.decode(Buffer.concat(chunks.map((x) => Buffer.from(x)))), /via-connect/)
})

// ---- filesystem (skipped with the reason until envd serves it) ----

const dir = `/tmp/envd-interop-js-${randomUUID()}`
const rpcGate = fsGate.rpc
const httpGate = fsGate.http ?? fsGate.rpc

await t.test('files: makeDir / exists', async () => {
  assert.equal(await sbx.files.makeDir(dir), true)
  assert.equal(await sbx.files.makeDir(dir), false)
  assert.equal(await sbx.files.exists(dir), true)
  assert.equal(await sbx.files.exists(`${dir}/missing`), false)
}, { gate: rpcGate })

await t.test('files: write / read / getInfo', async () => {
  const info = await sbx.files.write(`${dir}/a.txt`, 'hello file\n')
  assert.equal(info.path, `${dir}/a.txt`)
  assert.equal(info.name, 'a.txt')
  assert.equal(await sbx.files.read(`${dir}/a.txt`), 'hello file\n')
  const bytes = await sbx.files.read(`${dir}/a.txt`, { format: 'bytes' })
  assert.equal(dec.decode(bytes), 'hello file\n')
  const blob = await sbx.files.read(`${dir}/a.txt`, { format: 'blob' })
  assert.equal(await blob.text(), 'hello file\n')
  const st = await sbx.files.getInfo(`${dir}/a.txt`)
  assert.equal(st.type, 'file')
  assert.equal(st.size, 11)
  assert.equal((await sbx.files.getInfo(dir)).type, 'dir')
  // The file is really there, as the process service sees it.
  assert.equal((await sbx.commands.run(`cat ${dir}/a.txt`)).stdout, 'hello file\n')
}, { gate: httpGate })

await t.test('files: writeFiles (several files, binary data, new parents)', async () => {
  const bin = new Uint8Array(256).map((_, i) => i)
  const infos = await sbx.files.writeFiles([
    { path: `${dir}/multi/one.txt`, data: 'one' },
    { path: `${dir}/multi/deep/two.bin`, data: bin.buffer },
  ])
  assert.deepEqual(infos.map((i) => i.path).sort(), [`${dir}/multi/deep/two.bin`, `${dir}/multi/one.txt`])
  const back = await sbx.files.read(`${dir}/multi/deep/two.bin`, { format: 'bytes' })
  assert.deepEqual(Array.from(back), Array.from(bin))
  await sbx.files.remove(`${dir}/multi`)
}, { gate: httpGate })

await t.test('files: read of a missing file raises FileNotFoundError', async () => {
  await assert.rejects(sbx.files.read(`${dir}/missing.txt`), FileNotFoundError)
  assert.equal(await sbx.files.exists(`${dir}/missing.txt`), false)
}, { gate: httpGate })

await t.test('files: list', async () => {
  await sbx.files.write(`${dir}/sub/b.txt`, 'b')
  const entries = await sbx.files.list(dir)
  const names = entries.map((e) => e.name).sort()
  assert.deepEqual(names, ['a.txt', 'sub'])
  const deep = await sbx.files.list(dir, { depth: 2 })
  assert.ok(deep.some((e) => e.path === `${dir}/sub/b.txt`), JSON.stringify(deep.map((e) => e.path)))
}, { gate: httpGate })

await t.test('files: rename / remove', async () => {
  const moved = await sbx.files.rename(`${dir}/a.txt`, `${dir}/c.txt`)
  assert.equal(moved.path, `${dir}/c.txt`)
  assert.equal(await sbx.files.exists(`${dir}/a.txt`), false)
  await sbx.files.remove(`${dir}/c.txt`)
  assert.equal(await sbx.files.exists(`${dir}/c.txt`), false)
}, { gate: httpGate })

await t.test('files: watchDir reports a created file', async () => {
  await sbx.files.makeDir(`${dir}/w`)
  const events = []
  const handle = await sbx.files.watchDir(`${dir}/w`, (e) => events.push(e))
  try {
    await sbx.commands.run(`echo x > ${dir}/w/new.txt`)
    await until(
      () => events.some((e) => e.name === 'new.txt' && e.type === FilesystemEventType.CREATE),
      'a CREATE event for new.txt',
    )
  } finally {
    await handle.stop()
  }
}, { gate: rpcGate })

// ---- file metadata (X-Metadata-* -> user.e2b.* xattrs; gated on envd >= 0.6.2, open in debug mode) ----

const meta = { Owner: 'alice', kind: 'report' }
const metaWant = { owner: 'alice', kind: 'report' }

await t.test('files: write with metadata (multipart) shows in getInfo', async () => {
  const info = await sbx.files.write(`${dir}/meta/multipart.txt`, 'm', { metadata: meta })
  assert.deepEqual(info.metadata, metaWant)
  assert.deepEqual((await sbx.files.getInfo(`${dir}/meta/multipart.txt`)).metadata, metaWant)
}, { gate: httpGate })

await t.test('files: write with metadata (octet-stream) shows in getInfo', async () => {
  const info = await sbx.files.write(`${dir}/meta/octet.txt`, 'o', { metadata: meta, useOctetStream: true })
  assert.deepEqual(info.metadata, metaWant)
  assert.deepEqual((await sbx.files.getInfo(`${dir}/meta/octet.txt`)).metadata, metaWant)
  // A write without metadata clears the set.
  const plain = await sbx.files.write(`${dir}/meta/octet.txt`, 'p', { useOctetStream: true })
  assert.equal(plain.metadata, undefined)
  assert.equal((await sbx.files.getInfo(`${dir}/meta/octet.txt`)).metadata, undefined)
}, { gate: httpGate })

await t.test('files: writeFiles with metadata on every file, list shows it', async () => {
  const infos = await sbx.files.writeFiles(
    [
      { path: `${dir}/meta/many/one.txt`, data: '1' },
      { path: `${dir}/meta/many/two.txt`, data: '2' },
    ],
    { metadata: meta },
  )
  assert.deepEqual(infos.map((i) => i.metadata), [metaWant, metaWant])
  const listed = await sbx.files.list(`${dir}/meta/many`)
  assert.deepEqual(listed.map((e) => [e.name, e.metadata]), [['one.txt', metaWant], ['two.txt', metaWant]])
  // The same with one octet-stream request per file.
  const octet = await sbx.files.writeFiles(
    [
      { path: `${dir}/meta/many/three.txt`, data: '3' },
      { path: `${dir}/meta/many/four.txt`, data: '4' },
    ],
    { metadata: { batch: '2' }, useOctetStream: true },
  )
  assert.deepEqual(octet.map((i) => i.metadata), [{ batch: '2' }, { batch: '2' }])
}, { gate: httpGate })

await t.test('files: rename keeps metadata', async () => {
  const moved = await sbx.files.rename(`${dir}/meta/multipart.txt`, `${dir}/meta/renamed.txt`)
  assert.deepEqual(moved.metadata, metaWant)
  assert.deepEqual((await sbx.files.getInfo(`${dir}/meta/renamed.txt`)).metadata, metaWant)
}, { gate: httpGate })

await t.test('files: invalid metadata raises InvalidArgumentError', async () => {
  await assert.rejects(sbx.files.write(`${dir}/meta/bad.txt`, 'x', { metadata: { ['k'.repeat(247)]: 'v' } }), (err) => {
    assert.ok(err instanceof InvalidArgumentError, `got ${err?.name}: ${err?.message}`)
    assert.match(err.message, /invalid metadata/)
    return true
  })
  assert.equal(await sbx.files.exists(`${dir}/meta/bad.txt`), false)
}, { gate: httpGate })

/** Waits for `n` events of `name`, lets stragglers arrive, and returns the types of all of them. */
async function eventsOf(events, name, n) {
  await until(() => events.filter((e) => e.name === name).length >= n, `${n} events for ${name}`)
  await new Promise((r) => setTimeout(r, 300))
  return events.filter((e) => e.name === name).map((e) => e.type)
}

await t.test('files: watchDir counts an upload of a new file and of an existing one', async () => {
  await sbx.files.makeDir(`${dir}/wu`)
  const events = []
  const handle = await sbx.files.watchDir(`${dir}/wu`, (e) => events.push(e))
  try {
    const { CREATE, CHMOD, WRITE } = FilesystemEventType
    await sbx.files.write(`${dir}/wu/up.txt`, 'new')
    assert.deepEqual(await eventsOf(events, 'up.txt', 3), [CREATE, CHMOD, WRITE])
    await sbx.files.write(`${dir}/wu/up.txt`, 'replaced', { useOctetStream: true })
    assert.deepEqual(await eventsOf(events, 'up.txt', 6), [CREATE, CHMOD, WRITE, CHMOD, WRITE, WRITE])
    assert.deepEqual([...new Set(events.map((e) => e.name))], ['up.txt'])
  } finally {
    await handle.stop()
  }
}, { gate: rpcGate })

await t.test('files: cleanup', async () => {
  await sbx.files.remove(dir)
  assert.equal(await sbx.files.exists(dir), false)
}, { gate: rpcGate })

// Whatever the filesystem cases left behind (or could not remove without the service).
await sbx.commands.run(`rm -rf ${dir}`).catch(() => {})

t.done()
