/**
 * Tauri's isolation frame, where the IPC allow-list runs, is added to the page by Tauri when the
 * page has loaded. Tauri hides it with an inline `<style>`, which this page's CSP (`style-src
 * 'self'`) refuses, so the empty frame stays laid out below the app: out of sight, but a screen
 * reader announced an untitled frame and Tab could move focus into it.
 *
 * It is labelled and taken out of the accessibility tree and the tab order here, with attributes
 * (which the CSP allows) rather than a style: WebKit's WebDriver waits for every frame to paint
 * before it takes a screenshot, and a frame hidden by CSS (`display: none`, off screen,
 * `visibility: hidden`) made the end-to-end tests' screenshots hang.
 */
export const ISOLATION_FRAME_ID = "__tauri_isolation__";

function label(frame: Element) {
  frame.setAttribute("title", "Keyhaven's command isolation (nothing to see)");
  frame.setAttribute("aria-hidden", "true");
  frame.setAttribute("tabindex", "-1");
}

/** Labels the frame now if Tauri has added it, or as soon as it does. Tauri appends it to the
 * body, so only the body's own children are watched, not every change React makes below. */
export function labelIsolationFrame(doc: Document = document): () => void {
  const now = doc.getElementById(ISOLATION_FRAME_ID);
  if (now) {
    label(now);
    return () => {};
  }
  const watch = new MutationObserver(() => {
    const frame = doc.getElementById(ISOLATION_FRAME_ID);
    if (frame) {
      label(frame);
      watch.disconnect();
    }
  });
  watch.observe(doc.body, { childList: true });
  return () => watch.disconnect();
}
