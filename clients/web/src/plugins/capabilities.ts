// What a plugin may ask of the host. A plugin declares the capabilities it
// needs in its manifest; the user sees them, in these words, before
// installing; the host refuses any request whose capability was not granted.

export const CAPABILITIES = {
  "channel.read": "see which channel you have open (its name and server)",
  "messages.read": "read the messages in the channel you have open",
  "messages.send": "send messages as you in the channel you have open",
  "message-actions": "add items to each message's menu, and read a message when you pick its item",
  "slash-commands": "add slash commands to the message box, and read what you type after them",
  panel: "show a panel beside the chat",
} as const;

export type Capability = keyof typeof CAPABILITIES;

export const ALL_CAPABILITIES = Object.keys(CAPABILITIES) as Capability[];

export function isCapability(value: unknown): value is Capability {
  return typeof value === "string" && Object.hasOwn(CAPABILITIES, value);
}

/** The sentence shown at install: "This plugin can: …". */
export function describeCapabilities(capabilities: readonly Capability[]): string[] {
  return ALL_CAPABILITIES.filter((c) => capabilities.includes(c)).map((c) => CAPABILITIES[c]);
}

/** The requests a plugin can make, each with the capability it needs. */
export const METHOD_CAPABILITY = {
  getCurrentChannel: "channel.read",
  listMessages: "messages.read",
  sendMessage: "messages.send",
  registerMessageAction: "message-actions",
  registerSlashCommand: "slash-commands",
  showPanel: "panel",
  hidePanel: "panel",
} as const satisfies Record<string, Capability>;

export type Method = keyof typeof METHOD_CAPABILITY;

export function isMethod(value: unknown): value is Method {
  return typeof value === "string" && Object.hasOwn(METHOD_CAPABILITY, value);
}

/** Whether `granted` lets a plugin make `method`. */
export function allows(granted: ReadonlySet<Capability>, method: Method): boolean {
  return granted.has(METHOD_CAPABILITY[method]);
}
