// Plugins that ship with the client, installable with one click from the
// Plugins settings. Their source is bundled as text, exactly as it will run.
import quote from "../../plugins/quote.js?raw";

export const EXAMPLE_PLUGINS: readonly string[] = [quote];
