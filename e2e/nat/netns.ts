/**
 * A private network behind a NAT router, made of Linux network namespaces for one test (root only):
 *
 *   root namespace (player, signaling, coturn)  10.N.2.1 ──veth── 10.N.2.2  router namespace  10.N.1.1 ──veth── 10.N.1.2  host namespace
 *                                                       "public side"         MASQUERADE (+ optional 1:1 forward)   "LAN"
 *
 * The root namespace has a blackhole route to the LAN: a player there can reach the host only through the router's
 * public address (a forwarded port) or through a relay — never its internal address, and nothing leaves the
 * machine. Everything is named `i15…` with a random suffix and removed by `close()`, also after a failure.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
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
  /** `ip netns exec HOSTNS`: run a command inside the host's namespace. */
  readonly launcher: readonly string[];
  /** Forwards these UDP ports of the public address to the host, one to one (a 1:1 NAT / port forward). */
  forwardUdp(low: number, high: number): Promise<void>;
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
  const [rootEnd, routerPub, routerLan, hostEnd] = ['p', 'q', 'l', 'm'].map((c) => `i15${c}${sfx}`);
  const rootIp = `10.${n}.2.1`;
  const publicIp = `10.${n}.2.2`;
  const lanGw = `10.${n}.1.1`;
  const hostIp = `10.${n}.1.2`;
  const lan = `10.${n}.1.0/24`;
  const inRouter = (...args: string[]) => sh(['ip', 'netns', 'exec', routerNs, ...args]);
  const inHost = (...args: string[]) => sh(['ip', 'netns', 'exec', hostNs, ...args]);
  const close = async () => {
    for (const ns of [hostNs, routerNs]) await sh(['ip', 'netns', 'del', ns]).catch(() => undefined);
    await sh(['ip', 'link', 'del', rootEnd ?? '']).catch(() => undefined);
    await sh(['ip', 'route', 'del', 'blackhole', lan]).catch(() => undefined);
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
    // The LAN behind the router is unreachable from here (and never routed out of the machine).
    await sh(['ip', 'route', 'add', 'blackhole', lan]);
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
    launcher: ['ip', 'netns', 'exec', hostNs],
    forwardUdp: async (low, high) => {
      await inRouter(
        'iptables',
        '-t',
        'nat',
        '-A',
        'PREROUTING',
        '-i',
        routerPub ?? '',
        '-p',
        'udp',
        '--dport',
        `${low}:${high}`,
        '-j',
        'DNAT',
        '--to-destination',
        hostIp,
      );
    },
    close,
  };
}
