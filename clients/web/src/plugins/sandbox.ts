// Where a plugin runs: a worker inside a sandboxed iframe.
//
// - The iframe is `sandbox="allow-scripts"` without `allow-same-origin`,
//   so its origin is opaque: no cookies, no storage of this client (its
//   session, its crypto store), no reach into this page's DOM or objects.
//   No popups, no forms, no navigating this page either.
// - Its document (`srcdoc`) carries a CSP of its own on top of the page's:
//   no network at all (`default-src 'none'`, `connect-src 'none'`), scripts
//   only from this client's sandbox runtime (public/plugin-sandbox.js),
//   workers only from blobs.
// - The runtime starts the plugin in a worker made from a blob of its code
//   (the page's CSP allows no inline or eval'd script, and the worker keeps
//   the plugin off even the iframe's DOM); the worker inherits the iframe's
//   origin and CSP. It hands the worker the port to the host, and reports
//   the worker's uncaught errors over a second port.
import { workerScript } from "./prelude";

/** The runtime's path beside the client's index.html. */
const RUNTIME_PATH = "plugin-sandbox.js";
const START_TIMEOUT_MS = 10_000;

export type Sandbox = {
  /** The host's end of the plugin's port. */
  port: MessagePort;
  dispose: () => void;
};

/** The iframe's document: the CSP, then the runtime. */
export function sandboxDocument(runtimeUrl: string): string {
  const url = attribute(runtimeUrl);
  const policy = `default-src 'none'; script-src ${url}; worker-src blob:; connect-src 'none'; img-src 'none'; style-src 'none'; form-action 'none'; base-uri 'none'`;
  return `<!doctype html><meta http-equiv="Content-Security-Policy" content="${policy}"><meta name="referrer" content="no-referrer"><script src="${url}"></script>`;
}

/**
 * Starts `source` in a new sandbox inside `container`. `onError` hears the
 * plugin's uncaught errors, with line numbers of its own source.
 */
export function startSandbox(source: string, container: HTMLElement, title: string, onError: (text: string) => void): Sandbox {
  const { script, firstLine } = workerScript(source);
  const plugin = new MessageChannel();
  const status = new MessageChannel();
  const iframe = document.createElement("iframe");
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.setAttribute("referrerpolicy", "no-referrer");
  iframe.setAttribute("allow", "camera 'none'; microphone 'none'; geolocation 'none'; display-capture 'none'; clipboard-read 'none'; clipboard-write 'none'");
  iframe.setAttribute("aria-hidden", "true");
  iframe.tabIndex = -1;
  iframe.title = title;
  iframe.hidden = true;
  iframe.srcdoc = sandboxDocument(new URL(RUNTIME_PATH, document.baseURI).href);
  // The runtime says when the worker is started; a sandbox that never
  // does (its runtime not served, say) is reported rather than left silent.
  let started = false;
  const silence = setTimeout(() => started || onError("the sandbox did not start"), START_TIMEOUT_MS);
  status.port1.onmessage = (event) => {
    const report = event.data as { started?: unknown; message?: unknown; line?: unknown } | null;
    if (report?.started === true) {
      started = true;
      return;
    }
    const line = typeof report?.line === "number" && report.line >= firstLine ? ` (line ${report.line - firstLine + 1})` : "";
    onError(`${String(report?.message ?? "an error").slice(0, 300)}${line}`);
  };
  // The runtime is listening once the document has loaded (its script is classic, not deferred).
  iframe.addEventListener(
    "load",
    () => iframe.contentWindow?.postMessage({ nexusPluginSandbox: 1, script }, "*", [plugin.port2, status.port2]),
    { once: true },
  );
  container.append(iframe);
  return {
    port: plugin.port1,
    dispose: () => {
      clearTimeout(silence);
      status.port1.close();
      // Removing the iframe ends its document, and with it the worker.
      iframe.remove();
    },
  };
}

function attribute(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}
