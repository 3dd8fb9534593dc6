/**
 * Which video codecs the player asks for, in which order. The render host encodes H.264 constrained baseline
 * (`42e01f`, the default: cheaper to encode) or VP8 (a second codec); the browser says what it decodes through
 * `RTCRtpReceiver.getCapabilities('video')`.
 */
import type { CodecName } from '../../signaling/protocol/index.js';

export type CodecPreference = 'auto' | 'h264' | 'vp8';

/** The fields of `RTCRtpCodecCapability` (or `RTCRtpCodec`) this module reads. */
export type CodecCapabilityLike = { mimeType: string; sdpFmtpLine?: string | undefined };

const H264_MIME = 'video/h264';
const VP8_MIME = 'video/vp8';

function profileLevelId(fmtp: string | undefined): string | undefined {
  const match = /(?:^|;)\s*profile-level-id=([0-9a-fA-F]{6})/.exec(fmtp ?? '');
  return match?.[1]?.toLowerCase();
}

/** True for an H.264 decoder that takes constrained baseline (`42e01f`, or any baseline-profile entry). */
function decodesConstrainedBaseline(capability: CodecCapabilityLike): boolean {
  if (capability.mimeType.toLowerCase() !== H264_MIME) return false;
  const id = profileLevelId(capability.sdpFmtpLine);
  // No fmtp line: the browser did not restrict the profile (Firefox lists H.264 that way).
  return id === undefined || id.startsWith('42');
}

/** The codecs of the protocol the browser can decode, in the protocol's default order (H.264 first). */
export function decodableCodecs(capabilities: readonly CodecCapabilityLike[] | null | undefined): CodecName[] {
  const list = capabilities ?? [];
  const codecs: CodecName[] = [];
  if (list.some(decodesConstrainedBaseline)) codecs.push('H264');
  if (list.some((c) => c.mimeType.toLowerCase() === VP8_MIME)) codecs.push('VP8');
  return codecs;
}

/** Orders decodable codecs by the player's preference, most preferred first (the `play.codecs` field). */
export function orderCodecs(decodable: readonly CodecName[], preference: CodecPreference): CodecName[] {
  const first: CodecName | undefined = preference === 'vp8' ? 'VP8' : preference === 'h264' ? 'H264' : undefined;
  const ordered = [...decodable];
  if (first && ordered.includes(first)) ordered.sort((a, b) => (a === first ? -1 : b === first ? 1 : 0));
  return ordered;
}

/** The codec a preference insists on, if any (`auto` leaves the choice to the host's offer). */
export function insistedCodec(preference: CodecPreference): CodecName | undefined {
  return preference === 'vp8' ? 'VP8' : preference === 'h264' ? 'H264' : undefined;
}

function codecOf(capability: CodecCapabilityLike): CodecName | undefined {
  const mime = capability.mimeType.toLowerCase();
  if (mime === VP8_MIME) return 'VP8';
  if (mime === H264_MIME) return 'H264';
  return undefined;
}

/**
 * Receiver capabilities reordered for `RTCRtpTransceiver.setCodecPreferences`: the wanted codec's entries
 * first (H.264 constrained baseline before other H.264 profiles), then every other entry in the browser's
 * order — repair formats (rtx, red, ulpfec) must stay in the list or NACK resends stop working.
 */
export function codecPreferencesFor<C extends CodecCapabilityLike>(capabilities: readonly C[], wanted: CodecName): C[] {
  const rank = (c: C): number => {
    if (codecOf(c) !== wanted) return 2;
    if (wanted === 'H264' && !decodesConstrainedBaseline(c)) return 1;
    return 0;
  };
  return capabilities
    .map((capability, index) => ({ capability, index }))
    .sort((a, b) => rank(a.capability) - rank(b.capability) || a.index - b.index)
    .map(({ capability }) => capability);
}

/** The codec name of an `RTCCodecStats.mimeType` (`video/H264` → `H264`). */
export function codecFromMimeType(mimeType: string | undefined): CodecName | undefined {
  return mimeType ? codecOf({ mimeType }) : undefined;
}
