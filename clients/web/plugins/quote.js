/*! nexus-plugin
{
  "id": "quote",
  "name": "Quote",
  "version": "1.0.0",
  "description": "Quote any message into the channel, and roll dice with /roll.",
  "capabilities": ["message-actions", "slash-commands", "messages.send", "panel"]
}
*/
// The Nexus web client's example plugin (PLUGINS.md). It runs in a worker
// inside a sandboxed iframe and reaches the client only through the global
// `nexus`: a "Quote" item in each message's menu, `/roll NdM`, and a small
// panel of what it did. It never holds the Matrix client or a token: the
// client sends its messages for it.

let quoted = 0;
const rolls = [];

/** The message as a markdown quote, then who said it (after a blank line, so it is not part of the quote). */
function quoteOf(message) {
  const lines = message.body.split("\n").map((line) => `> ${line}`);
  return `${lines.join("\n")}\n\n— ${message.displayName}`;
}

/** `NdM` (N from 1 to 20, M from 2 to 1000; N may be left out): the dice, or null. */
function parseDice(text) {
  const match = /^(\d{0,2})d(\d{1,4})$/i.exec(text.trim() || "1d6");
  if (!match) return null;
  const count = Number(match[1] || 1);
  const sides = Number(match[2]);
  return count >= 1 && count <= 20 && sides >= 2 && sides <= 1000 ? { count, sides } : null;
}

/** One fair die: random values past the last whole multiple of `sides` are drawn again. */
function rollDie(sides) {
  const limit = Math.floor(0x100000000 / sides) * sides;
  const value = new Uint32Array(1);
  do crypto.getRandomValues(value);
  while (value[0] >= limit);
  return (value[0] % sides) + 1;
}

async function roll(text) {
  const dice = parseDice(text);
  if (!dice) return showPanel(`"${text}" is not dice: try /roll 2d6 (up to 20 dice of 2 to 1000 sides).`);
  const faces = Array.from({ length: dice.count }, () => rollDie(dice.sides));
  const total = faces.reduce((sum, face) => sum + face, 0);
  const name = `${dice.count}d${dice.sides}`;
  await nexus.sendMessage(faces.length === 1 ? `🎲 ${name}: **${total}**` : `🎲 ${name}: ${faces.join(" + ")} = **${total}**`);
  rolls.unshift(`${name} → ${total}`);
  rolls.length = Math.min(rolls.length, 5);
  return showPanel();
}

function showPanel(note) {
  return nexus.showPanel({
    title: "Quote",
    body: [
      { type: "text", text: `Quoted ${quoted} ${quoted === 1 ? "message" : "messages"} since the plugin started.` },
      { type: "heading", text: "Recent rolls" },
      rolls.length ? { type: "list", items: rolls } : { type: "text", text: "None yet: try /roll 2d6." },
      ...(note ? [{ type: "text", text: note }] : []),
      { type: "button", id: "roll-d20", label: "Roll 1d20" },
    ],
  });
}

nexus.registerMessageAction({ id: "quote", label: "Quote" }, async (message) => {
  await nexus.sendMessage(quoteOf(message));
  quoted += 1;
  await showPanel();
});

nexus.registerSlashCommand({ name: "roll", description: "Roll dice, e.g. /roll 2d6" }, roll);

nexus.onPanelAction((id) => {
  if (id === "roll-d20") return roll("1d20");
});
