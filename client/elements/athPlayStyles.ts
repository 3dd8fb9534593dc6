/** The `<ath-play>` shadow DOM's stylesheet. Colours are custom properties a page can override. */
export const ATH_PLAY_STYLES = `
:host {
  --ath-accent: #7c5cff;
  --ath-accent-2: #21d4fd;
  --ath-text: #eef0ff;
  --ath-muted: #9aa0c3;
  --ath-danger: #ff6b81;
  display: block;
  position: relative;
  aspect-ratio: 16 / 9;
  background: #05060c;
  /* Square by default: rounded corners clip the video, and a browser that composites in software pays for that
   * clip on every frame (≈3 % of a core at 720p60 in headless Chromium). A page may round it:
   * \`ath-play { border-radius: 14px }\`. */
  overflow: hidden;
  color: var(--ath-text);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  outline: none;
  box-shadow: 0 12px 40px rgb(0 0 0 / 45%);
}
:host(:focus-visible) { box-shadow: 0 0 0 2px var(--ath-accent), 0 12px 40px rgb(0 0 0 / 45%); }
:host([hidden]) { display: none; }
.stage { position: absolute; inset: 0; background: #000; }
.stage:fullscreen { border-radius: 0; }
video { width: 100%; height: 100%; object-fit: contain; display: block; background: #000; cursor: crosshair; }
.overlay {
  position: absolute; inset: 0; display: flex; flex-direction: column; align-items: center; justify-content: center;
  gap: 16px; padding: 24px; text-align: center;
  background: radial-gradient(ellipse at center, rgb(20 18 48 / 78%), rgb(3 3 10 / 92%));
  transition: opacity 160ms ease;
}
.overlay[hidden] { display: none; }
.play {
  appearance: none; border: 0; cursor: pointer; color: #fff; font: 600 18px/1 inherit; letter-spacing: 0.02em;
  padding: 16px 36px; border-radius: 999px;
  background: linear-gradient(135deg, var(--ath-accent), var(--ath-accent-2));
  box-shadow: 0 8px 28px rgb(124 92 255 / 45%);
  transition: transform 120ms ease, box-shadow 120ms ease;
}
.play:hover { transform: translateY(-1px) scale(1.03); box-shadow: 0 10px 34px rgb(124 92 255 / 60%); }
.play:focus-visible { outline: 2px solid #fff; outline-offset: 3px; }
.play[hidden] { display: none; }
.status { margin: 0; max-width: 46ch; color: var(--ath-muted); font-size: 15px; min-height: 1.4em; }
.status[data-kind="error"] { color: var(--ath-danger); }
.status[data-kind="queued"] { color: var(--ath-text); }
.spinner {
  width: 28px; height: 28px; border-radius: 50%; border: 3px solid rgb(255 255 255 / 15%);
  border-top-color: var(--ath-accent-2); animation: spin 0.9s linear infinite;
}
.spinner[hidden] { display: none; }
@keyframes spin { to { transform: rotate(360deg); } }
.toolbar {
  position: absolute; top: 10px; right: 10px; display: flex; gap: 6px; opacity: 0.35; transition: opacity 160ms ease;
}
.stage:hover .toolbar, .toolbar:focus-within { opacity: 1; }
/* No backdrop-filter here: the toolbar sits over the video, so a blur behind it is recomputed for every frame. */
.toolbar button {
  appearance: none; cursor: pointer; border: 1px solid rgb(255 255 255 / 14%); border-radius: 8px;
  padding: 6px 10px; font: 500 12px/1 inherit; color: var(--ath-text); background: rgb(10 10 24 / 78%);
}
.toolbar button:hover { border-color: rgb(255 255 255 / 35%); }
.toolbar button[aria-pressed="true"] { border-color: var(--ath-accent); color: #fff; }
.toolbar button[hidden] { display: none; }
.stats {
  position: absolute; left: 10px; bottom: 10px; margin: 0; padding: 10px 12px; border-radius: 10px;
  font: 12px/1.5 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; white-space: pre;
  background: rgb(5 6 14 / 78%); border: 1px solid rgb(255 255 255 / 10%); pointer-events: none;
}
.stats[hidden] { display: none; }
.notice {
  position: absolute; left: 50%; top: 10px; transform: translateX(-50%); padding: 6px 12px; border-radius: 8px;
  background: rgb(40 12 24 / 85%); color: #ffd0d8; font-size: 13px; pointer-events: none;
}
.notice[hidden] { display: none; }
.touchpad {
  position: absolute; inset: auto 0 0 0; display: flex; justify-content: space-between; align-items: flex-end;
  padding: 8px 12px; pointer-events: none; touch-action: none; user-select: none; -webkit-user-select: none;
}
.touchpad[hidden] { display: none; }
.touchpad button {
  pointer-events: auto; touch-action: none; appearance: none; border: 1px solid rgb(255 255 255 / 35%);
  background: rgb(20 18 48 / 45%); color: rgb(255 255 255 / 85%); font: 600 16px/1 inherit;
  width: 48px; height: 48px; border-radius: 50%; -webkit-tap-highlight-color: transparent;
}
.touchpad button.pressed { background: rgb(124 92 255 / 70%); border-color: #fff; }
.touchpad .dpad { display: grid; grid-template-columns: repeat(3, 48px); grid-template-rows: repeat(3, 48px); gap: 2px; }
.touchpad .dpad .up { grid-area: 1 / 2; }
.touchpad .dpad .left { grid-area: 2 / 1; }
.touchpad .dpad .right { grid-area: 2 / 3; }
.touchpad .dpad .down { grid-area: 3 / 2; }
.touchpad .actions { display: flex; gap: 12px; align-items: flex-end; }
.touchpad .actions .a { width: 60px; height: 60px; }
`;
