/**
 * A private network behind a NAT router, made of Linux network namespaces for one test (root only):
 *
 *   root namespace (player, signaling, coturn)  10.N.2.1 ──veth── 10.N.2.2  router namespace  10.N.1.1 ──veth── 10.N.1.2  host namespace
 *                                                       "public side"         MASQUERADE (+ optional 1:1 forward)   "LAN"
 *
 * The root namespace routes the LAN into a sink (a veth pair whose far end nobody answers on: packets to the host's
 * internal address vanish, as they do on the internet, and nothing leaves the machine). A player there can reach the
 * host only through the router's public address (a forwarded port) or through a relay — never its internal address.
 * Not a `blackhole` route: that makes sendto() fail with EINVAL, and coturn closes a whole allocation on one failed
 * send — the relay a player was using died the moment its TURN client checked the host's internal candidate.
 * Everything is named `i15…` with a random suffix and removed by `close()`, also after a failure.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type NatLab = {
  readonly hostNs: string;
  readonly routerNs: string;
  /** The root namespace's address on the public side (bind signaling and coturn here). */
  readonly rootIp: string;
  /** The router's public address: what the host looks like from outside. */
  readonly publicIp: string;
  /** The host's internal address (unreachable from the root namespace). */
  readonly hostIp: string;
  /** The LAN behind the router as `first-last` (coturn's `denied-peer-ip` form). */
  readonly lanRange: string;
  /** `ip netns exec HOSTNS`: run a command inside the host's namespace. */
  readonly launcher: readonly string[];
  /**
   * Forwards these UDP ports of the public address to the host, one to one (a 1:1 NAT / port forward). Returns the
   * function that removes the forward.
   */
  forwardUdp(low: number, high: number): Promise<() => Promise<void>>;
  /**
   * A firewall on the router that lets UDP from the LAN out to this one address and port only (a TURN server): the
   * host is then reachable through that relay alone. Returns the function that lifts it.
   */
  allowUdpOnlyTo(ip: string, port: number): Promise<() => Promise<void>>;
  close(): Promise<void>;
};

async function sh(args: string[]): Promise<void> {
  await run(args[0] ?? 'true', args.slice(1), { timeout: 10_000 });
}

