/**
 * Where the embedded chain listens: loopback by default (a browser on another machine cannot reach it), elsewhere
 * when told (`chain.anvilHost` / `--anvil-host`), and which RPC URL browsers are then handed (`GET /api/chain`).
 * The "elsewhere" here is 127.0.0.2: another address, still on this machine's loopback.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { embeddedPublicRpcUrl } from '../stack/startStack.js';
import { startAnvil } from './startAnvil.js';

const chainIdAt = async (url: string): Promise<string> => {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
  });
  return ((await response.json()) as { result: string }).result;
};

const accepts = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

test('anvil listens on 127.0.0.1 only by default', async () => {
  const anvil = await startAnvil();
  try {
    const port = Number(new URL(anvil.rpcUrl).port);
    assert.match(anvil.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await chainIdAt(anvil.rpcUrl), '0x7a69');
    assert.equal(await accepts('127.0.0.2', port), false, 'not on another address');
  } finally {
    await anvil.close();
  }
});

test('with a host, anvil listens there and its RPC URL names it', async () => {
  const anvil = await startAnvil({ host: '127.0.0.2' });
  try {
    const port = Number(new URL(anvil.rpcUrl).port);
    assert.equal(anvil.rpcUrl, `http://127.0.0.2:${port}`);
    assert.equal(await chainIdAt(anvil.rpcUrl), '0x7a69');
    assert.equal(await accepts('127.0.0.1', port), false, 'bound to the address given, not to 127.0.0.1 as well');
  } finally {
    await anvil.close();
  }
});

test('browsers are handed the chain’s public URL only when one is known', () => {
  const local = 'http://127.0.0.1:8545';
  assert.deepEqual(embeddedPublicRpcUrl({}, local), {}, 'default: loopback, nothing changes');
  assert.deepEqual(embeddedPublicRpcUrl({ anvilHost: '127.0.0.1' }, local), {});
  assert.deepEqual(embeddedPublicRpcUrl({ anvilHost: '192.168.1.20' }, 'http://192.168.1.20:8545'), {
    publicRpcUrl: 'http://192.168.1.20:8545',
  });
  assert.deepEqual(embeddedPublicRpcUrl({ anvilHost: '0.0.0.0' }, local), {}, 'a wildcard names no address');
  assert.deepEqual(embeddedPublicRpcUrl({ anvilHost: '0.0.0.0', publicRpcUrl: 'http://edge.lan:8545' }, local), {
    publicRpcUrl: 'http://edge.lan:8545',
  });
});
