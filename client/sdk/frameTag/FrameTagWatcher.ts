/**
 * Diagnostics: reads the frame tag (frame number, last applied input seq; `signaling/protocol/frameTag.ts`)
 * from every presented video frame. `requestVideoFrameCallback` fires per composited frame; only the tag's
 * corner is drawn, scaled to the tag's reference size (480×24 px), so a read costs a small drawImage and a
 * 46 KB read-back. Streams without tags (external games) stop being read after a while, then are re-checked
 * now and then.
 */
import {
  FRAME_TAG_HEIGHT_PX,
  FRAME_TAG_WIDTH_PX,
  type FrameTag,
  readFrameTag,
} from '../../../signaling/protocol/index.js';

/** The width the tag's geometry is defined at (`frameTag.ts`). */
const REFERENCE_WIDTH_PX = 1280;
/** After this many frames without a tag, read only one frame in `RECHECK_EVERY`. */
const GIVE_UP_AFTER_FRAMES = 180;
const RECHECK_EVERY = 60;

export type PresentedFrameTag = FrameTag & { presentedAtMs: number };

export type FrameTagWatcherParameters = {
  video: HTMLVideoElement;
  onTag: (tag: PresentedFrameTag) => void;
  /** Every presented frame, tagged or not (first-frame detection). */
  onFrame?: (presentedAtMs: number) => void;
  /** False: only report the first presented frame, then stop (diagnostics off). */
  readTags?: boolean;
};

type Context2D = OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;

export class FrameTagWatcher {
  readonly #video: HTMLVideoElement;
  readonly #onTag: (tag: PresentedFrameTag) => void;
  readonly #onFrame: ((presentedAtMs: number) => void) | undefined;
  readonly #context: Context2D | undefined;
  readonly #readTags: boolean;
  /** The tag rows copied into a buffer whose stride is the reference frame width, as `readFrameTag` reads. */
  readonly #rows = new Uint8ClampedArray(REFERENCE_WIDTH_PX * FRAME_TAG_HEIGHT_PX * 4);
  #handle: number | undefined;
  #untagged = 0;
  #closed = false;

  constructor({ video, onTag, onFrame, readTags = true }: FrameTagWatcherParameters) {
    this.#video = video;
    this.#onTag = onTag;
    this.#onFrame = onFrame;
    this.#readTags = readTags;
    this.#context = readTags ? createContext() : undefined;
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
    if (this.#closed || !FrameTagWatcher.supported) return;
    this.#handle = this.#video.requestVideoFrameCallback((_now, metadata) => this.#onVideoFrame(metadata));
  }

  #onVideoFrame(metadata: VideoFrameCallbackMetadata): void {
    if (this.#closed) return;
    const presentedAtMs = metadata.presentationTime;
    if (!this.#readTags) {
      this.#onFrame?.(presentedAtMs);
      this.close();
      return;
    }
    this.#schedule();
    this.#onFrame?.(presentedAtMs);
    if (this.#untagged >= GIVE_UP_AFTER_FRAMES && this.#untagged++ % RECHECK_EVERY !== 0) return;
    const tag = this.#read(metadata.width, metadata.height);
    if (!tag) {
      this.#untagged++;
      return;
    }
    this.#untagged = 0;
    this.#onTag({ ...tag, presentedAtMs });
  }

  #read(frameWidth: number, frameHeight: number): FrameTag | null {
    const context = this.#context;
    if (!context || frameWidth <= 0 || frameHeight <= 0) return null;
    const scale = frameWidth / REFERENCE_WIDTH_PX;
    const sourceWidth = Math.min(frameWidth, FRAME_TAG_WIDTH_PX * scale);
    const sourceHeight = Math.min(frameHeight, FRAME_TAG_HEIGHT_PX * scale);
    context.drawImage(this.#video, 0, 0, sourceWidth, sourceHeight, 0, 0, FRAME_TAG_WIDTH_PX, FRAME_TAG_HEIGHT_PX);
    const pixels = context.getImageData(0, 0, FRAME_TAG_WIDTH_PX, FRAME_TAG_HEIGHT_PX).data;
    const rowBytes = FRAME_TAG_WIDTH_PX * 4;
    for (let y = 0; y < FRAME_TAG_HEIGHT_PX; y++) {
      this.#rows.set(pixels.subarray(y * rowBytes, (y + 1) * rowBytes), y * REFERENCE_WIDTH_PX * 4);
    }
    return readFrameTag({ data: this.#rows, width: REFERENCE_WIDTH_PX, height: FRAME_TAG_HEIGHT_PX });
  }
}

function createContext(): Context2D | undefined {
  const options: CanvasRenderingContext2DSettings = { willReadFrequently: true, alpha: false };
  if (typeof OffscreenCanvas !== 'undefined') {
    return new OffscreenCanvas(FRAME_TAG_WIDTH_PX, FRAME_TAG_HEIGHT_PX).getContext('2d', options) ?? undefined;
  }
  if (typeof document === 'undefined') return undefined;
  const canvas = document.createElement('canvas');
  canvas.width = FRAME_TAG_WIDTH_PX;
  canvas.height = FRAME_TAG_HEIGHT_PX;
  return canvas.getContext('2d', options) ?? undefined;
}
