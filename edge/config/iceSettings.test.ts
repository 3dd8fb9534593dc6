import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { checkerIceOptions, renderHostIceOptions, signalingIceSettings } from './iceSettings.js';
import { type ConfigSetting, loadEdgeConfig } from './loadEdgeConfig.js';

/** `--set path=value` flags as the CLI hands them to loadEdgeConfig. */
function sets(...assignments: string[]): ConfigSetting[] {
  return assignments.map((assignment) => {
    const eq = assignment.indexOf('=');
    return { path: assignment.slice(0, eq), value: assignment.slice(eq + 1), source: '--set' };
  });
}

describe('the ice section', () => {
  test('defaults: no server, nothing withheld — npm start stays offline on loopback', () => {
    const config = loadEdgeConfig();
    assert.deepEqual(signalingIceSettings(config), { stunUrls: [], turn: undefined, playerTransportPolicy: 'all' });
    assert.deepEqual(renderHostIceOptions(config), { useIpv6: false });
    assert.deepEqual(checkerIceOptions(config), { useIpv6: false });
  });

  test('from env and flags: TURN with its secret, a NAT’d host’s public address, port range and announced kinds', () => {
    const config = loadEdgeConfig({
      env: {
        ATH_EDGE_ICE__TURN__SECRET: 'a-shared-coturn-secret',
        ATH_EDGE_ICE__PUBLIC_ADDRESSES: '["203.0.113.7"]',
      },
      settings: sets(
        'ice.turn.urls=["turn:relay.example.org:3478?transport=udp","turns:relay.example.org:443?transport=tcp"]',
        'ice.stunUrls=["stun:relay.example.org:3478"]',
        'ice.portRange=[40000,40099]',
        'ice.announce=["public","relay"]',
        'economy.maxSessionSeconds=7200',
      ),
    });
    const signaling = signalingIceSettings(config);
    assert.equal(signaling.turn?.secret, 'a-shared-coturn-secret');
    assert.equal(signaling.turn?.ttlSec, 7_200 + 600, 'a session’s cap plus the margin');
    assert.deepEqual(renderHostIceOptions(config), {
      iceServers: [{ urls: ['stun:relay.example.org:3478'] }],
      portRange: [40_000, 40_099],
      publicAddresses: ['203.0.113.7'],
      announce: ['public', 'relay'],
      useIpv6: false,
    });
    assert.deepEqual(checkerIceOptions(config).portRange, [40_000, 40_099]);
  });

  test('the secret can come from a file; bad settings are refused with ATH_ERR_CONFIG', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ath-ice-'));
    try {
      writeFileSync(join(dir, 'turn.secret'), 'secret-from-a-file-0001\n');
      const fromFile = loadEdgeConfig({
        settings: sets(`ice.turn={"urls":["turn:127.0.0.1:3478"],"secretFile":"${join(dir, 'turn.secret')}"}`),
      });
      assert.equal(signalingIceSettings(fromFile).turn?.secret, 'secret-from-a-file-0001');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const refused = (flags: string[], use: (c: ReturnType<typeof loadEdgeConfig>) => unknown = signalingIceSettings) =>
      assert.throws(() => use(loadEdgeConfig({ settings: sets(...flags.filter((f) => f !== '--set')) })), {
        code: 'ATH_ERR_CONFIG',
      });
    refused(['--set', 'ice.turn={"urls":["turn:127.0.0.1:3478"]}']);
    refused(['--set', 'ice.turn={"urls":["stun:127.0.0.1:3478"],"secret":"0123456789abcdef"}']);
    refused(['--set', 'ice.stunUrls=["http://example.org"]']);
    refused(['--set', 'ice.publicAddresses=["my.host.example"]']);
    refused(['--set', 'ice.announce=[]']);
    refused(['--set', 'ice.announce=["host","wormhole"]']);
    refused(['--set', 'ice.portRange=[40100,40000]'], renderHostIceOptions);
    refused(['--set', 'ice.turn={"urls":["turn:127.0.0.1:3478"],"secret":"0123456789abcdef","extra":1}']);
  });
});
