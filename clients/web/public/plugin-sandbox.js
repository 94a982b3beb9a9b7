// The Nexus web client's plugin sandbox runtime (src/plugins/sandbox.ts).
// It runs in a sandboxed iframe with an opaque origin, and does one thing:
// the first message from the page that framed it brings a plugin's script
// and two ports; the script becomes a worker, the first port (to the host)
// goes to the worker, and word that it started and the worker's uncaught
// errors go back over the second. Anything else is ignored.
"use strict";
addEventListener("message", function start(event) {
  var data = event.data;
  if (event.source !== parent || !data || data.nexusPluginSandbox !== 1 || typeof data.script !== "string" || event.ports.length !== 2) return;
  removeEventListener("message", start);
  var status = event.ports[1];
  try {
    var url = URL.createObjectURL(new Blob([data.script], { type: "text/javascript" }));
    var worker = new Worker(url, { name: "nexus-plugin" });
    worker.onerror = function (error) {
      error.preventDefault();
      status.postMessage({ message: String(error.message || "an error"), line: error.lineno || null });
    };
    worker.postMessage({ nexusPluginPort: 1 }, [event.ports[0]]);
    status.postMessage({ started: true });
  } catch (error) {
    status.postMessage({ message: "the plugin could not start: " + String(error), line: null });
  }
});
