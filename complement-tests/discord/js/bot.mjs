// A discord.js bot, unchanged but for `rest.api`, as a judge of the Nexus
// bot API. It reports what it sees as JSON lines on stdout:
//
//     node bot.mjs BASE_URL TOKEN
//
// {"event": "ready", ...} when ready (its guilds and their text channels),
// {"event": "message", ...} for every message; it answers "!ping" with a
// reply "pong", "!react" with a reaction, "!history" with the last messages;
// {"event": "reaction_add", ...} for reactions it sees.
import { Client, Events, GatewayIntentBits, ChannelType } from "discord.js";

const [base, token] = process.argv.slice(2);
const client = new Client({
  intents: [
    GatewayIntentBits.Guilds,
    GatewayIntentBits.GuildMessages,
    GatewayIntentBits.MessageContent,
    GatewayIntentBits.GuildMessageReactions,
  ],
  rest: { api: `${base.replace(/\/$/, "")}/api` },
});

const report = (fields) => process.stdout.write(JSON.stringify(fields) + "\n");

client.once(Events.ClientReady, (ready) => {
  const guilds = ready.guilds.cache.map((g) => ({
    id: g.id,
    name: g.name,
    channels: g.channels.cache.filter((c) => c.type === ChannelType.GuildText).map((c) => c.name),
  }));
  report({ event: "ready", user: ready.user.username, guilds });
});

client.on(Events.MessageCreate, async (message) => {
  report({
    event: "message",
    id: message.id,
    content: message.content,
    author: message.author.username,
    own: message.author.id === client.user.id,
    channel: message.channel.name,
  });
  try {
    if (message.content === "!ping") {
      const reply = await message.reply("pong");
      report({ event: "replied", id: reply.id, to: message.id });
    } else if (message.content === "!react") {
      await message.react("\u{1F44D}");
      report({ event: "reacted", id: message.id });
    } else if (message.content === "!history") {
      const recent = await message.channel.messages.fetch({ limit: 4 });
      report({ event: "history", newest_first: [...recent.values()].map((m) => m.content) });
    }
  } catch (error) {
    report({ event: "error", message: String(error) });
  }
});

client.on(Events.MessageReactionAdd, (reaction, user) => {
  report({ event: "reaction_add", emoji: reaction.emoji.name, message: reaction.message.id, user: user.id });
});

try {
  await client.login(token);
} catch (error) {
  report({ event: "login_failure", message: String(error) });
  process.exit(0);
}
