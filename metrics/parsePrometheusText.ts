/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4, what prom-client writes and
 * Prometheus scrapes by default), written to the spec in prometheus/docs `exposition_formats.md`:
 *
 * - `# HELP name text` (escapes `\\` and `\n`) and `# TYPE name counter|gauge|histogram|summary|untyped`, at
 *   most one of each per family, TYPE before the family's first sample; other `#` lines are comments.
 * - `name{label="value",…} value [timestamp]`: metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names
 *   `[a-zA-Z_][a-zA-Z0-9_]*` (not `__`-prefixed), label values in double quotes with only `\\`, `\"`, `\n`
 *   escapes, a Go float value (`NaN`, `+Inf`, `-Inf` included), an optional integer timestamp in ms.
 * - A family's lines are contiguous; no series (name + label set) appears twice; a label appears once per series.
 * - Histograms only have `_bucket` (with `le`), `_sum` and `_count`; per label set the buckets rise with `le`,
 *   end with `le="+Inf"`, and that bucket equals `_count`. Summaries have `quantile`, `_sum`, `_count`.
 *   Counters are named as their family (0.0.4 keeps `_total` in the family name) and are never negative.
 * - The text ends with a line feed.
 *
 * Prometheus' own parser is Go; the npm ones checked were lenient (duplicates and bad escapes went through),
 * and a test that must catch malformed output needs a parser that refuses it. Errors are AthErrors
 * (ATH_ERR_METRICS_PARSE) naming the line.
 */
import { AthError } from '../signaling/protocol/index.js';
import { MetricsErrorCode } from './errors.js';

/** The code of every parse error (declared in `metrics/errors.ts`). */
export const METRICS_PARSE_ERROR = MetricsErrorCode.parse;

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export type Sample = {
  /** The sample's own name (`x_bucket`, `x_sum`… for histograms). */
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
  timestampMs?: number;
};

export type MetricFamily = {
  name: string;
  type: MetricType;
  help: string | undefined;
  samples: Sample[];
};

export type PrometheusExposition = {
  /** In exposition order. */
  families: MetricFamily[];
  byName: ReadonlyMap<string, MetricFamily>;
};

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
/** Go's strconv.ParseFloat syntax (decimal and hex floats are rare; decimal and the specials are what appear). */
const FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])$/;
const TIMESTAMP = /^-?\d+$/;

class ParseFailure {
  constructor(
    readonly lineNo: number,
    readonly reason: string,
  ) {}
}

export function parsePrometheusText(text: string): PrometheusExposition {
  try {
    return parse(text);
  } catch (error) {
    if (error instanceof ParseFailure) {
      throw new AthError({
        code: METRICS_PARSE_ERROR,
        shortMessage: 'malformed Prometheus exposition',
        details: error.lineNo > 0 ? `line ${error.lineNo}: ${error.reason}` : error.reason,
      });
    }
    throw error;
  }
}

function parse(text: string): PrometheusExposition {
  if (text.length > 0 && !text.endsWith('\n')) throw new ParseFailure(text.split('\n').length, 'no final line feed');
  const lines = text.split('\n');
  lines.pop();
  const families: MetricFamily[] = [];
  const byName = new Map<string, MetricFamily>();
  const closed = new Set<string>();
  const seriesSeen = new Set<string>();
  const typed = new Set<string>();
  let current: MetricFamily | undefined;

  const familyFor = (name: string, lineNo: number): MetricFamily => {
    let family = byName.get(name);
    if (family && closed.has(name)) throw new ParseFailure(lineNo, `lines of ${name} are not contiguous`);
    if (!family) {
      family = { name, type: 'untyped', help: undefined, samples: [] };
      byName.set(name, family);
      families.push(family);
    }
    if (current && current !== family) closed.add(current.name);
    current = family;
    return family;
  };

  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    if (raw.includes('\r')) throw new ParseFailure(lineNo, 'carriage return');
    const line = raw.replace(/^[ \t]+/, '');
    if (line === '') return;
    if (line.startsWith('#')) {
      const tokens = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (!tokens) return; // a plain comment
      const [, keyword, name = '', rest = ''] = tokens;
      if (!METRIC_NAME.test(name)) throw new ParseFailure(lineNo, `bad metric name ${JSON.stringify(name)}`);
      const family = familyFor(name, lineNo);
      if (keyword === 'HELP') {
        if (family.help !== undefined) throw new ParseFailure(lineNo, `second HELP for ${name}`);
        family.help = unescapeHelp(rest, lineNo);
      } else {
        const type = rest.trim();
        if (!(TYPES as readonly string[]).includes(type)) throw new ParseFailure(lineNo, `unknown type ${type}`);
        if (typed.has(name)) throw new ParseFailure(lineNo, `second TYPE for ${name}`);
        if (family.samples.length > 0) throw new ParseFailure(lineNo, `TYPE for ${name} after its samples`);
        family.type = type as MetricType;
        typed.add(name);
      }
      return;
    }
    const sample = parseSampleLine(line, lineNo);
    const familyName = familyNameOf(sample.name, byName);
    const family = familyFor(familyName, lineNo);
    checkSampleName(family, sample, lineNo);
    const key = seriesKey(sample);
    if (seriesSeen.has(key)) throw new ParseFailure(lineNo, `duplicate series ${key}`);
    seriesSeen.add(key);
    family.samples.push(sample);
  });

  for (const family of families) {
    if (family.type === 'histogram') checkHistogram(family);
    if (family.type === 'summary') checkSummary(family);
  }
  return { families, byName };
}

