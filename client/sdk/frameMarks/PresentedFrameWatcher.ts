/**
 * Watches every frame the `<video>` presents (`requestVideoFrameCallback`) and reports its RTP timestamp from
 * the callback's metadata (Chromium sets `rtpTimestamp` for WebRTC video) and its presentation time. Nothing
 * is read from the picture: input→photon comes from matching these timestamps with the host's frame marks
 * (see FrameMarkMatcher.ts), so a stream of any game is measured without a pixel of it covered.
 */

export type PresentedFrame = {
  /** The frame's RTP timestamp; undefined where the browser does not expose it (not WebRTC, older browsers). */
  rtpTimestamp: number | undefined;
  /** `performance.now()` clock: when the compositor presented the frame. */
  presentedAtMs: number;
  /** `performance.now()` clock: when the frame's last packet arrived (WebRTC), if the browser says. */
  receivedAtMs: number | undefined;
};

export type PresentedFrameWatcherParameters = {
  video: HTMLVideoElement;
  onFrame: (frame: PresentedFrame) => void;
};

/** The metadata fields read here (`rtpTimestamp` and `receiveTime` are WebRTC-only and not in every lib.dom). */
type FrameMetadata = VideoFrameCallbackMetadata & { rtpTimestamp?: number; receiveTime?: number };

export class PresentedFrameWatcher {
  readonly #video: HTMLVideoElement;
  readonly #onFrame: (frame: PresentedFrame) => void;
  #handle: number | undefined;
  #closed = false;

  constructor({ video, onFrame }: PresentedFrameWatcherParameters) {
    this.#video = video;
    this.#onFrame = onFrame;
    this.#schedule();
  }

  /** Whether this browser can watch frames at all (`requestVideoFrameCallback`). */
  static get supported(): boolean {
    return typeof HTMLVideoElement !== 'undefined' && 'requestVideoFrameCallback' in HTMLVideoElement.prototype;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#handle !== undefined) this.#video.cancelVideoFrameCallback(this.#handle);
  }

  #schedule(): void {
    if (this.#closed || !PresentedFrameWatcher.supported) return;
    this.#handle = this.#video.requestVideoFrameCallback((_now, metadata) => this.#onVideoFrame(metadata));
  }

  #onVideoFrame(metadata: FrameMetadata): void {
    if (this.#closed) return;
    this.#schedule();
    this.#onFrame({
      rtpTimestamp: typeof metadata.rtpTimestamp === 'number' ? metadata.rtpTimestamp >>> 0 : undefined,
      presentedAtMs: metadata.presentationTime,
      receivedAtMs: typeof metadata.receiveTime === 'number' ? metadata.receiveTime : undefined,
    });
  }
}
