// Plays an archived page's HLS streams in replay. replayweb.page injects this script into every
// replayed page (the replay origin's EMBED_PAGE asks its service worker to): Chromium's own HLS player
// refuses the responses that service worker builds from the archive, so a <video>/<audio> whose
// source is an .m3u8 playlist (or typed application/vnd.apple.mpegurl) gets hls.js instead, on Media
// Source Extensions. hls.js fetches the playlist and segments itself with XMLHttpRequest, which the
// replayed page's wombat rewrites to replay URLs: every part comes from the archive, as archived.
// hls.js (hls.min.mjs, beside this file) is imported only by a page that has such a stream.
(() => {
  const here = document.currentScript && document.currentScript.src;
  if (!here || !window.MediaSource) return; // no MSE: leave the browser's own player alone
  const HLS_TYPE = /^\s*application\/(vnd\.apple\.mpegurl|x-mpegurl)\s*(;|$)/i;
  const attached = new WeakMap(); // media element -> the playlist URL hls.js plays there
  let loading = null;

  function isHls(url, type) {
    if (type && HLS_TYPE.test(type)) return true;
    if (!url || /^(blob|data|mediastream):/i.test(url)) return false;
    try {
      return new URL(url, location.href).pathname.toLowerCase().endsWith(".m3u8");
    } catch (e) {
      return false;
    }
  }

  // The element's HLS playlist URL, absolute (the property, not the attribute: resolved), or null.
  function playlist(media) {
    if (media.hasAttribute("src")) {
      return isHls(media.getAttribute("src"), media.getAttribute("type")) ? media.src : null;
    }
    for (const source of media.querySelectorAll("source")) {
      if (isHls(source.getAttribute("src"), source.getAttribute("type"))) return source.src;
    }
    return null;
  }

  function hlsModule() {
    loading = loading || import(new URL("hls.min.mjs", here).href).then((m) => m.default);
    return loading;
  }

  async function attach(media) {
    const url = playlist(media);
    if (!url && media.__archiveHls && !media.src.startsWith("blob:")) {
      media.__archiveHls.destroy(); // the page switched to a source of another kind: let it play that
      media.__archiveHls = null;
      attached.delete(media);
    }
    if (!url || attached.get(media) === url) return;
    attached.set(media, url);
    const Hls = await hlsModule();
    if (!Hls.isSupported()) return;
    // No worker: its blob: script would be outside the replayed page's wombat, and streams are small.
    const hls = new Hls({ enableWorker: false });
    media.__archiveHls && media.__archiveHls.destroy();
    media.__archiveHls = hls;
    hls.on(Hls.Events.ERROR, (event, data) => {
      if (data.fatal) console.warn("archive replay: HLS stream failed", url, data.type, data.details);
    });
    hls.loadSource(url);
    hls.attachMedia(media);
  }

  function scan(root) {
    if (root.matches && root.matches("video, audio")) attach(root);
    if (root.querySelectorAll) root.querySelectorAll("video, audio").forEach(attach);
  }

  function start() {
    scan(document);
    new MutationObserver((changes) => {
      for (const change of changes) {
        if (change.type === "attributes") {
          const media = change.target.closest && change.target.closest("video, audio");
          if (media) attach(media);
        } else {
          change.addedNodes.forEach((node) => {
            if (node.nodeType !== 1) return;
            scan(node);
            if (node.localName === "source" && node.parentElement) attach(node.parentElement);
          });
        }
      }
    }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["src", "type"] });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