/**
 * `x_bucket`, `x_sum`, `x_count` belong to the family `x` when `x` is a histogram (`_sum`, `_count`: or a
 * summary) — also when `x` was already closed, so that a stray bucket later on is caught as non-contiguous.
 */
function familyNameOf(sampleName: string, byName: ReadonlyMap<string, MetricFamily>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const family = byName.get(sampleName.slice(0, -suffix.length));
    if (family?.type === 'histogram' || (family?.type === 'summary' && suffix !== '_bucket')) return family.name;
  }
  return sampleName;
}

function checkSampleName(family: MetricFamily, sample: Sample, lineNo: number): void {
  const { name, labels } = sample;
  switch (family.type) {
    case 'histogram':
      if (name === family.name) throw new ParseFailure(lineNo, `histogram ${family.name} sample without a suffix`);
      if (name.endsWith('_bucket') && labels['le'] === undefined) {
        throw new ParseFailure(lineNo, `bucket of ${family.name} without le`);
      }
      if (!name.endsWith('_bucket') && labels['le'] !== undefined) {
        throw new ParseFailure(lineNo, `le on ${name}`);
      }
      return;
    case 'summary':
      if (name === family.name && labels['quantile'] === undefined) {
        throw new ParseFailure(lineNo, `summary ${family.name} sample without quantile`);
      }
      return;
    case 'counter':
      if (!(sample.value >= 0)) throw new ParseFailure(lineNo, `counter ${name} is ${sample.value}`);
      return;
    default:
      return;
  }
}

function checkHistogram(family: MetricFamily): void {
  type Group = { buckets: Array<{ le: number; value: number }>; sum?: number; count?: number };
  const groups = new Map<string, Group>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = seriesKey({ name: family.name, labels: rest });
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (sample.name.endsWith('_bucket')) {
      const bound = parseFloatStrict(le ?? '');
      if (bound === undefined || Number.isNaN(bound)) throw fail(family, `bad le ${JSON.stringify(le)}`);
      group.buckets.push({ le: bound, value: sample.value });
    } else if (sample.name.endsWith('_sum')) group.sum = sample.value;
    else group.count = sample.value;
  }
  for (const [key, group] of groups) {
    if (group.count === undefined || group.sum === undefined) throw fail(family, `${key} lacks _sum or _count`);
    const buckets = group.buckets;
    if (buckets.length === 0 || buckets[buckets.length - 1]?.le !== Number.POSITIVE_INFINITY) {
      throw fail(family, `${key} has no le="+Inf" bucket last`);
    }
    for (let i = 1; i < buckets.length; i++) {
      const previous = buckets[i - 1];
      const bucket = buckets[i];
      if (!previous || !bucket) continue;
      if (bucket.le <= previous.le) throw fail(family, `${key}: le ${bucket.le} after ${previous.le}`);
      if (bucket.value < previous.value) throw fail(family, `${key}: bucket le=${bucket.le} below the previous`);
    }
    if (buckets[buckets.length - 1]?.value !== group.count) {
      throw fail(family, `${key}: +Inf bucket ${buckets[buckets.length - 1]?.value} ≠ _count ${group.count}`);
    }
  }
}

function checkSummary(family: MetricFamily): void {
  const groups = new Map<string, { sum: boolean; count: boolean }>();
  for (const sample of family.samples) {
    const { quantile, ...rest } = sample.labels;
    const key = seriesKey({ name: family.name, labels: rest });
    const group = groups.get(key) ?? { sum: false, count: false };
    groups.set(key, group);
    if (sample.name === family.name) {
      const q = parseFloatStrict(quantile ?? '');
      if (q === undefined || !(q >= 0 && q <= 1)) throw fail(family, `bad quantile ${JSON.stringify(quantile)}`);
    } else if (sample.name.endsWith('_sum')) group.sum = true;
    else group.count = true;
  }
  for (const [key, group] of groups) {
    if (!group.sum || !group.count) throw fail(family, `${key} lacks _sum or _count`);
  }
}

