/** Small DOM helpers the pages share. */
import { formatUnits } from 'viem';

/** Wei as ATH for people: grouped in the reader's locale, at most 6 decimals. */
export function formatAth(wei: string | bigint): string {
  return `${Number(formatUnits(BigInt(wei), 18)).toLocaleString(undefined, { maximumFractionDigits: 6 })} ATH`;
}

/** The element with `id`, of the expected type; a page whose markup lacks it fails loudly, naming `where`. */
export function byId<T extends HTMLElement>(id: string, type: { new (): T }, where: string): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`${where}: missing #${id}`);
  return found;
}
