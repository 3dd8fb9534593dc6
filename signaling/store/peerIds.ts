/** The instance named in a peer id (`peer-<instanceId>-<random hex>`), if any. */
export function instanceOfPeer(peerId: string | undefined): string | undefined {
  return peerId ? /^peer-([a-z0-9]{1,32})-[0-9a-f]+$/.exec(peerId)?.[1] : undefined;
}