/** Why network namespaces cannot be used here (undefined: they can). */
export async function netnsUnavailableReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `i15probe${randomBytes(3).toString('hex')}`;
  try {
    await sh(['ip', 'netns', 'add', probe]);
    await sh(['ip', 'netns', 'exec', probe, 'iptables', '-t', 'nat', '-L', '-n']);
    return undefined;
  } catch (error) {
    return `cannot create a network namespace with iptables here: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    await sh(['ip', 'netns', 'del', probe]).catch(() => undefined);
  }
}

function freeSubnet(): number {
  const used = Object.values(networkInterfaces())
    .flat()
    .map((info) => info?.address ?? '');
  for (let tries = 0; tries < 50; tries++) {
    const n = randomInt(100, 250);
    if (!used.some((address) => address.startsWith(`10.${n}.`))) return n;
  }
  throw new Error('no free 10.N.0.0/16 for the NAT lab');
}

export async function createNatLab(): Promise<NatLab> {
  const sfx = randomBytes(3).toString('hex');
  const n = freeSubnet();
  const hostNs = `i15h${sfx}`;
  const routerNs = `i15r${sfx}`;
  const [rootEnd, routerPub, routerLan, hostEnd, sinkEnd, sinkFar] = ['p', 'q', 'l', 'm', 's', 't'].map(
    (c) => `i15${c}${sfx}`,
  );
  const rootIp = `10.${n}.2.1`;
  const publicIp = `10.${n}.2.2`;
  const lanGw = `10.${n}.1.1`;
  const hostIp = `10.${n}.1.2`;
  const lan = `10.${n}.1.0/24`;
  const sinkIp = `10.${n}.3.1`;
  const sinkGw = `10.${n}.3.2`;
  const inRouter = (...args: string[]) => sh(['ip', 'netns', 'exec', routerNs, ...args]);
  const inHost = (...args: string[]) => sh(['ip', 'netns', 'exec', hostNs, ...args]);
  const teardown: string[][] = [
    ['ip', 'netns', 'del', hostNs],
    ['ip', 'netns', 'del', routerNs],
    ['ip', 'route', 'del', lan],
    ['ip', 'link', 'del', rootEnd ?? ''],
    ['ip', 'link', 'del', sinkEnd ?? ''],
  ];
  // A test process that dies without running its `after` (killed by a timeout, an uncaught error) still removes the
  // lab: the same commands, synchronously, at exit.
  const removeAtExit = () => {
    for (const [command, ...args] of teardown) {
      try {
        execFileSync(command ?? 'true', args, { stdio: 'ignore', timeout: 5_000 });
      } catch {
        // Already gone (or never made).
      }
    }
  };
  process.once('exit', removeAtExit);
  const close = async () => {
    process.removeListener('exit', removeAtExit);
    for (const args of teardown) await sh(args).catch(() => undefined);
  };
  try {
    await sh(['ip', 'netns', 'add', hostNs]);
    await sh(['ip', 'netns', 'add', routerNs]);
    await sh(['ip', 'link', 'add', rootEnd ?? '', 'type', 'veth', 'peer', 'name', routerPub ?? '']);
    await sh(['ip', 'link', 'add', routerLan ?? '', 'type', 'veth', 'peer', 'name', hostEnd ?? '']);
    await sh(['ip', 'link', 'set', routerPub ?? '', 'netns', routerNs]);
    await sh(['ip', 'link', 'set', routerLan ?? '', 'netns', routerNs]);
    await sh(['ip', 'link', 'set', hostEnd ?? '', 'netns', hostNs]);
    await sh(['ip', 'addr', 'add', `${rootIp}/24`, 'dev', rootEnd ?? '']);
    await sh(['ip', 'link', 'set', rootEnd ?? '', 'up']);
    // The LAN behind the router is unreachable from here, and never routed out of the machine: its packets go to a
    // gateway that does not exist (a permanent neighbour entry with a made-up MAC on a veth nobody listens behind).
    await sh(['ip', 'link', 'add', sinkEnd ?? '', 'type', 'veth', 'peer', 'name', sinkFar ?? '']);
    await sh(['ip', 'addr', 'add', `${sinkIp}/30`, 'dev', sinkEnd ?? '']);
    await sh(['ip', 'link', 'set', sinkEnd ?? '', 'up']);
    await sh(['ip', 'link', 'set', sinkFar ?? '', 'up']);
    await sh([
      'ip',
      'neigh',
      'replace',
      sinkGw,
      'lladdr',
      '02:00:00:00:15:01',
      'dev',
      sinkEnd ?? '',
      'nud',
      'permanent',
    ]);
    await sh(['ip', 'route', 'add', lan, 'via', sinkGw, 'dev', sinkEnd ?? '']);
    await inRouter('ip', 'link', 'set', 'lo', 'up');
    await inRouter('ip', 'addr', 'add', `${publicIp}/24`, 'dev', routerPub ?? '');
    await inRouter('ip', 'addr', 'add', `${lanGw}/24`, 'dev', routerLan ?? '');
    await inRouter('ip', 'link', 'set', routerPub ?? '', 'up');
    await inRouter('ip', 'link', 'set', routerLan ?? '', 'up');
    await inRouter('ip', 'route', 'add', 'default', 'via', rootIp);
    await inRouter('sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
    await inRouter('iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', routerPub ?? '', '-j', 'MASQUERADE');
    await inHost('ip', 'link', 'set', 'lo', 'up');
    await inHost('ip', 'addr', 'add', `${hostIp}/24`, 'dev', hostEnd ?? '');
    await inHost('ip', 'link', 'set', hostEnd ?? '', 'up');
    await inHost('ip', 'route', 'add', 'default', 'via', lanGw);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    hostNs,
    routerNs,
    rootIp,
    publicIp,
    hostIp,
    lanRange: `10.${n}.1.0-10.${n}.1.255`,
    launcher: ['ip', 'netns', 'exec', hostNs],
    forwardUdp: async (low, high) => {
      const rule = ['PREROUTING', '-i', routerPub ?? '', '-p', 'udp', '--dport', `${low}:${high}`];
      const target = ['-j', 'DNAT', '--to-destination', hostIp];
      await inRouter('iptables', '-t', 'nat', '-A', ...rule, ...target);
      return async () => {
        await inRouter('iptables', '-t', 'nat', '-D', ...rule, ...target).catch(() => undefined);
      };
    },
    allowUdpOnlyTo: async (ip, port) => {
      const rules = [
        ['-i', routerLan ?? '', '-p', 'udp', '-d', ip, '--dport', String(port), '-j', 'ACCEPT'],
        ['-i', routerLan ?? '', '-p', 'udp', '-j', 'DROP'],
      ];
      for (const rule of rules) await inRouter('iptables', '-A', 'FORWARD', ...rule);
      return async () => {
        for (const rule of rules) await inRouter('iptables', '-D', 'FORWARD', ...rule).catch(() => undefined);
      };
    },
    close,
  };
}

/** A player whose network lets no UDP through (a corporate firewall, some hotel and mobile networks). */
export type UdpBlockedPlayer = {
  readonly ns: string;
  /** The root namespace's end of the player's link (bind signaling, render hosts and coturn here). */
  readonly rootIp: string;
  readonly playerIp: string;
  /** `ip netns exec NS`: run a command (Chromium) inside the player's namespace. */
  readonly launcher: readonly string[];
  /**
   * Also drops the player's TCP to this address and port (a firewall that lets only HTTPS-like traffic out, so TURN
   * is reachable over TLS alone). Returns the function that lifts it.
   */
  blockTcpTo(ip: string, port: number): Promise<() => Promise<void>>;
  /**
   * Makes `127.0.0.1:port` inside the player's namespace reach the same port on the root namespace's loopback (a
   * TCP relay in this process on `rootIp`, DNAT + SNAT in the namespace): for a service that only listens on
   * 127.0.0.1 and whose URL the page is handed as is — the embedded chain's RPC, which the page's wallet deposits
   * through. Only that port; UDP stays blocked. Returns the function that removes it.
   */
  reachRootLoopback(port: number): Promise<() => Promise<void>>;
  close(): Promise<void>;
};

/**
 * A network namespace for the player, linked to the root namespace by a veth pair, whose iptables drop every UDP
 * datagram in and out (loopback aside): only TCP reaches signaling, the page and a TURN server over TCP or TLS.
 * Named `i15…` with a random suffix; removed by `close()`, and at process exit if `close()` never ran.
 */
export async function createUdpBlockedPlayer(): Promise<UdpBlockedPlayer> {
  const sfx = randomBytes(3).toString('hex');
  const n = freeSubnet();
  const ns = `i15u${sfx}`;
  const rootEnd = `i15v${sfx}`;
  const playerEnd = `i15w${sfx}`;
  const rootIp = `10.${n}.4.1`;
  const playerIp = `10.${n}.4.2`;
  const inPlayer = (...args: string[]) => sh(['ip', 'netns', 'exec', ns, ...args]);
  const teardown: string[][] = [
    ['ip', 'netns', 'del', ns],
    ['ip', 'link', 'del', rootEnd],
  ];
  const removeAtExit = () => {
    for (const [command, ...args] of teardown) {
      try {
        execFileSync(command ?? 'true', args, { stdio: 'ignore', timeout: 5_000 });
      } catch {
        // Already gone (or never made).
      }
    }
  };
  process.once('exit', removeAtExit);
  const close = async () => {
    process.removeListener('exit', removeAtExit);
    for (const args of teardown) await sh(args).catch(() => undefined);
  };
  try {
    await sh(['ip', 'netns', 'add', ns]);
    await sh(['ip', 'link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', playerEnd]);
    await sh(['ip', 'link', 'set', playerEnd, 'netns', ns]);
    await sh(['ip', 'addr', 'add', `${rootIp}/24`, 'dev', rootEnd]);
    await sh(['ip', 'link', 'set', rootEnd, 'up']);
    await inPlayer('ip', 'link', 'set', 'lo', 'up');
    await inPlayer('ip', 'addr', 'add', `${playerIp}/24`, 'dev', playerEnd);
    await inPlayer('ip', 'link', 'set', playerEnd, 'up');
    // Only the root namespace's end is reachable (no default route: nothing leaves the machine).
    for (const chain of ['OUTPUT', 'INPUT']) {
      await inPlayer('iptables', '-A', chain, chain === 'OUTPUT' ? '-o' : '-i', 'lo', '-j', 'ACCEPT');
      await inPlayer('iptables', '-A', chain, '-p', 'udp', '-j', 'DROP');
    }
  } catch (error) {
    await close();
    throw error;
  }
  const blockTcpTo = async (ip: string, port: number) => {
    const rule = ['OUTPUT', '-p', 'tcp', '-d', ip, '--dport', String(port), '-j', 'DROP'];
    await inPlayer('iptables', '-I', ...rule);
    return async () => {
      await inPlayer('iptables', '-D', ...rule).catch(() => undefined);
    };
  };
  const reachRootLoopback = async (port: number) => {
    const relay = createServer((inbound) => {
      const outbound = connect({ host: '127.0.0.1', port });
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      relay.once('error', reject);
      relay.listen(0, rootIp, () => resolve());
    });
    const address = relay.address();
    const relayPort = typeof address === 'object' && address ? address.port : 0;
    const dnat = ['OUTPUT', '-p', 'tcp', '-d', '127.0.0.1', '--dport', String(port)];
    const rules = [
      [...dnat, '-j', 'DNAT', '--to-destination', `${rootIp}:${relayPort}`],
      ['POSTROUTING', '-o', playerEnd, '-s', '127.0.0.1', '-j', 'SNAT', '--to-source', playerIp],
    ];
    const undo = async () => {
      for (const rule of rules) await inPlayer('iptables', '-t', 'nat', '-D', ...rule).catch(() => undefined);
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    };
    try {
      // Loopback addresses may be routed out of the namespace once rewritten (its own sysctl, not the machine's).
      await inPlayer('sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1');
      for (const rule of rules) await inPlayer('iptables', '-t', 'nat', '-A', ...rule);
    } catch (error) {
      await undo();
      throw error;
    }
    return undo;
  };
  return { ns, rootIp, playerIp, launcher: ['ip', 'netns', 'exec', ns], blockTcpTo, reachRootLoopback, close };
}
