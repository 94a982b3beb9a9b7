// Notification levels through the homeserver's Nexus API (extensions-spec
// §22, "Notification levels"): one setting per server and per channel. The
// homeserver rewrites the user's push rules before it answers a change, so
// a change re-reads them at once rather than waiting for the next sync:
// the desktop notifications and the channel list follow the new setting
// from the next message on.
import { type MatrixClient, Method } from "matrix-js-sdk";
import { type NotificationAnswer, type NotificationSetting, settingBody } from "../logic/notificationLevels";
import { PREFIX } from "./nexus";

export type NotificationScope = { kind: "server"; serverId: string } | { kind: "channel"; roomId: string };

function path(scope: NotificationScope): string {
  return scope.kind === "server"
    ? `/servers/${encodeURIComponent(scope.serverId)}/notifications`
    : `/channels/${encodeURIComponent(scope.roomId)}/notifications`;
}

export function loadNotificationSetting(client: MatrixClient, scope: NotificationScope): Promise<NotificationAnswer> {
  return client.http.authedRequest<NotificationAnswer>(Method.Get, path(scope), undefined, undefined, { prefix: PREFIX });
}

/** Replaces the user's setting for the server or channel; answers what is in force now. */
export async function saveNotificationSetting(client: MatrixClient, scope: NotificationScope, setting: NotificationSetting): Promise<NotificationAnswer> {
  const answer = await client.http.authedRequest<NotificationAnswer>(Method.Put, path(scope), undefined, settingBody(setting) as never, { prefix: PREFIX });
  // The rules come down the sync stream too; this only saves the wait.
  await client.getPushRules().catch(() => undefined);
  return answer;
}
