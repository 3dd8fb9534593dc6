/**
 * A shaped network link on this machine, for congestion tests: two network namespaces (`i17s…` sender side,
 * `i17r…` receiver side) joined by a veth pair, shaped on the sender's end — only these two namespaces see the
 * link; nothing leaves the machine. Shaping uses tc netem (rate, loss, queue limit) where the kernel has it;
 * this machine's kernel has no netem (nor modules to load), so there a tbf qdisc limits the rate (its queue
 * sized like netem's limit) and an iptables `statistic` rule drops the lost fraction at random. Needs root (tests run as root here).
 * Names carry a random suffix; `close()` removes both namespaces (and with them the veth pair and its qdisc),
 * and an exit hook does the same if the process dies before `close()`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export type LinkShape = { rateKbit: number; lossPct: number; limitPackets: number };

export type ShapedLink = {
  readonly senderNs: string;
  readonly receiverNs: string;
  readonly senderAddress: string;
  readonly receiverAddress: string;
  /** `ip netns exec <ns>`: prefix a command with it to run it in a namespace. */
  exec(ns: string): string[];
  /** Limits the sender → receiver direction. */
  shape(shape: LinkShape): void;
  /** Takes the limit away (the link runs at veth speed again). */
  lift(): void;
  close(): void;
};

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tc(ns: string, args: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, 'tc', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Whether this process may create namespaces and shape links (root with iproute2's `ip` and `tc`). */
export function canShapeLinks(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('tc', ['-V'], { stdio: 'ignore' });
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function createShapedLink(): ShapedLink {
  const suffix = randomBytes(3).toString('hex');
  const senderNs = `i17s${suffix}`;
  const receiverNs = `i17r${suffix}`;
  const senderIf = `i17a${suffix}`;
  const receiverIf = `i17b${suffix}`;
  // 10.217.x.0/30 inside the two namespaces only: no route to it exists outside them.
  const subnet = `10.217.${randomBytes(1)[0] ?? 0}`;
  const senderAddress = `${subnet}.1`;
  const receiverAddress = `${subnet}.2`;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    process.off('exit', close);
    for (const ns of [senderNs, receiverNs]) {
      try {
        ip(['netns', 'del', ns]);
      } catch {
        // not created, or already gone
      }
    }
  };
  process.on('exit', close);
  let dropping = false;
  /** The sender's outgoing packets on the veth lose `lossPct` % at random (iptables in its namespace). */
  const dropRandomly = (lossPct: number) => {
    const rule = ['OUTPUT', '-o', senderIf, '-m', 'statistic', '--mode', 'random'];
    if (dropping) {
      execFileSync('ip', ['netns', 'exec', senderNs, 'iptables', '-F', 'OUTPUT'], { stdio: 'ignore' });
      dropping = false;
    }
    if (lossPct <= 0) return;
    execFileSync(
      'ip',
      ['netns', 'exec', senderNs, 'iptables', '-A', ...rule, '--probability', String(lossPct / 100), '-j', 'DROP'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    dropping = true;
  };
  try {
    ip(['netns', 'add', senderNs]);
    ip(['netns', 'add', receiverNs]);
    ip(['link', 'add', senderIf, 'type', 'veth', 'peer', 'name', receiverIf]);
    ip(['link', 'set', senderIf, 'netns', senderNs]);
    ip(['link', 'set', receiverIf, 'netns', receiverNs]);
    for (const [ns, dev, address] of [
      [senderNs, senderIf, senderAddress],
      [receiverNs, receiverIf, receiverAddress],
    ] as const) {
      ip(['-n', ns, 'addr', 'add', `${address}/30`, 'dev', dev]);
      ip(['-n', ns, 'link', 'set', dev, 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (error) {
    close();
    throw error;
  }
  return {
    senderNs,
    receiverNs,
    senderAddress,
    receiverAddress,
    exec: (ns) => ['ip', 'netns', 'exec', ns],
    shape({ rateKbit, lossPct, limitPackets }) {
      const netem = ['netem', 'rate', `${rateKbit}kbit`, 'loss', `${lossPct}%`, 'limit', String(limitPackets)];
      try {
        tc(senderNs, ['qdisc', 'replace', 'dev', senderIf, 'root', ...netem]);
        return;
      } catch {
        // no netem in this kernel: tbf + iptables below
      }
      // tbf: the bucket holds ~10 ms at the rate (at least two packets); the queue holds limitPackets MTUs.
      const burstBytes = Math.max(3000, Math.round((rateKbit * 1000) / 8 / 100));
      tc(senderNs, [
        ...['qdisc', 'replace', 'dev', senderIf, 'root', 'tbf', 'rate', `${rateKbit}kbit`],
        ...['burst', String(burstBytes), 'limit', String(limitPackets * 1500)],
      ]);
      dropRandomly(lossPct);
    },
    lift() {
      try {
        tc(senderNs, ['qdisc', 'del', 'dev', senderIf, 'root']);
      } catch {
        // no qdisc: nothing to lift
      }
      dropRandomly(0);
    },
    close,
  };
}
