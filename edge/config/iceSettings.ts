/**
 * The config's `ice` section as each role uses it: signaling issues servers (TURN with per-session
 * credentials), a render host adds its NAT settings, a checker its port range.
 */
import { readFileSync } from 'node:fs';
import type { IceOptions } from '../../render-host/index.js';
import type { IceSettings } from '../../signaling/index.js';
import { AthError } from '../../signaling/protocol/index.js';
import { DEFAULT_TURN_TTL_MARGIN_SEC, type EdgeConfig } from './EdgeConfig.js';

function configError(shortMessage: string, details?: string): AthError {
  return new AthError({ code: 'ATH_ERR_CONFIG', shortMessage, details });
}

function portRange(config: EdgeConfig): [number, number] | undefined {
  const range = config.ice.portRange;
  if (!range) return undefined;
  if (range[0] >= range[1]) throw configError('`ice.portRange` must be [low, high] with low < high', range.join(','));
  return [range[0], range[1]];
}

/** Signaling: the servers it hands out; TURN credentials live a session's cap plus the margin. */
export function signalingIceSettings(config: EdgeConfig): IceSettings {
  const { turn } = config.ice;
  let issued: IceSettings['turn'];
  if (turn) {
    let secret = turn.secret;
    if (!secret && turn.secretFile) {
      try {
        secret = readFileSync(turn.secretFile, 'utf8').trim();
      } catch (cause) {
        throw new AthError({ code: 'ATH_ERR_CONFIG', shortMessage: `cannot read ice.turn.secretFile`, cause });
      }
    }
    if (!secret || secret.length < 16) {
      throw configError('`ice.turn` needs `secret` (or `secretFile`): coturn’s static-auth-secret, ≥ 16 characters');
    }
    if (!turn.urls.every((url) => url.startsWith('turn:') || url.startsWith('turns:'))) {
      throw configError('`ice.turn.urls` takes turn: and turns: URLs only', turn.urls.join(' '));
    }
    issued = {
      urls: [...turn.urls],
      secret,
      ttlSec: config.economy.maxSessionSeconds + (turn.ttlMarginSec ?? DEFAULT_TURN_TTL_MARGIN_SEC),
    };
  }
  if (!config.ice.stunUrls.every((url) => url.startsWith('stun:') || url.startsWith('stuns:'))) {
    throw configError('`ice.stunUrls` takes stun: and stuns: URLs only', config.ice.stunUrls.join(' '));
  }
  return { stunUrls: [...config.ice.stunUrls], turn: issued, playerTransportPolicy: config.ice.playerTransportPolicy };
}

/** A render host: its NAT settings; each session adds the servers signaling issued for it. */
export function renderHostIceOptions(config: EdgeConfig): IceOptions {
  const range = portRange(config);
  const { stunUrls, publicAddresses, announce, useIpv6 } = config.ice;
  return {
    ...(stunUrls.length > 0 ? { iceServers: [{ urls: [...stunUrls] }] } : {}),
    ...(range ? { portRange: range } : {}),
    ...(publicAddresses.length > 0 ? { publicAddresses: [...publicAddresses] } : {}),
    // All four kinds is the same as no filter: keep the offer untouched then.
    ...(announce.length < 4 ? { announce: [...announce] } : {}),
    useIpv6,
  };
}

/** A checker: its port range and STUN servers; each probe adds the servers of its assignment. */
export function checkerIceOptions(config: EdgeConfig): Pick<IceOptions, 'iceServers' | 'portRange' | 'useIpv6'> {
  const range = portRange(config);
  const { stunUrls, useIpv6 } = config.ice;
  return {
    ...(stunUrls.length > 0 ? { iceServers: [{ urls: [...stunUrls] }] } : {}),
    ...(range ? { portRange: range } : {}),
    useIpv6,
  };
}
