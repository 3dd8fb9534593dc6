/**
 * The body of `GET /api/hosts`: the public view of the render hosts (signaling's route answers in it; the
 * providers page shows the network from it and validates it with the same schema).
 */
import { type Static, Type } from '@sinclair/typebox';
import { Region } from './messages.js';
import { WeiString } from './money.js';

export const PublicHost = Type.Object({
  hostId: Type.String(),
  state: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('draining')]),
  region: Region,
  gpu: Type.String(),
  encoder: Type.String(),
  games: Type.Array(Type.String()),
  slots: Type.Integer(),
  freeSlots: Type.Integer(),
  load: Type.Number(),
  priceWeiPerSec: WeiString,
  qualityScore: Type.Number(),
  providerAddress: Type.String(),
  /** The provider's stake in the StakingRegistry, as signaling last read it (0 until read or when none). */
  stakeWei: WeiString,
});
export type PublicHost = Static<typeof PublicHost>;

export const HostListBody = Type.Object({ hosts: Type.Array(PublicHost) });
export type HostListBody = Static<typeof HostListBody>;
