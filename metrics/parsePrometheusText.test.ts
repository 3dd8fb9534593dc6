import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isAthError } from '../signaling/protocol/index.js';
import { METRICS_PARSE_ERROR, parsePrometheusText, sampleValue } from './parsePrometheusText.js';

/** The example of the exposition-format spec (prometheus/docs, exposition_formats.md), lightly extended. */
const SPEC_EXAMPLE = `# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# HELP help_escapes A backslash \\\\ and a line\\nfeed.
# TYPE help_escapes gauge
help_escapes NaN

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
`;

const HISTOGRAM_HEAD = '# HELP h_seconds x\n# TYPE h_seconds histogram\n';

/** Each must be refused, with the reason it is wrong. */
const MALFORMED: Array<[string, string]> = [
  ['no final line feed', 'a 1'],
  ['metric name starting with a digit', '1abc 1\n'],
  ['dash in a metric name', 'a-b 1\n'],
  ['label name with a dash', 'a{b-c="1"} 1\n'],
  ['reserved __ label name', 'a{__name__="x"} 1\n'],
  ['unquoted label value', 'a{b=1} 1\n'],
  ['single-quoted label value', "a{b='1'} 1\n"],
  ['unterminated label value', 'a{b="1} 1\n'],
  ['unknown escape in a label value', 'a{b="\\t"} 1\n'],
  ['missing comma between labels', 'a{b="1" c="2"} 1\n'],
  ['unclosed label set', 'a{b="1" 1\n'],
  ['same label twice', 'a{b="1",b="2"} 1\n'],
  ['no value', 'a\n'],
  ['value not a number', 'a abc\n'],
  ['value with a unit', 'a 12ms\n'],
  ['non-integer timestamp', 'a 1 1.5\n'],
  ['three fields', 'a 1 2 3\n'],
  ['duplicate series', 'a{b="1"} 1\na{b="1"} 2\n'],
  ['duplicate series, labels reordered', 'a{b="1",c="2"} 1\na{c="2",b="1"} 2\n'],
  ['unknown type', '# TYPE a countr\na 1\n'],
  ['second TYPE', '# TYPE a gauge\n# TYPE a gauge\na 1\n'],
  ['second HELP', '# HELP a x\n# HELP a y\na 1\n'],
  ['TYPE after samples', 'a 1\n# TYPE a gauge\n'],
  ['bad escape in HELP', '# HELP a tab\\there\na 1\n'],
  ['family not contiguous', 'a 1\nb 1\na{x="1"} 2\n'],
  ['negative counter', '# TYPE c_total counter\nc_total -1\n'],
  ['carriage return line ending', 'a 1\r\n'],
  [
    'histogram without +Inf bucket',
    `${HISTOGRAM_HEAD}h_seconds_bucket{le="1"} 1\nh_seconds_sum 1\nh_seconds_count 1\n`,
  ],
  [
    'histogram +Inf bucket ≠ count',
    `${HISTOGRAM_HEAD}h_seconds_bucket{le="1"} 1\nh_seconds_bucket{le="+Inf"} 2\nh_seconds_sum 1\nh_seconds_count 3\n`,
  ],
  [
    'histogram buckets falling',
    `${HISTOGRAM_HEAD}h_seconds_bucket{le="1"} 5\nh_seconds_bucket{le="+Inf"} 2\nh_seconds_sum 1\nh_seconds_count 2\n`,
  ],
  [
    'histogram le out of order',
    `${HISTOGRAM_HEAD}h_seconds_bucket{le="2"} 1\nh_seconds_bucket{le="1"} 1\nh_seconds_bucket{le="+Inf"} 1\nh_seconds_sum 1\nh_seconds_count 1\n`,
  ],
  ['histogram bucket le not a number', `${HISTOGRAM_HEAD}h_seconds_bucket{le="x"} 1\n`],
  ['histogram bucket without le', `${HISTOGRAM_HEAD}h_seconds_bucket 1\n`],
  ['histogram without _sum', `${HISTOGRAM_HEAD}h_seconds_bucket{le="+Inf"} 1\nh_seconds_count 1\n`],
  ['histogram sample without suffix', `${HISTOGRAM_HEAD}h_seconds 1\n`],
  [
    'histogram bucket after the family ended',
    `${HISTOGRAM_HEAD}h_seconds_bucket{le="+Inf"} 1\nh_seconds_sum 1\nh_seconds_count 1\nz 1\nh_seconds_bucket{le="+Inf",a="1"} 1\n`,
  ],
  ['summary quantile above 1', '# TYPE s summary\ns{quantile="1.5"} 1\ns_sum 1\ns_count 1\n'],
  ['summary without _count', '# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 1\n'],
];

describe('parsePrometheusText', () => {
  test('reads the spec example: types, help, escapes, specials and timestamps', () => {
    const parsed = parsePrometheusText(SPEC_EXAMPLE);
    assert.equal(parsed.byName.get('http_requests_total')?.type, 'counter');
    assert.equal(sampleValue(parsed, 'http_requests_total', { code: '400' }), 3);
    assert.equal(parsed.byName.get('http_requests_total')?.samples[0]?.timestampMs, 1395066363000);
    const weird = parsed.byName.get('msdos_file_access_time_seconds')?.samples[0];
    assert.deepEqual(weird?.labels, { path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"' });
    assert.equal(weird?.value, 1.458255915e9);
    assert.equal(sampleValue(parsed, 'something_weird'), Number.POSITIVE_INFINITY);
    assert.equal(parsed.byName.get('something_weird')?.samples[0]?.timestampMs, -3982045);
    assert.equal(parsed.byName.get('help_escapes')?.help, 'A backslash \\ and a line\nfeed.');
    assert.ok(Number.isNaN(sampleValue(parsed, 'help_escapes')));
    assert.equal(parsed.byName.get('metric_without_timestamp_and_labels')?.type, 'untyped');
    const histogram = parsed.byName.get('http_request_duration_seconds');
    assert.equal(histogram?.type, 'histogram');
    assert.equal(histogram?.samples.length, 8);
    assert.equal(sampleValue(parsed, 'http_request_duration_seconds_count'), 144320);
    assert.equal(parsed.byName.get('rpc_duration_seconds')?.samples.length, 5);
    assert.equal(parsed.families.length, 7);
  });

  test('allows what the spec allows: blanks, trailing comma, comments, empty text', () => {
    const parsed = parsePrometheusText('# just a comment\n\n  a{ b = "1" , } 2\n#TYPE not a type line\n');
    assert.equal(sampleValue(parsed, 'a', { b: '1' }), 2);
    assert.equal(parsePrometheusText('').families.length, 0);
  });

  for (const [why, text] of MALFORMED) {
    test(`refuses: ${why}`, () => {
      assert.throws(
        () => parsePrometheusText(text),
        (error: unknown) => isAthError(error, METRICS_PARSE_ERROR),
      );
    });
  }
});
