// Runs the user's enabled plugins while they are signed in (src/plugins/):
// follows the installed list in account data, and tells plugins when the
// open channel changes. Draws nothing itself; the plugins' sandboxes are
// hidden iframes at the end of the page.
import { ClientEvent, type MatrixClient, type MatrixEvent } from "matrix-js-sdk";
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import { installedPlugins, matrixPluginBridge } from "../matrix/plugins";
import { type InstalledPlugin, PLUGINS_EVENT_TYPE, loadInstalled } from "../plugins/installed";
import { pluginRegistry } from "../plugins/registry";

export function PluginRuntime({ client, roomId, serverId }: { client: MatrixClient; roomId?: string; serverId?: string }) {
  const where = useRef({ roomId, serverId });
  where.current = { roomId, serverId };
  const installed = useInstalledPlugins(client);
  useEffect(() => {
    pluginRegistry.attach(matrixPluginBridge(client, () => where.current));
    return () => pluginRegistry.detach();
  }, [client]);
  useEffect(() => pluginRegistry.sync(loadInstalled(installed)), [client, installed]);
  useEffect(() => pluginRegistry.channelChanged(), [client, installed, roomId, serverId]);
  return null;
}

/** The installed plugins, kept current as the account data changes (here or in another session). */
export function useInstalledPlugins(client: MatrixClient): InstalledPlugin[] {
  const [plugins, setPlugins] = useState(() => installedPlugins(client));
  useEffect(() => {
    const onAccountData = (event: MatrixEvent) => {
      if (event.getType() === PLUGINS_EVENT_TYPE) setPlugins(installedPlugins(client));
    };
    client.on(ClientEvent.AccountData, onAccountData);
    setPlugins(installedPlugins(client));
    return () => {
      client.off(ClientEvent.AccountData, onAccountData);
    };
  }, [client]);
  return plugins;
}

/** Re-renders the caller whenever a running plugin changes what it adds to the page. */
export function usePluginRegistry(): typeof pluginRegistry {
  useSyncExternalStore(pluginRegistry.subscribe, pluginRegistry.version);
  return pluginRegistry;
}
