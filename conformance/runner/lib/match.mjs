// Matching of actual step results against a case's `expect` values
// (conformance/PROTOCOL.md, "Matching").

const MATCHERS = new Set([
  '$regex', '$contains', '$absent', '$gte', '$lte', '$len', '$any', '$oneOf', '$not',
]);

/** True when `v` is a matcher object: a plain object whose only key starts with `$`. */
export function isMatcher(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0].startsWith('$');
}

export function knownMatcher(name) {
  return MATCHERS.has(name);
}

function show(v) {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

function asNumber(v) {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return undefined;
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Matches `actual` against `expected`. Returns null on a match, else a
 * string describing the first mismatch (with its JSON path).
 */
export function match(expected, actual, path = '$') {
  if (isMatcher(expected)) return matchOp(expected, actual, path);
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array ${show(expected)}, got ${show(actual)}`;
    if (actual.length !== expected.length) {
      return `${path}: expected ${expected.length} elements, got ${actual.length}: ${show(actual)}`;
    }
    for (let i = 0; i < expected.length; i++) {
      const m = match(expected[i], actual[i], `${path}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (isObject(expected)) {
    if (!isObject(actual)) return `${path}: expected an object ${show(expected)}, got ${show(actual)}`;
    for (const [k, v] of Object.entries(expected)) {
      const m = match(v, actual[k], `${path}.${k}`);
      if (m) return m;
    }
    return null;
  }
  if (typeof expected === 'number') {
    const n = asNumber(actual);
    if (n !== undefined && n === expected) return null;
    return `${path}: expected ${show(expected)}, got ${show(actual)}`;
  }
  if (expected === null) {
    if (actual === null || actual === undefined) return null;
    return `${path}: expected null, got ${show(actual)}`;
  }
  if (actual === expected) return null;
  return `${path}: expected ${show(expected)}, got ${show(actual)}`;
}

function matchOp(expected, actual, path) {
  const [op, arg] = Object.entries(expected)[0];
  const fail = (what) => `${path}: expected ${what}, got ${show(actual)}`;
  switch (op) {
    case '$regex': {
      if (typeof actual !== 'string') return fail(`a string matching /${arg}/`);
      return new RegExp(arg).test(actual) ? null : fail(`a string matching /${arg}/`);
    }
    case '$contains': {
      if (typeof actual === 'string') {
        return typeof arg === 'string' && actual.includes(arg) ? null : fail(`a string containing ${show(arg)}`);
      }
      if (Array.isArray(actual)) {
        return actual.some((el) => match(arg, el) === null) ? null : fail(`an array with an element matching ${show(arg)}`);
      }
      return fail(`a string or array containing ${show(arg)}`);
    }
    case '$absent':
      if (arg === false) return actual === undefined || actual === null ? fail('present') : null;
      return actual === undefined || actual === null ? null : fail('absent or null');
    case '$gte': {
      const n = asNumber(actual);
      return n !== undefined && n >= arg ? null : fail(`a number >= ${arg}`);
    }
    case '$lte': {
      const n = asNumber(actual);
      return n !== undefined && n <= arg ? null : fail(`a number <= ${arg}`);
    }
    case '$len': {
      if (typeof actual !== 'string' && !Array.isArray(actual)) return fail(`length ${arg}`);
      return match(arg, actual.length) === null ? null : fail(`length ${show(arg)} (got length ${actual.length})`);
    }
    case '$any':
      return actual === undefined ? fail('present') : null;
    case '$oneOf': {
      if (!Array.isArray(arg)) return `${path}: $oneOf needs an array`;
      return arg.some((alt) => match(alt, actual) === null) ? null : fail(`one of ${show(arg)}`);
    }
    case '$not':
      return match(arg, actual) === null ? fail(`not ${show(arg)}`) : null;
    default:
      return `${path}: unknown matcher ${op}`;
  }
}
