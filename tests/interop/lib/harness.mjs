// Minimal test harness shared by the Node interop scenarios.
//
// Each case prints exactly one line, `PASS <suite>/<name>`, `FAIL <suite>/<name>: <why>` or
// `SKIP <suite>/<name>: <why>`; tests/interop/run.sh counts those lines. A suite exits 1 when any
// case failed. Every case has its own deadline so a hung stream fails the case instead of the run.

import assert from 'node:assert/strict'

export { assert }

/** Thrown (via `skip()`) to mark a case as not applicable to this envd build. */
export class Skip extends Error {}

export function skip(reason) {
  throw new Skip(reason)
}

const counts = { passed: 0, failed: 0, skipped: 0 }

function oneLine(s) {
  return String(s).replace(/\s+/g, ' ').trim().slice(0, 600)
}

function describe(err) {
  if (err instanceof Error) {
    const code = err.code !== undefined ? ` code=${err.code}` : ''
    return `${err.name}${code}: ${err.message}`
  }
  return String(err)
}

export function suite(suiteName) {
  return {
    /**
     * Run one case. `fn` may call `skip(reason)`. `gate`, when given, is a string explaining why the
     * case cannot run yet (for example a missing envd service); the case is then reported as SKIP.
     */
    async test(name, fn, { timeoutMs = 30_000, gate } = {}) {
      const id = `${suiteName}/${name}`
      if (gate) {
        counts.skipped++
        console.log(`SKIP ${id}: ${oneLine(gate)}`)
        return
      }
      let timer
      const deadline = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs)
      })
      try {
        await Promise.race([fn(), deadline])
        counts.passed++
        console.log(`PASS ${id}`)
      } catch (err) {
        if (err instanceof Skip) {
          counts.skipped++
          console.log(`SKIP ${id}: ${oneLine(err.message)}`)
        } else {
          counts.failed++
          console.log(`FAIL ${id}: ${oneLine(describe(err))}`)
          if (process.env.INTEROP_VERBOSE && err instanceof Error && err.stack) {
            console.error(err.stack)
          }
        }
      } finally {
        clearTimeout(timer)
      }
    },

    /** Print this suite's tally and set the exit code. */
    done() {
      console.log(
        `# ${suiteName}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`,
      )
      process.exitCode = counts.failed > 0 ? 1 : 0
    },
  }
}

/** Resolves once `predicate()` is true; rejects with `what` after `timeoutMs`. */
export async function until(predicate, what, timeoutMs = 10_000) {
  const start = Date.now()
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The envd base URL the runner started, e.g. `http://127.0.0.1:49983`. */
export function envdUrl() {
  const url = process.env.ENVD_URL
  if (!url) {
    console.error('ENVD_URL is not set; run this through tests/interop/run.sh')
    process.exit(2)
  }
  return url.replace(/\/$/, '')
}

/**
 * Probes whether this envd serves the filesystem pieces yet. Returns `{ rpc, http }` where each is
 * `undefined` when available, or a reason string to report the dependent cases as SKIP.
 * Available means: `Filesystem.Stat {path:"/"}` answers 200, `GET /files` of a file answers 200.
 * A route that does not exist (404/405/501 without a Connect `not_found` body) is "not yet".
 */
export async function probeFilesystem(base) {
  const out = { rpc: undefined, http: undefined }
  const stat = await fetch(`${base}/filesystem.Filesystem/Stat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'connect-protocol-version': '1' },
    body: JSON.stringify({ path: '/' }),
  })
  const statBody = await stat.text()
  if (stat.status !== 200 && [404, 405, 501].includes(stat.status)) {
    out.rpc = `envd does not serve filesystem.Filesystem yet (POST /filesystem.Filesystem/Stat -> HTTP ${stat.status} ${oneLine(statBody) || '(empty body)'})`
  }
  const files = await fetch(`${base}/files?path=${encodeURIComponent('/etc/passwd')}&username=root`)
  const filesBody = await files.text()
  if (files.status !== 200 && [404, 405, 501].includes(files.status)) {
    out.http = `envd does not serve GET /files yet (GET /files?path=/etc/passwd -> HTTP ${files.status} ${oneLine(filesBody).slice(0, 120) || '(empty body)'})`
  }
  return out
}