function fail(family: MetricFamily, reason: string): ParseFailure {
  return new ParseFailure(0, `${family.type} ${family.name}: ${reason}`);
}

function parseSampleLine(line: string, lineNo: number): Sample {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) throw new ParseFailure(lineNo, 'a sample line must start with a metric name');
  const name = nameMatch[0];
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos += 1;
    for (;;) {
      pos = skipBlanks(line, pos);
      if (line[pos] === '}') {
        pos += 1;
        break;
      }
      const labelMatch = LABEL_NAME.exec(line.slice(pos));
      if (!labelMatch) throw new ParseFailure(lineNo, `bad label name at column ${pos + 1}`);
      const labelName = labelMatch[0];
      if (labelName.startsWith('__')) throw new ParseFailure(lineNo, `reserved label name ${labelName}`);
      if (Object.hasOwn(labels, labelName)) throw new ParseFailure(lineNo, `label ${labelName} twice`);
      pos = skipBlanks(line, pos + labelName.length);
      if (line[pos] !== '=') throw new ParseFailure(lineNo, `expected = after ${labelName}`);
      pos = skipBlanks(line, pos + 1);
      if (line[pos] !== '"') throw new ParseFailure(lineNo, `label ${labelName}: value not quoted`);
      const [value, end] = readQuoted(line, pos + 1, lineNo);
      labels[labelName] = value;
      pos = skipBlanks(line, end);
      if (line[pos] === ',') {
        pos += 1;
        continue;
      }
      if (line[pos] !== '}') throw new ParseFailure(lineNo, `expected , or } at column ${pos + 1}`);
      pos += 1;
      break;
    }
  }
  if (line[pos] !== ' ' && line[pos] !== '\t') throw new ParseFailure(lineNo, 'expected a blank before the value');
  const rest = line
    .slice(pos)
    .trim()
    .split(/[ \t]+/);
  if (rest.length < 1 || rest.length > 2) throw new ParseFailure(lineNo, 'expected value [timestamp]');
  const value = parseFloatStrict(rest[0] ?? '');
  if (value === undefined) throw new ParseFailure(lineNo, `bad value ${JSON.stringify(rest[0])}`);
  const sample: Sample = { name, labels, value };
  if (rest[1] !== undefined) {
    if (!TIMESTAMP.test(rest[1])) throw new ParseFailure(lineNo, `bad timestamp ${JSON.stringify(rest[1])}`);
    sample.timestampMs = Number(rest[1]);
  }
  return sample;
}

function skipBlanks(line: string, pos: number): number {
  let at = pos;
  while (line[at] === ' ' || line[at] === '\t') at += 1;
  return at;
}

/** Reads a label value after its opening quote; returns the value and the index after the closing quote. */
function readQuoted(line: string, start: number, lineNo: number): [string, number] {
  let value = '';
  for (let i = start; i < line.length; i++) {
    const c = line[i];
    if (c === '"') return [value, i + 1];
    if (c === '\\') {
      const next = line[i + 1];
      if (next === '\\' || next === '"') value += next;
      else if (next === 'n') value += '\n';
      else throw new ParseFailure(lineNo, `bad escape \\${next ?? ''} in a label value`);
      i += 1;
    } else value += c;
  }
  throw new ParseFailure(lineNo, 'unterminated label value');
}

function unescapeHelp(text: string, lineNo: number): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === '\\') out += '\\';
    else if (next === 'n') out += '\n';
    else throw new ParseFailure(lineNo, `bad escape \\${next ?? ''} in HELP`);
    i += 1;
  }
  return out;
}

function parseFloatStrict(text: string): number | undefined {
  if (!FLOAT.test(text)) return undefined;
  const lower = text.toLowerCase().replace(/^\+/, '');
  if (lower === 'nan') return Number.NaN;
  if (lower === 'inf' || lower === 'infinity') return Number.POSITIVE_INFINITY;
  if (lower === '-inf' || lower === '-infinity') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

/** `name{a="1",b="2"}` with labels sorted: the identity of a series. */
export function seriesKey({ name, labels }: Pick<Sample, 'name' | 'labels'>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((key) => `${key}=${JSON.stringify(labels[key])}`);
  return `${name}{${parts.join(',')}}`;
}

/**
 * Σ of the samples named `sampleName` whose labels include `labels` (undefined if there is none): e.g. the
 * `_count` of a histogram over every label set, or one labelled series.
 */
export function sampleValue(
  exposition: PrometheusExposition,
  sampleName: string,
  labels: Record<string, string> = {},
): number | undefined {
  let total: number | undefined;
  for (const family of exposition.families) {
    for (const sample of family.samples) {
      if (sample.name !== sampleName) continue;
      if (!Object.entries(labels).every(([key, value]) => sample.labels[key] === value)) continue;
      total = (total ?? 0) + sample.value;
    }
  }
  return total;
}
